// SharedSegment: one unnamed shared-memory object (a memfd), mapped into this process.
//
// Nothing of a pool's shared memory has a name: an object exists only as a descriptor, and it
// reaches another process only as a descriptor, inherited across fork (supervisor -> workers)
// or passed with SCM_RIGHTS over a Unix socket (docs/ARCHITECTURE.md, "Security model"). So no
// other user can open it, list it, or squat the name it will need, and its memory goes when the
// last descriptor and mapping of it go, however its holders die.
//
// create() reserves every page of the new object (posix_fallocate), so that running out of
// memory is an error at creation, never a SIGBUS on a later first touch, and seals it against
// shrinking and growing. adopt() maps an object another process sent, and refuses one that is
// not a sealed memfd of exactly the size it must have: a peer that could shrink an object we map
// could make our reads fault. (Boost.Interprocess names every object it creates, so this class
// uses memfd_create and mmap directly.)
//
// The creator keeps the descriptor until close_fd(), to hand out copies (share()); an adopter's
// descriptor is closed once mapped. Move-only; unmapped on destruction. Not thread-safe to move
// while other threads use the mapping.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "warmpool/common/sys_result.hpp"
#include "warmpool/common/unique_fd.hpp"

namespace warmpool {

class SharedSegment {
public:
    enum class Access { read_write, read_only };

    SharedSegment() = default;
    SharedSegment(SharedSegment&&) noexcept;
    SharedSegment& operator=(SharedSegment&&) noexcept;
    SharedSegment(const SharedSegment&) = delete;
    SharedSegment& operator=(const SharedSegment&) = delete;
    ~SharedSegment();

    // A new zeroed object of `bytes` bytes, every page reserved, sealed against resizing, mapped
    // read-write. `label` names it in /proc/PID/maps and in messages only. Fails with
    // Code::resource (ENOSPC, ENOMEM) when memory is short.
    static Result<SharedSegment> create(std::string_view label, std::size_t bytes);
    // Maps an object received from another process. `expected_bytes`, if not 0, must be its size
    // exactly; any size must hold at least one byte. The object must be a regular shared-memory
    // file sealed against shrinking (F_SEAL_SHRINK), else Code::protocol.
    static Result<SharedSegment> adopt(UniqueFd fd, std::size_t expected_bytes, Access access,
                                       std::string_view label);

    std::byte* data() const { return data_; }
    std::size_t size() const { return size_; }
    const std::string& label() const { return label_; }
    bool valid() const { return data_ != nullptr; }

    // The creator's descriptor (-1 once closed, and always for an adopted object).
    int fd() const { return fd_.get(); }
    // A new descriptor of the object for another process: read-write, or read-only (a fresh
    // open of the object, through which it can be mapped only for reading).
    Result<UniqueFd> share(Access access) const;
    // No more copies will be handed out: the mapping stays, the descriptor goes.
    void close_fd() { fd_.reset(); }
    // A child forked from now on gets nothing at this mapping's addresses (madvise
    // MADV_DONTFORK; touching them there faults); this process's mapping is unchanged. For memory
    // that reaches other processes only as a descriptor: a child that needs it maps it itself.
    Status keep_out_of_children() const;

private:
    static Result<SharedSegment> map(UniqueFd fd, std::size_t bytes, Access access, std::string_view label,
                                     bool keep_fd);

    std::string label_;
    std::byte* data_ = nullptr;
    std::size_t size_ = 0;
    UniqueFd fd_;
};

}  // namespace warmpool
