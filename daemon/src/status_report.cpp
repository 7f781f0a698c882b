#include "warmpool/daemon/status_report.hpp"

#include <cstdio>
#include <nlohmann/json.hpp>

#include "warmpool/error_kind.hpp"

namespace warmpool {

std::string status_json(const StatusSnapshot& snap) {
    using nlohmann::json;
    json rows = json::array();
    unsigned ready = 0, busy = 0, starting = 0;
    for (const auto& w : snap.workers) {
        json row;
        row["slot"] = w.slot;
        row["pid"] = w.pid;
        if (!w.previous_exit.empty()) row["previous_exit"] = w.previous_exit;
        if (!w.replacing.empty()) row["replacing"] = w.replacing;
        if (w.state == "starting") ++starting;
        if (w.state == "busy" || w.state == "idle") ++ready;
        if (w.running) ++busy;
        row["state"] = w.state;
        row["jobs_done"] = w.jobs_done;
        row["queued"] = w.queued;
        row["rss_bytes"] = w.rss_bytes;
        row["init_seconds"] = w.init_seconds;
        row["uptime_seconds"] = w.uptime_seconds;
        row["current_function"] = nullptr;
        if (w.current_function) row["current_function"] = *w.current_function;
        if (w.by_lane) row["by_lane"] = true;
        if (w.busy_seconds) row["busy_seconds"] = *w.busy_seconds;
        rows.push_back(std::move(row));
    }

    const PoolCounters& c = snap.counters;
    json failed_by_kind = json::object();
    std::uint64_t failed_total = 0;
    for (ErrorKind kind : kAllErrorKinds) {
        failed_by_kind[std::string(to_string(kind))] = c.failed[static_cast<std::size_t>(kind)];
        failed_total += c.failed[static_cast<std::size_t>(kind)];
    }
    json sessions = json::array();
    for (const auto& s : snap.sessions) {
        sessions.push_back({{"slot", s.slot},
                            {"pid", s.pid},
                            {"uid", s.uid},
                            {"client", s.client},
                            {"state", s.closing ? "closing" : "active"},
                            {"submitted", s.submitted},
                            {"queued", s.queued},
                            {"in_flight", s.in_flight},
                            {"connected_seconds", s.connected_seconds}});
    }
    json last_exits = json::array();
    for (const auto& e : snap.last_exits) last_exits.push_back({{"slot", e.slot}, {"how", e.how}});

    json status;
    status["pool"] = snap.pool;
    status["pid"] = snap.pid;
    status["state"] = snap.state;
    status["started_at"] = snap.started_at;
    status["uptime_seconds"] = snap.uptime_seconds;
    status["job_library"] = snap.job_library;
    status["workers"] = {{"configured", snap.workers_configured},
                         {"live", snap.workers.size()},
                         {"ready", ready},
                         {"busy", busy},
                         {"starting", starting},
                         {"rows", rows}};
    status["jobs"] = {{"submitted", c.submitted},
                      {"completed", c.completed},
                      {"failed", failed_total},
                      {"failed_by_kind", failed_by_kind},
                      {"dropped", c.dropped},
                      {"queued", snap.queued},
                      {"in_flight", snap.in_flight},
                      {"direct", c.direct}};
    status["supervision"] = {{"worker_exits", c.worker_exits},
                             {"worker_crashes", c.worker_crashes},
                             {"failed_inits", c.failed_inits},
                             {"consecutive_failed_inits", snap.consecutive_failed_inits},
                             {"respawn_in_seconds", snap.respawn_in_seconds},
                             {"recycled", c.recycled},
                             {"retried", c.retried},
                             {"timeouts", c.timeouts},
                             {"reloads", c.reloads},
                             {"reloading", snap.reloading},
                             {"last_exits", last_exits}};
    status["queue"] = {{"depth", snap.queued},
                       {"max", snap.most_queued},
                       {"capacity", snap.queue_capacity},
                       {"session_capacity", snap.session_queue_capacity},
                       {"session_bytes", snap.session_queue_bytes}};
    status["sessions"] = {{"active", snap.sessions.size()}, {"max", snap.max_sessions}, {"rows", sessions}};
    json functions = json::array();
    for (const auto& f : snap.functions) {
        functions.push_back({{"name", f.name},
                             {"arguments", f.signature},
                             {"language", f.python ? "python" : "c++"},
                             {"timeout", f.timeout_seconds},
                             {"retries", f.retries},
                             {"settings", f.settings}});
    }
    status["functions"] = {{"total", snap.functions_total}, {"rows", functions}};
    // Every peer-chosen text is made valid where it enters; replacing here too means a text
    // that slipped past can never make the report fail.
    return status.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string status_prometheus(const StatusSnapshot& snap) {
    const std::string pool = "pool=\"" + snap.pool + "\"";
    std::string out;
    auto metric = [&](const char* name, const char* type, const char* help, double value) {
        out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
        char buf[64];
        std::snprintf(buf, sizeof buf, "%.17g", value);
        out += std::string(name) + "{" + pool + "} " + buf + "\n";
    };
    auto count = [](auto n) { return static_cast<double>(n); };
    unsigned busy = 0;
    for (const auto& w : snap.workers) busy += w.running ? 1 : 0;
    const PoolCounters& c = snap.counters;
    metric("warmpool_up", "gauge", "1 while the pool is serving", snap.state == "running" ? 1 : 0);
    metric("warmpool_uptime_seconds", "gauge", "Seconds since the supervisor started", snap.uptime_seconds);
    metric("warmpool_workers_configured", "gauge", "Configured worker count", count(snap.workers_configured));
    metric("warmpool_workers_live", "gauge", "Live worker processes", count(snap.workers.size()));
    metric("warmpool_workers_busy", "gauge", "Workers running a job", count(busy));
    metric("warmpool_jobs_submitted_total", "counter", "Jobs accepted from clients", count(c.submitted));
    metric("warmpool_jobs_completed_total", "counter", "Jobs that returned a result", count(c.completed));
    metric("warmpool_jobs_direct_total", "counter", "Jobs that went by lane, straight from a client to a worker",
           count(c.direct));
    out += "# HELP warmpool_jobs_failed_total Jobs that ended with an error, by kind\n"
           "# TYPE warmpool_jobs_failed_total counter\n";
    for (ErrorKind kind : kAllErrorKinds) {
        out += "warmpool_jobs_failed_total{" + pool + ",kind=\"" + std::string(to_string(kind)) + "\"} " +
               std::to_string(c.failed[static_cast<std::size_t>(kind)]) + "\n";
    }
    metric("warmpool_queue_depth", "gauge", "Jobs waiting for a worker", count(snap.queued));
    metric("warmpool_jobs_in_flight", "gauge", "Jobs held by workers", count(snap.in_flight));
    metric("warmpool_sessions_active", "gauge", "Connected clients", count(snap.sessions.size()));
    return out;
}

}  // namespace warmpool
