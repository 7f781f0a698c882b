// The zygote (`--preload`) against real warmpoold processes: the job library's preload hook runs
// once, in the zygote, and every worker is forked from it (and is the supervisor's child); a
// killed worker is replaced without a second preload; a killed zygote leaves the pool serving,
// workers meanwhile are forked the plain way (and run the preload themselves), and it comes back;
// a reload builds a new zygote; Python modules are imported once; the supervisor never runs the
// hook nor maps the library. The job library is tests/support/preload_jobs.cpp, which notes in
// a file each process its hook (and each job object) ran in.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "scratch_dir.hpp"
#include "test_pool.hpp"
#include "warmpool/client.hpp"

namespace warmpool {
namespace {

using nlohmann::json;
using testing::contains;
using testing::TestPool;
using testing::wait_until;
using namespace std::chrono_literals;

const std::string kPreloadJobs = WARMPOOL_PRELOAD_JOBS_PATH;
const std::string kPythonJobsDir = WARMPOOL_TEST_PYTHON_JOBS;

struct Scratch : testing::ScratchDir {
    Scratch() : ScratchDir("warmpool-zygote") {}
};

// The pids noted with `what` ("preload", "worker", "import", "instance") in the log file.
std::vector<pid_t> noted(const std::string& log, const std::string& what) {
    std::vector<pid_t> pids;
    std::ifstream in(log);
    std::string word;
    pid_t pid = 0;
    while (in >> word >> pid) {
        if (word == what) pids.push_back(pid);
    }
    return pids;
}

bool has(const std::vector<pid_t>& pids, pid_t pid) { return std::find(pids.begin(), pids.end(), pid) != pids.end(); }

pid_t parent_of(pid_t pid) {
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
    const auto close = text.rfind(')');
    if (close == std::string::npos) return -1;
    std::istringstream rest(text.substr(close + 2));
    char state = 0;
    pid_t ppid = -1;
    rest >> state >> ppid;
    return ppid;
}

TestPool::Options preload_pool(const Scratch& scratch, unsigned workers, std::vector<std::string> extra = {}) {
    TestPool::Options options;
    options.workers = workers;
    options.jobs_library = kPreloadJobs;
    options.extra_args = {"--preload", "--grace-period", "1"};
    options.extra_args.insert(options.extra_args.end(), extra.begin(), extra.end());
    options.env["WARMPOOL_TEST_PRELOAD_LOG"] = scratch.path("noted");
    return options;
}

// [pid, table address, checksum] from the worker that ran it.
std::vector<std::uint64_t> probe(Client& client) {
    return json::parse(client.submit_json("probe", "0").get()).get<std::vector<std::uint64_t>>();
}

constexpr std::uint64_t kChecksum = (std::uint64_t{1} << 16) * ((std::uint64_t{1} << 16) + 1) / 2;

json zygote_of(const TestPool& pool) { return pool.status()["zygote"]; }

bool replaced(const TestPool& pool, pid_t gone, std::size_t workers) {
    return wait_until(
        [&] {
            const auto pids = pool.ready_worker_pids();
            return pids.size() == workers && !has(pids, gone);
        },
        20s);
}

TEST(ZygoteTest, ThePreloadRunsOnceInTheZygoteAndItsWorkersServe) {
    Scratch scratch;
    TestPool pool(preload_pool(scratch, 3));
    const std::string log = scratch.path("noted");
    const json zygote = zygote_of(pool);
    ASSERT_TRUE(zygote.is_object()) << pool.status().dump();
    EXPECT_EQ(zygote["state"], "ready");
    const pid_t zygote_pid = zygote["pid"].get<pid_t>();
    EXPECT_EQ(noted(log, "preload"), std::vector<pid_t>{zygote_pid});
    EXPECT_NE(zygote_pid, pool.pid());
    EXPECT_EQ(parent_of(zygote_pid), pool.pid());

    const auto workers = pool.ready_worker_pids();
    ASSERT_EQ(workers.size(), 3u);
    EXPECT_EQ(noted(log, "worker").size(), 3u);  // each worker builds its own job objects
    for (pid_t w : workers) EXPECT_EQ(parent_of(w), pool.pid()) << "worker " << w << " is not the supervisor's child";
    EXPECT_EQ(zygote["forks"].get<std::uint64_t>(), 3u);

    Client client = pool.connect();
    std::uint64_t address = 0;
    for (int i = 0; i < 12; ++i) {
        const auto answer = probe(client);
        EXPECT_TRUE(has(workers, static_cast<pid_t>(answer[0])));
        EXPECT_EQ(answer[2], kChecksum);
        if (address == 0) address = answer[1];
        EXPECT_EQ(answer[1], address) << "every worker shares the zygote's table";
    }
    const auto table = pool.cli({"status"});
    EXPECT_TRUE(contains(table.out, "zygote   pid " + std::to_string(zygote_pid) + ", ready")) << table.out;
    const auto metrics = pool.cli({"status", "--prometheus"});
    EXPECT_TRUE(contains(metrics.out, "warmpool_zygote_ready{pool=\"" + pool.name() + "\"} 1")) << metrics.out;

    // The supervisor never ran the hook, nor mapped the library.
    std::ifstream maps("/proc/" + std::to_string(pool.pid()) + "/maps");
    const std::string mapped((std::istreambuf_iterator<char>(maps)), std::istreambuf_iterator<char>());
    EXPECT_FALSE(contains(mapped, std::filesystem::path(kPreloadJobs).filename().string()));
    EXPECT_FALSE(has(noted(log, "preload"), pool.pid()));
}

TEST(ZygoteTest, WithoutPreloadEachWorkerRunsTheHookItself) {
    Scratch scratch;
    TestPool::Options options = preload_pool(scratch, 2);
    options.extra_args = {"--grace-period", "1"};
    TestPool pool(options);
    EXPECT_TRUE(pool.status()["zygote"].is_null());
    auto preloads = noted(scratch.path("noted"), "preload");
    auto workers = pool.ready_worker_pids();
    std::sort(preloads.begin(), preloads.end());
    std::sort(workers.begin(), workers.end());
    EXPECT_EQ(preloads, workers);
    Client client = pool.connect();
    EXPECT_EQ(probe(client)[2], kChecksum);
}

TEST(ZygoteTest, AKilledWorkerIsReplacedFromTheZygoteWithoutASecondPreload) {
    Scratch scratch;
    TestPool pool(preload_pool(scratch, 2));
    const std::string log = scratch.path("noted");
    const pid_t victim = pool.ready_worker_pids().at(0);
    ASSERT_EQ(::kill(victim, SIGKILL), 0);
    ASSERT_TRUE(replaced(pool, victim, 2)) << pool.log();
    EXPECT_EQ(noted(log, "preload").size(), 1u);
    EXPECT_EQ(noted(log, "worker").size(), 3u);
    for (pid_t w : pool.ready_worker_pids()) EXPECT_EQ(parent_of(w), pool.pid());
    EXPECT_EQ(zygote_of(pool)["forks"].get<std::uint64_t>(), 3u);
    Client client = pool.connect();
    for (int i = 0; i < 6; ++i) EXPECT_EQ(probe(client)[2], kChecksum);
}

TEST(ZygoteTest, AKilledZygoteLeavesThePoolServingAndIsRebuilt) {
    Scratch scratch;
    const std::string gate = scratch.path("gate");
    std::ofstream(gate) << "open";
    TestPool::Options options = preload_pool(scratch, 2);
    options.env["WARMPOOL_TEST_PRELOAD_GATE"] = gate;
    TestPool pool(options);
    const std::string log = scratch.path("noted");
    const pid_t first = zygote_of(pool)["pid"].get<pid_t>();
    const auto forks = zygote_of(pool)["forks"].get<std::uint64_t>();  // every zygote's, in all

    // The next zygote's preload waits for the gate: it stays preloading while we look.
    std::filesystem::remove(gate);
    ASSERT_EQ(::kill(first, SIGKILL), 0);
    pid_t second = 0;
    ASSERT_TRUE(wait_until(
        [&] {
            const json z = zygote_of(pool);
            second = z["pid"].get<pid_t>();
            return z["state"] == "preloading" && second != first && second != 0;
        },
        20s))
        << pool.status().dump();
    Client client = pool.connect();
    EXPECT_EQ(probe(client)[2], kChecksum);

    // A worker lost meanwhile is forked the plain way: it runs the preload itself.
    const pid_t victim = pool.ready_worker_pids().at(0);
    ASSERT_EQ(::kill(victim, SIGKILL), 0);
    ASSERT_TRUE(replaced(pool, victim, 2)) << pool.log();
    pid_t plain = 0;
    for (pid_t w : pool.ready_worker_pids()) {
        if (has(noted(log, "preload"), w)) plain = w;
    }
    EXPECT_NE(plain, 0) << "the replacement did not run the preload";
    EXPECT_EQ(parent_of(plain), pool.pid());
    for (int i = 0; i < 6; ++i) EXPECT_EQ(probe(client)[2], kChecksum);

    // The rebuilt zygote finishes its preload, and forks the next replacement.
    std::ofstream(gate) << "open";
    ASSERT_TRUE(wait_until([&] { return zygote_of(pool)["state"] == "ready"; }, 20s)) << pool.status().dump();
    EXPECT_EQ(zygote_of(pool)["pid"].get<pid_t>(), second);
    EXPECT_TRUE(has(noted(log, "preload"), second));
    const std::size_t preloads = noted(log, "preload").size();
    EXPECT_EQ(preloads, 3u);  // the first zygote, the plain worker, the second zygote
    ASSERT_EQ(::kill(plain, SIGKILL), 0);
    ASSERT_TRUE(replaced(pool, plain, 2)) << pool.log();
    EXPECT_EQ(noted(log, "preload").size(), preloads);
    EXPECT_EQ(zygote_of(pool)["forks"].get<std::uint64_t>(), forks + 1);
    for (int i = 0; i < 6; ++i) EXPECT_EQ(probe(client)[2], kChecksum);
    EXPECT_GE(pool.status()["zygote"]["builds"].get<std::uint64_t>(), 2u);
}

TEST(ZygoteTest, AReloadBuildsANewZygote) {
    Scratch scratch;
    TestPool pool(preload_pool(scratch, 2));
    const std::string log = scratch.path("noted");
    const pid_t first = zygote_of(pool)["pid"].get<pid_t>();
    const auto before = pool.ready_worker_pids();
    const auto forks = zygote_of(pool)["forks"].get<std::uint64_t>();
    const auto r = pool.cli({"reload"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    ASSERT_TRUE(wait_until(
        [&] {
            const json s = pool.status();
            const auto now = pool.ready_worker_pids();
            return !s["supervision"]["reloading"].get<bool>() && now.size() == 2 && !has(now, before[0]) &&
                   !has(now, before[1]);
        },
        30s))
        << pool.status().dump();
    const json zygote = zygote_of(pool);
    EXPECT_EQ(zygote["state"], "ready");
    EXPECT_NE(zygote["pid"].get<pid_t>(), first);
    EXPECT_EQ(noted(log, "preload"), (std::vector<pid_t>{first, zygote["pid"].get<pid_t>()}));
    EXPECT_EQ(zygote["forks"].get<std::uint64_t>(), forks + 2) << "the reload's workers come from the new zygote";
    Client client = pool.connect();
    EXPECT_EQ(probe(client)[2], kChecksum);
}

TEST(ZygoteTest, AFailingPreloadFailsTheStart) {
    Scratch scratch;
    TestPool::Options options = preload_pool(scratch, 2);
    options.env["WARMPOOL_TEST_PRELOAD_FAIL"] = "1";
    options.wait_ready = false;
    TestPool pool(options);
    EXPECT_EQ(pool.wait_exit(), 2) << pool.log();
    EXPECT_TRUE(contains(pool.log(), "the tables are missing")) << pool.log();
}

TEST(ZygoteTest, PythonModulesAreImportedOnceInTheZygote) {
    Scratch scratch;
    TestPool::Options options;
    options.workers = 3;
    options.extra_args = {"--preload", "--python-path", kPythonJobsDir, "--python-module", "preloaded",
                          "--grace-period", "1"};
    options.env["WARMPOOL_TEST_PRELOAD_LOG"] = scratch.path("noted");
    TestPool pool(options);
    const std::string log = scratch.path("noted");
    const pid_t zygote = zygote_of(pool)["pid"].get<pid_t>();
    EXPECT_EQ(noted(log, "import"), std::vector<pid_t>{zygote});
    EXPECT_EQ(noted(log, "instance").size(), 3u);
    Client client = pool.connect();
    const auto workers = pool.ready_worker_pids();
    for (int i = 0; i < 6; ++i) {
        const json answer = json::parse(client.submit_json("preloaded.Where", "0").get());
        EXPECT_TRUE(has(workers, answer[0].get<pid_t>()));
        EXPECT_EQ(answer[1].get<pid_t>(), zygote);
        EXPECT_EQ(answer[2].get<std::int64_t>(), 99'999LL * 100'000 / 2);
    }
    // A replacement from the zygote imports nothing again.
    const pid_t victim = workers.at(0);
    ASSERT_EQ(::kill(victim, SIGKILL), 0);
    ASSERT_TRUE(replaced(pool, victim, 3)) << pool.log();
    EXPECT_EQ(noted(log, "import").size(), 1u);
    EXPECT_EQ(json::parse(client.submit_json("preloaded.Where", "0").get())[1].get<pid_t>(), zygote);
}

}  // namespace
}  // namespace warmpool
