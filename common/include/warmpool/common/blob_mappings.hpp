// BlobMappings: a consumer's mappings of blobs another process produced (see BlobPool), kept so
// that a reused blob is read through the mapping it already has instead of being mapped again.
//
// Keyed by a name the caller gives each producer's object, and checked against the BlobRef's
// serial: a key whose object was replaced is mapped afresh, from a descriptor the caller's
// `fetch` gets (from the supervisor, which holds every blob's memfd; blob_pool.hpp). Holds at most `max_entries` mappings, least recently used dropped
// first; a mapping handed out is shared, so it outlives its entry for as long as the caller
// keeps it. Sizes come from the object's real size when it was mapped, never from its header;
// the producer may shrink the object later, so a reader of bytes it did not produce reads them
// under a BlobFaultGuard (blob_fault_guard.hpp), as map() itself does for the header, and drops a
// mapping that shrank. Not thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "warmpool/common/shared_segment.hpp"
#include "warmpool/common/shm_layout.hpp"
#include "warmpool/common/sys_result.hpp"
#include "warmpool/common/unique_fd.hpp"

namespace warmpool {

class BlobMappings {
public:
    struct Mapped {
        std::shared_ptr<SharedSegment> segment;
        BlobHeader* header = nullptr;
        std::string_view bytes;  // ref.bytes payload bytes, valid while `segment` lives
    };

    explicit BlobMappings(std::size_t max_entries = 8) : max_entries_(max_entries) {}

    using Fetch = std::function<Result<UniqueFd>()>;
    // The payload `ref` names in object `name`, mapped from `fetch`'s descriptor unless a kept
    // mapping serves. Fails (protocol) if the object is not a sealed blob, carries another
    // serial, is smaller than the header plus ref.bytes, or shrank under a kept mapping (which
    // is then replaced, as for a name that now belongs to another object).
    Result<Mapped> map(const std::string& name, const BlobRef& ref, const Fetch& fetch,
                       SharedSegment::Access access = SharedSegment::Access::read_write);
    // Forgets the mapping of object `name`, if kept (say, because the object shrank under it).
    void drop(std::string_view name);
    // Forgets every mapping whose name starts with `prefix`.
    void forget(std::string_view prefix);
    std::size_t size() const { return entries_.size(); }

private:
    struct Entry {
        std::string name;
        std::shared_ptr<SharedSegment> segment;
        std::uint64_t last_used = 0;
    };
    static Result<Mapped> check(const std::shared_ptr<SharedSegment>& segment, const BlobRef& ref);

    std::size_t max_entries_;
    std::vector<Entry> entries_;
    std::uint64_t clock_ = 0;
};

}  // namespace warmpool
