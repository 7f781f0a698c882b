// UnitPoolMemory: a pool segment for unit tests of the supervisor's units, in real shared memory
// (a SharedSegment) sized by PoolLayout::total_bytes() and constructed as the supervisor does,
// with no daemon and no fork. And next_record(), to read back what a unit wrote into a ring.
//
// Header-only; each test process makes its own. The memory goes with the object.
#pragma once

#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>

#include "warmpool/common/byte_ring.hpp"
#include "warmpool/common/pool_memory.hpp"
#include "warmpool/common/shared_segment.hpp"

namespace warmpool::testing {

class UnitPoolMemory {
public:
    UnitPoolMemory(std::uint32_t worker_slots, std::uint32_t session_slots, std::uint64_t inbox_ring_bytes) {
        const PoolLayout layout{worker_slots, inbox_ring_bytes, session_slots};
        auto segment = SharedSegment::create(segment_label("unit", "pool"), layout.total_bytes());
        if (!segment) throw std::runtime_error("pool segment: " + segment.error().message());
        segment_ = std::move(segment.value());
        memory = PoolMemory{segment_.data(), layout};
        memory.construct();
    }

    std::size_t size() const { return segment_.size(); }

    PoolMemory memory;

private:
    SharedSegment segment_;
};

// A session segment, sized by SessionLayout::total_bytes() and constructed as the supervisor
// does when a client connects (SessionTable::open does the same with a doorbell and more).
class UnitSessionMemory {
public:
    UnitSessionMemory(const SessionLayout& layout, std::uint32_t slot, std::uint64_t generation) {
        auto segment = SharedSegment::create(segment_label("unit", "session"), layout.total_bytes());
        if (!segment) throw std::runtime_error("session segment: " + segment.error().message());
        segment_ = std::move(segment.value());
        memory = SessionMemory{segment_.data(), layout};
        memory.construct(slot, generation)
            .state.store(static_cast<std::uint32_t>(SessionState::active), std::memory_order_release);
    }

    SessionMemory memory;

private:
    SharedSegment segment_;
};

// The next record `consumer` finds, copied out and consumed; nothing if the ring is empty (or
// corrupt, which a test then sees as a missing record).
inline std::optional<std::string> next_record(RingConsumer& consumer) {
    std::span<const std::byte> body;
    if (consumer.peek(body) != RingConsumer::Peek::record) return std::nullopt;
    std::string bytes(reinterpret_cast<const char*>(body.data()), body.size());
    consumer.pop();
    consumer.release();
    return bytes;
}

// A record of type T at the start of `bytes` (which must hold one).
template <class T>
T record_at(const std::string& bytes) {
    T value{};
    if (bytes.size() < sizeof value) throw std::runtime_error("record too short");
    std::memcpy(&value, bytes.data(), sizeof value);
    return value;
}

}  // namespace warmpool::testing
