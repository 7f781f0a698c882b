// Supervision against real warmpoold processes: run-time timeouts, deadlines, cancellation,
// retries and poison quarantine, max_jobs and max_rss recycling, reload (under load, with a
// changed config file, and failing), graceful stop, killed clients, a killed supervisor,
// crash-loop back-off, backpressure, and the command line's supervision commands.
//
// Each test starts its own pool and checks both what the client sees and what the daemon
// reports (status counters, worker pids, log lines). Nothing here sleeps to synchronise: every
// wait polls a condition with a bound.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <numeric>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "child_process.hpp"
#include "shared_value.hpp"
#include "jobs/example_types.hpp"
#include "expect_job_error.hpp"
#include "scratch_dir.hpp"
#include "test_pool.hpp"
#include "warmpool/client.hpp"
#include "warmpool/common/shm_layout.hpp"

namespace warmpool {
namespace {

// A private directory under /tmp, removed with everything in it.
struct Scratch : testing::ScratchDir {
    Scratch() : ScratchDir("warmpool-sup") {}
};

using nlohmann::json;
using testing::contains;
using testing::describe;
using testing::Child;
using testing::process_state;
using testing::CommandResult;
using testing::expect_job_error;
using testing::Shared;
using testing::TestPool;
using testing::wait_until;
using Pair = std::pair<std::int64_t, std::int64_t>;
using namespace std::chrono_literals;

// ---- helpers ---------------------------------------------------------------------------------

// A pool whose graceful stop does not wait long for a job that never ends; `args` come after
// and may override it.
TestPool::Options pool_options(unsigned workers, std::vector<std::string> args = {},
                               std::map<std::string, std::string> env = {}) {
    TestPool::Options options;
    options.workers = workers;
    options.extra_args = {"--grace-period", "0.5"};
    options.extra_args.insert(options.extra_args.end(), args.begin(), args.end());
    options.env = std::move(env);
    return options;
}


// Those of `objects` (pool_shared_memory(): "memfd:<label>#<inode>") this process maps.
std::vector<std::string> mapped_here(const std::vector<std::string>& objects) {
    std::set<std::string> mapped;
    std::ifstream maps("/proc/self/maps");
    for (std::string line; std::getline(maps, line);) {
        const auto at = line.find("/memfd:");
        if (at == std::string::npos) continue;
        std::istringstream fields(line);
        std::string range, perms, offset, dev, inode;
        fields >> range >> perms >> offset >> dev >> inode;
        const auto end = line.find(' ', at);
        mapped.insert(line.substr(at + 1, end == std::string::npos ? std::string::npos : end - at - 1) + "#" + inode);
    }
    std::vector<std::string> found;
    for (const auto& object : objects) {
        if (mapped.contains(object)) found.push_back(object);
    }
    return found;
}

std::size_t count_of(const std::string& text, const std::string& part) {
    std::size_t n = 0;
    for (auto at = text.find(part); at != std::string::npos; at = text.find(part, at + 1)) ++n;
    return n;
}

std::uint64_t supervision(const json& status, const char* key) {
    return status["supervision"][key].get<std::uint64_t>();
}
std::uint64_t failed(const json& status, const char* kind) {
    return status["jobs"]["failed_by_kind"][kind].get<std::uint64_t>();
}

std::set<pid_t> as_set(const std::vector<pid_t>& pids) { return {pids.begin(), pids.end()}; }

bool disjoint(const std::set<pid_t>& a, const std::set<pid_t>& b) {
    return std::none_of(a.begin(), a.end(), [&](pid_t p) { return b.count(p) != 0; });
}

// True once `pid` has exited (a zombie nobody reaped yet counts as exited).
bool process_gone(pid_t pid) {
    if (::kill(pid, 0) != 0) return errno == ESRCH;
    return process_state(pid) == 'Z';
}

// The pid of the worker running `function` now; 0 if none is.
pid_t worker_running(const TestPool& pool, const std::string& function) {
    const json status = pool.status();
    for (const auto& row : status["workers"]["rows"]) {
        if (row["current_function"] == function) return row["pid"].get<pid_t>();
    }
    return 0;
}

pid_t wait_for_worker_running(const TestPool& pool, const std::string& function) {
    pid_t pid = 0;
    wait_until(
        [&] {
            pid = worker_running(pool, function);
            return pid > 0;
        },
        10s);
    return pid;
}

json settled(const TestPool& pool) { return pool.settled_status(); }

// Every accepted job ended exactly once: completed, failed or dropped.
void expect_every_job_accounted(const json& status) {
    const json& jobs = status["jobs"];
    EXPECT_EQ(jobs["submitted"].get<std::uint64_t>(), jobs["completed"].get<std::uint64_t>() +
                                                          jobs["failed"].get<std::uint64_t>() +
                                                          jobs["dropped"].get<std::uint64_t>())
        << jobs.dump();
}

std::int64_t jobs_done_by(const json& status, pid_t pid) {
    for (const auto& row : status["workers"]["rows"]) {
        if (row["pid"] == pid) return row["jobs_done"].get<std::int64_t>();
    }
    return -1;
}

std::int64_t total_jobs_done(const json& status) {
    std::int64_t total = 0;
    for (const auto& row : status["workers"]["rows"]) total += row["jobs_done"].get<std::int64_t>();
    return total;
}

void expect_serving(Client& client) {
    EXPECT_EQ(client.call<std::int64_t>("gcd", Pair{12, 18}), 6);
}

// Resident memory of a process, from /proc.
std::int64_t rss_kib(pid_t pid) {
    std::ifstream status("/proc/" + std::to_string(pid) + "/status");
    for (std::string line; std::getline(status, line);) {
        if (line.rfind("VmRSS:", 0) == 0) return std::stoll(line.substr(6));
    }
    return -1;
}



// Polls the status socket from a thread while a test runs: the fewest ready workers seen, and
// whether a worker was ever seen holding a job before it finished initialising.
class StatusWatch {
public:
    explicit StatusWatch(const TestPool& pool) : pool_(pool) {
        thread_ = std::thread([this] { run(); });
    }
    ~StatusWatch() { stop(); }
    StatusWatch(const StatusWatch&) = delete;
    StatusWatch& operator=(const StatusWatch&) = delete;

    void stop() {
        stopping_ = true;
        if (thread_.joinable()) thread_.join();
    }
    int min_ready() const { return min_ready_; }
    std::uint64_t samples() const { return samples_; }
    const std::string& violation() const { return violation_; }

private:
    void run() {
        while (!stopping_) {
            sample();
            std::this_thread::sleep_for(5ms);  // a sampling interval, not a synchronisation
        }
    }
    void sample() {
        json status;
        try {
            status = pool_.status();
        } catch (const std::exception&) {
            return;
        }
        ++samples_;
        min_ready_ = std::min(min_ready_.load(), status["workers"]["ready"].get<int>());
        for (const auto& row : status["workers"]["rows"]) {
            if (row["state"] == "starting" && row["queued"].get<std::uint64_t>() > 0 &&
                violation_.empty()) {
                violation_ = "a starting worker was given jobs: " + row.dump();
            }
        }
    }

    const TestPool& pool_;
    std::atomic<bool> stopping_{false};
    std::atomic<int> min_ready_{1 << 20};
    std::atomic<std::uint64_t> samples_{0};
    std::string violation_;  // written by the thread, read after stop()
    std::thread thread_;
};

// Threads that keep submitting short jobs through one client and check every answer, until
// stopped.
class Load {
public:
    Load(Client& client, int threads) : client_(client) {
        for (int t = 0; t < threads; ++t) threads_.emplace_back([this, t] { run(t); });
    }
    ~Load() { stop(); }
    Load(const Load&) = delete;
    Load& operator=(const Load&) = delete;

