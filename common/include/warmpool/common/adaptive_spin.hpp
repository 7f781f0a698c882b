// AdaptiveSpin: whether a waiter should spin before it sleeps, learned from its recent spins.
//
// Spinning pays when what is awaited comes within the spin window: a wake-up through the kernel
// costs more. When it does not (the jobs run for milliseconds), every spin is wasted, and on a
// small machine it is taken from a worker running a job: the spinner competes for a core, and a
// spinner's sched_yield can hand its core to a CPU-bound job until the next scheduler tick
// (milliseconds) while the hand-over it waits for stalls. So a waiter spins while any of its last
// kMissesToStop spins found what it waited for, and after that many misses in a row it sleeps at
// once, except every kProbeEvery-th wait, when it spins again to notice that waits got short.
//
// Shared by the threads of one waiter; relaxed atomics: a stale count only costs one spin.
#pragma once

#include <atomic>
#include <cstdint>

namespace warmpool {

class AdaptiveSpin {
public:
    static constexpr std::uint32_t kMissesToStop = 4;
    static constexpr std::uint32_t kProbeEvery = 16;

    // Asked once at the start of each wait.
    bool spin_now() {
        if (misses_.load(std::memory_order_relaxed) < kMissesToStop) return true;
        return skipped_.fetch_add(1, std::memory_order_relaxed) % kProbeEvery == kProbeEvery - 1;
    }
    // What was awaited came while spinning.
    void found() { misses_.store(0, std::memory_order_relaxed); }
    // The spin window ran out; the waiter goes to sleep.
    void missed() {
        if (misses_.load(std::memory_order_relaxed) < kMissesToStop) {
            misses_.fetch_add(1, std::memory_order_relaxed);
        }
    }

private:
    std::atomic<std::uint32_t> misses_{0};
    std::atomic<std::uint32_t> skipped_{0};
};

}  // namespace warmpool
