#include "bench_support.hpp"

#include <CLI/CLI.hpp>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <numeric>
#include <cerrno>
#include <climits>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <system_error>

#include "jobs/classic_workloads.hpp"

extern char** environ;

namespace warmpool::bench {

double seconds_since(Clock::time_point start) {
    return std::chrono::duration<double>(Clock::now() - start).count();
}

double monotonic_seconds() {
    timespec now{};
    ::clock_gettime(CLOCK_MONOTONIC, &now);
    return static_cast<double>(now.tv_sec) + static_cast<double>(now.tv_nsec) * 1e-9;
}

double percentile(const std::vector<double>& sorted, double p) {
    const auto rank = static_cast<std::size_t>(std::ceil(p * static_cast<double>(sorted.size())));
    return sorted[std::min(sorted.size() - 1, rank == 0 ? 0 : rank - 1)];
}

std::vector<std::pair<std::string, double>> latency_metrics(std::vector<double>& us) {
    if (us.empty()) throw Failure("no latencies measured");
    std::sort(us.begin(), us.end());
    const double mean = std::accumulate(us.begin(), us.end(), 0.0) / static_cast<double>(us.size());
    return {{"p50_us", percentile(us, 0.50)},
            {"p90_us", percentile(us, 0.90)},
            {"p99_us", percentile(us, 0.99)},
            {"max_us", us.back()},
            {"mean_us", mean}};
}

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

void print_result(const Result& result, bool json) {
    if (json) {
        nlohmann::json line{{"system", result.system},
                            {"scenario", result.scenario},
                            {"metrics", nlohmann::json::object()},
                            {"params", result.params},
                            {"command", result.command}};
        for (const auto& [key, value] : result.metrics) line["metrics"][key] = value;
        std::printf("%s\n", line.dump().c_str());
    } else {
        std::string text = result.scenario;
        for (const auto& [key, value] : result.params) text += " " + key + "=" + value;
        for (const auto& [key, value] : result.metrics) {
            char number[64];
            std::snprintf(number, sizeof number, "%.6g", value);
            text += " " + key + "=" + number;
        }
        std::printf("%s\n  repeat: %s\n", text.c_str(), result.command.c_str());
    }
    std::fflush(stdout);
}

std::string self_executable() {
    std::string path(PATH_MAX, '\0');
    const ssize_t n = ::readlink("/proc/self/exe", path.data(), path.size());
    if (n <= 0) throw std::system_error(errno, std::generic_category(), "readlink /proc/self/exe");
    path.resize(static_cast<std::size_t>(n));
    return path;
}

// ---------------------------------------------------------------------------------------------

ChildProcess ChildProcess::spawn(const std::vector<std::string>& argv, int stdin_fd,
                                 int stdout_fd) {
    posix_spawn_file_actions_t actions;
    ::posix_spawn_file_actions_init(&actions);
    if (stdin_fd >= 0) ::posix_spawn_file_actions_adddup2(&actions, stdin_fd, STDIN_FILENO);
    if (stdout_fd >= 0) ::posix_spawn_file_actions_adddup2(&actions, stdout_fd, STDOUT_FILENO);
    std::vector<char*> args;
    for (const auto& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
    args.push_back(nullptr);
    pid_t pid = -1;
    const int error = ::posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ);
    ::posix_spawn_file_actions_destroy(&actions);
    if (error != 0) throw std::system_error(error, std::generic_category(), "spawn " + argv[0]);
    return ChildProcess(pid);
}

ChildProcess::~ChildProcess() {
    if (pid_ > 0) {
        ::kill(pid_, SIGKILL);
        while (::waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
        }
    }
}

int ChildProcess::wait() {
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0) {
        if (errno != EINTR) throw std::system_error(errno, std::generic_category(), "waitpid");
    }
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

Pipe Pipe::create() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0)
        throw std::system_error(errno, std::generic_category(), "pipe2");
    return Pipe{UniqueFd(fds[0]), UniqueFd(fds[1])};
}

// ---------------------------------------------------------------------------------------------

namespace {

// Reads one line (without '\n') from fd, giving up at `deadline`. Returns false at end of file.
bool read_line(int fd, Clock::time_point deadline, std::string& line) {
    line.clear();
    for (;;) {
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
        if (left.count() <= 0) throw Failure("a client child was not ready in time");
        pollfd p{fd, POLLIN, 0};
        const int ready = ::poll(&p, 1, static_cast<int>(left.count()));
        if (ready < 0 && errno == EINTR) continue;
        if (ready < 0) throw std::system_error(errno, std::generic_category(), "poll");
        if (ready == 0) continue;
        char c;
        const ssize_t n = ::read(fd, &c, 1);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) throw std::system_error(errno, std::generic_category(), "read");
        if (n == 0) return false;
        if (c == '\n') return true;
        line += c;
    }
}

