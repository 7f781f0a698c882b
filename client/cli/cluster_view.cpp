#include "cluster_view.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string_view>
#include <vector>

#include "top_view.hpp"
#include "warmpool/common/metrics_text.hpp"

namespace warmpool {

namespace {

using json = nlohmann::json;

// A field of an object, or null if the object lacks it (or is no object).
const json& field(const json& object, std::string_view key) {
    static const json none;
    if (!object.is_object()) return none;
    const auto it = object.find(key);
    return it == object.end() ? none : *it;
}

std::optional<long long> integer(const json& value) {
    if (value.is_number_unsigned())
        return static_cast<long long>(std::min<std::uint64_t>(value.get<std::uint64_t>(), INT64_MAX));
    if (value.is_number_integer()) return value.get<long long>();
    return std::nullopt;
}

// Text others wrote (gateway names, hosts, pools) goes to a terminal: control characters, ASCII
// and C1, become '?' so that none can move the cursor or change colours.
std::string printable(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size(); ++i) {
        const auto c = static_cast<unsigned char>(text[i]);
        if (c == 0xc2 && i + 1 < text.size() && static_cast<unsigned char>(text[i + 1]) >= 0x80 &&
            static_cast<unsigned char>(text[i + 1]) <= 0x9f) {
            out += '?';
            ++i;
        } else if (c < 0x20 || c == 0x7f) {
            out += '?';
        } else {
            out += static_cast<char>(c);
        }
    }
    return out;
}

std::string text_of(const json& value) {
    if (value.is_string())
        return value.get_ref<const std::string&>().empty() ? "-" : printable(value.get_ref<const std::string&>());
    if (const auto n = integer(value)) return std::to_string(*n);
    return "-";
}

// Rows of cells, printed in columns as wide as their widest cell; the last column is not padded.
std::string columns(const std::vector<std::vector<std::string>>& rows) {
    std::vector<std::size_t> widths;
    for (const auto& row : rows) {
        widths.resize(std::max(widths.size(), row.size()));
        for (std::size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
    }
    std::string out;
    for (const auto& row : rows) {
        std::string line;
        for (std::size_t i = 0; i < row.size(); ++i) {
            if (i > 0) line += "  ";
            line += row[i];
            if (i + 1 < row.size()) line.append(widths[i] - row[i].size(), ' ');
        }
        while (!line.empty() && line.back() == ' ') line.pop_back();
        out += line + "\n";
    }
    return out;
}

std::string gateway_note(const json& gateway) {
    std::vector<std::string> notes;
    if (field(gateway, "listed") == false) notes.emplace_back("not in the gateways set");
    if (field(gateway, "heartbeat_error").is_string()) {
        notes.push_back("unreadable heartbeat (" + text_of(field(gateway, "heartbeat_error")) + ")");
    }
    if (field(gateway, "state") == "live" && field(gateway, "pool_reachable") == false &&
        !field(gateway, "heartbeat_error").is_string()) {
        notes.emplace_back("its pool does not answer");
    }
    std::string out;
    for (const auto& note : notes) out += (out.empty() ? "" : "; ") + note;
    return out;
}

}  // namespace

std::string render_cluster_status(const json& report) {
    const json& totals = field(report, "totals");
    std::string out = "cluster " + text_of(field(report, "cluster")) + " at " + text_of(field(report, "endpoint")) +
                      ": " + text_of(field(totals, "gateways")) + " gateways, " + text_of(field(totals, "live")) +
                      " live, " + text_of(field(totals, "lapsed")) + " lapsed\n\n";

    std::vector<std::vector<std::string>> rows = {{"GATEWAY", "HOST", "POOL", "STATE", "IDLE", "BUSY", "TOTAL",
                                                    "IN-FLIGHT", "PENDING", "CLAIMS", "DUPLICATES", "NOTE"}};
    const json& gateways = field(report, "gateways");
    if (gateways.is_array()) {
        for (const json& g : gateways) {
            const json& workers = field(g, "workers");
            const json& jobs = field(g, "jobs");
            rows.push_back({text_of(field(g, "name")), text_of(field(g, "host")), text_of(field(g, "pool")),
                            text_of(field(g, "state")), text_of(field(workers, "idle")),
                            text_of(field(workers, "busy")), text_of(field(workers, "total")),
                            text_of(field(g, "in_flight")), text_of(field(g, "pending")),
                            text_of(field(jobs, "claims")), text_of(field(jobs, "duplicates_dropped")),
                            gateway_note(g)});
        }
    }
    out += columns(rows);
    if (rows.size() == 1) out += "(no gateways)\n";

    const json& workers = field(totals, "workers");
    out += "\ntotals    workers " + text_of(field(workers, "idle")) + " idle, " + text_of(field(workers, "busy")) +
           " busy, " + text_of(field(workers, "starting")) + " starting, " + text_of(field(workers, "total")) +
           " total (" + text_of(field(workers, "slots")) + " slots); " + text_of(field(totals, "in_flight")) +
           " in flight of capacity " + text_of(field(totals, "capacity")) + "; " + text_of(field(totals, "pending")) +
           " pending\n";

    const json& stream = field(report, "stream");
    const json& group = field(stream, "group");
    out += "stream    " + text_of(field(stream, "length")) + " entries; ";
    if (group.is_object()) {
        out += "group " + text_of(field(group, "name")) + ": " + text_of(field(group, "consumers")) + " consumers, " +
               text_of(field(group, "pending")) + " pending, lag " + text_of(field(group, "lag")) + ", " +
               text_of(field(group, "entries_read")) + " read\n";
    } else {
        out += "no consumer group yet (no gateway has started)\n";
    }

    std::string counters;
    if (field(report, "counters").is_object()) {
        for (const auto& [name, value] : field(report, "counters").items()) {
            counters += (counters.empty() ? "" : ", ") + printable(name) + " " + text_of(value);
        }
    }
    out += "counters  " + (counters.empty() ? std::string("-") : counters) + "\n";
    return out;
}

std::string render_cluster_top(const json& report, unsigned width) {
    std::string read_at = "-";
    if (const auto now_ms = integer(field(report, "now_ms")); now_ms && *now_ms >= 0) {
        const long long day_s = (*now_ms / 1000) % 86400;
        char clock[16];
        std::snprintf(clock, sizeof clock, "%02lld:%02lld:%02lld", day_s / 3600, day_s / 60 % 60, day_s % 60);
        read_at = std::string(clock) + " UTC";
    }
    const std::string title = "warmpool top - cluster " + text_of(field(report, "cluster")) + ", read at " + read_at;
    return clip_lines(title + "\n\n" + render_cluster_status(report), width);
}

namespace {

std::string string_of(const json& value) { return value.is_string() ? value.get<std::string>() : std::string(); }

}  // namespace

std::string cluster_metrics(const json& report, metrics_http::Format format) {
    // A family with no samples is left out: a figure no gateway reported is not said to be there.
    const std::string cluster = string_of(field(report, "cluster"));
    MetricsTextWriter m(format == metrics_http::Format::openmetrics, {"cluster", cluster},
                        MetricsTextWriter::EmptyFamilies::left_out);
    const json& totals = field(report, "totals");
    const json& gateways_field = field(report, "gateways");
    const json gateways = gateways_field.is_array() ? gateways_field : json::array();

    m.family("warmpool_cluster_hosts", "gauge", "Gateways of the cluster, by whether their heartbeat is current");
    for (const char* state : {"live", "lapsed"}) {
        if (const auto n = integer(field(totals, state))) m.sample(*n, {{"state", state}});
    }

    // One family per figure, each with a sample per gateway that has it.
    auto per_gateway = [&](std::string_view name, std::string_view type, std::string_view help, auto value_of) {
        m.family(name, type, help);
        for (const json& g : gateways) {
            if (const std::optional<long long> value = value_of(g))
                m.sample(*value, {{"gateway", string_of(field(g, "name"))}});
        }
    };
    per_gateway("warmpool_cluster_gateway_up", "gauge",
                "1 while the gateway's heartbeat is current, 0 once it has lapsed",
                [](const json& g) -> std::optional<long long> { return field(g, "state") == "live" ? 1 : 0; });
    per_gateway("warmpool_cluster_pending", "gauge", "Job entries delivered to the gateway and not yet acknowledged",
                [](const json& g) { return integer(field(g, "pending")); });

    m.family("warmpool_cluster_workers", "gauge", "Workers of the gateway's pool, by state");
    for (const json& g : gateways) {
        for (const char* state : {"idle", "busy", "starting"}) {
            if (const auto n = integer(field(field(g, "workers"), state))) {
                m.sample(*n, {{"gateway", string_of(field(g, "name"))}, {"state", state}});
            }
        }
    }
    per_gateway("warmpool_cluster_worker_slots", "gauge", "The most workers the gateway's pool may have",
                [](const json& g) { return integer(field(field(g, "workers"), "slots")); });
    per_gateway("warmpool_cluster_capacity", "gauge", "Jobs the gateway takes from the stream at once",
                [](const json& g) { return integer(field(g, "capacity")); });
    per_gateway("warmpool_cluster_in_flight", "gauge", "Jobs the gateway has taken and not yet finished",
                [](const json& g) { return integer(field(g, "in_flight")); });
    per_gateway("warmpool_cluster_pool_reachable", "gauge",
                "1 if the gateway's local pool answered its last status read",
                [](const json& g) -> std::optional<long long> {
                    const json& reachable = field(g, "pool_reachable");
                    if (!reachable.is_boolean()) return std::nullopt;
                    return reachable.get<bool>() ? 1 : 0;
                });

    m.family("warmpool_cluster_gateway_jobs", "counter",
             "Jobs the gateway received, finished, and lost to another gateway's claim, since it started");
    for (const json& g : gateways) {
        for (const char* event : {"received", "finished", "lost"}) {
            if (const auto n = integer(field(field(g, "jobs"), event))) {
                m.sample(*n, {{"gateway", string_of(field(g, "name"))}, {"event", event}});
            }
        }
    }
    per_gateway("warmpool_cluster_gateway_redis_reconnects", "counter",
                "Times the gateway connected to Redis again after losing it, since it started",
                [](const json& g) { return integer(field(g, "redis_reconnects")); });

    const json& stream = field(report, "stream");
    const json& group = field(stream, "group");
    m.family("warmpool_cluster_stream_entries", "gauge", "Entries in the cluster's job stream");
    if (const auto n = integer(field(stream, "length"))) m.sample(*n);
    m.family("warmpool_cluster_stream_lag", "gauge", "Entries of the job stream no gateway has read yet");
    if (const auto n = integer(field(group, "lag"))) m.sample(*n);
    m.family("warmpool_cluster_stream_pending", "gauge", "Entries read by a gateway and not yet acknowledged");
    if (const auto n = integer(field(group, "pending"))) m.sample(*n);

    const json& counters = field(report, "counters");
    const std::pair<const char*, const char*> cluster_counters[] = {
        {"claims", "Job entries taken over from gateways whose heartbeat lapsed"},
        {"duplicates_dropped", "Second outcomes of a job, dropped (the first was its reply)"},
        {"late_after_cancel", "Results that came after the job's cancel had answered it"},
        {"requeued", "Deliveries that ended without an outcome and put the job back on the stream"},
        {"poisoned", "Jobs finished as poison after too many deliveries without an outcome"},
        {"deleted_entries", "Pending entries found deleted when claimed, which cannot be answered"},
        {"consumers_removed", "Dead gateways removed from the consumer group"},
    };
    for (const auto& [name, help] : cluster_counters) {
        m.family(std::string("warmpool_cluster_") + name, "counter", help);
        if (const auto n = integer(field(counters, name))) m.sample(*n);
    }
    return std::move(m).finish();
}

}  // namespace warmpool
