// PendingJob: a job the supervisor holds, copied out of a client's submit ring and validated.
#pragma once

#include <cstdint>
#include <string>

#include "warmpool/common/shm_layout.hpp"
#include "warmpool/daemon/dispatch_policy.hpp"

namespace warmpool {

struct PendingJob {
    JobRecord record{};
    std::string payload;       // inline payload, or a BlobRef's bytes
    std::uint32_t items = 1;   // calls it carries (a batch carries many)
    FunctionStats* stats = nullptr;  // its function's run times (owned by the supervisor)
};

// Whether a job still waiting at `now` is past its latest start (deadline_ns; 0: none): it is then
// answered deadline_exceeded, with kDeadlinePassedMessage, instead of run. The one rule for the
// dispatcher's pass and for the sweep of queues no worker is free to look at.
constexpr bool start_deadline_passed(const JobRecord& record, std::int64_t now) {
    return record.deadline_ns != 0 && now > record.deadline_ns;
}
inline constexpr const char* kDeadlinePassedMessage = "the job's deadline passed while it was queued";

// A job given to a worker and not yet finished: the supervisor's knowledge of every job in
// flight. `seq` is its position in the worker's inbox.
struct InFlightJob {
    std::uint64_t seq = 0;
    std::int64_t dispatched_ns = 0;
    std::int64_t timeout_ns = 0;  // run-time limit; 0: none
    bool exclusive = false;       // nothing may be queued behind it (dispatch_policy.hpp)
    PendingJob job;
};

}  // namespace warmpool
