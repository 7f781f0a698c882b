// Pieces shared by the benchmark programs (warmpool-bench and the Gearman peer): result lines,
// percentiles, child processes released together for the many-clients scenario, and the classic
// CPU-bound workloads with their checked serial reference. Nothing here knows about a
// particular pool implementation.
//
// Not thread-safe unless a function says so; every program using it is single-threaded apart
// from warmpool-bench's watchdog, which touches none of this.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "warmpool/common/unique_fd.hpp"

namespace CLI {
class App;
}

namespace warmpool::bench {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start);
// CLOCK_MONOTONIC in seconds: comparable between processes on one machine, unlike a
// steady_clock::time_point (whose epoch is unspecified), so children can report when they ran.
double monotonic_seconds();

// The p-th quantile (0..1) of an ascending, non-empty vector, nearest-rank.
double percentile(const std::vector<double>& sorted, double p);

// A benchmark found a wrong answer or a failed job: the figure must not be reported.
struct Failure : std::runtime_error {
    using std::runtime_error::runtime_error;
};

std::string shell_quote(const std::string& s);

// One figure set of one scenario, printed either for people ("scenario k=v ...") or as one JSON
// object per line for scripts/bench.sh: {"system", "scenario", "metrics", "params", "command"}.
struct Result {
    std::string system;
    std::string scenario;
    std::vector<std::pair<std::string, double>> metrics;  // numbers, in print order
    std::map<std::string, std::string> params;            // how it was measured
    std::string command;                                  // repeats exactly this measurement
};
void print_result(const Result& result, bool json);

// The round-trip figures of a latency run (microseconds, one per call): p50, p90, p99, max and
// mean, in that order. Sorts `us`.
std::vector<std::pair<std::string, double>> latency_metrics(std::vector<double>& us);

// Path of the running executable (/proc/self/exe), to re-execute ourselves as a child client.
std::string self_executable();

// A child process started with posix_spawn; killed (SIGKILL) and reaped by the destructor if
// it has not been waited for, so an exception in the parent leaves no process behind.
// Move-only; owned by the process that spawned it.
class ChildProcess {
public:
    // Runs argv[0] (a path) with stdin/stdout redirected to the given descriptors (-1: inherit).
    // stderr is inherited. Throws std::system_error if the process cannot be started.
    static ChildProcess spawn(const std::vector<std::string>& argv, int stdin_fd, int stdout_fd);

    ChildProcess(ChildProcess&& other) noexcept : pid_(std::exchange(other.pid_, -1)) {}
    ChildProcess& operator=(ChildProcess&&) = delete;
    ChildProcess(const ChildProcess&) = delete;
    ChildProcess& operator=(const ChildProcess&) = delete;
    ~ChildProcess();

    pid_t pid() const { return pid_; }
    // Waits for the exit; returns the exit code, or 128 + signal if it was killed.
    int wait();

private:
    explicit ChildProcess(pid_t pid) : pid_(pid) {}
    pid_t pid_ = -1;
};

// A pipe whose two ends are close-on-exec (posix_spawn's dup2 clears the flag on the copy).
struct Pipe {
    UniqueFd read;
    UniqueFd write;
    static Pipe create();
};

// ---------------------------------------------------------------------------------------------
// Many clients at once.
//
// A client child is this same program re-executed with a "client" scenario. It connects, prints
// the line "ready", blocks reading stdin until end of file (the start barrier: the parent closes
// the one pipe all children share, releasing them together, so connection set-up is not timed),
// runs its load, and prints one line "<jobs> <start> <end>" (monotonic_seconds()) before exiting 0.

// Inside the child: announce readiness and wait for the release. Throws Failure if stdin is
// closed with data on it (that is not our parent).
void client_ready_and_wait();
// Inside the child: the final report.
void client_report(std::int64_t jobs, double start, double end);

struct ClientsFigures {
    double total_jobs_per_s = 0;  // all jobs / (last end - first start)
    double fairness = 0;          // slowest client's jobs/s over the fastest's
    std::int64_t jobs = 0;
};

// Runs `clients` copies of argv at once and combines their reports. Throws Failure if a child
// fails, reports garbage or is not ready within `ready_timeout_s`.
ClientsFigures run_clients(const std::vector<std::string>& argv, int clients,
                           double ready_timeout_s);

// ---------------------------------------------------------------------------------------------
// Big payloads.

// A blob of `bytes` pseudo-random bytes, the same for every program (fixed seed).
std::string random_blob(std::size_t bytes);

// The timed echoes of one payload size: one untimed warm-up echo (it pays first-touch costs),
// then up to `reps` timed ones, stopping early once the timed ones took more than `budget_s`
// together (0: no budget; at least one is always kept). A warm-up that alone took longer than
// `budget_s` is kept as the only run instead: at that speed first-touch costs do not matter,
// and repeating it would only spend minutes. `echo_once` runs and checks one echo and returns
// its seconds.
struct PayloadRun {
    double seconds = 0;
    bool warmup_counted = false;
};
std::vector<PayloadRun> time_payload_runs(std::int64_t reps, double budget_s,
                                          const std::function<double()>& echo_once);

// One Result per run: metric <prefix>gbps_<mib>mib (bytes ÷ round-trip seconds ÷ 1e9), params
// mib, run and warmup_counted.
void print_payload_runs(Result base, std::int64_t mib, const std::vector<PayloadRun>& runs,
                        bool json, const std::string& prefix = "");

// ---------------------------------------------------------------------------------------------
// The classic CPU-bound workloads (examples/jobs/classic_workloads.hpp), serial vs pooled.

struct ClassicParams {
    std::int64_t gcd_pairs = 10;  // how many of the ten classic pairs
    std::int64_t md5_jobs = 8;
    std::int64_t md5_rounds = 1'000'000;
    std::int64_t triple_n = 40;  // the jobs use n, n-2, n-4, ...
    std::int64_t triple_jobs = 4;
};

// Settings every benchmark program takes, with the same meaning; each program adds its own
// (--scenario, --count, --window, --reps and the address of what it measures).
struct CommonSettings {
    std::string scenario = "all";
    bool json = false;
    std::int64_t count = 0;  // 0: each scenario's default
    std::int64_t warmup = 1000;
    std::int64_t window = 10'000;
    std::int64_t reps = 3;
    double budget_seconds = 0;
    std::vector<std::int64_t> payload_mib{1, 64};
    int clients = 4;
    double seconds = 2;
    ClassicParams classic;
    double stall_seconds = 60;
    std::string program;  // argv[0], to start client children of the same program
};

// Adds the command-line options of CommonSettings that read the same in every program.
void add_common_options(CLI::App& app, CommonSettings& s);

using GcdPair = std::pair<std::int64_t, std::int64_t>;
std::vector<GcdPair> classic_gcd_inputs(const ClassicParams& p);
std::vector<std::int64_t> classic_triple_inputs(const ClassicParams& p);

// One workload's timings: `serial` computes every job's canonical result text in this
// process, one after another; `pooled` runs the same jobs through the pool (all submitted, then
// all collected) and returns their texts in input order. A mismatch throws Failure.
struct ClassicTiming {
    double serial_s = 0;
    double pooled_s = 0;
};
ClassicTiming time_classic(const std::string& workload,
                           const std::function<std::vector<std::string>()>& serial,
                           const std::function<std::vector<std::string>()>& pooled);

// Canonical texts of the classic results, the same for every system.
std::string triple_text(std::int64_t n);  // "digits fnv1a64 leading" of triple_product(n)

}  // namespace warmpool::bench
