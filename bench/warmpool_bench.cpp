// warmpool-bench: measures a running pool through the public client API, and checks every
// result it gets back (a benchmark that accepts wrong answers measures nothing).
//
// Scenarios (--scenario, or "all"):
//   roundtrip  sequential call<int64_t>("echo"): latency percentiles of one job at a time
//   inflight   separate submit<int64_t>("echo") calls, up to --window outstanding: jobs/s
//   map        map<int64_t>("echo") over --count ints: jobs/s through batching
//   payload    echo of random blobs (--payload-mib), one outstanding: GB/s, through
//              call<std::string> (gbps_<n>mib: the caller gets a new std::string) and through
//              call<warmpool::Bytes> (bytes_gbps_<n>mib: the result read in place), plus each
//              API's first, cold call (first_call_gbps_..., bytes_first_call_gbps_...)
//   clients    --clients processes (this program re-executed) running "inflight" for --seconds,
//              released together, vs one such process alone: total jobs/s and fairness
//   classic    the classic CPU-bound workloads serially in this process vs through the pool
//   floor      no pool: the machine's floor (machine_floor.hpp), a futex ping-pong between two
//              processes and a trip round three spinning, yielding processes (--count round
//              trips each), memcpy of --payload-mib buffers and the
//              speed-up of two bare processes running a CPU-bound loop side by side
// ("client" is the child side of "clients"; scripts/bench.sh does not call it directly.)
//
// Each figure set is printed as "<scenario> key=value ..." plus the command that repeats it, or
// with --json as one JSON object per line (see bench_support.hpp), which scripts/bench.sh reads.
// A watchdog ends the run (exit 3) if a scenario makes no progress for --stall-seconds, naming
// what it was waiting for, so a lost reply shows up as a report rather than a hang.
// Exit codes: 0 all verified, 1 a job failed or a result was wrong, 2 no pool, 3 stalled.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "bench_support.hpp"
#include "jobs/classic_workloads.hpp"
#include "machine_floor.hpp"
#include "warmpool/client.hpp"

namespace {

using namespace warmpool::bench;

struct Settings : CommonSettings {
    std::string pool;
    std::string runtime_dir;
    std::size_t chunk = 0;
    std::int64_t spin_us = 50;
};

// Ends the process if the current scenario stops making progress: the scenario bumps
// `progress` as results arrive and sets `waiting_on` to say what it blocks on.
class Watchdog {
public:
    explicit Watchdog(double stall_seconds)
        : stall_seconds_(stall_seconds), thread_([this] { loop(); }) {}
    ~Watchdog() {
        {
            std::lock_guard lock(mu_);
            stop_ = true;
        }
        cv_.notify_all();
        thread_.join();
    }
    void begin(std::string scenario) {
        std::lock_guard lock(mu_);
        scenario_ = std::move(scenario);
        progress.store(0);
        current_job.store(-1);
    }
    void waiting_on(std::string what) {
        std::lock_guard lock(mu_);
        waiting_on_ = std::move(what);
    }
    std::atomic<std::uint64_t> progress{0};
    // The job a scenario waits for, if it has one; a plain store, so that hot loops can keep it
    // up to date without formatting a message per job.
    std::atomic<std::int64_t> current_job{-1};

private:
    void loop() {
        std::unique_lock lock(mu_);
        std::uint64_t last = progress.load();
        auto last_change = Clock::now();
        while (!stop_) {
            cv_.wait_for(lock, std::chrono::milliseconds(250));
            const std::uint64_t now = progress.load();
            if (now != last) {
                last = now;
                last_change = Clock::now();
                continue;
            }
            if (!scenario_.empty() && seconds_since(last_change) > stall_seconds_) {
                std::fprintf(stderr,
                             "\nSTALL scenario=%s no progress for %.0fs after %llu results; "
                             "waiting on: %s (job %lld)\n",
                             scenario_.c_str(), stall_seconds_,
                             static_cast<unsigned long long>(now), waiting_on_.c_str(),
                             static_cast<long long>(current_job.load()));
                std::fflush(stdout);
                std::_Exit(3);
            }
        }
    }

