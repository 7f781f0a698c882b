#include "redis_job_entry.hpp"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <random>

#include <nlohmann/json.hpp>

#include "warmpool/common/shm_layout.hpp"
#include "warmpool/error_kind.hpp"
#include "warmpool/job_error.hpp"
#include "warmpool/priority.hpp"
#include "warmpool/redis/redis_layout.hpp"

namespace warmpool::detail {

namespace {

template <class T>
std::optional<T> decimal(std::string_view text) {
    T value{};
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
    return value;
}

}  // namespace

std::string new_client_id() {
    std::random_device entropy;
    const std::uint64_t value = (static_cast<std::uint64_t>(entropy()) << 32) ^ entropy();
    char text[17];
    std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(value));
    return text;
}

std::string job_id(std::string_view client, std::uint64_t seq) {
    return std::string(client) + "-" + std::to_string(seq);
}

std::int64_t deadline_unix_ms(std::chrono::steady_clock::time_point deadline,
                              std::chrono::steady_clock::time_point steady_now,
                              std::chrono::system_clock::time_point system_now) {
    using std::chrono::duration_cast;
    using std::chrono::milliseconds;
    const auto at = system_now + duration_cast<std::chrono::system_clock::duration>(deadline - steady_now);
    const std::int64_t ms = duration_cast<milliseconds>(at.time_since_epoch()).count();
    return ms == 0 ? 1 : ms;
}

std::vector<std::string> job_entry_fields(std::string_view client, std::uint64_t seq, std::string_view function,
                                          std::uint32_t flags, std::uint64_t fingerprint, std::string_view payload,
                                          const CallOptions& options, std::optional<std::int64_t> deadline_ms) {
    if (function.empty() || function.size() > kFunctionNameMax) {
        throw JobError(ErrorKind::bad_request, "function names are 1 to " + std::to_string(kFunctionNameMax) + " bytes");
    }
    if (!priority_in_range(options.priority)) {
        throw JobError(ErrorKind::bad_request, "priority " + std::to_string(options.priority) + " is outside " +
                                                   std::to_string(kPriorityMin) + ".." + std::to_string(kPriorityMax));
    }
    if (payload.size() > kRedisPayloadMax) {
        throw JobError(ErrorKind::bad_request, "the arguments take " + std::to_string(payload.size()) +
                                                   " bytes; a job sent through Redis may carry at most " +
                                                   std::to_string(kRedisPayloadMax) + " bytes");
    }
    namespace f = redis_layout::job_field;
    return {std::string(f::job),         job_id(client, seq),
            std::string(f::client),      std::string(client),
            std::string(f::function),    std::string(function),
            std::string(f::flags),       std::to_string(flags),
            std::string(f::fingerprint), std::to_string(fingerprint),
            std::string(f::payload),     std::string(payload),
            std::string(f::timeout_ms),  std::to_string(std::max<std::int64_t>(0, options.timeout.count())),
            std::string(f::deadline_ms), std::to_string(deadline_ms.value_or(0)),
            std::string(f::priority),    std::to_string(options.priority),
            std::string(f::attempts),    "0"};
}

std::optional<ReplyEntry> parse_reply_entry(const std::vector<std::pair<std::string_view, std::string_view>>& fields) {
    namespace f = redis_layout::reply_field;
    std::optional<std::uint64_t> seq;
    std::optional<std::uint16_t> status;
    std::optional<std::uint32_t> flags;
    std::optional<std::string_view> body;
    for (const auto& [name, value] : fields) {
        if (name == f::seq) seq = decimal<std::uint64_t>(value);
        if (name == f::status) status = decimal<std::uint16_t>(value);
        if (name == f::flags) flags = decimal<std::uint32_t>(value);
        if (name == f::body) body = value;
    }
    if (!seq || *seq == 0 || !status || !flags || !body) return std::nullopt;
    // A status we do not know would be reported as some other kind: say what it was instead.
    if (*status != 0 && !error_kind_from_code(*status)) {
        return ReplyEntry{*seq, static_cast<std::uint16_t>(ErrorKind::bad_request), 0,
                          "the job ended with status " + std::to_string(*status) + ", unknown to this client: " +
                              std::string(*body)};
    }
    return ReplyEntry{*seq, *status, *flags, std::string(*body)};
}

unsigned cluster_worker_slots(const std::vector<std::string>& heartbeats) {
    unsigned total = 0;
    for (const auto& text : heartbeats) {
        const auto json = nlohmann::json::parse(text, nullptr, false);
        if (json.is_discarded() || !json.is_object()) continue;
        const auto it = json.find("capacity");
        if (it == json.end() || !it->is_number_unsigned()) continue;
        total += static_cast<unsigned>(std::min<std::uint64_t>(it->get<std::uint64_t>(), 4096));
    }
    return std::max(2u, std::min(total, 65536u));
}

std::size_t in_flight_cap(unsigned worker_slots) {
    return std::clamp<std::size_t>(std::size_t{64} * worker_slots, 1024, 65536);
}

ReplySettings cluster_reply_settings(const std::vector<std::string>& heartbeats) {
    ReplySettings found;
    const auto largest = [](const nlohmann::json& json, const char* key, std::int64_t& into) {
        const auto it = json.find(key);
        if (it != json.end() && it->is_number_integer() && it->get<std::int64_t>() > 0) {
            into = std::max(into, it->get<std::int64_t>());
        }
    };
    for (const auto& text : heartbeats) {
        const auto json = nlohmann::json::parse(text, nullptr, false);
        if (json.is_discarded() || !json.is_object()) continue;
        largest(json, "done_ttl_ms", found.done_ttl_ms);
        largest(json, "reply_cap", found.reply_cap);
        largest(json, "reply_ttl_s", found.reply_ttl_s);
    }
    if (found.done_ttl_ms == 0) found.done_ttl_ms = redis_layout::kDefaultDoneTtlMs;
    if (found.reply_cap == 0) found.reply_cap = redis_layout::kDefaultReplyCap;
    if (found.reply_ttl_s == 0) found.reply_ttl_s = redis_layout::kDefaultReplyTtlS;
    return found;
}

}  // namespace warmpool::detail
