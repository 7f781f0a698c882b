// BlobPool: the blobs one producer created, kept and reused for later payloads.
//
// A producer (a client for its arguments, a worker for its results in one session) takes a blob
// with acquire(), writes the payload after the header, marks it published and names it in a
// ring record. The blob
// goes back to the pool when its state returns to free (BlobHeader in shm_layout.hpp): set by
// the producer itself through release(), or by the consumer for results. Reused objects stay
// mapped here, so a payload written into one touches no fresh pages.
//
// Objects have no names (shared_segment.hpp). The pool offers each new object's descriptor
// through its Broker before handing the blob out, so the supervisor holds a copy for the
// consumer to ask for, and retires an object it drops (trim(), discard(), the pool's
// destruction) so the supervisor lets go of its copy; a consumer that still maps it keeps reading
// it. The pool never drops a blob being written or published, one a consumer may yet need to
// ask for. Not thread-safe: a client guards it with its own mutex; a worker is single-threaded.
//
// A consumer maps a producer's blobs read-write (it writes the header's state), so it can also
// shrink one: a worker's result blobs are open to the client of their session. The pool reads
// and writes headers under a BlobFaultGuard (blob_fault_guard.hpp), and an object whose header
// turned out to lie past its end is dropped at once, never handed out again. The producer writes
// payloads under its own guard and discard()s a blob that shrank meanwhile. A Blob shares its
// object's mapping, so a blob dropped while its producer still writes it stays mapped until the
// producer lets go of the Blob (the writes then go nowhere the consumer sees).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
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
        // The object's whole mapping (header and data), for a BlobFaultGuard over it.
        std::shared_ptr<const SharedSegment> segment;

        // To be called once written, before a ring record names it.
        void publish() const {
            header->state.store(static_cast<std::uint32_t>(BlobState::published), std::memory_order_release);
        }
    };
    // Who learns of the pool's objects: `offer` gets each new object's descriptor (a failure
    // drops the object and fails acquire()), `retire` each object dropped.
    struct Broker {
        std::function<Status(std::uint64_t object, int fd)> offer;
        std::function<void(std::uint64_t object)> retire;
    };

    BlobPool() = default;
    BlobPool(std::string label, Broker broker, Limits limits);
    BlobPool(BlobPool&&) noexcept = default;
    BlobPool& operator=(BlobPool&&) noexcept;
    ~BlobPool();

    // A blob with room for `bytes`, marked writing: the smallest free one that fits, else a new
    // object. Fails only if a new object cannot be created.
    Result<Blob> acquire(std::size_t bytes);
    // Frees a blob of this pool (its payload will not be read any more), then trims.
    void release(std::uint64_t object);
    // Drops a blob of this pool whose object shrank under its producer's writes (its guard said
    // so): it is never handed out again, and its name is unlinked.
    void discard(std::uint64_t object);
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
        std::shared_ptr<SharedSegment> segment;  // shared with the Blobs handed out
        bool shrank = false;  // its header lay past the object's end: dropped by drop_shrunk()
        BlobHeader* header() const { return reinterpret_cast<BlobHeader*>(segment->data()); }
    };

    // The entry's header state, read under a guard; nullopt (and the entry marked) if the
    // object shrank under it.
    static std::optional<BlobState> state_of(Entry& entry);
    // Moves the entry's state from free to writing, under a guard; false if it was not free or
    // the object shrank (then marked).
    static bool take(Entry& entry);
    static Blob blob_of(const Entry& entry);
    void retire(const Entry& entry);
    void drop_shrunk();
    void retire_all();

    std::string label_;
    Broker broker_;
    Limits limits_;
    std::vector<Entry> entries_;
    std::uint64_t next_object_ = 1;
    std::uint64_t clock_ = 0;
};

}  // namespace warmpool
