#include "warmpool/daemon/timings_recorder.hpp"

#include <cstring>
#include <utility>

namespace warmpool {

namespace {

// Only the worker writes its slot's counts: no read-modify-write needed.
void add(std::atomic<std::uint64_t>& counter, std::uint64_t amount) {
    counter.store(counter.load(std::memory_order_relaxed) + amount, std::memory_order_relaxed);
}

void count(TimingHistogram& histogram, std::int64_t ns) {
    const std::int64_t clamped = ns < 0 ? 0 : ns;
    add(histogram.buckets[latency_bucket(clamped)], 1);
    add(histogram.sum_ns, static_cast<std::uint64_t>(clamped));
}

bool same_name(const char (&a)[kFunctionNameMax + 1], const char (&b)[kFunctionNameMax + 1]) {
    return std::strncmp(a, b, kFunctionNameMax + 1) == 0;
}

}  // namespace

TimingsRecorder::TimingsRecorder(WorkerTimings& timings, Serves serves)
    : timings_(&timings), serves_(std::move(serves)) {
    timings_->life_busy_ns.store(0, std::memory_order_relaxed);
}

FunctionTimings* TimingsRecorder::entry_for(const char (&function)[kFunctionNameMax + 1]) {
    const std::uint32_t named = timings_->named.load(std::memory_order_relaxed);
    if (last_ < named && same_name(timings_->functions[last_].name, function))
        return &timings_->functions[last_];
    for (std::uint32_t i = 0; i < named; ++i) {
        if (same_name(timings_->functions[i].name, function)) {
            last_ = i;
            return &timings_->functions[i];
        }
    }
    const std::string_view name(function, strnlen(function, kFunctionNameMax));
    if (!serves_(name)) return nullptr;
    last_ = kTimedFunctions + 1;  // the shared entry is never cached: its name matches nothing
    if (named >= kTimedFunctions) return &timings_->functions[kTimedFunctions];
    FunctionTimings& entry = timings_->functions[named];
    std::memset(entry.name, 0, sizeof entry.name);
    std::memcpy(entry.name, name.data(), name.size());
    timings_->named.store(named + 1, std::memory_order_release);
    last_ = named;
    return &entry;
}

void TimingsRecorder::record(const char (&function)[kFunctionNameMax + 1], std::int64_t queue_ns,
                             std::int64_t run_ns) {
    FunctionTimings* entry = entry_for(function);
    if (entry == nullptr) return;
    count(entry->queue_wait, queue_ns);
    count(entry->run_time, run_ns);
    const auto busy = static_cast<std::uint64_t>(run_ns < 0 ? 0 : run_ns);
    add(timings_->busy_ns, busy);
    add(timings_->life_busy_ns, busy);
}

}  // namespace warmpool
