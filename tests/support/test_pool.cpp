#include "test_pool.hpp"

#include <sys/stat.h>

#include <fstream>
#include <set>
#include <sstream>
#include <string_view>

#include <gtest/gtest.h>

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "warmpool/common/runtime_paths.hpp"
#include "warmpool/common/shm_layout.hpp"
#include "warmpool/common/status_query.hpp"

namespace warmpool::testing {

std::string warmpoold_path() { return WARMPOOLD_PATH; }
std::string warmpool_cli_path() { return WARMPOOL_CLI_PATH; }
std::string example_jobs_path() { return WARMPOOL_EXAMPLE_JOBS_PATH; }

namespace {

std::atomic<int> pool_counter{0};

int decode_wait_status(int status) {
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return -1;
}

[[noreturn]] void exec_child(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env) {
    for (const auto& [key, value] : env) ::setenv(key.c_str(), value.c_str(), 1);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    std::fprintf(stderr, "exec %s: %s\n", args[0], std::strerror(errno));
    ::_exit(127);
}

}  // namespace

bool wait_until(const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        if (condition()) return true;
        if (std::chrono::steady_clock::now() >= deadline) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
}

CommandResult run_command(const std::vector<std::string>& argv, const std::string& input,
                          const std::map<std::string, std::string>& env, std::chrono::milliseconds timeout) {
    int in[2], out[2], err[2];
    if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0) {
        throw std::runtime_error("pipe failed");
    }
    pid_t pid = ::fork();
    if (pid == 0) {
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        ::dup2(in[0], 0);
        ::dup2(out[1], 1);
        ::dup2(err[1], 2);
        exec_child(argv, env);
    }
    ::close(in[0]);
    ::close(out[1]);
    ::close(err[1]);
    // Feed stdin from a thread so a large input cannot deadlock against a full stdout pipe.
    std::thread feeder([fd = in[1], &input] {
        // A command may exit before reading all its input (a usage error): the write then fails
        // with EPIPE. SIGPIPE, blocked here, stays with this thread and goes when it ends.
        sigset_t pipe_signal;
        sigemptyset(&pipe_signal);
        sigaddset(&pipe_signal, SIGPIPE);
        ::pthread_sigmask(SIG_BLOCK, &pipe_signal, nullptr);
        std::size_t sent = 0;
        while (sent < input.size()) {
            ssize_t n = ::write(fd, input.data() + sent, input.size() - sent);
            if (n <= 0) break;
            sent += static_cast<std::size_t>(n);
        }
        ::close(fd);
    });
    CommandResult result;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    pollfd fds[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
    int open_fds = 2;
    bool killed = false;
    while (open_fds > 0) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0 && !killed) {
            ::kill(pid, SIGKILL);
            killed = true;
        }
        ::poll(fds, 2, killed ? 1000 : static_cast<int>(std::min<long long>(left.count(), 1000)));
        for (int i = 0; i < 2; ++i) {
            if (fds[i].fd < 0 || (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
            char buf[65536];
            ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
            if (n > 0) {
                (i == 0 ? result.out : result.err).append(buf, static_cast<std::size_t>(n));
            } else {
                ::close(fds[i].fd);
                fds[i].fd = -1;
                --open_fds;
            }
        }
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    feeder.join();
    result.exit_code = decode_wait_status(status);
    return result;
}

TestPool::TestPool() : TestPool(Options{}) {}

TestPool::TestPool(Options options) : options_(std::move(options)) {
    name_ = !options_.name.empty() ? options_.name
                                   : "t" + std::to_string(::getpid()) + "-" + std::to_string(pool_counter++);
    if (!options_.runtime_dir.empty()) {
        dir_ = options_.runtime_dir;
        owns_dir_ = false;
    } else {
        char tmpl[] = "/tmp/warmpool-test-XXXXXX";
        if (::mkdtemp(tmpl) == nullptr) throw std::runtime_error("mkdtemp failed");
        dir_ = tmpl;
    }

    std::vector<std::string> argv = {warmpoold_path(), "--name", name_, "--workers", std::to_string(options_.workers),
                                     "--runtime-dir", dir_, "--jobs",
                                     options_.jobs_library.empty() ? example_jobs_path() : options_.jobs_library,
                                     "--log-level", "debug"};
    argv.insert(argv.end(), options_.extra_args.begin(), options_.extra_args.end());
    const std::string log_path = dir_ + "/daemon.log";
    const pid_t parent = ::getpid();
    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
        // If the test process dies, the daemon stops and cleans up after itself.
        ::prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (::getppid() != parent) ::_exit(1);
        int log = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
        ::dup2(log, 2);
        ::dup2(log, 1);
        int devnull = ::open("/dev/null", O_RDONLY);
        ::dup2(devnull, 0);
        // The test's own service manager is not the daemon's; a test that plays one sets
        // NOTIFY_SOCKET (and WATCHDOG_USEC) in Options::env (integration/notify_test).
        ::unsetenv("NOTIFY_SOCKET");
        if (options_.max_open_files > 0) {
            const rlimit limit{options_.max_open_files, options_.max_open_files};
            if (::setrlimit(RLIMIT_NOFILE, &limit) != 0) ::_exit(126);
        }
        exec_child(argv, options_.env);
    }
    if (options_.wait_ready && !wait_ready()) {
        std::string text = log();
        this->~TestPool();
        throw std::runtime_error("warmpoold did not become ready; its log:\n" + text);
    }
}

TestPool::~TestPool() {
    if (pid_ > 0) {
        ::kill(pid_, SIGTERM);
        if (wait_exit(std::chrono::seconds(15)) < 0) {
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, nullptr, 0);
            pid_ = -1;
        }
    }
    // A sanitizer report from the daemon or a worker fails the test that ran them.
    const std::string text = log();
    for (const char* marker : {"AddressSanitizer", "LeakSanitizer", "runtime error:"}) {
        if (text.find(marker) != std::string::npos) {
            ADD_FAILURE() << "sanitizer report in the daemon's log:\n" << text;
            break;
        }
    }
    if (owns_dir_ && !dir_.empty() && std::getenv("WARMPOOL_KEEP_TEST_DIRS") == nullptr) {
        std::error_code ec;
        std::filesystem::remove_all(dir_, ec);
    }
    dir_.clear();
}

