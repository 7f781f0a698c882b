// BlobFaultGuard: reading shared memory another process owns, and survives that process shrinking
// the object under the reader.
//
// A client owns its argument blobs, and nothing stops it from ftruncate()-ing one after a worker
// checked its size (a kept mapping even keeps the size it had when first mapped) or while the
// worker reads it; it maps the worker's result blobs read-write, so it can shrink those too. Touching a page past an object's end raises SIGBUS, which would kill the
// worker and disturb every job queued behind the one it ran. While a guard lives, a SIGBUS at an
// address in its range is caught instead, by the handler install_blob_fault_handler() sets up:
// the range's pages from the faulting one on are replaced with private zero pages, the guard
// notes that the object shrank, and the faulting instruction runs again and reads zeros. The
// guard's owner checks shrank() once it is done reading and throws away whatever it made of the
// bytes. A mapping that shrank no longer shows the object: unmap it, never read it again.
//
// A SIGBUS anywhere else is not ours: the handler puts back the disposition it replaced and lets
// the signal have its way (a fault re-runs into it; a SIGBUS another process sent is raised
// again), so a real bug still kills the worker and is reported as a crash.
//
// The guarded ranges are the one piece of process-wide mutable state in warmpool, because a
// signal handler can reach nothing else. They are a fixed table of kMaxBlobFaultGuards slots of
// lock-free atomics: arming a guard allocates nothing and takes no lock, and the handler can read
// the table whatever instruction it interrupted. A guard is armed only if a slot was free (a
// worker needs four at most: one for the job's argument blob, two for result blobs while a result
// moves to a bigger one, one while BlobMappings or BlobPool touches a header). Where the handler
// is not installed (clients: they read only blobs that workers, which they trust, wrote), guards
// change nothing. Guards may be made and destroyed on any thread; the
// handler runs on the thread that faulted.
#pragma once

#include <cstddef>

#include "warmpool/common/sys_result.hpp"

namespace warmpool {

inline constexpr std::size_t kMaxBlobFaultGuards = 16;

// Installs the SIGBUS handler for this process, keeping the disposition it replaces for faults
// that are not ours. Call it after anything else that sets a SIGBUS handler (a job library's
// initialisation), so that ours sees a fault first. Calling it again changes nothing.
Status install_blob_fault_handler();

class BlobFaultGuard {
public:
    // Guards [begin, begin + bytes), which must lie in one mapping that starts on a page boundary
    // or before `begin`'s page (a whole SharedSegment does): the handler replaces whole pages.
    BlobFaultGuard(const void* begin, std::size_t bytes);
    ~BlobFaultGuard();
    BlobFaultGuard(const BlobFaultGuard&) = delete;
    BlobFaultGuard& operator=(const BlobFaultGuard&) = delete;

    // False if every slot was taken (or the range is empty): a fault in the range is then as
    // fatal as without a guard.
    bool armed() const { return slot_ >= 0; }
    // A read in the range went past the object's end since the guard was made: the bytes read
    // from there on were zeros, not the object's.
    bool shrank() const;

private:
    int slot_ = -1;  // index in the table of guarded ranges
};

}  // namespace warmpool
