// gearman-bench: the Gearman peer of warmpool-bench. The same scenarios, the same checks and the
// same output (bench_support.hpp), against a gearmand with gearman-bench-worker processes:
//
//   roundtrip  gearman_client_do("echo") of an 8-byte int, one at a time: latency percentiles
//   inflight   --count echo tasks from one client, --window at a time (Gearman's client keeps
//              many jobs outstanding as a batch: add_task ... then run_tasks): jobs/s
//   payload    gearman_client_do("echo") of --payload-mib blobs: GB/s
//   clients    --clients processes (this program re-executed) running "inflight" batches for
//              --seconds, released together, vs one such process: total jobs/s and fairness
//   classic    the classic workloads serially in this process vs as tasks through gearmand
// Gearman has no map primitive, so there is no map scenario.
//
//   gearman-bench --port P [--host 127.0.0.1] --scenario S [--json] [options]
//
// Every result is checked. A request that gets no answer for --stall-seconds fails (libgearman's
// own timeout) instead of hanging. Exit codes: 0 all verified, 1 a job failed or a result was
// wrong, 2 gearmand unreachable.
#include <libgearman/gearman.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "bench_support.hpp"
#include "jobs/classic_workloads.hpp"

namespace {

using namespace warmpool::bench;
namespace ex = warmpool::examples;

struct Settings : CommonSettings {
    std::string host = "127.0.0.1";
    int port = 0;
};

struct ClientDeleter {
    void operator()(gearman_client_st* c) const { gearman_client_free(c); }
};
using ClientPtr = std::unique_ptr<gearman_client_st, ClientDeleter>;

// Results of gearman_client_do are malloc()ed and ours to free.
struct FreeDeleter {
    void operator()(void* p) const { std::free(p); }
};

// Completion callback of batched tasks: the task's context is the std::string for its result.
gearman_return_t store_result(gearman_task_st* task) {
    auto* out = static_cast<std::string*>(gearman_task_context(task));
    const auto* data = static_cast<const char*>(gearman_task_data(task));
    out->assign(data == nullptr ? "" : data, data == nullptr ? 0 : gearman_task_data_size(task));
    return GEARMAN_SUCCESS;
}

ClientPtr connect(const Settings& s) {
    ClientPtr client(gearman_client_create(nullptr));
    if (!client) throw Failure("gearman_client_create failed");
    if (gearman_client_add_server(client.get(), s.host.c_str(), static_cast<in_port_t>(s.port)) !=
        GEARMAN_SUCCESS) {
        throw Failure(std::string("gearman_client_add_server: ") +
                      gearman_client_error(client.get()));
    }
    gearman_client_set_timeout(client.get(), static_cast<int>(s.stall_seconds * 1000));
    // Tasks run with run_tasks keep no result unless a completion callback stores it.
    gearman_client_set_complete_fn(client.get(), store_result);
    return client;
}

// One synchronous job; returns its result bytes.
std::string call(gearman_client_st* client, const char* function, const void* data,
                 std::size_t size) {
    std::size_t result_size = 0;
    gearman_return_t ret = GEARMAN_SUCCESS;
    std::unique_ptr<void, FreeDeleter> result(
        gearman_client_do(client, function, nullptr, data, size, &result_size, &ret));
    if (ret != GEARMAN_SUCCESS) {
        throw Failure(std::string(function) + ": " + gearman_client_error(client));
    }
    return result ? std::string(static_cast<const char*>(result.get()), result_size)
                  : std::string();
}

std::string int_bytes(std::int64_t value) {
    return std::string(reinterpret_cast<const char*>(&value), sizeof value);
}

std::int64_t echo_int(gearman_client_st* client, std::int64_t value) {
    const std::string back = call(client, "echo", &value, sizeof value);
    std::int64_t got = -1;
    if (back.size() != sizeof got)
        throw Failure("echo returned " + std::to_string(back.size()) + " bytes");
    std::memcpy(&got, back.data(), sizeof got);
    if (got != value) {
        throw Failure("echo returned " + std::to_string(got) + " for " + std::to_string(value));
    }
    return got;
}

// Runs one batch of tasks (function, workload) and returns their results in order.
std::vector<std::string> run_batch(gearman_client_st* client, const char* function,
                                   const std::vector<std::string>& workloads) {
    std::vector<gearman_task_st*> tasks;
    tasks.reserve(workloads.size());
    std::vector<std::string> results(workloads.size());
    // Frees every task of the client, on success and on a throw alike.
    struct FreeTasks {
        gearman_client_st* client;
        ~FreeTasks() { gearman_client_task_free_all(client); }
    } free_tasks{client};
    for (std::size_t i = 0; i < workloads.size(); ++i) {
        gearman_return_t ret = GEARMAN_SUCCESS;
        gearman_task_st* task =
            gearman_client_add_task(client, nullptr, &results[i], function, nullptr,
                                    workloads[i].data(), workloads[i].size(), &ret);
        if (task == nullptr || ret != GEARMAN_SUCCESS) {
            throw Failure(std::string("add_task ") + function + ": " +
                          gearman_client_error(client));
        }
        tasks.push_back(task);
    }
    if (gearman_client_run_tasks(client) != GEARMAN_SUCCESS) {
        throw Failure(std::string("run_tasks ") + function + ": " + gearman_client_error(client));
    }
    for (gearman_task_st* task : tasks) {
        if (gearman_task_return(task) != GEARMAN_SUCCESS) {
            throw Failure(std::string(function) +
                          " task failed: " + gearman_strerror(gearman_task_return(task)));
        }
    }
    return results;
}

// Echo tasks in batches of `window` until keep_going(submitted) says stop; checks every result.
template <class KeepGoing>
std::int64_t echo_batches(gearman_client_st* client, std::int64_t window, KeepGoing keep_going) {
    std::int64_t i = 0;
    std::vector<std::string> workloads;
    while (keep_going(i)) {
        workloads.clear();
        const std::int64_t first = i;
        for (; static_cast<std::int64_t>(workloads.size()) < window && keep_going(i); ++i) {
            workloads.push_back(int_bytes(i));
        }
        const auto results = run_batch(client, "echo", workloads);
        for (std::size_t k = 0; k < results.size(); ++k) {
            if (results[k] != workloads[k]) {
                throw Failure("echo task " + std::to_string(first + static_cast<std::int64_t>(k)) +
                              " came back different");
            }
        }
    }
    return i;
}

std::string endpoint(const Settings& s) {
    return shell_quote(s.program) + " --host " + s.host + " --port " + std::to_string(s.port);
}

Result make_result(const Settings& s, const std::string& scenario, const std::string& extra) {
    Result r;
    r.system = "gearman";
    r.scenario = scenario;
    r.command = endpoint(s) + " --scenario " + scenario + extra;
    return r;
}

// ---------------------------------------------------------------------------------------------

void roundtrip(gearman_client_st* client, const Settings& s) {
    const std::int64_t n = s.count > 0 ? s.count : 20'000;
    for (std::int64_t i = 0; i < s.warmup; ++i) echo_int(client, i);
    std::vector<double> us;
    us.reserve(static_cast<std::size_t>(n));
    for (std::int64_t i = 0; i < n; ++i) {
        const auto start = Clock::now();
        echo_int(client, i);
        us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - start).count());
    }
    Result r = make_result(
        s, "roundtrip", " --count " + std::to_string(n) + " --warmup " + std::to_string(s.warmup));
    r.metrics = latency_metrics(us);
    r.params = {{"count", std::to_string(n)}};
    print_result(r, s.json);
}

