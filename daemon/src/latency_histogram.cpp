#include "warmpool/daemon/latency_histogram.hpp"

#include <cmath>

namespace warmpool {

std::int64_t LatencyHistogram::quantile_ns(double q) const {
    const std::uint64_t total = count();
    if (total == 0) return 0;
    // The rank of the q-quantile among `total` values, 1-based: ceil(q * total), at least 1.
    auto rank = static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(total)));
    if (rank < 1) rank = 1;
    if (rank > total) rank = total;
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < kLatencyBuckets; ++i) {
        seen += buckets[i];
        if (seen >= rank) {
            return i == kLatencyBuckets - 1 ? latency_bucket_upper_ns(i - 1)
                                            : latency_bucket_upper_ns(i);
        }
    }
    return latency_bucket_upper_ns(kLatencyBuckets - 2);  // not reached
}

LatencySummary summarize(const LatencyHistogram& histogram) {
    auto seconds = [](std::int64_t ns) { return static_cast<double>(ns) / 1e9; };
    LatencySummary s;
    s.count = histogram.count();
    s.sum_seconds = static_cast<double>(histogram.sum_ns) / 1e9;
    s.p50 = seconds(histogram.quantile_ns(0.5));
    s.p90 = seconds(histogram.quantile_ns(0.9));
    s.p99 = seconds(histogram.quantile_ns(0.99));
    s.max = seconds(histogram.max_ns());
    return s;
}

void WindowedLatency::rotate_to(std::int64_t now_ns) {
    const std::int64_t epoch = now_ns / kWindowNs;
    if (epoch_ < 0 || epoch - epoch_ >= static_cast<std::int64_t>(kWindows)) {
        if (epoch_ >= 0) windows_.fill(LatencyHistogram{});
        epoch_ = epoch;
        return;
    }
    while (epoch_ < epoch) {
        ++epoch_;
        windows_[static_cast<std::size_t>(epoch_) % kWindows] = LatencyHistogram{};
    }
}

void WindowedLatency::add(const LatencyHistogram& delta) {
    windows_[static_cast<std::size_t>(epoch_ < 0 ? 0 : epoch_) % kWindows].add(delta);
    total_.add(delta);
}

LatencyHistogram WindowedLatency::last_minute() const {
    LatencyHistogram sum;
    for (const auto& w : windows_) sum.add(w);
    return sum;
}

}  // namespace warmpool
