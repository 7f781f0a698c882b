// JobIntake: the ways into the sessions' queues, and the ways out of them other than a worker.
//
// In: a session's submit ring (drain_submit_ring), a lane post no worker is coming for
// (take_posted_lanes, take_stale_lane_posts), and the jobs of a dead worker that go back to the
// front of their queue (resolve_held_jobs, by decide_job_fate). A job coming in is checked once
// (job_refusal, common/job_checks.hpp), counted once as submitted, and given its function's
// run-time estimates.
// Out without a worker: a cancel of a job still queued or posted, a deadline that passed while
// the job was queued, the pool stopping. Each such job gets its one terminal reply and count,
// through answer().
//
// It owns only whether jobs taken in may still run; the queues are the SessionTable's. In
// shared memory it consumes the submit rings (through the SessionTable's consumers) and takes
// posts off lanes (take_off_lane); it writes nothing else. The supervisor's one thread only.
#pragma once

#include <cstdint>
#include <string>

#include "warmpool/common/pool_memory.hpp"
#include "warmpool/daemon/fifo.hpp"
#include "warmpool/daemon/function_catalog.hpp"
#include "warmpool/daemon/job_fate.hpp"
#include "warmpool/daemon/pending_job.hpp"
#include "warmpool/daemon/pool_config.hpp"
#include "warmpool/daemon/pool_counters.hpp"
#include "warmpool/daemon/session_table.hpp"
#include "warmpool/daemon/stop_order.hpp"

namespace warmpool {

class JobIntake {
public:
    JobIntake(const PoolConfig& config, SessionTable& sessions, FunctionCatalog& functions, PoolCounters& counters,
              const QueueTotals& totals);

    // Once the pool stops, a job taken in is answered shutting_down instead of queued.
    void stop_accepting() { accepting_ = false; }

    enum class Drained { nothing, some, corrupt };
    // Moves jobs from the session's submit ring into its queue, within the session's share (see
    // the .cpp). `corrupt`: the client wrote what is not a job; the caller drops the client.
    Drained drain_submit_ring(SessionSlot& session, std::int64_t now);
    // Queues every post on a lane now: a worker saw posts it could not take, or the worker that
    // watched died.
    void take_posted_lanes(std::int64_t now);
    // The backstop, at every housekeeping tick: a post still there, same ticket, since the last
    // tick has no worker coming for it (its watcher may be stopped by a debugger): it is queued.
    void take_stale_lane_posts(std::int64_t now);

    // A cancel of a job not yet with a worker. True if it was queued or still posted on the
    // session's lane, and is answered `cancelled`.
    bool cancel_waiting(SessionSlot& session, std::uint64_t job_id, std::int64_t now);
    // Answers deadline_exceeded to queued jobs whose deadline passed, even while no worker is
    // free to look at them.
    void expire_deadlines(std::int64_t now);
    // The pool stops: every queued job is answered shutting_down with `message`.
    void refuse_all_queued(const std::string& message);

    // Every job the dead worker in `slot` held (Dispatcher::release_all), resolved exactly once
    // (job_fate.hpp): requeued at the front of its queue, retried, answered, dropped with its
    // session, or counted as finished. `stop` is the order the supervisor had given the worker.
    void resolve_held_jobs(unsigned slot, Fifo<InFlightJob> held, const WorkerDeath& death, const StopOrder& stop,
                           const PoolMemory& pool);

    // The one terminal reply (and count) of a job that did not reach a worker, or did not
    // come back from one.
    void answer(SessionSlot& session, const JobRecord& record, ErrorKind kind, const std::string& message,
                std::uint32_t items);

private:
    // Checks and counts the job just put at the back of the session's queue, or answers and
    // removes it.
    void accept(SessionSlot& session, std::int64_t now);
    void take_lane_post(SessionSlot& session, std::uint64_t word, std::int64_t now);

    const PoolConfig& config_;
    SessionTable& sessions_;
    FunctionCatalog& functions_;
    PoolCounters& counters_;
    const QueueTotals& totals_;
    bool accepting_ = true;
};

}  // namespace warmpool
