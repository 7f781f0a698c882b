#include "warmpool/common/byte_ring.hpp"

#include <cassert>
#include <cstring>

namespace warmpool {

namespace {

constexpr std::uint32_t kRecord = 0x52454331;  // "REC1"
constexpr std::uint32_t kWrap = 0x57524150;    // "WRAP"
constexpr std::uint64_t kFrame = 8;

struct Frame {
    std::uint32_t size;
    std::uint32_t kind;
};
static_assert(sizeof(Frame) == kFrame);

constexpr std::uint64_t align8(std::uint64_t n) { return (n + 7) & ~std::uint64_t{7}; }

}  // namespace

RingProducer::RingProducer(RingView ring) : ring_(ring) {
    local_tail_ = published_tail_ = ring_.control->tail.load(std::memory_order_acquire);
    cached_head_ = ring_.control->head.load(std::memory_order_acquire);
}

std::uint64_t RingProducer::free_bytes() const {
    std::uint64_t head = ring_.control->head.load(std::memory_order_acquire);
    std::uint64_t used = local_tail_ - head;
    return used > ring_.capacity ? 0 : ring_.capacity - used;
}

std::byte* RingProducer::try_reserve(std::uint32_t size) {
    if (size > max_record()) return nullptr;
    if ((local_tail_ & 7) != 0) return nullptr;  // a scribbled tail we took over: write nothing
    const std::uint64_t need = align8(kFrame + size);
    const std::uint64_t pos = local_tail_ & (ring_.capacity - 1);
    const std::uint64_t to_end = ring_.capacity - pos;
    const std::uint64_t total = need <= to_end ? need : to_end + need;
    // `head` is written by the consumer, which may be hostile or dead: treat an impossible
    // value as "no space" rather than trusting it.
    auto fits = [&](std::uint64_t head) {
        std::uint64_t used = local_tail_ - head;
        return used <= ring_.capacity && ring_.capacity - used >= total;
    };
    if (!fits(cached_head_)) {
        cached_head_ = ring_.control->head.load(std::memory_order_acquire);
        if (!fits(cached_head_)) return nullptr;
    }
    if (need > to_end) {
        Frame wrap{static_cast<std::uint32_t>(to_end - kFrame), kWrap};
        std::memcpy(ring_.data + pos, &wrap, kFrame);
        local_tail_ += to_end;
    }
    reserved_at_ = local_tail_;
    reserved_size_ = size;
    return ring_.data + (local_tail_ & (ring_.capacity - 1)) + kFrame;
}

void RingProducer::commit(std::uint32_t used) {
    assert(used <= reserved_size_);
    Frame frame{used, kRecord};
    std::memcpy(ring_.data + (reserved_at_ & (ring_.capacity - 1)), &frame, kFrame);
    local_tail_ = reserved_at_ + align8(kFrame + used);
    reserved_size_ = 0;
}

void RingProducer::publish() {
    if (local_tail_ == published_tail_) return;
    ring_.control->tail.store(local_tail_, std::memory_order_release);
    published_tail_ = local_tail_;
}

RingConsumer::RingConsumer(RingView ring) : ring_(ring) {
    local_head_ = ring_.control->head.load(std::memory_order_acquire);
    cached_tail_ = ring_.control->tail.load(std::memory_order_acquire);
}

bool RingConsumer::empty_now() {
    cached_tail_ = ring_.control->tail.load(std::memory_order_acquire);
    return cached_tail_ == local_head_ + pending_pop_;
}

bool RingConsumer::only_peeked_left() {
    cached_tail_ = ring_.control->tail.load(std::memory_order_acquire);
    return cached_tail_ == local_head_ + pending_pop_ + peeked_bytes_;
}

RingConsumer::Peek RingConsumer::peek(std::span<const std::byte>& out) {
    for (;;) {
        std::uint64_t head = local_head_ + pending_pop_;
        if (head == cached_tail_) {
            cached_tail_ = ring_.control->tail.load(std::memory_order_acquire);
            if (head == cached_tail_) return Peek::empty;
        }
        const std::uint64_t avail = cached_tail_ - head;
        if (avail > ring_.capacity || avail < kFrame || (head & 7) != 0) return Peek::corrupt;
        const std::uint64_t pos = head & (ring_.capacity - 1);
        Frame frame;
        std::memcpy(&frame, ring_.data + pos, kFrame);
        const std::uint64_t to_end = ring_.capacity - pos;
        if (frame.kind == kWrap) {
            if (frame.size != to_end - kFrame || to_end > avail) return Peek::corrupt;
            pending_pop_ += to_end;
            continue;
        }
        if (frame.kind != kRecord) return Peek::corrupt;
        const std::uint64_t need = align8(kFrame + frame.size);
        if (need > to_end || need > avail) return Peek::corrupt;
        out = std::span<const std::byte>(ring_.data + pos + kFrame, frame.size);
        peeked_bytes_ = need;
        return Peek::record;
    }
}

void RingConsumer::pop() {
    // Uses the size validated by peek(): the producer may rewrite the frame meanwhile.
    pending_pop_ += peeked_bytes_;
    peeked_bytes_ = 0;
}

void RingConsumer::release() {
    if (pending_pop_ == 0) return;
    local_head_ += pending_pop_;
    pending_pop_ = 0;
    ring_.control->head.store(local_head_, std::memory_order_release);
    ring_.control->space.notify_futex();
}

}  // namespace warmpool
