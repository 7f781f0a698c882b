// Tests for `warmpool top`'s frame (client/cli/top_view.hpp): rendered from status JSON made by
// hand, as the status socket answers it.

#include "top_view.hpp"

#include <gtest/gtest.h>

#include <sstream>
#include <string>

namespace warmpool {
namespace {

using nlohmann::json;

json status() {
    return json::parse(R"({
      "pool": "web", "pid": 4321, "state": "running", "uptime_seconds": 30.0,
      "workers": {"configured": 2, "live": 2, "busy": 1, "rows": [
        {"slot": 0, "pid": 101, "state": "busy", "current_function": "slow", "busy_seconds": 1.5,
         "rss_bytes": 10485760, "jobs_done": 7, "busy_fraction": {"last_minute": 0.5, "since_start": 0.25}},
        {"slot": 1, "pid": 102, "state": "idle", "current_function": null, "rss_bytes": 2048, "jobs_done": 3,
         "busy_fraction": {"last_minute": 0.0, "since_start": 0.0}}]},
      "jobs": {"submitted": 12, "completed": 10, "failed": 1, "direct": 4},
      "queue": {"depth": 3, "max": 9, "capacity": 1000},
      "sessions": {"active": 1, "max": 64, "rows": [
        {"slot": 0, "pid": 555, "client": "app", "state": "active", "submitted": 12, "completed": 10,
         "queued": 3, "in_flight": 1}]},
      "latency": {"window_seconds": 60, "functions": [
        {"function": "add",
         "queue_wait": {"last_minute": {"count": 60, "p50": 0.000012, "p90": 0.00002, "p99": 0.00004, "max": 0.001},
                        "since_start": {"count": 60}},
         "run_time": {"last_minute": {"count": 60, "p50": 0.0000025, "p90": 0.00001, "p99": 0.0035, "max": 1.5},
                      "since_start": {"count": 60}}},
        {"function": "idle_fn",
         "queue_wait": {"last_minute": {"count": 0, "p50": 0, "p90": 0, "p99": 0, "max": 0}},
         "run_time": {"last_minute": {"count": 0, "p50": 0, "p90": 0, "p99": 0, "max": 0}}}]}
    })");
}

// The line of `frame` that starts with `start`, or "".
std::string line_starting(const std::string& frame, const std::string& start) {
    std::istringstream in(frame);
    for (std::string line; std::getline(in, line);) {
        if (line.rfind(start, 0) == 0) return line;
    }
    return "";
}

TEST(TopView, ShowsWorkersFunctionsQueueAndSessions) {
    const std::string frame = render_top(status());
    EXPECT_NE(frame.find("pool web (running)"), std::string::npos) << frame;
    EXPECT_NE(frame.find("3 waiting (max 9"), std::string::npos) << frame;
    const std::string busy = line_starting(frame, "0    101");
    EXPECT_NE(busy.find("busy"), std::string::npos) << frame;
    EXPECT_NE(busy.find("slow"), std::string::npos);
    EXPECT_NE(busy.find("1.5 s"), std::string::npos);
    EXPECT_NE(busy.find("50%"), std::string::npos);
    EXPECT_NE(busy.find("10.0 MiB"), std::string::npos);
    // The rate over the uptime, shorter than the minute: 60 jobs in 30 s.
    const std::string add = line_starting(frame, "add ");
    EXPECT_NE(add.find("2.0"), std::string::npos) << frame;
    EXPECT_NE(add.find("12 µs"), std::string::npos) << add;
    EXPECT_NE(add.find("2.5 µs"), std::string::npos) << add;
    EXPECT_NE(add.find("3.5 ms"), std::string::npos) << add;
    EXPECT_NE(add.find("1.5 s"), std::string::npos) << add;
    // A function with nothing in the last minute shows no percentiles.
    const std::string idle = line_starting(frame, "idle_fn");
    EXPECT_EQ(idle.find("µs"), std::string::npos) << idle;
    EXPECT_NE(idle.find("0.0"), std::string::npos) << idle;
    const std::string session = line_starting(frame, "0    555");
    EXPECT_NE(session.find("app"), std::string::npos) << frame;
    EXPECT_NE(session.find("12"), std::string::npos);
    EXPECT_NE(session.find("10"), std::string::npos);
}

TEST(TopView, MissingOrOddFieldsShowAsDashesAndNeverThrow) {
    std::string frame;
    ASSERT_NO_THROW(frame = render_top(json::object()));
    EXPECT_NE(frame.find("pool - (-)"), std::string::npos) << frame;
    json odd = status();
    odd["workers"]["rows"][0]["busy_fraction"] = "half";
    odd["latency"] = 5;
    odd["sessions"]["rows"][0].erase("completed");
    ASSERT_NO_THROW(frame = render_top(odd));
    EXPECT_NE(line_starting(frame, "0    101").find("-"), std::string::npos);
    ASSERT_NO_THROW(render_top(json::array()));
}

TEST(TopView, LinesAreCutToTheTerminalsWidth) {
    json wide = status();
    wide["latency"]["functions"][0]["function"] = std::string(60, 'x');
    const std::string frame = render_top(wide, 40);
    std::istringstream in(frame);
    for (std::string line; std::getline(in, line);)
        EXPECT_LE(line.size(), 41u) << line;  // µ is two bytes
    EXPECT_NE(frame.find("~"), std::string::npos);
}

TEST(TopView, ShortDurations) {
    EXPECT_EQ(short_duration(-1), "-");
    EXPECT_EQ(short_duration(850e-9), "850 ns");
    EXPECT_EQ(short_duration(2.5e-6), "2.5 µs");
    EXPECT_EQ(short_duration(120e-6), "120 µs");
    EXPECT_EQ(short_duration(3.4e-3), "3.4 ms");
    EXPECT_EQ(short_duration(0.25), "250 ms");
    EXPECT_EQ(short_duration(1.25), "1.2 s");
    EXPECT_EQ(short_duration(303), "5m03s");
}

}  // namespace
}  // namespace warmpool
