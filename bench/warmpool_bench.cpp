// warmpool-bench: measures a running pool through the public client API, and checks every
// result it gets back (a benchmark that accepts wrong answers measures nothing).
//
// Scenarios (--scenario, or "all"), all against the bundled "echo" job:
//   roundtrip  sequential call<int64_t>: latency percentiles of one job at a time
//   inflight   separate submit<int64_t> calls with up to --window outstanding: jobs/s
//   map        map<int64_t> over --count ints: jobs/s through batching
//   payload    echo of std::string blobs (--payload-mib), one outstanding: GB/s
//
// Each figure is one line "<scenario> key=value ..." followed by the command that repeats it.
// A watchdog ends the run (exit 3) if a scenario makes no progress for --stall-seconds, naming
// what it was waiting for, so a lost reply shows up as a report rather than a hang.
// Exit codes: 0 all verified, 1 a job failed or a result was wrong, 2 no pool, 3 stalled.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <mutex>
#include <numeric>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "warmpool/client.hpp"

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
    return std::chrono::duration<double>(Clock::now() - start).count();
}

struct Settings {
    std::string pool;
    std::string runtime_dir;
    std::string scenario = "all";
    std::int64_t count = 0;  // 0: each scenario's default
    std::int64_t warmup = 1000;
    std::int64_t window = 10'000;
    std::int64_t reps = 5;
    std::vector<std::int64_t> payload_mib{1, 64};
    std::size_t chunk = 0;
    double stall_seconds = 60;
    std::string program;
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
    }
    void waiting_on(std::string what) {
        std::lock_guard lock(mu_);
        waiting_on_ = std::move(what);
    }
    std::atomic<std::uint64_t> progress{0};

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
                             "waiting on: %s\n",
                             scenario_.c_str(), stall_seconds_,
                             static_cast<unsigned long long>(now), waiting_on_.c_str());
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

struct Failure : std::runtime_error {
    using std::runtime_error::runtime_error;
};

std::string shell_quote(const std::string& s) {
    if (!s.empty() &&
        s.find_first_not_of(
            "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./=:,") ==
            std::string::npos) {
        return s;
    }
    std::string out = "'";
    for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return out + "'";
}

void print_repeat(const Settings& s, const std::string& scenario, const std::string& extra) {
    std::string cmd = shell_quote(s.program);
    if (!s.pool.empty()) cmd += " --pool " + shell_quote(s.pool);
    if (!s.runtime_dir.empty()) cmd += " --runtime-dir " + shell_quote(s.runtime_dir);
    cmd += " --scenario " + scenario + extra;
    std::printf("  repeat: %s\n", cmd.c_str());
    std::fflush(stdout);
}

double percentile(const std::vector<double>& sorted, double p) {
    const auto rank = static_cast<std::size_t>(std::ceil(p * static_cast<double>(sorted.size())));
    return sorted[std::min(sorted.size() - 1, rank == 0 ? 0 : rank - 1)];
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
    const auto all = Clock::now();
    for (std::int64_t i = 0; i < n; ++i) {
        const auto start = Clock::now();
        const auto got = pool.call<std::int64_t>("echo", i);
        us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - start).count());
        expect_equal(got, i, "roundtrip");
        ++dog.progress;
    }
    const double total = seconds_since(all);
    std::sort(us.begin(), us.end());
    const double mean = std::accumulate(us.begin(), us.end(), 0.0) / static_cast<double>(us.size());
    std::printf(
        "roundtrip count=%lld p50_us=%.1f p90_us=%.1f p99_us=%.1f max_us=%.1f mean_us=%.1f "
        "calls_per_s=%.0f\n",
        static_cast<long long>(n), percentile(us, 0.50), percentile(us, 0.90), percentile(us, 0.99),
        us.back(), mean, static_cast<double>(n) / total);
    print_repeat(s, "roundtrip",
                 " --count " + std::to_string(n) + " --warmup " + std::to_string(s.warmup));
}

