// JobTimings: the supervisor's side of the latency figures. It owns the per-function queue-wait
// and run-time histograms (since start and over the last minute, latency_histogram.hpp) and
// each worker slot's busy time, made from what the workers count into their slots'
// WorkerTimings (shm_layout.hpp, written by TimingsRecorder); it writes nothing in shared memory.
//
// The supervisor calls collect() from its housekeeping tick and before each status answer,
// never per job: a worker's counts are cumulative, so collect() folds in the difference since it
// last looked, however many jobs that covers. Functions are kept by name, at most
// kTimedFunctions of them, in the order first seen; any further ones (after reloads to other
// libraries) are counted together under kOtherFunctions, which is what keeps the Prometheus
// labels bounded. Functions come only from names the workers serve (TimingsRecorder).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "warmpool/common/pool_memory.hpp"
#include "warmpool/daemon/latency_histogram.hpp"

namespace warmpool {

inline constexpr const char* kOtherFunctions = "_other";

class JobTimings {
public:
    struct Function {
        std::string name;
        WindowedLatency queue_wait;
        WindowedLatency run_time;
    };

    explicit JobTimings(std::uint32_t worker_slots);

    // Folds in what every worker slot counted since the last call, at time `now_ns`.
    void collect(const PoolMemory& pool, std::int64_t now_ns);

    // In the order first seen; kOtherFunctions, if present, anywhere.
    const std::vector<Function>& functions() const { return functions_; }

    // The share of time the workers of `slot` spent running jobs: over the last minute (between
    // 50 and 60 s; since the first collect() if that is shorter), and for the worker now in the
    // slot since it started `worker_started_ns`. A running job counts from its start.
    double busy_last_minute(std::uint32_t slot, std::int64_t now_ns) const;
    double busy_since_start(std::uint32_t slot, std::int64_t now_ns,
                            std::int64_t worker_started_ns) const;

private:
    struct BusySample {
        std::int64_t at_ns = -1;  // -1: none
        std::uint64_t busy_ns = 0;
    };
    struct Slot {
        std::uint32_t named = 0;  // entries whose name was read
        // Per entry of the slot's WorkerTimings: the counts read last, and its Function.
        std::array<LatencyHistogram, kTimedFunctions + 1> queue_seen{};
        std::array<LatencyHistogram, kTimedFunctions + 1> run_seen{};
        std::array<std::size_t, kTimedFunctions + 1> function{};
        // busy (with the running job) at the first collect() of each of the last 10 s periods.
        std::array<BusySample, WindowedLatency::kWindows + 1> busy{};
        std::uint64_t busy_now = 0;
        std::uint64_t life_busy_now = 0;
        std::int64_t busy_at_ns = 0;
    };

    std::size_t function_index(const std::string& name);
    void fold(Slot& slot, const FunctionTimings& entry, std::size_t e, std::int64_t now_ns);
    void sample_busy(Slot& slot, const PoolMemory& pool, std::uint32_t index, std::int64_t now_ns);

    std::vector<Slot> slots_;
    std::vector<Function> functions_;
    std::int64_t epoch_ = -1;  // the 10 s period of the last collect()
};

}  // namespace warmpool
