// warmpool-classic: the classic "process pool" benchmark, run twice: serially in this process
// and pooled through a running warmpoold, with every pooled result checked against the serial
// one. Exits 0 if all results match, 1 on a mismatch or a failed job, 2 if the pool cannot be
// reached, 64 on bad options.
//
//   warmpool-classic --pool demo --runtime-dir /tmp/rt [--md5-jobs 8] [--md5-rounds 1000000]
//                    [--triple-n 40] [--triple-jobs 4] [--sleep-jobs 8] [--sleep-seconds 0.25]
//                    [--quick]
//
// Which workers ran a workload is read from the pool's status (per-worker jobs_done before and
// after the pooled run), so jobs of other clients running at the same time would be counted too.
#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "jobs/classic_workloads.hpp"
#include "jobs/example_types.hpp"
#include "warmpool/client.hpp"
#include "warmpool/common/runtime_paths.hpp"
#include "warmpool/common/status_query.hpp"

namespace {

using warmpool::examples::Md5Args;
using warmpool::examples::SleepReport;
using warmpool::examples::TripleProduct;
using Clock = std::chrono::steady_clock;
using GcdPair = std::pair<std::int64_t, std::int64_t>;

constexpr const char* kUsage =
    "usage: warmpool-classic [--pool NAME] [--runtime-dir DIR] [--md5-jobs N] [--md5-rounds R]\n"
    "                        [--triple-n N] [--triple-jobs N] [--sleep-jobs N] [--sleep-seconds "
    "S]\n"
    "                        [--quick]\n"
    "Runs the classic workloads serially in this process, then through the pool, checks that the\n"
    "results agree and prints the timings and the pool's status.\n";

constexpr std::string_view kMd5Expected =
    "1e4110cf294414bc2ac346ad274a7af3";  // "Hello World", 10^6 rounds

const std::vector<GcdPair> kGcdPairs = {{1963309, 2265973}, {2030677, 3814172}, {1551645, 2229620},
                                        {2039045, 2020802}, {1823712, 1924928}, {2293129, 1020491},
                                        {1281238, 2273782}, {3823812, 4237281}, {3812741, 4729139},
                                        {1292391, 2123811}};
const std::vector<std::int64_t> kGcdExpected = {1, 1, 5, 1, 32, 1, 14, 9, 1, 9};

struct Options {
    std::string pool;
    std::string runtime_dir;
    std::int64_t md5_jobs = 8;
    std::int64_t md5_rounds = 1'000'000;
    std::int64_t triple_n = 40;
    std::int64_t triple_jobs = 4;
    std::int64_t sleep_jobs = 8;
    double sleep_seconds = 0.25;
};

struct UsageError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

template <class T>
T parse_number(std::string_view option, std::string_view text, T min, T max) {
    T value{};
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error != std::errc{} || end != text.data() + text.size() ||
        !(value >= min && value <= max)) {
        throw UsageError(std::string(option) + " needs a number in [" + std::to_string(min) + ", " +
                         std::to_string(max) + "], got '" + std::string(text) + "'");
    }
    return value;
}

