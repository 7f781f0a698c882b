// PoolCounters: the pool's running totals of jobs and worker lives, as status reports them.
//
// Owned by the supervisor and lent, by reference, to the units that count (the dispatcher, the
// lanes, the stops); its one thread only. add_outcome() is the one rule for turning what a job
// came to (an outcome slot, shm_layout.hpp: JobOutcome) into totals.
#pragma once

#include <cstddef>
#include <cstdint>

#include "warmpool/common/shm_layout.hpp"
#include "warmpool/error_kind.hpp"

namespace warmpool {

struct PoolCounters {
    std::uint64_t submitted = 0;
    std::uint64_t completed = 0;
    std::uint64_t failed[kOutcomeSlots] = {};  // by ErrorKind
    std::uint64_t dropped = 0;                 // of clients that left
    std::uint64_t retried = 0;                 // attempts after a crash
    std::uint64_t worker_exits = 0;
    std::uint64_t worker_crashes = 0;  // died while serving, not on purpose
    std::uint64_t failed_inits = 0;
    std::uint64_t recycled = 0;
    std::uint64_t timeouts = 0;  // running jobs stopped at their time limit
    std::uint64_t reloads = 0;
    std::uint64_t direct = 0;  // jobs that went by lane, straight from client to worker

    // `calls` calls ended in outcome slot `slot`: 0 a result, an ErrorKind, or kOutcomeDropped.
    void add_outcome(std::size_t slot, std::uint64_t calls) {
        if (slot == 0) {
            completed += calls;
        } else if (slot == kOutcomeDropped) {
            dropped += calls;
        } else if (slot < kOutcomeSlots) {
            failed[slot] += calls;
        }
    }
    void add_outcomes(const JobOutcome& outcome) {
        for (std::size_t slot = 0; slot < kOutcomeSlots; ++slot) add_outcome(slot, outcome.counts[slot]);
    }
    void add_failure(ErrorKind kind, std::uint64_t calls) { add_outcome(static_cast<std::size_t>(kind), calls); }
};

}  // namespace warmpool
