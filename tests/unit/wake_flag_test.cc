// Tests for WakeFlag (wake_flag.hpp): the sleep/notify handshake between processes through a
// futex in a real shared-memory segment, the "no waiter, no system call" rule, the absence of
// lost wake-ups under a two-process ping-pong, and the eventfd variant the supervisor uses.

#include "warmpool/common/wake_flag.hpp"

#include <gtest/gtest.h>

#include "child_process.hpp"
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <fstream>
#include <new>
#include <optional>
#include <string>
#include <thread>
#include <utility>

#include "warmpool/common/clock.hpp"
#include "warmpool/common/shared_segment.hpp"
#include "warmpool/common/unique_fd.hpp"

namespace warmpool {
namespace {

using namespace std::chrono_literals;

constexpr std::int64_t kMs = 1'000'000;

using testing::Child;

// The flags and counters two processes share.
struct Shared {
    WakeFlag to_child;
    WakeFlag to_parent;
    std::atomic<std::uint64_t> ping{0};
    std::atomic<std::uint64_t> pong{0};
    std::atomic<std::uint32_t> child_ready{0};
    std::atomic<std::uint64_t> child_lost_wakeups{0};
};

// A Shared in a fresh shared-memory segment that the test owns (and so removes).
class SharedArea {
public:
    SharedArea() {
        static int counter = 0;
        auto segment = SharedSegment::create(
            "warmpool-ut." + std::to_string(::getpid()) + ".wake." + std::to_string(counter++),
            4096);
        if (!segment) {
            ADD_FAILURE() << segment.error().message();
            return;
        }
        segment_ = std::move(segment.value());
        new (segment_.data()) Shared();
    }
    bool ok() const { return segment_.valid(); }
    Shared* get() const { return reinterpret_cast<Shared*>(segment_.data()); }

private:
    SharedSegment segment_;
};

// Waits on `flag` until `counter` reaches `target`, the way a consumer does: announce, re-check,
// sleep. A sleep that ran into its timeout although the counter had reached the target is a
// lost wake-up. False if `deadline_ns` passed first.
bool wait_for(WakeFlag& flag, std::atomic<std::uint64_t>& counter, std::uint64_t target,
              std::int64_t deadline_ns, std::uint64_t* lost) {
    constexpr std::int64_t kSleepLimit = 1000 * kMs;
    for (;;) {
        if (counter.load(std::memory_order_acquire) >= target) return true;
        const std::uint32_t token = flag.prepare_sleep();
        if (counter.load(std::memory_order_acquire) >= target) {
            flag.cancel_sleep();
            return true;
        }
        const std::int64_t start = monotonic_ns();
        flag.sleep_futex(token, kSleepLimit);
        if (monotonic_ns() - start >= kSleepLimit &&
            counter.load(std::memory_order_acquire) >= target) {
            ++*lost;
        }
        if (monotonic_ns() > deadline_ns) return counter.load() >= target;
    }
}

TEST(WakeFlag, NotifyWakesAConsumerSleepingInAnotherProcess) {
    SharedArea area;
    ASSERT_TRUE(area.ok());
    Shared* s = area.get();
    Child child = Child::start([s] {
        const std::uint32_t token = s->to_child.prepare_sleep();
        if (s->ping.load() != 0) return 3;  // the re-check: nothing there yet
        s->child_ready.store(1);
        const std::int64_t start = monotonic_ns();
        s->to_child.sleep_futex(token, 5000 * kMs);
        const std::int64_t slept = monotonic_ns() - start;
        if (s->ping.load() != 42) return 4;  // woke up without the news
        if (s->to_child.waiting.load() != 0) return 5;
        return slept < 2000 * kMs ? 0 : 6;
    });
    ASSERT_GT(child.pid(), 0);
    const std::int64_t deadline = monotonic_ns() + 2000 * kMs;
    while (s->child_ready.load() == 0) {
        ASSERT_LT(monotonic_ns(), deadline) << "child never got ready";
        std::this_thread::sleep_for(1ms);
    }
    EXPECT_TRUE(child.wait_until_sleeping(2s));
    std::this_thread::sleep_for(20ms);  // well inside futex_wait now
    s->ping.store(42, std::memory_order_release);
    EXPECT_TRUE(s->to_child.notify_futex());
    const auto start = std::chrono::steady_clock::now();
    EXPECT_EQ(child.exit_code(2s), 0) << "-1: not woken within 2 s";
    EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
}

TEST(WakeFlag, NotifyWithoutAnnouncedWaiterReturnsFalseAndWakesNobody) {
    WakeFlag flag;
    EXPECT_FALSE(flag.notify_futex());
    EXPECT_EQ(flag.sequence.load(), 0u);

    flag.prepare_sleep();
    flag.cancel_sleep();  // the re-check found work
    EXPECT_FALSE(flag.notify_futex());
    EXPECT_EQ(flag.sequence.load(), 0u);

    const std::uint32_t token = flag.prepare_sleep();
    EXPECT_TRUE(flag.notify_futex());
    EXPECT_EQ(flag.sequence.load(), token + 1);
    EXPECT_EQ(flag.waiting.load(), 0u);
    EXPECT_FALSE(flag.notify_futex()) << "one announcement, one wake-up";
    EXPECT_EQ(flag.sequence.load(), token + 1);
}

TEST(WakeFlag, NotifyDoesNotWakeAProcessThatDidNotAnnounce) {
    SharedArea area;
    ASSERT_TRUE(area.ok());
    Shared* s = area.get();
    Child child = Child::start([s] {
        // Sleeps on the futex word without prepare_sleep(): no producer will wake it.
        s->child_ready.store(1);
        const std::int64_t start = monotonic_ns();
        futex_wait(&s->to_child.sequence, s->to_child.sequence.load(), 400 * kMs);
        return monotonic_ns() - start >= 350 * kMs ? 0 : 7;
    });
    ASSERT_GT(child.pid(), 0);
    const std::int64_t deadline = monotonic_ns() + 2000 * kMs;
    while (s->child_ready.load() == 0) {
        ASSERT_LT(monotonic_ns(), deadline);
        std::this_thread::sleep_for(1ms);
    }
    EXPECT_TRUE(child.wait_until_sleeping(2s));
    EXPECT_FALSE(s->to_child.notify_futex());
    EXPECT_EQ(child.exit_code(3s), 0) << "7: the child was woken early";
}

TEST(WakeFlag, SleepAfterANotifyReturnsAtOnceAndSleepHonoursItsTimeout) {
    WakeFlag flag;
    // A notify between prepare_sleep() and the sleep is not lost: the token is stale.
    std::uint32_t token = flag.prepare_sleep();
    ASSERT_TRUE(flag.notify_futex());
    std::int64_t start = monotonic_ns();
    flag.sleep_futex(token, 5000 * kMs);
    EXPECT_LT(monotonic_ns() - start, 1000 * kMs);

    token = flag.prepare_sleep();
    start = monotonic_ns();
    flag.sleep_futex(token, 50 * kMs);
    const std::int64_t slept = monotonic_ns() - start;
    EXPECT_GE(slept, 45 * kMs);
    EXPECT_LT(slept, 2000 * kMs);
    EXPECT_EQ(flag.waiting.load(), 0u) << "a finished sleep clears the announcement";
    EXPECT_FALSE(flag.notify_futex());
}

// A producer that read "waiting" during an announcement the consumer then cancelled, and that
// claims it only once the consumer has announced again: its claim clears the new announcement
// and its sequence bump lands before the consumer reads its token. The consumer must not sleep
// then, for no later producer would see it waiting.
TEST(WakeFlag, AStaleClaimBeforeTheTokenIsReadIsAWakeUp) {
    WakeFlag flag;
    flag.waiting.store(1);                  // the consumer announces...
    flag.waiting.exchange(0);               // ...the stale producer claims the announcement,
    flag.sequence.fetch_add(1);             // ...and bumps the sequence,
    const std::uint32_t token = flag.sequence.load();  // ...before the consumer reads its token.
    const std::int64_t start = monotonic_ns();
    flag.sleep_futex(token, 3000 * kMs);
    EXPECT_LT(monotonic_ns() - start, 1000 * kMs) << "slept although nobody would wake it";
    EXPECT_FALSE(flag.notify_futex()) << "the next producer sees no waiter, as the consumer is up";
}

TEST(WakeFlag, HundredThousandPingPongsAcrossProcessesLoseNoWakeUp) {
    SharedArea area;
    ASSERT_TRUE(area.ok());
    Shared* s = area.get();
    constexpr std::uint64_t kRounds = 100'000;
    const std::int64_t deadline = monotonic_ns() + 60'000 * kMs;
    Child child = Child::start([s, deadline] {
        std::uint64_t lost = 0;
        for (std::uint64_t i = 1; i <= kRounds; ++i) {
            if (!wait_for(s->to_child, s->ping, i, deadline, &lost)) return 8;
            s->pong.store(i, std::memory_order_release);
            s->to_parent.notify_futex();
        }
        s->child_lost_wakeups.store(lost);
        return 0;
    });
    ASSERT_GT(child.pid(), 0);

    std::uint64_t lost = 0;
    std::uint64_t woken = 0;
    for (std::uint64_t i = 1; i <= kRounds; ++i) {
        s->ping.store(i, std::memory_order_release);
        woken += s->to_child.notify_futex() ? 1 : 0;
        ASSERT_TRUE(wait_for(s->to_parent, s->pong, i, deadline, &lost))
            << "no pong " << i << " before the deadline";
    }
    EXPECT_EQ(child.exit_code(5s), 0);
    EXPECT_EQ(lost, 0u);
    EXPECT_EQ(s->child_lost_wakeups.load(), 0u);
    // The child slept (and was woken) in a good share of the rounds: the futex path ran.
    EXPECT_GT(woken, kRounds / 10);
}

TEST(WakeFlag, NotifyEventfdWritesOnlyWhenAConsumerWaits) {
    UniqueFd efd(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
    ASSERT_TRUE(efd.valid());
    std::uint64_t value = 0;
    WakeFlag flag;

    EXPECT_FALSE(flag.notify_eventfd(efd.get()));
    EXPECT_EQ(::read(efd.get(), &value, sizeof value), -1);
    EXPECT_EQ(errno, EAGAIN);

    flag.prepare_sleep();
    flag.cancel_sleep();
    EXPECT_FALSE(flag.notify_eventfd(efd.get()));
    EXPECT_EQ(::read(efd.get(), &value, sizeof value), -1);

    flag.prepare_sleep();
    EXPECT_TRUE(flag.notify_eventfd(efd.get()));
    EXPECT_FALSE(flag.notify_eventfd(efd.get()));
    ASSERT_EQ(::read(efd.get(), &value, sizeof value), static_cast<ssize_t>(sizeof value));
    EXPECT_EQ(value, 1u) << "exactly one write for one announcement";
    EXPECT_EQ(flag.waiting.load(), 0u);
}

TEST(WakeFlag, NotifyEventfdWakesAnEpollSleeperInAnotherProcess) {
    SharedArea area;
    ASSERT_TRUE(area.ok());
    Shared* s = area.get();
    UniqueFd efd(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
    ASSERT_TRUE(efd.valid());
    UniqueFd ep(::epoll_create1(EPOLL_CLOEXEC));
    ASSERT_TRUE(ep.valid());
    epoll_event ev{};
    ev.events = EPOLLIN;
    ASSERT_EQ(::epoll_ctl(ep.get(), EPOLL_CTL_ADD, efd.get(), &ev), 0);

    // The supervisor's pattern: announce, re-check, then sleep in epoll.
    s->to_parent.prepare_sleep();
    ASSERT_EQ(s->ping.load(), 0u);
    const int fd = efd.get();
    Child child = Child::start([s, fd] {
        std::this_thread::sleep_for(20ms);
        s->ping.store(1, std::memory_order_release);
        return s->to_parent.notify_eventfd(fd) ? 0 : 9;
    });
    ASSERT_GT(child.pid(), 0);
    epoll_event out{};
    const int n = ::epoll_wait(ep.get(), &out, 1, 2000);
    s->to_parent.cancel_sleep();
    EXPECT_EQ(n, 1) << "not woken within 2 s";
    EXPECT_EQ(s->ping.load(), 1u);
    EXPECT_EQ(child.exit_code(2s), 0);
}

}  // namespace
}  // namespace warmpool
