// The latency figures against a real pool: queue wait and run time by function in the status
// (jobs by lane and by queue alike, each counted once), completed jobs by session, the busy
// share of a worker running a long job, `warmpool top --once`, and the Prometheus text passing
// `promtool check metrics` (Debian's prometheus package; scripts/install-deps.sh installs it).

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "child_process.hpp"
#include "test_pool.hpp"
#include "warmpool/client.hpp"
#include "warmpool/common/status_query.hpp"

namespace warmpool {
namespace {

using nlohmann::json;
using testing::CommandResult;
using testing::TestPool;
using namespace std::chrono_literals;

using Pair = std::pair<std::int64_t, std::int64_t>;

// The latency entry of `function` in a status, or null.
json latency_of(const json& status, const std::string& function) {
    for (const json& f : status["latency"]["functions"]) {
        if (f["function"] == function) return f;
    }
    return nullptr;
}

// Single calls one at a time (most go by lane), then a burst submitted at once (by the queue):
// every one is timed under its function, once.
TEST(Latency, EveryJobIsTimedOnceByLaneOrByQueue) {
    TestPool pool(TestPool::Options{.workers = 2});
    Client client = pool.connect();
    constexpr int kOneAtATime = 3000;
    constexpr int kBurst = 500;
    for (int i = 1; i <= kOneAtATime; ++i)
        ASSERT_EQ(client.call<std::int64_t>("gcd", Pair{6 * i, 4 * i}), 2 * i);
    std::vector<Future<std::int64_t>> burst;
    for (int i = 1; i <= kBurst; ++i)
        burst.push_back(client.submit<std::int64_t>("gcd", Pair{3 * i, 2 * i}));
    for (int i = 1; i <= kBurst; ++i) ASSERT_EQ(burst[static_cast<std::size_t>(i - 1)].get(), i);

    const json status = pool.status();
    const json gcd = latency_of(status, "gcd");
    ASSERT_TRUE(gcd.is_object()) << status["latency"].dump();
    EXPECT_GT(status["jobs"]["direct"].get<std::uint64_t>(), 0u)
        << "no call went by lane: " << status["jobs"].dump();
    for (const char* which : {"queue_wait", "run_time"}) {
        for (const char* span : {"since_start", "last_minute"}) {
            const json& figures = gcd[which][span];
            EXPECT_EQ(figures["count"], kOneAtATime + kBurst)
                << which << " " << span << ": " << gcd.dump();
            EXPECT_LE(figures["p50"].get<double>(), figures["p90"].get<double>()) << gcd.dump();
            EXPECT_LE(figures["p90"].get<double>(), figures["p99"].get<double>()) << gcd.dump();
            EXPECT_LE(figures["p99"].get<double>(), figures["max"].get<double>()) << gcd.dump();
        }
    }
    EXPECT_GT(gcd["run_time"]["since_start"]["p50"].get<double>(), 0.0);
    EXPECT_GT(gcd["run_time"]["since_start"]["sum"].get<double>(), 0.0);
    // A function nobody called is not listed; neither is a name no worker serves.
    EXPECT_THROW(client.call<std::int64_t>("no_such_function", std::int64_t{1}), std::exception);
    const json after = pool.status();
    EXPECT_TRUE(latency_of(after, "echo").is_null());
    EXPECT_TRUE(latency_of(after, "no_such_function").is_null()) << after["latency"].dump();

    // This client's session: every job submitted, lane jobs included, and completed.
    bool found = false;
    for (const json& s : after["sessions"]["rows"]) {
        if (s["client"] == "warmpool-cli") continue;
        found = true;
        EXPECT_EQ(s["submitted"], kOneAtATime + kBurst + 1) << s.dump();
        EXPECT_EQ(s["completed"], kOneAtATime + kBurst + 1) << s.dump();
    }
    EXPECT_TRUE(found) << after["sessions"].dump();
}

// A worker running a long job is busy for as long as it runs: its share counts the job from
// its start, before it ends.
TEST(Latency, AWorkerRunningALongJobShowsBusy) {
    TestPool pool(TestPool::Options{.workers = 1});
    Client client = pool.connect();
    auto slow = client.submit_json("sleep_report", "1.5");
    ASSERT_TRUE(testing::wait_until([&] { return pool.status()["workers"]["busy"] == 1; }, 10s));
    std::this_thread::sleep_for(1s);
    const json row = pool.status()["workers"]["rows"][0];
    EXPECT_GT(row["busy_fraction"]["since_start"].get<double>(), 0.0) << row.dump();
    EXPECT_GT(row["busy_fraction"]["last_minute"].get<double>(), 0.0) << row.dump();
    EXPECT_LE(row["busy_fraction"]["last_minute"].get<double>(), 1.0) << row.dump();
    slow.wait();
}

TEST(Latency, TopOnceShowsTheWorkersAndTheFunctionWithFigures) {
    TestPool pool(TestPool::Options{.workers = 2});
    Client client = pool.connect();
    for (int i = 1; i <= 200; ++i)
        ASSERT_EQ(client.call<std::int64_t>("gcd", Pair{6 * i, 4 * i}), 2 * i);
    CommandResult r = pool.cli({"top", "--once"});
    ASSERT_EQ(r.exit_code, 0) << describe(r);
    EXPECT_EQ(r.out.find("\x1b"), std::string::npos) << "no terminal, no escape sequences";
    EXPECT_NE(r.out.find("pool " + pool.name() + " (running)"), std::string::npos) << r.out;
    for (pid_t pid : pool.ready_worker_pids()) {
        EXPECT_NE(r.out.find(" " + std::to_string(pid) + " "), std::string::npos)
            << "worker " << pid << "\n"
            << r.out;
    }
    std::string gcd_line;
    for (std::size_t at = 0; at < r.out.size();) {
        const std::size_t end = r.out.find('\n', at);
        const std::string line = r.out.substr(at, end - at);
        if (line.rfind("gcd ", 0) == 0) gcd_line = line;
        if (end == std::string::npos) break;
        at = end + 1;
    }
    ASSERT_FALSE(gcd_line.empty()) << r.out;
    EXPECT_TRUE(gcd_line.find("µs") != std::string::npos ||
                gcd_line.find("ms") != std::string::npos)
        << gcd_line;
    EXPECT_EQ(gcd_line.find(" - "), std::string::npos) << "every figure is there: " << gcd_line;

    CommandResult frames = pool.cli({"top", "--frames", "2"});
    ASSERT_EQ(frames.exit_code, 0) << describe(frames);
    std::size_t titles = 0;
    for (std::size_t at = 0; (at = frames.out.find("warmpool top - pool " + pool.name(), at)) != std::string::npos; ++at)
        ++titles;
    EXPECT_EQ(titles, 2U) << frames.out;

    CommandResult gone =
        testing::run_command({testing::warmpool_cli_path(), "--pool", "no-such-pool-here",
                              "--runtime-dir", pool.runtime_dir(), "top", "--once"});
    EXPECT_EQ(gone.exit_code, 2) << describe(gone);
}

// promtool's lint of the Prometheus text of a pool that ran jobs of two functions, one of them
// failing: any word from it fails the test.
TEST(Latency, PromtoolFindsNothingToSayAboutTheMetrics) {
    TestPool pool(TestPool::Options{.workers = 2});
    Client client = pool.connect();
    for (int i = 1; i <= 50; ++i)
        ASSERT_EQ(client.call<std::int64_t>("gcd", Pair{6 * i, 4 * i}), 2 * i);
    EXPECT_THROW(client.call<std::string>("fail", std::string("counted")), std::exception);
    auto text = query_status(pool.status_socket(), "prometheus", 5000);
    ASSERT_TRUE(text) << text.error().message();
    ASSERT_NE(text.value().find("warmpool_job_run_seconds_bucket{pool=\"" + pool.name() +
                                "\",function=\"gcd\""),
              std::string::npos)
        << text.value();
    CommandResult lint =
        testing::run_command({"/usr/bin/promtool", "check", "metrics"}, text.value());
    EXPECT_EQ(lint.exit_code, 0) << describe(lint)
                                 << "\n(promtool comes with Debian's prometheus package)";
    EXPECT_EQ(lint.out + lint.err, "") << text.value();
}

}  // namespace
}  // namespace warmpool
