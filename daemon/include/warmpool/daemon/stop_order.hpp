// StopOrder: the supervisor's order to stop the job a worker is running (its time limit passed,
// or its client cancelled it with force), by stopping the worker. And the one rule for when a
// running job's time limit passes.
//
// Pure data and pure functions; the supervisor's WorkerSlot holds one order per worker, and
// the code that reaps the worker reads it to answer the job with `kind` and `message`.
#pragma once

#include <cstdint>
#include <limits>
#include <string>

#include "warmpool/daemon/lanes.hpp"
#include "warmpool/error_kind.hpp"

namespace warmpool {

struct StopOrder {
    // The job stopped, as WorkerRecord::running_seq named it (running_word_of_inbox_seq(), or
    // kLaneRunningSeq); kNoRunningJob: no order.
    std::uint64_t running = kNoRunningJob;
    LaneJobKey lane;  // with running == kLaneRunningSeq: which lane job
    ErrorKind kind = ErrorKind::timeout;
    std::string message;
    // When SIGKILL follows the SIGTERM; kNoKillDue once SIGKILL went (or was the signal); -1: no
    // signal sent.
    std::int64_t kill_at_ns = -1;

    static constexpr std::int64_t kNoKillDue = std::numeric_limits<std::int64_t>::max();
    bool given() const { return running != kNoRunningJob; }
    bool signalled() const { return kill_at_ns >= 0; }
    bool kill_due() const { return kill_at_ns >= 0 && kill_at_ns != kNoKillDue; }
};

// When a running job with run-time limit `timeout_ns` (0: none) that started at `started_ns`
// is over its limit: the first instant past it, or -1 for never.
constexpr std::int64_t time_limit_passes_at(std::int64_t started_ns, std::int64_t timeout_ns) {
    return timeout_ns > 0 ? started_ns + timeout_ns + 1 : -1;
}

}  // namespace warmpool