void inflight(warmpool::Client& pool, const Settings& s, Watchdog& dog) {
    const std::int64_t n = s.count > 0 ? s.count : 200'000;
    const auto window = static_cast<std::size_t>(std::max<std::int64_t>(1, s.window));
    std::deque<std::pair<std::int64_t, warmpool::Future<std::int64_t>>> outstanding;
    std::size_t peak = 0;
    auto collect_oldest = [&] {
        auto& [want, future] = outstanding.front();
        dog.waiting_on("inflight job " + std::to_string(want) + " (future id " +
                       std::to_string(future.id()) + "), " + std::to_string(outstanding.size()) +
                       " outstanding");
        expect_equal(future.get(), want, "inflight");
        outstanding.pop_front();
        ++dog.progress;
    };
    const auto start = Clock::now();
    for (std::int64_t i = 0; i < n; ++i) {
        if (outstanding.size() >= window) collect_oldest();
        outstanding.emplace_back(i, pool.submit<std::int64_t>("echo", i));
        peak = std::max(peak, outstanding.size());
    }
    while (!outstanding.empty()) collect_oldest();
    const double elapsed = seconds_since(start);
    std::printf(
        "inflight count=%lld window=%zu peak_outstanding=%zu seconds=%.3f jobs_per_s=%.0f\n",
        static_cast<long long>(n), window, peak, elapsed, static_cast<double>(n) / elapsed);
    print_repeat(s, "inflight",
                 " --count " + std::to_string(n) + " --window " + std::to_string(window));
}

void map(warmpool::Client& pool, const Settings& s, Watchdog& dog) {
    const std::int64_t n = s.count > 0 ? s.count : 1'000'000;
    std::vector<std::int64_t> inputs(static_cast<std::size_t>(n));
    std::iota(inputs.begin(), inputs.end(), std::int64_t{0});
    warmpool::MapOptions options;
    options.chunk_size = s.chunk;
    dog.waiting_on("map<int64_t>(echo) over " + std::to_string(n) +
                   " inputs (map reports no progress until done)");
    // map() gives no progress until it returns, so a slow-but-healthy map needs a long leash.
    const auto start = Clock::now();
    const std::vector<std::int64_t> results = pool.map<std::int64_t>("echo", inputs, options);
    const double elapsed = seconds_since(start);
    ++dog.progress;
    if (results.size() != inputs.size()) {
        throw Failure("map: " + std::to_string(results.size()) + " results for " +
                      std::to_string(n) + " inputs");
    }
    for (std::size_t i = 0; i < results.size(); ++i) expect_equal(results[i], inputs[i], "map");
    std::printf("map count=%lld chunk=%s seconds=%.3f jobs_per_s=%.0f\n", static_cast<long long>(n),
                s.chunk == 0 ? "auto" : std::to_string(s.chunk).c_str(), elapsed,
                static_cast<double>(n) / elapsed);
    print_repeat(
        s, "map",
        " --count " + std::to_string(n) + (s.chunk ? " --chunk " + std::to_string(s.chunk) : ""));
}

void payload(warmpool::Client& pool, const Settings& s, Watchdog& dog) {
    std::mt19937_64 random(42);
    std::string sizes;
    for (const std::int64_t mib : s.payload_mib) {
        const auto bytes = static_cast<std::size_t>(mib) << 20;
        std::string blob(bytes, '\0');
        for (std::size_t i = 0; i + 8 <= bytes; i += 8) {
            const std::uint64_t word = random();
            std::memcpy(blob.data() + i, &word, 8);
        }
        std::vector<double> seconds;
        // One untimed repetition first: it pays for first-touch page faults on both sides.
        for (std::int64_t rep = -1; rep < s.reps; ++rep) {
            dog.waiting_on("payload echo of " + std::to_string(mib) + " MiB, repetition " +
                           std::to_string(rep + 1));
            const auto start = Clock::now();
            const std::string back = pool.call<std::string>("echo", blob);
            const double elapsed = seconds_since(start);
            if (back != blob) {
                throw Failure("payload: echo of " + std::to_string(mib) + " MiB returned " +
                              std::to_string(back.size()) + " bytes that differ from those sent");
            }
            if (rep >= 0) seconds.push_back(elapsed);
            ++dog.progress;
        }
        const double best = *std::min_element(seconds.begin(), seconds.end());
        const double mean = std::accumulate(seconds.begin(), seconds.end(), 0.0) /
                            static_cast<double>(seconds.size());
        // GB/s of payload per round trip: each byte goes to a worker and comes back.
        std::printf(
            "payload mib=%lld reps=%lld best_ms=%.2f mean_ms=%.2f best_GBps=%.3f mean_GBps=%.3f\n",
            static_cast<long long>(mib), static_cast<long long>(s.reps), best * 1e3, mean * 1e3,
            static_cast<double>(bytes) / best / 1e9, static_cast<double>(bytes) / mean / 1e9);
        sizes += " --payload-mib " + std::to_string(mib);
    }
    print_repeat(s, "payload", sizes + " --reps " + std::to_string(s.reps));
}

}  // namespace

