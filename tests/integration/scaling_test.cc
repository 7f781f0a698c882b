// Worker scaling against real warmpoold processes (docs/CONFIG.md, [scaling]): a burst grows a
// dynamic pool to max_workers and it shrinks back after, losing and failing nothing; an ondemand
// pool serves the first job with no worker started and retires idle workers; `warmpool scale N`
// changes the live count, is refused to a non-admin and survives a reload; a busy worker is never
// the one retired.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "jobs/example_types.hpp"
#include "test_pool.hpp"
#include "test_users.hpp"
#include "warmpool/client.hpp"

namespace warmpool::testing {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

int live(const json& status) { return status["workers"]["live"].get<int>(); }
int ready(const json& status) { return status["workers"]["ready"].get<int>(); }

bool settles_at(const TestPool& pool, int workers, std::chrono::milliseconds timeout = 15s) {
    return wait_until(
        [&] {
            const json s = pool.status();
            return live(s) == workers && ready(s) == workers && s["scaling"]["target"] == workers &&
                   s["jobs"]["in_flight"] == 0;
        },
        timeout);
}

TEST(ScalingTest, ABurstGrowsADynamicPoolToMaxWorkersAndItShrinksBackLosingNothing) {
    TestPool::Options options;
    options.workers = 1;
    options.extra_args = {"--scaling",   "dynamic", "--min-workers", "1", "--max-workers",  "4",
                          "--min-spare", "1",       "--max-spare",   "1", "--idle-timeout", "0.3"};
    TestPool pool(options);
    ASSERT_TRUE(settles_at(pool, 1)) << pool.status().dump();
    EXPECT_EQ(pool.status()["scaling"]["mode"], "dynamic");

    constexpr int kJobs = 24;
    Client client = pool.connect();
    std::vector<Future<examples::SleepReport>> futures;
    for (int i = 0; i < kJobs; ++i) futures.push_back(client.submit<examples::SleepReport>("sleep_report", 0.1));
    int most = 0;
    std::string reason_at_most;
    for (auto deadline = std::chrono::steady_clock::now() + 20s; std::chrono::steady_clock::now() < deadline;) {
        const json s = pool.status();
        if (live(s) > most) {
            most = live(s);
            reason_at_most = s["scaling"]["reason"].get<std::string>();
        }
        if (s["jobs"]["completed"] == kJobs) break;
        std::this_thread::sleep_for(20ms);
    }
    std::set<std::int64_t> pids;
    for (auto& f : futures) pids.insert(f.get().pid);
    EXPECT_EQ(most, 4) << "the burst should have taken the pool to max_workers";
    EXPECT_NE(reason_at_most.find("queued"), std::string::npos) << reason_at_most;
    EXPECT_GE(pids.size(), 2u);

    // After it, idle workers beyond max_spare retire after idle_timeout: back to min_workers.
    ASSERT_TRUE(settles_at(pool, 1)) << "idle workers were not retired after the burst: " << pool.status().dump();
    const json s = pool.status();
    EXPECT_EQ(s["jobs"]["completed"], kJobs);
    EXPECT_EQ(s["jobs"]["failed"], 0);
    EXPECT_EQ(s["supervision"]["worker_crashes"], 0);
    EXPECT_NE(s["scaling"]["reason"].get<std::string>().find("max_spare 1"), std::string::npos) << s.dump();
    EXPECT_EQ(client.call<std::int64_t>("gcd", std::pair<std::int64_t, std::int64_t>{12, 18}), 6);
}

TEST(ScalingTest, AnOndemandPoolServesTheFirstJobWithNoWorkerAndRetiresIdleOnes) {
    TestPool::Options options;
    options.workers = 1;
    options.extra_args = {"--scaling", "ondemand", "--max-workers", "2", "--idle-timeout", "0.3"};
    TestPool pool(options);  // ready (wait-ready) with no worker: the sockets listen
    json s = pool.status();
    EXPECT_EQ(s["state"], "running");
    EXPECT_EQ(live(s), 0) << s.dump();
    EXPECT_EQ(s["scaling"]["target"], 0);
    const CommandResult wait = pool.cli({"wait-ready", "--timeout", "5"});
    EXPECT_EQ(wait.exit_code, 0) << describe(wait);

    for (int round = 0; round < 2; ++round) {
        Client client = pool.connect();
        EXPECT_EQ(client.call<std::int64_t>("gcd", std::pair<std::int64_t, std::int64_t>{35, 49}), 7);
        EXPECT_GE(live(pool.status()), 1);
        ASSERT_TRUE(wait_until([&] { return live(pool.status()) == 0; }, 10s))
            << "the idle worker was not retired after idle_timeout: " << pool.status().dump();
        s = pool.status();
        EXPECT_NE(s["scaling"]["reason"].get<std::string>().find("idle_timeout"), std::string::npos) << s.dump();
    }
    EXPECT_EQ(s["jobs"]["failed"], 0);
    EXPECT_EQ(s["supervision"]["failed_inits"], 0);

    // A reload with no worker to replace completes at once, and the pool still serves.
    const CommandResult r = pool.cli({"reload"});
    ASSERT_EQ(r.exit_code, 0) << describe(r);
    ASSERT_TRUE(wait_until(
        [&] {
            const json now = pool.status();
            return now["supervision"]["reloads"] == 1 && now["supervision"]["reloading"] == false;
        },
        10s))
        << pool.status().dump();
    Client client = pool.connect();
    EXPECT_EQ(client.call<std::int64_t>("gcd", std::pair<std::int64_t, std::int64_t>{12, 18}), 6);
}

TEST(ScalingTest, ScaleSetsTheLiveCountIsForAdminsOnlyAndSurvivesAReload) {
    TestPool::Options options;
    options.workers = 2;
    options.extra_args = {"--max-workers", "4"};
    std::unique_ptr<TestUser> other;
    if (is_root()) {
        other = std::make_unique<TestUser>("s");
        options.extra_args.insert(options.extra_args.end(), {"--allow-user", other->name()});
    }
    TestPool pool(options);
    ASSERT_TRUE(settles_at(pool, 2));

    CommandResult r = pool.cli({"scale", "4"});
    ASSERT_EQ(r.exit_code, 0) << describe(r);
    ASSERT_TRUE(settles_at(pool, 4)) << pool.status().dump();
    json s = pool.status();
    EXPECT_EQ(s["scaling"]["reason"], "scaled by admin to 4");
    EXPECT_EQ(s["scaling"]["admin_target"], 4);
    const CommandResult text = pool.cli({"status"});
    EXPECT_TRUE(contains(text.out, "scaling  static, target 4 (2 to 4): scaled by admin to 4")) << describe(text);

    r = pool.cli({"scale", "1"});
    ASSERT_EQ(r.exit_code, 0) << describe(r);
    ASSERT_TRUE(settles_at(pool, 1)) << pool.status().dump();

    r = pool.cli({"scale", "5"});
    EXPECT_NE(r.exit_code, 0);
    EXPECT_TRUE(contains(r.err, "max_workers")) << describe(r);

    if (other) {
        std::filesystem::permissions(pool.runtime_dir(), std::filesystem::perms(0755));
        const CommandResult refused = other->run(
            {warmpool_cli_path(), "--pool", pool.name(), "--runtime-dir", pool.runtime_dir(), "scale", "3"});
        EXPECT_NE(refused.exit_code, 0);
        EXPECT_TRUE(contains(refused.err, "admin commands need")) << describe(refused);
        EXPECT_EQ(pool.status()["scaling"]["target"], 1);
    }

    // A reload that leaves the scaling settings alone keeps the admin's target.
    r = pool.cli({"reload"});
    ASSERT_EQ(r.exit_code, 0) << describe(r);
    ASSERT_TRUE(wait_until([&] { return pool.status()["supervision"]["reloads"] == 1; }, 10s));
    ASSERT_TRUE(wait_until([&] { return pool.status()["supervision"]["reloading"] == false; }, 15s));
    ASSERT_TRUE(settles_at(pool, 1)) << pool.status().dump();
    s = pool.status();
    EXPECT_EQ(s["scaling"]["admin_target"], 1) << s.dump();
    Client client = pool.connect();
    EXPECT_EQ(client.call<std::int64_t>("gcd", std::pair<std::int64_t, std::int64_t>{12, 18}), 6);
}

TEST(ScalingTest, AReloadThatChangesTheWorkersInTheFileDropsTheAdminTarget) {
    const std::string file = "/tmp/warmpool-scaling-test-" + std::to_string(::getpid()) + ".toml";
    struct Remove {
        std::string path;
        ~Remove() { std::filesystem::remove(path); }
    } remove{file};
    std::ofstream(file) << "[scaling]\nmax_workers = 4\n";
    TestPool::Options options;
    options.workers = 2;
    options.extra_args = {"--config", file};
    TestPool pool(options);
    ASSERT_TRUE(settles_at(pool, 2));
    ASSERT_EQ(pool.cli({"scale", "3"}).exit_code, 0);
    ASSERT_TRUE(settles_at(pool, 3));

    // workers itself comes from the command line (TestPool's --workers 2): change max_workers.
    std::ofstream(file) << "[scaling]\nmax_workers = 3\n";
    ASSERT_EQ(pool.cli({"reload"}).exit_code, 0);
    ASSERT_TRUE(wait_until([&] { return pool.status()["supervision"]["reloads"] == 1; }, 10s));
    ASSERT_TRUE(settles_at(pool, 2)) << pool.status().dump();
    EXPECT_TRUE(pool.status()["scaling"]["admin_target"].is_null()) << pool.status().dump();
}

TEST(ScalingTest, ABusyWorkerIsNeverTheOneRetired) {
    TestPool::Options options;
    options.workers = 2;
    TestPool pool(options);
    ASSERT_TRUE(settles_at(pool, 2));
    Client client = pool.connect();
    auto long_job = client.submit<examples::SleepReport>("sleep_report", 1.5);
    ASSERT_TRUE(wait_until([&] { return pool.status()["workers"]["busy"] == 1; }, 10s));
    pid_t busy_pid = 0;
    const json before = pool.status();
    for (const auto& row : before["workers"]["rows"]) {
        if (row["state"] == "busy") busy_pid = row["pid"].get<pid_t>();
    }
    ASSERT_GT(busy_pid, 0);

    const CommandResult r = pool.cli({"scale", "1"});
    ASSERT_EQ(r.exit_code, 0) << describe(r);
    // The idle worker goes; the busy one runs on.
    ASSERT_TRUE(wait_until([&] { return live(pool.status()) == 1; }, 10s)) << pool.status().dump();
    EXPECT_EQ(pool.ready_worker_pids(), std::vector<pid_t>{busy_pid});
    const examples::SleepReport report = long_job.get();
    EXPECT_EQ(report.pid, busy_pid);
    EXPECT_GE(report.slept, 1.5);
    const json s = pool.status();
    EXPECT_EQ(s["jobs"]["failed"], 0);
    EXPECT_EQ(s["supervision"]["worker_crashes"], 0);
    EXPECT_EQ(s["scaling"]["reason"].get<std::string>().find("scaled by admin to 1"), 0u) << s.dump();
}

TEST(ScalingTest, ContradictoryScalingSettingsAreRefusedWithTheLine) {
    const std::string file = "/tmp/warmpool-scaling-bad-" + std::to_string(::getpid()) + ".toml";
    struct Remove {
        std::string path;
        ~Remove() { std::filesystem::remove(path); }
    } remove{file};
    std::ofstream(file) << "[scaling]\nmode = \"dynamic\"\nmax_workers = 2\nmin_workers = 5\n";
    const CommandResult r = run_command({warmpoold_path(), "--config", file, "--print-config"});
    EXPECT_EQ(r.exit_code, 64) << describe(r);
    EXPECT_TRUE(contains(r.err, file + ":4: 'scaling.min_workers' 5 is more than 'scaling.max_workers' 2"))
        << describe(r);
    const CommandResult flags =
        run_command({warmpoold_path(), "--scaling", "ondemand", "--min-workers", "1", "--print-config"});
    EXPECT_EQ(flags.exit_code, 64) << describe(flags);
    EXPECT_TRUE(contains(flags.err, "min_workers must be 0 with mode \"ondemand\"")) << describe(flags);
}

}  // namespace
}  // namespace warmpool::testing
