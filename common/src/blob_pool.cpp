#include "warmpool/common/blob_pool.hpp"

#include <sys/random.h>

#include <bit>
#include <chrono>

namespace warmpool {

namespace {

std::uint64_t random_serial() {
    std::uint64_t serial = 0;
    if (::getrandom(&serial, sizeof serial, GRND_NONBLOCK) != sizeof serial) {
        // No entropy yet (early boot): the clock still tells one object from the next.
        serial = static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
    }
    return serial | 1;  // 0 never names a blob
}

}  // namespace

std::size_t blob_capacity_for(std::size_t bytes) {
    constexpr std::size_t kMin = 1u << 20;
    if (bytes <= kMin) return kMin;
    const std::size_t quarter = std::bit_floor(bytes) / 4;
    return (bytes + quarter - 1) / quarter * quarter;
}

BlobPool::BlobPool(NameOf name_of, SegmentAccess access, Limits limits)
    : name_of_(std::move(name_of)), access_(access), limits_(limits) {}

std::uint64_t BlobPool::bytes() const {
    std::uint64_t total = 0;
    for (const auto& e : entries_) total += e.capacity;
    return total;
}

Result<BlobPool::Blob> BlobPool::acquire(std::size_t bytes) {
    Entry* best = nullptr;
    for (auto& e : entries_) {
        if (e.capacity < bytes || (best != nullptr && best->capacity <= e.capacity)) continue;
        if (e.header()->state.load(std::memory_order_acquire) == static_cast<std::uint32_t>(BlobState::free)) {
            best = &e;
        }
    }
    if (best != nullptr) {
        // Acquire: the consumer's reads of the last payload happen before our writes.
        auto expected = static_cast<std::uint32_t>(BlobState::free);
        if (best->header()->state.compare_exchange_strong(expected,
                                                          static_cast<std::uint32_t>(BlobState::writing),
                                                          std::memory_order_acquire)) {
            best->last_used = ++clock_;
            return Blob{BlobRef{0, best->object, best->serial}, best->header(),
                        best->segment.data() + kBlobDataOffset, best->capacity};
        }
    }
    Entry entry;
    entry.serial = random_serial();
    entry.capacity = blob_capacity_for(bytes);
    entry.last_used = ++clock_;
    Result<SharedSegment> segment = make_error(SysError::Code::exists, "blob");
    // A name can exist already if a dead producer of the same pid left a blob its consumer
    // had not taken yet (kept until the session ends): skip past it.
    for (int attempt = 0; attempt < 8; ++attempt) {
        entry.object = next_object_++;
        segment = SharedSegment::create(name_of_(entry.object), kBlobDataOffset + entry.capacity, access_);
        if (segment || segment.error().code != SysError::Code::exists) break;
    }
    if (!segment) return segment.error();
    entry.segment = std::move(segment.value());
    BlobHeader* header = entry.header();
    header->magic = kBlobMagic;
    header->serial = entry.serial;
    header->capacity = entry.capacity;
    header->state.store(static_cast<std::uint32_t>(BlobState::writing), std::memory_order_relaxed);
    entries_.push_back(std::move(entry));
    const Entry& e = entries_.back();
    Blob blob{BlobRef{0, e.object, e.serial}, e.header(), e.segment.data() + kBlobDataOffset, e.capacity};
    trim(false);  // the new entry is being written, so it stays
    return blob;
}

void BlobPool::release(std::uint64_t object) {
    for (auto& e : entries_) {
        if (e.object == object) {
            e.header()->state.store(static_cast<std::uint32_t>(BlobState::free), std::memory_order_release);
            break;
        }
    }
    trim(false);
}

void BlobPool::trim(bool drop_taken) {
    std::uint64_t total = bytes();
    while (entries_.size() > limits_.max_objects || total > limits_.max_bytes) {
        auto victim = entries_.end();
        for (auto it = entries_.begin(); it != entries_.end(); ++it) {
            const auto state = static_cast<BlobState>(it->header()->state.load(std::memory_order_acquire));
            const bool droppable = state == BlobState::free || (drop_taken && state == BlobState::taken);
            if (droppable && (victim == entries_.end() || it->last_used < victim->last_used)) victim = it;
        }
        if (victim == entries_.end()) return;  // everything left is in use
        total -= victim->capacity;
        entries_.erase(victim);  // unmaps and unlinks
    }
}

}  // namespace warmpool
