// ClusterReport: the status of a scale-out cluster as JSON, assembled from what was read out of
// Redis (ClusterReadings), as a pure function so that every rule is unit-tested with hand-made
// readings (tests/unit/cluster_report_test.cc). cluster_status.cpp does the reading.
//
// Everything in the readings was written by other processes, possibly by anyone who can write
// the cluster's keys: a heartbeat that is not JSON, or holds fields of the wrong type, costs that
// gateway its details (heartbeat_error says why), never the report. Text is made valid UTF-8
// where it is copied in.
//
// The report's fields (docs/ARCHITECTURE.md, "Scale-out"):
//   cluster, endpoint, now_ms (the reader's wall clock)
//   gateways[]: name, state ("live": its heartbeat key exists; "lapsed": it does not), listed
//     (in the gateways set; false for a consumer known only by its pending entries), pending
//     (entries delivered to it and not yet acknowledged), and from a readable heartbeat: host,
//     pool, pid, started_ms, heartbeat_ms, lease_ms, capacity, in_flight, pool_reachable,
//     workers {total, idle, busy, starting, slots}, jobs {received, finished, lost, claims,
//     requeued, poisoned, duplicates_dropped, late_after_cancel}, redis_reconnects; or
//     heartbeat_error for a heartbeat that cannot be read.
//   stream: length (XLEN), group: null if there is none, else {name, consumers, pending,
//     last_delivered_id, entries_read (null: unknown), lag (null: unknown)}
//   counters: the stats hash (claims, duplicates_dropped, late_after_cancel, requeued, poisoned,
//     deleted_entries, consumers_removed: 0 when absent; other numeric fields as they are)
//   totals: gateways, live, lapsed, workers {total, idle, busy, starting, slots}, capacity,
//     in_flight (over live gateways), pending (over all consumers)
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace warmpool::detail {

// One entry of XINFO GROUPS.
struct GroupReading {
    std::string name;
    long long consumers = 0;
    long long pending = 0;
    std::string last_delivered_id;
    std::optional<long long> entries_read;  // Redis 7: nil when it cannot tell
    std::optional<long long> lag;
};

struct ClusterReadings {
    std::string cluster;
    std::string endpoint;  // RedisEndpoint::text(): safe to show
    std::int64_t now_ms = 0;
    std::vector<std::string> gateways;                     // SMEMBERS gateways
    std::map<std::string, std::string> heartbeats;         // the heartbeat keys that exist, by gateway
    long long stream_length = 0;                           // XLEN jobs
    std::optional<GroupReading> group;                     // the group "gateways", if it exists
    std::vector<std::pair<std::string, long long>> pending;  // XPENDING's summary, per consumer
    std::vector<std::pair<std::string, std::string>> stats;  // HGETALL stats
};

// The names whose heartbeat keys are to be read: the gateways set and every consumer with
// pending entries, each once.
std::vector<std::string> gateway_names(const std::vector<std::string>& listed,
                                       const std::vector<std::pair<std::string, long long>>& pending);

nlohmann::json cluster_report(const ClusterReadings& readings);

}  // namespace warmpool::detail
