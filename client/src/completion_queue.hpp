// CompletionQueue: the ids of a client session's watched jobs that are done, so that one thread
// can learn which of many jobs finished without polling them. Private to libwarmpool.
//
// Owns the queued ids and the ready flag. Does no locking: every call but ready() is made under
// the session's mutex (ReplyWaits::lock()), by any thread: a submitter's watch() and unwatch(),
// the drainer's complete() (through JobTable::fail_all too), the queue's reader's take(), and
// wake(). ready() is read without the mutex by a thread that waits for it (ReplyWaits::wait_for)
// or drains for it (ReplyDrainer::drain_until). Writes no shared memory; of a JobSlot it writes
// done (complete()) and watched.
#pragma once

#include <atomic>
#include <cstdint>
#include <utility>
#include <vector>

#include "job_slot.hpp"

namespace warmpool::detail {

class CompletionQueue {
public:
    // Queues the slot's id when it is done: at once (true) if it is done already, else from
    // complete().
    bool watch(JobSlot& slot) {
        if (slot.done.load(std::memory_order_acquire)) {
            queue(slot.id);
            return true;
        }
        slot.watched = true;
        return false;
    }
    // True if the slot was watched and not yet done: then its id will never be queued.
    bool unwatch(JobSlot& slot) { return std::exchange(slot.watched, false); }

    // Marks the slot done (release: its result is written) and queues its id if it is watched.
    void complete(JobSlot& slot) {
        slot.done.store(true, std::memory_order_release);
        if (slot.watched) {
            slot.watched = false;
            queue(slot.id);
        }
    }

    // Moves every queued id to the end of `out` and clears ready(); returns how many.
    std::size_t take(std::vector<std::uint64_t>& out) {
        const std::size_t n = ids_.size();
        out.insert(out.end(), ids_.begin(), ids_.end());
        ids_.clear();
        ready_.store(false, std::memory_order_relaxed);
        return n;
    }
    // Sets ready() with nothing queued, so that a waiting reader returns (with no ids).
    void wake() { ready_.store(true, std::memory_order_release); }

    // Set while ids are queued, or after wake(), until take().
    const std::atomic<bool>& ready() const { return ready_; }

private:
    void queue(std::uint64_t id) {
        ids_.push_back(id);
        ready_.store(true, std::memory_order_release);
    }

    std::vector<std::uint64_t> ids_;
    std::atomic<bool> ready_{false};
};

}  // namespace warmpool::detail