void inflight(gearman_client_st* client, const Settings& s) {
    const std::int64_t n = s.count > 0 ? s.count : 200'000;
    const std::int64_t window = std::max<std::int64_t>(1, s.window);
    const auto start = Clock::now();
    echo_batches(client, window, [n](std::int64_t i) { return i < n; });
    const double elapsed = seconds_since(start);
    Result r = make_result(s, "inflight",
                           " --count " + std::to_string(n) + " --window " + std::to_string(window));
    r.metrics = {{"jobs_per_s", static_cast<double>(n) / elapsed}, {"seconds", elapsed}};
    r.params = {{"count", std::to_string(n)}, {"window", std::to_string(window)}};
    print_result(r, s.json);
}

void payload(gearman_client_st* client, const Settings& s) {
    std::string sizes;
    for (const std::int64_t mib : s.payload_mib) sizes += " --payload-mib " + std::to_string(mib);
    char budget[32];
    std::snprintf(budget, sizeof budget, "%g", s.budget_seconds);
    const Result base = make_result(
        s, "payload", sizes + " --reps " + std::to_string(s.reps) + " --budget-seconds " + budget);
    for (const std::int64_t mib : s.payload_mib) {
        const std::string blob = random_blob(static_cast<std::size_t>(mib) << 20);
        const std::vector<PayloadRun> runs = time_payload_runs(s.reps, s.budget_seconds, [&] {
            const auto start = Clock::now();
            const std::string back = call(client, "echo", blob.data(), blob.size());
            const double elapsed = seconds_since(start);
            if (back != blob) {
                throw Failure("payload: echo of " + std::to_string(mib) + " MiB returned " +
                              std::to_string(back.size()) + " bytes that differ from those sent");
            }
            return elapsed;
        });
        print_payload_runs(base, mib, runs, s.json);
    }
}

