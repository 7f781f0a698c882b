// TimingsRecorder: a worker's side of the latency figures. After each job it ran (from its inbox
// or a lane) the worker counts the job's queue wait and run time into its slot's WorkerTimings
// (shm_layout.hpp), under the job's function, and adds the run time to the slot's busy time.
// The supervisor reads those counts (JobTimings, job_timings.hpp); this is the only writer of
// a slot's WorkerTimings, used by the worker in that slot only, on its own thread.
//
// Per job it does no allocation, no lock and no system call: a name compared with the entry the
// last job used, a bucket found by arithmetic, a few relaxed stores. Only functions the worker
// serves get an entry (`serves` decides, asked only for a name not yet among the entries), so
// the names are never a client's invention; the first kTimedFunctions of them are timed by name
// and any further ones together in the last entry.
#pragma once

#include <cstdint>
#include <functional>
#include <string_view>

#include "warmpool/common/shm_layout.hpp"

namespace warmpool {

class TimingsRecorder {
public:
    using Serves = std::function<bool(std::string_view function)>;

    // Starts the life of a new worker in the slot: its own busy time from 0; the counts and
    // names its predecessors left are carried on.
    TimingsRecorder(WorkerTimings& timings, Serves serves);

    // A job of `function` (a record's NUL-terminated name) waited `queue_ns` before it started
    // and ran `run_ns`. A function the worker does not serve is not timed.
    void record(const char (&function)[kFunctionNameMax + 1], std::int64_t queue_ns,
                std::int64_t run_ns);

private:
    // The entry of `function`, naming a new one if there is room; nullptr if it is not served.
    FunctionTimings* entry_for(const char (&function)[kFunctionNameMax + 1]);

    WorkerTimings* timings_;
    Serves serves_;
    std::uint32_t last_ = kTimedFunctions + 1;  // the entry the last job used; none yet
};

}  // namespace warmpool
