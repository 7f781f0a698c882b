// The scaling policy: how many workers the pool should have now, which to start and which idle
// worker to retire, and why. Pure functions of the pool's scaling settings and a picture of its
// workers at one instant; no clock, no process, no shared memory. WorkerScaler
// (worker_scaler.hpp) gathers the picture on the supervisor's tick and carries the decision out
// through WorkerLives.
//
// The modes (docs/CONFIG.md, [scaling]):
//   static   `workers` workers, always (the default);
//   dynamic  between min_workers and max_workers, keeping min_spare to max_spare workers idle;
//   ondemand none until a job waits, at most max_workers; an idle one retires after idle_timeout.
// An admin target (`warmpool scale N`) replaces `workers` in static mode and min_workers (the
// floor) in the others.
//
// Never is a busy worker chosen to retire: only workers listed idle (ready, holding no job and
// running no lane job) are, the idlest (idle the longest) first.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "warmpool/daemon/pool_config.hpp"

namespace warmpool {

enum class ScalingMode : std::uint8_t { fixed, dynamic, ondemand };  // fixed: written "static"
std::string_view to_string(ScalingMode mode);
// "static", "dynamic" or "ondemand"; anything else is none of them.
std::optional<ScalingMode> scaling_mode_named(std::string_view name);

struct ScalingLimits {
    ScalingMode mode = ScalingMode::fixed;
    unsigned workers = 1;      // static: the count
    unsigned min_workers = 0;  // dynamic: the floor
    unsigned max_workers = 1;  // dynamic, ondemand: the ceiling; static: the most `scale` may ask
    unsigned min_spare = 0;    // dynamic: start workers while fewer are idle (or starting)
    unsigned max_spare = 0;    // dynamic: retire idle workers beyond this many
    unsigned spawn_rate = 1;   // dynamic, ondemand: most workers started in any one second
    std::int64_t idle_timeout_ns = 0;  // dynamic, ondemand: how long a worker is idle before it may retire
};
// The limits a (finalised) configuration sets.
ScalingLimits scaling_limits(const PoolConfig& config);

// Workers the pool starts with: static `workers`; dynamic max(min_workers, min_spare) up to
// max_workers; ondemand none. The pool is ready (READY=1, `wait-ready`) once these are: at once,
// with the sockets listening, when there are none.
unsigned initial_workers(const ScalingLimits& limits);

// Why `warmpool scale N` cannot be carried out under `limits`; empty if it can.
std::string scale_refusal(const ScalingLimits& limits, unsigned target);

struct IdleWorker {
    unsigned slot = 0;
    std::int64_t idle_since_ns = 0;  // when it last finished a job or became ready
};

// The pool's members (workers not being replaced or retiring) at one instant.
struct ScalingPicture {
    unsigned starting = 0;         // members still initialising
    unsigned busy = 0;             // ready members holding or running a job
    std::vector<IdleWorker> idle;  // ready members holding none
    std::uint64_t queued_jobs = 0;  // waiting in the dispatcher's queues for a worker
    unsigned started_last_second = 0;  // workers the policy started in the last second
    std::optional<unsigned> admin_target;
    std::int64_t now_ns = 0;

    unsigned members() const { return starting + busy + static_cast<unsigned>(idle.size()); }
};

struct ScalingDecision {
    unsigned start = 0;           // workers to start now
    std::vector<unsigned> retire;  // slots of idle workers to retire now, idlest first
    unsigned target = 0;          // members after this decision: members + start - retired
    std::string reason;           // why, as status shows it
    bool changes() const { return start > 0 || !retire.empty(); }
};
ScalingDecision decide_scaling(const ScalingLimits& limits, const ScalingPicture& picture);

}  // namespace warmpool
