// Blobs: payloads too large for a ring record, each in its own shared-memory object (BlobHeader
// and names in shm_layout.hpp). Producers keep and reuse theirs (blob_pool.hpp), consumers keep
// their mappings (blob_mappings.hpp); this header is what the supervisor needs to clean up after
// a process that died: sweeping names by prefix.
#pragma once

#include <string>

namespace warmpool {

// Unlinks every blob whose name starts with `prefix`; returns how many. A prefix that is not
// one of ours ("warmpool." and more) removes nothing. With `keep_published`, blobs whose header
// says published (a reply names them; their client has not mapped them yet) are left for the
// session's own sweep, so a result already delivered stays readable.
int sweep_blobs(const std::string& prefix, bool keep_published = false);

}  // namespace warmpool
