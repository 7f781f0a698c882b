// Tests for ReplyWaits (client/src/reply_waits.hpp) with real threads: a waiter drains on its own
// thread; a passed deadline returns at once; however many threads wait, one drains at a time and
// each gets its flag; a yielding waiter (the completion queue's) steps aside for a thread that
// waits for a job of its own, which then drains itself; stop() wakes a parked background thread.

#include "../../client/src/reply_waits.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "warmpool/common/clock.hpp"
#include "warmpool/common/spin_relax.hpp"

namespace warmpool::detail {
namespace {

TEST(ReplyWaitsTest, AWaiterDrainsOnItsOwnThread) {
    WakeFlag drainer_wake;
    ReplyWaits waits(drainer_wake);
    std::atomic<bool> flag{false};
    std::thread::id drained_on;
    int drains = 0;
    EXPECT_TRUE(waits.wait_for(flag, -1, false, [&] {
        drained_on = std::this_thread::get_id();
        ++drains;
        flag.store(true, std::memory_order_release);
    }));
    EXPECT_EQ(drained_on, std::this_thread::get_id());
    EXPECT_EQ(drains, 1);
    EXPECT_TRUE(waits.wait_for(flag, -1, false, [&] { ++drains; })) << "set already";
    EXPECT_EQ(drains, 1);
}

TEST(ReplyWaitsTest, APassedDeadlineEndsTheWaitWithoutDraining) {
    WakeFlag drainer_wake;
    ReplyWaits waits(drainer_wake);
    std::atomic<bool> flag{false};
    bool drained = false;
    EXPECT_FALSE(waits.wait_for(flag, monotonic_ns() - 1, false, [&] { drained = true; }));
    EXPECT_FALSE(drained);
}

TEST(ReplyWaitsTest, OneDrainerAtATimeAndEveryWaiterGetsItsFlag) {
    WakeFlag drainer_wake;
    ReplyWaits waits(drainer_wake);
    constexpr int kThreads = 4;
    constexpr int kRounds = 200;
    std::atomic<int> draining{0};
    std::atomic<int> most_at_once{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&] {
            for (int round = 0; round < kRounds; ++round) {
                std::atomic<bool> flag{false};
                ASSERT_TRUE(waits.wait_for(flag, -1, false, [&] {
                    const int now = draining.fetch_add(1) + 1;
                    int most = most_at_once.load();
                    while (now > most && !most_at_once.compare_exchange_weak(most, now)) {
                    }
                    for (int i = 0; i < 100; ++i) spin_relax();
                    draining.fetch_sub(1);
                    flag.store(true, std::memory_order_release);
                }));
            }
        });
    }
    for (auto& thread : threads) thread.join();
    EXPECT_EQ(most_at_once.load(), 1);
}

TEST(ReplyWaitsTest, AYieldingDrainerStepsAsideForAThreadWaitingForItsOwnJob) {
    WakeFlag drainer_wake;
    ReplyWaits waits(drainer_wake);
    std::atomic<bool> queue_ready{false};
    std::atomic<bool> yielder_draining{false};
    std::atomic<bool> yielder_asked{false};
    std::thread yielder([&] {
        EXPECT_TRUE(waits.wait_for(queue_ready, -1, true, [&] {
            yielder_draining.store(true);
            // As ReplyDrainer::drain_until: drain until the flag is set or an owner wants the turn.
            while (!queue_ready.load(std::memory_order_acquire)) {
                if (waits.drain_wanted()) {
                    yielder_asked.store(true);
                    return;
                }
                spin_relax();
            }
        }));
    });
    while (!yielder_draining.load()) spin_relax();

    std::atomic<bool> own{false};
    std::thread::id drained_on;
    EXPECT_TRUE(waits.wait_for(own, -1, false, [&] {
        drained_on = std::this_thread::get_id();
        own.store(true, std::memory_order_release);
    }));
    EXPECT_EQ(drained_on, std::this_thread::get_id()) << "the owner collected its reply itself";
    EXPECT_TRUE(yielder_asked.load());
    EXPECT_FALSE(waits.drain_wanted()) << "the request ends with the owner's wait";

    queue_ready.store(true, std::memory_order_release);
    waits.ring_drainer();
    yielder.join();
}

TEST(ReplyWaitsTest, StopWakesTheParkedBackgroundThread) {
    WakeFlag drainer_wake;
    ReplyWaits waits(drainer_wake);
    std::thread background([&] {
        auto lock = waits.lock();
        while (!waits.stopping()) waits.park(lock);
    });
    for (;;) {
        auto lock = waits.lock();
        if (waits.parked()) break;
        lock.unlock();
        std::this_thread::yield();
    }
    EXPECT_FALSE(waits.stopping());
    waits.stop();
    background.join();
    EXPECT_TRUE(waits.stopping());
    auto lock = waits.lock();
    EXPECT_FALSE(waits.parked());
}

}  // namespace
}  // namespace warmpool::detail