    void stop() {
        stopping_ = true;
        for (auto& t : threads_) {
            if (t.joinable()) t.join();
        }
    }
    std::uint64_t ok() const { return ok_; }
    std::uint64_t failures() const { return failures_; }
    std::string first_failures() const {
        std::lock_guard lock(mu_);
        return notes_;
    }
    // Waits until `more` further jobs have succeeded.
    bool wait_for_progress(std::uint64_t more, std::chrono::milliseconds timeout) const {
        const std::uint64_t target = ok_ + more;
        return wait_until([&] { return ok_ >= target; }, timeout);
    }

private:
    void run(int t) {
        std::mt19937_64 rng(static_cast<std::uint64_t>(t) + 1);
        for (std::int64_t i = 0; !stopping_; ++i) {
            try {
                if (i % 4 == 3) {
                    auto report = client_.call<examples::SleepReport>("sleep_report", 0.002);
                    if (report.pid <= 0) throw std::runtime_error("sleep_report from no worker");
                } else {
                    const std::int64_t g = static_cast<std::int64_t>(rng() % 50) + 1;
                    const std::int64_t a = static_cast<std::int64_t>(rng() % 40) + 1;
                    const std::int64_t b = static_cast<std::int64_t>(rng() % 40) + 1;
                    if (client_.call<std::int64_t>("gcd", Pair{g * a, g * b}) !=
                        g * std::gcd(a, b)) {
                        throw std::runtime_error("wrong gcd");
                    }
                }
                ++ok_;
            } catch (const std::exception& e) {
                ++failures_;
                std::lock_guard lock(mu_);
                if (notes_.size() < 2000) notes_ += std::string(e.what()) + "\n";
            }
        }
    }

