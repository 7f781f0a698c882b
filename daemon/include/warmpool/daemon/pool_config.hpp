// PoolConfig: every setting of one pool, each with a default, so warmpoold runs with no options.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "warmpool/common/sys_result.hpp"

namespace warmpool {

struct PoolConfig {
    std::string name = "default";
    unsigned workers = 0;          // 0: the number of cores
    std::string jobs_library;      // empty: the bundled example jobs
    std::string runtime_dir;       // empty: default_runtime_dir()
    std::string log_level = "info";

    // Limits and sizes. Ring sizes are powers of two; inline_max must fit a quarter of each.
    unsigned max_sessions = 64;
    unsigned prefetch = 16;               // jobs queued per worker when its jobs are short
    std::uint64_t queue_capacity = 1u << 20;  // jobs held by the dispatcher across sessions
    std::uint64_t submit_ring_bytes = 1u << 20;
    std::uint64_t control_ring_bytes = 64u << 10;
    std::uint64_t reply_ring_bytes = 1u << 20;
    std::uint64_t inbox_ring_bytes = 1u << 20;
    std::uint32_t inline_max = 64u << 10;  // larger payloads travel as blobs

    // Access control (guarantee 6).
    unsigned socket_mode = 0660;
    std::string group;                      // empty: the daemon's group
    std::vector<std::string> allow_users;   // besides the daemon's own user and root
    std::vector<std::string> allow_groups;  // members may connect

    double grace_period_s = 10.0;  // graceful stop: how long running jobs may finish

    // Fills defaults that depend on the machine and checks every value.
    Status finalise();
    unsigned worker_slots() const { return workers * 2; }  // room for replacements
};

}  // namespace warmpool
