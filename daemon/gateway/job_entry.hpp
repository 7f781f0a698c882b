// JobEntry: one job stream entry (redis_layout.hpp, job_field) checked and parsed, or the typed
// reason it cannot be. Pure: the fields come in as text, nothing is trusted.
//
// Anyone who can write the stream can write any entry, so every field is checked before the
// gateway builds a key, a reply or a job record from it. An entry whose client and job id are
// sound can be answered (bad_request, in its client's reply stream); one whose are not can only
// be dropped and counted, since there is nowhere safe to answer it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace warmpool {

struct JobEntry {
    std::string entry_id;  // the stream entry's id
    std::string job;       // "<client>-<seq>"
    std::string client;    // 16 hex digits
    std::uint64_t seq = 0;
    std::string function;
    std::uint32_t flags = 0;  // JobFlags: encoding bits and kJobBatch only
    std::uint64_t fingerprint = 0;
    std::string payload;
    std::int64_t timeout_ms = 0;   // 0: the function's default
    std::int64_t deadline_ms = 0;  // Unix epoch ms; 0: none
    int priority = 0;
    std::uint32_t attempts = 0;
    std::string last_failure;
};

enum class EntryProblem {
    bad_client,     // missing, or not 16 lowercase hex digits
    bad_job_id,     // missing, or not "<client>-<seq>" for the entry's own client
    missing_field,  // a required field is absent
    repeated_field, // a field appears twice
    bad_number,     // not a decimal number of the field's kind
    out_of_range,   // a number beyond the field's limits
    unknown_flags,  // flags other than the encodings and kJobBatch, or two encodings
    oversized,      // a text field longer than its limit
};

struct EntryRejection {
    EntryProblem problem;
    std::string message;  // for the log and the bad_request reply
    // Set when client and job id are sound: the entry can be answered with bad_request.
    bool answerable = false;
    std::string job;
    std::string client;
    std::uint64_t seq = 0;
};

struct EntryLimits {
    std::size_t max_payload_bytes = 256u << 20;
    std::size_t max_failure_bytes = 4096;
    std::int64_t max_timeout_ms = 30LL * 86'400'000;  // thirty days
    std::uint32_t max_attempts = 1'000'000;
};

using EntryField = std::pair<std::string_view, std::string_view>;

std::variant<JobEntry, EntryRejection> parse_job_entry(std::string_view entry_id, const std::vector<EntryField>& fields,
                                                       const EntryLimits& limits = {});

std::string_view to_string(EntryProblem problem);

}  // namespace warmpool