    double stall_seconds_;
    std::mutex mu_;
    std::condition_variable cv_;
    bool stop_ = false;
    std::string scenario_;
    std::string waiting_on_ = "(nothing recorded)";
    std::thread thread_;
};

// The command line that repeats one scenario against the same pool.
std::string repeat_command(const Settings& s, const std::string& scenario,
                           const std::string& extra) {
    std::string cmd = shell_quote(s.program);
    if (!s.pool.empty()) cmd += " --pool " + shell_quote(s.pool);
    if (!s.runtime_dir.empty()) cmd += " --runtime-dir " + shell_quote(s.runtime_dir);
    return cmd + " --scenario " + scenario + extra;
}

Result make_result(const Settings& s, const std::string& scenario, const std::string& extra) {
    Result r;
    r.system = "warmpool";
    r.scenario = scenario;
    r.command = repeat_command(s, scenario, extra);
    return r;
}

void expect_equal(std::int64_t got, std::int64_t want, const char* scenario) {
    if (got != want) {
        throw Failure(std::string(scenario) + ": echo returned " + std::to_string(got) + " for " +
                      std::to_string(want));
    }
}

// ---------------------------------------------------------------------------------------------

void roundtrip(warmpool::Client& pool, const Settings& s, Watchdog& dog) {
    const std::int64_t n = s.count > 0 ? s.count : 20'000;
    dog.waiting_on("a roundtrip call (warm-up)");
    for (std::int64_t i = 0; i < s.warmup; ++i) {
        expect_equal(pool.call<std::int64_t>("echo", i), i, "roundtrip");
        ++dog.progress;
    }
    dog.waiting_on("a roundtrip call");
    std::vector<double> us;
    us.reserve(static_cast<std::size_t>(n));
    for (std::int64_t i = 0; i < n; ++i) {
        const auto start = Clock::now();
        const auto got = pool.call<std::int64_t>("echo", i);
        us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - start).count());
        expect_equal(got, i, "roundtrip");
        ++dog.progress;
    }
    Result r = make_result(
        s, "roundtrip", " --count " + std::to_string(n) + " --warmup " + std::to_string(s.warmup));
    r.metrics = latency_metrics(us);
    r.params = {{"count", std::to_string(n)}};
    print_result(r, s.json);
}

// Keeps up to `window` echo jobs outstanding until `keep_going(submitted)` says stop, then
// drains; every result is checked. Returns the number of jobs done.
template <class KeepGoing>
std::int64_t echo_window(warmpool::Client& pool, std::size_t window, Watchdog& dog,
                         KeepGoing keep_going, std::size_t* peak = nullptr) {
    std::deque<std::pair<std::int64_t, warmpool::Future<std::int64_t>>> outstanding;
    dog.waiting_on("the oldest outstanding echo job");
    auto collect_oldest = [&] {
        auto& [want, future] = outstanding.front();
        dog.current_job.store(want, std::memory_order_relaxed);
        expect_equal(future.get(), want, "inflight");
        outstanding.pop_front();
        dog.progress.fetch_add(1, std::memory_order_relaxed);
    };
    std::int64_t i = 0;
    for (; keep_going(i); ++i) {
        if (outstanding.size() >= window) collect_oldest();
        outstanding.emplace_back(i, pool.submit<std::int64_t>("echo", i));
        if (peak != nullptr) *peak = std::max(*peak, outstanding.size());
    }
    while (!outstanding.empty()) collect_oldest();
    return i;
}

void inflight(warmpool::Client& pool, const Settings& s, Watchdog& dog) {
    const std::int64_t n = s.count > 0 ? s.count : 200'000;
    const auto window = static_cast<std::size_t>(std::max<std::int64_t>(1, s.window));
    std::size_t peak = 0;
    const auto start = Clock::now();
    echo_window(
        pool, window, dog, [n](std::int64_t i) { return i < n; }, &peak);
    const double elapsed = seconds_since(start);
    Result r = make_result(s, "inflight",
                           " --count " + std::to_string(n) + " --window " + std::to_string(window));
    r.metrics = {{"jobs_per_s", static_cast<double>(n) / elapsed}, {"seconds", elapsed}};
    r.params = {{"count", std::to_string(n)},
                {"window", std::to_string(window)},
                {"peak_outstanding", std::to_string(peak)}};
    print_result(r, s.json);
}

