// LatencyHistogram and WindowedLatency: durations counted in the log-scale buckets of
// latency_buckets.hpp, and what the status reads from them. Pure values: no clock (the caller
// passes the time), no shared memory, no allocation after construction; unit-tested alone.
//
// Percentiles and the maximum are read from the buckets: a figure is the upper bound of the
// bucket that holds the rank asked for, so it is never below the true value and at most 25 %
// above it (below 1.024 µs: reported as 1.024 µs). The sum is exact.
//
// WindowedLatency keeps the counts since start and those of the last minute, as six sub-windows
// of 10 s rotated by the caller's clock: "the last 60 s" is the current sub-window and the five
// before it, so it covers between 50 and 60 s.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "warmpool/common/latency_buckets.hpp"

namespace warmpool {

struct LatencyHistogram {
    std::array<std::uint64_t, kLatencyBuckets> buckets{};
    std::uint64_t sum_ns = 0;

    void add(std::int64_t ns) {
        ++buckets[latency_bucket(ns)];
        sum_ns += static_cast<std::uint64_t>(ns < 0 ? 0 : ns);
    }
    void add(const LatencyHistogram& other) {
        for (std::size_t i = 0; i < kLatencyBuckets; ++i) buckets[i] += other.buckets[i];
        sum_ns += other.sum_ns;
    }
    std::uint64_t count() const {
        std::uint64_t n = 0;
        for (std::uint64_t b : buckets) n += b;
        return n;
    }
    // Values counted below `upper_ns` (a bucket bound: exact; else counted up to the bucket that
    // holds it, exclusive).
    std::uint64_t count_below(std::int64_t upper_ns) const {
        std::uint64_t n = 0;
        for (std::size_t i = 0; i < kLatencyBuckets && latency_bucket_upper_ns(i) <= upper_ns; ++i)
            n += buckets[i];
        return n;
    }
    // The q-quantile (0 < q <= 1) in nanoseconds, as the upper bound of its bucket; 0 if empty.
    // The overflow bucket (137 s and more) reads as its lower bound.
    std::int64_t quantile_ns(double q) const;
    std::int64_t max_ns() const { return quantile_ns(1.0); }
};

// Figures of one histogram, in seconds, as the status shows them.
struct LatencySummary {
    std::uint64_t count = 0;
    double sum_seconds = 0;
    double p50 = 0, p90 = 0, p99 = 0, max = 0;
};
LatencySummary summarize(const LatencyHistogram& histogram);

class WindowedLatency {
public:
    static constexpr std::size_t kWindows = 6;
    static constexpr std::int64_t kWindowNs = 10'000'000'000;

    // Moves the current sub-window to the one `now_ns` falls in, clearing those it passes.
    void rotate_to(std::int64_t now_ns);
    // Counts `delta` into the current sub-window and the totals.
    void add(const LatencyHistogram& delta);

    LatencyHistogram last_minute() const;
    const LatencyHistogram& since_start() const { return total_; }

private:
    std::array<LatencyHistogram, kWindows> windows_{};
    LatencyHistogram total_{};
    std::int64_t epoch_ = -1;  // the 10 s period the current sub-window counts; none yet
};

}  // namespace warmpool
