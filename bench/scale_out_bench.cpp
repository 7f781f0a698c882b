// warmpool-scale-out-bench: the warmpool side of the scale-out benchmark (bench/scale_out_bench.py
// starts Redis, the hosts and the Celery peer, and runs this). It measures a cluster through the
// public client API, with the endpoint string as the only thing that says where the pool is:
// "redis://HOST:PORT/CLUSTER" goes through Redis and the gateways, a plain pool name (with
// --runtime-dir) goes to one local pool directly, which is how the driver measures the stage
// without Redis. Every result is checked against what this program computes itself.
//
// Scenarios (--scenario):
//   ping       no pool: sequential PING round trips to the endpoint's Redis, what Redis itself
//              costs per round trip (latency percentiles)
//   relay      no pool: the least a job's trip through Redis streams costs here: this process
//              XADDs to one stream, a forked child blocked in XREAD on it wakes and XADDs to a
//              second stream, on which this process waits in XREAD (latency percentiles). A
//              remote call makes at least this trip, plus the pool and the finish script.
//   floor      no pool: the machine's floor, a futex ping-pong between two processes, without
//              and with a short spin before sleeping (machine_floor.hpp)
//   roundtrip  sequential call<int64_t>("echo"), one at a time: latency percentiles
//   map        map<int64_t>("gcd") over --count small pairs (batched): jobs/s
//   sleep      --count sleep_report(--sleep-ms) jobs submitted at once, then collected: jobs/s,
//              and how many distinct worker processes ran them
//
// Each figure set is printed as "<scenario> key=value ..." plus the command that repeats it, or
// with --json as one JSON object per line (bench_support.hpp's Result).
// Exit codes: 0 all verified, 1 a job failed or a result was wrong, 2 no pool or no Redis.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "bench_support.hpp"
#include "jobs/classic_workloads.hpp"
#include "jobs/example_types.hpp"
#include "machine_floor.hpp"
#include "warmpool/client.hpp"
#include "warmpool/redis/redis_connection.hpp"
#include "warmpool/redis/redis_endpoint.hpp"

