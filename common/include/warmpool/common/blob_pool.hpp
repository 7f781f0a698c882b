// BlobPool: the blobs one producer created, kept and reused for later payloads.
//
// A producer (a client for its arguments, a worker for its results in one session) takes a blob
// with acquire(), writes the payload after the header, marks it published and names it in a
// ring record. The blob
// goes back to the pool when its state returns to free (BlobHeader in shm_layout.hpp): set by
// the producer itself through release(), or by the consumer for results. Reused objects stay
// mapped here, so a payload written into one touches no fresh pages.
//
// The pool owns the names: an object dropped by trim() or the pool's destruction is unlinked
// (a consumer that still maps it keeps reading it). The pool never drops a blob being written
// or published, one a consumer may yet need to open by name. Not thread-safe: a client guards it with its own
// mutex; a worker is single-threaded.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "warmpool/common/shared_segment.hpp"
#include "warmpool/common/shm_layout.hpp"
#include "warmpool/common/sys_result.hpp"

namespace warmpool {

// The capacity a new blob gets for `bytes`: at least 1 MiB, else `bytes` rounded up to a
// quarter of its power of two, so slightly different sizes share an object and a payload
// wastes at most a quarter of address space (untouched pages of a tmpfs object cost nothing).
std::size_t blob_capacity_for(std::size_t bytes);

class BlobPool {
public:
    struct Limits {
        // Objects kept, and their capacities together, counting those in use: beyond either,
        // objects not in use are dropped (those in use never are, so both can be exceeded).
        std::size_t max_objects = 4;
        std::uint64_t max_bytes = 512ull << 20;
    };
    struct Blob {
        BlobRef ref;      // bytes is left 0: the producer fills it in once written
        BlobHeader* header;
        std::byte* data;  // capacity bytes, from kBlobDataOffset
        std::size_t capacity;

        // To be called once written, before a ring record names it.
        void publish() const {
            header->state.store(static_cast<std::uint32_t>(BlobState::published), std::memory_order_release);
        }
    };
    using NameOf = std::function<std::string(std::uint64_t object)>;

    BlobPool() = default;
    BlobPool(NameOf name_of, SegmentAccess access, Limits limits);
    BlobPool(BlobPool&&) noexcept = default;
    BlobPool& operator=(BlobPool&&) noexcept = default;

    // A blob with room for `bytes`, marked writing: the smallest free one that fits, else a new
    // object. Fails only if a new object cannot be created.
    Result<Blob> acquire(std::size_t bytes);
    // Frees a blob of this pool (its payload will not be read any more), then trims.
    void release(std::uint64_t object);
    // Drops free objects beyond the limits, least recently used first; with `drop_taken`, also
    // objects the consumer has taken (it holds its own mapping, so its reads stay valid).
    void trim(bool drop_taken);

    std::size_t objects() const { return entries_.size(); }
    std::uint64_t bytes() const;

private:
    struct Entry {
        std::uint64_t object = 0;
        std::uint64_t serial = 0;
        std::size_t capacity = 0;
        std::uint64_t last_used = 0;
        SharedSegment segment;  // owns the name
        BlobHeader* header() const { return reinterpret_cast<BlobHeader*>(segment.data()); }
    };

    NameOf name_of_;
    SegmentAccess access_;
    Limits limits_;
    std::vector<Entry> entries_;
    std::uint64_t next_object_ = 1;
    std::uint64_t clock_ = 0;
};

}  // namespace warmpool
