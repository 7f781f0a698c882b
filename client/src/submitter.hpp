// Submitter: the producer side of a client session: its job ids, its submit ring and its lane.
// Private to libwarmpool.
//
// Owns the submit ring's producer, the lane's ticket and the session's read-only mapping of the
// pool's lane board. Any thread may submit; the producer's mutex (lock()) makes it the single
// producer of both the submit ring and the lane, and is held across post_to_lane(), try_write()
// and write_or_sleep(). Of the shared memory it alone writes the submit ring (its records and
// tail), the lane's record and payload, and the lane word's free -> posted and posted -> free
// moves (shm_layout.hpp: Lane); it rings the supervisor's doorbell (SessionHeader::
// supervisor_wake) after it publishes.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string_view>

#include "warmpool/call_options.hpp"
#include "warmpool/common/byte_ring.hpp"
#include "warmpool/common/pool_memory.hpp"
#include "warmpool/common/shared_segment.hpp"
#include "warmpool/common/shm_layout.hpp"

namespace warmpool::detail {

// The record of job `id`, its payload_bytes left 0. Throws JobError(bad_request) for a function
// name that is empty or too long.
JobRecord job_record(std::uint64_t id, std::string_view function, std::uint32_t flags, std::uint64_t fingerprint,
                     const CallOptions& options);

class Submitter {
public:
    // memory: the session segment. board: the pool's lane board, mapped read-only; without it
    // (an invalid segment, or not a board) every job goes through the submit ring. doorbell: the
    // supervisor's eventfd for this session.
    Submitter(const SessionMemory& memory, SharedSegment board, int doorbell);

    // A job id never used before in this session (any thread, no lock).
    std::uint64_t new_job_id() { return next_id_.fetch_add(1, std::memory_order_relaxed); }

    // The producer's lock, held by the caller of the three below.
    std::unique_lock<std::mutex> lock() { return std::unique_lock(mu_); }
    // Hands the job straight to the idle worker watching the lanes, if one does and the job may
    // go that way. True if posted; false if it must go through the submit ring. Call only while
    // the session has no other job in flight: the lane holds one job at a time.
    bool post_to_lane(const JobRecord& record, std::string_view payload);
    // Writes the job (record.payload_bytes == payload.size()) into the submit ring, publishes it
    // and rings the supervisor if it sleeps. False if the ring has no room for it now.
    bool try_write(const JobRecord& record, std::string_view payload);
    // As try_write, but if there is no room, sleeps until the supervisor frees some or
    // timeout_ns passes, and writes nothing (false).
    bool write_or_sleep(const JobRecord& record, std::string_view payload, std::int64_t timeout_ns);
    // Whether a record with a body of `size` bytes can ever fit in the submit ring.
    bool fits(std::uint32_t size) const { return size <= ring_.max_record(); }

private:
    bool worker_watching() const;
    void write(std::byte* out, const JobRecord& record, std::string_view payload);

    std::mutex mu_;
    RingProducer ring_;
    Lane* lane_;
    std::uint64_t lane_ticket_ = 0;
    SharedSegment board_segment_;
    const LaneBoard* board_ = nullptr;
    std::uint32_t board_words_ = 0;
    WakeFlag* supervisor_wake_;
    int doorbell_;
    std::atomic<std::uint64_t> next_id_{1};
};

}  // namespace warmpool::detail
