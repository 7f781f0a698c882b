#include "warmpool/daemon/status_report.hpp"

#include <nlohmann/json.hpp>
#include <string_view>
#include <utility>

#include "warmpool/common/metrics_text.hpp"
#include "warmpool/error_kind.hpp"

namespace warmpool {

namespace {

nlohmann::json latency_json(const LatencyHistogram& histogram) {
    const LatencySummary s = summarize(histogram);
    return {{"count", s.count}, {"sum", s.sum_seconds}, {"p50", s.p50}, {"p90", s.p90}, {"p99", s.p99}, {"max", s.max}};
}

}  // namespace

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
        row["busy_fraction"] = {{"last_minute", w.busy_last_minute}, {"since_start", w.busy_since_start}};
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
                            {"completed", s.completed},
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
    status["scaling"] = {{"mode", snap.scaling.mode},
                         {"target", snap.scaling.target},
                         {"min_workers", snap.scaling.min_workers},
                         {"max_workers", snap.scaling.max_workers},
                         {"admin_target", snap.scaling.admin_target ? json(*snap.scaling.admin_target) : json()},
                         {"reason", snap.scaling.reason}};
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
    status["zygote"] = nullptr;
    if (snap.zygote) {
        status["zygote"] = {{"pid", snap.zygote->pid},
                            {"state", snap.zygote->state},
                            {"preload_seconds", snap.zygote->preload_seconds},
                            {"builds", snap.zygote->builds},
                            {"forks", snap.zygote->forks}};
    }
    // Only the priorities that have jobs waiting, highest first: {"7": 2, "0": 40}.
    json by_priority = json::object();
    for (unsigned level = kPriorityLevels; level-- > 0;) {
        if (snap.queued_by_level[level] != 0) {
            by_priority[std::to_string(static_cast<int>(level) + kPriorityMin)] = snap.queued_by_level[level];
        }
    }
    status["queue"] = {{"depth", snap.queued},
                       {"by_priority", std::move(by_priority)},
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
    json latency = json::array();
    for (const auto& f : snap.latency) {
        latency.push_back({{"function", f.name},
                           {"queue_wait", {{"last_minute", latency_json(f.queue_last_minute)},
                                           {"since_start", latency_json(f.queue_since_start)}}},
                           {"run_time", {{"last_minute", latency_json(f.run_last_minute)},
                                         {"since_start", latency_json(f.run_since_start)}}}});
    }
    status["latency"] = {{"window_seconds", WindowedLatency::kWindows * WindowedLatency::kWindowNs / 1'000'000'000},
                         {"functions", latency}};
    // Every peer-chosen text is made valid where it enters; replacing here too means a text
    // that slipped past can never make the report fail.
    return status.dump(-1, ' ', false, json::error_handler_t::replace);
}

namespace {

// The pool's families, each sample labelled with the pool's name; a family without samples (no
// worker, no per-worker series) keeps its HELP and TYPE lines.
MetricsTextWriter metrics_writer(MetricsFormat format, std::string_view pool) {
    return MetricsTextWriter(format == MetricsFormat::openmetrics, {"pool", pool});
}

}  // namespace

namespace {

// The queue-wait and run-time histograms since start, labelled by function: only names the
// workers serve, at most kTimedFunctions of them and kOtherFunctions (JobTimings). Coarser than
// the status's buckets: every other power of two from 1.024 µs, each an exact bound of those.
void latency_histograms(MetricsTextWriter& m, const StatusSnapshot& snap) {
    if (snap.latency.empty()) return;  // a family without samples says nothing
    constexpr unsigned kBounds = 14;  // 2^10 ns .. 2^36 ns (68.7 s), then +Inf
    std::string bounds[kBounds];
    for (unsigned i = 0; i < kBounds; ++i) {
        bounds[i] = MetricsTextWriter::number(static_cast<double>(std::int64_t{1} << (kLatencyFirstOctave + 2 * i)) / 1e9);
    }
    auto histogram = [&](std::string_view name, std::string_view help, auto of) {
        m.family(name, "histogram", help, "seconds");
        for (const auto& f : snap.latency) {
            const LatencyHistogram& h = of(f);
            for (unsigned i = 0; i < kBounds; ++i) {
                const std::uint64_t below = h.count_below(std::int64_t{1} << (kLatencyFirstOctave + 2 * i));
                m.sample("_bucket", std::to_string(below), {{"function", f.name}, {"le", bounds[i]}});
            }
            m.sample("_bucket", std::to_string(h.count()), {{"function", f.name}, {"le", "+Inf"}});
            m.sample("_sum", MetricsTextWriter::number(static_cast<double>(h.sum_ns) / 1e9), {{"function", f.name}});
            m.sample("_count", std::to_string(h.count()), {{"function", f.name}});
        }
    };
    using Latency = StatusSnapshot::FunctionLatency;
    histogram("warmpool_job_queue_wait_seconds", "Time jobs waited from being queued until a worker started them",
              [](const Latency& f) -> const LatencyHistogram& { return f.queue_since_start; });
    histogram("warmpool_job_run_seconds", "Time jobs ran in a worker",
              [](const Latency& f) -> const LatencyHistogram& { return f.run_since_start; });
}

}  // namespace

// Every figure the JSON status has, but for texts: the per-worker rows are labelled by slot
// (bounded by the configuration); sessions and function names (chosen by clients) are counted,
// never used as labels.
std::string status_metrics(const StatusSnapshot& snap, MetricsFormat format) {
    MetricsTextWriter m = metrics_writer(format, snap.pool);
    const PoolCounters& c = snap.counters;
    auto count = [](auto n) { return static_cast<std::uint64_t>(n); };

    m.family("warmpool_up", "gauge", "1 while the pool is serving (state running), else 0");
    m.sample(count(snap.state == "running" ? 1 : 0));
    m.family("warmpool_uptime_seconds", "gauge", "Seconds since the supervisor started", "seconds");
    m.sample(snap.uptime_seconds);
    m.family("warmpool_reloading", "gauge", "1 while a reload replaces the workers, else 0");
    m.sample(count(snap.reloading ? 1 : 0));
    m.family("warmpool_reloads", "counter", "Reloads of configuration and job library");
    m.sample(c.reloads);

    unsigned running = 0;
    std::uint64_t in_state[4] = {};
    constexpr std::string_view kStates[4] = {"starting", "idle", "busy", "retiring"};
    for (const auto& w : snap.workers) {
        running += w.running ? 1 : 0;
        for (std::size_t i = 0; i < std::size(kStates); ++i) in_state[i] += w.state == kStates[i] ? 1 : 0;
    }
    m.family("warmpool_workers_configured", "gauge", "Configured worker count");
    m.sample(count(snap.workers_configured));
    m.family("warmpool_workers_target", "gauge", "Worker count the scaling mode aims at now");
    m.sample(count(snap.scaling.target));
    m.family("warmpool_workers_live", "gauge", "Live worker processes");
    m.sample(count(snap.workers.size()));
    m.family("warmpool_workers_busy", "gauge", "Workers running a job, a retiring one's last job included");
    m.sample(count(running));
    m.family("warmpool_workers", "gauge", "Live workers by state");
    for (std::size_t i = 0; i < std::size(kStates); ++i) m.sample(in_state[i], {{"state", kStates[i]}});
    m.family("warmpool_worker_exits", "counter", "Worker processes that ended, for any reason");
    m.sample(c.worker_exits);
    m.family("warmpool_worker_crashes", "counter", "Workers that died while serving, not on purpose");
    m.sample(c.worker_crashes);
    m.family("warmpool_worker_failed_inits", "counter", "Workers whose initialisation failed");
    m.sample(c.failed_inits);
    m.family("warmpool_worker_consecutive_failed_inits", "gauge", "Failed initialisations in a row, until one succeeds");
    m.sample(count(snap.consecutive_failed_inits));
    m.family("warmpool_worker_respawn_delay_seconds", "gauge",
             "Seconds until the next worker start is allowed after failed initialisations", "seconds");
    m.sample(snap.respawn_in_seconds);
    m.family("warmpool_worker_recycles", "counter", "Workers replaced on reaching max_jobs or max_rss");
    m.sample(c.recycled);
    if (snap.zygote) {
        m.family("warmpool_zygote_ready", "gauge", "1 while the zygote (preload) is ready to fork workers, else 0");
        m.sample(count(snap.zygote->state == "ready" ? 1 : 0));
        m.family("warmpool_zygote_builds", "counter", "Zygotes started: at start, at each reload, after a death");
        m.sample(snap.zygote->builds);
        m.family("warmpool_zygote_preload_seconds", "gauge", "How long the last completed preload took", "seconds");
        m.sample(snap.zygote->preload_seconds);
    }

    m.family("warmpool_jobs_submitted", "counter", "Jobs accepted from clients");
    m.sample(c.submitted);
    m.family("warmpool_jobs_completed", "counter", "Jobs that returned a result");
    m.sample(c.completed);
    m.family("warmpool_jobs_failed", "counter", "Jobs that ended with an error, by kind");
    for (ErrorKind kind : kAllErrorKinds) m.sample(c.failed[static_cast<std::size_t>(kind)], {{"kind", to_string(kind)}});
    m.family("warmpool_jobs_dropped", "counter", "Jobs dropped because their client left");
    m.sample(c.dropped);
    m.family("warmpool_jobs_retried", "counter", "Attempts made again after a worker crashed under a job");
    m.sample(c.retried);
    m.family("warmpool_jobs_timed_out", "counter", "Running jobs stopped at their time limit");
    m.sample(c.timeouts);
    m.family("warmpool_jobs_direct", "counter", "Jobs that went by lane, straight from a client to a worker");
    m.sample(c.direct);
    m.family("warmpool_jobs_in_flight", "gauge", "Jobs held by workers");
    m.sample(snap.in_flight);

    m.family("warmpool_queue_depth", "gauge", "Jobs waiting for a worker");
    m.sample(snap.queued);
    m.family("warmpool_queue_depth_by_priority", "gauge", "Jobs waiting for a worker, by priority (-8 to 7)");
    for (unsigned level = 0; level < kPriorityLevels; ++level) {
        m.sample(snap.queued_by_level[level], {{"priority", std::to_string(static_cast<int>(level) + kPriorityMin)}});
    }
    m.family("warmpool_queue_max_depth", "gauge", "Most jobs waiting at once since the pool started");
    m.sample(snap.most_queued);
    m.family("warmpool_queue_capacity", "gauge", "Jobs the pool may have waiting (queue_capacity)");
    m.sample(snap.queue_capacity);
    m.family("warmpool_session_queue_capacity", "gauge", "Jobs one client may have waiting (session_queue_capacity)");
    m.sample(snap.session_queue_capacity);
    m.family("warmpool_session_queue_capacity_bytes", "gauge",
             "Payload bytes one client may have waiting (session_queue_bytes)", "bytes");
    m.sample(snap.session_queue_bytes);
    m.family("warmpool_sessions_active", "gauge", "Connected clients");
    m.sample(count(snap.sessions.size()));
    m.family("warmpool_sessions_max", "gauge", "Clients the pool accepts at once (max_sessions)");
    m.sample(count(snap.max_sessions));

    // One series per live worker slot, labelled by slot number only.
    std::vector<std::string> slots;
    for (const auto& w : snap.workers) slots.push_back(std::to_string(w.slot));
    auto per_worker = [&](auto value_of) {
        for (std::size_t i = 0; i < snap.workers.size(); ++i) m.sample(value_of(snap.workers[i]), {{"slot", slots[i]}});
    };
    using Row = StatusSnapshot::WorkerRow;
    m.family("warmpool_worker_jobs_done", "counter", "Jobs done by the worker in the slot (from 0 for each new worker)");
    per_worker([](const Row& w) { return w.jobs_done; });
    m.family("warmpool_worker_queued_jobs", "gauge", "Jobs in the worker's inbox");
    per_worker([](const Row& w) { return w.queued; });
    m.family("warmpool_worker_rss_bytes", "gauge", "The worker's resident memory", "bytes");
    per_worker([](const Row& w) { return static_cast<double>(w.rss_bytes); });
    m.family("warmpool_worker_init_seconds", "gauge", "How long the worker's initialisation took", "seconds");
    per_worker([](const Row& w) { return w.init_seconds; });
    m.family("warmpool_worker_uptime_seconds", "gauge", "Seconds since the worker was started", "seconds");
    per_worker([](const Row& w) { return w.uptime_seconds; });
    m.family("warmpool_worker_busy_ratio", "gauge", "Share of the last minute the slot's workers spent running jobs");
    per_worker([](const Row& w) { return w.busy_last_minute; });
    latency_histograms(m, snap);
    return std::move(m).finish();
}

}  // namespace warmpool