void client_child(gearman_client_st* client, const Settings& s) {
    echo_int(client, 0);  // libgearman connects lazily: connect before the clock starts
    client_ready_and_wait();
    const double start = monotonic_seconds();
    const double stop_at = start + s.seconds;
    const std::int64_t jobs = echo_batches(
        client, std::max<std::int64_t>(1, s.window),
        [&](std::int64_t i) { return (i & 255) != 0 || monotonic_seconds() < stop_at; });
    client_report(jobs, start, monotonic_seconds());
}

void clients(gearman_client_st*, const Settings& s) {
    const std::vector<std::string> argv = {self_executable(),
                                           "--host",
                                           s.host,
                                           "--port",
                                           std::to_string(s.port),
                                           "--scenario",
                                           "client",
                                           "--seconds",
                                           std::to_string(s.seconds),
                                           "--window",
                                           std::to_string(s.window),
                                           "--stall-seconds",
                                           std::to_string(s.stall_seconds)};
    const ClientsFigures one = run_clients(argv, 1, 30);
    const ClientsFigures many = run_clients(argv, s.clients, 30);
    Result r = make_result(s, "clients",
                           " --clients " + std::to_string(s.clients) + " --seconds " +
                               std::to_string(s.seconds) + " --window " + std::to_string(s.window));
    r.metrics = {{"one_client_jobs_per_s", one.total_jobs_per_s},
                 {"total_jobs_per_s", many.total_jobs_per_s},
                 {"vs_one_client", many.total_jobs_per_s / one.total_jobs_per_s},
                 {"fairness", many.fairness}};
    r.params = {{"clients", std::to_string(s.clients)},
                {"seconds", std::to_string(s.seconds)},
                {"window", std::to_string(s.window)}};
    print_result(r, s.json);
}

