// Lanes, end to end against real daemons: a client with nothing in flight hands its call straight
// to the idle worker watching the lanes (shm_layout.hpp: Lane). These tests check that such calls
// are answered and counted exactly once, including when their worker is killed with SIGKILL at
// any moment, that a forced cancel still stops one, and that lanes stay closed while a run-time
// limit is configured (the supervisor could not enforce it on a job it never sees).
#include <gtest/gtest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "child_process.hpp"
#include "expect_job_error.hpp"
#include "jobs/example_types.hpp"
#include "raw_session.hpp"
#include "shared_value.hpp"
#include "test_pool.hpp"
#include "warmpool/client.hpp"
#include "warmpool/common/shm_layout.hpp"

namespace warmpool {
namespace {

using nlohmann::json;
using testing::Child;
using testing::expect_job_error;
using testing::RawSession;
using testing::Shared;
using testing::TestPool;
using testing::wait_until;
using namespace std::chrono_literals;

TestPool::Options pool_options(unsigned workers, std::vector<std::string> args = {}) {
    TestPool::Options options;
    options.workers = workers;
    options.extra_args = {"--grace-period", "0.5"};
    options.extra_args.insert(options.extra_args.end(), args.begin(), args.end());
    return options;
}

std::uint64_t jobs(const json& status, const char* key) { return status["jobs"][key].get<std::uint64_t>(); }

json settled(const TestPool& pool) { return pool.settled_status(); }

void expect_every_job_accounted(const json& status) {
    EXPECT_EQ(jobs(status, "submitted"), jobs(status, "completed") + jobs(status, "failed") + jobs(status, "dropped"))
        << status["jobs"].dump();
}

// The pid of the worker running `function` now (by lane or not); 0 if none is.
pid_t worker_running(const TestPool& pool, const std::string& function) {
    pid_t pid = 0;
    wait_until(
        [&] {
            const json status = pool.status();
            for (const auto& row : status["workers"]["rows"]) {
                if (row["current_function"] == function) pid = row["pid"].get<pid_t>();
            }
            return pid > 0;
        },
        10s);
    return pid;
}

// Whether the status shows worker `pid` running a job that came by lane.
bool runs_by_lane(const TestPool& pool, pid_t pid) {
    const json status = pool.status();
    for (const auto& row : status["workers"]["rows"]) {
        if (row["pid"] == pid) return row.value("by_lane", false);
    }
    return false;
}

// Whether a call finds a watcher depends on timing, and a sanitizer build is several times
// slower: there the tests check every outcome, but not which way the call went.
#if defined(__SANITIZE_ADDRESS__)
constexpr bool kReleaseTiming = false;
#else
constexpr bool kReleaseTiming = true;
#endif

// The worker running `function` now, which must have come by lane; 0 if none runs it.
pid_t lane_worker_running(const TestPool& pool, const std::string& function) {
    const pid_t pid = worker_running(pool, function);
    EXPECT_GT(pid, 0) << "no worker runs " << function << ": " << pool.status().dump();
    if (pid > 0 && kReleaseTiming) {
        EXPECT_TRUE(runs_by_lane(pool, pid)) << "the call did not go by lane: " << pool.status().dump();
    }
    return pid;
}

void expect_serving(Client& client) {
    EXPECT_EQ(client.call<std::int64_t>("gcd", std::pair<std::int64_t, std::int64_t>{9, 6}), 3);
}

// Calls one at a time until a worker watches the lanes and takes them: the pool has settled.
constexpr std::uint64_t kWarmUpCalls = 2000;
void warm_up(Client& client) {
    for (std::uint64_t i = 0; i < kWarmUpCalls; ++i) {
        ASSERT_EQ(client.call<std::int64_t>("gcd", std::pair<std::int64_t, std::int64_t>{6, 4}), 2);
    }
}

TEST(LaneTest, CallsOneAtATimeGoByLaneAndAreCountedOnce) {
    TestPool pool(pool_options(2));
    Client client = pool.connect();
    constexpr int kCalls = 20'000;
    for (int i = 1; i <= kCalls; ++i) {
        ASSERT_EQ(client.call<std::int64_t>("gcd", std::pair<std::int64_t, std::int64_t>{6 * i, 4 * i}), 2 * i);
    }
    // Arguments and results of every size a lane takes, and just past it.
    for (std::size_t size : {std::size_t{0}, std::size_t{1}, kLanePayloadMax - 9, kLanePayloadMax - 8,
                             kLanePayloadMax - 7, kLanePayloadMax, kLanePayloadMax + 1}) {
        const std::string text(size, 'x');
        EXPECT_EQ(client.call<std::string>("echo", text), text) << size;
    }
    expect_job_error([&] { client.call<std::int64_t>("no_such_function", std::int64_t{1}); });
    const json s = settled(pool);
    EXPECT_GT(jobs(s, "direct"), kCalls / 2u) << "calls one at a time should mostly go by lane: " << s["jobs"].dump();
    EXPECT_EQ(jobs(s, "completed"), kCalls + 7u);
    EXPECT_EQ(s["jobs"]["failed_by_kind"]["unknown_function"], 1);
    expect_every_job_accounted(s);
}

// The board comes with the Welcome as a read-only descriptor (a fresh read-only open of the
// supervisor's memfd): a client can map it for reading, never for writing, nor seal it.
TEST(LaneTest, TheBoardIsReadOnlyForClients) {
    TestPool pool(pool_options(1));
    RawSession session(pool.control_socket());
    const int board = session.board_fd();
    ASSERT_GE(board, 0);
    EXPECT_EQ(::fcntl(board, F_GETFL) & O_ACCMODE, O_RDONLY);

    errno = 0;
    EXPECT_EQ(::mmap(nullptr, sizeof(LaneBoard), PROT_READ | PROT_WRITE, MAP_SHARED, board, 0), MAP_FAILED);
    EXPECT_EQ(errno, EACCES) << std::strerror(errno);
    void* readable = ::mmap(nullptr, sizeof(LaneBoard), PROT_READ, MAP_SHARED, board, 0);
    ASSERT_NE(readable, MAP_FAILED) << std::strerror(errno);
    EXPECT_EQ(static_cast<const LaneBoard*>(readable)->magic, kLaneBoardMagic);
    errno = 0;
    EXPECT_NE(::mprotect(readable, sizeof(LaneBoard), PROT_READ | PROT_WRITE), 0) << "a read-only mapping made writable";
    EXPECT_EQ(errno, EACCES) << std::strerror(errno);
    ::munmap(readable, sizeof(LaneBoard));

    errno = 0;
    EXPECT_NE(::fcntl(board, F_ADD_SEALS, F_SEAL_WRITE), 0) << "the board sealed through a client's descriptor";
    EXPECT_EQ(errno, EPERM) << std::strerror(errno);
    EXPECT_NE(::ftruncate(board, 0), 0) << "the board resized through a client's descriptor";

    // The pool serves on, the board still open to lanes.
    Client client = pool.connect();
    expect_serving(client);
}

TEST(LaneTest, AWorkerKilledWhileRunningALaneJobAnswersItWithWorkerCrashed) {
    TestPool pool(pool_options(2));
    Client client = pool.connect();
    // Right after a call, so that the worker that answered it still watches the lanes.
    warm_up(client);
    auto sleeper = client.submit<examples::SleepReport>("sleep_report", 30.0);
    const pid_t victim = lane_worker_running(pool, "sleep_report");
    ASSERT_GT(victim, 0);
    ASSERT_EQ(::kill(victim, SIGKILL), 0);
    ASSERT_TRUE(sleeper.wait_for(10s)) << "the lane job of a killed worker was never answered";
    const JobError e = expect_job_error([&] { sleeper.get(); });
    EXPECT_EQ(e.kind(), ErrorKind::worker_crashed) << e.what();
    expect_serving(client);
    const json s = settled(pool);
    EXPECT_EQ(s["jobs"]["failed_by_kind"]["worker_crashed"], 1);
    expect_every_job_accounted(s);
}

TEST(LaneTest, AForcedCancelStopsALaneJob) {
    TestPool pool(pool_options(2));
    Client client = pool.connect();
    warm_up(client);
    auto hang = client.submit<std::int64_t>("hang", std::int64_t{0});
    const pid_t victim = lane_worker_running(pool, "hang");
    ASSERT_GT(victim, 0);
    hang.cancel(/*force=*/true);
    ASSERT_TRUE(hang.wait_for(10s)) << "a forced cancel did not end the running lane job";
    const JobError e = expect_job_error([&] { hang.get(); });
    EXPECT_EQ(e.kind(), ErrorKind::cancelled) << e.what();
    expect_serving(client);
    const json s = settled(pool);
    EXPECT_EQ(s["jobs"]["failed_by_kind"]["cancelled"], 1);
    expect_every_job_accounted(s);
}

TEST(LaneTest, LanesStayClosedWhileARunTimeLimitIsConfigured) {
    TestPool pool(pool_options(2, {"--default-timeout", "0.3"}));
    Client client = pool.connect();
    for (int i = 0; i < 2000; ++i) client.call<std::int64_t>("gcd", std::pair<std::int64_t, std::int64_t>{6, 4});
    const JobError e = expect_job_error([&] { client.call<std::int64_t>("hang", std::int64_t{0}); });
    EXPECT_EQ(e.kind(), ErrorKind::timeout) << e.what();
    const json s = settled(pool);
    EXPECT_EQ(jobs(s, "direct"), 0u);
    expect_every_job_accounted(s);
}

TEST(LaneTest, AClientKilledWhileItsLaneJobRunsLeavesNothingBehind) {
    TestPool pool(pool_options(2));
    // The status is not asked until the call is made: answering it takes the supervisor a core,
    // which can keep the watcher from its lane just then.
    Shared<std::atomic<int>> called;
    std::atomic<int>* flag = called.get();
    Child victim = Child::start([&pool, flag] {
        Client c = pool.connect();
        warm_up(c);
        auto sleeper = c.submit<examples::SleepReport>("sleep_report", 0.5);
        flag->store(1);
        for (;;) ::pause();
        return 0;
    });
    ASSERT_TRUE(wait_until([&] { return flag->load() == 1; }, 30s));
    const pid_t worker = lane_worker_running(pool, "sleep_report");
    ASSERT_GT(worker, 0);
    victim.kill_and_reap();
    // The worker finishes the job (its reply goes nowhere); the session's memory goes. What is
    // left: the pool segment and the lane board (the supervisor's and its workers'), and our
    // session's segment (the supervisor's and ours). Small calls make no blobs.
    Client client = pool.connect();
    expect_serving(client);
    ASSERT_TRUE(wait_until([&] { return pool.leftover_shm().size() == 3u; }, 10s))
        << ::testing::PrintToString(pool.leftover_shm());
    const json s = settled(pool);
    EXPECT_EQ(jobs(s, "completed"), kWarmUpCalls + 1u + 1u) << s["jobs"].dump();  // the victim's, then ours
    EXPECT_EQ(jobs(s, "failed"), 0u) << s["jobs"].dump();
    expect_every_job_accounted(s);
}

// While one client's lane job runs long, another client's calls are served at once by the other
// worker (the busy one does not keep watching, and posts it cannot take go to the supervisor).
TEST(LaneTest, AnotherClientIsServedWhileALaneJobRunsLong) {
    TestPool pool(pool_options(2));
    Client first = pool.connect();
    Client second = pool.connect();
    warm_up(first);
    auto sleeper = first.submit<examples::SleepReport>("sleep_report", 5.0);
    const pid_t busy = worker_running(pool, "sleep_report");
    ASSERT_GT(busy, 0);
    for (int i = 1; i <= 200; ++i) {
        auto f = second.submit<std::int64_t>("gcd", std::pair<std::int64_t, std::int64_t>{3 * i, 2 * i});
        ASSERT_TRUE(f.wait_for(10s)) << "call " << i << " waited behind another client's lane job";
        EXPECT_EQ(f.get(), i);
    }
    EXPECT_FALSE(sleeper.wait_for(0s)) << "the long job ended before the other client's calls: the test proves nothing";
    EXPECT_EQ(sleeper.get().pid, busy);
    const json s = settled(pool);
    EXPECT_EQ(jobs(s, "completed"), kWarmUpCalls + 1u + 200u);
    expect_every_job_accounted(s);
}

// A cancel right after the call was made finds it on its lane, taken by a worker but not started,
// or running; each time the caller gets `cancelled` and nothing else is hit.
TEST(LaneTest, ACancelRightAfterTheCallEndsItWhereverItIs) {
    TestPool pool(pool_options(2));
    Client client = pool.connect();
    constexpr int kRounds = 20;
    int cancelled = 0;
    for (int round = 0; round < kRounds; ++round) {
        warm_up(client);
        auto hang = client.submit<std::int64_t>("hang", std::int64_t{0});
        hang.cancel(/*force=*/true);
        ASSERT_TRUE(hang.wait_for(10s)) << "round " << round << ": a forced cancel did not end the lane job";
        const JobError e = expect_job_error([&] { hang.get(); });
        EXPECT_EQ(e.kind(), ErrorKind::cancelled) << e.what();
        cancelled += e.kind() == ErrorKind::cancelled;
    }
    expect_serving(client);
    const json s = settled(pool);
    EXPECT_EQ(s["jobs"]["failed_by_kind"]["cancelled"].get<int>(), cancelled);
    EXPECT_EQ(s["jobs"]["failed_by_kind"]["worker_crashed"], 0);
    expect_every_job_accounted(s);
}

// Stopping the pool while a lane job hangs: the job gets shutting_down when the grace period ends
// and the daemon exits.
TEST(LaneTest, StoppingThePoolEndsAHangingLaneJob) {
    TestPool pool(pool_options(2));
    Client client = pool.connect();
    warm_up(client);
    auto hang = client.submit<std::int64_t>("hang", std::int64_t{0});
    const pid_t victim = lane_worker_running(pool, "hang");
    ASSERT_GT(victim, 0);
    pool.signal(SIGTERM);
    EXPECT_EQ(pool.wait_exit(20s), 0) << pool.log();
    ASSERT_TRUE(hang.wait_for(10s));
    const JobError e = expect_job_error([&] { hang.get(); });
    EXPECT_EQ(e.kind(), ErrorKind::shutting_down) << e.what();
}

// Clients calling one at a time while workers are killed at random moments: every call ends,
// with its result or worker_crashed, and every job is counted exactly once.
TEST(LaneTest, KillingWorkersUnderCallsOneAtATimeLosesNothing) {
    TestPool pool(pool_options(2));
    constexpr int kClients = 2;
    std::atomic<bool> stop{false};
    std::atomic<std::uint64_t> answered{0}, crashed{0}, hung{0};
    std::vector<std::thread> clients;
    for (int c = 0; c < kClients; ++c) {
        clients.emplace_back([&, c] {
            Client client = pool.connect();
            std::int64_t i = 0;
            while (!stop.load()) {
                ++i;
                // Two kinds of call: a typed result, and a string echoed back.
                try {
                    if (c == 0) {
                        auto f = client.submit<std::int64_t>("gcd", std::pair<std::int64_t, std::int64_t>{3 * i, 2 * i});
                        if (!f.wait_for(20s)) {
                            ++hung;
                            return;
                        }
                        EXPECT_EQ(f.get(), i);
                    } else {
                        auto f = client.submit<std::string>("echo", std::to_string(i));
                        if (!f.wait_for(20s)) {
                            ++hung;
                            return;
                        }
                        EXPECT_EQ(f.get(), std::to_string(i));
                    }
                    ++answered;
                } catch (const JobError& e) {
                    EXPECT_EQ(e.kind(), ErrorKind::worker_crashed) << e.what();
                    ++crashed;
                }
            }
        });
    }
    std::mt19937 random(20261124);
    const auto until = std::chrono::steady_clock::now() + 4s;
    int kills = 0;
    while (std::chrono::steady_clock::now() < until) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50 + random() % 150));
        const auto pids = pool.ready_worker_pids();
        if (pids.empty()) continue;
        if (::kill(pids[random() % pids.size()], SIGKILL) == 0) ++kills;
    }
    stop = true;
    for (auto& t : clients) t.join();
    EXPECT_EQ(hung.load(), 0u) << "a call was never answered";
    EXPECT_GT(kills, 5);
    EXPECT_GT(answered.load(), 1000u);
    const json s = settled(pool);
    EXPECT_GT(jobs(s, "direct"), 0u);
    EXPECT_EQ(jobs(s, "completed"), answered.load()) << s["jobs"].dump();
    EXPECT_EQ(s["jobs"]["failed_by_kind"]["worker_crashed"].get<std::uint64_t>(), crashed.load());
    expect_every_job_accounted(s);
    std::printf("%llu answered, %llu worker_crashed, %d workers killed, %llu by lane\n",
                static_cast<unsigned long long>(answered.load()), static_cast<unsigned long long>(crashed.load()),
                kills, static_cast<unsigned long long>(jobs(s, "direct")));
}

}  // namespace
}  // namespace warmpool
