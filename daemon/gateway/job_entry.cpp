#include "job_entry.hpp"

#include <charconv>
#include <limits>
#include <optional>

#include "warmpool/common/shm_layout.hpp"
#include "warmpool/priority.hpp"
#include "warmpool/redis/redis_layout.hpp"

namespace warmpool {

namespace {

namespace field = redis_layout::job_field;

// A decimal number: digits only (a leading '-' only where `negative_ok`), no spaces or '+'.
template <class T>
std::optional<T> decimal(std::string_view text, bool negative_ok = false) {
    if (text.empty() || text.size() > 20) return std::nullopt;
    if (text[0] == '-' && !negative_ok) return std::nullopt;
    T value{};
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
    return value;
}

struct Fields {
    std::optional<std::string_view> job, client, function, flags, fingerprint, payload, timeout_ms, deadline_ms,
        priority, attempts, last_failure;

    std::optional<std::string_view>* slot(std::string_view name) {
        if (name == field::job) return &job;
        if (name == field::client) return &client;
        if (name == field::function) return &function;
        if (name == field::flags) return &flags;
        if (name == field::fingerprint) return &fingerprint;
        if (name == field::payload) return &payload;
        if (name == field::timeout_ms) return &timeout_ms;
        if (name == field::deadline_ms) return &deadline_ms;
        if (name == field::priority) return &priority;
        if (name == field::attempts) return &attempts;
        if (name == field::last_failure) return &last_failure;
        return nullptr;  // an unknown field is ignored: a newer client may add some
    }
};

// The latest deadline taken: the year 9999.
constexpr std::int64_t kMaxDeadlineMs = 253'402'300'799'999;

}  // namespace

std::string_view to_string(EntryProblem problem) {
    switch (problem) {
        case EntryProblem::bad_client: return "bad_client";
        case EntryProblem::bad_job_id: return "bad_job_id";
        case EntryProblem::missing_field: return "missing_field";
        case EntryProblem::repeated_field: return "repeated_field";
        case EntryProblem::bad_number: return "bad_number";
        case EntryProblem::out_of_range: return "out_of_range";
        case EntryProblem::unknown_flags: return "unknown_flags";
        case EntryProblem::oversized: return "oversized";
    }
    return "unknown";
}

std::variant<JobEntry, EntryRejection> parse_job_entry(std::string_view entry_id, const std::vector<EntryField>& fields,
                                                       const EntryLimits& limits) {
    Fields f;
    std::optional<std::string> repeated;
    for (const auto& [name, value] : fields) {
        auto* slot = f.slot(name);
        if (slot == nullptr) continue;
        if (slot->has_value() && !repeated) repeated = std::string(name);
        *slot = value;
    }

    // Who to answer comes first: without a sound client and job id there is no one to answer.
    if (!f.client || !redis_layout::valid_client_id(*f.client)) {
        return EntryRejection{EntryProblem::bad_client, "the entry's client id is missing or malformed"};
    }
    const std::string client(*f.client);
    const std::string_view job = f.job.value_or("");
    std::optional<std::uint64_t> seq;
    if (job.size() > client.size() + 1 && job.substr(0, client.size()) == client && job[client.size()] == '-') {
        seq = decimal<std::uint64_t>(job.substr(client.size() + 1));
    }
    if (!seq || *seq == 0) {
        return EntryRejection{EntryProblem::bad_job_id, "the entry's job id is missing or not its client's"};
    }
    auto reject = [&](EntryProblem problem, std::string message) {
        return EntryRejection{problem, std::move(message), true, std::string(job), client, *seq};
    };
    if (repeated) return reject(EntryProblem::repeated_field, "field '" + *repeated + "' appears twice");

    for (auto [name, value] : {std::pair{field::function, &f.function}, std::pair{field::flags, &f.flags},
                               std::pair{field::fingerprint, &f.fingerprint}, std::pair{field::payload, &f.payload}}) {
        if (!value->has_value()) return reject(EntryProblem::missing_field, "field '" + std::string(name) + "' is missing");
    }

    JobEntry entry;
    entry.entry_id = std::string(entry_id);
    entry.job = std::string(job);
    entry.client = client;
    entry.seq = *seq;

    if (f.function->empty() || f.function->size() > kFunctionNameMax) {
        return reject(EntryProblem::oversized, "the function name must have 1 to " + std::to_string(kFunctionNameMax) +
                                                   " bytes");
    }
    entry.function = std::string(*f.function);

    const auto flags = decimal<std::uint32_t>(*f.flags);
    if (!flags) return reject(EntryProblem::bad_number, "field 'flags' is not a decimal number");
    if ((*flags & ~(kJobEncodingFlags | kJobBatch)) != 0 || (*flags & kJobEncodingFlags) == kJobEncodingFlags) {
        return reject(EntryProblem::unknown_flags, "field 'flags' has unknown bits or two encodings");
    }
    entry.flags = *flags;

    const auto fingerprint = decimal<std::uint64_t>(*f.fingerprint);
    if (!fingerprint) return reject(EntryProblem::bad_number, "field 'fp' is not a decimal number");
    entry.fingerprint = *fingerprint;

    if (f.payload->size() > limits.max_payload_bytes) {
        return reject(EntryProblem::oversized, "the argument is larger than " +
                                                   std::to_string(limits.max_payload_bytes) + " bytes");
    }
    entry.payload = std::string(*f.payload);

    if (f.timeout_ms) {
        const auto timeout = decimal<std::int64_t>(*f.timeout_ms);
        if (!timeout) return reject(EntryProblem::bad_number, "field 'timeout_ms' is not a decimal number");
        if (*timeout > limits.max_timeout_ms) return reject(EntryProblem::out_of_range, "field 'timeout_ms' is too large");
        entry.timeout_ms = *timeout;
    }
    if (f.deadline_ms) {
        const auto deadline = decimal<std::int64_t>(*f.deadline_ms);
        if (!deadline) return reject(EntryProblem::bad_number, "field 'deadline_ms' is not a decimal number");
        if (*deadline > kMaxDeadlineMs) return reject(EntryProblem::out_of_range, "field 'deadline_ms' is too large");
        entry.deadline_ms = *deadline;
    }
    if (f.priority) {
        const auto priority = decimal<int>(*f.priority, true);
        if (!priority) return reject(EntryProblem::bad_number, "field 'prio' is not a decimal number");
        if (*priority < kPriorityMin || *priority > kPriorityMax) {
            return reject(EntryProblem::out_of_range, "field 'prio' must be " + std::to_string(kPriorityMin) + " to " +
                                                          std::to_string(kPriorityMax));
        }
        entry.priority = *priority;
    }
    if (f.attempts) {
        const auto attempts = decimal<std::uint32_t>(*f.attempts);
        if (!attempts) return reject(EntryProblem::bad_number, "field 'attempts' is not a decimal number");
        if (*attempts > limits.max_attempts) return reject(EntryProblem::out_of_range, "field 'attempts' is too large");
        entry.attempts = *attempts;
    }
    if (f.last_failure) {
        if (f.last_failure->size() > limits.max_failure_bytes) {
            return reject(EntryProblem::oversized, "field 'last_failure' is too long");
        }
        entry.last_failure = std::string(*f.last_failure);
    }
    return entry;
}

}  // namespace warmpool