void classic(gearman_client_st* client, const Settings& s) {
    const ClassicParams& p = s.classic;
    Result r =
        make_result(s, "classic",
                    " --gcd-pairs " + std::to_string(p.gcd_pairs) + " --md5-jobs " +
                        std::to_string(p.md5_jobs) + " --md5-rounds " +
                        std::to_string(p.md5_rounds) + " --triple-n " + std::to_string(p.triple_n) +
                        " --triple-jobs " + std::to_string(p.triple_jobs));
    double serial_total = 0, pooled_total = 0;
    // Each workload: the serial computation and the texts the worker is sent.
    auto run = [&](const std::string& name, const std::vector<std::string>& workloads,
                   const std::function<std::string(const std::string&)>& serial_one) {
        const ClassicTiming t = time_classic(
            name,
            [&] {
                std::vector<std::string> out;
                for (const auto& w : workloads) out.push_back(serial_one(w));
                return out;
            },
            [&] { return run_batch(client, name.c_str(), workloads); });
        r.metrics.emplace_back("speedup_" + name, t.serial_s / t.pooled_s);
        r.metrics.emplace_back("serial_s_" + name, t.serial_s);
        r.metrics.emplace_back("pooled_s_" + name, t.pooled_s);
        serial_total += t.serial_s;
        pooled_total += t.pooled_s;
    };

    std::vector<std::string> gcd_work;
    for (const auto& [a, b] : classic_gcd_inputs(p))
        gcd_work.push_back(std::to_string(a) + " " + std::to_string(b));
    run("gcd", gcd_work, [](const std::string& w) {
        const auto space = w.find(' ');
        return std::to_string(
            ex::brute_force_gcd(std::stoll(w.substr(0, space)), std::stoll(w.substr(space + 1))));
    });

    const std::vector<std::string> md5_work(static_cast<std::size_t>(p.md5_jobs),
                                            std::to_string(p.md5_rounds) + " Hello World");
    run("md5_chain", md5_work,
        [&](const std::string&) { return ex::md5_chain("Hello World", p.md5_rounds); });

    std::vector<std::string> triple_work;
    for (const std::int64_t n : classic_triple_inputs(p)) triple_work.push_back(std::to_string(n));
    run("triple_product", triple_work,
        [](const std::string& w) { return triple_text(std::stoll(w)); });

    r.metrics.emplace_back("speedup_total", serial_total / pooled_total);
    r.params = {{"gcd_pairs", std::to_string(p.gcd_pairs)},
                {"md5_jobs", std::to_string(p.md5_jobs)},
                {"md5_rounds", std::to_string(p.md5_rounds)},
                {"triple_n", std::to_string(p.triple_n)},
                {"triple_jobs", std::to_string(p.triple_jobs)}};
    print_result(r, s.json);
}

}  // namespace

int main(int argc, char** argv) {
    Settings s;
    s.program = argv[0];
    CLI::App app{"gearman-bench: the Gearman peer of warmpool-bench"};
    app.add_option("--host", s.host, "gearmand address")->capture_default_str();
    app.add_option("--port", s.port, "gearmand port")->required()->check(CLI::Range(1, 65535));
    app.add_option("--scenario", s.scenario,
                   "roundtrip, inflight, payload, clients, classic or all")
        ->check(CLI::IsMember(
            {"roundtrip", "inflight", "payload", "clients", "classic", "client", "all"}))
        ->capture_default_str();
    app.add_option("--count", s.count, "Jobs for roundtrip/inflight (default 20000 / 200000)")
        ->check(CLI::Range(std::int64_t{1}, std::int64_t{1} << 32));
    app.add_option("--window", s.window, "inflight, clients: tasks per batch")
        ->capture_default_str();
    app.add_option("--reps", s.reps, "payload: timed repetitions per size")
        ->check(CLI::Range(std::int64_t{1}, std::int64_t{1000}))
        ->capture_default_str();
    app.add_option("--stall-seconds", s.stall_seconds,
                   "Fail a request that gets no answer for this long")
        ->capture_default_str();
    add_common_options(app, s);
    CLI11_PARSE(app, argc, argv);

    ClientPtr client;
    try {
        client = connect(s);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "gearman-bench: %s\n", e.what());
        return 2;
    }
    if (s.scenario == "client") {
        try {
            client_child(client.get(), s);
            return 0;
        } catch (const std::exception& e) {
            std::fprintf(stderr, "gearman-bench client: %s\n", e.what());
            return 1;
        }
    }
    using Scenario = void (*)(gearman_client_st*, const Settings&);
    const std::vector<std::pair<std::string, Scenario>> scenarios = {{"roundtrip", roundtrip},
                                                                     {"inflight", inflight},
                                                                     {"payload", payload},
                                                                     {"clients", clients},
                                                                     {"classic", classic}};
    int rc = 0;
    for (const auto& [name, run] : scenarios) {
        if (s.scenario != "all" && s.scenario != name) continue;
        try {
            run(client.get(), s);
        } catch (const std::exception& e) {
            std::fprintf(stderr, "gearman-bench: %s ERROR %s\n", name.c_str(), e.what());
            std::printf("%s ERROR %s\n", name.c_str(), e.what());
            std::fflush(stdout);
            rc = 1;
        }
    }
    return rc;
}
