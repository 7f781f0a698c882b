// The status report: what the status socket answers, built from a snapshot of the supervisor's
// own tables and the workers' shared-memory records.
#include <unistd.h>

#include <cinttypes>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "warmpool/common/clock.hpp"
#include "warmpool/common/utf8.hpp"
#include "warmpool/daemon/supervisor.hpp"

namespace warmpool {

namespace {

std::int64_t rss_bytes(pid_t pid) {
    std::ifstream statm("/proc/" + std::to_string(pid) + "/statm");
    std::int64_t pages_total = 0, pages_resident = 0;
    if (!(statm >> pages_total >> pages_resident)) return 0;
    return pages_resident * ::sysconf(_SC_PAGESIZE);
}

std::string iso8601(std::int64_t wall) {
    time_t secs = static_cast<time_t>(wall / 1'000'000'000);
    tm utc{};
    gmtime_r(&secs, &utc);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &utc);
    return buf;
}

const char* supervisor_state_name(Supervisor::State state) {
    switch (state) {
        case Supervisor::State::starting: return "starting";
        case Supervisor::State::running: return "running";
        case Supervisor::State::stopping: return "stopping";
        case Supervisor::State::done: return "stopped";
    }
    return "unknown";
}

}  // namespace

std::string Supervisor::status_json() const {
    using nlohmann::json;
    const std::int64_t now = monotonic_ns();
    json rows = json::array();
    unsigned live = 0, ready = 0, busy = 0, starting = 0;
    std::uint64_t completed = counters_.completed;
    std::uint64_t dropped = counters_.dropped;
    std::uint64_t failed[kOutcomeSlots];
    std::copy(std::begin(counters_.failed), std::end(counters_.failed), failed);
    for (unsigned slot = 0; slot < workers_.size(); ++slot) {
        const WorkerSlot& w = workers_[slot];
        const WorkerRecord& rec = record(slot);
        if (w.pid <= 0) continue;
        json row;
        row["slot"] = slot;
        row["pid"] = w.pid;
        if (!last_exits_[slot].empty()) row["previous_exit"] = last_exits_[slot];
        if (!w.replace_reason.empty()) row["replacing"] = w.replace_reason;
        ++live;
        const WorkerState state = worker_state(slot);
        const std::uint64_t running = rec.running_seq.load(std::memory_order_acquire);
        std::string state_text;
        switch (state) {
            case WorkerState::starting: state_text = "starting"; ++starting; break;
            case WorkerState::ready: state_text = running != 0 ? "busy" : "idle"; ++ready; break;
            case WorkerState::exiting: state_text = "retiring"; break;
            default: state_text = "empty"; break;
        }
        if (running != 0) ++busy;
        row["state"] = state_text;
        row["jobs_done"] = rec.jobs_done.load(std::memory_order_relaxed);
        row["queued"] = w.in_flight.size();
        const std::uint64_t measured = rec.rss_bytes.load(std::memory_order_relaxed);
        row["rss_bytes"] = measured != 0 ? static_cast<std::int64_t>(measured) : rss_bytes(w.pid);
        row["init_seconds"] = static_cast<double>(rec.init_ns.load()) / 1e9;
        row["uptime_seconds"] = static_cast<double>(now - w.started_ns) / 1e9;
        row["current_function"] = nullptr;
        if (running == kLaneRunningSeq) {
            row["current_function"] = lane_job_function(slot);
            row["by_lane"] = true;
        } else if (running != 0) {
            for (const auto& job : w.in_flight) {
                if (job.seq + 1 == running) {
                    // The client wrote the name: any bytes but NUL.
                    row["current_function"] = valid_utf8(function_name(job.job.record));
                    break;
                }
            }
            row["busy_seconds"] = static_cast<double>(now - rec.running_since_ns.load()) / 1e9;
        }
        rows.push_back(std::move(row));
    }

    json failed_by_kind = json::object();
    std::uint64_t failed_total = 0;
    for (ErrorKind kind : kAllErrorKinds) {
        failed_by_kind[std::string(to_string(kind))] = failed[static_cast<std::size_t>(kind)];
        failed_total += failed[static_cast<std::size_t>(kind)];
    }
    std::uint64_t in_flight = 0;
    for (unsigned slot = 0; slot < workers_.size(); ++slot) {
        in_flight += workers_[slot].in_flight.size() + lane_jobs_running(slot);
    }

    json sessions = json::array();
    unsigned active = 0;
    for (unsigned slot = 0; slot < sessions_.size(); ++slot) {
        const Session& s = sessions_[slot];
        if (!s.used) continue;
        ++active;
        sessions.push_back({{"slot", slot},
                            {"pid", s.peer.pid},
                            {"uid", s.peer.uid},
                            {"client", s.client_name},
                            {"state", s.closing ? "closing" : "active"},
                            {"submitted", s.submitted},
                            {"queued", s.queue.size()},
                            {"in_flight", s.in_flight},
                            {"connected_seconds", static_cast<double>(now - s.connected_ns) / 1e9}});
    }

    json status;
    status["pool"] = config_.name;
    status["pid"] = getpid();
    status["state"] = supervisor_state_name(state_);
    status["started_at"] = iso8601(started_wall_ns_);
    status["uptime_seconds"] = static_cast<double>(now - started_ns_) / 1e9;
    status["job_library"] = config_.jobs_library;
    status["workers"] = {{"configured", config_.workers}, {"live", live},     {"ready", ready},
                         {"busy", busy},                  {"starting", starting}, {"rows", rows}};
    status["jobs"] = {{"submitted", counters_.submitted},
                      {"completed", completed},
                      {"failed", failed_total},
                      {"failed_by_kind", failed_by_kind},
                      {"dropped", dropped},
                      {"queued", queue_totals_.jobs},
                      {"in_flight", in_flight},
                      {"direct", counters_.direct}};
    json last_exits = json::array();
    for (unsigned slot = 0; slot < last_exits_.size(); ++slot) {
        if (!last_exits_[slot].empty()) last_exits.push_back({{"slot", slot}, {"how", last_exits_[slot]}});
    }
    const std::int64_t backoff = next_spawn_ns_ - now;
    status["supervision"] = {{"worker_exits", counters_.worker_exits},
                             {"worker_crashes", counters_.worker_crashes},
                             {"failed_inits", counters_.failed_inits},
                             {"consecutive_failed_inits", respawn_.consecutive_failed_inits()},
                             {"respawn_in_seconds", backoff > 0 ? static_cast<double>(backoff) / 1e9 : 0.0},
                             {"recycled", counters_.recycled},
                             {"retried", counters_.retried},
                             {"timeouts", counters_.timeouts},
                             {"reloads", counters_.reloads},
                             {"reloading", previous_config_.has_value()},
                             {"last_exits", last_exits}};
    status["queue"] = {{"depth", queue_totals_.jobs},
                       {"max", queue_totals_.most_jobs},
                       {"capacity", config_.queue_capacity},
                       {"session_capacity", config_.session_queue_capacity},
                       {"session_bytes", config_.session_queue_bytes}};
    status["sessions"] = {{"active", active}, {"max", config_.max_sessions}, {"rows", sessions}};
    // Every peer-chosen text is made valid where it enters; replacing here too means a text
    // that slipped past can never make the report fail.
    return status.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string Supervisor::status_prometheus() const {
    // Derived from the JSON so the two views can never disagree.
    auto status = nlohmann::json::parse(status_json());
    const std::string pool = "pool=\"" + config_.name + "\"";
    std::string out;
    auto metric = [&](const char* name, const char* type, const char* help, const std::string& labels,
                      double value) {
        out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
        char buf[64];
        std::snprintf(buf, sizeof buf, "%.17g", value);
        out += std::string(name) + "{" + labels + "} " + buf + "\n";
    };
    metric("warmpool_up", "gauge", "1 while the pool is serving", pool, status["state"] == "running" ? 1 : 0);
    metric("warmpool_uptime_seconds", "gauge", "Seconds since the supervisor started", pool,
           status["uptime_seconds"].get<double>());
    metric("warmpool_workers_configured", "gauge", "Configured worker count", pool,
           status["workers"]["configured"].get<double>());
    metric("warmpool_workers_live", "gauge", "Live worker processes", pool, status["workers"]["live"].get<double>());
    metric("warmpool_workers_busy", "gauge", "Workers running a job", pool, status["workers"]["busy"].get<double>());
    metric("warmpool_jobs_submitted_total", "counter", "Jobs accepted from clients", pool,
           status["jobs"]["submitted"].get<double>());
    metric("warmpool_jobs_completed_total", "counter", "Jobs that returned a result", pool,
           status["jobs"]["completed"].get<double>());
    metric("warmpool_jobs_direct_total", "counter", "Jobs that went by lane, straight from a client to a worker", pool,
           status["jobs"]["direct"].get<double>());
    out += "# HELP warmpool_jobs_failed_total Jobs that ended with an error, by kind\n"
           "# TYPE warmpool_jobs_failed_total counter\n";
    for (auto& [kind, count] : status["jobs"]["failed_by_kind"].items()) {
        out += "warmpool_jobs_failed_total{" + pool + ",kind=\"" + kind + "\"} " +
               std::to_string(count.get<std::uint64_t>()) + "\n";
    }
    metric("warmpool_queue_depth", "gauge", "Jobs waiting for a worker", pool, status["queue"]["depth"].get<double>());
    metric("warmpool_jobs_in_flight", "gauge", "Jobs held by workers", pool, status["jobs"]["in_flight"].get<double>());
    metric("warmpool_sessions_active", "gauge", "Connected clients", pool, status["sessions"]["active"].get<double>());
    return out;
}

}  // namespace warmpool
