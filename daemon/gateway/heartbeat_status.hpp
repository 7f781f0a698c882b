// The heartbeat's status JSON (the value of warmpool:{C}:gateway:<name>), built from the
// gateway's counters and its local pool's status. Pure; what `warmpool status --endpoint` reads.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "gateway_state.hpp"
#include "warmpool/redis/redis_layout.hpp"

namespace warmpool {

struct HeartbeatFacts {
    std::string name;
    std::string host;
    std::string pool;
    std::int64_t pid = 0;
    std::int64_t started_ms = 0;
    std::int64_t now_ms = 0;
    std::int64_t lease_ms = 0;
    unsigned capacity = 0;
    std::size_t in_flight = 0;
    unsigned worker_slots = 0;
    // The settings clients need to write as this gateway does (a cancel's fence and reply, the
    // reply stream's time to live): its --done-ttl-ms, --reply-cap and --reply-ttl.
    std::int64_t done_ttl_ms = redis_layout::kDefaultDoneTtlMs;
    std::int64_t reply_cap = redis_layout::kDefaultReplyCap;
    std::int64_t reply_ttl_s = redis_layout::kDefaultReplyTtlS;
};

// `pool_status`: the local pool's status JSON, or nullopt if it could not be read.
nlohmann::json heartbeat_json(const HeartbeatFacts& facts, const GatewayCounters& counters,
                              const std::optional<nlohmann::json>& pool_status);

}  // namespace warmpool
