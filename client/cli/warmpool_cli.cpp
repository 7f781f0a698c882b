// warmpool: the command line for a running pool: status, top, functions, call, map, stop, reload,
// scale, wait-ready, and metrics (the HTTP endpoint for Prometheus, metrics_server.hpp).
//
// Exit codes: 0 success; 1 a job failed (the error is on stderr as "error: KIND: message");
// 2 the pool could not be reached or refused; 64 bad usage; 71 `metrics` could not listen.
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "cluster_commands.hpp"
#include "map_progress.hpp"
#include "metrics_server.hpp"
#include "top_view.hpp"
#include "top_screen.hpp"
#include "warmpool/client.hpp"
#include "warmpool/common/clock.hpp"
#include "warmpool/common/option_hint.hpp"
#include "warmpool/common/runtime_paths.hpp"
#include "warmpool/common/status_query.hpp"
#include "warmpool/common/unique_fd.hpp"

namespace {

constexpr int kExitJobFailed = 1;
constexpr int kExitUnreachable = 2;
constexpr int kExitSoftware = 70;  // sysexits EX_SOFTWARE: a fault of the CLI itself

struct Target {
    std::string pool;
    std::string runtime_dir;
    // A scale-out cluster (redis://[USER@]HOST[:PORT]/CLUSTER) instead of a local pool.
    std::string endpoint;
    std::string redis_password_file;

