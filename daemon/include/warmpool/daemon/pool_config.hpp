// PoolConfig: every setting of one pool, each with a default, so warmpoold runs with no options.
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "warmpool/common/sys_result.hpp"

namespace warmpool {

// Settings of one job function (config file section [functions.NAME]).
struct FunctionConfig {
    double timeout_s = -1;  // run-time limit; 0: none; negative: the pool's default_timeout_s
    unsigned retries = 0;   // extra attempts on another worker after a crash
    bool operator==(const FunctionConfig&) const = default;
};

struct PoolConfig {
    std::string name = "default";
    unsigned workers = 0;          // 0: the number of cores
    std::string jobs_library;      // empty: the bundled example jobs
    std::string runtime_dir;       // empty: default_runtime_dir()
    std::string log_level = "info";
    // "none": workers run wherever the kernel puts them; "spread": each worker is pinned to a
    // CPU of its own while there are enough (cpu_placement.hpp says when that helps).
    std::string cpu_affinity = "none";
    // Run the job library's shared set-up (its preload hook; the Python modules' imports) once,
    // in a zygote that forks every worker (zygote.hpp), instead of once in each worker.
    bool preload = false;

    // Limits and sizes. Ring sizes are powers of two; inline_max must fit a quarter of each.
    unsigned max_sessions = 64;
    // Most jobs queued per worker when they are short (fewer the longer they take: about 1 ms of
    // work at most, dispatch_policy.hpp). Deep enough for tiny jobs that a worker, once it has
    // the core, works through a real batch: on two cores every hand-over between the processes
    // of a job's path is a context switch, which costs more than many tiny jobs.
    unsigned prefetch = 256;
    std::uint64_t queue_capacity = 1u << 20;  // jobs held by the dispatcher across sessions
    // Shares, so that no one peer takes what the others need: sessions one uid may hold (0: half
    // of max_sessions), and the jobs and payload bytes one session may have queued. Beyond
    // that its submissions wait in its own submit ring.
    unsigned max_sessions_per_user = 0;
    std::uint64_t session_queue_capacity = 1u << 14;
    std::uint64_t session_queue_bytes = 8u << 20;
    std::uint64_t submit_ring_bytes = 1u << 20;
    std::uint64_t control_ring_bytes = 64u << 10;
    std::uint64_t reply_ring_bytes = 1u << 20;
    std::uint64_t inbox_ring_bytes = 1u << 20;
    // Larger payloads travel as blobs. A single call's result goes inline only up to 4 KiB
    // (reply_inline_max, dispatch_policy.hpp); a batch's, and every argument, up to this.
    std::uint32_t inline_max = 64u << 10;

    // Access control (access_policy.hpp).
    unsigned socket_mode = 0660;
    std::string group;                      // empty: the daemon's group
    std::vector<std::string> allow_users;   // besides the daemon's own user and root
    std::vector<std::string> allow_groups;  // members may connect

    double grace_period_s = 10.0;  // graceful stop: how long running jobs may finish

    // Supervision (issue: timeouts, retries, recycling).
    double default_timeout_s = 0;       // run-time limit of functions without one; 0: none
    double kill_grace_s = 1.0;          // after a timeout: SIGTERM, then SIGKILL this much later
    unsigned poison_threshold = 3;      // crashes after which a job is never retried again
    std::uint64_t max_jobs = 0;         // recycle a worker after this many jobs; 0: never
    double max_jobs_jitter = 0.1;       // +- this fraction, so workers do not recycle together
    std::uint64_t max_rss_bytes = 0;    // recycle a worker whose RSS passes this; 0: never
    std::map<std::string, FunctionConfig, std::less<>> functions;

    // Scaling (scaling_policy.hpp): "static" keeps `workers`; "dynamic" and "ondemand" move
    // between min_workers (ondemand: 0) and max_workers (0: `workers`) as jobs come and go.
    std::string scaling_mode = "static";
    unsigned min_workers = 0;
    unsigned max_workers = 0;
    unsigned min_spare = 1;          // dynamic: idle workers kept at least
    unsigned max_spare = 3;          // dynamic: idle workers kept at most
    unsigned spawn_rate = 32;        // dynamic, ondemand: workers started per second at most
    double idle_timeout_s = 10.0;    // dynamic, ondemand: idle this long before a worker may retire

    // Python jobs (python_host.hpp). Workers embed an interpreter only if `python` is set, which
    // any module or path implies.
    bool python = false;
    std::vector<std::string> python_modules;  // imported by each worker: their @warmpool.job exports
    std::vector<std::string> python_path;     // prepended to sys.path
    // Who may send pickle (which runs code as the daemon's user when unpickled): "owner" (the
    // daemon's uid and root), "allowed" (every peer allowed to connect) or "never".
    std::string python_pickle = "owner";

    std::string config_file;  // the TOML file these settings came from; empty: none

    // The settings of `function`, with pool defaults applied.
    FunctionConfig function(std::string_view name) const {
        FunctionConfig f;
        if (auto it = functions.find(name); it != functions.end()) f = it->second;
        if (f.timeout_s < 0) f.timeout_s = default_timeout_s;
        return f;
    }

    // Fills defaults that depend on the machine and checks every value.
    Status finalise();
    Status finalise_scaling();  // part of finalise(): the [scaling] settings and their combinations
    // The most workers the pool may have at once: the worker slots are sized for it.
    unsigned most_workers() const { return scaling_mode == "static" ? std::max(workers, max_workers) : max_workers; }
    unsigned worker_slots() const { return most_workers() * 2; }  // room for replacements
    unsigned sessions_per_user() const {
        return max_sessions_per_user != 0 ? std::min(max_sessions_per_user, max_sessions)
                                          : std::max(1u, max_sessions / 2);
    }
    // Jobs a session may always queue, however full the pool's queue is.
    std::uint64_t guaranteed_queue_share() const {
        return std::max<std::uint64_t>(1, queue_capacity / max_sessions);
    }
};

// Produces the configuration afresh (re-reading the config file and re-applying command-line
// options); the supervisor calls it on reload.
using ConfigLoader = std::function<Result<PoolConfig>()>;

}  // namespace warmpool
