// PoolMemory and SessionMemory: typed views of a pool segment and of a session segment
// (shm_layout.hpp). They are the one place where a layout's offsets become references, so no
// other code casts into shared memory.
//
// A view owns nothing: it is a base address and the layout the segment was built with, both
// from trusted configuration (never from the memory itself). The supervisor, which creates the
// segments, calls construct() once before any other process can see them; the supervisor and
// the workers then read and write through the accessors, each only the fields shm_layout.hpp
// names it the writer of.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <new>

#include "warmpool/common/byte_ring.hpp"
#include "warmpool/common/shm_layout.hpp"

namespace warmpool {

struct PoolMemory {
    std::byte* base = nullptr;
    PoolLayout layout{};

    PoolHeader& header() const { return *reinterpret_cast<PoolHeader*>(base); }
    WorkerRecord& worker(std::uint32_t slot) const {
        return reinterpret_cast<WorkerRecord*>(base + layout.worker_table_offset())[slot];
    }
    // The outcome entry of the job with inbox sequence number `seq` of the worker in `slot`.
    JobOutcome& outcome(std::uint32_t slot, std::uint64_t seq) const {
        return reinterpret_cast<JobOutcome*>(base + layout.outcome_offset(slot))[seq % kOutcomeEntries];
    }
    LaneOutcome& lane_outcome(std::uint32_t slot) const {
        return *reinterpret_cast<LaneOutcome*>(base + layout.lane_outcome_offset(slot));
    }
    // layout.active_words() words: bit s set while session slot s is active.
    std::atomic<std::uint64_t>* active_sessions() const {
        return reinterpret_cast<std::atomic<std::uint64_t>*>(base + layout.active_sessions_offset());
    }
    SessionEntry& session_entry(std::uint32_t slot) const {
        return reinterpret_cast<SessionEntry*>(base + layout.session_table_offset())[slot];
    }
    ReplyTail& reply_tail(std::uint32_t worker, std::uint32_t session) const {
        return *reinterpret_cast<ReplyTail*>(base + layout.reply_tail_offset(worker, session));
    }
    WorkerTimings& worker_timings(std::uint32_t slot) const {
        return *reinterpret_cast<WorkerTimings*>(base + layout.worker_timings_offset(slot));
    }
    RingView inbox(std::uint32_t slot) const {
        return RingView::at(base + layout.inbox_offset(slot), layout.inbox_ring_bytes);
    }

    // Starts every record of a fresh segment (the creator only, before anyone else maps it).
    void construct() const {
        new (base) PoolHeader{};
        for (std::uint32_t slot = 0; slot < layout.worker_slots; ++slot) {
            new (&worker(slot)) WorkerRecord{};
            new (&lane_outcome(slot)) LaneOutcome{};
            for (std::uint32_t session = 0; session < layout.session_slots; ++session) {
                new (&reply_tail(slot, session)) ReplyTail{};
            }
            new (&worker_timings(slot)) WorkerTimings{};
            new (base + layout.inbox_offset(slot)) RingControl{};
        }
    }
    // A worker slot's record, lane tallies and inbox as a new worker finds them.
    void reset_worker(std::uint32_t slot) const {
        WorkerRecord& record = worker(slot);
        record.~WorkerRecord();
        new (&record) WorkerRecord{};
        new (&lane_outcome(slot)) LaneOutcome{};
        new (base + layout.inbox_offset(slot)) RingControl{};
    }
};

struct SessionMemory {
    std::byte* base = nullptr;
    SessionLayout layout{};

    SessionHeader& header() const { return *reinterpret_cast<SessionHeader*>(base); }
    Lane& lane() const { return *reinterpret_cast<Lane*>(base + layout.lane_offset()); }
    RingView submit() const { return RingView::at(base + layout.submit_offset(), layout.submit_ring_bytes); }
    RingView control() const { return RingView::at(base + layout.control_offset(), layout.control_ring_bytes); }
    RingView reply(std::uint32_t worker_slot) const {
        return RingView::at(base + layout.reply_offset(worker_slot), layout.reply_ring_bytes);
    }
    const RingControl& reply_control(std::uint32_t worker_slot) const { return *reply(worker_slot).control; }

    // Starts every record of a fresh session segment (the supervisor only, before the Welcome).
    SessionHeader& construct(std::uint32_t slot, std::uint64_t generation) const {
        auto* h = new (base) SessionHeader{};
        h->magic = kSessionMagic;
        h->layout_version = kLayoutVersion;
        h->slot = slot;
        h->generation = generation;
        new (base + layout.lane_offset()) Lane{};
        new (base + layout.submit_offset()) RingControl{};
        new (base + layout.control_offset()) RingControl{};
        for (std::uint32_t w = 0; w < layout.worker_slots; ++w) new (base + layout.reply_offset(w)) RingControl{};
        return *h;
    }
};

}  // namespace warmpool
