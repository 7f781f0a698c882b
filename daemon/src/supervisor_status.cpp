// The status socket's answer: a snapshot of the supervisor's tables and the workers' records,
// formatted by status_report.hpp.
#include <unistd.h>

#include <algorithm>
#include <ctime>
#include <fstream>

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

}  // namespace

StatusSnapshot Supervisor::status_snapshot() const {
    const std::int64_t now = monotonic_ns();
    StatusSnapshot snap;
    snap.pool = config_.name;
    snap.pid = getpid();
    snap.state = to_string(life_.state);
    snap.started_at = iso8601(life_.started_wall_ns);
    snap.uptime_seconds = static_cast<double>(now - life_.started_ns) / 1e9;
    snap.job_library = config_.jobs_library;
    snap.workers_configured = config_.workers;
    const ScalingLimits limits = scaling_limits(config_);
    snap.scaling.mode = config_.scaling_mode;
    snap.scaling.target = lives_->wanted();
    snap.scaling.min_workers = limits.mode == ScalingMode::fixed ? limits.workers
                               : limits.mode == ScalingMode::dynamic ? limits.min_workers : 0;
    snap.scaling.max_workers = limits.max_workers;
    snap.scaling.admin_target = scaler_->admin_target();
    snap.scaling.reason = scaler_->reason();
    snap.counters = counters_;
    snap.queued = queue_totals_.jobs;
    snap.most_queued = queue_totals_.most_jobs;
    snap.queued_by_level = queue_totals_.by_level;
    const WorkerSlots& workers = lives_->slots();
    for (unsigned slot = 0; slot < workers.size(); ++slot) {
        const WorkerSlot& w = workers[slot];
        if (!workers.last_exit(slot).empty()) snap.last_exits.push_back({slot, workers.last_exit(slot)});
        if (!w.live()) continue;
        const WorkerRecord& rec = pool_.worker(slot);
        const WorkerHoldings& held = dispatcher_->holdings(slot);
        snap.in_flight += held.jobs.size() + lanes_.running(slot, pool_);
        StatusSnapshot::WorkerRow row;
        row.slot = slot;
        row.pid = w.pid;
        row.previous_exit = workers.last_exit(slot);
        row.replacing = std::string(to_string(w.replace));
        const std::uint64_t running = rec.running_seq.load(std::memory_order_acquire);
        row.running = running != kNoRunningJob;
        switch (static_cast<WorkerState>(rec.state.load(std::memory_order_acquire))) {
            case WorkerState::starting: row.state = "starting"; break;
            case WorkerState::ready: row.state = row.running ? "busy" : "idle"; break;
            case WorkerState::exiting: row.state = "retiring"; break;
            default: row.state = "empty"; break;
        }
        row.jobs_done = rec.jobs_done.load(std::memory_order_relaxed);
        row.queued = held.jobs.size();
        const std::uint64_t measured = rec.rss_bytes.load(std::memory_order_relaxed);
        row.rss_bytes = measured != 0 ? static_cast<std::int64_t>(measured) : rss_bytes(w.pid);
        row.init_seconds = static_cast<double>(rec.init_ns.load()) / 1e9;
        row.uptime_seconds = static_cast<double>(now - w.started_ns) / 1e9;
        if (running == kLaneRunningSeq) {
            row.current_function = lanes_.running_function(slot, pool_, *sessions_);
            row.by_lane = true;
        } else if (running != kNoRunningJob) {
            // The client wrote the name: any bytes but NUL.
            if (const InFlightJob* job = held.running(running)) {
                row.current_function = valid_utf8(function_name(job->job.record));
            }
            row.busy_seconds = static_cast<double>(now - rec.running_since_ns.load()) / 1e9;
        }
        row.busy_last_minute = timings_->busy_last_minute(slot, now);
        row.busy_since_start = timings_->busy_since_start(slot, now, w.started_ns);
        snap.workers.push_back(std::move(row));
    }
    const std::int64_t backoff = workers.next_spawn_ns - now;
    snap.consecutive_failed_inits = workers.respawn().consecutive_failed_inits();
    snap.respawn_in_seconds = backoff > 0 ? static_cast<double>(backoff) / 1e9 : 0.0;
    snap.reloading = life_.reloading();
    if (const Zygote& zygote = lives_->zygote(); zygote.state() != Zygote::State::none) {
        snap.zygote = StatusSnapshot::ZygoteRow{zygote.pid(), std::string(to_string(zygote.state())),
                                                zygote.preload_seconds(), zygote.builds(), zygote.forks()};
    }
    snap.queue_capacity = config_.queue_capacity;
    snap.session_queue_capacity = config_.session_queue_capacity;
    snap.session_queue_bytes = config_.session_queue_bytes;
    snap.max_sessions = config_.max_sessions;
    for (unsigned slot = 0; slot < sessions_->capacity(); ++slot) {
        const SessionSlot& s = (*sessions_)[slot];
        if (!s.used) continue;
        snap.sessions.push_back({slot, s.peer.pid, s.peer.uid, s.client_name, s.closing, s.submitted, s.queue.size(),
                                 s.jobs_with_workers, static_cast<double>(now - s.connected_ns) / 1e9});
        // What the workers counted for this session (ReplyTail): lane jobs never reached intake.
        for (std::uint32_t worker = 0; worker < pool_.layout.worker_slots; ++worker) {
            const ReplyTail& counted = pool_.reply_tail(worker, slot);
            if (counted.generation.load(std::memory_order_acquire) != s.generation) continue;
            snap.sessions.back().completed += counted.replies.load(std::memory_order_relaxed);
            snap.sessions.back().submitted += counted.lane_jobs.load(std::memory_order_relaxed);
        }
    }
    const protocol::FunctionList& listed = functions_.listed();
    snap.functions_total = listed.total;
    for (const auto& f : listed.functions) {
        const FunctionConfig settings = functions_.settings(f.name);
        snap.functions.push_back({f.name, f.signature, f.python, std::max(settings.timeout_s, 0.0), settings.retries,
                                  functions_.settings_source(f.name)});
    }
    for (const JobTimings::Function& f : timings_->functions()) {
        snap.latency.push_back({f.name, f.queue_wait.last_minute(), f.queue_wait.since_start(), f.run_time.last_minute(),
                                f.run_time.since_start()});
    }
    return snap;
}

