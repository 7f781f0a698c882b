// Dispatcher: hands queued jobs to workers and keeps track of every job a worker holds.
//
// It owns, per worker slot, the supervisor's side of the inbox ring (the producer), the jobs
// the worker holds in inbox order (InFlightJob; their inbox sequence numbers are consecutive),
// and the reply-ring room set aside per session for their replies (dispatch_policy.hpp); how long
// each priority level has waited (priority_aging.hpp); and a pass's working memory, kept between
// passes so that a pass allocates nothing.
//
// In shared memory it writes only the inbox rings (as their one producer) and rings a worker's
// inbox_wake; it reads the worker records and the reply tails. It is the only unit that puts a
// job into a worker's inbox and the only one that takes a held job off its list (finished, or
// its worker dead). The supervisor's one thread only.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "warmpool/common/byte_ring.hpp"
#include "warmpool/common/pool_memory.hpp"
#include "warmpool/daemon/dispatch_policy.hpp"
#include "warmpool/daemon/fifo.hpp"
#include "warmpool/daemon/function_catalog.hpp"
#include "warmpool/daemon/pending_job.hpp"
#include "warmpool/daemon/pool_config.hpp"
#include "warmpool/daemon/pool_counters.hpp"
#include "warmpool/daemon/priority_aging.hpp"
#include "warmpool/daemon/session_table.hpp"
#include "warmpool/daemon/worker_slots.hpp"

namespace warmpool {

// What one worker holds, as the dispatcher placed it.
struct WorkerHoldings {
    RingProducer inbox;
    std::uint64_t next_inbox_seq = 0;
    Fifo<InFlightJob> jobs;           // in inbox order
    std::uint64_t exclusive_held = 0;  // exclusive jobs among `jobs`
    // Reply-ring bytes set aside per session slot for the replies of the jobs in `jobs`.
    std::vector<std::uint64_t> reply_reserved;
    std::int64_t last_completion_ns = 0;

    // The held job the worker runs, by WorkerRecord::running_seq; null if none of ours.
    const InFlightJob* running(std::uint64_t running_seq) const;
};

class Dispatcher {
public:
    Dispatcher(const PoolConfig& config, PoolMemory pool, unsigned session_slots);

    const WorkerHoldings& holdings(unsigned slot) const { return workers_[slot]; }
    // A new worker in `slot`, over its freshly reset inbox.
    void start_worker(unsigned slot);
    // One pass: hands queued jobs to workers until every session with queued jobs is served or
    // held back. A queued job whose deadline passed is answered instead. True if anything moved.
    bool dispatch(std::int64_t now, SessionTable& sessions, std::span<const WorkerSlot> workers,
                  const FunctionCatalog& functions, PoolCounters& counters);
    // Takes off the list the jobs the worker in `slot` marked done, counting their outcomes and
    // run times. True if any.
    bool collect(unsigned slot, std::int64_t now, SessionTable& sessions, PoolCounters& counters);
    // The worker in `slot` died: every job it held, for the caller to resolve (job_fate.hpp).
    Fifo<InFlightJob> release_all(unsigned slot, SessionTable& sessions);
    // Jobs held by all workers.
    std::uint64_t jobs_held() const;
    std::uint64_t reply_reserve() const { return reply_reserve_; }

private:
    const PoolConfig& config_;
    PoolMemory pool_;
    std::uint64_t reply_reserve_;
    std::vector<WorkerHoldings> workers_;
    unsigned session_cursor_ = 0;
    unsigned worker_cursor_ = 0;
    PriorityAging aging_;
    // A pass's working memory.
    struct PassSession {
        unsigned slot;           // in the session table
        unsigned row;            // its row of pass_room_
        unsigned level = 0;      // the priority level of its next job, this round
        unsigned effective = 0;  // ... and the level that counts as (aging_)
    };
    std::vector<WorkerCandidate> pass_workers_;
    std::vector<PassSession> pass_sessions_;   // sessions with queued jobs, in turn order
    std::vector<std::uint64_t> pass_room_;     // [row][worker]: reply_room_bytes, or unknown
    std::vector<unsigned char> pass_touched_;  // workers given jobs: publish and wake once
};

}  // namespace warmpool
