// Child: a forked test process, killed and reaped on destruction so a failing test never leaves
// one behind. The child also dies with the test process (PR_SET_PDEATHSIG).
#pragma once

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <optional>
#include <string>
#include <thread>
#include <utility>

namespace warmpool::testing {

// A forked child running `body`; killed and reaped on destruction, so a failing test never
// leaves one behind. The child also dies with the test process (PR_SET_PDEATHSIG).
class Child {
public:
    template <class Body>
    static Child start(Body&& body) {
        const pid_t parent = ::getpid();
        const pid_t pid = ::fork();
        if (pid == 0) {
            ::prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (::getppid() != parent) ::_exit(97);
            int rc = 98;
            try {
                rc = body();
            } catch (...) {
                rc = 99;
            }
            ::_exit(rc);
        }
        return Child(pid);
    }

    Child(Child&& other) noexcept : pid_(std::exchange(other.pid_, -1)) {}
    Child& operator=(Child&&) = delete;
    ~Child() { kill_and_reap(); }

    pid_t pid() const { return pid_; }

    // The child's wait status once it exits within `timeout`; nullopt if it still runs.
    std::optional<int> wait(std::chrono::milliseconds timeout) {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        for (;;) {
            int status = 0;
            const pid_t r = ::waitpid(pid_, &status, WNOHANG);
            if (r == pid_) {
                pid_ = -1;
                return status;
            }
            if (r < 0 || std::chrono::steady_clock::now() >= deadline) return std::nullopt;
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
    }
    // The wait status after SIGKILL.
    int kill_and_reap() {
        int status = 0;
        if (pid_ > 0) {
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, &status, 0);
            pid_ = -1;
        }
        return status;
    }

    // The child's exit code if it exits normally within `timeout`; -1 if it has not exited
    // (the destructor then kills it), -2 if it died of a signal.
    int exit_code(std::chrono::milliseconds timeout) {
        const std::optional<int> status = wait(timeout);
        if (!status) return -1;
        return WIFEXITED(*status) ? WEXITSTATUS(*status) : -2;
    }

    // True once the child is blocked in the kernel (state S), e.g. in futex_wait.
    bool wait_until_sleeping(std::chrono::milliseconds timeout) const {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        while (std::chrono::steady_clock::now() < deadline) {
            std::ifstream stat("/proc/" + std::to_string(pid_) + "/stat");
            std::string line;
            std::getline(stat, line);
            const auto paren = line.rfind(')');
            if (paren != std::string::npos && paren + 2 < line.size() && line[paren + 2] == 'S') {
                return true;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
        return false;
    }

private:
    explicit Child(pid_t pid) : pid_(pid) {}
    pid_t pid_;
};

// The state letter of a process from /proc/PID/stat (R, S, T, t, Z, ...); '?' if it is gone.
inline char process_state(pid_t pid) {
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    std::getline(stat, line);
    const auto paren = line.rfind(')');
    return paren != std::string::npos && paren + 2 < line.size() ? line[paren + 2] : '?';
}

}  // namespace warmpool::testing
