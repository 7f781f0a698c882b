// `warmpool map`'s progress line against a real pool, with the CLI's stderr on a real
// pseudo-terminal or on a pipe: shown on a terminal, not on a pipe, and --progress and
// --no-progress force it either way; the results on stdout are the same in every case.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <pthread.h>
#include <pty.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "test_pool.hpp"
#include "warmpool/common/unique_fd.hpp"

namespace warmpool {
namespace {

using testing::contains;
using testing::TestPool;

struct MapRun {
    int exit_code = -1;
    std::string out;
    std::string err;  // what reached the terminal, or the pipe
};

// Runs `warmpool map ARGS` against `pool` with `input` on stdin, stdout on a pipe and stderr on
// a pseudo-terminal (`terminal`) or a pipe.
MapRun run_map(const TestPool& pool, const std::vector<std::string>& args, const std::string& input, bool terminal) {
    int in[2], out[2], err[2];
    if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0) throw std::runtime_error("pipe");
    if (terminal) {
        if (::openpty(&err[0], &err[1], nullptr, nullptr, nullptr) != 0) throw std::runtime_error("openpty");
        ::fcntl(err[0], F_SETFD, FD_CLOEXEC);
        ::fcntl(err[1], F_SETFD, FD_CLOEXEC);
    } else if (::pipe2(err, O_CLOEXEC) != 0) {
        throw std::runtime_error("pipe");
    }
    std::vector<std::string> argv = {testing::warmpool_cli_path(), "--pool", pool.name(), "--runtime-dir",
                                     pool.runtime_dir(), "map"};
    argv.insert(argv.end(), args.begin(), args.end());
    const pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error("fork");
    if (pid == 0) {
        ::dup2(in[0], 0);
        ::dup2(out[1], 1);
        ::dup2(err[1], 2);
        std::vector<char*> c_args;
        for (auto& a : argv) c_args.push_back(a.data());
        c_args.push_back(nullptr);
        ::execv(c_args[0], c_args.data());
        ::_exit(127);
    }
    ::close(in[0]);
    ::close(out[1]);
    ::close(err[1]);
    std::thread feeder([fd = in[1], &input] {
        // A CLI that exits before reading (a usage error) makes the write fail with EPIPE; the
        // SIGPIPE, blocked here, stays with this thread and goes when it ends.
        sigset_t pipe_signal;
        sigemptyset(&pipe_signal);
        sigaddset(&pipe_signal, SIGPIPE);
        ::pthread_sigmask(SIG_BLOCK, &pipe_signal, nullptr);
        std::size_t sent = 0;
        while (sent < input.size()) {
            const ssize_t n = ::write(fd, input.data() + sent, input.size() - sent);
            if (n <= 0) break;
            sent += static_cast<std::size_t>(n);
        }
        ::close(fd);
    });
    MapRun run;
    pollfd fds[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
    while ((fds[0].fd >= 0 || fds[1].fd >= 0) && std::chrono::steady_clock::now() < deadline) {
        ::poll(fds, 2, 1000);
        for (int i = 0; i < 2; ++i) {
            if (fds[i].fd < 0 || (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
            char buf[65536];
            const ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
            if (n > 0) {
                (i == 0 ? run.out : run.err).append(buf, static_cast<std::size_t>(n));
            } else {  // end of the pipe; a terminal whose every writer closed reads EIO
                ::close(fds[i].fd);
                fds[i].fd = -1;
            }
        }
    }
    for (const pollfd& p : fds) {
        if (p.fd >= 0) ::close(p.fd);
    }
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == 0) ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
    feeder.join();
    run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return run;
}

class CliProgressTest : public ::testing::Test {
protected:
    static void SetUpTestSuite() { pool_ = std::make_unique<TestPool>(); }
    static void TearDownTestSuite() { pool_.reset(); }
    static std::unique_ptr<TestPool> pool_;

    // Forty short sleeps: long enough to be seen in progress, short enough for a test.
    static std::string sleeps() {
        std::string input;
        for (int i = 0; i < 40; ++i) input += "0.01\n";
        return input;
    }
    static void expect_forty_results(const MapRun& run) {
        EXPECT_EQ(run.exit_code, 0) << run.err;
        std::size_t lines = 0;
        for (const char c : run.out) lines += c == '\n';
        EXPECT_EQ(lines, 40u) << run.out;
        EXPECT_FALSE(contains(run.out, "map: ")) << "progress goes to stderr only";
    }
};

std::unique_ptr<TestPool> CliProgressTest::pool_;

TEST_F(CliProgressTest, ShownOnATerminalAndClearedAtTheEnd) {
    const MapRun run = run_map(*pool_, {"sleep_report"}, sleeps(), true);
    expect_forty_results(run);
    EXPECT_TRUE(contains(run.err, "\rmap: 0/40 (0%)")) << run.err;
    // Whatever was drawn last is wiped: the terminal's line ends blank, the cursor at its start.
    ASSERT_GE(run.err.size(), 2u) << run.err;
    EXPECT_EQ(run.err.back(), '\r');
    const std::size_t wipe = run.err.rfind('\r', run.err.size() - 2);
    ASSERT_NE(wipe, std::string::npos);
    EXPECT_EQ(run.err.substr(wipe + 1, run.err.size() - wipe - 2).find_first_not_of(' '), std::string::npos)
        << run.err;
}

TEST_F(CliProgressTest, NoProgressKeepsTheTerminalQuiet) {
    const MapRun run = run_map(*pool_, {"sleep_report", "--no-progress"}, sleeps(), true);
    expect_forty_results(run);
    EXPECT_EQ(run.err, "");
}

TEST_F(CliProgressTest, NotShownOnAPipeUnlessAsked) {
    const MapRun quiet = run_map(*pool_, {"sleep_report"}, sleeps(), false);
    expect_forty_results(quiet);
    EXPECT_EQ(quiet.err, "");

    const MapRun forced = run_map(*pool_, {"sleep_report", "--progress"}, sleeps(), false);
    expect_forty_results(forced);
    EXPECT_TRUE(contains(forced.err, "\rmap: 0/40 (0%)")) << forced.err;
}

TEST_F(CliProgressTest, BothFlagsAreAUsageError) {
    const MapRun run = run_map(*pool_, {"sleep_report", "--progress", "--no-progress"}, sleeps(), false);
    EXPECT_EQ(run.exit_code, 64) << run.err;
}

// More input than the CLI reads at once: the total is unknown until the input's end is read.
TEST_F(CliProgressTest, TotalAppearsOnceTheInputEndIsRead) {
    std::string input;
    constexpr int kLines = 70000;
    for (int i = 0; i < kLines; ++i) input += std::to_string(i) + "\n";
    const MapRun run = run_map(*pool_, {"echo", "--progress"}, input, false);
    EXPECT_EQ(run.exit_code, 0) << run.err.substr(0, 2000);
    EXPECT_TRUE(run.out == input) << "the echoed lines differ from the input (or their order does)";
    EXPECT_TRUE(contains(run.err, "\rmap: 0 done")) << run.err.substr(0, 2000);
    EXPECT_TRUE(contains(run.err, "/" + std::to_string(kLines) + " (")) << run.err.substr(run.err.size() - 2000);
}

}  // namespace
}  // namespace warmpool