std::string Supervisor::status_answer(const std::string& request) {
    for (unsigned slot = 0; slot < lives_->slots().size(); ++slot) {
        if (lives_->slots()[slot].live()) lanes_.count(slot, pool_, counters_);
    }
    timings_->collect(pool_, monotonic_ns());
    if (request.empty() || request == "json") return status_json(status_snapshot()) + "\n";
    if (request == "prometheus" || request == "metrics") {
        return status_metrics(status_snapshot(), MetricsFormat::prometheus);
    }
    if (request == "openmetrics") return status_metrics(status_snapshot(), MetricsFormat::openmetrics);
    return "{\"error\":\"unknown request; send 'json', 'prometheus' or 'openmetrics'\"}\n";
}

ServiceFigures Supervisor::service_figures() const {
    ServiceFigures figures;
    figures.state = life_.state == PoolState::running && life_.reloading() ? "reloading" : to_string(life_.state);
    figures.workers_configured = config_.workers;
    const WorkerSlots& workers = lives_->slots();
    for (unsigned slot = 0; slot < workers.size(); ++slot) {
        if (!workers[slot].live()) continue;
        ++figures.workers_live;
        figures.workers_busy += pool_.worker(slot).running_seq.load(std::memory_order_relaxed) != kNoRunningJob;
    }
    figures.queued = queue_totals_.jobs;
    figures.completed = counters_.completed;
    for (const std::uint64_t failed : counters_.failed) figures.failed += failed;
    return figures;
}

}  // namespace warmpool
