// warmpoold --config against real daemons: a pool configured by its file alone, file settings
// under command-line overrides, --config-if-exists, --print-config, and bad files and options
// refused with exit 64 and a message naming the file, line and key.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "scratch_dir.hpp"
#include "test_pool.hpp"
#include "warmpool/common/runtime_paths.hpp"
#include "warmpool/common/status_query.hpp"

namespace warmpool {
namespace {

// A private directory under /tmp, removed with everything in it.
struct Scratch : testing::ScratchDir {
    Scratch() : ScratchDir("warmpool-config") {}
};

using testing::contains;
using testing::describe;
using testing::CommandResult;
using testing::TestPool;
using namespace std::chrono_literals;


// warmpoold started with nothing but `--config FILE`: everything else comes from the file.
// Stopped with SIGTERM (SIGKILL if it hangs) when the test ends.
class FileOnlyDaemon {
public:
    FileOnlyDaemon(const std::string& config_file, const std::string& log_file) {
        const pid_t parent = ::getpid();
        pid_ = ::fork();
        if (pid_ < 0) throw std::runtime_error("fork failed");
        if (pid_ == 0) {
            ::prctl(PR_SET_PDEATHSIG, SIGTERM);
            if (::getppid() != parent) ::_exit(1);
            const int log = ::open(log_file.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
            ::dup2(log, 1);
            ::dup2(log, 2);
            ::unsetenv("NOTIFY_SOCKET");
            const std::string path = testing::warmpoold_path();
            ::execl(path.c_str(), path.c_str(), "--config", config_file.c_str(), nullptr);
            ::_exit(127);
        }
    }
    ~FileOnlyDaemon() {
        if (pid_ <= 0) return;
        ::kill(pid_, SIGTERM);
        const bool exited =
            testing::wait_until([&] { return ::waitpid(pid_, nullptr, WNOHANG) == pid_; }, 15s);
        if (!exited) {
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, nullptr, 0);
        }
    }
    FileOnlyDaemon(const FileOnlyDaemon&) = delete;
    FileOnlyDaemon& operator=(const FileOnlyDaemon&) = delete;

private:
    pid_t pid_ = -1;
};

TEST(ConfigFile, APoolConfiguredByItsFileAlone) {
    Scratch scratch;
    const std::string name = "cfg" + std::to_string(::getpid());
    const std::string file = scratch.write("pool.toml",
                                           "# a pool described entirely by this file\n"
                                           "name = \"" +
                                               name +
                                               "\"\n"
                                               "workers = 3\n"
                                               "jobs = \"" +
                                               testing::example_jobs_path() +
                                               "\"\n"
                                               "runtime_dir = \"" +
                                               scratch.dir() +
                                               "\"\n"
                                               "log_level = \"debug\"\n"
                                               "[limits]\n"
                                               "max_sessions = 9\n"
                                               "queue_capacity = 4321\n"
                                               "[supervision]\n"
                                               "max_rss = \"1GiB\"\n"
                                               "[functions.gcd]\n"
                                               "timeout = 5.0\n");
    const std::string log_file = scratch.dir() + "/daemon.log";
    const std::string status_socket = PoolPaths::in(scratch.dir(), name).status_socket;
    nlohmann::json status;
    {
        FileOnlyDaemon daemon(file, log_file);
        const bool ready = testing::wait_until(
            [&] {
                auto answer = query_status(status_socket, "json", 1000);
                if (!answer) return false;
                status = nlohmann::json::parse(answer.value(), nullptr, false);
                return !status.is_discarded() && status["state"] == "running";
            },
            30s);
        std::ifstream log(log_file);
        const std::string log_text((std::istreambuf_iterator<char>(log)),
                                   std::istreambuf_iterator<char>());
        ASSERT_TRUE(ready) << "the pool did not become ready; its log:\n" << log_text;
        EXPECT_TRUE(contains(log_text, "settings from " + file)) << log_text;
    }
    EXPECT_EQ(status["pool"], name);
    EXPECT_EQ(status["workers"]["configured"], 3);
    EXPECT_EQ(status["workers"]["ready"], 3);
    EXPECT_EQ(status["sessions"]["max"], 9);
    EXPECT_EQ(status["queue"]["capacity"], 4321);
    EXPECT_EQ(status["job_library"], testing::example_jobs_path());
}

TEST(ConfigFile, TheCommandLineOverridesTheFile) {
    Scratch scratch;
    // TestPool passes --workers 2 --log-level debug on the command line: they win over the file.
    const std::string file = scratch.write("pool.toml",
                                           "workers = 5\nlog_level = \"error\"\n"
                                           "[limits]\nmax_sessions = 11\nqueue_capacity = 999\n");
    TestPool pool(TestPool::Options{.workers = 2,
                                    .extra_args = {"--config", file, "--queue-capacity", "777"}});
    const auto status = pool.status();
    EXPECT_EQ(status["workers"]["configured"], 2);
    EXPECT_EQ(status["sessions"]["max"], 11) << "from the file";
    EXPECT_EQ(status["queue"]["capacity"], 777) << "the command line wins";
    // log_level = "error" in the file would hide this info line; --log-level debug wins.
    EXPECT_TRUE(contains(pool.log(), "settings from " + file)) << pool.log();
    CommandResult r = pool.cli({"call", "gcd", "[12, 18]"});
    EXPECT_EQ(r.exit_code, 0) << describe(r);
    EXPECT_EQ(r.out, "6\n");
}

TEST(ConfigFile, ABadFileExits64NamingFileLineAndKey) {
    Scratch scratch;
    const std::string file =
        scratch.write("broken.toml", "workers = 2\n\n[limits]\nprefetch = 4\nmax_sesions = 3\n");
    CommandResult r = testing::run_command({testing::warmpoold_path(), "--config", file});
    EXPECT_EQ(r.exit_code, 64) << describe(r);
    EXPECT_TRUE(contains(r.err, file + ":5:")) << describe(r);
    EXPECT_TRUE(contains(r.err, "limits.max_sesions")) << describe(r);
    EXPECT_TRUE(contains(r.err, "did you mean 'max_sessions'")) << describe(r);

    const std::string syntax = scratch.write("syntax.toml", "workers = 2\nname = [\n");
    r = testing::run_command({testing::warmpoold_path(), "--config", syntax});
    EXPECT_EQ(r.exit_code, 64) << describe(r);
    EXPECT_TRUE(contains(r.err, syntax + ":")) << describe(r);

    const std::string wrong_type =
        scratch.write("type.toml", "[supervision]\nmax_rss = \"1 GB\"\n");
    r = testing::run_command({testing::warmpoold_path(), "--config", wrong_type});
    EXPECT_EQ(r.exit_code, 64) << describe(r);
    EXPECT_TRUE(contains(r.err, wrong_type + ":2:")) << describe(r);
    EXPECT_TRUE(contains(r.err, "supervision.max_rss")) << describe(r);

    const std::string range = scratch.write("range.toml", "[supervision]\nmax_jobs_jitter = 0.9\n");
    r = testing::run_command({testing::warmpoold_path(), "--config", range});
    EXPECT_EQ(r.exit_code, 64) << describe(r);
    EXPECT_TRUE(contains(r.err, range + ": max_jobs_jitter")) << describe(r);

    r = testing::run_command(
        {testing::warmpoold_path(), "--config", scratch.dir() + "/missing.toml"});
    EXPECT_EQ(r.exit_code, 64) << describe(r);
    EXPECT_TRUE(contains(r.err, "missing.toml")) << describe(r);
}

// A [functions.NAME] section (or --function) for a function the job library does not export is a
// typo: the start fails as for any configuration error, naming the function and the closest one.
TEST(ConfigFile, AFunctionSectionMustNameAFunctionOfTheLibrary) {
    Scratch scratch;
    const std::string file = scratch.write("typo.toml", "workers = 1\n[functions.md5_chian]\ntimeout = 3\n");
    for (const auto& args : {std::vector<std::string>{"--config", file},
                             std::vector<std::string>{"--function", "md5_chian:timeout=3"}}) {
        testing::TestPool::Options options;
        options.workers = 1;
        options.wait_ready = false;
        options.extra_args = args;
        testing::TestPool pool(options);
        EXPECT_EQ(pool.wait_exit(20s), 64) << pool.log();
        EXPECT_TRUE(contains(pool.log(), "settings for function 'md5_chian'")) << pool.log();
        EXPECT_TRUE(contains(pool.log(), "did you mean 'md5_chain'?")) << pool.log();
    }
}

// The same typo brought in by a reload: the new workers cannot start, so the old ones serve on.
TEST(ConfigFile, AReloadNamingAFunctionTheLibraryLacksIsAbandoned) {
    Scratch scratch;
    const std::string file = scratch.write("pool.toml", "[functions.md5_chain]\ntimeout = 30\n");
    testing::TestPool::Options options;
    options.workers = 1;
    options.extra_args = {"--config", file};
    testing::TestPool pool(options);
    const auto before = pool.ready_worker_pids();
    scratch.write("pool.toml", "[functions.md5_chian]\ntimeout = 30\n");
    ASSERT_EQ(pool.cli({"reload"}).exit_code, 0);
    ASSERT_TRUE(testing::wait_until([&] { return contains(pool.log(), "reload failed"); }, 20s)) << pool.log();
    EXPECT_TRUE(contains(pool.log(), "did you mean 'md5_chain'?")) << pool.log();
    ASSERT_TRUE(testing::wait_until([&] { return pool.status()["supervision"]["reloading"] == false; }, 20s));
    EXPECT_EQ(pool.ready_worker_pids(), before);
    EXPECT_EQ(pool.cli({"call", "gcd", "[12, 18]"}).out, "6\n");
}

TEST(ConfigFile, BadCommandLineValuesExit64) {
    for (const std::vector<std::string>& args : {std::vector<std::string>{"--max-rss", "1 GB"},
                                                 {"--kill-grace", "soon"},
                                                 {"--workers", "-1"},
                                                 {"--function", "gcd"},
                                                 {"--function", "gcd:retries=x"},
                                                 {"--poison-threshold", "0"},
                                                 {"--no-such-option"}}) {
        std::vector<std::string> argv = {testing::warmpoold_path()};
        argv.insert(argv.end(), args.begin(), args.end());
        CommandResult r = testing::run_command(argv);
        EXPECT_EQ(r.exit_code, 64) << args[0] << "\n" << describe(r);
        EXPECT_FALSE(r.err.empty()) << args[0];
    }
    EXPECT_EQ(testing::run_command({testing::warmpoold_path(), "--help"}).exit_code, 0);
}

TEST(ConfigFile, PrintConfigShowsTheEffectiveSettings) {
    Scratch scratch;
    const std::string file =
        scratch.write("pool.toml", "workers = 3\n[supervision]\nmax_rss = 536870912\n");
    CommandResult r =
        testing::run_command({testing::warmpoold_path(), "--config", file, "--max-jobs", "500",
                              "--function", "md5_chain:timeout=30,retries=2", "--print-config"});
    ASSERT_EQ(r.exit_code, 0) << describe(r);
    EXPECT_TRUE(contains(r.out, "workers = 3")) << r.out;
    EXPECT_TRUE(contains(r.out, "max_rss = '512MiB'") || contains(r.out, "max_rss = \"512MiB\""))
        << r.out;
    EXPECT_TRUE(contains(r.out, "max_jobs = 500")) << r.out;
    EXPECT_TRUE(contains(r.out, "[functions.md5_chain]")) << r.out;

    // The printed file is a valid config file that says the same.
    const std::string printed = scratch.write("printed.toml", r.out);
    CommandResult again =
        testing::run_command({testing::warmpoold_path(), "--config", printed, "--print-config"});
    ASSERT_EQ(again.exit_code, 0) << describe(again);
    EXPECT_EQ(again.out, r.out);
}

TEST(ConfigFile, ConfigIfExistsToleratesOnlyAMissingFile) {
    Scratch scratch;
    CommandResult r =
        testing::run_command({testing::warmpoold_path(), "--config-if-exists",
                              scratch.dir() + "/absent.toml", "--workers", "2", "--print-config"});
    EXPECT_EQ(r.exit_code, 0) << describe(r);
    EXPECT_TRUE(contains(r.out, "workers = 2")) << r.out;

    const std::string broken = scratch.write("broken.toml", "workers = \"2\"\n");
    r = testing::run_command(
        {testing::warmpoold_path(), "--config-if-exists", broken, "--print-config"});
    EXPECT_EQ(r.exit_code, 64) << describe(r);
    EXPECT_TRUE(contains(r.err, broken + ":1:")) << describe(r);

    r = testing::run_command(
        {testing::warmpoold_path(), "--config", broken, "--config-if-exists", broken});
    EXPECT_EQ(r.exit_code, 64) << "the two exclude each other\n" << describe(r);
}

}  // namespace
}  // namespace warmpool