    Client& client_;
    std::atomic<bool> stopping_{false};
    std::atomic<std::uint64_t> ok_{0}, failures_{0};
    mutable std::mutex mu_;
    std::string notes_;
    std::vector<std::thread> threads_;
};

// Waits until a reload has finished: `reloads` counted, no reload in progress, every worker
// ready and none of `old_pids` serving any more.
bool wait_reload_done(const TestPool& pool, std::uint64_t reloads,
                      const std::set<pid_t>& old_pids) {
    return wait_until(
        [&] {
            const json s = pool.status();
            if (supervision(s, "reloads") != reloads || s["supervision"]["reloading"] != false) {
                return false;
            }
            if (s["workers"]["live"] != s["workers"]["configured"] ||
                s["workers"]["ready"] != s["workers"]["configured"]) {
                return false;
            }
            return disjoint(as_set(pool.ready_worker_pids()), old_pids);
        },
        20s);
}

// ---- 1. run-time timeouts ------------------------------------------------------------------

TEST(SupervisionTest, FunctionTimeoutStopsTheJobAndReplacesItsWorker) {
    TestPool pool(pool_options(2, {"--function", "hang:timeout=0.3", "--kill-grace", "0.5"}));
    Client client = pool.connect();
    const auto before = as_set(pool.ready_worker_pids());
    ASSERT_EQ(before.size(), 2u);

    auto hang = client.submit<std::int64_t>("hang", std::int64_t{0});
    const pid_t victim = wait_for_worker_running(pool, "hang");
    ASSERT_GT(victim, 0) << "the hang job never started";
    // Other jobs are unaffected: they run on the other worker meanwhile.
    for (std::int64_t i = 1; i <= 30; ++i) {
        EXPECT_EQ(client.call<std::int64_t>("gcd", Pair{6 * i, 4 * i}), 2 * i);
    }

    const JobError e = expect_job_error([&] { hang.get(); });
    EXPECT_EQ(e.kind(), ErrorKind::timeout) << e.what();
    EXPECT_TRUE(contains(e.message(), "time limit of 0.300 s")) << e.message();

    ASSERT_TRUE(wait_until(
        [&] { return pool.ready_worker_pids().size() == 2 && process_gone(victim); }, 10s))
        << pool.status().dump();
    const auto after = as_set(pool.ready_worker_pids());
    EXPECT_EQ(after.count(victim), 0u);
    EXPECT_EQ(std::count_if(after.begin(), after.end(), [&](pid_t p) { return !before.count(p); }),
              1)
        << "exactly the timed-out worker was replaced";
    for (int i = 0; i < 10; ++i) expect_serving(client);

    const json s = settled(pool);
    EXPECT_EQ(failed(s, "timeout"), 1u) << s.dump();
    EXPECT_EQ(supervision(s, "timeouts"), 1u) << s["supervision"].dump();
    EXPECT_EQ(supervision(s, "worker_crashes"), 0u) << "a timeout is not a crash";
    EXPECT_EQ(s["jobs"]["completed"], 40);
    expect_every_job_accounted(s);
    EXPECT_TRUE(contains(pool.log(), "ran longer than its time limit")) << pool.log();
}

TEST(SupervisionTest, PerJobTimeoutOverridesTheFunctionDefault) {
    // The function defaults: hang would run for a minute, sleep_report only 0.2 s.
    TestPool pool(pool_options(
        2, {"--function", "hang:timeout=60", "--function", "sleep_report:timeout=0.2"}));
    Client client = pool.connect();

    CallOptions shorter;
    shorter.timeout = 300ms;
    const auto started = std::chrono::steady_clock::now();
    auto hang = client.submit<std::int64_t>("hang", std::int64_t{0}, shorter);
    const pid_t victim = wait_for_worker_running(pool, "hang");
    ASSERT_GT(victim, 0);
    const JobError e = expect_job_error([&] { hang.get(); });
    EXPECT_EQ(e.kind(), ErrorKind::timeout) << e.what();
    EXPECT_TRUE(contains(e.message(), "time limit of 0.300 s")) << e.message();
    EXPECT_LT(std::chrono::steady_clock::now() - started, 30s)
        << "the function's 60 s limit was applied instead of the job's own";

    // A longer per-job limit lets a job outlive its function's default...
    CallOptions longer;
    longer.timeout = 10s;
    EXPECT_GE(client.call<examples::SleepReport>("sleep_report", 0.5, longer).slept, 0.5);
    // ...which still applies to jobs without one.
    EXPECT_EQ(
        expect_job_error([&] { client.call<examples::SleepReport>("sleep_report", 0.5); }).kind(),
        ErrorKind::timeout);

    ASSERT_TRUE(wait_until([&] { return process_gone(victim); }, 10s));
    const json s = settled(pool);
    EXPECT_EQ(failed(s, "timeout"), 2u);
    EXPECT_EQ(supervision(s, "timeouts"), 2u) << s["supervision"].dump();
    EXPECT_EQ(s["jobs"]["completed"], 1);
    EXPECT_EQ(pool.ready_worker_pids().size(), 2u);
}

// ---- 2. deadlines --------------------------------------------------------------------------

TEST(SupervisionTest, JobStillQueuedAtItsDeadlineNeverRuns) {
    TestPool pool(pool_options(2));
    Client client = pool.connect();
    auto first = client.submit<examples::SleepReport>("sleep_report", 1.2);
    auto second = client.submit<examples::SleepReport>("sleep_report", 1.2);
    ASSERT_TRUE(wait_until([&] { return pool.status()["workers"]["busy"] == 2; }, 10s));

    CallOptions call;
    call.deadline = std::chrono::steady_clock::now() + 100ms;
    auto late = client.submit<examples::SleepReport>("sleep_report", 0.0, call);
    const JobError e = expect_job_error([&] { late.get(); });
    EXPECT_EQ(e.kind(), ErrorKind::deadline_exceeded) << e.what();
    EXPECT_TRUE(contains(e.message(), "queued")) << e.message();
    // It expired in the queue, not when a worker came free.
    EXPECT_FALSE(first.ready() && second.ready())
        << "the deadline was only noticed once a worker was free";

    EXPECT_GE(first.get().slept, 1.2);
    EXPECT_GE(second.get().slept, 1.2);
    const json s = settled(pool);
    EXPECT_EQ(failed(s, "deadline_exceeded"), 1u);
    EXPECT_EQ(s["jobs"]["completed"], 2);
    EXPECT_EQ(total_jobs_done(s), 2) << "a worker was handed the expired job: " << s.dump();
    expect_every_job_accounted(s);
}

// ---- 3. cancellation -----------------------------------------------------------------------

TEST(SupervisionTest, CancelledQueuedJobNeverRuns) {
    TestPool pool(pool_options(1));
    Client client = pool.connect();
    auto running = client.submit<examples::SleepReport>("sleep_report", 0.5);
    ASSERT_TRUE(wait_until([&] { return pool.status()["workers"]["busy"] == 1; }, 10s));
    auto queued = client.submit<examples::WorkerInfo>("worker_info", std::int64_t{1});
    ASSERT_TRUE(wait_until([&] { return pool.status()["queue"]["depth"] == 1; }, 10s));
    queued.cancel();
    const JobError e = expect_job_error([&] { queued.get(); });
    EXPECT_EQ(e.kind(), ErrorKind::cancelled);
    EXPECT_TRUE(contains(e.message(), "before it started")) << e.message();

    EXPECT_GE(running.get().slept, 0.5);
    // The worker's next worker_info call is its first: the cancelled one never ran.
    EXPECT_EQ(client.call<examples::WorkerInfo>("worker_info", std::int64_t{2}).jobs, 1);
    const json s = settled(pool);
    EXPECT_EQ(failed(s, "cancelled"), 1u);
    EXPECT_EQ(s["jobs"]["completed"], 2);
    EXPECT_EQ(total_jobs_done(s), 2);
    expect_every_job_accounted(s);
}

TEST(SupervisionTest, ForcedCancelStopsARunningJobAndReplacesItsWorker) {
    TestPool pool(pool_options(2));
    Client client = pool.connect();
    const auto before = as_set(pool.ready_worker_pids());
    auto hang = client.submit<std::int64_t>("hang", std::int64_t{0});
    const pid_t victim = wait_for_worker_running(pool, "hang");
    ASSERT_GT(victim, 0);

    hang.cancel(/*force=*/true);
    ASSERT_TRUE(hang.wait_for(10s)) << "a forced cancel did not end the running job";
    const JobError e = expect_job_error([&] { hang.get(); });
    EXPECT_EQ(e.kind(), ErrorKind::cancelled) << e.what();
    EXPECT_TRUE(contains(e.message(), "cancelled while running")) << e.message();

    ASSERT_TRUE(wait_until(
        [&] { return process_gone(victim) && pool.ready_worker_pids().size() == 2; }, 10s));
    const auto after = as_set(pool.ready_worker_pids());
    EXPECT_EQ(after.count(victim), 0u);
    EXPECT_EQ(std::count_if(after.begin(), after.end(), [&](pid_t p) { return !before.count(p); }),
              1);
    expect_serving(client);
    const json s = settled(pool);
    EXPECT_EQ(failed(s, "cancelled"), 1u);
    EXPECT_EQ(supervision(s, "worker_crashes"), 0u);
    expect_every_job_accounted(s);
}

TEST(SupervisionTest, PlainCancelOfARunningJobLetsItFinishOnTheSameWorker) {
    TestPool pool(pool_options(2));
    Client client = pool.connect();
    const auto before = as_set(pool.ready_worker_pids());
    auto job = client.submit<examples::SleepReport>("sleep_report", 0.4);
    const pid_t worker = wait_for_worker_running(pool, "sleep_report");
    ASSERT_GT(worker, 0);

    job.cancel();
    const JobError e = expect_job_error([&] { job.get(); });
    EXPECT_EQ(e.kind(), ErrorKind::cancelled);
    EXPECT_TRUE(contains(e.message(), "result was dropped")) << e.message();

    // The job ran to its end on the same worker, which is still serving.
    ASSERT_TRUE(wait_until([&] { return jobs_done_by(pool.status(), worker) == 1; }, 10s));
    EXPECT_EQ(as_set(pool.ready_worker_pids()), before);
    EXPECT_FALSE(process_gone(worker));
    const json s = settled(pool);
    EXPECT_EQ(supervision(s, "worker_exits"), 0u);
    EXPECT_EQ(s["jobs"]["completed"], 1) << "the daemon saw the job complete";
}

// ---- 4. retries and poison quarantine ------------------------------------------------------

TEST(SupervisionTest, RetryableJobSucceedsOnALaterAttempt) {
    TestPool pool(pool_options(2, {"--function", "crash_until_attempt:retries=2"}));
    Client client = pool.connect();
    EXPECT_EQ(client.call<std::int64_t>("crash_until_attempt", std::int64_t{2}), 2)
        << "the result names the attempt that survived";
    EXPECT_EQ(client.call<std::int64_t>("crash_until_attempt", std::int64_t{3}), 3);
    const json s = settled(pool);
    EXPECT_EQ(supervision(s, "retried"), 3u);
    EXPECT_EQ(supervision(s, "worker_crashes"), 3u);
    EXPECT_EQ(failed(s, "worker_crashed"), 0u);
    EXPECT_EQ(s["jobs"]["completed"], 2);
    expect_every_job_accounted(s);
    EXPECT_TRUE(contains(pool.log(), "retrying (attempt 2 of 3)")) << pool.log();
}

TEST(SupervisionTest, PoisonJobIsQuarantinedAfterThresholdCrashes) {
    TestPool pool(pool_options(2, {"--function", "crash:retries=5", "--poison-threshold", "3"}));
    Client client = pool.connect();
    const JobError e =
        expect_job_error([&] { client.call<std::int64_t>("crash", std::int64_t{1}); });
    EXPECT_EQ(e.kind(), ErrorKind::worker_crashed);
    EXPECT_TRUE(contains(e.message(), "poison")) << e.message();
    EXPECT_TRUE(contains(e.message(), "quarantined")) << e.message();
    EXPECT_TRUE(contains(e.message(), "attempt 3")) << e.message();
    EXPECT_TRUE(contains(e.message(), "SIGABRT")) << e.message();

    const json s = settled(pool);
    EXPECT_EQ(supervision(s, "retried"), 2u) << "three attempts in all, not the six retries allow";
    EXPECT_EQ(supervision(s, "worker_crashes"), 3u);
    EXPECT_EQ(failed(s, "worker_crashed"), 1u);
    expect_serving(client);
}

TEST(SupervisionTest, CrashWithoutRetriesNamesTheSignal) {
    TestPool pool(pool_options(2));
    Client client = pool.connect();
    const JobError e =
        expect_job_error([&] { client.call<std::int64_t>("crash", std::int64_t{1}); });
    EXPECT_EQ(e.kind(), ErrorKind::worker_crashed);
    EXPECT_TRUE(contains(e.message(), "SIGABRT")) << e.message();
    EXPECT_FALSE(contains(e.message(), "poison")) << e.message();
    const json s = settled(pool);
    EXPECT_EQ(supervision(s, "retried"), 0u);
    EXPECT_EQ(supervision(s, "worker_crashes"), 1u);
    EXPECT_EQ(failed(s, "worker_crashed"), 1u);
    expect_serving(client);
}

// ---- 5. max_jobs recycling -----------------------------------------------------------------

TEST(SupervisionTest, MaxJobsRecyclesWorkersWithoutLosingCapacityOrAJob) {
    constexpr std::int64_t kMaxJobs = 20;
    Scratch scratch;
    TestPool pool(pool_options(2,
                               {"--max-jobs", std::to_string(kMaxJobs), "--max-jobs-jitter", "0"},
                               {{"WARMPOOL_EXAMPLE_INIT_SECONDS", "0.3"},
                                {"WARMPOOL_EXAMPLE_INIT_LOG", scratch.path("inits")}}));
    Client client = pool.connect();
    const auto original = as_set(pool.ready_worker_pids());
    ASSERT_EQ(original.size(), 2u);

    std::map<pid_t, std::int64_t> jobs_by_pid;  // the most jobs each worker reported
    std::uint64_t calls = 0;
    StatusWatch watch(pool);
    const auto give_up = std::chrono::steady_clock::now() + 30s;
    bool recycled_twice = false;
    while (std::chrono::steady_clock::now() < give_up) {
        const auto info = client.call<examples::WorkerInfo>("worker_info", std::int64_t{0});
        ++calls;
        EXPECT_EQ(info.inits, 1) << "worker " << info.pid << " initialised more than once";
        auto& most = jobs_by_pid[static_cast<pid_t>(info.pid)];
        most = std::max(most, info.jobs);
        if (calls % 25 == 0) {
            const json s = pool.status();
            if (supervision(s, "recycled") >= 4 &&
                disjoint(as_set(pool.ready_worker_pids()), original)) {
                recycled_twice = true;
                break;
            }
        }
    }
    watch.stop();
    ASSERT_TRUE(recycled_twice) << "workers were not recycled after " << calls
                                << " jobs: " << pool.status().dump();
    EXPECT_GE(watch.min_ready(), 2) << "capacity dropped while a worker was recycled";
    EXPECT_TRUE(watch.violation().empty()) << watch.violation();
    EXPECT_GT(watch.samples(), 0u);

    const json s = settled(pool);
    const auto serving = as_set(pool.ready_worker_pids());
    for (const auto& [pid, most] : jobs_by_pid) {
        if (serving.count(pid) == 0) {
            EXPECT_GE(most, kMaxJobs) << "worker " << pid << " retired before max_jobs";
        }
    }
    EXPECT_EQ(s["jobs"]["completed"].get<std::uint64_t>(), calls);
    EXPECT_EQ(s["jobs"]["failed"], 0);
    // Every worker that served initialised exactly once, before it served.
    const auto inits = scratch.lines("inits");
    for (const auto& [pid, most] : jobs_by_pid) {
        EXPECT_EQ(std::count(inits.begin(), inits.end(), std::to_string(pid)), 1) << pid;
    }
    EXPECT_TRUE(contains(pool.log(), "recycled after 20 jobs (max_jobs 20)")) << pool.log();
    std::printf("%llu jobs, %zu workers, %llu recycled, fewest ready workers seen %d\n",
                static_cast<unsigned long long>(calls), jobs_by_pid.size(),
                static_cast<unsigned long long>(supervision(s, "recycled")), watch.min_ready());
}

// ---- 6. max_rss recycling ------------------------------------------------------------------

TEST(SupervisionTest, MaxRssRecyclesAWorkerAfterItsJobIsAnswered) {
    TestPool pool(pool_options(2, {"--max-rss", "64MiB"}));
    Client client = pool.connect();
    const auto before = as_set(pool.ready_worker_pids());
    const json status = pool.status();  // kept alive: the loop walks into it
    for (const auto& row : status["workers"]["rows"]) {
        ASSERT_LT(row["rss_bytes"].get<std::int64_t>(), 48 << 20) << "a worker starts too big";
    }

    EXPECT_EQ(client.call<std::int64_t>("leak", std::int64_t{96}), 96)
        << "the job that passed max_rss still gets its result";

    std::set<pid_t> after;
    ASSERT_TRUE(wait_until(
        [&] {
            after = as_set(pool.ready_worker_pids());
            return after.size() == 2 && !disjoint(after, before) && after != before;
        },
        10s))
        << "the worker past max_rss was not replaced: " << pool.status().dump();
    pid_t victim = 0;
    for (pid_t p : before) {
        if (after.count(p) == 0) victim = p;
    }
    ASSERT_TRUE(wait_until([&] { return process_gone(victim); }, 10s));
    const json s = settled(pool);
    EXPECT_EQ(supervision(s, "recycled"), 1u);
    EXPECT_EQ(supervision(s, "worker_crashes"), 0u);
    EXPECT_EQ(s["jobs"]["completed"], 1);
    const std::string log = pool.log();
    EXPECT_TRUE(contains(log, "pid " + std::to_string(victim) + " recycled: RSS")) << log;
    expect_serving(client);
}

// ---- 7. reload -----------------------------------------------------------------------------

TEST(SupervisionTest, ReloadUnderLoadReplacesEveryWorkerWithoutFailingAJob) {
    TestPool pool(pool_options(2, {}, {{"WARMPOOL_EXAMPLE_INIT_SECONDS", "0.2"}}));
    Client client = pool.connect();
    const auto first = as_set(pool.ready_worker_pids());
    ASSERT_EQ(first.size(), 2u);
    Load load(client, 3);
    StatusWatch watch(pool);
    ASSERT_TRUE(load.wait_for_progress(200, 20s));

    const CommandResult r = pool.cli({"reload"});
    EXPECT_EQ(r.exit_code, 0) << describe(r);
    EXPECT_TRUE(contains(r.out, "reloading pool '" + pool.name() + "'")) << describe(r);
    ASSERT_TRUE(wait_reload_done(pool, 1, first)) << pool.status().dump();
    const auto second = as_set(pool.ready_worker_pids());
    ASSERT_TRUE(load.wait_for_progress(200, 20s));

    pool.signal(SIGHUP);
    ASSERT_TRUE(wait_reload_done(pool, 2, second)) << pool.status().dump();
    ASSERT_TRUE(load.wait_for_progress(200, 20s));
    load.stop();
    watch.stop();

    EXPECT_EQ(load.failures(), 0u) << load.first_failures();
    EXPECT_GE(watch.min_ready(), 2) << "capacity dropped during a reload";
    EXPECT_TRUE(watch.violation().empty()) << watch.violation();
    const json s = settled(pool);
    EXPECT_EQ(s["jobs"]["failed"], 0);
    EXPECT_EQ(s["jobs"]["completed"].get<std::uint64_t>(), load.ok());
    EXPECT_EQ(supervision(s, "reloads"), 2u);
    EXPECT_EQ(supervision(s, "worker_crashes"), 0u);
    const std::string log = pool.log();
    EXPECT_EQ(count_of(log, "reload complete"), 2u) << log;
    EXPECT_TRUE(contains(log, "reloading (SIGHUP)")) << log;
}

TEST(SupervisionTest, ReloadAppliesAChangedConfigFile) {
    Scratch scratch;
    const std::string file =
        scratch.write("pool.toml", "[functions.sleep_report]\ntimeout = 5.0\n");
    TestPool pool(pool_options(2, {"--config", file}));
    Client client = pool.connect();
    EXPECT_GE(client.call<examples::SleepReport>("sleep_report", 0.4).slept, 0.4);

    scratch.write("pool.toml", "[functions.sleep_report]\ntimeout = 0.1\n");
    const auto old = as_set(pool.ready_worker_pids());
    const CommandResult r = pool.cli({"reload"});
    ASSERT_EQ(r.exit_code, 0) << describe(r);
    ASSERT_TRUE(wait_reload_done(pool, 1, old)) << pool.status().dump();

    const JobError e =
        expect_job_error([&] { client.call<examples::SleepReport>("sleep_report", 0.4); });
    EXPECT_EQ(e.kind(), ErrorKind::timeout) << e.what();
    EXPECT_TRUE(contains(e.message(), "time limit of 0.100 s")) << e.message();
    EXPECT_EQ(supervision(settled(pool), "timeouts"), 1u);
}

TEST(SupervisionTest, FailedReloadKeepsTheOldWorkersServing) {
    Scratch scratch;
    const std::string flag = scratch.path("fail-init");
    TestPool pool(pool_options(2, {}, {{"WARMPOOL_EXAMPLE_INIT_FAIL_IF_EXISTS", flag}}));
    Client client = pool.connect();
    const auto old = as_set(pool.ready_worker_pids());
    Load load(client, 3);
    ASSERT_TRUE(load.wait_for_progress(100, 20s));

    scratch.write("fail-init", "");
    const CommandResult r = pool.cli({"reload"});
    EXPECT_EQ(r.exit_code, 0) << describe(r);
    ASSERT_TRUE(wait_until(
        [&] {
            const json s = pool.status();
            return supervision(s, "reloads") == 1 && s["supervision"]["reloading"] == false &&
                   s["workers"]["live"] == 2;
        },
        20s))
        << pool.status().dump();
    ASSERT_TRUE(load.wait_for_progress(200, 20s));
    load.stop();

    EXPECT_EQ(load.failures(), 0u) << load.first_failures();
    EXPECT_EQ(as_set(pool.ready_worker_pids()), old) << "the old workers must keep serving";
    const json s = settled(pool);
    EXPECT_GE(supervision(s, "failed_inits"), 1u);
    EXPECT_EQ(s["jobs"]["failed"], 0);
    const std::string log = pool.log();
    EXPECT_TRUE(contains(log, "reload failed")) << log;
    EXPECT_TRUE(contains(log, "exists")) << "the worker's own error is logged: " << log;

    // Once initialisation works again, a reload goes through.
    std::filesystem::remove(flag);
    ASSERT_EQ(pool.cli({"reload"}).exit_code, 0);
    ASSERT_TRUE(wait_reload_done(pool, 2, old)) << pool.status().dump();
    expect_serving(client);
}

// ---- 8. graceful stop ----------------------------------------------------------------------

enum class StopBy { signal, command };

class GracefulStopTest : public ::testing::TestWithParam<StopBy> {};

TEST_P(GracefulStopTest, RunningJobsFinishWithinTheGracePeriodAndNothingIsLeft) {
    constexpr auto kGrace = 1500ms;
    TestPool pool(pool_options(2, {"--grace-period", "1.5"}));
    Client client = pool.connect();
    const auto workers = pool.ready_worker_pids();

    auto finishing = client.submit<examples::SleepReport>("sleep_report", 0.3);
    auto hang = client.submit<std::int64_t>("hang", std::int64_t{0});
    ASSERT_TRUE(wait_until([&] { return pool.status()["workers"]["busy"] == 2; }, 10s));
    // Queued behind them: two that fit in the grace period, a hang that does not, and one job
    // that never gets a worker.
    auto queued_a = client.submit<examples::SleepReport>("sleep_report", 0.1);
    auto queued_b = client.submit<examples::SleepReport>("sleep_report", 0.1);
    auto queued_hang = client.submit<std::int64_t>("hang", std::int64_t{1});
    auto never = client.submit<examples::SleepReport>("sleep_report", 0.0);
    ASSERT_TRUE(wait_until([&] { return pool.status()["queue"]["depth"] == 4; }, 10s));

    const auto stopped_at = std::chrono::steady_clock::now();
    if (GetParam() == StopBy::signal) {
        pool.signal(SIGTERM);
    } else {
        // --no-wait: what happens while the pool stops is what is looked at.
        const CommandResult r = pool.cli({"stop", "--no-wait"});
        EXPECT_EQ(r.exit_code, 0) << describe(r);
        EXPECT_TRUE(contains(r.out, "stopping pool '" + pool.name() + "'")) << describe(r);
    }
    // The sockets go at once: nobody new gets in.
    ASSERT_TRUE(wait_until([&] { return !std::filesystem::exists(pool.control_socket()); }, 10s));
    EXPECT_THROW(pool.connect(), ConnectError);
    const JobError refused =
        expect_job_error([&] { client.call<examples::SleepReport>("sleep_report", 0.0); });
    EXPECT_EQ(refused.kind(), ErrorKind::shutting_down) << refused.what();

    EXPECT_GE(finishing.get().slept, 0.3);
    EXPECT_GE(queued_a.get().slept, 0.1);
    EXPECT_GE(queued_b.get().slept, 0.1);
    for (auto* f : {&hang, &queued_hang}) {
        const JobError e = expect_job_error([&] { f->get(); });
        EXPECT_EQ(e.kind(), ErrorKind::shutting_down) << e.what();
        EXPECT_TRUE(contains(e.message(), "before the job could finish")) << e.message();
    }
    EXPECT_GE(std::chrono::steady_clock::now() - stopped_at, kGrace - 100ms)
        << "running jobs were stopped before the grace period ended";
    const JobError e = expect_job_error([&] { never.get(); });
    EXPECT_EQ(e.kind(), ErrorKind::shutting_down) << e.what();
    EXPECT_TRUE(contains(e.message(), "before the job could run")) << e.message();

    EXPECT_EQ(pool.wait_exit(20s), 0) << pool.log();
    // The pool's processes are gone, and with them everything they held: what is left is only
    // what our client (alive until the end of the test) still maps, its session's segment and the
    // lane board, and it goes with the client.
    const auto leftovers = pool.leftover_shm();
    EXPECT_EQ(leftovers.size(), 2u) << "left behind: " << ::testing::PrintToString(leftovers);
    for (const char* what : {".session.", ".lanes#"}) {
        EXPECT_EQ(std::count_if(leftovers.begin(), leftovers.end(),
                                [&](const std::string& o) { return contains(o, "warmpool." + pool.name() + what); }),
                  1)
            << what << ": " << ::testing::PrintToString(leftovers);
    }
    EXPECT_EQ(mapped_here(leftovers), leftovers) << "held by a process of the stopped pool";
    EXPECT_FALSE(std::filesystem::exists(pool.control_socket()));
    EXPECT_FALSE(std::filesystem::exists(pool.status_socket()));
    for (pid_t pid : workers) {
        EXPECT_TRUE(wait_until([&] { return process_gone(pid); }, 5s)) << "worker " << pid;
    }
}

INSTANTIATE_TEST_SUITE_P(SupervisionTest, GracefulStopTest,
                         ::testing::Values(StopBy::signal, StopBy::command),
                         [](const ::testing::TestParamInfo<StopBy>& info) {
                             return info.param == StopBy::signal ? "Sigterm" : "StopCommand";
                         });

// ---- 9. a killed client --------------------------------------------------------------------

TEST(SupervisionTest, KilledClientsSessionIsReclaimedAndOthersAreServed) {
    TestPool pool(pool_options(2));
    struct Flags {
        std::atomic<int> submitted{0};
    };
    Shared<Flags> flags;
    Flags* shared = flags.get();
    Child victim = Child::start([&pool, shared] {
        Client c = pool.connect();
        std::vector<Future<examples::SleepReport>> futures;
        for (int i = 0; i < 2; ++i) {
            futures.push_back(c.submit<examples::SleepReport>("sleep_report", 0.6));
        }
        for (int i = 0; i < 20; ++i) {
            futures.push_back(c.submit<examples::SleepReport>("sleep_report", 0.01));
        }
        shared->submitted = 1;
        for (;;) ::pause();
        return 0;
    });
    ASSERT_TRUE(wait_until([&] { return shared->submitted == 1; }, 10s));
    ASSERT_TRUE(wait_until(
        [&] {
            const json s = pool.status();
            for (const auto& row : s["sessions"]["rows"]) {
                if (row["pid"] == victim.pid() && row["in_flight"] == 2 && row["queued"] == 20) {
                    return true;
                }
            }
            return false;
        },
        10s))
        << pool.status().dump();

    Client client = pool.connect();
    std::vector<Future<std::int64_t>> mine;
    for (std::int64_t i = 1; i <= 100; ++i) {
        mine.push_back(client.submit<std::int64_t>("gcd", Pair{6 * i, 4 * i}));
    }
    victim.kill_and_reap();
    for (std::int64_t i = 101; i <= 200; ++i) {
        mine.push_back(client.submit<std::int64_t>("gcd", Pair{6 * i, 4 * i}));
    }
    for (std::int64_t i = 1; i <= 200; ++i) {
        EXPECT_EQ(mine[static_cast<std::size_t>(i - 1)].get(), 2 * i) << "job " << i;
    }

    json s;
    ASSERT_TRUE(wait_until(
        [&] {
            s = pool.status();
            return s["sessions"]["active"] == 1 && s["queue"]["depth"] == 0 &&
                   s["jobs"]["in_flight"] == 0;
        },
        10s))
        << s.dump();
    EXPECT_EQ(s["sessions"]["rows"][0]["pid"], ::getpid());
    EXPECT_GE(s["jobs"]["dropped"].get<std::uint64_t>(), 1u) << "the victim's queued jobs";
    EXPECT_EQ(s["jobs"]["failed"], 0);
    expect_every_job_accounted(s);
    // Only the pool's segment and lane board (the supervisor's and its workers') and this
    // client's session segment (the supervisor's and ours) remain: a worker lets go of the
    // victim's segment once it is idle again, the supervisor once it saw the victim go.
    EXPECT_TRUE(wait_until([&] { return pool.leftover_shm().size() == 3u; }, 10s))
        << ::testing::PrintToString(pool.leftover_shm());
    EXPECT_TRUE(contains(pool.log(), "client disconnected")) << pool.log();
}

// ---- 10. a killed supervisor ---------------------------------------------------------------

TEST(SupervisionTest, KilledSupervisorFailsPendingFuturesWithinASecond) {
    auto first = std::make_unique<TestPool>(pool_options(2));
    const std::string name = first->name(), dir = first->runtime_dir();
    const auto workers = first->ready_worker_pids();
    ASSERT_EQ(workers.size(), 2u);
    std::vector<std::string> leftovers;
    {
        Client client = first->connect();
        auto cli = std::async(std::launch::async, [&] {
            return first->cli({"call", "hang", "1"});
        });
        std::vector<RawFuture> pending;
        pending.push_back(client.submit<std::int64_t>("hang", std::int64_t{0}).raw());
        ASSERT_TRUE(wait_until([&] { return first->status()["workers"]["busy"] == 2; }, 10s));
        for (int i = 0; i < 3; ++i) {
            pending.push_back(client.submit<examples::SleepReport>("sleep_report", 0.0).raw());
        }
        ASSERT_TRUE(wait_until([&] { return first->status()["queue"]["depth"] == 3; }, 10s));

        const auto killed_at = std::chrono::steady_clock::now();
        first->signal(SIGKILL);
        for (const auto& f : pending) ASSERT_TRUE(f.wait_for(10s)) << "a future still waits";
        const auto futures_took = std::chrono::steady_clock::now() - killed_at;
        ASSERT_EQ(cli.wait_for(10s), std::future_status::ready) << "the CLI still waits";
        const auto cli_took = std::chrono::steady_clock::now() - killed_at;
        for (const auto& f : pending) {
            const JobError e = expect_job_error([&] { f.get(); });
            EXPECT_EQ(e.kind(), ErrorKind::shutting_down) << e.what();
            EXPECT_TRUE(contains(e.message(), "lost")) << e.message();
        }
        const CommandResult r = cli.get();
        EXPECT_NE(r.exit_code, 0) << describe(r);
        EXPECT_LT(r.exit_code, 128) << "the CLI was killed instead of exiting: " << describe(r);
        EXPECT_EQ(r.err.rfind("error: shutting_down: ", 0), 0u) << describe(r);
        const auto ms = [](auto d) {
            return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
        };
        EXPECT_LE(futures_took, 1s) << ms(futures_took) << " ms";
        EXPECT_LE(cli_took, 1s) << ms(cli_took) << " ms";
        std::printf(
            "after kill -9 of the supervisor: futures failed in %lld ms, the CLI exited in %lld "
            "ms\n",
            static_cast<long long>(ms(futures_took)), static_cast<long long>(ms(cli_took)));
        EXPECT_EQ(first->wait_exit(5s), 128 + SIGKILL);
        for (pid_t pid : workers) {
            EXPECT_TRUE(wait_until([&] { return process_gone(pid); }, 3s))
                << "worker " << pid << " outlived its supervisor";
        }
        // With the supervisor and its workers gone, only what our client still maps is left: its
        // session's segment and the lane board (it made no blobs).
        leftovers = first->leftover_shm();
        EXPECT_EQ(leftovers.size(), 2u) << ::testing::PrintToString(leftovers);
        EXPECT_EQ(std::count_if(leftovers.begin(), leftovers.end(),
                                [&](const std::string& o) { return contains(o, "warmpool." + name + ".session."); }),
                  1)
            << ::testing::PrintToString(leftovers);
        EXPECT_EQ(std::count_if(leftovers.begin(), leftovers.end(),
                                [&](const std::string& o) { return contains(o, "warmpool." + name + ".lanes#"); }),
                  1)
            << ::testing::PrintToString(leftovers);
        EXPECT_EQ(mapped_here(leftovers), leftovers) << "held by a process of the dead pool";
    }
    // Our client gone too, nothing of the dead pool's shared memory is left (memfds die with
    // their last holder); only its sockets stay, for the successor to remove.
    EXPECT_TRUE(wait_until([&] { return first->leftover_shm().empty(); }, 10s))
        << ::testing::PrintToString(first->leftover_shm());
    EXPECT_TRUE(std::filesystem::exists(first->control_socket()));

    TestPool::Options options = pool_options(2);
    options.name = name;
    options.runtime_dir = dir;
    TestPool second(options);
    EXPECT_TRUE(contains(second.log(), "removed leftovers")) << second.log();
    Client client = second.connect();
    expect_serving(client);
    // The successor's objects are its own (labels repeat, objects do not).
    for (const auto& object : second.leftover_shm()) {
        EXPECT_EQ(std::find(leftovers.begin(), leftovers.end(), object), leftovers.end()) << object;
    }
}

// ---- 11. initialisation failures and back-off ----------------------------------------------

TEST(SupervisionTest, InitFailingAtStartExitsWithoutAForkLoop) {
    Scratch scratch;
    const std::string flag = scratch.write("fail-init", "");
    TestPool::Options options =
        pool_options(2, {},
                     {{"WARMPOOL_EXAMPLE_INIT_FAIL_IF_EXISTS", flag},
                      {"WARMPOOL_EXAMPLE_INIT_LOG", scratch.path("inits")}});
    options.wait_ready = false;
    TestPool pool(options);
    EXPECT_EQ(pool.wait_exit(20s), 2) << pool.log();
    const std::string log = pool.log();
    EXPECT_TRUE(contains(log, "could not initialise")) << log;
    EXPECT_TRUE(contains(log, "giving up instead of forking again")) << log;
    EXPECT_TRUE(contains(log, flag + " exists")) << "the worker's own error: " << log;
    EXPECT_LE(scratch.lines("inits").size(), 2u) << "more initialisations than workers";
    EXPECT_TRUE(pool.leftover_shm().empty()) << ::testing::PrintToString(pool.leftover_shm());
    EXPECT_FALSE(std::filesystem::exists(pool.control_socket()));
}

TEST(SupervisionTest, BrokenJobLibraryExitsAtOnceWithAClearMessage) {
    TestPool::Options options = pool_options(2);
    options.jobs_library = "/nonexistent/libno_such_jobs.so";
    options.wait_ready = false;
    TestPool pool(options);
    EXPECT_EQ(pool.wait_exit(20s), 64) << pool.log();  // a configuration error: not restarted
    const std::string log = pool.log();
    EXPECT_TRUE(contains(log, "cannot start")) << log;
    EXPECT_TRUE(contains(log, "libno_such_jobs.so")) << log;
    EXPECT_FALSE(contains(log, "worker slot")) << "no worker may be forked: " << log;
}

TEST(SupervisionTest, ReplacementsThatFailInitBackOffAndThePoolRecovers) {
    Scratch scratch;
    const std::string flag = scratch.path("fail-init");
    TestPool pool(pool_options(2, {},
                               {{"WARMPOOL_EXAMPLE_INIT_FAIL_IF_EXISTS", flag},
                                {"WARMPOOL_EXAMPLE_INIT_LOG", scratch.path("inits")}}));
    Client client = pool.connect();
    ASSERT_EQ(scratch.lines("inits").size(), 2u);

    scratch.write("fail-init", "");
    EXPECT_EQ(expect_job_error([&] { client.call<std::int64_t>("crash", std::int64_t{1}); }).kind(),
              ErrorKind::worker_crashed);
    bool saw_backoff = false;
    json s;
    ASSERT_TRUE(wait_until(
        [&] {
            s = pool.status();
            saw_backoff |= s["supervision"]["respawn_in_seconds"].get<double>() > 0;
            return supervision(s, "consecutive_failed_inits") >= 3;
        },
        20s))
        << s.dump();
    EXPECT_TRUE(saw_backoff) << "the status never showed a pending back-off";
    // The surviving worker serves meanwhile.
    for (int i = 0; i < 5; ++i) expect_serving(client);

    // Delays grow: 0.1 s, 0.2 s, 0.4 s, ...
    std::vector<double> delays;
    const std::string log = pool.log();
    const std::string_view marker = " times in a row; next attempt in ";
    for (std::size_t at = log.find(marker); at != std::string::npos; at = log.find(marker, at + 1)) {
        delays.push_back(std::stod(log.substr(at + marker.size())));  // stops at " s"
    }
    ASSERT_GE(delays.size(), 3u) << log;
    EXPECT_DOUBLE_EQ(delays[0], 0.1);
    for (std::size_t i = 1; i < delays.size(); ++i) {
        EXPECT_DOUBLE_EQ(delays[i], delays[i - 1] * 2) << log;
    }
    EXPECT_TRUE(contains(log, "exited: initialisation failed")) << log;
    // One initialisation per attempt, no more: the start-ups, the failed attempts and maybe
    // one in progress.
    const std::uint64_t attempts = scratch.lines("inits").size() - 2;
    EXPECT_GE(attempts, supervision(s, "failed_inits"));
    EXPECT_LE(attempts, supervision(pool.status(), "failed_inits") + 1);

    std::filesystem::remove(flag);
    ASSERT_TRUE(wait_until(
        [&] {
            s = pool.status();
            return s["workers"]["ready"] == 2 && supervision(s, "consecutive_failed_inits") == 0;
        },
        20s))
        << s.dump();
    EXPECT_EQ(s["supervision"]["respawn_in_seconds"], 0.0);
    for (int i = 0; i < 5; ++i) expect_serving(client);
}

// ---- 12. backpressure ----------------------------------------------------------------------

TEST(SupervisionTest, FullQueueMakesTrySubmitFailAtOnceAndSubmitWait) {
    // One worker kept busy, four queued jobs at most, and a submit ring of a few dozen records.
    TestPool pool(
        pool_options(1, {"--queue-capacity", "4", "--submit-ring", "4KiB", "--inline-max", "512"}));
    Client client = pool.connect();
    auto blocker = client.submit<std::int64_t>("hang", std::int64_t{0});
    ASSERT_GT(wait_for_worker_running(pool, "hang"), 0);

    // Fill the queue and the ring until try_submit refuses; once the supervisor has taken
    // what its queue holds, the ring has room again, so fill until it refuses once more.
    std::vector<Future<std::int64_t>> accepted;
    std::chrono::steady_clock::duration refusal{};
    auto fill = [&] {
        for (int n = 0; n < 1000; ++n) {
            const auto i = static_cast<std::int64_t>(accepted.size()) + 1;
            const auto started = std::chrono::steady_clock::now();
            try {
                accepted.push_back(client.try_submit<std::int64_t>("gcd", Pair{6 * i, 4 * i}));
            } catch (const JobError& e) {
                refusal = std::chrono::steady_clock::now() - started;
                EXPECT_EQ(e.kind(), ErrorKind::overloaded) << e.what();
                return true;
            }
        }
        return false;
    };
    ASSERT_TRUE(fill()) << "1000 jobs fitted in a queue of 4 and a 4 KiB ring";
    ASSERT_TRUE(wait_until([&] { return pool.status()["queue"]["depth"] == 4; }, 10s));
    ASSERT_TRUE(fill());
    EXPECT_GE(accepted.size(), 4u);
    EXPECT_LT(refusal, 1s) << "try_submit waited instead of failing";
    // Full stays full: nothing is taken in while the worker is busy.
    for (int i = 0; i < 3; ++i) {
        EXPECT_EQ(expect_job_error([&] {
                      client.try_submit<std::int64_t>("gcd", Pair{1, 1});
                  }).kind(),
                  ErrorKind::overloaded);
    }
    EXPECT_EQ(pool.status()["queue"]["depth"], 4);

    CallOptions bounded;
    bounded.max_wait = 200ms;
    const auto started = std::chrono::steady_clock::now();
    EXPECT_EQ(expect_job_error([&] {
                  client.submit<std::int64_t>("gcd", Pair{1, 1}, bounded);
              }).kind(),
              ErrorKind::overloaded);
    EXPECT_GE(std::chrono::steady_clock::now() - started, 200ms) << "it did not wait for room";

    // A submit without a limit waits for room, and gets in once there is some.
    auto waiting = std::async(std::launch::async, [&] {
        return client.submit<std::int64_t>("gcd", Pair{35, 49});
    });
    EXPECT_EQ(waiting.wait_for(300ms), std::future_status::timeout)
        << "submit returned although the queue was full";
    blocker.cancel(/*force=*/true);
    ASSERT_EQ(waiting.wait_for(20s), std::future_status::ready);
    EXPECT_EQ(waiting.get().get(), 7);
    for (std::size_t i = 0; i < accepted.size(); ++i) {
        const auto n = static_cast<std::int64_t>(i) + 1;
        EXPECT_EQ(accepted[i].get(), 2 * n);
    }
    const json s = settled(pool);
    EXPECT_LE(s["queue"]["max"].get<std::uint64_t>(), 4u);
    EXPECT_EQ(s["jobs"]["completed"].get<std::uint64_t>(), accepted.size() + 1);
    expect_every_job_accounted(s);
}

TEST(SupervisionTest, ProducerOutrunningTheWorkersDoesNotGrowTheDaemon) {
    constexpr std::size_t kCapacity = 64;
    constexpr std::size_t kPayload = 32 << 10;
    // Payloads travel inline, so they are held in the daemon's queue.
    TestPool pool(pool_options(2, {"--queue-capacity", std::to_string(kCapacity)}));
    Client client = pool.connect();
    auto payload = [](std::size_t i) {
        std::string bytes(kPayload, '\0');
        std::uint64_t x = i * 0x9e3779b97f4a7c15ULL + 1;
        for (auto& c : bytes) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            c = static_cast<char>(x);
        }
        return bytes;
    };
    // Warm up: every page of the submit ring has been used once.
    {
        std::vector<RawFuture> warm;
        for (std::size_t i = 0; i < 80; ++i) {
            warm.push_back(client.submit_encoded("echo", Encoding::binary, 0, payload(i)));
        }
        for (std::size_t i = 0; i < warm.size(); ++i) EXPECT_EQ(warm[i].get(), payload(i));
    }
    const std::int64_t rss_before = rss_kib(pool.pid());

