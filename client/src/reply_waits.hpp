// ReplyWaits: the threads of a client session that wait for replies, and whose turn it is to
// drain them. Private to libwarmpool.
//
// Owns the session's mutex and the condition variable its blocked waiters sleep on, the drainer
// turn (DrainerTurns: the rule of who drains when), the count of blocked waiters, whether the
// background thread is parked, and whether the session is stopping. The mutex also guards the
// session's JobTable and CompletionQueue, which do no locking of their own: their callers hold
// lock().
//
// Any thread may call it. Every drain goes through drain_in_turn(), so replies are consumed by
// one thread at a time; wait_for() is the one way a thread waits for a flag a reply sets, taking
// the turn itself when it is free, so the common request/response path runs on the caller's own
// thread with no hand-off. Of the shared memory it only rings the futex a drainer sleeps on
// (SessionHeader::client_wake).
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>

#include "drainer_turns.hpp"
#include "warmpool/common/clock.hpp"
#include "warmpool/common/spin_relax.hpp"
#include "warmpool/common/wake_flag.hpp"

namespace warmpool::detail {

// A waiting caller spins this long after the last reply before sleeping on the futex: a reply
// that arrives within it costs no system call on either side. Also how long an owner waits,
// spinning, for a yielding drainer to step aside.
inline constexpr std::int64_t kReplySpinNs = 50'000;
// How often a sleeping waiter or drainer wakes to check that the daemon is still there.
inline constexpr std::int64_t kLivenessCheckNs = 100'000'000;

class ReplyWaits {
public:
    // drainer_wake: the futex a drainer sleeps on for replies, rung to bring it back at once.
    explicit ReplyWaits(WakeFlag& drainer_wake) : drainer_wake_(&drainer_wake) {}

    std::unique_lock<std::mutex> lock() { return std::unique_lock(mu_); }

    // Under the mutex: wakes the threads blocked in wait_for(), if there are any (waking the
    // condition variable for nobody would still cost a system call per job).
    void wake_blocked() {
        if (blocked_ > 0) cv_.notify_all();
    }
    // Wakes every thread on the condition variable, the background thread included.
    void wake_all() { cv_.notify_all(); }
    // Brings a drainer asleep on the reply futex back at once.
    void ring_drainer() { drainer_wake_->notify_futex(); }

    // Tells every waiter, and the background thread, that the session is going away.
    void stop() {
        {
            std::lock_guard lock(mu_);
            stopping_.store(true, std::memory_order_seq_cst);
        }
        cv_.notify_all();
        // A drainer asleep on the reply futex would otherwise sleep out its slice.
        ring_drainer();
    }
    // Read under the mutex, or without it by a drainer about to sleep on the futex.
    bool stopping() const { return stopping_.load(std::memory_order_seq_cst); }

    // The background thread's waits, under the mutex (held by `lock`): a timed nap, and parking
    // with no time limit until a job is registered (parked() says so) or stop().
    void nap(std::unique_lock<std::mutex>& lock, std::int64_t ns) { cv_.wait_for(lock, std::chrono::nanoseconds(ns)); }
    void park(std::unique_lock<std::mutex>& lock) {
        parked_ = true;
        cv_.wait(lock);
        parked_ = false;
    }
    bool parked() const { return parked_; }  // under the mutex

    // An owner asks the yielding drainer to step aside (DrainerTurns::wanted; any thread, no mutex).
    bool drain_wanted(std::memory_order order = std::memory_order_relaxed) const { return turns_.wanted(order); }

    // The one way a thread drains: takes the turn if `role` may have it at now_ns (the mutex
    // held by `lock`), runs `drain` without the mutex, then ends the turn and wakes the blocked
    // waiters, one of whom may take it over. False, and `drain` not run, if the turn was not
    // this thread's.
    template <class Drain>
    bool drain_in_turn(std::unique_lock<std::mutex>& lock, DrainerTurns::Role role, std::int64_t now_ns,
                       Drain&& drain) {
        if (!turns_.try_take(role, now_ns)) return false;
        lock.unlock();
        drain();
        lock.lock();
        turns_.end(monotonic_ns());
        if (blocked_ > 0) cv_.notify_all();  // one of them may take over
        return true;
    }

    // Waits until `flag` is set or deadline_ns (monotonic; -1: no limit) passes; true if set.
    // While the turn is this thread's it runs `drain`, which drains until the flag is set or the
    // deadline passes (or, when `yields`, until drain_wanted()). A `yields` waiter (the
    // completion queue's) steps aside as drainer as soon as a thread waits for a job of its own,
    // which then collects its reply itself with no hand-over.
    template <class Drain>
    bool wait_for(const std::atomic<bool>& flag, std::int64_t deadline_ns, bool yields, Drain&& drain) {
        const auto role = yields ? DrainerTurns::Role::yielding : DrainerTurns::Role::owner;
        std::unique_lock lock(mu_);
        DrainerTurns::Request step_aside(turns_);
        auto drain_as_drainer = [&] {
            step_aside.withdraw();  // the turn is ours now
            drain();
        };
        while (!flag.load(std::memory_order_acquire)) {
            const std::int64_t now = monotonic_ns();
            if (deadline_ns >= 0 && now >= deadline_ns) return false;
            if (drain_in_turn(lock, role, now, drain_as_drainer)) continue;
            if (!yields && turns_.held_by_yielding()) {
                // Ask it to step aside, and wait a moment for that rather than sleep.
                step_aside.ask();
                lock.unlock();
                ring_drainer();
                const std::int64_t limit = monotonic_ns() + kReplySpinNs;
                while (turns_.held_by_yielding() && monotonic_ns() < limit) spin_relax();
                lock.lock();
                if (!turns_.held_by_yielding() || !turns_.held()) continue;
            }
            auto limit = std::chrono::nanoseconds(deadline_ns >= 0 ? std::min(deadline_ns - now, kLivenessCheckNs)
                                                                   : kLivenessCheckNs);
            ++blocked_;
            cv_.wait_for(lock, limit);
            --blocked_;
        }
        return true;
    }

private:
    std::mutex mu_;
    std::condition_variable cv_;
    DrainerTurns turns_;  // try_take/end under mu_
    unsigned blocked_ = 0;  // threads blocked in wait_for() on cv_
    bool parked_ = false;   // the background thread waits on cv_ without a time limit
    // Set under mu_; atomic because a drainer about to sleep on the futex reads it without mu_.
    std::atomic<bool> stopping_{false};
    WakeFlag* drainer_wake_;
};

}  // namespace warmpool::detail
