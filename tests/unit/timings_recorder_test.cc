// Tests for TimingsRecorder (timings_recorder.hpp), the worker's writer of its slot's
// WorkerTimings, in a real pool segment; and for JobTimings (job_timings.hpp), the supervisor's
// reader of them: differences, the cap on functions, busy shares.

#include "warmpool/daemon/timings_recorder.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <set>
#include <string>

#include "unit_memory.hpp"
#include "warmpool/daemon/job_timings.hpp"

namespace warmpool {
namespace {

using testing::UnitPoolMemory;

constexpr std::int64_t kSecond = 1'000'000'000;

struct Name {
    char text[kFunctionNameMax + 1] = {};
    explicit Name(const std::string& s) { std::strncpy(text, s.c_str(), kFunctionNameMax); }
};

TimingsRecorder::Serves serves_all_but(std::string refused) {
    return [refused](std::string_view name) { return name != refused; };
}

const JobTimings::Function* find(const JobTimings& timings, const std::string& name) {
    for (const auto& f : timings.functions()) {
        if (f.name == name) return &f;
    }
    return nullptr;
}

TEST(TimingsRecorder, CountsEachJobUnderItsFunctionAndAddsItsRunToBusyTime) {
    UnitPoolMemory pool(2, 4, 4096);
    WorkerTimings& t = pool.memory.worker_timings(1);
    TimingsRecorder recorder(t, serves_all_but("nope"));
    recorder.record(Name("add").text, 2000, 5000);
    recorder.record(Name("add").text, 3000, 7000);
    recorder.record(Name("echo").text, 1000, 100'000);
    recorder.record(Name("nope").text, 1000, 100'000);  // not served: not timed
    ASSERT_EQ(t.named.load(), 2u);
    EXPECT_STREQ(t.functions[0].name, "add");
    EXPECT_STREQ(t.functions[1].name, "echo");
    EXPECT_EQ(t.functions[0].run_time.sum_ns.load(), 12000u);
    EXPECT_EQ(t.functions[0].queue_wait.sum_ns.load(), 5000u);
    EXPECT_EQ(t.functions[0].run_time.buckets[latency_bucket(5000)].load(), 1u);
    EXPECT_EQ(t.busy_ns.load(), 112'000u);
    EXPECT_EQ(t.life_busy_ns.load(), 112'000u);
    EXPECT_EQ(pool.memory.worker_timings(0).named.load(), 0u) << "another slot is untouched";
}

// A new worker in the slot carries the counts on; its own busy time starts from 0.
TEST(TimingsRecorder, ANewWorkerCarriesTheSlotsCountsOn) {
    UnitPoolMemory pool(1, 4, 4096);
    WorkerTimings& t = pool.memory.worker_timings(0);
    {
        TimingsRecorder first(t, serves_all_but(""));
        first.record(Name("add").text, 0, 5000);
    }
    TimingsRecorder second(t, serves_all_but(""));
    EXPECT_EQ(t.life_busy_ns.load(), 0u);
    second.record(Name("mul").text, 0, 1000);
    second.record(Name("add").text, 0, 1000);
    EXPECT_EQ(t.named.load(), 2u);
    EXPECT_EQ(t.functions[0].run_time.sum_ns.load(), 6000u);
    EXPECT_EQ(t.busy_ns.load(), 7000u);
    EXPECT_EQ(t.life_busy_ns.load(), 2000u);
}

TEST(TimingsRecorder, FunctionsBeyondTheNamedOnesShareTheLastEntry) {
    UnitPoolMemory pool(1, 4, 4096);
    WorkerTimings& t = pool.memory.worker_timings(0);
    TimingsRecorder recorder(t, serves_all_but(""));
    for (std::size_t i = 0; i < kTimedFunctions + 5; ++i)
        recorder.record(Name("f" + std::to_string(i)).text, 0, 2000);
    recorder.record(Name("f40").text, 0, 2000);
    EXPECT_EQ(t.named.load(), kTimedFunctions);
    EXPECT_EQ(t.functions[kTimedFunctions].run_time.sum_ns.load(), 6u * 2000);
    EXPECT_EQ(t.functions[kTimedFunctions].name[0], '\0');
}

TEST(JobTimings, FoldsWhatWorkersCountedSinceItLastLookedByFunction) {
    UnitPoolMemory pool(2, 4, 4096);
    TimingsRecorder w0(pool.memory.worker_timings(0), serves_all_but(""));
    TimingsRecorder w1(pool.memory.worker_timings(1), serves_all_but(""));
    JobTimings timings(2);
    const std::int64_t t0 = 500 * kSecond;
    timings.collect(pool.memory, t0);
    EXPECT_TRUE(timings.functions().empty());
    w0.record(Name("add").text, 2000, 5000);
    w1.record(Name("echo").text, 2000, 5000);
    w1.record(Name("add").text, 2000, 5000);
    timings.collect(pool.memory, t0 + kSecond);
    ASSERT_NE(find(timings, "add"), nullptr);
    EXPECT_EQ(find(timings, "add")->run_time.since_start().count(), 2u);
    EXPECT_EQ(find(timings, "echo")->queue_wait.last_minute().count(), 1u);
    timings.collect(pool.memory, t0 + 2 * kSecond);  // nothing new: nothing counted twice
    EXPECT_EQ(find(timings, "add")->run_time.since_start().count(), 2u);
    w0.record(Name("add").text, 2000, 5000);
    timings.collect(pool.memory, t0 + 80 * kSecond);
    EXPECT_EQ(find(timings, "add")->run_time.since_start().count(), 3u);
    EXPECT_EQ(find(timings, "add")->run_time.last_minute().count(), 1u);
    EXPECT_EQ(find(timings, "echo")->run_time.last_minute().count(), 0u);
}

// However many functions the slots have timed (reloads to other libraries), the supervisor keeps
// kTimedFunctions names and counts the rest as kOtherFunctions.
TEST(JobTimings, KeepsAtMostTheCappedNumberOfFunctionNames) {
    UnitPoolMemory pool(2, 4, 4096);
    TimingsRecorder w0(pool.memory.worker_timings(0), serves_all_but(""));
    TimingsRecorder w1(pool.memory.worker_timings(1), serves_all_but(""));
    for (std::size_t i = 0; i < kTimedFunctions + 10; ++i) {
        w0.record(Name("a" + std::to_string(i)).text, 0, 2000);
        w1.record(Name("b" + std::to_string(i)).text, 0, 2000);
    }
    JobTimings timings(2);
    timings.collect(pool.memory, 10 * kSecond);
    EXPECT_EQ(timings.functions().size(), kTimedFunctions + 1);
    std::uint64_t total = 0;
    std::set<std::string> names;
    for (const auto& f : timings.functions()) {
        total += f.run_time.since_start().count();
        names.insert(f.name);
    }
    EXPECT_EQ(total, 2 * (kTimedFunctions + 10)) << "every job is counted somewhere";
    EXPECT_EQ(names.size(), timings.functions().size());
    ASSERT_NE(find(timings, kOtherFunctions), nullptr);
    EXPECT_EQ(find(timings, kOtherFunctions)->run_time.since_start().count(), kTimedFunctions + 20);
}

TEST(JobTimings, BusySharesOverTheMinuteAndTheWorkersLife) {
    UnitPoolMemory pool(1, 4, 4096);
    TimingsRecorder w(pool.memory.worker_timings(0), serves_all_but(""));
    JobTimings timings(1);
    const std::int64_t t0 = 100 * kSecond;
    timings.collect(pool.memory, t0);
    w.record(Name("sleep").text, 0, 5 * kSecond);
    timings.collect(pool.memory, t0 + 10 * kSecond);
    EXPECT_DOUBLE_EQ(timings.busy_last_minute(0, t0 + 10 * kSecond), 0.5);
    EXPECT_DOUBLE_EQ(timings.busy_since_start(0, t0 + 10 * kSecond, t0), 0.5);
    // A job running now counts from its start.
    WorkerRecord& record = pool.memory.worker(0);
    record.running_since_ns.store(t0 + 10 * kSecond);
    record.running_seq.store(running_word_of_inbox_seq(0));
    timings.collect(pool.memory, t0 + 20 * kSecond);
    EXPECT_DOUBLE_EQ(timings.busy_last_minute(0, t0 + 20 * kSecond), 0.75);
    EXPECT_EQ(timings.busy_last_minute(3, t0), 0.0) << "a slot it does not know";
    // The worker dies under that job: its running time goes with it, and the share falls back
    // (to the 5 s it finished in the 30 s since the first look), never past the ends.
    record.running_seq.store(kNoRunningJob);
    timings.collect(pool.memory, t0 + 30 * kSecond);
    EXPECT_NEAR(timings.busy_last_minute(0, t0 + 30 * kSecond), 5.0 / 30, 1e-9);
}

}  // namespace
}  // namespace warmpool
