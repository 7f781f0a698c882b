// RespawnPolicy: when to start a replacement for a dead worker. Pure logic, no processes.
//
// Workers that die before finishing initialisation back off exponentially (so a broken job
// library does not become a fork loop); a worker that served and then died is replaced at once.
#pragma once

#include <algorithm>
#include <cstdint>

namespace warmpool {

class RespawnPolicy {
public:
    static constexpr std::int64_t kFirstDelayNs = 100'000'000;   // 100 ms
    static constexpr std::int64_t kMaxDelayNs = 30'000'000'000;  // 30 s

    // Records a death; returns how long to wait before the replacement starts.
    std::int64_t on_death(bool was_ready) {
        if (was_ready) {
            failed_inits_ = 0;
            return 0;
        }
        ++failed_inits_;
        std::int64_t delay = kFirstDelayNs;
        for (unsigned i = 1; i < failed_inits_ && delay < kMaxDelayNs; ++i) delay *= 2;
        return std::min(delay, kMaxDelayNs);
    }
    void on_ready() { failed_inits_ = 0; }
    unsigned consecutive_failed_inits() const { return failed_inits_; }

private:
    unsigned failed_inits_ = 0;
};

}  // namespace warmpool
