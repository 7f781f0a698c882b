// StatusReport: what the status socket answers, as JSON or as metrics for Prometheus (in the
// Prometheus text format 0.0.4 or in OpenMetrics 1.0.0), made from a StatusSnapshot: plain values
// the supervisor copies out of its tables and the workers' records at the moment of the request.
// Formatting is pure (no clock, no /proc, no shared memory), so the report is unit-tested from
// snapshots made by hand; every format comes from one snapshot, so they can never disagree.
#pragma once

#include <sys/types.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "warmpool/daemon/latency_histogram.hpp"
#include "warmpool/daemon/pool_counters.hpp"
#include "warmpool/priority.hpp"

namespace warmpool {

struct StatusSnapshot {
    std::string pool;
    pid_t pid = 0;
    std::string state;  // "starting", "running", "stopping", "stopped"
    std::string started_at;  // ISO 8601, UTC
    double uptime_seconds = 0;
    std::string job_library;
    unsigned workers_configured = 0;
    // The scaling mode and the worker count it aims at now, and why (worker_scaler.hpp).
    struct Scaling {
        std::string mode = "static";
        unsigned target = 0;
        unsigned min_workers = 0;
        unsigned max_workers = 0;
        std::optional<unsigned> admin_target;  // set by `warmpool scale N`
        std::string reason;
    } scaling;

    struct WorkerRow {
        unsigned slot = 0;
        pid_t pid = 0;
        std::string previous_exit;
        std::string replacing;  // why it is being replaced, or empty
        std::string state;      // "starting", "idle", "busy", "retiring", "empty"
        bool running = false;   // runs a job (busy)
        std::uint64_t jobs_done = 0;
        std::uint64_t queued = 0;  // jobs in its inbox
        std::int64_t rss_bytes = 0;
        double init_seconds = 0;
        double uptime_seconds = 0;
        std::optional<std::string> current_function;  // valid UTF-8
        bool by_lane = false;
        std::optional<double> busy_seconds;
        // Share of time spent running jobs: the slot's workers over the last minute, and this
        // worker since it started (job_timings.hpp).
        double busy_last_minute = 0;
        double busy_since_start = 0;
    };
    std::vector<WorkerRow> workers;

    PoolCounters counters;
    std::uint64_t queued = 0;
    std::uint64_t most_queued = 0;
    std::array<std::uint64_t, kPriorityLevels> queued_by_level{};  // by priority level (priority.hpp)
    std::uint64_t in_flight = 0;  // held by workers, lane jobs included
    unsigned consecutive_failed_inits = 0;
    double respawn_in_seconds = 0;
    bool reloading = false;
    // With `preload`: the zygote that forks the workers (zygote.hpp).
    struct ZygoteRow {
        pid_t pid = 0;  // 0 while it is down
        std::string state;  // "preloading", "ready", "down"
        double preload_seconds = 0;  // the last completed preload
        std::uint64_t builds = 0;
        std::uint64_t forks = 0;  // workers forked by every zygote so far
    };
    std::optional<ZygoteRow> zygote;
    struct Exit {
        unsigned slot = 0;
        std::string how;
    };
    std::vector<Exit> last_exits;
    std::uint64_t queue_capacity = 0;
    std::uint64_t session_queue_capacity = 0;
    std::uint64_t session_queue_bytes = 0;

    struct SessionRow {
        unsigned slot = 0;
        pid_t pid = 0;
        uid_t uid = 0;
        std::string client;  // valid UTF-8
        bool closing = false;
        std::uint64_t submitted = 0;
        std::uint64_t queued = 0;
        std::uint64_t in_flight = 0;
        double connected_seconds = 0;
        std::uint64_t completed = 0;  // jobs whose reply a worker published, lane jobs included
    };
    std::vector<SessionRow> sessions;
    unsigned max_sessions = 0;

    // The functions the workers serve, with their effective settings.
    struct FunctionRow {
        std::string name;
        std::string signature;
        bool python = false;
        double timeout_seconds = 0;  // 0: none
        unsigned retries = 0;
        std::string settings;  // where they come from: "config", "declared", "defaults"
    };
    std::vector<FunctionRow> functions;
    std::uint32_t functions_total = 0;  // may exceed functions.size() (a list is one frame)

    // Queue wait and run time by function (JobTimings): at most kTimedFunctions names and
    // kOtherFunctions.
    struct FunctionLatency {
        std::string name;
        LatencyHistogram queue_last_minute, queue_since_start;
        LatencyHistogram run_last_minute, run_since_start;
    };
    std::vector<FunctionLatency> latency;
};

// The two texts Prometheus reads. They name the same families and series; they differ in how a
// counter's family is named in its HELP and TYPE lines (with "_total" in the Prometheus format,
// without it in OpenMetrics), in OpenMetrics' UNIT lines, and in its closing "# EOF".
enum class MetricsFormat {
    prometheus,   // text/plain; version=0.0.4
    openmetrics,  // application/openmetrics-text; version=1.0.0
};

std::string status_json(const StatusSnapshot& snapshot);
std::string status_metrics(const StatusSnapshot& snapshot, MetricsFormat format);

}  // namespace warmpool