std::string read_all(int fd) {
    std::string out;
    char buffer[4096];
    for (;;) {
        const ssize_t n = ::read(fd, buffer, sizeof buffer);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) throw std::system_error(errno, std::generic_category(), "read");
        if (n == 0) return out;
        out.append(buffer, static_cast<std::size_t>(n));
    }
}

}  // namespace

void client_ready_and_wait() {
    std::printf("ready\n");
    std::fflush(stdout);
    char c;
    for (;;) {
        const ssize_t n = ::read(STDIN_FILENO, &c, 1);
        if (n == 0) return;
        if (n < 0 && errno == EINTR) continue;
        throw Failure("client: stdin is not a start barrier (it has data or an error)");
    }
}

void client_report(std::int64_t jobs, double start, double end) {
    std::printf("%lld %.9f %.9f\n", static_cast<long long>(jobs), start, end);
    std::fflush(stdout);
}

ClientsFigures run_clients(const std::vector<std::string>& argv, int clients,
                           double ready_timeout_s) {
    struct Running {
        ChildProcess child;
        UniqueFd out;
    };
    Pipe barrier = Pipe::create();
    std::vector<Running> running;
    for (int i = 0; i < clients; ++i) {
        Pipe out = Pipe::create();
        ChildProcess child = ChildProcess::spawn(argv, barrier.read.get(), out.write.get());
        running.push_back(Running{std::move(child), std::move(out.read)});
    }
    barrier.read.reset();

    const auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                             std::chrono::duration<double>(ready_timeout_s));
    std::string line;
    for (auto& r : running) {
        if (!read_line(r.out.get(), deadline, line) || line != "ready") {
            throw Failure("a client child (pid " + std::to_string(r.child.pid()) +
                          ") exited or said '" + line + "' instead of 'ready'");
        }
    }
    barrier.write.reset();  // every child sees end of file: go

    ClientsFigures figures;
    double first_start = 0, last_end = 0, slowest = 0, fastest = 0;
    for (std::size_t i = 0; i < running.size(); ++i) {
        auto& r = running[i];
        const std::string report = read_all(r.out.get());
        const int code = r.child.wait();
        long long jobs = 0;
        double start = 0, end = 0;
        std::istringstream in(report);
        if (code != 0 || !(in >> jobs >> start >> end) || jobs <= 0 || end <= start) {
            throw Failure("client child " + std::to_string(i) + " exited " + std::to_string(code) +
                          " reporting '" + report + "'");
        }
        const double rate = static_cast<double>(jobs) / (end - start);
        first_start = i == 0 ? start : std::min(first_start, start);
        last_end = std::max(last_end, end);
        slowest = i == 0 ? rate : std::min(slowest, rate);
        fastest = std::max(fastest, rate);
        figures.jobs += jobs;
    }
    figures.total_jobs_per_s = static_cast<double>(figures.jobs) / (last_end - first_start);
    figures.fairness = slowest / fastest;
    return figures;
}

// ---------------------------------------------------------------------------------------------

std::string random_blob(std::size_t bytes) {
    std::mt19937_64 random(42);
    std::string blob(bytes, '\0');
    for (std::size_t i = 0; i + 8 <= bytes; i += 8) {
        const std::uint64_t word = random();
        std::memcpy(blob.data() + i, &word, 8);
    }
    return blob;
}

std::vector<PayloadRun> time_payload_runs(std::int64_t reps, double budget_s,
                                          const std::function<double()>& echo_once) {
    const double warmup = echo_once();
    if (budget_s > 0 && warmup > budget_s) return {PayloadRun{warmup, true}};
    std::vector<PayloadRun> runs;
    double spent = 0;
    for (std::int64_t rep = 0; rep < reps; ++rep) {
        runs.push_back(PayloadRun{echo_once(), false});
        spent += runs.back().seconds;
        if (budget_s > 0 && spent > budget_s) break;
    }
    return runs;
}

void print_payload_runs(Result base, std::int64_t mib, const std::vector<PayloadRun>& runs,
                        bool json, const std::string& prefix) {
    const double bytes = static_cast<double>(mib) * 1024 * 1024;
    for (std::size_t i = 0; i < runs.size(); ++i) {
        Result r = base;
        r.metrics = {{prefix + "gbps_" + std::to_string(mib) + "mib", bytes / runs[i].seconds / 1e9}};
        r.params["mib"] = std::to_string(mib);
        r.params["run"] = std::to_string(i);
        r.params["warmup_counted"] = runs[i].warmup_counted ? "1" : "0";
        print_result(r, json);
    }
}