int main(int argc, char** argv) {
    Settings s;
    s.program = argv[0];
    CLI::App app{"warmpool-bench: measure a running pool with the bundled echo job"};
    app.add_option("--pool", s.pool, "Pool name (default: $WARMPOOL_POOL or 'default')");
    app.add_option("--runtime-dir", s.runtime_dir, "The pool's runtime directory");
    app.add_option("--scenario", s.scenario, "roundtrip, inflight, map, payload or all")
        ->check(CLI::IsMember({"roundtrip", "inflight", "map", "payload", "all"}))
        ->capture_default_str();
    app.add_option("--count", s.count,
                   "Jobs for roundtrip/inflight/map (default 20000 / 200000 / 1000000)")
        ->check(CLI::Range(std::int64_t{1}, std::int64_t{1} << 32));
    app.add_option("--warmup", s.warmup, "roundtrip: untimed calls first")->capture_default_str();
    app.add_option("--window", s.window, "inflight: most jobs outstanding")->capture_default_str();
    app.add_option("--chunk", s.chunk, "map: items per batch (0: the library's choice)")
        ->capture_default_str();
    app.add_option("--payload-mib", s.payload_mib, "payload: sizes in MiB (repeatable)")
        ->check(CLI::Range(std::int64_t{1}, std::int64_t{1024}));
    app.add_option("--reps", s.reps, "payload: timed repetitions per size")
        ->check(CLI::Range(std::int64_t{1}, std::int64_t{1000}))
        ->capture_default_str();
    app.add_option("--stall-seconds", s.stall_seconds,
                   "Give up (exit 3) after this long without progress")
        ->capture_default_str();
    CLI11_PARSE(app, argc, argv);

    std::optional<warmpool::Client> pool;
    try {
        pool.emplace(warmpool::Client::connect(
            s.pool, warmpool::ClientOptions{s.runtime_dir, "warmpool-bench", 5000}));
    } catch (const warmpool::ConnectError& e) {
        std::fprintf(stderr, "warmpool-bench: %s\n", e.what());
        return 2;
    }
    std::printf("# pool '%s', supervisor pid %d, %u worker slots\n", pool->pool_name().c_str(),
                static_cast<int>(pool->supervisor_pid()), pool->worker_slots());

    using Scenario = void (*)(warmpool::Client&, const Settings&, Watchdog&);
    const std::vector<std::pair<std::string, Scenario>> scenarios = {
        {"roundtrip", roundtrip}, {"inflight", inflight}, {"map", map}, {"payload", payload}};
    Watchdog dog(s.stall_seconds);
    int rc = 0;
    for (const auto& [name, run] : scenarios) {
        if (s.scenario != "all" && s.scenario != name) continue;
        dog.begin(name);
        try {
            run(*pool, s, dog);
        } catch (const std::exception& e) {
            std::printf("%s ERROR %s\n", name.c_str(), e.what());
            std::fflush(stdout);
            rc = 1;
        }
    }
    dog.begin("");
    return rc;
}
