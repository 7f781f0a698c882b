// Tests for the latency buckets (common/latency_buckets.hpp) and the histograms the supervisor
// reads percentiles from (latency_histogram.hpp): bucket bounds, the error bound of a
// percentile, and the minute window rotated by a clock the test passes.

#include "warmpool/daemon/latency_histogram.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <vector>

namespace warmpool {
namespace {

constexpr std::int64_t kSecond = 1'000'000'000;

TEST(LatencyBuckets, EveryValueLiesBelowItsBucketsUpperBoundAndAtOrAboveThePrevious) {
    std::mt19937_64 random(7);
    std::vector<std::int64_t> values = {0,    1,         1023,    1024,
                                        1025, 1279,      1280,    2047,
                                        2048, 1'000'000, kSecond, (std::int64_t{1} << 37) - 1};
    for (int i = 0; i < 20000; ++i)
        values.push_back(static_cast<std::int64_t>(random() % (std::uint64_t{1} << 37)));
    for (std::int64_t v : values) {
        const std::size_t b = latency_bucket(v);
        ASSERT_LT(b, kLatencyBuckets - 1) << v;
        EXPECT_LT(v, latency_bucket_upper_ns(b)) << v;
        if (b > 0) {
            EXPECT_GE(v, latency_bucket_upper_ns(b - 1)) << v;
        }
    }
}

TEST(LatencyBuckets, BoundsGrowByAtMostAQuarterAndCoverOneMicrosecondToOverAHundredSeconds) {
    EXPECT_EQ(latency_bucket_upper_ns(0), 1024);
    for (std::size_t b = 1; b + 1 < kLatencyBuckets; ++b) {
        const std::int64_t lower = latency_bucket_upper_ns(b - 1),
                           upper = latency_bucket_upper_ns(b);
        EXPECT_GT(upper, lower);
        EXPECT_LE(static_cast<double>(upper), 1.25 * static_cast<double>(lower)) << b;
    }
    EXPECT_GT(latency_bucket_upper_ns(kLatencyBuckets - 2), 100 * kSecond);
    EXPECT_EQ(latency_bucket(std::int64_t{1} << 37), kLatencyBuckets - 1);
    EXPECT_EQ(latency_bucket(std::int64_t{1} << 62), kLatencyBuckets - 1);
    EXPECT_EQ(latency_bucket(-5), 0u);
}

// A percentile is never below the true one and at most 25 % above it.
TEST(LatencyHistogram, PercentilesAreWithinTheDocumentedBound) {
    std::mt19937_64 random(11);
    std::lognormal_distribution<double> durations(11.0, 2.0);  // around 60 µs, widely spread
    std::vector<std::int64_t> values;
    LatencyHistogram h;
    for (int i = 0; i < 10000; ++i) {
        const auto v = std::max<std::int64_t>(2000, static_cast<std::int64_t>(durations(random)));
        values.push_back(v);
        h.add(v);
    }
    std::sort(values.begin(), values.end());
    for (double q : {0.5, 0.9, 0.99, 1.0}) {
        const std::int64_t truth = values[static_cast<std::size_t>(std::ceil(q * 10000)) - 1];
        const std::int64_t read = h.quantile_ns(q);
        EXPECT_GE(read, truth) << q;
        EXPECT_LE(static_cast<double>(read), 1.25 * static_cast<double>(truth)) << q;
    }
    EXPECT_EQ(h.count(), 10000u);
    std::uint64_t sum = 0;
    for (std::int64_t v : values) sum += static_cast<std::uint64_t>(v);
    EXPECT_EQ(h.sum_ns, sum);
}

TEST(LatencyHistogram, EmptyReadsZeroAndOneValueIsEveryPercentile) {
    LatencyHistogram h;
    EXPECT_EQ(h.quantile_ns(0.5), 0);
    EXPECT_EQ(summarize(h).count, 0u);
    h.add(3 * kSecond);
    const LatencySummary s = summarize(h);
    EXPECT_EQ(s.count, 1u);
    EXPECT_EQ(s.p50, s.max);
    EXPECT_GE(s.p50, 3.0);
    EXPECT_LE(s.p50, 3.75);
    EXPECT_DOUBLE_EQ(s.sum_seconds, 3.0);
}

TEST(LatencyHistogram, CountBelowAnOctaveBoundIsExact) {
    LatencyHistogram h;
    h.add(1023);
    h.add(1024);
    h.add(4095);
    h.add(4096);
    h.add(200 * kSecond);
    EXPECT_EQ(h.count_below(1024), 1u);
    EXPECT_EQ(h.count_below(4096), 3u);
    EXPECT_EQ(h.count_below(std::int64_t{1} << 36), 4u);
    EXPECT_EQ(h.count(), 5u);
    // The overflow bucket reads as its lower bound: 2^37 ns.
    EXPECT_EQ(h.max_ns(), std::int64_t{1} << 37);
}

TEST(WindowedLatency, TheMinuteForgetsWhatIsOlderAndTheTotalKeepsEverything) {
    LatencyHistogram one;
    one.add(5000);
    WindowedLatency w;
    const std::int64_t t0 = 1000 * kSecond;
    w.rotate_to(t0);
    w.add(one);
    w.rotate_to(t0 + 15 * kSecond);
    w.add(one);
    w.add(one);
    EXPECT_EQ(w.last_minute().count(), 3u);
    w.rotate_to(t0 + 55 * kSecond);  // the sixth period from t0's: still within the minute
    EXPECT_EQ(w.last_minute().count(), 3u);
    w.rotate_to(t0 + 60 * kSecond);  // the seventh: t0's period goes
    EXPECT_EQ(w.last_minute().count(), 2u);
    w.rotate_to(t0 + 70 * kSecond);
    EXPECT_EQ(w.last_minute().count(), 0u);
    EXPECT_EQ(w.since_start().count(), 3u);
    w.add(one);
    w.rotate_to(t0 + 3600 * kSecond);  // a long gap clears all at once
    EXPECT_EQ(w.last_minute().count(), 0u);
    EXPECT_EQ(w.since_start().count(), 4u);
    w.rotate_to(t0 + 10 * kSecond);  // a clock that seems to go back moves nothing
    w.add(one);
    EXPECT_EQ(w.last_minute().count(), 1u);
}

}  // namespace
}  // namespace warmpool
