// The bundled job library (built as a MODULE and dlopen()ed by workers): the three classic
// workloads, plus small functions that drive the daemon's other paths on purpose: sleeping,
// echoing raw payloads, throwing, crashing (once or until a retry), hanging, leaking memory,
// and the per-worker initialisation.
//
// Per-worker initialisation lives in exactly one place, WorkerInfoJob's constructor, so that it
// runs once per worker however many functions the worker instantiates. Environment variables
// control it, for demonstrations and tests:
//   WARMPOOL_EXAMPLE_INIT_SECONDS  sleep this long (a decimal, e.g. 0.5) during init
//   WARMPOOL_EXAMPLE_INIT_LOG      append "<pid>\n" to this file, in one O_APPEND write()
//   WARMPOOL_EXAMPLE_INIT_FAIL     "1": after the above, fail init with std::runtime_error
//   WARMPOOL_EXAMPLE_INIT_FAIL_IF_EXISTS  a path: fail init likewise while that file exists
//                                  (a pool that started fine, then cannot start workers)
// Argument errors throw std::invalid_argument, which the worker reports as handler_error.

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "jobs/classic_workloads.hpp"
#include "jobs/example_types.hpp"
#include "warmpool/job.hpp"

namespace warmpool::examples {


namespace {

// The library's only mutable global: a worker instantiates each function once, so more than
// one init in a process means the worker broke that contract.
std::atomic<std::int64_t> worker_inits{0};

constexpr double kMaxSleepSeconds = 3600;

double parse_init_seconds(std::string_view text) {
    double seconds = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), seconds);
    if (error != std::errc{} || end != text.data() + text.size() || !std::isfinite(seconds) ||
        seconds < 0 || seconds > kMaxSleepSeconds) {
        throw std::invalid_argument(
            "WARMPOOL_EXAMPLE_INIT_SECONDS must be a number of seconds in [0, 3600], got '" +
            std::string(text) + "'");
    }
    return seconds;
}

// One write() of the whole line on an O_APPEND descriptor, so lines from concurrently starting
// workers never interleave and a test can count workers by counting lines.
void append_pid_line(const char* path, pid_t pid) {
    const std::string line = std::to_string(pid) + "\n";
    const int fd = ::open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) {
        throw std::system_error(errno, std::generic_category(),
                                std::string("cannot open WARMPOOL_EXAMPLE_INIT_LOG ") + path);
    }
    ssize_t written;
    do {
        written = ::write(fd, line.data(), line.size());
    } while (written < 0 && errno == EINTR);
    const int write_errno = errno;
    ::close(fd);  // nothing between open() and here can throw, so no RAII wrapper is needed
    if (written != static_cast<ssize_t>(line.size())) {
        throw std::system_error(written < 0 ? write_errno : EIO, std::generic_category(),
                                std::string("cannot append to WARMPOOL_EXAMPLE_INIT_LOG ") + path);
    }
}

// The log line is written before a requested failure, so a test can also count the attempts of
// a worker whose init keeps failing.
void run_worker_init(pid_t pid) {
    if (const char* seconds = std::getenv("WARMPOOL_EXAMPLE_INIT_SECONDS");
        seconds != nullptr && *seconds != '\0') {
        std::this_thread::sleep_for(std::chrono::duration<double>(parse_init_seconds(seconds)));
    }
    if (const char* path = std::getenv("WARMPOOL_EXAMPLE_INIT_LOG");
        path != nullptr && *path != '\0') {
        append_pid_line(path, pid);
    }
    if (const char* fail = std::getenv("WARMPOOL_EXAMPLE_INIT_FAIL");
        fail != nullptr && std::string_view(fail) == "1") {
        throw std::runtime_error("example init failure requested");
    }
    if (const char* path = std::getenv("WARMPOOL_EXAMPLE_INIT_FAIL_IF_EXISTS");
        path != nullptr && *path != '\0' && ::access(path, F_OK) == 0) {
        throw std::runtime_error(std::string("example init failure requested: ") + path + " exists");
    }
}

std::int64_t realtime_ns() {
    timespec now{};
    ::clock_gettime(CLOCK_REALTIME, &now);
    return std::int64_t{now.tv_sec} * 1'000'000'000 + now.tv_nsec;
}

}  // namespace

