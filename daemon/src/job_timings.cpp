#include "warmpool/daemon/job_timings.hpp"

#include <algorithm>
#include <cstring>

#include "warmpool/common/utf8.hpp"

namespace warmpool {

namespace {

// The counts of `shared` now, and what they added since `seen`, which becomes them.
LatencyHistogram take_delta(const TimingHistogram& shared, LatencyHistogram& seen) {
    LatencyHistogram delta;
    for (std::size_t i = 0; i < kLatencyBuckets; ++i) {
        const std::uint64_t now = shared.buckets[i].load(std::memory_order_relaxed);
        delta.buckets[i] = now - seen.buckets[i];
        seen.buckets[i] = now;
    }
    const std::uint64_t sum = shared.sum_ns.load(std::memory_order_relaxed);
    delta.sum_ns = sum - seen.sum_ns;
    seen.sum_ns = sum;
    return delta;
}

bool counted_any(const LatencyHistogram& delta) {
    return std::any_of(delta.buckets.begin(), delta.buckets.end(),
                       [](std::uint64_t n) { return n != 0; });
}

}  // namespace

JobTimings::JobTimings(std::uint32_t worker_slots) : slots_(worker_slots) {
    functions_.reserve(kTimedFunctions + 1);
}

std::size_t JobTimings::function_index(const std::string& name) {
    for (std::size_t i = 0; i < functions_.size(); ++i) {
        if (functions_[i].name == name) return i;
    }
    const std::size_t named = static_cast<std::size_t>(
        std::count_if(functions_.begin(), functions_.end(),
                      [](const Function& f) { return f.name != kOtherFunctions; }));
    if (named >= kTimedFunctions && name != kOtherFunctions) return function_index(kOtherFunctions);
    functions_.push_back(Function{name, {}, {}});
    return functions_.size() - 1;
}

void JobTimings::fold(Slot& slot, const FunctionTimings& entry, std::size_t e,
                      std::int64_t now_ns) {
    const LatencyHistogram queue = take_delta(entry.queue_wait, slot.queue_seen[e]);
    const LatencyHistogram run = take_delta(entry.run_time, slot.run_seen[e]);
    if (!counted_any(queue) && !counted_any(run)) return;
    // The shared entry's function is looked up only once something was counted in it.
    if (e == kTimedFunctions) slot.function[e] = function_index(kOtherFunctions);
    Function& f = functions_[slot.function[e]];
    f.queue_wait.rotate_to(now_ns);
    f.run_time.rotate_to(now_ns);
    f.queue_wait.add(queue);
    f.run_time.add(run);
}

void JobTimings::sample_busy(Slot& slot, const PoolMemory& pool, std::uint32_t index,
                             std::int64_t now_ns) {
    const WorkerTimings& timings = pool.worker_timings(index);
    const WorkerRecord& record = pool.worker(index);
    std::uint64_t running = 0;
    if (record.running_seq.load(std::memory_order_acquire) != kNoRunningJob) {
        const std::int64_t since = record.running_since_ns.load(std::memory_order_relaxed);
        if (since > 0 && since < now_ns) running = static_cast<std::uint64_t>(now_ns - since);
    }
    slot.busy_now = timings.busy_ns.load(std::memory_order_relaxed) + running;
    slot.life_busy_now = timings.life_busy_ns.load(std::memory_order_relaxed) + running;
    slot.busy_at_ns = now_ns;
}

void JobTimings::collect(const PoolMemory& pool, std::int64_t now_ns) {
    const std::int64_t epoch = now_ns / WindowedLatency::kWindowNs;
    for (Function& f : functions_) {
        f.queue_wait.rotate_to(now_ns);
        f.run_time.rotate_to(now_ns);
    }
    const std::uint32_t slots = std::min<std::uint32_t>(static_cast<std::uint32_t>(slots_.size()),
                                                        pool.layout.worker_slots);
    for (std::uint32_t index = 0; index < slots; ++index) {
        Slot& slot = slots_[index];
        const WorkerTimings& timings = pool.worker_timings(index);
        const std::uint32_t named =
            std::min<std::uint32_t>(timings.named.load(std::memory_order_acquire), kTimedFunctions);
        for (; slot.named < named; ++slot.named) {
            const char* text = timings.functions[slot.named].name;
            const std::string name =
                valid_utf8(std::string_view(text, strnlen(text, kFunctionNameMax)));
            slot.function[slot.named] = function_index(name);
        }
        for (std::uint32_t e = 0; e < named; ++e) fold(slot, timings.functions[e], e, now_ns);
        fold(slot, timings.functions[kTimedFunctions], kTimedFunctions, now_ns);
        sample_busy(slot, pool, index, now_ns);
        if (epoch != epoch_)
            slot.busy[static_cast<std::size_t>(epoch) % slot.busy.size()] = {now_ns, slot.busy_now};
    }
    epoch_ = epoch;
}

double JobTimings::busy_last_minute(std::uint32_t index, std::int64_t now_ns) const {
    if (index >= slots_.size()) return 0;
    const Slot& slot = slots_[index];
    const BusySample* oldest = nullptr;
    for (const BusySample& s : slot.busy) {
        const std::int64_t minute =
            static_cast<std::int64_t>(WindowedLatency::kWindows) * WindowedLatency::kWindowNs;
        if (s.at_ns < 0 || now_ns - s.at_ns > minute) continue;
        if (oldest == nullptr || s.at_ns < oldest->at_ns) oldest = &s;
    }
    if (oldest == nullptr || slot.busy_at_ns <= oldest->at_ns) return 0;
    // A worker that died under a job takes that job's running time with it: busy can go back.
    const double busy = static_cast<double>(slot.busy_now) - static_cast<double>(oldest->busy_ns);
    const double share = busy / static_cast<double>(slot.busy_at_ns - oldest->at_ns);
    return std::clamp(share, 0.0, 1.0);
}

double JobTimings::busy_since_start(std::uint32_t index, std::int64_t now_ns,
                                    std::int64_t worker_started_ns) const {
    if (index >= slots_.size() || now_ns <= worker_started_ns) return 0;
    const double share = static_cast<double>(slots_[index].life_busy_now) /
                         static_cast<double>(now_ns - worker_started_ns);
    return std::clamp(share, 0.0, 1.0);
}

}  // namespace warmpool