std::string TestPool::control_socket() const { return PoolPaths::in(dir_, name_).control_socket; }
std::string TestPool::status_socket() const { return PoolPaths::in(dir_, name_).status_socket; }

Client TestPool::connect() const {
    Client::Options options;
    options.runtime_dir = dir_;
    return Client::connect(name_, options);
}

nlohmann::json TestPool::status() const {
    auto answer = query_status(status_socket(), "json", 5000);
    if (!answer) throw std::runtime_error("status: " + answer.error().message());
    return nlohmann::json::parse(answer.value());
}

std::vector<pid_t> TestPool::ready_worker_pids() const {
    std::vector<pid_t> pids;
    auto s = status();
    for (const auto& row : s["workers"]["rows"]) {
        const std::string state = row["state"];
        if (state == "idle" || state == "busy") pids.push_back(row["pid"].get<pid_t>());
    }
    return pids;
}

bool TestPool::wait_ready(std::chrono::milliseconds timeout) const {
    return wait_until(
        [&] {
            if (pid_ <= 0) return false;
            auto answer = query_status(status_socket(), "json", 1000);
            if (!answer) return false;
            auto s = nlohmann::json::parse(answer.value(), nullptr, false);
            return !s.is_discarded() && s["state"] == "running";
        },
        timeout);
}

CommandResult TestPool::cli(const std::vector<std::string>& args, const std::string& input) const {
    std::vector<std::string> argv = {warmpool_cli_path(), "--pool", name_, "--runtime-dir", dir_};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_command(argv, input);
}

void TestPool::signal(int sig) const {
    if (pid_ > 0) ::kill(pid_, sig);
}

int TestPool::wait_exit(std::chrono::milliseconds timeout) {
    if (pid_ <= 0) return exit_code_;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        int status = 0;
        pid_t r = ::waitpid(pid_, &status, WNOHANG);
        if (r == pid_) {
            exit_code_ = decode_wait_status(status);
            pid_ = -1;
            return exit_code_;
        }
        if (std::chrono::steady_clock::now() >= deadline) return -1;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
}

std::string TestPool::log() const {
    std::ifstream in(dir_ + "/daemon.log");
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

nlohmann::json TestPool::settled_status() const {
    nlohmann::json last;
    wait_until(
        [&] {
            last = status();
            return last["jobs"]["queued"] == 0 && last["jobs"]["in_flight"] == 0 &&
                   last["workers"]["ready"] == last["workers"]["configured"] &&
                   last["workers"]["live"] == last["workers"]["configured"];
        },
        std::chrono::seconds(10));
    return last;
}

std::vector<std::string> TestPool::leftover_shm() const { return pool_shared_memory(name_); }

std::vector<std::string> pool_shared_memory(const std::string& pool) {
    // Anything in /dev/shm would be a regression: the pool names no shared memory at all.
    std::set<std::string> found;
    if (DIR* d = ::opendir("/dev/shm")) {
        while (dirent* e = ::readdir(d)) {
            const std::string n = e->d_name;
            if (n.find("warmpool") != std::string::npos && n.find(pool) != std::string::npos) found.insert("/dev/shm/" + n);
        }
        ::closedir(d);
    }
    // The memfds: held open or mapped by any process (the pool's, or a client's).
    const std::string label = "/memfd:warmpool." + pool + ".";
    DIR* proc = ::opendir("/proc");
    if (proc == nullptr) return {found.begin(), found.end()};
    while (dirent* e = ::readdir(proc)) {
        const std::string pid = e->d_name;
        if (pid.empty() || pid.find_first_not_of("0123456789") != std::string::npos) continue;
        std::ifstream maps("/proc/" + pid + "/maps");
        for (std::string line; std::getline(maps, line);) {
            const auto at = line.find(label);
            if (at == std::string::npos) continue;
            std::istringstream fields(line);
            std::string range, perms, offset, dev, inode;
            fields >> range >> perms >> offset >> dev >> inode;
            const auto end = line.find(' ', at);
            found.insert(line.substr(at + 1, end == std::string::npos ? std::string::npos : end - at - 1) + "#" + inode);
        }
        const std::string fd_dir = "/proc/" + pid + "/fd";
        if (DIR* fds = ::opendir(fd_dir.c_str())) {
            while (dirent* f = ::readdir(fds)) {
                char target[256] = {};
                const std::string link = fd_dir + "/" + f->d_name;
                const ssize_t n = ::readlink(link.c_str(), target, sizeof target - 1);
                if (n <= 0 || std::string_view(target, static_cast<std::size_t>(n)).find(label) != 0) continue;
                struct stat st{};
                if (::stat(link.c_str(), &st) != 0) continue;
                std::string text(target + 1, static_cast<std::size_t>(n) - 1);
                text = text.substr(0, text.find(' '));
                found.insert(text + "#" + std::to_string(st.st_ino));
            }
            ::closedir(fds);
        }
    }
    ::closedir(proc);
    return {found.begin(), found.end()};
}

}  // namespace warmpool::testing