Options parse_options(int argc, char** argv) {
    Options options;
    bool quick = false;
    std::optional<std::int64_t> md5_jobs, md5_rounds, triple_n, triple_jobs, sleep_jobs;
    std::optional<double> sleep_seconds;
    for (int i = 1; i < argc; ++i) {
        std::string_view arg = argv[i];
        if (arg == "-h" || arg == "--help") {
            std::fputs(kUsage, stdout);
            std::exit(0);
        }
        if (arg == "--quick") {
            quick = true;
            continue;
        }
        // --name VALUE or --name=VALUE
        std::string_view name = arg, value;
        if (const auto eq = arg.find('='); arg.starts_with("--") && eq != std::string_view::npos) {
            name = arg.substr(0, eq);
            value = arg.substr(eq + 1);
        } else {
            if (i + 1 >= argc)
                throw UsageError("unknown option or missing value: " + std::string(arg));
            value = argv[++i];
        }
        if (name == "--pool") {
            options.pool = value;
        } else if (name == "--runtime-dir") {
            options.runtime_dir = value;
        } else if (name == "--md5-jobs") {
            md5_jobs = parse_number<std::int64_t>(name, value, 1, 10'000);
        } else if (name == "--md5-rounds") {
            md5_rounds = parse_number<std::int64_t>(name, value, 0, 1'000'000'000);
        } else if (name == "--triple-n") {
            triple_n = parse_number<std::int64_t>(name, value, 1, 2000);
        } else if (name == "--triple-jobs") {
            triple_jobs = parse_number<std::int64_t>(name, value, 1, 1000);
        } else if (name == "--sleep-jobs") {
            sleep_jobs = parse_number<std::int64_t>(name, value, 1, 10'000);
        } else if (name == "--sleep-seconds") {
            sleep_seconds = parse_number<double>(name, value, 0.0, 60.0);
        } else {
            throw UsageError("unknown option " + std::string(name));
        }
    }
    if (quick) {
        options.md5_jobs = 4;
        options.md5_rounds = 20'000;
        options.triple_n = 12;
        options.triple_jobs = 2;
        options.sleep_jobs = 4;
        options.sleep_seconds = 0.05;
    }
    // Explicit options win over --quick whatever their order.
    options.md5_jobs = md5_jobs.value_or(options.md5_jobs);
    options.md5_rounds = md5_rounds.value_or(options.md5_rounds);
    options.triple_n = triple_n.value_or(options.triple_n);
    options.triple_jobs = triple_jobs.value_or(options.triple_jobs);
    options.sleep_jobs = sleep_jobs.value_or(options.sleep_jobs);
    options.sleep_seconds = sleep_seconds.value_or(options.sleep_seconds);
    if (options.triple_n - 2 * (options.triple_jobs - 1) < 1) {
        throw UsageError("--triple-jobs " + std::to_string(options.triple_jobs) +
                         " needs --triple-n of at least " +
                         std::to_string(2 * options.triple_jobs - 1) +
                         " (the jobs use n, n-2, n-4, ...)");
    }
    return options;
}

double seconds_since(Clock::time_point start) {
    return std::chrono::duration<double>(Clock::now() - start).count();
}

// ---------------------------------------------------------------------------------------------
// Pool status

class StatusReader {
public:
    StatusReader(const std::string& runtime_dir, const std::string& pool)
        : socket_(warmpool::PoolPaths::in(
                      runtime_dir.empty() ? warmpool::default_runtime_dir() : runtime_dir, pool)
                      .status_socket) {}

    // The status document, or nullopt (with the reason in `error`) if the pool did not answer.
    std::optional<nlohmann::json> query(std::string* error = nullptr) const {
        auto answer = warmpool::query_status(socket_, "json", 2000);
        if (!answer) {
            if (error != nullptr) *error = answer.error().message();
            return std::nullopt;
        }
        try {
            return nlohmann::json::parse(answer.value());
        } catch (const nlohmann::json::exception& e) {
            if (error != nullptr) *error = std::string("malformed status: ") + e.what();
            return std::nullopt;
        }
    }

    // jobs_done per live worker pid; empty if the status is unavailable.
    std::map<std::int64_t, std::uint64_t> jobs_by_pid() const {
        std::map<std::int64_t, std::uint64_t> out;
        auto status = query();
        if (!status) return out;
        try {
            for (const auto& row : status->at("workers").at("rows")) {
                if (row.contains("jobs_done")) {
                    out[row.at("pid").get<std::int64_t>()] =
                        row.at("jobs_done").get<std::uint64_t>();
                }
            }
        } catch (const nlohmann::json::exception&) {
            out.clear();
        }
        return out;
    }

private:
    std::string socket_;
};

// "1234 x5, 1235 x3": the jobs each worker ran since the `before` snapshot. A worker counts a
// job just after publishing its reply, so the count may trail the replies briefly: poll until
// `jobs` are accounted for, or give up after half a second and show what was seen.
std::string describe_workers(const StatusReader& status,
                             const std::map<std::int64_t, std::uint64_t>& before,
                             std::size_t jobs) {
    const auto give_up = Clock::now() + std::chrono::milliseconds(500);
    for (;;) {
        const auto after = status.jobs_by_pid();
        if (after.empty()) return "(status unavailable)";
        std::string text;
        std::uint64_t total = 0;
        for (const auto& [pid, done] : after) {
            const auto it = before.find(pid);
            const std::uint64_t ran = done - (it == before.end() ? 0 : it->second);
            if (ran == 0) continue;
            total += ran;
            if (!text.empty()) text += ", ";
            text += std::to_string(pid) + " x" + std::to_string(ran);
        }
        if (total >= jobs || Clock::now() > give_up) return text.empty() ? "(none seen)" : text;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
}

// ---------------------------------------------------------------------------------------------
// Workloads

struct Row {
    std::string workload;
    std::size_t jobs = 0;
    double serial_s = 0;
    double pooled_s = 0;
    std::string workers;
    bool ok = false;
};

// Submits every input, then collects every result, so all jobs are in the pool at once.
template <class R, class A>
std::vector<R> run_pooled(warmpool::Client& pool, std::string_view function,
                          const std::vector<A>& inputs) {
    std::vector<warmpool::Future<R>> futures;
    futures.reserve(inputs.size());
    for (const A& input : inputs) futures.push_back(pool.submit<R>(function, input));
    std::vector<R> results;
    results.reserve(inputs.size());
    for (const auto& future : futures) results.push_back(future.get());
    return results;
}

// Runs one workload both ways; `check` compares the two result lists and prints any mismatch.
template <class R, class A>
Row run_workload(warmpool::Client& pool, const StatusReader& status, std::string name,
                 std::string_view function, const std::vector<A>& inputs,
                 const std::function<R(const A&)>& serial_fn,
                 const std::function<bool(const std::vector<R>&, const std::vector<R>&)>& check) {
    Row row{std::move(name), inputs.size()};
    std::printf("  %-16s serial ...", row.workload.c_str());
    std::fflush(stdout);
    auto start = Clock::now();
    std::vector<R> serial;
    serial.reserve(inputs.size());
    for (const A& input : inputs) serial.push_back(serial_fn(input));
    row.serial_s = seconds_since(start);
    std::printf(" %.2fs, pooled ...", row.serial_s);
    std::fflush(stdout);

    const auto before = status.jobs_by_pid();
    start = Clock::now();
    std::vector<R> pooled = run_pooled<R>(pool, function, inputs);
    row.pooled_s = seconds_since(start);
    row.workers = describe_workers(status, before, inputs.size());
    std::printf(" %.2fs\n", row.pooled_s);

    row.ok = pooled.size() == serial.size() && check(serial, pooled);
    return row;
}

template <class R>
bool equal_results(const std::vector<R>& serial, const std::vector<R>& pooled) {
    bool ok = true;
    for (std::size_t i = 0; i < serial.size(); ++i) {
        if (!(serial[i] == pooled[i])) {
            std::printf("    MISMATCH in job %zu\n", i);
            ok = false;
        }
    }
    return ok;
}

std::vector<Row> run_all(warmpool::Client& pool, const StatusReader& status,
                         const Options& options) {
    namespace ex = warmpool::examples;
    std::vector<Row> rows;

    rows.push_back(run_workload<std::int64_t, GcdPair>(
        pool, status, "gcd", "gcd", kGcdPairs,
        [](const GcdPair& ab) { return ex::brute_force_gcd(ab.first, ab.second); },
        [](const std::vector<std::int64_t>& serial, const std::vector<std::int64_t>& pooled) {
            bool ok = equal_results(serial, pooled);
            for (std::size_t i = 0; i < pooled.size(); ++i) {
                if (pooled[i] != kGcdExpected[i]) {
                    std::printf("    gcd%s = %lld, expected %lld\n",
                                ("(" + std::to_string(kGcdPairs[i].first) + ", " +
                                 std::to_string(kGcdPairs[i].second) + ")")
                                    .c_str(),
                                static_cast<long long>(pooled[i]),
                                static_cast<long long>(kGcdExpected[i]));
                    ok = false;
                }
            }
            return ok;
        }));

    const std::vector<Md5Args> md5_inputs(static_cast<std::size_t>(options.md5_jobs),
                                          Md5Args{"Hello World", options.md5_rounds});
    rows.push_back(run_workload<std::string, Md5Args>(
        pool, status, "md5_chain", "md5_chain", md5_inputs,
        [](const Md5Args& args) { return ex::md5_chain(args.msg, args.rounds); },
        [&](const std::vector<std::string>& serial, const std::vector<std::string>& pooled) {
            bool ok = equal_results(serial, pooled);
            if (options.md5_rounds == 1'000'000) {
                for (const auto& digest : pooled) {
                    if (digest != kMd5Expected) {
                        std::printf("    md5_chain = %s, expected %s\n", digest.c_str(),
                                    kMd5Expected.data());
                        ok = false;
                        break;
                    }
                }
            }
            return ok;
        }));

    std::vector<std::int64_t> triple_inputs;
    for (std::int64_t i = 0; i < options.triple_jobs; ++i)
        triple_inputs.push_back(options.triple_n - 2 * i);
    rows.push_back(run_workload<TripleProduct, std::int64_t>(
        pool, status, "triple_product", "triple_product", triple_inputs,
        [](const std::int64_t& n) { return ex::triple_product(n); }, equal_results<TripleProduct>));

    // Sleeping has no result to compare: each job must report having slept at least as long as
    // asked (the serial run is the wall-clock reference only).
    const std::vector<double> sleep_inputs(static_cast<std::size_t>(options.sleep_jobs),
                                           options.sleep_seconds);
    rows.push_back(run_workload<SleepReport, double>(
        pool, status, "sleep_report", "sleep_report", sleep_inputs,
        [](const double& seconds) {
            const auto start = Clock::now();
            std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
            return SleepReport{0, seconds_since(start), 0};
        },
        [&](const std::vector<SleepReport>&, const std::vector<SleepReport>& pooled) {
            bool ok = true;
            for (std::size_t i = 0; i < pooled.size(); ++i) {
                if (pooled[i].slept < options.sleep_seconds || pooled[i].pid <= 0) {
                    std::printf("    sleep job %zu: pid %lld slept %.4fs, asked %.4fs\n", i,
                                static_cast<long long>(pooled[i].pid), pooled[i].slept,
                                options.sleep_seconds);
                    ok = false;
                }
            }
            return ok;
        }));
    return rows;
}

// ---------------------------------------------------------------------------------------------
// Output

void print_table(const std::vector<Row>& rows, const std::string& pool_name, std::int64_t workers) {
    std::printf(
        "\nserial = one process (this one), one job after another; pooled = %s worker%s of pool "
        "'%s',\n"
        "all jobs submitted first, then all results collected. Times are wall-clock seconds.\n\n",
        workers > 0 ? std::to_string(workers).c_str() : "the", workers == 1 ? "" : "s",
        pool_name.c_str());
    std::printf("%-16s %5s %10s %10s %9s  %-6s %s\n", "workload", "jobs", "serial s", "pooled s",
                "speed-up", "check", "worker pid x jobs");
    std::printf("%-16s %5s %10s %10s %9s  %-6s %s\n", "----------------", "-----", "----------",
                "----------", "---------", "------", "-----------------");
    for (const Row& row : rows) {
        const double speedup = row.pooled_s > 0 ? row.serial_s / row.pooled_s : 0;
        std::printf("%-16s %5zu %10.3f %10.3f %8.2fx  %-6s %s\n", row.workload.c_str(), row.jobs,
                    row.serial_s, row.pooled_s, speedup, row.ok ? "ok" : "FAIL",
                    row.workers.c_str());
    }
}

void print_status(const std::optional<nlohmann::json>& status, const std::string& error) {
    std::printf("\npool status:\n");
    if (!status) {
        std::printf("  unavailable: %s\n", error.c_str());
        return;
    }
    try {
        const auto& w = status->at("workers");
        const auto& j = status->at("jobs");
        std::printf("  state %s, up %.1fs, workers %lld configured / %lld live / %lld busy\n",
                    status->value("state", std::string("?")).c_str(),
                    status->value("uptime_seconds", 0.0), w.value("configured", 0LL),
                    w.value("live", 0LL), w.value("busy", 0LL));
        std::printf("  jobs: %llu submitted, %llu completed, %llu failed",
                    j.value("submitted", 0ULL), j.value("completed", 0ULL),
                    j.value("failed", 0ULL));
        std::string kinds;
        for (const auto& [kind, count] : j.at("failed_by_kind").items()) {
            if (count.get<std::uint64_t>() == 0) continue;
            kinds += (kinds.empty() ? "" : ", ") + kind + " " +
                     std::to_string(count.get<std::uint64_t>());
        }
        std::printf("%s\n", kinds.empty() ? "" : (" (" + kinds + ")").c_str());
        for (const auto& row : w.at("rows")) {
            std::printf("  slot %lld: pid %lld %-8s jobs_done %llu, restarts %lld\n",
                        row.value("slot", 0LL), row.value("pid", 0LL),
                        row.value("state", std::string("?")).c_str(), row.value("jobs_done", 0ULL),
                        row.value("restarts", 0LL));
        }
    } catch (const nlohmann::json::exception& e) {
        std::printf("  unexpected status document: %s\n", e.what());
    }
}

}  // namespace

int main(int argc, char** argv) {
    Options options;
    try {
        options = parse_options(argc, argv);
    } catch (const UsageError& e) {
        std::fprintf(stderr, "warmpool-classic: %s\n%s", e.what(), kUsage);
        return 64;
    }

    std::optional<warmpool::Client> pool;
    try {
        pool.emplace(warmpool::Client::connect(
            options.pool, warmpool::ClientOptions{options.runtime_dir, {}, 5000}));
    } catch (const warmpool::ConnectError& e) {
        std::fprintf(stderr, "warmpool-classic: %s\n", e.what());
        return 2;
    }
    const StatusReader status(options.runtime_dir, pool->pool_name());
    std::string status_error;
    std::int64_t workers = 0;
    if (auto s = status.query(&status_error)) workers = s->at("workers").value("live", 0LL);

    std::printf(
        "warmpool-classic: pool '%s' (supervisor pid %d); md5 %lld x %lld rounds, triple_product "
        "%lld jobs "
        "from n=%lld, sleep %lld x %.2fs\n",
        pool->pool_name().c_str(), static_cast<int>(pool->supervisor_pid()),
        static_cast<long long>(options.md5_jobs), static_cast<long long>(options.md5_rounds),
        static_cast<long long>(options.triple_jobs), static_cast<long long>(options.triple_n),
        static_cast<long long>(options.sleep_jobs), options.sleep_seconds);

    std::vector<Row> rows;
    try {
        rows = run_all(*pool, status, options);
    } catch (const warmpool::JobError& e) {
        std::fprintf(stderr, "\nwarmpool-classic: a pooled job failed: %s\n", e.what());
        print_status(status.query(&status_error), status_error);
        return 1;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "\nwarmpool-classic: %s\n", e.what());
        return 1;
    }

    print_table(rows, pool->pool_name(), workers);
    print_status(status.query(&status_error), status_error);

    const bool all_ok = std::all_of(rows.begin(), rows.end(), [](const Row& r) { return r.ok; });
    std::printf("\n%s\n", all_ok ? "all pooled results match the serial ones"
                                 : "MISMATCH: some pooled results differ from the serial ones");
    return all_ok ? 0 : 1;
}
