// Job checks: what a job record and its payload must be for the pool to run it, and what a lane
// may carry, written once for every process that decides it.
//
//   job_refusal()      the supervisor, on each submission (the submit ring, or a lane post it
//                      took); a worker, on a lane job, which no supervisor saw
//   lane_may_carry()   the client, before it posts to its lane; a worker, before it runs a post
//   lane_yields()      the client, before it posts; a worker, before it claims a post
//   batch_count()      the above for an inline batch; a worker for a batch in a blob, which only
//                      it reads
//   batch_item_count() whoever counts a job's calls (the supervisor's counters, a worker's
//                      JobOutcome for a job it dropped)
//
// Pure functions over bytes copied out of shared memory: none reads memory another process can
// still write, and none allocates unless it refuses.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "warmpool/common/shm_layout.hpp"

namespace warmpool {

// The largest argument blob a job may name.
inline constexpr std::uint64_t kMaxArgumentBlobBytes = 4ull << 30;

struct JobLimits {
    std::uint32_t inline_max = 0;  // the pool's inline_max: inline arguments, beyond a batch header
    std::uint64_t max_blob_bytes = kMaxArgumentBlobBytes;
};

// Why the pool refuses `record` with `payload` (the bytes that followed it), or nullopt if it
// may run: a function name that fits, only known flags and one encoding, a priority in range
// (priority.hpp), a payload of the length the record says, a well-formed blob reference within
// `limits` or inline arguments within them, and for an inline batch a count its bytes can hold
// (batch_count()). The reason is the
// bad_request message its client gets. Says nothing of the function, its encoding or arguments:
// those only the worker that runs it knows.
std::optional<std::string> job_refusal(const JobRecord& record, std::span<const std::byte> payload,
                                       const JobLimits& limits);

// Whether a lane may carry the job: one call (no batch, no blob) with at most kLanePayloadMax
// bytes of arguments that the record counts exactly, and no run-time limit of its own (nothing
// enforces one on a lane job). A client posts only such jobs; a worker refuses any other post.
constexpr bool lane_may_carry(const JobRecord& record, std::size_t payload_bytes) {
    return payload_bytes <= kLanePayloadMax && record.payload_bytes == payload_bytes &&
           (record.flags & ~kJobEncodingFlags) == 0 && record.timeout_ns == 0;
}

// Whether a lane must not carry a job of `priority` because a job of a higher priority is queued:
// `queued_above` is LaneBoard::queued_above (the highest level queued, plus one; 0: none). The
// client asks before it posts, a worker before it claims a post (the queue may have changed
// between the two); a post a worker leaves is queued by the supervisor like any other.
constexpr bool lane_yields(std::int32_t priority, std::uint32_t queued_above) {
    return priority_level(priority) + 1 < queued_above;
}

// Whether a batch of `batch_bytes` (header included, at least the header) may hold `count` items:
// 1 to kMaxBatchItems, and no more than its bytes have room for lengths (every item takes at
// least its 4-byte length), so a count is never believed beyond what was sent.
constexpr bool batch_count_fits(std::uint32_t count, std::size_t batch_bytes) {
    return count != 0 && count <= kMaxBatchItems &&
           count <= (batch_bytes - sizeof(BatchHeader)) / sizeof(std::uint32_t);
}

// The item count of batch arguments (BatchHeader, then the items), if they hold a header and its
// count fits them (batch_count_fits()); nullopt otherwise.
std::optional<std::uint32_t> batch_count(std::span<const std::byte> batch);

// The calls a job counts as: an inline batch's item count, else one (a single call, a batch in a
// blob, whose count only its worker reads, and a record whose batch header is missing or out of
// range, which is refused as one job).
std::uint32_t batch_item_count(const JobRecord& record, std::span<const std::byte> payload);

// The blob reference a kJobBlob payload holds, if it is exactly one.
std::optional<BlobRef> blob_ref_of(std::span<const std::byte> payload);

}  // namespace warmpool