std::int64_t gcd(std::pair<std::int64_t, std::int64_t> ab) {
    return brute_force_gcd(ab.first, ab.second);
}

// A job class only to show the form; its constructor is deliberately empty, since the
// per-worker init belongs to WorkerInfoJob alone.
class Md5ChainJob {
  public:
    explicit Md5ChainJob(const WorkerContext&) {}
    std::string operator()(const Md5Args& args) const { return md5_chain(args.msg, args.rounds); }
};

SleepReport sleep_report(double seconds) {
    // Written so that NaN fails too.
    if (!(seconds >= 0 && seconds <= kMaxSleepSeconds)) {
        throw std::invalid_argument("sleep_report needs 0 <= seconds <= 3600, got " +
                                    std::to_string(seconds));
    }
    const auto start = std::chrono::steady_clock::now();
    std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
    const std::chrono::duration<double> slept = std::chrono::steady_clock::now() - start;
    return SleepReport{::getpid(), slept.count(), realtime_ns()};
}

// Written in place: a large echo is one copy, from the argument's shared memory to the result's.
void echo(Encoding, std::string_view payload, JobOutput& out) { out.append(payload); }

std::string fail(std::string message) { throw std::runtime_error(message); }

std::int64_t crash(std::int64_t) { std::abort(); }

// Never returns: for timeout and cancellation tests. sleep() ends early on a handled signal,
// hence the loop; an unhandled fatal signal still ends the process.
std::int64_t hang(std::int64_t) {
    for (;;) ::sleep(3600);
}

// Crashes its worker until the pool has retried it enough: returns the attempt that survived.
// For retry tests: with `retries` >= n - 1 it succeeds on attempt n.
class CrashUntilAttemptJob {
  public:
    explicit CrashUntilAttemptJob(const WorkerContext& context) : context_(context) {}
    std::int64_t operator()(std::int64_t n) const {
        if (static_cast<std::int64_t>(context_.attempt) < n) std::abort();
        return context_.attempt;
    }

  private:
    const WorkerContext& context_;
};

// Grows this worker's memory by `mib` MiB that stays allocated (and touched) for the worker's
// life; returns the total leaked so far in MiB. For max_rss recycling tests.
std::int64_t leak(std::int64_t mib) {
    if (mib < 0 || mib > 4096) throw std::invalid_argument("leak needs 0 <= mib <= 4096");
    static std::vector<std::unique_ptr<char[]>> kept;
    static std::int64_t total = 0;
    const std::size_t bytes = static_cast<std::size_t>(mib) << 20;
    auto block = std::make_unique<char[]>(bytes);
    std::memset(block.get(), 0x5a, bytes);
    kept.push_back(std::move(block));
    total += mib;
    return total;
}

class WorkerInfoJob {
  public:
    explicit WorkerInfoJob(const WorkerContext&) : pid_(::getpid()) {
        run_worker_init(pid_);
        ++worker_inits;
    }
    WorkerInfo operator()(std::int64_t) { return WorkerInfo{pid_, worker_inits.load(), ++jobs_}; }

  private:
    std::int64_t pid_;
    std::int64_t jobs_ = 0;
};

}  // namespace warmpool::examples

WARMPOOL_EXPORT_FN("gcd", warmpool::examples::gcd);
WARMPOOL_EXPORT_JOB("md5_chain", warmpool::examples::Md5ChainJob);
WARMPOOL_EXPORT_FN("triple_product", warmpool::examples::triple_product);
WARMPOOL_EXPORT_FN("sleep_report", warmpool::examples::sleep_report);
WARMPOOL_EXPORT_RAW("echo", warmpool::examples::echo);
WARMPOOL_EXPORT_FN("fail", warmpool::examples::fail);
WARMPOOL_EXPORT_FN("crash", warmpool::examples::crash);
WARMPOOL_EXPORT_FN("hang", warmpool::examples::hang);
WARMPOOL_EXPORT_JOB("worker_info", warmpool::examples::WorkerInfoJob);
WARMPOOL_EXPORT_JOB("crash_until_attempt", warmpool::examples::CrashUntilAttemptJob);
WARMPOOL_EXPORT_FN("leak", warmpool::examples::leak);
