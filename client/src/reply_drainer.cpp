#include "reply_drainer.hpp"

#include <algorithm>
#include <cstring>
#include <utility>

#include "warmpool/common/clock.hpp"
#include "warmpool/common/spin_relax.hpp"
#include "warmpool/error_kind.hpp"

namespace warmpool::detail {

namespace {

// How long the background thread drains in one turn.
constexpr std::int64_t kBackgroundSliceNs = 50'000'000;
// The background thread parks only after its job table stayed empty this long: a caller making
// one call after another empties and refills the table every job, and waking a parked thread
// each time would cost a context switch per call.
constexpr std::int64_t kBackgroundLingerNs = 100'000'000;

}  // namespace

ReplyDrainer::ReplyDrainer(const SessionMemory& memory, int doorbell, ControlSocket& control, std::string pool_name,
                           const Peers& peers)
    : results_(control),
      header_(&memory.header()),
      doorbell_(doorbell),
      control_(control),
      pool_name_(std::move(pool_name)),
      peers_(peers) {
    replies_.reserve(memory.layout.worker_slots + 1);
    replies_.emplace_back(memory.control());
    for (std::uint32_t slot = 0; slot < memory.layout.worker_slots; ++slot) replies_.emplace_back(memory.reply(slot));
}

bool ReplyDrainer::wait_for(const std::atomic<bool>& flag, std::int64_t deadline_ns, bool yields) {
    return peers_.waits.wait_for(flag, deadline_ns, yields, [&] { drain_until(&flag, deadline_ns, yields); });
}

void ReplyDrainer::deliver_in_turn() {
    auto lock = peers_.waits.lock();
    peers_.waits.drain_in_turn(lock, DrainerTurns::Role::owner, monotonic_ns(), [&] { deliver_available(); });
}

void ReplyDrainer::run_background() {
    ReplyWaits& waits = peers_.waits;
    const JobTable& jobs = peers_.jobs;
    auto lock = waits.lock();
    std::int64_t last_busy_ns = 0;
    while (!waits.stopping()) {
        const std::int64_t now = monotonic_ns();
        if (jobs.empty() || jobs.lost()) {
            if (!jobs.lost() && now - last_busy_ns < kBackgroundLingerNs) {
                waits.nap(lock, DrainerTurns::kBackgroundIdleNs);
            } else {
                waits.park(lock);
            }
            continue;
        }
        last_busy_ns = now;
        if (!waits.drain_in_turn(lock, DrainerTurns::Role::background, now,
                                 [&] { drain_until(nullptr, now + kBackgroundSliceNs, false); })) {
            waits.nap(lock, DrainerTurns::kBackgroundIdleNs);
        }
    }
}

void ReplyDrainer::drain_until(const std::atomic<bool>* target, std::int64_t deadline_ns, bool yields) {
    ReplyWaits& waits = peers_.waits;
    bool waiting = false;  // no reply came since wait_start
    std::int64_t wait_start = 0;
    std::int64_t spin_until = 0;  // reply_spin_ decides whether a wait spins
    for (;;) {
        const std::size_t delivered = deliver_available();
        const bool target_done = target != nullptr && target->load(std::memory_order_acquire);
        if (delivered > 0 || target_done) {
            if (waiting) reply_spin_.waited(monotonic_ns() - wait_start, kReplySpinNs);
            waiting = false;
        }
        if (target_done) return;
        if (yields && waits.drain_wanted()) return;
        if (delivered > 0) continue;
        const std::int64_t now = monotonic_ns();
        if (deadline_ns >= 0 && now >= deadline_ns) return;
        {
            auto lock = waits.lock();
            if (waits.stopping() || peers_.jobs.lost()) return;
        }
        if (!waiting) {
            waiting = true;
            wait_start = now;
            // A yielding drainer sleeps at once: it stands in for threads that wait for jobs of
            // their own, and its spinning would take a core from the workers.
            spin_until = !yields && reply_spin_.spin_now() ? now + kReplySpinNs : 0;
        }
        if (now < spin_until) {
            spin_relax();
            continue;
        }
        std::uint32_t token = header_->client_wake.prepare_sleep();
        if (replies_pending() || (target != nullptr && target->load(std::memory_order_acquire)) ||
            (yields && waits.drain_wanted(std::memory_order_seq_cst)) || waits.stopping()) {
            header_->client_wake.cancel_sleep();
            continue;
        }
        const std::int64_t sleep = deadline_ns >= 0 ? std::min(deadline_ns - now, kLivenessCheckNs) : kLivenessCheckNs;
        header_->client_wake.sleep_futex(token, sleep);
        if (!replies_pending() && !daemon_alive()) return;
    }
}

bool ReplyDrainer::replies_pending() {
    for (auto& ring : replies_) {
        if (!ring.empty_now()) return true;
    }
    return false;
}

std::size_t ReplyDrainer::deliver_available() {
    std::size_t delivered = 0;
    for (auto& ring : replies_) {
        std::span<const std::byte> bytes;
        RingConsumer::Peek peek;
        while ((peek = ring.peek(bytes)) == RingConsumer::Peek::record) {
            ReplyRecord reply;
            if (bytes.size() < sizeof reply) {
                peek = RingConsumer::Peek::corrupt;
                break;
            }
            std::memcpy(&reply, bytes.data(), sizeof reply);
            std::span<const std::byte> payload = bytes.subspan(sizeof reply);
            if (payload.size() != reply.payload_bytes) {
                peek = RingConsumer::Peek::corrupt;
                break;
            }
            deliver(reply, payload);
            ring.pop();
            if (++delivered % 64 == 0) ring.release();
        }
        ring.release();
        if (peek == RingConsumer::Peek::corrupt) {
            fail_all("a reply ring of this session is corrupt");
            return delivered;
        }
    }
    // The supervisor may be holding our jobs until we make room: tell it we did.
    if (delivered > 0 && header_->reply_room_wanted.load(std::memory_order_relaxed) != 0 &&
        header_->reply_room_wanted.exchange(0) != 0) {
        header_->supervisor_wake.notify_eventfd(doorbell_);
    }
    return delivered;
}

void ReplyDrainer::deliver(const ReplyRecord& reply, std::span<const std::byte> payload) {
    std::shared_ptr<JobSlot> slot;
    {
        auto lock = peers_.waits.lock();
        slot = peers_.jobs.take(reply.job_id,
                                (reply.flags & kJobBlob) == 0 && payload.size() >= JobTable::kReusedPayloadMin);
    }
    if (!slot) {  // not ours to wait for any more (session lost meanwhile)
        if ((reply.flags & kJobBlob) != 0) {
            // Nobody will read the result: its lease, dropped at once, hands the blob back to the worker.
            [[maybe_unused]] auto dropped = results_.take(reply.worker_pid, payload);
        }
        return;
    }
    // The terminal reply: no worker reads the arguments any more.
    if (slot->argument_blob != 0) peers_.arguments.release(std::exchange(slot->argument_blob, 0));
    slot->status = reply.status;
    slot->flags = reply.flags;
    if ((reply.flags & kJobBlob) != 0) {
        if (auto taken = results_.take(reply.worker_pid, payload)) {
            slot->result_lease = std::move(taken->lease);
            slot->result_in_blob = taken->bytes;
        } else {
            slot->status = static_cast<std::uint16_t>(ErrorKind::handler_error);
            slot->payload = "the result could not be read: " + taken.error().message();
        }
    } else {
        slot->payload.assign(reinterpret_cast<const char*>(payload.data()), payload.size());
    }
    auto lock = peers_.waits.lock();
    if (slot->cancel_requested && slot->status == 0) {
        slot->status = static_cast<std::uint16_t>(ErrorKind::cancelled);
        slot->payload = "cancelled while running; its result was dropped";
        slot->result_lease.reset();
    }
    peers_.completions.complete(*slot);
    peers_.waits.wake_blocked();
}

bool ReplyDrainer::daemon_alive() {
    if (!control_.hung_up()) return true;
    fail_all("connection to pool '" + pool_name_ + "' lost: the daemon stopped or dropped this session");
    return false;
}

void ReplyDrainer::fail_all(const std::string& why) {
    {
        auto lock = peers_.waits.lock();
        peers_.jobs.fail_all(why, peers_.completions);
    }
    peers_.waits.wake_all();
}

}  // namespace warmpool::detail
