// ByteRing: a single-producer / single-consumer ring of variable-length records in shared memory.
//
// Publication is one release-store of `tail` (producer) and consumption one release-store of
// `head` (consumer), so a process killed at any instruction leaves the ring consistent: an
// unpublished record is simply not there. Nothing is locked. Another process can take over as
// producer (or consumer) of a ring whose previous owner is dead: the indices in shared memory
// are the whole state.
//
// Each record is an 8-byte frame {u32 size, u32 kind} followed by `size` bytes, padded to 8.
// Records never straddle the end; a `kWrap` frame fills the gap. Capacity is a power of two
// supplied by the caller from trusted configuration, never read back from shared memory, so a
// peer that scribbles on the ring can corrupt only the ring's own data, never our memory.
//
// RingProducer and RingConsumer are per-process views; each must be used by one thread at a time.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <span>

#include "warmpool/common/wake_flag.hpp"

namespace warmpool {

struct alignas(64) RingControl {
    alignas(64) std::atomic<std::uint64_t> head{0};  // bytes consumed (consumer writes)
    alignas(64) std::atomic<std::uint64_t> tail{0};  // bytes published (producer writes)
    alignas(64) WakeFlag space;                      // producer waiting for free space
};
static_assert(sizeof(RingControl) == 192);
static_assert(std::atomic<std::uint64_t>::is_always_lock_free);

inline constexpr std::size_t ring_bytes_needed(std::size_t capacity) {
    return sizeof(RingControl) + capacity;
}

// A ring's bytes: control block followed by `capacity` data bytes.
struct RingView {
    RingControl* control = nullptr;
    std::byte* data = nullptr;
    std::uint64_t capacity = 0;  // power of two

    static RingView at(std::byte* base, std::uint64_t capacity) {
        return RingView{reinterpret_cast<RingControl*>(base), base + sizeof(RingControl), capacity};
    }
};

class RingProducer {
public:
    RingProducer() = default;
    // Resumes from the ring's published tail, so a new producer may take over a dead one's ring.
    explicit RingProducer(RingView ring);

    // Largest body a record can have in this ring.
    std::uint32_t max_record() const { return static_cast<std::uint32_t>(ring_.capacity / 2 - 8); }

    // Reserves `size` contiguous bytes for one record; nullptr if the ring lacks space now.
    // The record becomes visible only after commit() and publish().
    std::byte* try_reserve(std::uint32_t size);
    // Ends the record last reserved, optionally shrinking it to `used` bytes (<= reserved).
    void commit(std::uint32_t used);
    // Makes every committed record visible to the consumer (one release-store).
    void publish();
    bool has_unpublished() const { return local_tail_ != published_tail_; }
    // What this producer has published: its own count, whatever the shared `tail` now says.
    std::uint64_t published_tail() const { return published_tail_; }

    // Free bytes as seen now (for waiting decisions).
    std::uint64_t free_bytes() const;
    RingControl* control() const { return ring_.control; }

private:
    RingView ring_;
    std::uint64_t local_tail_ = 0;
    std::uint64_t published_tail_ = 0;
    std::uint64_t cached_head_ = 0;
    std::uint64_t reserved_at_ = 0;
    std::uint32_t reserved_size_ = 0;
};

class RingConsumer {
public:
    enum class Peek { record, empty, corrupt };

    RingConsumer() = default;
    explicit RingConsumer(RingView ring);

    // Finds the next record. On `record`, `out` spans its body (valid until release()).
    // `corrupt` means the producer wrote an impossible frame; the ring must be abandoned.
    Peek peek(std::span<const std::byte>& out);
    // Steps past the record returned by the last peek.
    void pop();
    // Hands consumed space back to the producer (one release-store) and wakes it if it waits.
    void release();
    bool empty_now();  // true if no published record is pending beyond what we consumed
    // True if nothing is published beyond the record the last peek returned (not popped yet).
    bool only_peeked_left();
    RingControl* control() const { return ring_.control; }

private:
    RingView ring_;
    std::uint64_t local_head_ = 0;
    std::uint64_t cached_tail_ = 0;
    std::uint64_t pending_pop_ = 0;
    std::uint64_t peeked_bytes_ = 0;
};

}  // namespace warmpool
