// Result types of the example jobs that are not classic workloads, shared by the job library
// and by C++ clients (the type fingerprint requires both sides to use the very same types).
#pragma once

#include <cstdint>

#include "warmpool/serialization.hpp"

namespace warmpool::examples {

// Result of sleep_report: who slept, for how long, and when it woke.
struct SleepReport {
    std::int64_t pid = 0;
    double slept = 0;          // seconds actually slept, measured on the monotonic clock
    std::int64_t time_ns = 0;  // CLOCK_REALTIME when the sleep ended
};

template <class Archive>
void serialize(Archive& archive, SleepReport& report) {
    archive(report.pid, report.slept, report.time_ns);
}
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(SleepReport, pid, slept, time_ns)

// Result of worker_info: lets tests see which worker ran a job and prove init ran once.
struct WorkerInfo {
    std::int64_t pid = 0;    // the process that constructed the job object
    std::int64_t inits = 0;  // successful per-worker inits in this process so far
    std::int64_t jobs = 0;   // worker_info calls on this job object, this one included
};

template <class Archive>
void serialize(Archive& archive, WorkerInfo& info) {
    archive(info.pid, info.inits, info.jobs);
}
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(WorkerInfo, pid, inits, jobs)

}  // namespace warmpool::examples
