// The C++ client against real warmpoold processes: answers, parallelism, init-once, payloads,
// typed errors, crashes, several client processes, cancellation, deadlines and daemon death.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <numeric>
#include <random>
#include <set>
#include <thread>

#include "jobs/classic_workloads.hpp"
#include "jobs/example_types.hpp"
#include "expect_job_error.hpp"
#include "test_pool.hpp"
#include "warmpool/client.hpp"

namespace warmpool {
namespace {

using testing::expect_job_error;
using testing::TestPool;
using Pair = std::pair<std::int64_t, std::int64_t>;
using namespace std::chrono_literals;

const std::vector<Pair> kClassicPairs = {
    {1963309, 2265973}, {2030677, 3814172}, {1551645, 2229620}, {2039045, 2020802}, {1823712, 1924928},
    {2293129, 1020491}, {1281238, 2273782}, {3823812, 4237281}, {3812741, 4729139}, {1292391, 2123811}};
const std::vector<std::int64_t> kClassicGcds = {1, 1, 5, 1, 32, 1, 14, 9, 1, 9};


void expect_serving(Client& client) {
    EXPECT_EQ(client.call<std::int64_t>("gcd", Pair{12, 18}), 6);
}

TEST(ClientTest, ClassicWorkloadsGiveTheRightAnswers) {
    TestPool pool;
    Client client = pool.connect();
    std::vector<Future<std::int64_t>> gcds;
    for (const auto& pair : kClassicPairs) gcds.push_back(client.submit<std::int64_t>("gcd", pair));
    for (std::size_t i = 0; i < gcds.size(); ++i) EXPECT_EQ(gcds[i].get(), kClassicGcds[i]) << "pair " << i;

    EXPECT_EQ(client.call<std::string>("md5_chain", examples::Md5Args{"Hello World", 1000000}),
              "1e4110cf294414bc2ac346ad274a7af3");

    auto product = client.call<examples::TripleProduct>("triple_product", std::int64_t{20});
    auto expected = examples::triple_product(20);
    EXPECT_EQ(product.digits, expected.digits);
    EXPECT_EQ(product.fnv1a64_hex, expected.fnv1a64_hex);

    auto report = client.call<examples::SleepReport>("sleep_report", 0.05);
    EXPECT_GE(report.slept, 0.05);
    auto workers = pool.ready_worker_pids();
    EXPECT_NE(std::find(workers.begin(), workers.end(), static_cast<pid_t>(report.pid)), workers.end());
}

TEST(ClientTest, JobsRunInParallelOnDistinctWorkers) {
    TestPool pool;
    Client client = pool.connect();
    std::vector<Future<examples::SleepReport>> reports;
    for (int i = 0; i < 4; ++i) reports.push_back(client.submit<examples::SleepReport>("sleep_report", 0.3));
    std::set<std::int64_t> pids;
    for (auto& f : reports) pids.insert(f.get().pid);
    EXPECT_EQ(pids.size(), 2u) << "four sleeping jobs on two workers must use both";
}

TEST(ClientTest, InitialisationRunsOncePerWorker) {
    const std::string log = "/tmp/warmpool-init-" + std::to_string(getpid()) + ".log";
    std::remove(log.c_str());
    {
        TestPool::Options options;
        options.env = {{"WARMPOOL_EXAMPLE_INIT_LOG", log}, {"WARMPOOL_EXAMPLE_INIT_SECONDS", "0.2"}};
        TestPool pool(options);
        Client client = pool.connect();
        std::vector<Future<examples::WorkerInfo>> infos;
        for (int i = 0; i < 300; ++i) infos.push_back(client.submit<examples::WorkerInfo>("worker_info", std::int64_t{i}));
        std::set<std::int64_t> pids;
        for (auto& f : infos) {
            auto info = f.get();
            EXPECT_EQ(info.inits, 1) << "worker " << info.pid << " initialised more than once";
            pids.insert(info.pid);
        }
        // A map of many more jobs must not initialise anything again either.
        std::vector<std::int64_t> many(5000);
        auto more = client.map<examples::WorkerInfo>("worker_info", many);
        for (const auto& info : more) EXPECT_EQ(info.inits, 1);

        std::ifstream in(log);
        std::vector<std::string> lines;
        for (std::string line; std::getline(in, line);) lines.push_back(line);
        EXPECT_EQ(lines.size(), 2u) << "two workers, so exactly two initialisations";
        for (auto pid : pids) {
            EXPECT_NE(std::find(lines.begin(), lines.end(), std::to_string(pid)), lines.end());
        }
    }
    std::remove(log.c_str());
}

TEST(ClientTest, LargePayloadsComeBackByteIdentical) {
    TestPool pool;
    Client client = pool.connect();
    std::mt19937_64 rng(42);
    for (std::size_t size : {std::size_t{1} << 20, std::size_t{64} << 20}) {
        std::string blob(size, '\0');
        for (auto& c : blob) c = static_cast<char>(rng());
        std::string back = client.call<std::string>("echo", blob);
        EXPECT_EQ(back.size(), blob.size());
        EXPECT_TRUE(back == blob) << size << " bytes did not round-trip";
    }
    // Blobs are kept for reuse while the session lives, a bounded few: the pool segment and lane
    // board, this session's segment, our argument blobs and each worker's result blobs.
    EXPECT_LE(pool.leftover_shm().size(), 3u + 4u + 2u * 4u);
    // Once the session ends, nothing of it remains: what is left is the pool segment and the lane
    // board (held by the supervisor and its workers) and the new session's segment (held by the
    // supervisor and mapped by us).
    client = Client(pool.connect());
    EXPECT_TRUE(testing::wait_until([&] { return pool.leftover_shm().size() == 3u; }, std::chrono::seconds(10)))
        << ::testing::PrintToString(pool.leftover_shm());
}

TEST(ClientTest, ErrorsAreTypedAndThePoolKeepsServing) {
    TestPool pool;
    Client client = pool.connect();

    auto failed = expect_job_error([&] { client.call<std::string>("fail", std::string("boom")); });
    EXPECT_EQ(failed.kind(), ErrorKind::handler_error);
    EXPECT_EQ(failed.message(), "boom");
    expect_serving(client);

    // A message longer than a ring carries inline travels in a blob, and arrives whole.
    const std::string long_message(2 * client.inline_max() + 17, 'm');
    auto long_failure = expect_job_error([&] { client.call<std::string>("fail", long_message); });
    EXPECT_EQ(long_failure.kind(), ErrorKind::handler_error);
    EXPECT_TRUE(long_failure.message() == long_message) << long_failure.message().size() << " bytes";
    expect_serving(client);

    auto unknown = expect_job_error([&] { client.call<std::int64_t>("no_such_function", std::int64_t{1}); });
    EXPECT_EQ(unknown.kind(), ErrorKind::unknown_function);
    expect_serving(client);

    auto malformed = expect_job_error([&] { client.submit_json("gcd", "[1,").get(); });
    EXPECT_EQ(malformed.kind(), ErrorKind::bad_request);
    auto wrong_shape = expect_job_error([&] { client.submit_json("gcd", "\"text\"").get(); });
    EXPECT_EQ(wrong_shape.kind(), ErrorKind::bad_request);
    expect_serving(client);

    auto mismatch = expect_job_error([&] { client.call<std::int64_t>("gcd", std::string("12,18")); });
    EXPECT_EQ(mismatch.kind(), ErrorKind::type_mismatch);
    auto wrong_result = expect_job_error([&] { client.call<std::string>("gcd", Pair{12, 18}); });
    EXPECT_EQ(wrong_result.kind(), ErrorKind::type_mismatch);
    expect_serving(client);

    auto too_long = expect_job_error([&] { client.call<std::int64_t>(std::string(200, 'x'), std::int64_t{1}); });
    EXPECT_EQ(too_long.kind(), ErrorKind::bad_request);
    expect_serving(client);

    auto s = pool.status();
    EXPECT_EQ(s["jobs"]["failed_by_kind"]["handler_error"], 2);
    EXPECT_EQ(s["jobs"]["failed_by_kind"]["unknown_function"], 1);
    EXPECT_EQ(s["jobs"]["failed_by_kind"]["type_mismatch"], 2);
    EXPECT_EQ(s["workers"]["live"], 2);
}

TEST(ClientTest, CrashIsReportedWithItsSignalAndTheWorkerIsReplaced) {
    TestPool pool;
    Client client = pool.connect();
    auto before = pool.ready_worker_pids();
    ASSERT_EQ(before.size(), 2u);

    auto crashed = expect_job_error([&] { client.call<std::int64_t>("crash", std::int64_t{1}); });
    EXPECT_EQ(crashed.kind(), ErrorKind::worker_crashed);
    EXPECT_NE(crashed.message().find("SIGABRT"), std::string::npos) << crashed.message();

    ASSERT_TRUE(testing::wait_until([&] { return pool.ready_worker_pids().size() == 2; }, 10s));
    auto after = pool.ready_worker_pids();
    std::set<pid_t> old(before.begin(), before.end());
    EXPECT_EQ(std::count_if(after.begin(), after.end(), [&](pid_t p) { return !old.count(p); }), 1)
        << "exactly one worker was replaced";
    for (int i = 0; i < 20; ++i) expect_serving(client);
    EXPECT_EQ(pool.status()["jobs"]["failed_by_kind"]["worker_crashed"], 1);
}

TEST(ClientTest, JobsQueuedBehindACrashAreNotLost) {
    TestPool::Options options;
    options.workers = 1;
    TestPool pool(options);
    Client client = pool.connect();
    auto crash = client.submit<std::int64_t>("crash", std::int64_t{1});
    std::vector<Future<std::int64_t>> after;
    for (std::int64_t i = 0; i < 50; ++i) after.push_back(client.submit<std::int64_t>("echo", i));
    EXPECT_EQ(expect_job_error([&] { crash.get(); }).kind(), ErrorKind::worker_crashed);
    for (std::int64_t i = 0; i < 50; ++i) EXPECT_EQ(after[static_cast<std::size_t>(i)].get(), i);
}

TEST(ClientTest, SeveralClientProcessesEachGetTheirOwnResults) {
    TestPool pool;
    constexpr int kClients = 4;
    constexpr std::int64_t kJobs = 3000;
    std::vector<pid_t> children;
    for (int c = 0; c < kClients; ++c) {
        pid_t pid = fork();
        ASSERT_GE(pid, 0);
        if (pid == 0) {
            int bad = 0;
            try {
                Client client = pool.connect();
                std::vector<Future<std::int64_t>> futures;
                for (std::int64_t i = 0; i < kJobs; ++i) {
                    futures.push_back(client.submit<std::int64_t>("echo", c * 1'000'000 + i));
                }
                for (std::int64_t i = 0; i < kJobs; ++i) bad += futures[static_cast<std::size_t>(i)].get() != c * 1'000'000 + i;
                std::vector<std::int64_t> inputs(20000);
                for (std::size_t i = 0; i < inputs.size(); ++i) inputs[i] = c * 1'000'000 + static_cast<std::int64_t>(i);
                auto mapped = client.map<std::int64_t>("echo", inputs);
                bad += mapped != inputs;
            } catch (const std::exception& e) {
                std::fprintf(stderr, "client %d: %s\n", c, e.what());
                bad = 1;
            }
            _exit(bad == 0 ? 0 : 1);
        }
        children.push_back(pid);
    }
    for (pid_t child : children) {
        int status = 0;
        ASSERT_EQ(waitpid(child, &status, 0), child);
        EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "a client saw a wrong or missing result";
    }
}

TEST(ClientTest, ThreadsShareOneClient) {
    TestPool pool;
    Client client = pool.connect();
    std::atomic<int> bad{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&, t] {
            for (std::int64_t i = 0; i < 2000; ++i) {
                std::int64_t v = t * 100000 + i;
                if (client.call<std::int64_t>("echo", v) != v) ++bad;
            }
        });
    }
    for (auto& t : threads) t.join();
    EXPECT_EQ(bad.load(), 0);
}