void map(warmpool::Client& pool, const Settings& s, Watchdog& dog) {
    const std::int64_t n = s.count > 0 ? s.count : 10'000'000;
    std::vector<std::int64_t> inputs(static_cast<std::size_t>(n));
    std::iota(inputs.begin(), inputs.end(), std::int64_t{0});
    warmpool::MapOptions options;
    options.chunk_size = s.chunk;
    dog.waiting_on("map<int64_t>(echo) over " + std::to_string(n) +
                   " inputs (map reports no progress until done)");
    const auto start = Clock::now();
    const std::vector<std::int64_t> results = pool.map<std::int64_t>("echo", inputs, options);
    const double elapsed = seconds_since(start);
    ++dog.progress;
    if (results.size() != inputs.size()) {
        throw Failure("map: " + std::to_string(results.size()) + " results for " +
                      std::to_string(n) + " inputs");
    }
    for (std::size_t i = 0; i < results.size(); ++i) expect_equal(results[i], inputs[i], "map");
    Result r = make_result(
        s, "map",
        " --count " + std::to_string(n) + (s.chunk ? " --chunk " + std::to_string(s.chunk) : ""));
    r.metrics = {{"jobs_per_s", static_cast<double>(n) / elapsed}, {"seconds", elapsed}};
    r.params = {{"count", std::to_string(n)},
                {"chunk", s.chunk == 0 ? "auto" : std::to_string(s.chunk)}};
    print_result(r, s.json);
}

void payload(warmpool::Client& pool, const Settings& s, Watchdog& dog) {
    std::string sizes;
    for (const std::int64_t mib : s.payload_mib) sizes += " --payload-mib " + std::to_string(mib);
    char budget[32];
    std::snprintf(budget, sizeof budget, "%g", s.budget_seconds);
    const Result base = make_result(
        s, "payload", sizes + " --reps " + std::to_string(s.reps) + " --budget-seconds " + budget);
    for (const std::int64_t mib : s.payload_mib) {
        const std::string blob = random_blob(static_cast<std::size_t>(mib) << 20);
        const std::string size = std::to_string(mib) + "mib";
        int echo = 0;
        // One timed echo through call<std::string> or call<warmpool::Bytes>. The clock covers
        // the call and nothing else: the check, and freeing the result (unmapping a fresh
        // string; handing a blob back to its worker), come after it.
        auto echo_once = [&](bool bytes) {
            dog.waiting_on("payload echo of " + std::to_string(mib) + " MiB through " +
                           (bytes ? "call<Bytes>" : "call<std::string>") + ", echo " + std::to_string(++echo));
            std::string copied;
            warmpool::Bytes viewed;
            const auto start = Clock::now();
            if (bytes) {
                viewed = pool.call<warmpool::Bytes>("echo", blob);
            } else {
                copied = pool.call<std::string>("echo", blob);
            }
            const double elapsed = seconds_since(start);
            if (bytes ? !(viewed == blob) : copied != blob) {
                throw Failure("payload: echo of " + std::to_string(mib) + " MiB through " +
                              (bytes ? "call<Bytes>" : "call<std::string>") + " differs from what was sent");
            }
            ++dog.progress;
            return elapsed;
        };
        for (const bool bytes : {false, true}) {
            const char* what = bytes ? "call<warmpool::Bytes>" : "call<std::string>";
            const std::string prefix = bytes ? "bytes_" : "";
            auto once = [&echo_once, bytes] { return echo_once(bytes); };
            // The first echo of a size pays the first touch of every page on the way (new blobs,
            // new mappings); later ones reuse them. Bytes runs after std::string, so its first
            // call finds the blobs already made and shows only what is left cold.
            Result first = base;
            first.metrics = {{prefix + "first_call_gbps_" + size,
                              static_cast<double>(blob.size()) / once() / 1e9}};
            first.params = {{"mib", std::to_string(mib)}, {"api", what}, {"run", "first"}};
            print_result(first, s.json);
            Result steady = base;
            steady.params["api"] = what;
            const std::vector<PayloadRun> runs = time_payload_runs(s.reps, s.budget_seconds, once);
            print_payload_runs(steady, mib, runs, s.json, prefix);
        }
    }
}

// The child side of "clients": connect, wait for the release, keep `window` jobs in flight for
// --seconds, report.
void client(warmpool::Client& pool, const Settings& s, Watchdog& dog) {
    client_ready_and_wait();
    dog.begin("client");
    const double start = monotonic_seconds();
    const double stop_at = start + s.seconds;
    const auto window = static_cast<std::size_t>(std::max<std::int64_t>(1, s.window));
    // Looking at the clock once per 256 submissions keeps it off the measured path.
    const std::int64_t jobs = echo_window(pool, window, dog, [&](std::int64_t i) {
        return (i & 255) != 0 || monotonic_seconds() < stop_at;
    });
    client_report(jobs, start, monotonic_seconds());
}

