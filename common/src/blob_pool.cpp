#include "warmpool/common/blob_pool.hpp"

#include <sys/random.h>

#include <bit>
#include <chrono>

#include "warmpool/common/blob_fault_guard.hpp"

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

BlobPool::BlobPool(std::string label, Broker broker, Limits limits)
    : label_(std::move(label)), broker_(std::move(broker)), limits_(limits) {}

BlobPool& BlobPool::operator=(BlobPool&& other) noexcept {
    if (this != &other) {
        retire_all();
        label_ = std::move(other.label_);
        broker_ = std::move(other.broker_);
        limits_ = other.limits_;
        entries_ = std::move(other.entries_);
        next_object_ = other.next_object_;
        clock_ = other.clock_;
        other.entries_.clear();
    }
    return *this;
}

BlobPool::~BlobPool() { retire_all(); }

void BlobPool::retire_all() {
    for (const auto& e : entries_) retire(e);
    entries_.clear();
}

std::uint64_t BlobPool::bytes() const {
    std::uint64_t total = 0;
    for (const auto& e : entries_) total += e.capacity;
    return total;
}

std::optional<BlobState> BlobPool::state_of(Entry& entry) {
    const BlobFaultGuard guard(entry.segment->data(), entry.segment->size());
    const auto state = static_cast<BlobState>(entry.header()->state.load(std::memory_order_acquire));
    if (guard.shrank()) {
        entry.shrank = true;
        return std::nullopt;
    }
    return state;
}

bool BlobPool::take(Entry& entry) {
    const BlobFaultGuard guard(entry.segment->data(), entry.segment->size());
    // Acquire: the consumer's reads of the last payload happen before our writes.
    auto expected = static_cast<std::uint32_t>(BlobState::free);
    const bool taken = entry.header()->state.compare_exchange_strong(
        expected, static_cast<std::uint32_t>(BlobState::writing), std::memory_order_acquire);
    if (guard.shrank()) entry.shrank = true;
    return taken && !entry.shrank;
}

BlobPool::Blob BlobPool::blob_of(const Entry& entry) {
    return Blob{BlobRef{0, entry.object, entry.serial}, entry.header(), entry.segment->data() + kBlobDataOffset,
                entry.capacity, entry.segment};
}

void BlobPool::retire(const Entry& entry) {
    // Now, not when the last Blob sharing the mapping goes: a dropped object is nobody's to reuse.
    if (broker_.retire) broker_.retire(entry.object);
}

void BlobPool::drop_shrunk() {
    std::erase_if(entries_, [this](Entry& e) {
        if (e.shrank) retire(e);
        return e.shrank;  // unmapped once no Blob holds it
    });
}

Result<BlobPool::Blob> BlobPool::acquire(std::size_t bytes) {
    for (;;) {
        Entry* best = nullptr;
        for (auto& e : entries_) {
            if (e.capacity < bytes || (best != nullptr && best->capacity <= e.capacity)) continue;
            if (state_of(e) == BlobState::free) best = &e;
        }
        if (best == nullptr) break;
        if (take(*best)) {
            best->last_used = ++clock_;
            const Blob blob = blob_of(*best);
            drop_shrunk();
            return blob;
        }
        if (!best->shrank) break;  // the consumer changed its state meanwhile: make a new one
        drop_shrunk();  // and look again among the others
    }
    // Entries found shrunk on the way are dropped by the trim() below.
    Entry entry;
    entry.serial = random_serial();
    entry.capacity = blob_capacity_for(bytes);
    entry.last_used = ++clock_;
    entry.object = next_object_++;
    auto segment = SharedSegment::create(label_, kBlobDataOffset + entry.capacity);
    if (!segment) return segment.error();
    entry.segment = std::make_shared<SharedSegment>(std::move(segment.value()));
    // Nobody else has opened the new object yet: its header needs no guard.
    BlobHeader* header = entry.header();
    header->magic = kBlobMagic;
    header->serial = entry.serial;
    header->capacity = entry.capacity;
    header->state.store(static_cast<std::uint32_t>(BlobState::writing), std::memory_order_relaxed);
    if (broker_.offer) {
        if (auto offered = broker_.offer(entry.object, entry.segment->fd()); !offered) return offered.error();
    }
    entry.segment->close_fd();  // the broker holds what others need of it
    entries_.push_back(std::move(entry));
    const Blob blob = blob_of(entries_.back());
    trim(false);  // the new entry is being written, so it stays
    return blob;
}

void BlobPool::release(std::uint64_t object) {
    for (auto& e : entries_) {
        if (e.object == object) {
            const BlobFaultGuard guard(e.segment->data(), e.segment->size());
            e.header()->state.store(static_cast<std::uint32_t>(BlobState::free), std::memory_order_release);
            if (guard.shrank()) e.shrank = true;
            break;
        }
    }
    trim(false);
}

void BlobPool::discard(std::uint64_t object) {
    for (auto& e : entries_) {
        if (e.object == object) e.shrank = true;
    }
    drop_shrunk();
}

void BlobPool::trim(bool drop_taken) {
    drop_shrunk();
    std::uint64_t total = bytes();
    while (entries_.size() > limits_.max_objects || total > limits_.max_bytes) {
        auto victim = entries_.end();
        for (auto it = entries_.begin(); it != entries_.end(); ++it) {
            const std::optional<BlobState> state = state_of(*it);
            // One that shrank is of no use any more, whatever its state said.
            const bool droppable =
                !state || *state == BlobState::free || (drop_taken && *state == BlobState::taken);
            if (droppable && (victim == entries_.end() || it->last_used < victim->last_used)) victim = it;
        }
        if (victim == entries_.end()) break;  // everything left is in use
        total -= victim->capacity;
        retire(*victim);
        entries_.erase(victim);  // unmaps, once no Blob holds it
    }
    drop_shrunk();
}

}  // namespace warmpool