    // Both workers stop taking jobs; the producer goes on until the pool pushes back.
    auto hang_a = client.submit<std::int64_t>("hang", std::int64_t{0});
    auto hang_b = client.submit<std::int64_t>("hang", std::int64_t{1});
    ASSERT_TRUE(wait_until([&] { return pool.status()["workers"]["busy"] == 2; }, 10s));
    CallOptions call;
    call.max_wait = 100ms;
    std::vector<RawFuture> accepted;
    bool pushed_back = false;
    for (std::size_t i = 0; i < 2000 && !pushed_back; ++i) {
        try {
            accepted.push_back(
                client.submit_encoded("echo", Encoding::binary, 0, payload(i), call));
        } catch (const JobError& e) {
            EXPECT_EQ(e.kind(), ErrorKind::overloaded) << e.what();
            pushed_back = true;
        }
    }
    ASSERT_TRUE(pushed_back) << accepted.size() << " jobs of 32 KiB were taken in";
    ASSERT_TRUE(wait_until([&] { return pool.status()["queue"]["depth"] == kCapacity; }, 10s));
    const std::int64_t rss_full = rss_kib(pool.pid());
    const json s = pool.status();
    EXPECT_EQ(s["queue"]["max"].get<std::uint64_t>(), kCapacity);

    hang_a.cancel(true);
    hang_b.cancel(true);
    for (std::size_t i = 0; i < accepted.size(); ++i) {
        EXPECT_TRUE(accepted[i].get() == payload(i)) << "job " << i;
    }
    const std::int64_t rss_after = rss_kib(pool.pid());
    std::printf("%zu jobs of 32 KiB accepted; daemon RSS %lld KiB before, %lld full, %lld after\n",
                accepted.size(), static_cast<long long>(rss_before),
                static_cast<long long>(rss_full), static_cast<long long>(rss_after));
    // The queue holds 2 MiB of payloads; anything near the producer's total would show here.
    EXPECT_LT(rss_full - rss_before, 16 * 1024);
    EXPECT_LT(rss_after - rss_before, 16 * 1024);
    EXPECT_LE(settled(pool)["queue"]["max"].get<std::uint64_t>(), kCapacity);
}

// ---- 13. the command line ------------------------------------------------------------------

TEST(SupervisionTest, CliCallTimeoutAndDeadline) {
    TestPool pool(pool_options(2));
    const CommandResult timed_out = pool.cli({"call", "hang", "0", "--timeout", "0.3"});
    EXPECT_EQ(timed_out.exit_code, 1) << describe(timed_out);
    EXPECT_EQ(timed_out.out, "");
    EXPECT_EQ(timed_out.err.rfind("error: timeout: ", 0), 0u) << describe(timed_out);
    // The timed-out worker is killed up to kill_grace later and then replaced; until then one
    // worker would run both jobs below one after the other.
    settled(pool);

    Client client = pool.connect();
    auto a = client.submit<examples::SleepReport>("sleep_report", 1.0);
    auto b = client.submit<examples::SleepReport>("sleep_report", 1.0);
    ASSERT_TRUE(wait_until([&] { return pool.status()["workers"]["busy"] == 2; }, 10s));
    const CommandResult late = pool.cli({"call", "sleep_report", "0", "--deadline", "0.1"});
    EXPECT_EQ(late.exit_code, 1) << describe(late);
    EXPECT_EQ(late.err.rfind("error: deadline_exceeded: ", 0), 0u) << describe(late);
    a.get();
    b.get();

    const json s = settled(pool);
    EXPECT_EQ(failed(s, "timeout"), 1u);
    EXPECT_EQ(failed(s, "deadline_exceeded"), 1u);
    EXPECT_EQ(supervision(s, "timeouts"), 1u);
    const CommandResult ok =
        pool.cli({"call", "gcd", "[12, 18]", "--timeout", "5", "--deadline", "5"});
    EXPECT_EQ(ok.exit_code, 0) << describe(ok);
    EXPECT_EQ(ok.out, "6\n");
}

TEST(SupervisionTest, CliReloadAndStop) {
    TestPool pool(pool_options(2));
    const auto old = as_set(pool.ready_worker_pids());
    const CommandResult reload = pool.cli({"reload"});
    EXPECT_EQ(reload.exit_code, 0) << describe(reload);
    EXPECT_EQ(reload.out, "reloading pool '" + pool.name() + "'\n");
    ASSERT_TRUE(wait_reload_done(pool, 1, old)) << pool.status().dump();

    const CommandResult stop = pool.cli({"stop"});
    EXPECT_EQ(stop.exit_code, 0) << describe(stop);
    EXPECT_EQ(stop.out, "stopping pool '" + pool.name() + "'\n");
    EXPECT_EQ(pool.wait_exit(20s), 0) << pool.log();
    for (const auto& command : {"reload", "stop"}) {
        const CommandResult gone = pool.cli({command});
        EXPECT_EQ(gone.exit_code, 2) << command << ": " << describe(gone);
        EXPECT_TRUE(contains(gone.err, "is warmpoold running?")) << describe(gone);
    }
}

TEST(SupervisionTest, CliReloadIsRefusedWhileThePoolStarts) {
    TestPool::Options options = pool_options(2, {}, {{"WARMPOOL_EXAMPLE_INIT_SECONDS", "1.5"}});
    options.wait_ready = false;
    TestPool pool(options);
    ASSERT_TRUE(wait_until([&] { return std::filesystem::exists(pool.control_socket()); }, 10s));
    const CommandResult r = pool.cli({"reload"});
    EXPECT_EQ(r.exit_code, 1) << describe(r);
    EXPECT_TRUE(contains(r.err, "reload refused")) << describe(r);
    EXPECT_TRUE(contains(r.err, "starting")) << describe(r);
    ASSERT_TRUE(pool.wait_ready());
    EXPECT_EQ(supervision(pool.status(), "reloads"), 0u);
}


// ---- CPU placement ---------------------------------------------------------------------------

// Kills worker `victim` with SIGKILL and returns the ready workers once its replacement is among
// them (empty if that takes over 10 s).
std::vector<pid_t> kill_and_await_replacement(const TestPool& pool, pid_t victim) {
    const std::size_t workers = pool.ready_worker_pids().size();
    EXPECT_EQ(::kill(victim, SIGKILL), 0);
    std::vector<pid_t> now;
    const bool replaced = wait_until(
        [&] {
            now = pool.ready_worker_pids();
            return now.size() == workers && std::find(now.begin(), now.end(), victim) == now.end();
        },
        10s);
    return replaced ? now : std::vector<pid_t>{};
}

// The CPUs `pid` may run on, from /proc/PID/status ("0-1", "3", "0,2-3").
std::set<int> cpus_allowed(pid_t pid) {
    std::ifstream status("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    std::set<int> cpus;
    while (std::getline(status, line)) {
        if (line.rfind("Cpus_allowed_list:", 0) != 0) continue;
        std::istringstream list(line.substr(line.find(':') + 1));
        std::string range;
        while (std::getline(list, range, ',')) {
            const auto dash = range.find('-');
            const int first = std::stoi(range.substr(0, dash));
            const int last = dash == std::string::npos ? first : std::stoi(range.substr(dash + 1));
            for (int cpu = first; cpu <= last; ++cpu) cpus.insert(cpu);
        }
    }
    return cpus;
}

// cpu_affinity = "spread" pins each worker to a CPU of its own, and a replacement to the CPU its
// predecessor left; the default leaves workers where the daemon may run.
TEST(SupervisionTest, SpreadAffinityPinsEachWorkerToACpuOfItsOwn) {
    const std::set<int> own = cpus_allowed(::getpid());
    if (own.size() < 2) GTEST_SKIP() << "needs at least 2 CPUs to run on";
    {
        TestPool plain(pool_options(2));
        for (pid_t worker : plain.ready_worker_pids()) EXPECT_EQ(cpus_allowed(worker), own);
    }
    TestPool pool(pool_options(2, {"--cpu-affinity", "spread"}));
    auto pinned = [&](const std::vector<pid_t>& workers) {
        std::set<int> used;
        for (pid_t worker : workers) {
            const std::set<int> cpus = cpus_allowed(worker);
            EXPECT_EQ(cpus.size(), 1u) << "worker " << worker;
            if (cpus.size() == 1) used.insert(*cpus.begin());
        }
        return used;
    };
    const auto workers = pool.ready_worker_pids();
    ASSERT_EQ(workers.size(), 2u);
    const std::set<int> first = pinned(workers);
    EXPECT_EQ(first.size(), 2u);
    for (int cpu : first) EXPECT_EQ(own.count(cpu), 1u) << cpu;

    const std::vector<pid_t> now = kill_and_await_replacement(pool, workers[0]);
    ASSERT_EQ(now.size(), 2u) << pool.status().dump();
    EXPECT_EQ(pinned(now), first);
    auto client = pool.connect();
    EXPECT_EQ(client.call<std::int64_t>("gcd", Pair{12, 18}), 6);
}

}  // namespace
}  // namespace warmpool
