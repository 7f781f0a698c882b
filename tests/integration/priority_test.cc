// Job priorities end to end, against real daemons (CallOptions::priority): on a busy pool the
// queued jobs of higher priority start first whatever the order they came in; a low-priority job
// still runs under a flood of high-priority ones (ageing, priority_aging.hpp); a client calling
// one job at a time cannot overtake queued jobs of higher priority by its lane; and a priority
// out of range is refused, by the client and by the supervisor.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "expect_job_error.hpp"
#include "jobs/example_types.hpp"
#include "raw_session.hpp"
#include "test_pool.hpp"
#include "warmpool/client.hpp"

namespace warmpool {
namespace {

using examples::SleepReport;
using nlohmann::json;
using testing::expect_job_error;
using testing::TestPool;
using testing::wait_until;
using namespace std::chrono_literals;

TestPool::Options pool_options(unsigned workers) {
    TestPool::Options options;
    options.workers = workers;
    options.extra_args = {"--grace-period", "0.5"};
    return options;
}

CallOptions with_priority(int priority) {
    CallOptions options;
    options.priority = priority;
    return options;
}

// When the job's sleep began (CLOCK_REALTIME, ns): the same clock in every worker.
std::int64_t started_ns(const SleepReport& r) { return r.time_ns - static_cast<std::int64_t>(r.slept * 1e9); }

std::uint64_t queued(const TestPool& pool) { return pool.status()["queue"]["depth"].get<std::uint64_t>(); }

TEST(Priority, QueuedJobsOfHigherPriorityStartFirst) {
    TestPool pool(pool_options(2));
    Client client = pool.connect();
    // Both workers busy; then low-priority jobs queue, and high-priority ones after them.
    std::vector<Future<SleepReport>> blockers;
    for (int i = 0; i < 2; ++i) blockers.push_back(client.submit<SleepReport>("sleep_report", 0.8));
    ASSERT_TRUE(wait_until([&] { return pool.status()["jobs"]["in_flight"].get<std::uint64_t>() == 2; }, 10s));
    std::vector<Future<SleepReport>> low, high;
    for (int i = 0; i < 6; ++i) low.push_back(client.submit<SleepReport>("sleep_report", 0.02, with_priority(-4)));
    for (int i = 0; i < 6; ++i) high.push_back(client.submit<SleepReport>("sleep_report", 0.02, with_priority(4)));
    ASSERT_TRUE(wait_until([&] { return queued(pool) == 12; }, 10s)) << pool.status().dump();
    const json status = pool.status();
    EXPECT_EQ(status["queue"]["by_priority"], json({{"4", 6}, {"-4", 6}})) << status.dump();

    std::int64_t last_high_start = 0, first_low_start = std::numeric_limits<std::int64_t>::max();
    for (auto& f : high) last_high_start = std::max(last_high_start, started_ns(f.get()));
    for (auto& f : low) first_low_start = std::min(first_low_start, started_ns(f.get()));
    for (auto& f : blockers) f.get();
    EXPECT_LT(last_high_start, first_low_start);
    EXPECT_EQ(pool.settled_status()["queue"]["by_priority"], json::object());
}

TEST(Priority, ALowPriorityJobStillRunsUnderAFloodOfHighPriorityOnes) {
    // 250 jobs of 20 ms at the highest priority keep both workers busy for 2.5 s, the queue never
    // empty; a job of the lowest priority queued early in the flood ages to the top within 1.5 s
    // of being passed over, and runs before the flood is through.
    TestPool pool(pool_options(2));
    std::vector<SleepReport> high;
    std::thread flood([&] {
        Client client = pool.connect();
        std::vector<Future<SleepReport>> futures;
        for (int i = 0; i < 250; ++i) {
            futures.push_back(client.submit<SleepReport>("sleep_report", 0.02, with_priority(kPriorityMax)));
        }
        for (auto& f : futures) high.push_back(f.get());
    });
    const bool flooded = wait_until([&] { return queued(pool) >= 20; }, 20s);
    Client patient = pool.connect();
    const SleepReport low = patient.call<SleepReport>("sleep_report", 0.0, with_priority(kPriorityMin));
    flood.join();
    ASSERT_TRUE(flooded);
    std::size_t after_low = 0;
    for (const SleepReport& r : high) after_low += r.time_ns > low.time_ns;
    EXPECT_GT(after_low, 0u) << "the low-priority job waited for the whole flood";
}

TEST(Priority, ALaneCallDoesNotOvertakeQueuedJobsOfHigherPriority) {
    // One worker. A client makes short low-priority calls one at a time: each goes by lane,
    // posted the moment the reply to the one before is in, to the worker that shows itself
    // watching just before it replies. Jobs of higher priority queued meanwhile by another client
    // get the worker next: the lane's calls yield to them (LaneBoard::queued_above), so few of
    // them, if any, finish between the high-priority jobs' submission and their end.
    constexpr int kLowCalls = 5000;
    TestPool pool(pool_options(1));
    std::atomic<int> calls_done{0};
    std::thread low_caller([&] {
        Client client = pool.connect();
        for (int i = 0; i < kLowCalls; ++i) {
            client.call<SleepReport>("sleep_report", 0.0, with_priority(-5));
            ++calls_done;
        }
    });
    ASSERT_TRUE(wait_until([&] { return calls_done >= 100; }, 20s));
    Client client = pool.connect();
    std::vector<Future<SleepReport>> high;
    for (int i = 0; i < 3; ++i) high.push_back(client.submit<SleepReport>("sleep_report", 0.0, with_priority(5)));
    const int submitted_at = calls_done;
    for (auto& f : high) f.get();
    const int overtaken_by = calls_done - submitted_at;
    low_caller.join();
    EXPECT_LT(overtaken_by, (kLowCalls - submitted_at) / 2) << "the queued jobs waited for the lane's calls";
    EXPECT_GT(pool.settled_status()["jobs"]["direct"].get<std::uint64_t>(), 100u);  // the lane was in use
}

TEST(Priority, APriorityOutOfRangeIsRefused) {
    TestPool pool(pool_options(1));
    Client client = pool.connect();
    const JobError above = expect_job_error([&] { client.call<SleepReport>("sleep_report", 0.0, with_priority(8)); });
    EXPECT_EQ(above.kind(), ErrorKind::bad_request);
    EXPECT_EQ(above.message(), "priority 8 is outside -8..7");
    const JobError below = expect_job_error([&] { client.call<SleepReport>("sleep_report", 0.0, with_priority(-9)); });
    EXPECT_EQ(below.kind(), ErrorKind::bad_request);
    EXPECT_GE(client.call<SleepReport>("sleep_report", 0.0, with_priority(kPriorityMax)).slept, 0.0);

    // The CLI checks the range before it connects.
    const auto refused = pool.cli({"call", "gcd", "[12, 18]", "--priority", "9"});
    EXPECT_NE(refused.exit_code, 0) << describe(refused);
    const auto high = pool.cli({"call", "gcd", "[12, 18]", "--priority", "7"});
    EXPECT_EQ(high.exit_code, 0) << describe(high);
    EXPECT_EQ(high.out, "6\n");

    // A client writing its own record: the supervisor answers bad_request, and the session lives on.
    testing::RawSession raw(pool.control_socket());
    JobRecord record{};
    record.job_id = raw.next_job_id();
    record.flags = kJobJson;
    record.priority = 1000;
    ASSERT_TRUE(set_function_name(record, "gcd"));
    const std::string args = "[12, 18]";
    record.payload_bytes = static_cast<std::uint32_t>(args.size());
    raw.submit_record(record, args);
    const auto [status, message] = raw.wait_reply(record.job_id);
    EXPECT_EQ(status, static_cast<std::uint16_t>(ErrorKind::bad_request));
    EXPECT_EQ(message, "priority 1000 is outside -8..7");
    EXPECT_EQ(raw.call_json("gcd", "[12, 18]"), (std::pair<std::uint16_t, std::string>{0, "6"}));
}

}  // namespace
}  // namespace warmpool
