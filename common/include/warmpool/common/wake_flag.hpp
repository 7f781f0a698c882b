// WakeFlag: the "consumer is about to sleep" handshake that lets producers skip system calls.
//
// Lives in shared memory. The consumer announces it is going to sleep (prepare_sleep), re-checks
// its queues, then sleeps; a producer, after publishing, wakes it only if it announced so. Under
// load consumers never sleep, so producers make no system call per message. Any process may be
// killed at any point: the flag holds no lock, and a stale "waiting" only costs one spare wake-up.
//
// Two ways to sleep: on the futex word `sequence` (workers and clients), or in epoll on an
// eventfd (the supervisor, which must also watch sockets and signals).
#pragma once

#include <atomic>
#include <cstdint>
#include <ctime>

namespace warmpool {

struct WakeFlag {
    std::atomic<std::uint32_t> waiting{0};
    std::atomic<std::uint32_t> sequence{0};

    // Consumer: call before the final re-check of the queues. Returns the token for sleep_futex.
    std::uint32_t prepare_sleep() {
        waiting.store(1, std::memory_order_seq_cst);
        std::atomic_thread_fence(std::memory_order_seq_cst);
        return sequence.load(std::memory_order_seq_cst);
    }
    // Consumer: the re-check found work, or the sleep ended.
    void cancel_sleep() { waiting.store(0, std::memory_order_relaxed); }

    // Consumer: sleeps until a producer notified after prepare_sleep() or the timeout passed;
    // returns at once if a producer has already claimed the announcement.
    // timeout_ns < 0 waits without limit.
    void sleep_futex(std::uint32_t token, std::int64_t timeout_ns);

    // Producer: call after publishing. Returns true if the consumer was asleep (or about to be)
    // and has now been woken through the futex.
    bool notify_futex();
    // Producer: as notify_futex, but wakes a consumer sleeping in epoll on `eventfd`.
    bool notify_eventfd(int eventfd);

private:
    bool claim_wakeup() {
        std::atomic_thread_fence(std::memory_order_seq_cst);
        if (waiting.load(std::memory_order_relaxed) == 0) return false;
        return waiting.exchange(0, std::memory_order_acq_rel) != 0;
    }
};

static_assert(sizeof(WakeFlag) == 8);
static_assert(std::atomic<std::uint32_t>::is_always_lock_free);

// Direct futex calls on a shared (not process-private) word.
int futex_wait(std::atomic<std::uint32_t>* word, std::uint32_t expected, std::int64_t timeout_ns);
void futex_wake_all(std::atomic<std::uint32_t>* word);

}  // namespace warmpool
