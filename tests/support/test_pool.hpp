// TestPool: a real warmpoold process in a private temporary runtime directory.
//
// Every test pool has a unique name (so parallel test processes never share sockets or shared
// memory), logs to a file in its directory, and is torn down by the destructor even when the
// test fails: SIGTERM, then SIGKILL after a bound, then the directory and any shared-memory
// object carrying its name are removed. If the test process itself dies, the daemon gets
// SIGTERM (parent-death signal) and cleans up after itself.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "warmpool/client.hpp"

namespace warmpool::testing {

struct CommandResult {
    int exit_code = -1;  // 128 + signal if it was killed
    std::string out;
    std::string err;
};

// A command's exit status and output, for a failed expectation's message.
inline std::string describe(const CommandResult& r) {
    return "exit " + std::to_string(r.exit_code) + "\nstdout: " + r.out + "\nstderr: " + r.err;
}

inline bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// Runs a program to completion with `input` on stdin; kills it after `timeout`.
CommandResult run_command(const std::vector<std::string>& argv, const std::string& input = {},
                          const std::map<std::string, std::string>& env = {},
                          std::chrono::milliseconds timeout = std::chrono::seconds(60));

// Polls `condition` until it holds or `timeout` passes.
bool wait_until(const std::function<bool()>& condition, std::chrono::milliseconds timeout);

class TestPool {
public:
    struct Options {
        unsigned workers = 2;
        std::vector<std::string> extra_args;
        std::map<std::string, std::string> env;  // set for the daemon (and so its workers)
        bool wait_ready = true;
        std::string jobs_library;  // empty: the bundled example jobs
        // Reuse a name and directory (to start a successor over a dead pool's leftovers). The
        // directory is then left for its first owner to remove.
        std::string name;
        std::string runtime_dir;
        // Nonzero: the daemon's RLIMIT_NOFILE (soft and hard), set before it starts.
        unsigned max_open_files = 0;
    };

    TestPool();
    explicit TestPool(Options options);
    ~TestPool();
    TestPool(const TestPool&) = delete;
    TestPool& operator=(const TestPool&) = delete;

    const std::string& name() const { return name_; }
    const std::string& runtime_dir() const { return dir_; }
    std::string control_socket() const;
    std::string status_socket() const;
    pid_t pid() const { return pid_; }

    Client connect() const;
    // The status socket's JSON; throws if it cannot be read.
    nlohmann::json status() const;
    // The status once the pool is at rest (nothing queued or in flight, every configured worker
    // live and ready), or the last one seen after 10 s.
    nlohmann::json settled_status() const;
    // Worker pids that are live and ready, from the status.
    std::vector<pid_t> ready_worker_pids() const;
    bool wait_ready(std::chrono::milliseconds timeout = std::chrono::seconds(30)) const;

    // Runs the warmpool CLI against this pool.
    CommandResult cli(const std::vector<std::string>& args, const std::string& input = {}) const;

    // Sends `sig` to the supervisor.
    void signal(int sig) const;
    // Waits for the supervisor to exit; returns its exit code (128 + signal if killed), or -1
    // if it is still running after `timeout`.
    int wait_exit(std::chrono::milliseconds timeout = std::chrono::seconds(30));
    bool running() const { return pid_ > 0; }
    std::string log() const;

    // The pool's shared-memory objects that still exist (pool_shared_memory()).
    std::vector<std::string> leftover_shm() const;

private:
    Options options_;
    std::string name_;
    std::string dir_;
    pid_t pid_ = -1;
    int exit_code_ = -1;
    bool owns_dir_ = true;
};

std::string warmpoold_path();
std::string warmpool_cli_path();
std::string example_jobs_path();

// The shared-memory objects of pool `pool` that still exist: its memfds ("warmpool.<pool>.<what>"
// "#" inode) that any process holds open or maps, and anything in /dev/shm carrying its name
// (which would be a regression: the pool names no shared memory).
std::vector<std::string> pool_shared_memory(const std::string& pool);

}  // namespace warmpool::testing