TEST(ClientTest, MapKeepsInputOrderAndReportsItemErrors) {
    TestPool pool;
    Client client = pool.connect();
    EXPECT_EQ(client.map<std::int64_t>("gcd", kClassicPairs), kClassicGcds);

    std::vector<std::int64_t> inputs(100000);
    std::iota(inputs.begin(), inputs.end(), -50000);
    EXPECT_EQ(client.map<std::int64_t>("echo", inputs), inputs);

    auto items = client.map_json("gcd", {"[12, 18]", "[0, 5]", "[1,", "[35, 49]"});
    ASSERT_EQ(items.size(), 4u);
    EXPECT_TRUE(items[0].ok);
    EXPECT_EQ(items[0].value, "6");
    EXPECT_FALSE(items[1].ok);
    EXPECT_EQ(items[1].error, ErrorKind::handler_error);
    EXPECT_FALSE(items[2].ok);
    EXPECT_EQ(items[2].error, ErrorKind::bad_request);
    EXPECT_TRUE(items[3].ok);
    EXPECT_EQ(items[3].value, "7");

    auto first_error = expect_job_error([&] { client.map<std::string>("fail", std::vector<std::string>{"a", "b"}); });
    EXPECT_EQ(first_error.kind(), ErrorKind::handler_error);
    EXPECT_EQ(first_error.message(), "a");
    expect_serving(client);
}

