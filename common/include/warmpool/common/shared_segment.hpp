// SharedSegment: one named POSIX shared-memory object, mapped read-write into this process.
//
// Built on Boost.Interprocess. The creator owns the name: when an owning segment is destroyed
// it unlinks the name (the memory lives on while other processes keep it mapped). Openers
// never unlink. Move-only; the mapping is unmapped on destruction. Not thread-safe to move
// while other threads use the mapping.
#pragma once

#include <sys/types.h>

#include <boost/interprocess/mapped_region.hpp>
#include <boost/interprocess/shared_memory_object.hpp>
#include <cstddef>
#include <memory>
#include <string>

#include "warmpool/common/sys_result.hpp"

namespace warmpool {

struct SegmentAccess {
    unsigned mode = 0660;  // never world-writable; checked at creation
    gid_t group = static_cast<gid_t>(-1);  // -1 keeps the creator's group
};

class SharedSegment {
public:
    SharedSegment() = default;
    SharedSegment(SharedSegment&&) noexcept;
    SharedSegment& operator=(SharedSegment&&) noexcept;
    SharedSegment(const SharedSegment&) = delete;
    SharedSegment& operator=(const SharedSegment&) = delete;
    ~SharedSegment();

    // Creates a new segment of `bytes` zeroed bytes; fails if the name exists.
    static Result<SharedSegment> create(const std::string& name, std::size_t bytes,
                                        const SegmentAccess& access);
    // Maps an existing segment. `expected_bytes` (if non-zero) must match its size exactly.
    static Result<SharedSegment> open(const std::string& name, std::size_t expected_bytes = 0);
    // As open, mapped read-only: a write through data() faults.
    static Result<SharedSegment> open_read_only(const std::string& name, std::size_t expected_bytes = 0);
    // Unlinks a name; true if it existed.
    static bool remove(const std::string& name);

    std::byte* data() const { return static_cast<std::byte*>(region_->get_address()); }
    std::size_t size() const { return region_ ? region_->get_size() : 0; }
    const std::string& name() const { return name_; }
    bool owner() const { return owner_; }
    bool valid() const { return region_ != nullptr; }
    // Keeps the mapping but no longer unlinks the name on destruction (used by a forked child).
    void disown() { owner_ = false; }

private:
    static Result<SharedSegment> open_mode(const std::string& name, std::size_t expected_bytes, bool writable);

    std::string name_;
    std::unique_ptr<boost::interprocess::mapped_region> region_;
    bool owner_ = false;
};

}  // namespace warmpool
