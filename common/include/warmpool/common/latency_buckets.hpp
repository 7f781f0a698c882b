// The buckets every duration the pool measures (a job's queue wait, its run time) is counted in:
// log-scale, four to each power of two, from about 1 µs to about 137 s. Pure arithmetic on
// nanoseconds, shared by the workers (which count into them, shm_layout.hpp: WorkerTimings) and
// the supervisor (which reads percentiles from them, daemon/latency_histogram.hpp).
//
// Bucket 0 holds everything below 2^10 ns (1.024 µs); bucket 1 + 4 * (o - 10) + s holds
// [(4 + s) * 2^(o-2), (5 + s) * 2^(o-2)) ns for octaves o = 10 .. 36; the last bucket holds
// 2^37 ns (137.4 s) and more. A bucket's upper bound is at most 25 % above its lower bound, so a
// figure read as the upper bound of the bucket that holds it is never below the true value and
// at most 25 % above it (for values of at least 1.024 µs).
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <limits>

namespace warmpool {

inline constexpr unsigned kLatencyFirstOctave = 10;   // 2^10 ns: the first bound
inline constexpr unsigned kLatencyLastOctave = 36;    // up to 2^37 ns
inline constexpr std::size_t kLatencySubBuckets = 4;  // per power of two
inline constexpr std::size_t kLatencyBuckets =
    1 + (kLatencyLastOctave - kLatencyFirstOctave + 1) * kLatencySubBuckets + 1;

// The bucket a duration of `ns` nanoseconds is counted in (negative durations count as 0).
constexpr std::size_t latency_bucket(std::int64_t ns) {
    if (ns < (std::int64_t{1} << kLatencyFirstOctave)) return 0;
    const auto value = static_cast<std::uint64_t>(ns);
    const unsigned octave = static_cast<unsigned>(std::bit_width(value)) - 1;
    if (octave > kLatencyLastOctave) return kLatencyBuckets - 1;
    const std::size_t sub = (value >> (octave - 2)) & (kLatencySubBuckets - 1);
    return 1 + (octave - kLatencyFirstOctave) * kLatencySubBuckets + sub;
}

// The exclusive upper bound of bucket `i`, in nanoseconds; the last bucket's is the largest
// int64 (it has none).
constexpr std::int64_t latency_bucket_upper_ns(std::size_t i) {
    if (i == 0) return std::int64_t{1} << kLatencyFirstOctave;
    if (i >= kLatencyBuckets - 1) return std::numeric_limits<std::int64_t>::max();
    const unsigned octave =
        kLatencyFirstOctave + static_cast<unsigned>((i - 1) / kLatencySubBuckets);
    const auto sub = static_cast<std::int64_t>((i - 1) % kLatencySubBuckets);
    return (5 + sub) << (octave - 2);
}

}  // namespace warmpool
