// Per-call settings for submit/call/map.
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>

#include "warmpool/priority.hpp"

namespace warmpool {

struct CallOptions {
    // Absolute deadline: a job still queued then ends as deadline_exceeded without running.
    std::optional<std::chrono::steady_clock::time_point> deadline;
    // Run-time limit carried to the pool (0: the function's default).
    std::chrono::milliseconds timeout{0};
    // When the pool's queue is full: wait for room (true) or fail at once with overloaded.
    bool wait_if_full = true;
    // With wait_if_full, how long to wait for room before overloaded (negative: no limit).
    std::chrono::milliseconds max_wait{-1};
    // Higher runs first: kPriorityMin (-8) to kPriorityMax (7), 0 by default (priority.hpp).
    // Outside that range the call fails at once with JobError bad_request. A queued job's
    // priority rises with its wait, so a low one is delayed, never starved (docs/ARCHITECTURE.md).
    int priority = kPriorityDefault;
};

struct MapOptions {
    CallOptions call;
    // Inputs per batch; 0 picks a size that keeps every worker busy with few round trips.
    std::size_t chunk_size = 0;
};

}  // namespace warmpool