// map's batch replies reuse buffers handed back by earlier batches: consecutive maps of
// different values and sizes, with a single call's inline result in between, must each get
// exactly their own results.
TEST(ClientTest, ConsecutiveMapsGetTheirOwnResults) {
    TestPool pool;
    Client client = pool.connect();
    for (int round = 0; round < 4; ++round) {
        std::vector<std::int64_t> inputs(50000 + 30000 * static_cast<std::size_t>(round));
        std::iota(inputs.begin(), inputs.end(), std::int64_t{round} * 1'000'000'000);
        EXPECT_EQ(client.map<std::int64_t>("echo", inputs), inputs) << round;
        const std::string text(20000 + round, static_cast<char>('a' + round));
        EXPECT_EQ(client.call<std::string>("echo", text), text) << round;
        std::vector<std::string> words(3000, std::string(round + 1, 'w'));
        EXPECT_EQ(client.map<std::string>("echo", words), words) << round;
    }
}

TEST(ClientTest, CancelRemovesAQueuedJob) {
    TestPool::Options options;
    options.workers = 1;
    TestPool pool(options);
    Client client = pool.connect();
    auto running = client.submit<examples::SleepReport>("sleep_report", 0.5);
    ASSERT_TRUE(testing::wait_until([&] { return pool.status()["workers"]["busy"] == 1; }, 5s));
    auto queued = client.submit<examples::SleepReport>("sleep_report", 5.0);
    queued.cancel();
    EXPECT_EQ(expect_job_error([&] { queued.get(); }).kind(), ErrorKind::cancelled);
    EXPECT_GT(running.get().slept, 0.4);
    EXPECT_EQ(pool.status()["jobs"]["failed_by_kind"]["cancelled"], 1);
}

TEST(ClientTest, AJobPastItsDeadlineDoesNotRun) {
    TestPool::Options options;
    options.workers = 1;
    TestPool pool(options);
    Client client = pool.connect();
    auto blocker = client.submit<examples::SleepReport>("sleep_report", 0.3);
    CallOptions call;
    call.deadline = std::chrono::steady_clock::now() + 50ms;
    auto late = client.submit<examples::SleepReport>("sleep_report", 0.0, call);
    EXPECT_EQ(expect_job_error([&] { late.get(); }).kind(), ErrorKind::deadline_exceeded);
    blocker.get();
}

TEST(ClientTest, DaemonDeathFailsPendingFuturesAndASuccessorStartsCleanly) {
    auto first = std::make_unique<TestPool>();
    const std::string name = first->name(), dir = first->runtime_dir();
    {
        Client client = first->connect();
        auto hanging = client.submit<std::int64_t>("hang", std::int64_t{1});
        auto queued = client.submit<std::int64_t>("hang", std::int64_t{2});
        ASSERT_TRUE(testing::wait_until([&] { return first->status()["workers"]["busy"] == 2; }, 5s));
        const auto killed_at = std::chrono::steady_clock::now();
        first->signal(SIGKILL);
        EXPECT_TRUE(hanging.wait_for(5s)) << "a pending future must not hang when the daemon dies";
        EXPECT_EQ(expect_job_error([&] { hanging.get(); }).kind(), ErrorKind::shutting_down);
        EXPECT_EQ(expect_job_error([&] { queued.get(); }).kind(), ErrorKind::shutting_down);
        EXPECT_LT(std::chrono::steady_clock::now() - killed_at, 2s);
        EXPECT_EQ(expect_job_error([&] { client.call<std::int64_t>("echo", std::int64_t{1}); }).kind(),
                  ErrorKind::shutting_down);
    }
    EXPECT_EQ(first->wait_exit(5s), 128 + SIGKILL);
    // Its memfds die with their last holder: once its workers (parent-death signal) and our
    // client are gone, nothing of its shared memory is left. Its sockets stay for the next one.
    EXPECT_TRUE(testing::wait_until([&] { return first->leftover_shm().empty(); }, 10s))
        << ::testing::PrintToString(first->leftover_shm());
    EXPECT_EQ(access(first->control_socket().c_str(), F_OK), 0) << "a killed daemon leaves its sockets behind";

    TestPool::Options options;
    options.name = name;
    options.runtime_dir = dir;
    TestPool second(options);
    Client client = second.connect();
    expect_serving(client);
    EXPECT_NE(second.log().find("removed leftovers"), std::string::npos);
}

TEST(ClientTest, SecondDaemonWithTheSameNameIsRefused) {
    TestPool first;
    TestPool::Options options;
    options.name = first.name();
    options.runtime_dir = first.runtime_dir();
    options.wait_ready = false;
    TestPool second(options);
    EXPECT_EQ(second.wait_exit(10s), 1);
    EXPECT_NE(second.log().find("already running"), std::string::npos);
    Client client = first.connect();
    expect_serving(client);
}

// Two pools may share a name in different runtime directories: neither touches the other's
// sockets, lock or memory, and each keeps its clients' direct path (lanes) to its workers.
TEST(ClientTest, PoolsOfOneNameInTwoRuntimeDirectoriesLeaveEachOtherAlone) {
    TestPool::Options options;
    options.name = "twin" + std::to_string(::getpid());
    TestPool first(options);
    Client first_client = first.connect();
    expect_serving(first_client);

    TestPool second(options);
    ASSERT_NE(second.runtime_dir(), first.runtime_dir());
    EXPECT_EQ(second.log().find("removed leftovers"), std::string::npos) << second.log();
    Client second_client = second.connect();
    for (TestPool* pool : {&first, &second}) {
        Client& client = pool == &first ? first_client : second_client;
        const std::uint64_t direct_before = pool->status()["jobs"]["direct"];
        for (int i = 0; i < 200; ++i) ASSERT_EQ(client.call<std::int64_t>("gcd", Pair{12, 18}), 6);
        const std::uint64_t direct = pool->status()["jobs"]["direct"];
        EXPECT_GT(direct - direct_before, 0u) << "no call of 200 went by lane in " << pool->runtime_dir();
    }
    EXPECT_EQ(access(first.control_socket().c_str(), F_OK), 0);
    EXPECT_EQ(access(second.control_socket().c_str(), F_OK), 0);
}

TEST(ClientTest, StopRemovesSocketsAndSharedMemory) {
    TestPool pool;
    {
        Client client = pool.connect();
        expect_serving(client);
    }
    pool.signal(SIGTERM);
    EXPECT_EQ(pool.wait_exit(20s), 0);
    EXPECT_TRUE(pool.leftover_shm().empty());
    EXPECT_NE(access(pool.control_socket().c_str(), F_OK), 0);
    EXPECT_NE(access(pool.status_socket().c_str(), F_OK), 0);
}

}  // namespace
}  // namespace warmpool
