// JobFate: what becomes of a job that a worker held when the worker died. Pure logic, no
// processes, so every case is unit-tested; the supervisor gathers the facts and acts on the fate.
//
//   finished  its reply is out (the worker finished it, or published the reply just before dying)
//   requeue   it never started: it goes back to the front of its client's queue, same attempt
//   retry     it was running and its function is retryable: queued again as the next attempt
//   fail      it was running: the client gets `kind` with `message`
//   drop      its client is gone: nobody to tell
#pragma once

#include <cstdint>
#include <string>

#include "warmpool/error_kind.hpp"

namespace warmpool {

struct DeathFacts {
    bool finished = false;         // the worker marked it done before dying
    bool running = false;          // it was the job the worker was running
    bool reply_published = false;  // (running) its reply reached the client's ring
    bool session_live = false;     // its client is still connected
    bool pool_stopping = false;    // a graceful stop whose grace period ran out
    bool stopped_on_purpose = false;  // the supervisor killed the worker for this job
    ErrorKind purpose_kind = ErrorKind::timeout;  // why (timeout or cancelled)
    std::string purpose_message;
    std::string how;               // "killed by signal 6 (SIGABRT)", "exited with status 3"
    std::int32_t pid = 0;
    std::uint32_t attempt = 1;     // this run's attempt number, from 1
    std::uint32_t retries = 0;     // the function's extra attempts after a crash
    std::uint32_t poison_threshold = 3;
};

// What is known of a worker's death, the same for every job it held: the facts each job's
// DeathFacts start from.
struct WorkerDeath {
    std::string how;
    std::int32_t pid = 0;
    bool pool_stopping = false;
    ErrorKind stop_kind = ErrorKind::timeout;  // of the supervisor's stop order, if any
    std::string stop_message;
    std::uint32_t poison_threshold = 3;
};

inline DeathFacts death_facts(const WorkerDeath& death) {
    DeathFacts f;
    f.how = death.how;
    f.pid = death.pid;
    f.pool_stopping = death.pool_stopping;
    f.purpose_kind = death.stop_kind;
    f.purpose_message = death.stop_message;
    f.poison_threshold = death.poison_threshold;
    return f;
}

struct JobFate {
    enum class Kind { finished, requeue, retry, fail, drop };
    Kind kind = Kind::finished;
    ErrorKind error = ErrorKind::worker_crashed;  // for fail
    std::string message;                          // for fail
};

inline JobFate decide_job_fate(const DeathFacts& f) {
    using K = JobFate::Kind;
    if (f.finished) return {K::finished};
    if (!f.running) return {f.session_live ? K::requeue : K::drop};
    if (f.reply_published) return {K::finished};
    if (!f.session_live) return {K::drop};
    if (f.stopped_on_purpose) return {K::fail, f.purpose_kind, f.purpose_message};
    const std::string crash = "worker " + std::to_string(f.pid) + " " + f.how + " while running the job";
    if (f.pool_stopping) {
        return {K::fail, ErrorKind::shutting_down,
                "the pool stopped before the job could finish (" + crash + ")"};
    }
    const std::uint32_t attempts_allowed = f.retries + 1;
    if (f.attempt >= f.poison_threshold) {
        return {K::fail, ErrorKind::worker_crashed,
                crash + " (attempt " + std::to_string(f.attempt) + "); quarantined as poison: it crashed " +
                    std::to_string(f.attempt) + " workers (poison_threshold " +
                    std::to_string(f.poison_threshold) + ") and is not retried again"};
    }
    if (f.attempt < attempts_allowed) return {K::retry};
    if (f.retries > 0) {
        return {K::fail, ErrorKind::worker_crashed,
                crash + " (attempt " + std::to_string(f.attempt) + " of " +
                    std::to_string(attempts_allowed) + ")"};
    }
    return {K::fail, ErrorKind::worker_crashed, crash};
}

}  // namespace warmpool
