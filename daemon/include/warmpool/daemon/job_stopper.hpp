// JobStopper: stops the jobs that must not run on, by stopping the worker that runs them: a job
// past its time limit (SIGTERM, then SIGKILL after kill_grace), and a job its client cancelled
// with force (SIGKILL). A stopped job is answered by whoever reaps the worker, from the
// StopOrder left here (job_fate.hpp); the worker is replaced as after any death.
//
// It writes each worker slot's StopOrder (worker_slots.hpp) and, in shared memory, a stopped
// worker's `lanes_until_jobs` (0: it takes no lane job after this one), so that the signal is for
// this job and no other. It reads the worker records and the Dispatcher's holdings. The time limit
// rule is stop_order.hpp's. The supervisor's one thread only.
#pragma once

#include <cstdint>
#include <string>

#include "warmpool/common/pool_memory.hpp"
#include "warmpool/daemon/dispatcher.hpp"
#include "warmpool/daemon/pool_config.hpp"
#include "warmpool/daemon/pool_counters.hpp"
#include "warmpool/daemon/worker_slots.hpp"
#include "warmpool/error_kind.hpp"

namespace warmpool {

class JobStopper {
public:
    JobStopper(const PoolConfig& config, PoolMemory pool, WorkerSlots& workers, const Dispatcher& dispatcher,
               PoolCounters& counters);

    // Stops the running jobs over their time limit at `now`, and sends SIGKILL to the workers
    // that ignored a SIGTERM past kill_grace.
    void supervise(std::int64_t now);
    // When supervise() next has something to do; -1: nothing pending.
    std::int64_t next_due_ns() const;

    // A cancel with force of a job a worker holds from its inbox (`session_slot`, `job_id`): if
    // it is running and alone on its worker, the worker is stopped; one queued behind others is
    // about to finish anyway and runs. True if a worker holds the job.
    bool cancel_held(unsigned session_slot, std::uint64_t job_id, std::int64_t now);
    // A cancel with force of a lane job of the session (`session_slot`, `generation`, its lane):
    // the worker that took it, or is claiming it, is stopped. True if one was.
    bool cancel_lane_job(unsigned session_slot, std::uint64_t generation, const Lane& lane, std::uint64_t job_id);

private:
    // Orders the stop of the job `running` (WorkerRecord::running_seq) in `slot`, if the worker
    // still runs that job, and sends `signal`.
    void stop(unsigned slot, std::uint64_t running, ErrorKind kind, const std::string& message, int signal,
              std::int64_t now);
    // Gives the worker in `slot` the order to stop job `running` (of lane job `lane`, for a lane
    // job) and sends `signal`; SIGKILL follows a SIGTERM kill_grace after `now`.
    void order(unsigned slot, std::uint64_t running, const LaneJobKey& lane, ErrorKind kind,
               const std::string& message, int signal, std::int64_t now);

    const PoolConfig& config_;
    PoolMemory pool_;
    WorkerSlots& workers_;
    const Dispatcher& dispatcher_;
    PoolCounters& counters_;
};

}  // namespace warmpool
