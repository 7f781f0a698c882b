#include "warmpool/daemon/session_table.hpp"

#include <sys/eventfd.h>

#include <algorithm>
#include <cstring>

namespace warmpool {

void SessionSlot::post_error(const JobRecord& record, ErrorKind kind, const std::string& message) {
    ReplyRecord reply{};
    reply.job_id = record.job_id;
    reply.status = static_cast<std::uint16_t>(kind);
    reply.payload_bytes = static_cast<std::uint32_t>(message.size());
    std::string bytes(reinterpret_cast<const char*>(&reply), sizeof reply);
    bytes += message;
    control_backlog.push_back(std::move(bytes));
    flush_control();
}

bool SessionSlot::flush_control() {
    bool progress = false;
    while (!control_backlog.empty()) {
        const std::string& bytes = control_backlog.front();
        std::byte* out = control.try_reserve(static_cast<std::uint32_t>(bytes.size()));
        if (out == nullptr) break;  // the client is slow to read: keep it for later
        std::memcpy(out, bytes.data(), bytes.size());
        control.commit(static_cast<std::uint32_t>(bytes.size()));
        control_backlog.pop_front();
        progress = true;
    }
    if (progress) {
        control.publish();
        header().client_wake.notify_futex();
    }
    return progress;
}

SessionTable::SessionTable(unsigned capacity, PoolMemory pool, SessionLayout layout, QueueTotals* totals)
    : slots_(capacity), pool_(pool), layout_(layout), totals_(totals) {}

SessionSlot* SessionTable::live(std::uint32_t slot, std::uint64_t generation) {
    if (slot >= slots_.size()) return nullptr;
    SessionSlot& s = slots_[slot];
    return s.used && s.generation == generation ? &s : nullptr;
}

std::size_t SessionTable::held_by(uid_t uid) const {
    return static_cast<std::size_t>(std::count_if(slots_.begin(), slots_.begin() + end_,
                                                  [&](const SessionSlot& s) { return s.used && s.peer.uid == uid; }));
}

bool SessionTable::full() const {
    return std::all_of(slots_.begin(), slots_.end(), [](const SessionSlot& s) { return s.used; });
}

Result<unsigned> SessionTable::open(const PeerCredentials& peer, std::uint32_t trust, std::uint64_t generation,
                                    std::string_view pool_name) {
    const auto free = std::find_if(slots_.begin(), slots_.end(), [](const SessionSlot& s) { return !s.used; });
    if (free == slots_.end()) return make_error(SysError::Code::resource, "every session slot is in use");
    const auto slot = static_cast<unsigned>(free - slots_.begin());
    auto segment =
        SharedSegment::create(segment_label(pool_name, "session." + std::to_string(slot)), layout_.total_bytes());
    if (!segment) return segment.error();
    // Workers forked from now on must not inherit it: they map what they serve themselves.
    if (auto st = segment->keep_out_of_children(); !st) return st.error();
    UniqueFd doorbell(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
    if (!doorbell) return errno_error("eventfd");

    SessionSlot& s = *free;
    s = SessionSlot{};
    s.queue = JobQueue(totals_);
    s.generation = generation;
    s.peer = peer;
    s.segment = std::move(segment.value());
    s.memory = SessionMemory{s.segment.data(), layout_};
    s.doorbell = std::move(doorbell);
    SessionHeader& header = s.memory.construct(slot, generation);
    header.state.store(static_cast<std::uint32_t>(SessionState::active), std::memory_order_release);
    s.submit = RingConsumer(s.memory.submit());
    s.control = RingProducer(s.memory.control());
    s.used = true;

    // The slot's previous generation is withdrawn before the trust changes, and the new one
    // published after: a worker that reads one generation on both sides of the trust reads the
    // trust decided for that session (the worker's may_unpickle).
    SessionEntry& entry = pool_.session_entry(slot);
    entry.generation.store(0, std::memory_order_relaxed);
    entry.trust.store(trust, std::memory_order_release);
    entry.generation.store(generation, std::memory_order_release);
    pool_.active_sessions()[slot / 64].fetch_or(std::uint64_t{1} << (slot % 64), std::memory_order_release);
    end_ = std::max(end_, slot + 1);
    return slot;
}

void SessionTable::republish_trust(unsigned slot, std::uint32_t trust) {
    if (slots_[slot].used) pool_.session_entry(slot).trust.store(trust, std::memory_order_release);
}

std::uint64_t SessionTable::begin_close(unsigned slot) {
    SessionSlot& s = slots_[slot];
    if (!s.used || s.closing) return 0;
    s.closing = true;
    pool_.active_sessions()[slot / 64].fetch_and(~(std::uint64_t{1} << (slot % 64)), std::memory_order_release);
    // Workers blocked on this client's full reply ring see the state change within their wait.
    s.header().state.store(static_cast<std::uint32_t>(SessionState::closing), std::memory_order_release);
    s.argument_blobs.clear();
    std::uint64_t dropped = 0;
    for (const auto& job : s.queue) dropped += job.items;
    s.queue.clear();
    s.control_backlog.clear();
    s.fd = -1;
    return dropped;
}

void SessionTable::finish_closed() {
    for (unsigned slot = 0; slot < end_; ++slot) {
        SessionSlot& s = slots_[slot];
        if (!s.used || !s.closing || s.jobs_with_workers > 0) continue;
        // No worker holds a job of this session any more: its memory can go (the memfds go with
        // the last process that maps them).
        s = SessionSlot{};  // unmaps the segment, closes the doorbell and the blobs
    }
    while (end_ > 0 && !slots_[end_ - 1].used) --end_;
}

}  // namespace warmpool