void clients(warmpool::Client&, const Settings& s, Watchdog& dog) {
    std::vector<std::string> argv = {self_executable(),
                                     "--scenario",
                                     "client",
                                     "--seconds",
                                     std::to_string(s.seconds),
                                     "--window",
                                     std::to_string(s.window),
                                     "--stall-seconds",
                                     std::to_string(s.stall_seconds)};
    if (!s.pool.empty()) argv.insert(argv.end(), {"--pool", s.pool});
    if (!s.runtime_dir.empty()) argv.insert(argv.end(), {"--runtime-dir", s.runtime_dir});
    dog.waiting_on("one client process");
    const ClientsFigures one = run_clients(argv, 1, 30);
    ++dog.progress;
    dog.waiting_on(std::to_string(s.clients) + " client processes");
    const ClientsFigures many = run_clients(argv, s.clients, 30);
    ++dog.progress;
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

// Submits every input, then collects every result, so all jobs are in the pool at once.
template <class R, class A, class Text>
std::vector<std::string> run_pooled(warmpool::Client& pool, const char* function,
                                    const std::vector<A>& inputs, Text text) {
    std::vector<warmpool::Future<R>> futures;
    for (const A& input : inputs) futures.push_back(pool.submit<R>(function, input));
    std::vector<std::string> out;
    for (const auto& future : futures) out.push_back(text(future.get()));
    return out;
}

void classic(warmpool::Client& pool, const Settings& s, Watchdog& dog) {
    namespace ex = warmpool::examples;
    const ClassicParams& p = s.classic;
    Result r =
        make_result(s, "classic",
                    " --gcd-pairs " + std::to_string(p.gcd_pairs) + " --md5-jobs " +
                        std::to_string(p.md5_jobs) + " --md5-rounds " +
                        std::to_string(p.md5_rounds) + " --triple-n " + std::to_string(p.triple_n) +
                        " --triple-jobs " + std::to_string(p.triple_jobs));
    double serial_total = 0, pooled_total = 0;
    auto record = [&](const std::string& name, const ClassicTiming& t) {
        r.metrics.emplace_back("speedup_" + name, t.serial_s / t.pooled_s);
        r.metrics.emplace_back("serial_s_" + name, t.serial_s);
        r.metrics.emplace_back("pooled_s_" + name, t.pooled_s);
        serial_total += t.serial_s;
        pooled_total += t.pooled_s;
        ++dog.progress;
    };

    const auto gcd_inputs = classic_gcd_inputs(p);
    dog.waiting_on("classic gcd");
    record("gcd", time_classic(
                      "gcd",
                      [&] {
                          std::vector<std::string> out;
                          for (const auto& [a, b] : gcd_inputs)
                              out.push_back(std::to_string(ex::brute_force_gcd(a, b)));
                          return out;
                      },
                      [&] {
                          return run_pooled<std::int64_t>(
                              pool, "gcd", gcd_inputs,
                              [](std::int64_t g) { return std::to_string(g); });
                      }));

    const std::vector<ex::Md5Args> md5_inputs(static_cast<std::size_t>(p.md5_jobs),
                                              ex::Md5Args{"Hello World", p.md5_rounds});
    dog.waiting_on("classic md5_chain");
    record("md5_chain", time_classic(
                            "md5_chain",
                            [&] {
                                std::vector<std::string> out;
                                for (const auto& args : md5_inputs)
                                    out.push_back(ex::md5_chain(args.msg, args.rounds));
                                return out;
                            },
                            [&] {
                                return run_pooled<std::string>(pool, "md5_chain", md5_inputs,
                                                               [](std::string d) { return d; });
                            }));

    const auto triple_inputs = classic_triple_inputs(p);
    dog.waiting_on("classic triple_product");
    record("triple_product",
           time_classic(
               "triple_product",
               [&] {
                   std::vector<std::string> out;
                   for (const std::int64_t n : triple_inputs) out.push_back(triple_text(n));
                   return out;
               },
               [&] {
                   return run_pooled<ex::TripleProduct>(
                       pool, "triple_product", triple_inputs, [](const ex::TripleProduct& t) {
                           return std::to_string(t.digits) + " " + t.fnv1a64_hex + " " + t.leading;
                       });
               }));
    r.metrics.emplace_back("speedup_total", serial_total / pooled_total);
    r.params = {{"gcd_pairs", std::to_string(p.gcd_pairs)},
                {"md5_jobs", std::to_string(p.md5_jobs)},
                {"md5_rounds", std::to_string(p.md5_rounds)},
                {"triple_n", std::to_string(p.triple_n)},
                {"triple_jobs", std::to_string(p.triple_jobs)}};
    print_result(r, s.json);
}

// The machine's floor, no pool involved: what the round trip and payload figures compare with.
void floor_scenario(const Settings& s) {
    const std::int64_t n = s.count > 0 ? s.count : 20'000;
    Result r;
    r.system = "floor";
    r.scenario = "floor";
    std::string sizes;
    for (const std::int64_t mib : s.payload_mib) sizes += " --payload-mib " + std::to_string(mib);
    r.command = shell_quote(s.program) + " --scenario floor --count " + std::to_string(n) +
                " --warmup " + std::to_string(s.warmup) + " --spin-us " +
                std::to_string(s.spin_us) + sizes + " --reps " + std::to_string(s.reps) +
                " --gcd-pairs " + std::to_string(s.classic.gcd_pairs) + " --md5-jobs " +
                std::to_string(s.classic.md5_jobs) + " --md5-rounds " +
                std::to_string(s.classic.md5_rounds) + " --triple-n " +
                std::to_string(s.classic.triple_n) + " --triple-jobs " +
                std::to_string(s.classic.triple_jobs);
    auto ring = [&](const std::string& name, int processes, std::int64_t spin_ns, bool yield) {
        std::vector<double> us = futex_ring_us(processes, n, s.warmup, spin_ns, yield);
        std::sort(us.begin(), us.end());
        r.metrics.emplace_back(name + "_p50_us", percentile(us, 0.50));
        r.metrics.emplace_back(name + "_p99_us", percentile(us, 0.99));
    };
    ring("futex", 2, 0, false);
    ring("spin_futex", 2, s.spin_us * 1000, false);
    ring("ring3_spin_yield", 3, s.spin_us * 1000, true);
    for (const std::int64_t mib : s.payload_mib) {
        const auto bytes = static_cast<std::size_t>(mib) << 20;
        for (const bool fresh : {false, true}) {
            std::vector<double> gbps = memcpy_gbps(bytes, static_cast<int>(s.reps), fresh);
            std::sort(gbps.begin(), gbps.end());
            r.metrics.emplace_back(std::string(fresh ? "memcpy_fresh_gbps_" : "memcpy_gbps_") +
                                       std::to_string(mib) + "mib",
                                   percentile(gbps, 0.5));
        }
    }
    r.metrics.emplace_back("cpu_speedup_2proc", parallel_speedup(2, 0.5));
    // The classic workloads through an ideal pool of 2 bare processes: the best speed-up these
    // very jobs allow on this machine.
    namespace ex = warmpool::examples;
    const ClassicParams& p = s.classic;
    const auto gcd_inputs = classic_gcd_inputs(p);
    const auto triple_inputs = classic_triple_inputs(p);
    const ex::Md5Args md5_args{"Hello World", p.md5_rounds};
    double serial_total = 0, pooled_total = 0;
    auto ideal = [&](const std::string& name, std::size_t jobs,
                     const std::function<void(std::size_t)>& run_job) {
        const ClassicTiming t = ideal_pool_timing(2, jobs, run_job);
        r.metrics.emplace_back("ideal_speedup_" + name, t.serial_s / t.pooled_s);
        serial_total += t.serial_s;
        pooled_total += t.pooled_s;
    };
    ideal("gcd", gcd_inputs.size(), [&](std::size_t i) {
        volatile std::int64_t sink = ex::brute_force_gcd(gcd_inputs[i].first, gcd_inputs[i].second);
        (void)sink;
    });
    ideal("md5_chain", static_cast<std::size_t>(p.md5_jobs), [&](std::size_t) {
        const std::string digest = ex::md5_chain(md5_args.msg, md5_args.rounds);
        volatile char sink = digest.empty() ? 0 : digest[0];
        (void)sink;
    });
    ideal("triple_product", triple_inputs.size(), [&](std::size_t i) {
        const std::string text = triple_text(triple_inputs[i]);
        volatile char sink = text.empty() ? 0 : text[0];
        (void)sink;
    });
    r.metrics.emplace_back("ideal_speedup_total", serial_total / pooled_total);
    r.params = {{"count", std::to_string(n)},
                {"spin_us", std::to_string(s.spin_us)},
                {"reps", std::to_string(s.reps)}};
    print_result(r, s.json);
}

}  // namespace

