#include "warmpool/common/job_checks.hpp"

#include <cstring>

namespace warmpool {

std::optional<std::string> job_refusal(const JobRecord& record, std::span<const std::byte> payload,
                                       const JobLimits& limits) {
    if (function_name(record).empty()) {
        return "the function name is missing or longer than " + std::to_string(kFunctionNameMax) + " bytes";
    }
    if ((record.flags & ~std::uint32_t{kJobEncodingFlags | kJobBatch | kJobBlob}) != 0) return "unknown job flags";
    if ((record.flags & kJobEncodingFlags) == kJobEncodingFlags) return "a job is JSON or pickle, not both";
    if (!priority_in_range(record.priority)) {
        return "priority " + std::to_string(record.priority) + " is outside " + std::to_string(kPriorityMin) + ".." +
               std::to_string(kPriorityMax);
    }
    if (record.payload_bytes != payload.size()) return "payload length does not match the record";
    if ((record.flags & kJobBlob) != 0) {
        const std::optional<BlobRef> ref = blob_ref_of(payload);
        if (!ref) return "malformed blob reference";
        if (ref->bytes > limits.max_blob_bytes) return "blob reference out of range";
        return std::nullopt;  // a batch in a blob is checked by the worker that reads it
    }
    if (payload.size() > std::size_t{limits.inline_max} + sizeof(BatchHeader)) {
        return "inline payload larger than " + std::to_string(limits.inline_max) + " bytes";
    }
    if ((record.flags & kJobBatch) != 0) {
        if (payload.size() < sizeof(BatchHeader)) return "malformed batch";
        if (!batch_count(payload)) return "batch item count out of range";
    }
    return std::nullopt;
}

std::optional<std::uint32_t> batch_count(std::span<const std::byte> batch) {
    BatchHeader header;
    if (batch.size() < sizeof header) return std::nullopt;
    std::memcpy(&header, batch.data(), sizeof header);
    if (!batch_count_fits(header.count, batch.size())) return std::nullopt;
    return header.count;
}

std::uint32_t batch_item_count(const JobRecord& record, std::span<const std::byte> payload) {
    if ((record.flags & kJobBatch) == 0 || (record.flags & kJobBlob) != 0) return 1;
    return batch_count(payload).value_or(1);
}

std::optional<BlobRef> blob_ref_of(std::span<const std::byte> payload) {
    BlobRef ref;
    if (payload.size() != sizeof ref) return std::nullopt;
    std::memcpy(&ref, payload.data(), sizeof ref);
    return ref;
}

}  // namespace warmpool
