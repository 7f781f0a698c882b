// AdaptiveSpin: whether a waiter should spin before it sleeps, learned from its recent waits.
//
// Spinning pays when what is awaited comes within the spin window: a wake-up through the kernel
// costs more. When it comes much later (the jobs run for milliseconds), every spin is wasted, and
// on a small machine it is taken from a worker running a job: the spinner competes for a core,
// and a spinner's sched_yield can hand its core to a CPU-bound job until the next scheduler tick
// (milliseconds) while the hand-over it waits for stalls. So a waiter stops spinning after
// kMissesToStop waits in a row that each lasted more than kNearMissFactor spin windows, and
// spins again after the first wait that did not (it times every wait, spinning or not). Waits a
// little longer than the window (a caller pausing 100 µs between calls) keep it spinning: part of
// them is caught, and sleeping at once would make every one of them pay a wake-up.
//
// Shared by the threads of one waiter; relaxed atomics: a stale count only costs one spin.
#pragma once

#include <atomic>
#include <cstdint>

namespace warmpool {

class AdaptiveSpin {
public:
    static constexpr std::uint32_t kMissesToStop = 4;
    static constexpr std::int64_t kNearMissFactor = 4;

    // Asked once at the start of each wait.
    bool spin_now() const { return misses_.load(std::memory_order_relaxed) < kMissesToStop; }

    // What was awaited came after `waited_ns`, for a waiter whose spin window is `window_ns`
    // (whether or not it spun this time).
    void waited(std::int64_t waited_ns, std::int64_t window_ns) {
        if (waited_ns <= kNearMissFactor * window_ns) {
            misses_.store(0, std::memory_order_relaxed);
        } else if (misses_.load(std::memory_order_relaxed) < kMissesToStop) {
            misses_.fetch_add(1, std::memory_order_relaxed);
        }
    }

private:
    std::atomic<std::uint32_t> misses_{0};
};

}  // namespace warmpool
