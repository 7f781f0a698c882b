// The job library as a deployment sees it: replaced at its path and reloaded, the new file is
// what new workers run, and the supervisor never loads it itself (so nothing of an old copy
// lingers in it for the workers it forks to inherit). And the settings a library declares for
// its functions (FunctionOptions), which the pool's own settings override.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "scratch_dir.hpp"
#include "test_pool.hpp"

namespace warmpool::testing {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;


// Puts `contents` at `path` the way a deployment does: a new file renamed over the old one.
void replace_file(const std::string& path, const std::string& contents) {
    const std::string next = path + ".next";
    std::ofstream(next, std::ios::binary) << contents;
    fs::rename(next, path);
}

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

bool maps_file(pid_t pid, const std::string& path) {
    return read_file("/proc/" + std::to_string(pid) + "/maps").find(path) != std::string::npos;
}

TEST(JobLibraryTest, TheSupervisorNeverLoadsTheJobLibrary) {
    ScratchDir scratch("warmpool-jobs");
    const std::string library = scratch.path("jobs.so");
    fs::copy_file(example_jobs_path(), library);
    TestPool::Options options;
    options.workers = 1;
    options.jobs_library = library;
    TestPool pool(options);
    EXPECT_FALSE(maps_file(pool.pid(), library)) << "the supervisor has the job library mapped";
    const auto workers = pool.ready_worker_pids();
    ASSERT_EQ(workers.size(), 1u);
    EXPECT_TRUE(maps_file(workers[0], library)) << "a worker runs the library";
}

// A pool of `workers` serving a copy of the example jobs at `library`, a path the test replaces
// as a deployment does; a short grace period, so that replaced workers go quickly.
TestPool::Options pool_of_library_at(const std::string& library, unsigned workers) {
    fs::copy_file(example_jobs_path(), library);
    TestPool::Options options;
    options.workers = workers;
    options.jobs_library = library;
    options.extra_args = {"--grace-period", "0.5"};
    return options;
}

TEST(JobLibraryTest, AReloadRunsTheLibraryNowAtThePath) {
    ScratchDir scratch("warmpool-jobs");
    const std::string library = scratch.path("jobs.so");
    TestPool pool(pool_of_library_at(library, 2));
    ASSERT_EQ(pool.cli({"call", "gcd", "[12, 18]"}).out, "6\n");

    // A broken file now at the path: the new workers cannot load it, so the reload fails and
    // the old workers serve on. (Had the supervisor a copy of the old file loaded, new workers
    // would inherit it and run the old code while the pool reported a successful reload.)
    replace_file(library, std::string(64 * 1024, '\x7f'));
    const auto old = pool.ready_worker_pids();
    ASSERT_EQ(pool.cli({"reload"}).exit_code, 0);
    ASSERT_TRUE(wait_until([&] { return pool.log().find("reload failed") != std::string::npos; }, 20s))
        << "the reload of a broken library was taken as a success:\n" << pool.log();
    ASSERT_TRUE(wait_until([&] { return pool.status()["supervision"]["reloading"] == false; }, 20s));
    EXPECT_EQ(pool.ready_worker_pids(), old);
    EXPECT_EQ(pool.cli({"call", "gcd", "[12, 18]"}).out, "6\n");

    // A good library at the path again: the reload goes through, with new workers.
    replace_file(library, read_file(example_jobs_path()));
    ASSERT_EQ(pool.cli({"reload"}).exit_code, 0);
    ASSERT_TRUE(wait_until(
        [&] {
            const auto s = pool.status();
            return s["supervision"]["reloads"] == 2 && s["supervision"]["reloading"] == false &&
                   pool.ready_worker_pids().size() == 2;
        },
        20s))
        << pool.status().dump();
    for (pid_t pid : pool.ready_worker_pids()) {
        EXPECT_EQ(std::find(old.begin(), old.end(), pid), old.end()) << "worker " << pid << " was not replaced";
    }
    EXPECT_EQ(pool.cli({"call", "gcd", "[12, 18]"}).out, "6\n");
}

// A library rebuilt in place with other functions: after the reload the new ones run, and the
// old ones are gone.
TEST(JobLibraryTest, AReloadRunsTheNewFunctionsOfALibraryRebuiltInPlace) {
    ScratchDir scratch("warmpool-jobs");
    const std::string library = scratch.path("jobs.so");
    TestPool pool(pool_of_library_at(library, 1));
    ASSERT_EQ(pool.cli({"call", "gcd", "[12, 18]"}).out, "6\n");
    EXPECT_NE(pool.cli({"call", "sleep_ms", "1"}).err.find("unknown_function"), std::string::npos);

    replace_file(library, read_file(WARMPOOL_OPTION_JOBS_PATH));
    ASSERT_EQ(pool.cli({"reload"}).exit_code, 0);
    ASSERT_TRUE(wait_until(
        [&] {
            const auto s = pool.status();
            return s["supervision"]["reloads"] == 1 && s["supervision"]["reloading"] == false;
        },
        20s))
        << pool.status().dump() << pool.log();
    EXPECT_EQ(pool.cli({"call", "sleep_ms", "1"}).out, "1\n");
    EXPECT_NE(pool.cli({"call", "gcd", "[12, 18]"}).err.find("unknown_function"), std::string::npos);
}

// FunctionOptions{0, 300}: a 300 ms limit; FunctionOptions{1, 0}: one retry after a crash.
TEST(JobLibraryTest, TheLibrarysDeclaredTimeoutsAndRetriesAreHonoured) {
    TestPool::Options options;
    options.workers = 1;
    options.jobs_library = WARMPOOL_OPTION_JOBS_PATH;
    TestPool pool(options);
    auto r = pool.cli({"call", "limited_sleep_ms", "2000"});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("error: timeout:"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("time limit of 0.300 s"), std::string::npos) << r.err;
    EXPECT_EQ(pool.cli({"call", "sleep_ms", "500"}).out, "500\n") << "no limit declared: none applies";
    EXPECT_EQ(pool.cli({"call", "crash_once", "0"}).out, "2\n") << "retried once after the crash";
    const auto s = pool.status();
    EXPECT_EQ(s["supervision"]["timeouts"], 1) << s.dump();
    EXPECT_EQ(s["supervision"]["retried"], 1) << s.dump();
}

// The command line (and so the config file, whose settings it overrides) wins over the library.
TEST(JobLibraryTest, ThePoolsSettingsOverrideTheLibrarys) {
    TestPool::Options options;
    options.workers = 1;
    options.jobs_library = WARMPOOL_OPTION_JOBS_PATH;
    options.extra_args = {"--function", "limited_sleep_ms:timeout=10", "--function", "crash_once:retries=0"};
    TestPool pool(options);
    EXPECT_EQ(pool.cli({"call", "limited_sleep_ms", "600"}).out, "600\n");
    auto r = pool.cli({"call", "crash_once", "0"});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("error: worker_crashed:"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace warmpool::testing
