// The job library as a deployment sees it: replaced at its path and reloaded, the new file is
// what new workers run, and the supervisor never loads it itself (so nothing of an old copy
// lingers in it for the workers it forks to inherit).
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

TEST(JobLibraryTest, AReloadRunsTheLibraryNowAtThePath) {
    ScratchDir scratch("warmpool-jobs");
    const std::string library = scratch.path("jobs.so");
    fs::copy_file(example_jobs_path(), library);
    TestPool::Options options;
    options.workers = 2;
    options.jobs_library = library;
    options.extra_args = {"--grace-period", "0.5"};
    TestPool pool(options);
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

}  // namespace
}  // namespace warmpool::testing
