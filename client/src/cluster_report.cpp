#include "cluster_report.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <set>
#include <string_view>

#include "warmpool/common/utf8.hpp"
#include "warmpool/redis/redis_layout.hpp"

namespace warmpool::detail {

namespace {

using json = nlohmann::json;

// Text another process wrote is shown, never trusted: made valid UTF-8 and cut to a sane length.
constexpr std::size_t kMaxTextBytes = 256;

std::string text(std::string_view raw) { return valid_utf8(raw, kMaxTextBytes); }

// A count from a heartbeat: a non-negative number, else 0.
std::uint64_t count_of(const json& object, const char* key) {
    const auto it = object.find(key);
    if (it == object.end()) return 0;
    if (it->is_number_unsigned()) return it->get<std::uint64_t>();
    if (it->is_number_integer()) return static_cast<std::uint64_t>(std::max<std::int64_t>(0, it->get<std::int64_t>()));
    if (it->is_number_float()) {
        const double value = it->get<double>();
        return std::isfinite(value) && value > 0 && value < 1.8e19 ? static_cast<std::uint64_t>(value) : 0;
    }
    return 0;
}

std::int64_t integer_of(const json& object, const char* key) {
    const auto it = object.find(key);
    if (it == object.end() || !it->is_number_integer()) return 0;  // unsigned numbers are integers too
    return it->is_number_unsigned()
               ? static_cast<std::int64_t>(std::min<std::uint64_t>(it->get<std::uint64_t>(), INT64_MAX))
               : it->get<std::int64_t>();
}

std::string string_of(const json& object, const char* key) {
    const auto it = object.find(key);
    return it != object.end() && it->is_string() ? text(it->get_ref<const std::string&>()) : std::string();
}

json workers_json(std::uint64_t total, std::uint64_t idle, std::uint64_t busy, std::uint64_t starting,
                  std::uint64_t slots) {
    return {{"total", total}, {"idle", idle}, {"busy", busy}, {"starting", starting}, {"slots", slots}};
}

// Copies a readable heartbeat's fields into `gateway`, with the types the report promises.
// False, with heartbeat_error set, if it is not a JSON object.
bool read_heartbeat(std::string_view raw, json& gateway) {
    const json heartbeat = json::parse(raw, nullptr, false);
    if (heartbeat.is_discarded() || !heartbeat.is_object()) {
        gateway["heartbeat_error"] = heartbeat.is_discarded() ? "not JSON" : "not a JSON object";
        return false;
    }
    gateway["host"] = string_of(heartbeat, "host");
    gateway["pool"] = string_of(heartbeat, "pool");
    gateway["pid"] = integer_of(heartbeat, "pid");
    gateway["started_ms"] = integer_of(heartbeat, "started_ms");
    gateway["heartbeat_ms"] = integer_of(heartbeat, "now_ms");
    gateway["lease_ms"] = integer_of(heartbeat, "lease_ms");
    gateway["capacity"] = count_of(heartbeat, "capacity");
    gateway["in_flight"] = count_of(heartbeat, "in_flight");
    const auto reachable = heartbeat.find("pool_reachable");
    gateway["pool_reachable"] = reachable != heartbeat.end() && reachable->is_boolean() && reachable->get<bool>();
    const auto workers_it = heartbeat.find("workers");
    const json workers = workers_it != heartbeat.end() && workers_it->is_object() ? *workers_it : json::object();
    gateway["workers"] = workers_json(count_of(workers, "total"), count_of(workers, "idle"), count_of(workers, "busy"),
                                      count_of(workers, "starting"), count_of(workers, "slots"));
    json jobs = json::object();
    for (const char* key : {"received", "finished", "lost", "claims", "requeued", "poisoned", "duplicates_dropped",
                            "late_after_cancel"}) {
        jobs[key] = count_of(heartbeat, key);
    }
    gateway["jobs"] = std::move(jobs);
    gateway["redis_reconnects"] = count_of(heartbeat, "redis_reconnects");
    return true;
}

std::optional<long long> decimal(std::string_view raw) {
    long long value = 0;
    const auto [end, error] = std::from_chars(raw.data(), raw.data() + raw.size(), value);
    if (error != std::errc() || end != raw.data() + raw.size()) return std::nullopt;
    return value;
}

json counters_json(const std::vector<std::pair<std::string, std::string>>& stats) {
    namespace stat = redis_layout::stat;
    json counters = json::object();
    for (std::string_view known : {stat::claims, stat::duplicates_dropped, stat::late_after_cancel, stat::requeued,
                                   stat::poisoned, stat::deleted_entries, stat::consumers_removed}) {
        counters[std::string(known)] = 0;
    }
    for (const auto& [field, value] : stats) {
        const auto number = decimal(value);
        if (number && *number >= 0) counters[text(field)] = *number;
    }
    return counters;
}

json group_json(const std::optional<GroupReading>& group) {
    if (!group) return nullptr;
    json out = {{"name", text(group->name)},
                {"consumers", group->consumers},
                {"pending", group->pending},
                {"last_delivered_id", text(group->last_delivered_id)}};
    out["entries_read"] = group->entries_read ? json(*group->entries_read) : json(nullptr);
    out["lag"] = group->lag ? json(*group->lag) : json(nullptr);
    return out;
}

}  // namespace

std::vector<std::string> gateway_names(const std::vector<std::string>& listed,
                                       const std::vector<std::pair<std::string, long long>>& pending) {
    std::set<std::string> names(listed.begin(), listed.end());
    for (const auto& [consumer, count] : pending) names.insert(consumer);
    return {names.begin(), names.end()};
}

json cluster_report(const ClusterReadings& readings) {
    const std::set<std::string> listed(readings.gateways.begin(), readings.gateways.end());
    std::map<std::string, long long> pending_of;
    long long pending_total = 0;
    for (const auto& [consumer, count] : readings.pending) {
        pending_of[consumer] += count;
        pending_total += count;
    }

    json gateways = json::array();
    std::uint64_t live = 0, lapsed = 0, total = 0, idle = 0, busy = 0, starting = 0, slots = 0, capacity = 0,
                  in_flight = 0;
    for (const std::string& name : gateway_names(readings.gateways, readings.pending)) {
        const auto heartbeat = readings.heartbeats.find(name);
        const bool is_live = heartbeat != readings.heartbeats.end();
        json gateway = {{"name", text(name)},
                        {"state", is_live ? "live" : "lapsed"},
                        {"listed", listed.contains(name)},
                        {"pending", pending_of.contains(name) ? pending_of[name] : 0}};
        (is_live ? live : lapsed) += 1;
        if (is_live && read_heartbeat(heartbeat->second, gateway)) {
            const json& w = gateway["workers"];
            total += w["total"].get<std::uint64_t>();
            idle += w["idle"].get<std::uint64_t>();
            busy += w["busy"].get<std::uint64_t>();
            starting += w["starting"].get<std::uint64_t>();
            slots += w["slots"].get<std::uint64_t>();
            capacity += gateway["capacity"].get<std::uint64_t>();
            in_flight += gateway["in_flight"].get<std::uint64_t>();
        }
        gateways.push_back(std::move(gateway));
    }

    json report = json::object();
    report["cluster"] = text(readings.cluster);
    report["endpoint"] = text(readings.endpoint);
    report["now_ms"] = readings.now_ms;
    report["gateways"] = std::move(gateways);
    report["stream"] = {{"length", readings.stream_length}, {"group", group_json(readings.group)}};
    report["counters"] = counters_json(readings.stats);
    report["totals"] = {{"gateways", live + lapsed},
                        {"live", live},
                        {"lapsed", lapsed},
                        {"workers", workers_json(total, idle, busy, starting, slots)},
                        {"capacity", capacity},
                        {"in_flight", in_flight},
                        {"pending", pending_total}};
    return report;
}

}  // namespace warmpool::detail
