// TestUser and TestGroup: real extra accounts for tests of access between peers, created with
// useradd/groupadd and removed by the destructor whatever the test's outcome; run_as(): a probe
// run in a child process under another identity. Root only: a test that is not root skips
// (needs_root()). Names carry the test process's pid, so parallel tests never share an account.
#pragma once

#include <fcntl.h>
#include <grp.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "test_pool.hpp"

namespace warmpool::testing {

// True if this process may create accounts.
inline bool is_root() { return ::geteuid() == 0; }

// Runs `probe` in a child process with identity (uid, gid, supplementary groups) and returns what
// it returned, or why it could not run. Root only.
inline std::string run_as(uid_t uid, gid_t gid, const std::vector<gid_t>& supplementary,
                          const std::function<std::string()>& probe) {
    int out[2];
    if (::pipe2(out, O_CLOEXEC) != 0) throw std::runtime_error("pipe");
    const pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error("fork");
    if (pid == 0) {
        ::close(out[0]);
        std::string answer;
        if (::setgroups(supplementary.size(), supplementary.data()) != 0 || ::setgid(gid) != 0 ||
            ::setuid(uid) != 0) {
            answer = std::string("cannot change identity: ") + std::strerror(errno);
        } else {
            try {
                answer = probe();
            } catch (const std::exception& e) {
                answer = std::string("exception: ") + e.what();
            }
        }
        [[maybe_unused]] ssize_t n = ::write(out[1], answer.data(), answer.size());
        ::_exit(0);
    }
    ::close(out[1]);
    std::string answer;
    char buf[4096];
    for (ssize_t n; (n = ::read(out[0], buf, sizeof buf)) > 0;) answer.append(buf, static_cast<std::size_t>(n));
    ::close(out[0]);
    int status = 0;
    ::waitpid(pid, &status, 0);
    return answer;
}

class TestGroup {
public:
    explicit TestGroup(const std::string& what) : name_("wpg" + std::to_string(::getpid()) + what) {
        run_command({"/usr/sbin/groupdel", name_});  // a leftover of a killed run with a recycled pid
        auto r = run_command({"/usr/sbin/groupadd", name_});
        if (r.exit_code != 0) throw std::runtime_error("groupadd " + name_ + ": " + r.err);
    }
    ~TestGroup() { run_command({"/usr/sbin/groupdel", name_}); }
    TestGroup(const TestGroup&) = delete;
    TestGroup& operator=(const TestGroup&) = delete;
    const std::string& name() const { return name_; }

private:
    std::string name_;
};

class TestUser {
public:
    explicit TestUser(const std::string& what, const std::vector<std::string>& groups = {})
        : name_("wpu" + std::to_string(::getpid()) + what) {
        run_command({"/usr/sbin/userdel", "-f", name_});
        std::vector<std::string> argv{"/usr/sbin/useradd", "-M", "-N", "-s", "/usr/sbin/nologin"};
        if (!groups.empty()) {
            std::string list;
            for (const auto& g : groups) list += (list.empty() ? "" : ",") + g;
            argv.insert(argv.end(), {"-G", list});
        }
        argv.push_back(name_);
        auto r = run_command(argv);
        if (r.exit_code != 0) throw std::runtime_error("useradd " + name_ + ": " + r.err);
        auto id = run_command({"/usr/bin/id", "-u", name_});
        uid_ = static_cast<uid_t>(std::stoul(id.out));
    }
    ~TestUser() { run_command({"/usr/sbin/userdel", "-f", name_}); }
    TestUser(const TestUser&) = delete;
    TestUser& operator=(const TestUser&) = delete;

    const std::string& name() const { return name_; }
    uid_t uid() const { return uid_; }

    // Runs `argv` as this user (runuser), with `env` added.
    CommandResult run(std::vector<std::string> argv, const std::map<std::string, std::string>& env = {},
                      std::chrono::milliseconds timeout = std::chrono::seconds(60),
                      const std::string& input = {}) const {
        std::vector<std::string> full{"/usr/sbin/runuser", "-u", name_, "--", "/usr/bin/env"};
        for (const auto& [k, v] : env) full.push_back(k + "=" + v);
        full.insert(full.end(), argv.begin(), argv.end());
        return run_command(full, input, {}, timeout);
    }

private:
    std::string name_;
    uid_t uid_ = 0;
};

}  // namespace warmpool::testing
