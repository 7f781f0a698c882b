// PoolLifecycle: where the pool is in its life, and the rules of its transitions. The state
// machine (the supervisor's loop carries it out):
//
//   starting --all workers ready--> running --SIGTERM/stop--> stopping --all workers gone--> done
//      |                              |  ^                        ^
//      |              SIGHUP/reload   |  | new workers ready      |
//      |              (new workers    v  | (old ones retire)      |
//      |              start)        running, reloading            |
//      +--a worker's initialisation fails: exit non-zero ---------+ (immediately)
//
// Plain data and pure functions; the Supervisor holds the one PoolLifecycle and alone changes it.
// Nothing of it is in shared memory.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "warmpool/daemon/pool_config.hpp"

namespace warmpool {

enum class PoolState { starting, running, stopping, done };
const char* to_string(PoolState state);

struct PoolLifecycle {
    PoolState state = PoolState::starting;
    int exit_code = 0;
    std::int64_t started_ns = 0;       // monotonic
    std::int64_t started_wall_ns = 0;  // wall clock, for status
    std::int64_t stop_deadline_ns = 0;  // stopping: when the grace period ends
    // The configuration's generation: a worker started with an older one is a reload's old worker.
    std::uint64_t config_generation = 1;
    // During a reload, the configuration to return to if the new workers cannot initialise.
    std::optional<PoolConfig> previous_config;

    bool reloading() const { return previous_config.has_value(); }
    bool accepting_sessions() const { return state == PoolState::starting || state == PoolState::running; }
};

// What a reload may switch to: `next`, with whatever the shared memory and sockets were built
// from kept as in `running` (it cannot change while they exist), and at most half of the
// `worker_slots` as workers (the old workers serve until the new ones are ready). Returns a
// warning for each setting kept or capped.
std::vector<std::string> settle_reloaded_config(PoolConfig& next, const PoolConfig& running, unsigned worker_slots);

}  // namespace warmpool
