// DrainerTurns: whose turn it is to drain a client session's reply rings. Private to libwarmpool.
//
// Replies are consumed by one thread at a time, the drainer. The rule of who may take the turn,
// and when, is this class's alone:
//   * owner: a thread waiting for a reply of its own (or a submitter waiting for room in the
//     submit ring) takes the turn whenever it is free, so a call's reply is read on the caller's
//     own thread with no hand-over;
//   * yielding: a thread waiting on the completion queue takes a free turn only while no owner
//     asks for it, and steps aside as soon as one does (Request), so that the owner collects
//     its own reply itself;
//   * background: the session's background thread, which drains for jobs nobody waits for,
//     takes a free turn only once nobody has drained for kBackgroundIdleNs.
// Not a lock, and does no locking: ReplyWaits (reply_waits.hpp) calls try_take() and end() under
// the session's mutex (which also guards the condition variable its blocked waiters sleep on);
// held_by_yielding() and wanted() are atomics, read without the mutex by an owner deciding
// whether to ask and by a yielding drainer deciding whether to step aside.
#pragma once

#include <atomic>
#include <cstdint>

namespace warmpool::detail {

class DrainerTurns {
public:
    enum class Role { owner, yielding, background };
    // The background thread drains only when nobody else has for this long.
    static constexpr std::int64_t kBackgroundIdleNs = 5'000'000;

    // Takes the turn if `role` may have it at now_ns (monotonic); true if this caller has it.
    bool try_take(Role role, std::int64_t now_ns) {
        if (held_) return false;
        if (role == Role::yielding && wanted()) return false;
        if (role == Role::background && now_ns - last_end_ns_ < kBackgroundIdleNs) return false;
        held_ = true;
        held_by_yielding_.store(role == Role::yielding, std::memory_order_relaxed);
        return true;
    }
    // Ends the holder's turn at now_ns (monotonic).
    void end(std::int64_t now_ns) {
        held_ = false;
        held_by_yielding_.store(false, std::memory_order_release);
        last_end_ns_ = now_ns;
    }
    bool held() const { return held_; }
    // The turn is held by a yielding drainer, which an owner may ask to step aside.
    bool held_by_yielding() const { return held_by_yielding_.load(std::memory_order_acquire); }
    // Some owner asks the yielding drainer to step aside. seq_cst for a drainer's last look
    // before it sleeps: an owner counts itself in, then rings the drainer's futex.
    bool wanted(std::memory_order order = std::memory_order_relaxed) const { return wanted_.load(order) > 0; }

    // An owner's request that a yielding drainer step aside: counted in wanted() from ask()
    // until withdraw() or the request's end, whichever comes first.
    class Request {
    public:
        explicit Request(DrainerTurns& turns) : turns_(turns) {}
        Request(const Request&) = delete;
        Request& operator=(const Request&) = delete;
        ~Request() { withdraw(); }
        void ask() {
            if (!asked_) turns_.wanted_.fetch_add(1, std::memory_order_seq_cst);
            asked_ = true;
        }
        void withdraw() {
            if (asked_) turns_.wanted_.fetch_sub(1, std::memory_order_relaxed);
            asked_ = false;
        }

    private:
        DrainerTurns& turns_;
        bool asked_ = false;
    };

private:
    bool held_ = false;
    std::int64_t last_end_ns_ = 0;  // when the last turn ended
    std::atomic<bool> held_by_yielding_{false};
    std::atomic<unsigned> wanted_{0};  // owners with a Request asked
};

}  // namespace warmpool::detail
