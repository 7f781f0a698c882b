#include "warmpool/common/wake_flag.hpp"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>

namespace warmpool {

int futex_wait(std::atomic<std::uint32_t>* word, std::uint32_t expected, std::int64_t timeout_ns) {
    timespec ts{};
    timespec* tsp = nullptr;
    if (timeout_ns >= 0) {
        ts.tv_sec = static_cast<time_t>(timeout_ns / 1'000'000'000);
        ts.tv_nsec = static_cast<long>(timeout_ns % 1'000'000'000);
        tsp = &ts;
    }
    // A shared futex (no FUTEX_PRIVATE_FLAG): the word lives in memory shared between processes.
    long rc = syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(word), FUTEX_WAIT, expected, tsp,
                      nullptr, 0);
    return rc == 0 ? 0 : errno;
}

void futex_wake_all(std::atomic<std::uint32_t>* word) {
    syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(word), FUTEX_WAKE, INT32_MAX, nullptr,
            nullptr, 0);
}

void WakeFlag::sleep_futex(std::uint32_t token, std::int64_t timeout_ns) {
    // A producer that saw an earlier announcement (one since cancelled) may claim this one
    // before the token was read, and bump `sequence` before it, too: the futex word would then
    // match the token, and no later producer would wake us, since none sees "waiting". Such a
    // claim always clears `waiting` first, so seeing it clear means "woken": do not sleep.
    if (waiting.load(std::memory_order_seq_cst) == 0) return;
    futex_wait(&sequence, token, timeout_ns);
    waiting.store(0, std::memory_order_relaxed);
}

bool WakeFlag::notify_futex() {
    if (!claim_wakeup()) return false;
    sequence.fetch_add(1, std::memory_order_seq_cst);
    futex_wake_all(&sequence);
    return true;
}

bool WakeFlag::notify_eventfd(int eventfd) {
    if (!claim_wakeup()) return false;
    sequence.fetch_add(1, std::memory_order_relaxed);
    std::uint64_t one = 1;
    // EAGAIN means the counter is already huge, i.e. a wake-up is pending anyway.
    [[maybe_unused]] ssize_t n = ::write(eventfd, &one, sizeof one);
    return true;
}

}  // namespace warmpool