// ---------------------------------------------------------------------------------------------

namespace {
// The ten pairs of the classic benchmark.
const std::vector<GcdPair> kGcdPairs = {{1963309, 2265973}, {2030677, 3814172}, {1551645, 2229620},
                                        {2039045, 2020802}, {1823712, 1924928}, {2293129, 1020491},
                                        {1281238, 2273782}, {3823812, 4237281}, {3812741, 4729139},
                                        {1292391, 2123811}};
}  // namespace

std::vector<GcdPair> classic_gcd_inputs(const ClassicParams& p) {
    const auto n = static_cast<std::size_t>(std::clamp<std::int64_t>(p.gcd_pairs, 1, 10));
    return {kGcdPairs.begin(), kGcdPairs.begin() + static_cast<std::ptrdiff_t>(n)};
}

std::vector<std::int64_t> classic_triple_inputs(const ClassicParams& p) {
    std::vector<std::int64_t> inputs;
    for (std::int64_t i = 0; i < p.triple_jobs; ++i) {
        inputs.push_back(std::max<std::int64_t>(1, p.triple_n - 2 * i));
    }
    return inputs;
}

std::string triple_text(std::int64_t n) {
    const auto product = examples::triple_product(n);
    return std::to_string(product.digits) + " " + product.fnv1a64_hex + " " + product.leading;
}

ClassicTiming time_classic(const std::string& workload,
                           const std::function<std::vector<std::string>()>& serial,
                           const std::function<std::vector<std::string>()>& pooled) {
    ClassicTiming timing;
    auto start = Clock::now();
    const std::vector<std::string> want = serial();
    timing.serial_s = seconds_since(start);
    start = Clock::now();
    const std::vector<std::string> got = pooled();
    timing.pooled_s = seconds_since(start);
    if (got != want) {
        std::string detail;
        for (std::size_t i = 0; i < std::min(got.size(), want.size()); ++i) {
            if (got[i] != want[i]) {
                detail = "job " + std::to_string(i) + ": pooled '" + got[i] + "', serial '" +
                         want[i] + "'";
                break;
            }
        }
        throw Failure(workload + ": pooled results differ from the serial ones (" +
                      std::to_string(got.size()) + " vs " + std::to_string(want.size()) +
                      " results) " + detail);
    }
    return timing;
}

void add_common_options(CLI::App& app, CommonSettings& s) {
    app.add_flag("--json", s.json, "Print each result as one JSON object per line");
    app.add_option("--warmup", s.warmup, "roundtrip: untimed calls first")->capture_default_str();
    app.add_option("--payload-mib", s.payload_mib, "payload: sizes in MiB (repeatable)")
        ->check(CLI::Range(std::int64_t{1}, std::int64_t{1024}));
    app.add_option("--budget-seconds", s.budget_seconds,
                   "payload: stop repeating a size after this many seconds (0: never)")
        ->check(CLI::Range(0.0, 86400.0))
        ->capture_default_str();
    app.add_option("--clients", s.clients, "clients: client processes at once")
        ->check(CLI::Range(1, 64))
        ->capture_default_str();
    app.add_option("--seconds", s.seconds, "clients: how long each client keeps jobs in flight")
        ->check(CLI::Range(0.01, 3600.0))
        ->capture_default_str();
    app.add_option("--gcd-pairs", s.classic.gcd_pairs, "classic: how many of the ten gcd pairs")
        ->check(CLI::Range(1, 10))
        ->capture_default_str();
    app.add_option("--md5-jobs", s.classic.md5_jobs, "classic: md5_chain jobs")
        ->check(CLI::Range(1, 10'000))
        ->capture_default_str();
    app.add_option("--md5-rounds", s.classic.md5_rounds, "classic: rounds per md5_chain")
        ->check(CLI::Range(1, 1'000'000'000))
        ->capture_default_str();
    app.add_option("--triple-n", s.classic.triple_n, "classic: n of the largest triple_product")
        ->check(CLI::Range(1, 2000))
        ->capture_default_str();
    app.add_option("--triple-jobs", s.classic.triple_jobs, "classic: triple_product jobs")
        ->check(CLI::Range(1, 1000))
        ->capture_default_str();
}

}  // namespace warmpool::bench
