// Blobs: payloads too large for a ring record, each in its own shared-memory object.
//
// The producer creates the object (named by blob_name() in shm_layout.hpp), writes the payload
// once, and lets go of the name; the consumer maps it, unlinks the name at once, and reads in
// place. If either side dies in between, the supervisor sweeps the session's blob prefix.
#pragma once

#include <cstddef>
#include <string>

#include "warmpool/common/shared_segment.hpp"
#include "warmpool/common/sys_result.hpp"

namespace warmpool {

// A new blob of `bytes` bytes, mapped for writing. The name is not unlinked on destruction.
Result<SharedSegment> create_blob(const std::string& name, std::size_t bytes,
                                  const SegmentAccess& access);
// Maps a blob for reading and unlinks its name; its size must be exactly `bytes`.
Result<SharedSegment> take_blob(const std::string& name, std::size_t bytes);
// Unlinks every blob whose name starts with `prefix`; returns how many. A prefix that is not
// one of ours ("warmpool." and more) removes nothing.
int sweep_blobs(const std::string& prefix);

}  // namespace warmpool
