// The client's half of the scale-out wire format, as pure functions: the fields of a job entry it
// adds to the cluster's job stream, the reply entries it reads from its own reply stream, the
// gateways' capacity it sizes map() by, and the back-off between reconnects. Private to
// libwarmpool; the keys, field names and scripts themselves are in redis_layout.hpp.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "warmpool/call_options.hpp"

namespace warmpool::detail {

// The largest argument a job sent through Redis may carry. Larger ones fail with bad_request
// before anything is sent: a stream entry is held whole in Redis's memory and in a gateway's.
inline constexpr std::size_t kRedisPayloadMax = 64u << 20;
// The payload budget a Redis session reports as inline_max(): map() keeps its batches to half of
// it, so that one batch is one moderate stream entry.
inline constexpr std::size_t kRedisInlineBudget = 1u << 20;

// A new random client id: 16 lowercase hex digits (redis_layout::valid_client_id).
std::string new_client_id();

// "<client>-<seq>".
std::string job_id(std::string_view client, std::uint64_t seq);

// Unix epoch milliseconds for a steady_clock deadline, given both clocks' now (0 means "no
// deadline" on the wire, so a deadline that falls there becomes 1).
std::int64_t deadline_unix_ms(std::chrono::steady_clock::time_point deadline,
                              std::chrono::steady_clock::time_point steady_now,
                              std::chrono::system_clock::time_point system_now);

// The field/value pairs of a job entry (redis_layout::job_field), in order, ready to follow
// "XADD <jobs> *". Throws JobError(bad_request) for what no gateway would take: an empty or
// too long function name, a priority out of range, a payload over kRedisPayloadMax.
std::vector<std::string> job_entry_fields(std::string_view client, std::uint64_t seq, std::string_view function,
                                          std::uint32_t flags, std::uint64_t fingerprint, std::string_view payload,
                                          const CallOptions& options, std::optional<std::int64_t> deadline_ms);

// One reply entry (redis_layout::reply_field).
struct ReplyEntry {
    std::uint64_t seq = 0;
    std::uint16_t status = 0;
    std::uint32_t flags = 0;
    std::string body;
};
// A reply entry from its field/value pairs; nullopt if it is not one (a field missing or not a
// number, a status out of range).
std::optional<ReplyEntry> parse_reply_entry(const std::vector<std::pair<std::string_view, std::string_view>>& fields);

// The sum of the "capacity" of the gateways' heartbeat JSON texts (an unreadable one counts 0),
// and at least 2, so that map() always has batches for two workers to take.
unsigned cluster_worker_slots(const std::vector<std::string>& heartbeats);

// The cap on a Redis session's jobs awaiting their reply: the room wait_if_full waits for.
std::size_t in_flight_cap(unsigned worker_slots);

// The settings a client writes with as the gateways do: a cancel's fence (done_ttl) and reply
// (reply_cap, reply_ttl), and the reply stream's refreshed time to live.
struct ReplySettings {
    std::int64_t done_ttl_ms = 0;
    std::int64_t reply_cap = 0;
    std::int64_t reply_ttl_s = 0;
};
// The largest of each setting the gateways' heartbeat JSON texts publish ("done_ttl_ms",
// "reply_cap", "reply_ttl_s"; a missing or unreadable one is not counted), or redis_layout's
// default for a setting no heartbeat has.
ReplySettings cluster_reply_settings(const std::vector<std::string>& heartbeats);

}  // namespace warmpool::detail