namespace {

using namespace warmpool::bench;

struct Settings {
    std::string endpoint;
    std::string runtime_dir;
    std::string scenario;
    std::string system = "warmpool";  // the label of the rows: the driver names the stage measured
    std::int64_t count = 0;           // 0: the scenario's default
    std::int64_t warmup = 1000;
    std::size_t chunk = 0;
    double sleep_ms = 10;
    bool json = false;
    std::string program;
};

std::string repeat_command(const Settings& s, const std::string& extra) {
    std::string cmd = shell_quote(s.program) + " --endpoint " + shell_quote(s.endpoint);
    if (!s.runtime_dir.empty()) cmd += " --runtime-dir " + shell_quote(s.runtime_dir);
    return cmd + " --scenario " + s.scenario + extra;
}

Result make_result(const Settings& s, const std::string& extra) {
    Result r;
    r.system = s.system;
    r.scenario = s.scenario;
    r.command = repeat_command(s, extra);
    r.params["endpoint"] = s.endpoint;
    return r;
}

double micros_since(Clock::time_point start) {
    return std::chrono::duration<double, std::micro>(Clock::now() - start).count();
}

// The map's inputs: small pairs, so that each gcd costs a few dozen loop turns and the figure is
// the cost of moving jobs. bench/peers/celery_tasks.py makes the same pairs.
GcdPair tiny_pair(std::int64_t i) { return {2 + i % 61, 2 + (i * 37) % 89}; }

// ---------------------------------------------------------------------------------------------

warmpool::RedisConnection connect_redis(const Settings& s) {
    auto endpoint = warmpool::parse_redis_endpoint(s.endpoint);
    if (!endpoint) throw Failure(endpoint.error().message());
    auto credentials = warmpool::resolve_redis_credentials(*endpoint);
    if (!credentials) throw Failure(credentials.error().message());
    auto connection = warmpool::RedisConnection::connect(*endpoint, *credentials, 5000);
    if (!connection) throw Failure(connection.error().message());
    return std::move(*connection);
}

void ping(const Settings& s) {
    const std::int64_t n = s.count > 0 ? s.count : 20'000;
    auto connection = connect_redis(s);
    auto once = [&] {
        auto reply = connection.command({"PING"});
        if (!reply || reply->text() != "PONG") throw Failure("ping: no PONG from " + s.endpoint);
    };
    for (std::int64_t i = 0; i < s.warmup; ++i) once();
    std::vector<double> us;
    us.reserve(static_cast<std::size_t>(n));
    for (std::int64_t i = 0; i < n; ++i) {
        const auto start = Clock::now();
        once();
        us.push_back(micros_since(start));
    }
    Result r = make_result(s, " --count " + std::to_string(n) + " --warmup " + std::to_string(s.warmup));
    r.metrics = latency_metrics(us);
    r.params["count"] = std::to_string(n);
    print_result(r, s.json);
}

// XREAD of one entry after `last` from `stream`, blocking; returns the entry's id.
std::string read_next(warmpool::RedisConnection& redis, const std::string& stream, const std::string& last) {
    auto reply = redis.command({"XREAD", "COUNT", "1", "BLOCK", "5000", "STREAMS", stream, last});
    if (!reply || !reply->value().is_array()) throw Failure("relay: no entry on " + stream + " within 5 s");
    return std::string(reply->value()[0][1][0][0].text());
}

void relay(const Settings& s) {
    const std::int64_t n = s.count > 0 ? s.count : 20'000;
    const std::int64_t total = n + s.warmup;
    const std::string prefix = "warmpool-bench:relay:" + std::to_string(::getpid());
    const std::string out = prefix + ":out", back = prefix + ":back";
    const pid_t child = ::fork();
    if (child < 0) throw Failure("relay: fork failed");
    if (child == 0) {
        int rc = 0;
        try {
            auto redis = connect_redis(s);
            redis.set_timeout_ms(10'000);
            std::string last = "0-0";
            for (std::int64_t i = 0; i < total; ++i) {
                last = read_next(redis, out, last);
                if (!redis.command({"XADD", back, "*", "v", "1"})) throw Failure("relay: XADD failed");
            }
        } catch (const std::exception& e) {
            std::fprintf(stderr, "relay child: %s\n", e.what());
            rc = 1;
        }
        std::_Exit(rc);
    }
    // The child is ended and reaped on every path out of here.
    struct Reap {
        pid_t pid;
        bool done = false;
        int wait() {
            int status = 0;
            ::waitpid(pid, &status, 0);
            done = true;
            return status;
        }
        ~Reap() {
            if (!done) {
                ::kill(pid, SIGKILL);
                ::waitpid(pid, nullptr, 0);
            }
        }
    } reap{child};
    auto redis = connect_redis(s);
    redis.set_timeout_ms(10'000);
    std::string last = "0-0";
    std::vector<double> us;
    us.reserve(static_cast<std::size_t>(n));
    for (std::int64_t i = 0; i < total; ++i) {
        const auto start = Clock::now();
        if (!redis.command({"XADD", out, "*", "v", "1"})) throw Failure("relay: XADD failed");
        last = read_next(redis, back, last);
        if (i >= s.warmup) us.push_back(micros_since(start));
    }
    const int status = reap.wait();
    (void)redis.command({"DEL", out, back});
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) throw Failure("relay: the child failed");
    Result r = make_result(s, " --count " + std::to_string(n) + " --warmup " + std::to_string(s.warmup));
    r.metrics = latency_metrics(us);
    r.params["count"] = std::to_string(n);
    print_result(r, s.json);
}

void floor_scenario(const Settings& s) {
    const std::int64_t n = s.count > 0 ? s.count : 20'000;
    constexpr std::int64_t kSpinNs = 50'000;
    Result r;
    r.system = "floor";
    r.scenario = "floor";
    r.command = shell_quote(s.program) + " --scenario floor --count " + std::to_string(n) + " --warmup " +
                std::to_string(s.warmup);
    for (const bool spin : {false, true}) {
        std::vector<double> us = futex_ring_us(2, n, s.warmup, spin ? kSpinNs : 0, false);
        std::sort(us.begin(), us.end());
        const std::string name = spin ? "spin_futex" : "futex";
        r.metrics.emplace_back(name + "_p50_us", percentile(us, 0.50));
        r.metrics.emplace_back(name + "_p99_us", percentile(us, 0.99));
    }
    r.params = {{"count", std::to_string(n)}, {"spin_us", std::to_string(kSpinNs / 1000)}};
    print_result(r, s.json);
}

void roundtrip(warmpool::Client& pool, const Settings& s) {
    const std::int64_t n = s.count > 0 ? s.count : 10'000;
    auto call_once = [&](std::int64_t i) {
        const auto got = pool.call<std::int64_t>("echo", i);
        if (got != i) throw Failure("roundtrip: echo returned " + std::to_string(got) + " for " + std::to_string(i));
    };
    for (std::int64_t i = 0; i < s.warmup; ++i) call_once(i);
    std::vector<double> us;
    us.reserve(static_cast<std::size_t>(n));
    for (std::int64_t i = 0; i < n; ++i) {
        const auto start = Clock::now();
        call_once(i);
        us.push_back(micros_since(start));
    }
    Result r = make_result(s, " --count " + std::to_string(n) + " --warmup " + std::to_string(s.warmup));
    r.metrics = latency_metrics(us);
    r.params["count"] = std::to_string(n);
    print_result(r, s.json);
}

void map(warmpool::Client& pool, const Settings& s) {
    const std::int64_t n = s.count > 0 ? s.count : 1'000'000;
    std::vector<GcdPair> inputs;
    inputs.reserve(static_cast<std::size_t>(n));
    for (std::int64_t i = 0; i < n; ++i) inputs.push_back(tiny_pair(i));
    warmpool::MapOptions options;
    options.chunk_size = s.chunk;
    // One small untimed map first: connections, the reply reader and the workers' first call of
    // gcd are set up before the clock starts.
    const std::vector<GcdPair> warm(inputs.begin(), inputs.begin() + std::min<std::int64_t>(n, 1000));
    (void)pool.map<std::int64_t>("gcd", warm, options);
    const auto start = Clock::now();
    const std::vector<std::int64_t> results = pool.map<std::int64_t>("gcd", inputs, options);
    const double elapsed = seconds_since(start);
    if (results.size() != inputs.size()) {
        throw Failure("map: " + std::to_string(results.size()) + " results for " + std::to_string(n) + " inputs");
    }
    for (std::size_t i = 0; i < results.size(); ++i) {
        const std::int64_t want = warmpool::examples::brute_force_gcd(inputs[i].first, inputs[i].second);
        if (results[i] != want) {
            throw Failure("map: gcd(" + std::to_string(inputs[i].first) + ", " + std::to_string(inputs[i].second) +
                          ") returned " + std::to_string(results[i]) + ", not " + std::to_string(want));
        }
    }
    Result r = make_result(s, " --count " + std::to_string(n) + (s.chunk ? " --chunk " + std::to_string(s.chunk) : ""));
    r.metrics = {{"jobs_per_s", static_cast<double>(n) / elapsed}, {"seconds", elapsed}};
    r.params["count"] = std::to_string(n);
    r.params["chunk"] = s.chunk == 0 ? "auto" : std::to_string(s.chunk);
    print_result(r, s.json);
}

void sleep_jobs(warmpool::Client& pool, const Settings& s) {
    const std::int64_t n = s.count > 0 ? s.count : 400;
    const double seconds = s.sleep_ms / 1000;
    // A few untimed jobs first, so the session is set up before the clock starts.
    for (int i = 0; i < 4; ++i) (void)pool.call<warmpool::examples::SleepReport>("sleep_report", 0.0);
    std::vector<warmpool::Future<warmpool::examples::SleepReport>> futures;
    futures.reserve(static_cast<std::size_t>(n));
    const auto start = Clock::now();
    for (std::int64_t i = 0; i < n; ++i) {
        futures.push_back(pool.submit<warmpool::examples::SleepReport>("sleep_report", seconds));
    }
    std::set<std::int64_t> pids;
    for (auto& future : futures) {
        const auto report = future.get();
        if (report.slept < seconds * 0.99) {
            throw Failure("sleep: a job slept " + std::to_string(report.slept) + " s of " + std::to_string(seconds));
        }
        pids.insert(report.pid);
    }
    const double elapsed = seconds_since(start);
    char ms[32];
    std::snprintf(ms, sizeof ms, "%g", s.sleep_ms);
    Result r = make_result(s, " --count " + std::to_string(n) + " --sleep-ms " + ms);
    r.metrics = {{"jobs_per_s", static_cast<double>(n) / elapsed},
                 {"seconds", elapsed},
                 {"worker_processes", static_cast<double>(pids.size())}};
    r.params["count"] = std::to_string(n);
    r.params["sleep_ms"] = ms;
    print_result(r, s.json);
}

}  // namespace

int main(int argc, char** argv) {
    Settings s;
    s.program = argv[0];
    CLI::App app{"warmpool-scale-out-bench: measure a scale-out cluster (or one local pool) with the example jobs"};
    app.add_option("--endpoint", s.endpoint, "redis://HOST:PORT/CLUSTER, or a local pool's name");
    app.add_option("--runtime-dir", s.runtime_dir, "A local pool's runtime directory");
    app.add_option("--scenario", s.scenario, "ping, relay, floor, roundtrip, map or sleep")
        ->required()
        ->check(CLI::IsMember({"ping", "relay", "floor", "roundtrip", "map", "sleep"}));
    app.add_option("--system", s.system, "The label of the printed rows")->capture_default_str();
    app.add_option("--count", s.count, "Calls, map inputs or sleep jobs (default 10000 / 1000000 / 400)")
        ->check(CLI::Range(std::int64_t{1}, std::int64_t{1} << 32));
    app.add_option("--warmup", s.warmup, "ping, roundtrip, floor: untimed round trips first")->capture_default_str();
    app.add_option("--chunk", s.chunk, "map: items per batch (0: the library's choice)")->capture_default_str();
    app.add_option("--sleep-ms", s.sleep_ms, "sleep: how long each job sleeps")
        ->check(CLI::Range(0.0, 10'000.0))
        ->capture_default_str();
    app.add_flag("--json", s.json, "Print each result as one JSON object per line");
    CLI11_PARSE(app, argc, argv);

    try {
        if (s.scenario == "floor") {
            floor_scenario(s);
            return 0;
        }
        if (s.endpoint.empty()) {
            std::fprintf(stderr, "warmpool-scale-out-bench: --endpoint is needed for %s\n", s.scenario.c_str());
            return 2;
        }
        if (s.scenario == "ping" || s.scenario == "relay") {
            s.scenario == "ping" ? ping(s) : relay(s);
            return 0;
        }
    } catch (const std::exception& e) {
        std::fprintf(stderr, "warmpool-scale-out-bench: %s ERROR %s\n", s.scenario.c_str(), e.what());
        return 1;
    }

    std::optional<warmpool::Client> pool;
    try {
        pool.emplace(warmpool::Client::connect(
            s.endpoint, warmpool::ClientOptions{s.runtime_dir, "warmpool-scale-out-bench", 5000}));
    } catch (const warmpool::ConnectError& e) {
        std::fprintf(stderr, "warmpool-scale-out-bench: %s\n", e.what());
        return 2;
    }
    try {
        if (s.scenario == "roundtrip") roundtrip(*pool, s);
        if (s.scenario == "map") map(*pool, s);
        if (s.scenario == "sleep") sleep_jobs(*pool, s);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "warmpool-scale-out-bench: %s ERROR %s\n", s.scenario.c_str(), e.what());
        return 1;
    }
    return 0;
}