int main(int argc, char** argv) {
    Settings s;
    s.program = argv[0];
    CLI::App app{"warmpool-bench: measure a running pool with the bundled example jobs"};
    app.add_option("--pool", s.pool, "Pool name (default: $WARMPOOL_POOL or 'default')");
    app.add_option("--runtime-dir", s.runtime_dir, "The pool's runtime directory");
    app.add_option("--scenario", s.scenario,
                   "roundtrip, inflight, map, payload, clients, classic, floor or all")
        ->check(CLI::IsMember({"roundtrip", "inflight", "map", "payload", "clients", "classic",
                               "floor", "client", "all"}))
        ->capture_default_str();
    app.add_option("--count", s.count,
                   "Jobs for roundtrip/inflight/map (default 20000 / 200000 / 10000000)")
        ->check(CLI::Range(std::int64_t{1}, std::int64_t{1} << 32));
    app.add_option("--window", s.window, "inflight, clients: most jobs outstanding per client")
        ->capture_default_str();
    app.add_option("--chunk", s.chunk, "map: items per batch (0: the library's choice)")
        ->capture_default_str();
    app.add_option("--reps", s.reps, "payload, floor: timed repetitions per size")
        ->check(CLI::Range(std::int64_t{1}, std::int64_t{1000}))
        ->capture_default_str();
    app.add_option("--spin-us", s.spin_us, "floor: spin before sleeping in the spinning ping-pong and the three-process ring")
        ->check(CLI::Range(std::int64_t{0}, std::int64_t{1'000'000}))
        ->capture_default_str();
    app.add_option("--stall-seconds", s.stall_seconds,
                   "Give up (exit 3) after this long without progress")
        ->capture_default_str();
    add_common_options(app, s);
    CLI11_PARSE(app, argc, argv);

    if (s.scenario == "floor") {  // needs no pool
        try {
            floor_scenario(s);
            return 0;
        } catch (const std::exception& e) {
            std::fprintf(stderr, "warmpool-bench: floor ERROR %s\n", e.what());
            return 1;
        }
    }

    std::optional<warmpool::Client> pool;
    try {
        pool.emplace(warmpool::Client::connect(
            s.pool, warmpool::ClientOptions{s.runtime_dir, "warmpool-bench", 5000}));
    } catch (const warmpool::ConnectError& e) {
        std::fprintf(stderr, "warmpool-bench: %s\n", e.what());
        return 2;
    }
    if (s.scenario == "client") {
        try {
            Watchdog dog(s.stall_seconds);
            client(*pool, s, dog);
            return 0;
        } catch (const std::exception& e) {
            std::fprintf(stderr, "warmpool-bench client: %s\n", e.what());
            return 1;
        }
    }
    if (!s.json) {
        std::printf("# pool '%s', supervisor pid %d, %u worker slots\n", pool->pool_name().c_str(),
                    static_cast<int>(pool->supervisor_pid()), pool->worker_slots());
    }

    using Scenario = void (*)(warmpool::Client&, const Settings&, Watchdog&);
    const std::vector<std::pair<std::string, Scenario>> scenarios = {
        {"roundtrip", roundtrip}, {"inflight", inflight}, {"map", map},
        {"payload", payload},     {"clients", clients},   {"classic", classic}};
    Watchdog dog(s.stall_seconds);
    int rc = 0;
    for (const auto& [name, run] : scenarios) {
        if (s.scenario != "all" && s.scenario != name) continue;
        dog.begin(name);
        try {
            run(*pool, s, dog);
        } catch (const std::exception& e) {
            std::fprintf(stderr, "warmpool-bench: %s ERROR %s\n", name.c_str(), e.what());
            std::printf("%s ERROR %s\n", name.c_str(), e.what());
            std::fflush(stdout);
            rc = 1;
        }
    }
    dog.begin("");
    return rc;
}