    std::string resolved_pool() const {
        if (!pool.empty()) return pool;
        const char* env = std::getenv("WARMPOOL_POOL");
        return env != nullptr && *env != '\0' ? env : "default";
    }
    // Given none, the user's own runtime directory or else /run/warmpool, whichever has the pool.
    std::string resolved_dir() const {
        return runtime_dir.empty() ? warmpool::locate_runtime_dir(resolved_pool(), warmpool::runtime_dir_candidates())
                                   : runtime_dir;
    }
    std::string status_socket() const { return warmpool::PoolPaths::in(resolved_dir(), resolved_pool()).status_socket; }
    warmpool::Client connect() const {
        warmpool::Client::Options options;
        options.runtime_dir = resolved_dir();
        options.client_name = "warmpool-cli";
        if (!endpoint.empty()) {
            options.redis_password_file = redis_password_file;
            return warmpool::Client::connect(endpoint, options);
        }
        return warmpool::Client::connect(resolved_pool(), options);
    }
};

std::string seconds_text(double s) {
    char buf[32];
    if (s < 60) {
        std::snprintf(buf, sizeof buf, "%.1f s", s);
    } else if (s < 3600) {
        std::snprintf(buf, sizeof buf, "%.0fm%02.0fs", std::floor(s / 60), std::fmod(s, 60));
    } else {
        std::snprintf(buf, sizeof buf, "%.0fh%02.0fm", std::floor(s / 3600), std::fmod(s / 60, 60));
    }
    return buf;
}

void render_status(const nlohmann::json& s) {
    const auto& workers = s["workers"];
    const auto& jobs = s["jobs"];
    std::printf("pool %s   pid %lld   %s   up %s   started %s\n", s["pool"].get<std::string>().c_str(),
                s["pid"].get<long long>(), s["state"].get<std::string>().c_str(),
                seconds_text(s["uptime_seconds"].get<double>()).c_str(), s["started_at"].get<std::string>().c_str());
    std::printf("workers  %d/%d live, %d ready, %d busy, %d starting\n", workers["live"].get<int>(),
                workers["configured"].get<int>(), workers["ready"].get<int>(), workers["busy"].get<int>(),
                workers["starting"].get<int>());
    if (s.contains("scaling")) {
        const auto& scaling = s["scaling"];
        std::printf("scaling  %s, target %d (%d to %d): %s\n", scaling["mode"].get<std::string>().c_str(),
                    scaling["target"].get<int>(), scaling["min_workers"].get<int>(), scaling["max_workers"].get<int>(),
                    scaling["reason"].get<std::string>().c_str());
    }
    std::string failures;
    for (auto& [kind, count] : jobs["failed_by_kind"].items()) {
        if (count.get<std::uint64_t>() == 0) continue;
        failures += (failures.empty() ? "" : ", ") + kind + " " + std::to_string(count.get<std::uint64_t>());
    }
    std::printf("jobs     %llu submitted, %llu completed, %llu failed%s%s%s, %llu queued, %llu running\n",
                jobs["submitted"].get<unsigned long long>(), jobs["completed"].get<unsigned long long>(),
                jobs["failed"].get<unsigned long long>(), failures.empty() ? "" : " (", failures.c_str(),
                failures.empty() ? "" : ")", jobs["queued"].get<unsigned long long>(),
                jobs["in_flight"].get<unsigned long long>());
    std::printf("queue    depth %llu, max %llu, capacity %llu\n", s["queue"]["depth"].get<unsigned long long>(),
                s["queue"]["max"].get<unsigned long long>(), s["queue"]["capacity"].get<unsigned long long>());
    std::printf("sessions %d active (max %d)\n", s["sessions"]["active"].get<int>(), s["sessions"]["max"].get<int>());
    if (s.contains("supervision")) {
        const auto& sup = s["supervision"];
        std::printf("workers  %llu exits (%llu crashes, %llu failed inits), %llu recycled, %llu timeouts, "
                    "%llu retried, %llu reloads%s\n",
                    sup["worker_exits"].get<unsigned long long>(), sup["worker_crashes"].get<unsigned long long>(),
                    sup["failed_inits"].get<unsigned long long>(), sup["recycled"].get<unsigned long long>(),
                    sup["timeouts"].get<unsigned long long>(), sup["retried"].get<unsigned long long>(),
                    sup["reloads"].get<unsigned long long>(), sup["reloading"].get<bool>() ? " (reloading now)" : "");
        if (sup["respawn_in_seconds"].get<double>() > 0) {
            std::printf("         %u failed initialisations in a row; next worker start in %s\n",
                        sup["consecutive_failed_inits"].get<unsigned>(),
                        seconds_text(sup["respawn_in_seconds"].get<double>()).c_str());
        }
    }
    if (s.contains("zygote") && s["zygote"].is_object()) {  // preload
        const auto& z = s["zygote"];
        std::printf("zygote   pid %d, %s, preload %s, %llu builds, %llu workers forked\n", z["pid"].get<int>(),
                    z["state"].get<std::string>().c_str(), seconds_text(z["preload_seconds"].get<double>()).c_str(),
                    z["builds"].get<unsigned long long>(), z["forks"].get<unsigned long long>());
    }
    std::printf("\n%-5s %-8s %-10s %-9s %-16s %-9s %-10s %s\n", "SLOT", "PID", "STATE", "JOBS", "FUNCTION", "BUSY",
                "RSS", "NOTE");
    for (const auto& row : workers["rows"]) {
        std::string function = row.contains("current_function") && row["current_function"].is_string()
                                    ? row["current_function"].get<std::string>()
                                    : "-";
        std::string busy = row.contains("busy_seconds") ? seconds_text(row["busy_seconds"].get<double>()) : "-";
        std::string rss = row.contains("rss_bytes") ? warmpool::bytes_text(row["rss_bytes"].get<double>()) : "-";
        std::string note;
        if (row.contains("replacing")) note = "being replaced (" + row["replacing"].get<std::string>() + ")";
        if (row.contains("previous_exit")) {
            note += (note.empty() ? "" : "; ") + std::string("previous worker ") + row["previous_exit"].get<std::string>();
        }
        std::printf("%-5d %-8lld %-10s %-9llu %-16s %-9s %-10s %s\n", row["slot"].get<int>(),
                    row["pid"].get<long long>(), row["state"].get<std::string>().c_str(),
                    row.value("jobs_done", 0ULL), function.c_str(), busy.c_str(), rss.c_str(), note.c_str());
    }
}

void render_functions(const nlohmann::json& s) {
    const auto& functions = s["functions"];
    std::printf("%-24s %-8s %-10s %-8s %-9s %s\n", "FUNCTION", "LANGUAGE", "TIMEOUT", "RETRIES", "SETTINGS",
                "ARGUMENTS");
    for (const auto& f : functions["rows"]) {
        const double timeout = f["timeout"].get<double>();
        std::printf("%-24s %-8s %-10s %-8u %-9s %s\n", f["name"].get<std::string>().c_str(),
                    f["language"].get<std::string>().c_str(), timeout > 0 ? seconds_text(timeout).c_str() : "-",
                    f["retries"].get<unsigned>(), f["settings"].get<std::string>().c_str(),
                    f["arguments"].get<std::string>().c_str());
    }
    const std::size_t shown = functions["rows"].size();
    const std::size_t total = functions["total"].get<std::size_t>();
    if (total > shown) std::printf("(%zu more not listed)\n", total - shown);
}

// Waits until the pool's supervisor has exited: it holds an exclusive lock on its lock file for
// its whole life, so a shared one can be had only once it is gone. True if it went in time.
bool wait_for_exit(const std::string& lock_file, double timeout_s) {
    warmpool::UniqueFd lock(::open(lock_file.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    if (!lock) return errno == ENOENT;  // no lock file: no daemon was ever there
    const std::int64_t deadline = warmpool::monotonic_ns() + static_cast<std::int64_t>(timeout_s * 1e9);
    for (;;) {
        if (::flock(lock.get(), LOCK_SH | LOCK_NB) == 0) return true;
        if (warmpool::monotonic_ns() >= deadline) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
}

int fail_job(const warmpool::JobError& e) {
    std::fprintf(stderr, "error: %s: %s\n", std::string(warmpool::to_string(e.kind())).c_str(), e.message().c_str());
    return kExitJobFailed;
}

warmpool::CallOptions call_options(double deadline_s, double timeout_s, int priority) {
    warmpool::CallOptions options;
    options.priority = priority;
    if (timeout_s > 0) {
        options.timeout = std::chrono::milliseconds(std::max<std::int64_t>(1, std::llround(timeout_s * 1000)));
    }
    if (deadline_s > 0) {
        options.deadline = std::chrono::steady_clock::now() +
                           std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                               std::chrono::duration<double>(deadline_s));
    }
    return options;
}

}  // namespace

int main(int argc, char** argv) {
    Target target;
    CLI::App app{"warmpool: talk to a running warmpoold pool", "warmpool"};  // not argv[0]: the man page is made from --help
    app.set_version_flag("--version", "warmpool " WARMPOOL_VERSION, "Print the version and exit");
    app.add_option("-p,--pool", target.pool, "Pool name (default: $WARMPOOL_POOL or 'default')");
    app.add_option("--runtime-dir", target.runtime_dir, "Runtime directory (default: $WARMPOOL_RUNTIME_DIR, ...)");
    app.add_option("--endpoint", target.endpoint,
                   "A scale-out cluster, redis://[USER@]HOST[:PORT]/CLUSTER, instead of a local pool (call, map, "
                   "status, metrics)");
    app.add_option("--redis-password-file", target.redis_password_file,
                   "File holding the Redis password (default: $WARMPOOL_REDIS_PASSWORD_FILE, $WARMPOOL_REDIS_PASSWORD)");
    app.require_subcommand(1);
    // --pool, --runtime-dir and --endpoint may come after the subcommand too.
    app.fallthrough();

    bool json = false, prometheus = false, openmetrics = false;
    auto* status = app.add_subcommand("status", "Show the pool's state (with --endpoint, the cluster's)");
    status->add_flag("--json", json, "Print the raw JSON status");
    status->add_flag("--prometheus", prometheus, "Print Prometheus text metrics");
    status->add_flag("--openmetrics", openmetrics, "Print OpenMetrics text metrics");

    warmpool::TopOptions top_options;
    auto* top = app.add_subcommand(
        "top", "Show workers, functions, queue and sessions live, once a second (q quits); with --endpoint, the "
               "cluster's gateways, stream and counters");
    top->add_flag("--once", top_options.once, "Print one frame and exit");
    top->add_option("--frames", top_options.frames, "Show N frames, once a second, then exit")->excludes("--once");

    bool names_only = false;
    auto* functions = app.add_subcommand("functions", "List the functions the pool serves, with their settings");
    functions->add_flag("--json", json, "Print them as JSON");
    functions->add_flag("--names", names_only, "Print only their names, one a line");

    std::string function, args;
    double deadline_s = 0;
    double timeout_s = 0;
    int priority = warmpool::kPriorityDefault;
    const std::string priority_help = "Higher runs first: " + std::to_string(warmpool::kPriorityMin) + " to " +
                                      std::to_string(warmpool::kPriorityMax) + " (default " +
                                      std::to_string(warmpool::kPriorityDefault) + ")";
    auto* call = app.add_subcommand("call", "Run one job; print its JSON result");
    call->add_option("function", function, "Function name")->required();
    call->add_option("args", args, "Arguments as JSON")->required();
    call->add_option("--deadline", deadline_s, "Fail with deadline_exceeded if not started within SECONDS");
    call->add_option("--timeout", timeout_s, "Stop the job (timeout) if it runs longer than SECONDS");
    call->add_option("--priority", priority, priority_help)
        ->check(CLI::Range(warmpool::kPriorityMin, warmpool::kPriorityMax));

    std::size_t chunk = 0;
    auto* map = app.add_subcommand("map", "Run FUNCTION on each stdin line (JSON); print results in order");
    map->add_option("function", function, "Function name")->required();
    map->add_option("--chunk", chunk, "Inputs per batch (default: automatic)");
    map->add_option("--deadline", deadline_s, "Per-job deadline in SECONDS from now");
    map->add_option("--timeout", timeout_s, "Per-batch run-time limit in SECONDS");
    bool progress_on = false, progress_off = false;
    auto* progress_flag =
        map->add_flag("--progress", progress_on, "Show progress on stderr (default: when stderr is a terminal)");
    map->add_flag("--no-progress", progress_off, "Never show progress")->excludes(progress_flag);
    map->add_option("--priority", priority, priority_help)
        ->check(CLI::Range(warmpool::kPriorityMin, warmpool::kPriorityMax));

    bool no_wait = false;
    double stop_wait_s = 60;
    auto* stop = app.add_subcommand("stop", "Stop the pool gracefully (like SIGTERM) and wait until it has exited");
    stop->add_flag("--no-wait", no_wait, "Return once the pool has taken the order");
    stop->add_option("--timeout", stop_wait_s, "Give up waiting after SECONDS (exit 2)")->capture_default_str();
    auto* reload = app.add_subcommand("reload", "Reload configuration and job library; replace workers without dropping jobs (like SIGHUP)");

    unsigned scale_workers = 0;
    auto* scale = app.add_subcommand("scale", "Set the target worker count (static: the count; dynamic, ondemand: the fewest kept)");
    scale->add_option("workers", scale_workers, "Worker count")->required();

    warmpool::MetricsServerOptions metrics_options;
    auto* metrics = app.add_subcommand(
        "metrics", "Serve the pool's metrics (with --endpoint, the cluster's) over HTTP for Prometheus (GET /metrics)");
    metrics->add_option("--listen", metrics_options.listen, "Numeric ADDRESS:PORT to listen on")->capture_default_str();

    double wait_s = 30;
    auto* wait_ready = app.add_subcommand("wait-ready", "Wait until the pool serves jobs");
    wait_ready->add_option("--timeout", wait_s, "Give up after SECONDS")->capture_default_str();

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        const int rc = app.exit(e);
        if (const auto hint = warmpool::misspelt_option_hint(app); !hint.empty()) {
            std::fprintf(stderr, "%s\n", hint.c_str());
        }
        return rc == 0 ? 0 : 64;
    }

    if (!target.endpoint.empty()) {
        // These act on one local pool's sockets; a cluster has no such thing.
        for (const auto* local_only : {functions, stop, reload, scale, wait_ready}) {
            if (*local_only) {
                std::fprintf(stderr,
                             "warmpool: '%s' acts on a local pool and does not take --endpoint; run it on the "
                             "host of each pool (warmpool --pool NAME %s)\n",
                             local_only->get_name().c_str(), local_only->get_name().c_str());
                return 64;
            }
        }
    }

    try {
        if (const std::string cluster = warmpool::cluster_endpoint(target.endpoint, target.resolved_pool());
            !cluster.empty() && (*status || *metrics || *top)) {
            const warmpool::ClusterTarget where{cluster, target.redis_password_file};
            if (*metrics) return warmpool::serve_cluster_metrics(where, metrics_options);
            if (*top) return warmpool::run_cluster_top(where, top_options);
            using Output = warmpool::ClusterOutput;
            return warmpool::print_cluster_status(where, json ? Output::json
                                                         : prometheus ? Output::prometheus
                                                         : openmetrics ? Output::openmetrics
                                                                       : Output::text);
        }
        if (*status || *functions) {
            const char* request = openmetrics ? "openmetrics" : prometheus ? "prometheus" : "json";
            auto answer = warmpool::query_status(target.status_socket(), request, 5000);
            if (!answer) {
                std::fprintf(stderr, "warmpool: cannot reach pool '%s': %s\n", target.resolved_pool().c_str(),
                             answer.error().message().c_str());
                return kExitUnreachable;
            }
            // A pool that is going away may close the socket before it answers.
            if (answer.value().empty()) {
                std::fprintf(stderr, "warmpool: pool '%s' sent an empty status reply (is it stopping?)\n",
                             target.resolved_pool().c_str());
                return kExitUnreachable;
            }
            if (*status && (json || prometheus || openmetrics)) {
                std::fputs(answer.value().c_str(), stdout);
                return 0;
            }
            auto parsed = nlohmann::json::parse(answer.value(), nullptr, false);
            if (parsed.is_discarded() || !parsed.is_object() || (*functions && !parsed.contains("functions"))) {
                std::fprintf(stderr, "warmpool: pool '%s' sent a status reply that is not a JSON object%s\n",
                             target.resolved_pool().c_str(), *functions ? " with functions" : "");
                return kExitUnreachable;
            }
            if (*status) {
                render_status(parsed);
            } else if (json) {
                std::puts(parsed["functions"].dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
            } else if (names_only) {
                for (const auto& f : parsed["functions"]["rows"]) std::puts(f["name"].get<std::string>().c_str());
            } else {
                render_functions(parsed);
            }
            return 0;
        }
        if (*top) {
            return warmpool::run_top(top_options, [&](std::string& error) -> std::optional<std::string> {
                auto answer = warmpool::query_status(target.status_socket(), "json", 2000);
                if (!answer) error = answer.error().message();
                if (answer && answer.value().empty()) error = "empty answer (is it stopping?)";
                if (!answer || answer.value().empty()) return std::nullopt;
                return answer.value();
            });
        }
        if (*metrics) {
            metrics_options.pool = target.resolved_pool();
            metrics_options.status_socket = target.status_socket();
            return warmpool::serve_metrics(metrics_options);
        }
        if (*wait_ready) {
            const std::int64_t deadline = warmpool::monotonic_ns() + static_cast<std::int64_t>(wait_s * 1e9);
            std::string last = "no answer";
            while (warmpool::monotonic_ns() < deadline) {
                auto answer = warmpool::query_status(target.status_socket(), "json", 1000);
                if (answer) {
                    auto s = nlohmann::json::parse(answer.value(), nullptr, false);
                    if (!s.is_discarded() && s["state"] == "running") return 0;
                    if (!s.is_discarded()) last = "state " + s["state"].get<std::string>();
                } else {
                    last = answer.error().message();
                }
                std::this_thread::sleep_for(std::chrono::milliseconds(50));
            }
            std::fprintf(stderr, "warmpool: pool '%s' not ready after %.1f s (%s)\n", target.resolved_pool().c_str(),
                         wait_s, last.c_str());
            return kExitUnreachable;
        }
        if (*stop || *reload) {
            const std::string command = *stop ? "stop" : "reload";
            const std::string dir = target.resolved_dir();
            try {
                std::puts(warmpool::admin_command(target.resolved_pool(), dir, command).c_str());
            } catch (const warmpool::JobError& e) {
                std::fprintf(stderr, "warmpool: %s refused: %s\n", command.c_str(), e.message().c_str());
                return kExitJobFailed;
            }
            std::fflush(stdout);
            if (*stop && !no_wait &&
                !wait_for_exit(warmpool::PoolPaths::in(dir, target.resolved_pool()).lock_file, stop_wait_s)) {
                std::fprintf(stderr, "warmpool: pool '%s' is still running %.1f s after it was told to stop\n",
                             target.resolved_pool().c_str(), stop_wait_s);
                return kExitUnreachable;
            }
            return 0;
        }
        if (*scale) {
            try {
                std::puts(warmpool::scale_pool(target.resolved_pool(), target.resolved_dir(), scale_workers).c_str());
            } catch (const warmpool::JobError& e) {
                std::fprintf(stderr, "warmpool: scale refused: %s\n", e.message().c_str());
                return kExitJobFailed;
            }
            return 0;
        }
        if (*call) {
            warmpool::Client client = target.connect();
            try {
                std::puts(client.submit_json(function, args, call_options(deadline_s, timeout_s, priority)).get().c_str());
                return 0;
            } catch (const warmpool::JobError& e) {
                return fail_job(e);
            }
        }
        if (*map) {
            warmpool::Client client = target.connect();
            warmpool::MapOptions options;
            options.chunk_size = chunk;
            options.call = call_options(deadline_s, timeout_s, priority);
            int exit_code = 0;
            using warmpool::cli::ProgressMode;
            warmpool::cli::ProgressMeter progress(
                stderr, warmpool::cli::progress_wanted(
                            progress_on ? ProgressMode::on : progress_off ? ProgressMode::off : ProgressMode::automatic,
                            ::isatty(STDERR_FILENO) == 1));
            std::vector<std::string> lines;
            std::string line;
            // Bounded batches of input keep memory flat however long stdin is.
            constexpr std::size_t kLinesPerRound = 1 << 16;
            bool more = true;
            while (more) {
                lines.clear();
                while (lines.size() < kLinesPerRound && (more = static_cast<bool>(std::getline(std::cin, line)))) {
                    if (!line.empty()) lines.push_back(line);
                }
                if (lines.empty()) break;
                if (!more) progress.set_total(progress.done() + lines.size());  // the input's end: the total is known
                auto results = warmpool::cli::map_json_lines(client, function, lines, options, progress);
                progress.hide();  // before the results and any error, which may go to the same terminal
                std::string out;
                for (const auto& item : results) {
                    if (item.ok) {
                        out += item.value;
                    } else {
                        out += nlohmann::json{{"error", std::string(warmpool::to_string(item.error))},
                                              {"message", item.value}}
                                   .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
                        if (exit_code == 0) {
                            std::fprintf(stderr, "error: %s: %s\n", std::string(warmpool::to_string(item.error)).c_str(),
                                         item.value.c_str());
                        }
                        exit_code = kExitJobFailed;
                    }
                    out += '\n';
                }
                std::fwrite(out.data(), 1, out.size(), stdout);
                if (progress.enabled()) std::fflush(stdout);
            }
            return exit_code;
        }
    } catch (const warmpool::ConnectError& e) {
        std::fprintf(stderr, "warmpool: %s\n", e.what());
        return kExitUnreachable;
    } catch (const warmpool::JobError& e) {
        return fail_job(e);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "warmpool: %s\n", e.what());
        return kExitSoftware;
    }
    return 64;
}
