// Chaos test: several client processes submit a mix of jobs while another process
// kill -9s random workers of the pool and one client mid-stream. Every job of every surviving
// client must get exactly one reply, the right one for its input; the daemon's counters must
// reconcile with what the clients saw; afterwards the pool is whole again, and once stopped it
// leaves nothing behind.
//
// The normal suite runs one short round. WARMPOOL_CHAOS_SECONDS=N runs rounds of about 30 s for
// N seconds and prints the figures at the end; WARMPOOL_CHAOS_SEED=S repeats a job mix.
//
// Processes: the test process owns the pool and does the accounting, and never holds a Client
// itself. Each client is a forked child with its own Client that checks its replies and writes a
// JSON report into the pool's directory. The killer is a forked child that takes worker pids
// from the status socket (and checks that each is a child of this pool's supervisor before it
// kills it), records every kill with its CLOCK_MONOTONIC time, and kills the victim client.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <numeric>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "child_process.hpp"
#include "shared_value.hpp"
#include "jobs/example_types.hpp"
#include "test_pool.hpp"
#include "warmpool/client.hpp"
#include "warmpool/common/shm_layout.hpp"

namespace warmpool {
namespace {

using nlohmann::json;
using testing::Child;
using testing::process_state;
using testing::Shared;
using testing::TestPool;
using Pair = std::pair<std::int64_t, std::int64_t>;
using namespace std::chrono_literals;

// Switch: `hang` jobs submitted with a run-time timeout, each of which must end as `timeout`.
// Needs the daemon to enforce CallOptions::timeout (kill the worker, reply timeout).
constexpr bool kHangJobsWithTimeout = true;
constexpr auto kHangTimeout = 250ms;

// Daemon defects found by this test, now fixed, each with a deterministic regression test at the
// end of this file. Setting a switch to false makes the chaos test tolerate (and print) only the
// counter discrepancy that defect caused, to tell a regression of one from the others; every
// reply a client sees is still checked strictly either way.
//   Jobs of a client that dies while they wait in a worker's inbox are never counted:
//   JobsOfAKilledClientWaitingInAWorkersInboxAreCounted.
constexpr bool kDaemonCountsInboxJobsOfAGoneClient = true;
//   A worker killed after counting an outcome but before publishing its reply has that job
//   counted twice: AJobWhoseWorkerDiesBeforeItsReplyIsOutIsCountedOnce.
constexpr bool kDaemonCountsAnOutcomeOnceWhenItsWorkerDies = true;
//   A worker killed after publishing a reply but before advancing inbox_done has that job run
//   again (a second reply, dropped by the client; a second count, maybe bad_request when its
//   argument blob is gone): AJobWhoseWorkerDiesAfterItsReplyIsOutRunsOnce.
constexpr bool kDaemonNeverRerunsAJobThatReplied = true;
// Each kill can make at most one job counted twice while either of the last two is switched off.
constexpr bool kEachKillCountsEveryJobOnce =
    kDaemonCountsAnOutcomeOnceWhenItsWorkerDies && kDaemonNeverRerunsAJobThatReplied;

constexpr unsigned kWorkers = 3;
constexpr unsigned kSurvivingClients = 3;
constexpr std::size_t kShortRunJobsPerClient = 5000;
constexpr std::size_t kWindow = 128;  // jobs a client keeps in flight
constexpr auto kLongRunRound = 30s;
// A reply later than this after its submission counts as never coming.
constexpr auto kReplyBound = 20s;
// The daemon's defaults (PoolConfig); this test sees the daemon only from outside.
constexpr std::size_t kEchoInlineMax = 64u << 10;
// A single call's result goes inline up to 4 KiB encoded: an echoed string has an 8-byte length.
constexpr std::size_t kEchoReplyInlineMax = 4096 - 8;
constexpr std::uint64_t kPrefetch = 256;

std::int64_t monotonic_ns() {
    timespec ts{};
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    return std::int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

std::int64_t realtime_ns() {
    timespec ts{};
    ::clock_gettime(CLOCK_REALTIME, &ts);
    return std::int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

std::uint64_t splitmix64(std::uint64_t& state) {
    std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

// The bytes of an echo job, regenerated from its seed when the reply is checked.
std::string echo_payload(std::uint64_t seed, std::size_t size) {
    std::string out(size, '\0');
    std::uint64_t state = seed;
    for (std::size_t i = 0; i < size; i += 8) {
        const std::uint64_t word = splitmix64(state);
        std::memcpy(out.data() + i, &word, std::min<std::size_t>(8, size - i));
    }
    return out;
}

// ---- the job mix -------------------------------------------------------------------------

enum class Fn : std::uint8_t { echo, gcd, sleep_report, fail, crash, hang, count };
constexpr std::size_t kFnCount = static_cast<std::size_t>(Fn::count);
constexpr std::array<const char*, kFnCount> kFnNames = {"echo", "gcd",   "sleep_report",
                                                        "fail", "crash", "hang"};

struct JobSpec {
    Fn fn = Fn::echo;
    bool cancel = false;     // sleep_report only: cancelled right after submission
    std::uint64_t seed = 0;  // echo
    std::size_t size = 0;    // echo
    Pair pair{};             // gcd
    double seconds = 0;      // sleep_report
    std::string message;     // fail
};

JobSpec next_job(std::mt19937_64& rng, int client, std::uint64_t index) {
    JobSpec job;
    const auto roll = std::uniform_int_distribution<int>(0, 999)(rng);
    auto uniform = [&](std::int64_t lo, std::int64_t hi) {
        return std::uniform_int_distribution<std::int64_t>(lo, hi)(rng);
    };
    if (roll < 420) {
        job.fn = Fn::echo;
        job.seed = rng();
        job.size = static_cast<std::size_t>(uniform(0, 4096));
    } else if (roll < 455) {  // around and just past the inline limit
        job.fn = Fn::echo;
        job.seed = rng();
        const std::size_t edges[] = {kEchoInlineMax - 1,      kEchoInlineMax,      kEchoInlineMax + 1,
                                     kEchoReplyInlineMax - 1, kEchoReplyInlineMax, kEchoReplyInlineMax + 1};
        job.size =
            roll < 440 ? static_cast<std::size_t>(uniform(4097, kEchoInlineMax)) : edges[roll % 6];
    } else if (roll < 465) {  // blobs both ways
        job.fn = Fn::echo;
        job.seed = rng();
        job.size = static_cast<std::size_t>(uniform(kEchoInlineMax + 2, 512 << 10));
    } else if (roll < 800) {
        job.fn = Fn::gcd;
        const std::int64_t g = uniform(1, 60);
        job.pair = {g * uniform(1, 80), g * uniform(1, 80)};
    } else if (roll < 950) {
        job.fn = Fn::sleep_report;
        job.seconds = static_cast<double>(uniform(0, 2000)) / 1e6;
        job.cancel = roll < 815;
    } else if (roll < 995) {
        job.fn = Fn::fail;
        job.message = "chaos fail " + std::to_string(client) + "/" + std::to_string(index);
    } else if (roll < 998 || !kHangJobsWithTimeout) {
        job.fn = Fn::crash;
    } else {
        job.fn = Fn::hang;
    }
    return job;
}

// ---- memory shared by the test process and its children -----------------------------------

struct ChaosShared {
    std::atomic<std::uint32_t> stop_killer{0};
    std::atomic<std::uint64_t> victim_submits{0};  // submit calls the victim started
    std::array<std::atomic<std::uint64_t>, kFnCount> victim_by_fn{};
    std::atomic<std::uint64_t> victim_cancels{0};
};
static_assert(std::atomic<std::uint64_t>::is_always_lock_free);


void write_report(const std::string& path, const json& report) {
    {
        std::ofstream out(path + ".tmp");
        out << report.dump();
    }
    std::filesystem::rename(path + ".tmp", path);
}

std::optional<json> read_report(const std::string& path) {
    std::ifstream in(path);
    if (!in) return std::nullopt;
    try {
        return json::parse(in);
    } catch (const std::exception&) {
        return std::nullopt;
    }
}

// ---- a client process ----------------------------------------------------------------------

struct ClientPlan {
    int client = 0;
    std::uint64_t seed = 0;
    std::size_t max_jobs = 0;       // 0: no limit
    std::int64_t stop_at_ns = 0;    // 0: no limit
    ChaosShared* victim = nullptr;  // set for the client that will be killed
    std::string report_path;
};

// What one client saw. The daemon_view counters are what the daemon should have counted for
// these replies: a job cancelled while running still completed as far as the daemon knows.
struct ClientTally {
    std::uint64_t submitted = 0;
    std::uint64_t replies = 0;
    std::uint64_t submit_errors = 0;
    std::map<std::string, std::uint64_t> outcomes;     // "ok" or an error kind (per function)
    std::map<std::string, std::uint64_t> daemon_view;  // "completed" or an error kind
    std::uint64_t wrong_count = 0;
    std::uint64_t missing_count = 0;
    json wrong = json::array();    // first few
    json missing = json::array();  // first few
    json crashes = json::array();  // every worker_crashed: {fn, pid, signal, seen_ns}

    void add_wrong(const std::string& what) {
        ++wrong_count;
        if (wrong.size() < 30) wrong.push_back(what);
    }
};

struct Pending {
    std::uint64_t index = 0;
    JobSpec spec;
    RawFuture future;
    std::int64_t submitted_ns = 0;
    std::int64_t submitted_wall_ns = 0;
};

std::string describe(const Pending& p) {
    std::string text =
        "job " + std::to_string(p.index) + " (" + kFnNames[static_cast<std::size_t>(p.spec.fn)];
    switch (p.spec.fn) {
        case Fn::echo:
            text += " " + std::to_string(p.spec.size) + " bytes";
            break;
        case Fn::gcd:
            text +=
                " " + std::to_string(p.spec.pair.first) + "," + std::to_string(p.spec.pair.second);
            break;
        case Fn::sleep_report:
            text += " " + std::to_string(p.spec.seconds) + (p.spec.cancel ? " s, cancelled" : " s");
            break;
        default:
            break;
    }
    return text + ")";
}

RawFuture submit(Client& client, const JobSpec& job) {
    switch (job.fn) {
        case Fn::echo:
            return client.submit_encoded("echo", Encoding::binary, 0,
                                         echo_payload(job.seed, job.size));
        case Fn::gcd:
            return client.submit<std::int64_t>("gcd", job.pair).raw();
        case Fn::sleep_report:
            return client.submit<examples::SleepReport>("sleep_report", job.seconds).raw();
        case Fn::fail:
            return client.submit<std::string>("fail", job.message).raw();
        case Fn::crash:
            return client.submit<std::int64_t>("crash", std::int64_t{1}).raw();
        case Fn::hang: {
            CallOptions options;
            options.timeout = kHangTimeout;
            return client.submit<std::int64_t>("hang", std::int64_t{1}, options).raw();
        }
        case Fn::count:
            break;
    }
    throw std::logic_error("no such function");
}

// Checks a result against its input; returns what is wrong, or nothing.
std::optional<std::string> check_result(const Pending& p, const std::string& bytes,
                                        std::int64_t now_wall) {
    switch (p.spec.fn) {
        case Fn::echo:
            if (bytes.size() != p.spec.size)
                return "echo came back with " + std::to_string(bytes.size()) + " bytes";
            if (bytes != echo_payload(p.spec.seed, p.spec.size))
                return std::string("echo bytes differ");
            return std::nullopt;
        case Fn::gcd: {
            const auto g = from_binary<std::int64_t>(bytes);
            if (g != std::gcd(p.spec.pair.first, p.spec.pair.second))
                return "gcd gave " + std::to_string(g);
            return std::nullopt;
        }
        case Fn::sleep_report: {
            const auto r = from_binary<examples::SleepReport>(bytes);
            if (r.pid <= 0) return "sleep_report from pid " + std::to_string(r.pid);
            if (r.slept < p.spec.seconds - 1e-4 || r.slept > p.spec.seconds + 10) {
                return "sleep_report slept " + std::to_string(r.slept) + " s";
            }
            if (r.time_ns < p.submitted_wall_ns - 1'000'000'000 ||
                r.time_ns > now_wall + 1'000'000'000) {
                return "sleep_report woke at an impossible time";
            }
            return std::nullopt;
        }
        default:
            return std::string("a result where only an error is possible");
    }
}

// Waits for the oldest job's reply (within kReplyBound of its submission) and checks it.
void settle(Pending& p, ClientTally& tally) {
    const auto deadline = p.submitted_ns + std::chrono::nanoseconds(kReplyBound).count();
    if (!p.future.wait_for(
            std::chrono::nanoseconds(std::max<std::int64_t>(0, deadline - monotonic_ns())))) {
        ++tally.missing_count;
        if (tally.missing.size() < 30)
            tally.missing.push_back(describe(p) + " id " + std::to_string(p.future.id()));
        return;
    }
    ++tally.replies;
    const std::string fn = kFnNames[static_cast<std::size_t>(p.spec.fn)];
    try {
        const std::string bytes = p.future.get();
        const std::int64_t now_wall = realtime_ns();
        ++tally.outcomes[fn + ".ok"];
        ++tally.daemon_view["completed"];
        if (auto bad = check_result(p, bytes, now_wall)) tally.add_wrong(describe(p) + ": " + *bad);
    } catch (const JobError& e) {
        const std::string kind(to_string(e.kind()));
        const std::int64_t seen = monotonic_ns();
        switch (e.kind()) {
            case ErrorKind::handler_error:
                ++tally.daemon_view[kind];
                if (p.spec.fn != Fn::fail || e.message() != p.spec.message) {
                    tally.add_wrong(describe(p) + ": " + e.what());
                }
                break;
            case ErrorKind::worker_crashed: {
                // Attributed by the test process: SIGABRT is the crash job's own; SIGKILL must
                // match a kill of that very worker by the killer, before the reply was seen.
                ++tally.daemon_view[kind];
                int pid = 0;
                std::sscanf(e.message().c_str(), "worker %d", &pid);
                std::string signal = "?";
                for (const char* name : {"SIGABRT", "SIGKILL"}) {
                    if (e.message().find(std::string("(") + name + ")") != std::string::npos)
                        signal = name;
                }
                tally.crashes.push_back({{"fn", fn},
                                         {"pid", pid},
                                         {"signal", signal},
                                         {"seen_ns", seen},
                                         {"message", e.message()}});
                break;
            }
            case ErrorKind::timeout:
                ++tally.daemon_view[kind];
                if (p.spec.fn != Fn::hang) {
                    tally.add_wrong(describe(p) + ": " + e.what());
                } else if (seen - p.submitted_ns < std::chrono::nanoseconds(kHangTimeout).count()) {
                    tally.add_wrong(describe(p) + ": timed out before its time limit");
                }
                break;
            case ErrorKind::cancelled:
                // Queued: the daemon counts it cancelled. Running: it completed there, and the
                // client dropped the result.
                if (e.message().find("before it started") != std::string::npos) {
                    ++tally.daemon_view[kind];
                } else if (e.message().find("while running") != std::string::npos) {
                    ++tally.daemon_view["completed"];
                } else {
                    tally.add_wrong(describe(p) + ": unexplained " + e.what());
                }
                if (!p.spec.cancel)
                    tally.add_wrong(describe(p) + ": cancelled but never cancelled");
                break;
            default:
                ++tally.daemon_view[kind];
                tally.add_wrong(describe(p) + ": " + e.what());
                break;
        }
        ++tally.outcomes[fn + "." + kind];
    } catch (const std::exception& e) {
        tally.add_wrong(describe(p) + ": " + e.what());
    }
}

int run_client(const TestPool& pool, const ClientPlan& plan) {
    std::mt19937_64 rng(plan.seed);
    ClientTally tally;
    Client::Options options;
    options.client_name = "chaos-" + std::to_string(plan.client);
    options.runtime_dir = pool.runtime_dir();
    Client client = Client::connect(pool.name(), options);
    std::deque<Pending> window;
    for (std::uint64_t index = 0;; ++index) {
        if (plan.max_jobs != 0 && index >= plan.max_jobs) break;
        if (plan.stop_at_ns != 0 && monotonic_ns() >= plan.stop_at_ns) break;
        if (window.size() >= kWindow) {
            settle(window.front(), tally);
            window.pop_front();
        }
        Pending p;
        p.index = index;
        p.spec = next_job(rng, plan.client, index);
        if (plan.victim != nullptr) {
            plan.victim->victim_by_fn[static_cast<std::size_t>(p.spec.fn)].fetch_add(1);
            if (p.spec.cancel) plan.victim->victim_cancels.fetch_add(1);
            plan.victim->victim_submits.fetch_add(1);
        }
        p.submitted_ns = monotonic_ns();
        p.submitted_wall_ns = realtime_ns();
        try {
            p.future = submit(client, p.spec);
        } catch (const std::exception& e) {
            ++tally.submit_errors;
            tally.add_wrong(describe(p) + ": submit threw " + e.what());
            continue;
        }
        ++tally.submitted;
        if (p.spec.cancel) p.future.cancel();
        window.push_back(std::move(p));
    }
    for (auto& p : window) settle(p, tally);
    json report = {{"client", plan.client},
                   {"submitted", tally.submitted},
                   {"replies", tally.replies},
                   {"submit_errors", tally.submit_errors},
                   {"outcomes", tally.outcomes},
                   {"daemon_view", tally.daemon_view},
                   {"wrong_count", tally.wrong_count},
                   {"wrong", tally.wrong},
                   {"missing_count", tally.missing_count},
                   {"missing", tally.missing},
                   {"crashes", tally.crashes}};
    write_report(plan.report_path, report);
    return 0;
}

// ---- the killer process ----------------------------------------------------------------------

struct KillerPlan {
    std::uint64_t seed = 0;
    pid_t victim = -1;
    // The victim dies once it has started this many submits, or at this time, whichever first.
    std::uint64_t victim_after_submits = 0;
    std::int64_t victim_at_ns = 0;
    int min_gap_ms = 20, max_gap_ms = 150;
    std::string report_path;
};

pid_t parent_of(pid_t pid) {
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    std::getline(stat, line);
    const auto paren = line.rfind(')');
    if (paren == std::string::npos) return -1;
    std::istringstream rest(line.substr(paren + 2));
    char state = 0;
    pid_t ppid = -1;
    rest >> state >> ppid;
    return ppid;
}

int run_killer(const TestPool& pool, const KillerPlan& plan, ChaosShared* shared) {
    std::mt19937_64 rng(plan.seed);
    json kills = json::array();
    std::int64_t victim_killed_ns = 0;
    std::uint64_t status_errors = 0;
    auto kill_victim = [&] {
        if (victim_killed_ns != 0) return;
        victim_killed_ns = monotonic_ns();
        ::kill(plan.victim, SIGKILL);
    };
    std::int64_t next_kill = monotonic_ns();
    while (shared->stop_killer.load() == 0) {
        const std::int64_t now = monotonic_ns();
        if (plan.victim > 0 && (shared->victim_submits.load() >= plan.victim_after_submits ||
                                (plan.victim_at_ns != 0 && now >= plan.victim_at_ns))) {
            kill_victim();
        }
        if (now < next_kill) {
            std::this_thread::sleep_for(1ms);
            continue;
        }
        next_kill =
            now +
            std::uniform_int_distribution<int>(plan.min_gap_ms, plan.max_gap_ms)(rng) * 1'000'000LL;
        std::vector<pid_t> busy, idle;
        try {
            const json status = pool.status();
            for (const auto& row : status["workers"]["rows"]) {
                const std::string state = row["state"];
                if (state == "busy") busy.push_back(row["pid"].get<pid_t>());
                if (state == "idle") idle.push_back(row["pid"].get<pid_t>());
            }
        } catch (const std::exception&) {
            ++status_errors;
            continue;
        }
        // Mostly workers in the middle of a job; sometimes idle ones.
        std::vector<pid_t>& pick = !busy.empty() && (idle.empty() || rng() % 4 != 0) ? busy : idle;
        if (pick.empty()) continue;
        const pid_t pid = pick[rng() % pick.size()];
        if (pid <= 0 || parent_of(pid) != pool.pid()) continue;  // never anything not of this pool
        const std::int64_t at = monotonic_ns();
        if (::kill(pid, SIGKILL) == 0) kills.push_back({{"pid", pid}, {"at_ns", at}});
    }
    if (plan.victim > 0) kill_victim();
    write_report(plan.report_path, {{"kills", kills},
                                    {"victim_killed_ns", victim_killed_ns},
                                    {"status_errors", status_errors}});
    return 0;
}

// ---- the test process: rounds and accounting --------------------------------------------------

struct Totals {
    std::uint64_t jobs = 0;  // accepted by the daemon
    std::uint64_t replies_checked = 0;
    std::uint64_t workers_killed = 0;
    std::uint64_t clients_killed = 0;
    std::uint64_t killed_while_running = 0;  // replies that were worker_crashed by a kill
    std::uint64_t aborted = 0;               // crash jobs that ended in their own SIGABRT
    std::uint64_t timeouts = 0;
    unsigned rounds = 0;
    std::vector<std::int64_t> counter_discrepancies;  // per round, where tolerated and not 0
};

// Failures of one round, reported together so one run shows every broken guarantee.
struct Findings {
    std::vector<std::string> lines;
    void add(const std::string& line) { lines.push_back(line); }
};

std::uint64_t count_of(const json& object, const std::string& key) {
    return object.contains(key) ? object[key].get<std::uint64_t>() : 0;
}

void check_counters(const json& before, const json& after,
                    const std::map<std::string, std::uint64_t>& seen,
                    std::uint64_t survivors_submitted, const ChaosShared& victim,
                    std::uint64_t workers_killed, Findings& findings,
                    std::uint64_t& victim_accepted, std::int64_t& counter_discrepancy) {
    auto delta = [&](const std::string& key) {
        return count_of(after, key) - count_of(before, key);
    };
    auto delta_kind = [&](const std::string& kind) {
        return count_of(after["failed_by_kind"], kind) - count_of(before["failed_by_kind"], kind);
    };
    auto saw = [&](const std::string& key) {
        return seen.count(key) ? seen.at(key) : std::uint64_t{0};
    };
    const std::uint64_t submitted = delta("submitted"), completed = delta("completed"),
                        failed = delta("failed"), dropped = delta("dropped");
    auto line = [&](const std::string& what) {
        findings.add(what + " (round: submitted " + std::to_string(submitted) + ", completed " +
                     std::to_string(completed) + ", failed " + std::to_string(failed) +
                     ", dropped " + std::to_string(dropped) + ")");
    };
    if (after["queued"] != 0 || after["in_flight"] != 0)
        line("jobs still queued or in flight at the end");

    // Every accepted job ends exactly once: as a result, a failure of some kind, or dropped
    // because its client went away. Tolerated while switched off: the victim's jobs in workers'
    // inboxes (at most a prefetch per worker) uncounted; at most one job counted twice per kill.
    const std::int64_t off = static_cast<std::int64_t>(submitted) -
                             static_cast<std::int64_t>(completed + failed + dropped);
    const std::int64_t most =
        kDaemonCountsInboxJobsOfAGoneClient ? 0 : static_cast<std::int64_t>(kWorkers * kPrefetch);
    const std::uint64_t twice = kEachKillCountsEveryJobOnce ? 0 : workers_killed;
    const std::int64_t least = -static_cast<std::int64_t>(twice);
    if (off < least || off > most) {
        line("counters do not reconcile: submitted != completed + failed + dropped, off by " +
             std::to_string(off) + " (tolerated for known defects: " + std::to_string(least) +
             " to " + std::to_string(most) + ")");
    }
    counter_discrepancy = off;
    // What the daemon counted beyond the survivors' replies: the victim's share (and any excess).
    std::printf(
        "chaos round: daemon minus survivors: completed %lld, handler_error %lld, worker_crashed "
        "%lld, "
        "cancelled %lld, bad_request %lld, dropped %llu; the victim started %llu submits\n",
        static_cast<long long>(completed - saw("completed")),
        static_cast<long long>(delta_kind("handler_error") - saw("handler_error")),
        static_cast<long long>(delta_kind("worker_crashed") - saw("worker_crashed")),
        static_cast<long long>(delta_kind("cancelled") - saw("cancelled")),
        static_cast<long long>(delta_kind("bad_request") - saw("bad_request")),
        static_cast<unsigned long long>(dropped),
        static_cast<unsigned long long>(victim.victim_submits.load()));
    // The survivors' jobs are all counted; the rest are the victim's, at most what it submitted.
    const std::uint64_t victim_submits = victim.victim_submits.load();
    victim_accepted = submitted - survivors_submitted;
    if (submitted < survivors_submitted || victim_accepted > victim_submits) {
        line("submitted " + std::to_string(submitted) + " is not the survivors' " +
             std::to_string(survivors_submitted) + " plus at most the victim's " +
             std::to_string(victim_submits));
    }
    auto fn_count = [&](Fn fn) { return victim.victim_by_fn[static_cast<std::size_t>(fn)].load(); };
    // For each outcome: at least what the survivors saw, at most that plus what the victim could
    // have caused (and, while switched off, the jobs counted twice).
    auto bounded = [&](const std::string& name, std::uint64_t daemon, std::uint64_t survivors,
                       std::uint64_t victim_max) {
        victim_max += twice;
        if (daemon < survivors || daemon > survivors + victim_max) {
            line("daemon counted " + std::to_string(daemon) + " " + name + ", survivors saw " +
                 std::to_string(survivors) + ", the victim could add at most " +
                 std::to_string(victim_max));
        }
    };
    bounded("completed", completed, saw("completed"),
            fn_count(Fn::echo) + fn_count(Fn::gcd) + fn_count(Fn::sleep_report));
    bounded("handler_error", delta_kind("handler_error"), saw("handler_error"), fn_count(Fn::fail));
    bounded("worker_crashed", delta_kind("worker_crashed"), saw("worker_crashed"), victim_submits);
    bounded("timeout", delta_kind("timeout"), saw("timeout"), fn_count(Fn::hang));
    bounded("cancelled", delta_kind("cancelled"), saw("cancelled"), victim.victim_cancels.load());
    bounded("dropped", dropped, 0, victim_submits);
    // A client killed between the ring record of a large call and the offer of its argument blob
    // (one frame, cut short by the kill) leaves the worker a blob nobody offered: bad_request,
    // published while the supervisor has not yet read the client's end of the connection.
    bounded("bad_request", delta_kind("bad_request"), saw("bad_request"), victim_submits);
    for (ErrorKind kind : kAllErrorKinds) {
        const std::string name(to_string(kind));
        if (name == "handler_error" || name == "worker_crashed" || name == "timeout" ||
            name == "cancelled" || name == "bad_request")
            continue;
        bounded(name, delta_kind(name), saw(name), 0);
    }
}

struct RoundPlan {
    std::uint64_t seed = 0;
    unsigned round = 0;
    std::size_t jobs_per_client = 0;        // short run
    std::chrono::milliseconds duration{0};  // long run
};

void run_round(TestPool& pool, const RoundPlan& plan, Totals& totals, Findings& findings) {
    Shared<ChaosShared> shared;
    const json before = pool.status()["jobs"];
    const std::string prefix = pool.runtime_dir() + "/chaos-r" + std::to_string(plan.round);
    const std::int64_t start = monotonic_ns();
    const std::int64_t stop_at =
        plan.duration.count() > 0 ? start + std::chrono::nanoseconds(plan.duration).count() : 0;
    std::mt19937_64 rng(plan.seed ^ (0x5851f42d4c957f2dULL * (plan.round + 1)));

    std::vector<Child> clients;
    for (unsigned c = 0; c < kSurvivingClients; ++c) {
        ClientPlan cp{static_cast<int>(c),
                      rng(),
                      plan.jobs_per_client,
                      stop_at,
                      nullptr,
                      prefix + "-client" + std::to_string(c) + ".json"};
        clients.push_back(Child::start([&pool, cp] { return run_client(pool, cp); }));
    }
    ClientPlan vp{
        static_cast<int>(kSurvivingClients), rng(), 0, 0, shared.get(), prefix + "-victim.json"};
    // The victim submits until it is killed (never longer than the round plus a margin).
    vp.stop_at_ns = (stop_at != 0 ? stop_at : start) + std::chrono::nanoseconds(120s).count();
    Child victim = Child::start([&pool, vp] { return run_client(pool, vp); });

    KillerPlan kp;
    kp.seed = rng();
    kp.victim = victim.pid();
    if (plan.duration.count() > 0) {
        const auto span = std::chrono::nanoseconds(plan.duration).count();
        kp.victim_after_submits = UINT64_MAX;
        kp.victim_at_ns =
            start + std::uniform_int_distribution<std::int64_t>(span / 5, span * 7 / 10)(rng);
    } else {
        kp.victim_after_submits = std::uniform_int_distribution<std::uint64_t>(
            plan.jobs_per_client / 5, plan.jobs_per_client * 3 / 5)(rng);
    }
    kp.report_path = prefix + "-killer.json";
    ChaosShared* shared_ptr = shared.get();
    Child killer =
        Child::start([&pool, kp, shared_ptr] { return run_killer(pool, kp, shared_ptr); });

    // Survivors finish on their own (a bound only guards against a wedged pool).
    const auto client_bound = plan.duration + kReplyBound + 120s;
    for (unsigned c = 0; c < kSurvivingClients; ++c) {
        const int code = clients[c].exit_code(
            std::chrono::duration_cast<std::chrono::milliseconds>(client_bound));
        if (code != 0)
            findings.add("client " + std::to_string(c) + " ended with code " +
                         std::to_string(code));
    }
    shared->stop_killer.store(1);
    if (killer.exit_code(30s) != 0) findings.add("the killer did not finish cleanly");
    const std::optional<int> victim_status = victim.wait(30s);
    if (!victim_status || !WIFSIGNALED(*victim_status) || WTERMSIG(*victim_status) != SIGKILL) {
        findings.add("the victim client was not killed mid-stream (it had " +
                     std::to_string(shared->victim_submits.load()) + " submits)");
    } else {
        ++totals.clients_killed;
    }

    // The pool settles: the victim's session is gone, nothing queued or in flight, every worker
    // slot has a live, ready worker.
    json last;
    const bool settled = testing::wait_until(
        [&] {
            last = pool.status();
            return last["sessions"]["active"] == 0 && last["jobs"]["queued"] == 0 &&
                   last["jobs"]["in_flight"] == 0 && last["workers"]["live"] == kWorkers &&
                   last["workers"]["ready"] == kWorkers;
        },
        20s);
    if (!settled)
        findings.add("the pool did not settle back to " + std::to_string(kWorkers) +
                     " ready workers: " + last.dump());

    // Accounting.
    const auto killer_report = read_report(kp.report_path);
    std::multimap<pid_t, std::int64_t> kills;
    if (!killer_report) {
        findings.add("no report from the killer");
    } else {
        for (const auto& k : (*killer_report)["kills"])
            kills.emplace(k["pid"].get<pid_t>(), k["at_ns"].get<std::int64_t>());
        totals.workers_killed += kills.size();
    }
    std::map<std::string, std::uint64_t> seen;
    std::uint64_t survivors_submitted = 0;
    for (unsigned c = 0; c < kSurvivingClients; ++c) {
        const std::string who = "client " + std::to_string(c);
        const auto report = read_report(prefix + "-client" + std::to_string(c) + ".json");
        if (!report) {
            findings.add(who + ": no report");
            continue;
        }
        const json& r = *report;
        survivors_submitted += r["submitted"].get<std::uint64_t>();
        totals.replies_checked += r["replies"].get<std::uint64_t>();
        if (r["replies"] != r["submitted"]) {
            findings.add(who + ": " + r["replies"].dump() + " replies for " +
                         r["submitted"].dump() + " jobs");
        }
        if (r["missing_count"] != 0) {
            findings.add(
                who + ": " + r["missing_count"].dump() + " jobs without a reply within " +
                std::to_string(
                    std::chrono::duration_cast<std::chrono::seconds>(kReplyBound).count()) +
                " s, e.g. " + r["missing"].dump());
        }
        if (r["wrong_count"] != 0) {
            findings.add(who + ": " + r["wrong_count"].dump() + " wrong replies, e.g. " +
                         r["wrong"].dump());
        }
        for (auto& [key, value] : r["daemon_view"].items()) seen[key] += value.get<std::uint64_t>();
        for (auto& [key, value] : r["outcomes"].items()) {
            if (key.ends_with(".timeout")) totals.timeouts += value.get<std::uint64_t>();
        }
        for (const auto& crash : r["crashes"]) {
            const std::string fn = crash["fn"], signal = crash["signal"];
            const pid_t pid = crash["pid"];
            const std::int64_t seen_ns = crash["seen_ns"];
            if (signal == "SIGABRT" && fn == "crash") {
                ++totals.aborted;
                continue;
            }
            bool explained = false;
            if (signal == "SIGKILL") {
                auto [lo, hi] = kills.equal_range(pid);
                for (auto it = lo; it != hi; ++it) explained = explained || it->second <= seen_ns;
            }
            if (explained) {
                ++totals.killed_while_running;
            } else {
                findings.add(who + ": a " + fn +
                             " job ended as worker_crashed that no kill explains: " +
                             crash["message"].get<std::string>());
            }
        }
    }
    std::uint64_t victim_accepted = 0;
    std::int64_t discrepancy = 0;
    check_counters(before, last["jobs"], seen, survivors_submitted, *shared.get(), kills.size(),
                   findings, victim_accepted, discrepancy);
    totals.jobs += survivors_submitted + victim_accepted;
    if (discrepancy != 0) totals.counter_discrepancies.push_back(discrepancy);
    ++totals.rounds;
}

TEST(ChaosTest, EveryJobGetsExactlyOneRightReplyWhileWorkersAndAClientAreKilled) {
    const char* seconds_env = std::getenv("WARMPOOL_CHAOS_SECONDS");
    const long seconds = seconds_env != nullptr ? std::strtol(seconds_env, nullptr, 10) : 0;
    const char* seed_env = std::getenv("WARMPOOL_CHAOS_SEED");
    const std::uint64_t seed =
        seed_env != nullptr ? std::strtoull(seed_env, nullptr, 10) : std::random_device{}();
    std::printf("chaos seed %llu%s\n", static_cast<unsigned long long>(seed),
                kHangJobsWithTimeout ? "" : " (hang jobs with a timeout switched off)");

    TestPool::Options options;
    options.workers = kWorkers;
    TestPool pool(options);
    Totals totals;
    const auto started = std::chrono::steady_clock::now();
    const auto end = started + std::chrono::seconds(seconds);
    Findings findings;
    do {
        RoundPlan plan;
        plan.seed = seed;
        plan.round = totals.rounds;
        if (seconds > 0) {
            plan.duration = std::chrono::duration_cast<std::chrono::milliseconds>(
                std::clamp<std::chrono::steady_clock::duration>(
                    end - std::chrono::steady_clock::now(), 1s, kLongRunRound));
        } else {
            plan.jobs_per_client = kShortRunJobsPerClient;
        }
        Findings round;
        run_round(pool, plan, totals, round);
        for (const auto& line : round.lines)
            findings.add("round " + std::to_string(plan.round) + ": " + line);
    } while (seconds > 0 && std::chrono::steady_clock::now() < end);
    const double duration =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();

    // Stopped, the pool leaves no process, socket or shared memory behind.
    std::set<pid_t> workers;
    const json final_status = pool.status();
    for (const auto& row : final_status["workers"]["rows"]) workers.insert(row["pid"].get<pid_t>());
    const pid_t supervisor = pool.pid();
    pool.signal(SIGTERM);
    EXPECT_EQ(pool.wait_exit(30s), 0);
    const auto leftovers = pool.leftover_shm();
    EXPECT_TRUE(leftovers.empty()) << "shared memory left: " << ::testing::PrintToString(leftovers);
    EXPECT_NE(::access(pool.control_socket().c_str(), F_OK), 0);
    EXPECT_NE(::access(pool.status_socket().c_str(), F_OK), 0);
    EXPECT_TRUE(testing::wait_until(
        [&] {
            return std::none_of(workers.begin(), workers.end(), [&](pid_t pid) {
                return pid > 0 && ::kill(pid, 0) == 0 && parent_of(pid) == supervisor;
            });
        },
        5s))
        << "a worker outlived its pool";

    std::printf(
        "chaos: %llu jobs run, %llu replies checked, %llu workers killed (%llu jobs ended "
        "worker_crashed by a "
        "kill), %llu crash jobs aborted, %llu timeouts, %llu clients killed, %u rounds, %.1f s\n"
        "repeat: WARMPOOL_CHAOS_SECONDS=%ld WARMPOOL_CHAOS_SEED=%llu %s "
        "--gtest_filter=ChaosTest."
        "EveryJobGetsExactlyOneRightReplyWhileWorkersAndAClientAreKilled\n",
        static_cast<unsigned long long>(totals.jobs),
        static_cast<unsigned long long>(totals.replies_checked),
        static_cast<unsigned long long>(totals.workers_killed),
        static_cast<unsigned long long>(totals.killed_while_running),
        static_cast<unsigned long long>(totals.aborted),
        static_cast<unsigned long long>(totals.timeouts),
        static_cast<unsigned long long>(totals.clients_killed), totals.rounds, duration, seconds,
        static_cast<unsigned long long>(seed),
        std::filesystem::read_symlink("/proc/self/exe").c_str());
    if (!totals.counter_discrepancies.empty()) {
        std::printf(
            "chaos: tolerated counter discrepancies (submitted - completed - failed - dropped) in "
            "%zu of %u "
            "rounds: %s\n",
            totals.counter_discrepancies.size(), totals.rounds,
            ::testing::PrintToString(totals.counter_discrepancies).c_str());
    }
    std::fflush(stdout);

    EXPECT_GT(totals.workers_killed, 0u);
    for (const auto& line : findings.lines) ADD_FAILURE() << line;
    if (!findings.lines.empty())
        std::printf(
            "daemon log tail:\n%s\n",
            pool.log().substr(pool.log().size() > 20000 ? pool.log().size() - 20000 : 0).c_str());
}

// ---- the defects the chaos test found, each on its own and deterministically --------------------
// Both fail against the daemon as it is and are disabled until it is fixed (run them with
// --gtest_also_run_disabled_tests); the switches at the top of the file name them.

json settled_jobs(const TestPool& pool) {
    json last;
    testing::wait_until(
        [&] {
            last = pool.status();
            return last["sessions"]["active"] == 0 && last["jobs"]["queued"] == 0 &&
                   last["jobs"]["in_flight"] == 0 &&
                   last["workers"]["ready"] == last["workers"]["configured"];
        },
        10s);
    return last["jobs"];
}

std::uint64_t terminal(const json& jobs) {
    return jobs["completed"].get<std::uint64_t>() + jobs["failed"].get<std::uint64_t>() +
           jobs["dropped"].get<std::uint64_t>();
}

// The path through which process `pid`'s mapping of the pool segment of `pool` can be opened
// (/proc/<pid>/map_files/<start>-<end>, root only), or "" if it maps none.
std::string pool_segment_mapping(pid_t pid, const std::string& pool) {
    std::ifstream maps("/proc/" + std::to_string(pid) + "/maps");
    const std::string label = "/memfd:warmpool." + pool + ".pool ";
    for (std::string line; std::getline(maps, line);) {
        if (line.find(label) == std::string::npos) continue;
        std::istringstream fields(line);
        std::string range, perms, offset;
        fields >> range >> perms >> offset;
        if (std::stoull(offset, nullptr, 16) != 0) continue;
        return "/proc/" + std::to_string(pid) + "/map_files/" + range;
    }
    return {};
}

void set_stopped(pid_t pid, bool stopped) {
    ASSERT_EQ(::kill(pid, stopped ? SIGSTOP : SIGCONT), 0);
}

// Jobs of a client that dies while they wait in a worker's inbox are skipped by the worker
// (its session is closing) and never counted: not completed, not failed, not dropped.
TEST(ChaosTest, JobsOfAKilledClientWaitingInAWorkersInboxAreCounted) {
    TestPool::Options options;
    options.workers = 1;
    TestPool pool(options);
    const pid_t worker = pool.ready_worker_pids().at(0);
    struct Steps {
        std::atomic<int> warm{0}, go{0};
    };
    Shared<Steps> steps;
    Steps* step = steps.get();
    Child client = Child::start([&pool, step] {
        Client c = pool.connect();
        // After short jobs, the worker is given several jobs at once. They are submitted together
        // so that they pass through the supervisor, which learns their run time (a call made
        // alone would go straight to the worker by its lane).
        std::vector<Future<std::int64_t>> warm;
        for (int i = 0; i < 20; ++i) warm.push_back(c.submit<std::int64_t>("gcd", Pair{12, 18}));
        for (auto& f : warm) f.get();
        step->warm = 1;
        while (step->go == 0) std::this_thread::sleep_for(1ms);
        std::vector<Future<std::int64_t>> futures;
        for (int i = 0; i < 10; ++i)
            futures.push_back(c.submit<std::int64_t>("gcd", Pair{12, i + 1}));
        for (;;) ::pause();
        return 0;
    });
    // With the worker stopped, its jobs wait in its inbox.
    ASSERT_TRUE(testing::wait_until([&] { return step->warm == 1; }, 5s));
    set_stopped(worker, true);
    step->go = 1;
    // All ten taken in: in the worker's inbox, or (if the warm-up measured gcd as slow, as on a
    // loaded machine, so that it is not queued behind others) the first there, the rest queued.
    ASSERT_TRUE(testing::wait_until(
        [&] {
            const json s = pool.status();
            const std::uint64_t in_flight = s["jobs"]["in_flight"];
            return in_flight >= 1 && in_flight + s["queue"]["depth"].get<std::uint64_t>() == 10;
        },
        5s))
        << pool.status().dump();
    client.kill_and_reap();
    ASSERT_TRUE(testing::wait_until(
        [&] { return pool.status()["sessions"]["rows"][0]["state"] == "closing"; }, 5s));
    set_stopped(worker, false);
    const json jobs = settled_jobs(pool);
    EXPECT_EQ(jobs["submitted"], 30);
    EXPECT_EQ(jobs["submitted"].get<std::uint64_t>(), terminal(jobs))
        << "every accepted job must end as completed, failed or dropped: " << jobs.dump();
}

// A client that stops reading (SIGSTOP, a debugger) with more replies owed than its reply ring
// holds must not stall its worker: the dispatcher keeps that client's further jobs back until
// the ring has room, and the worker goes on serving everyone else. Once the client reads again,
// it gets every reply, and every job is counted once.
TEST(ChaosTest, AClientThatStopsReadingDoesNotStallOtherClients) {
    TestPool::Options options;
    options.workers = 1;
    TestPool pool(options);
    constexpr int kJobs = 40;  // 40 replies of 60 KiB do not fit a 1 MiB reply ring
    struct Seen {
        std::atomic<std::uint64_t> ok{0};
    };
    Shared<Seen> seen;
    Seen* flags = seen.get();
    Child client = Child::start([&pool, flags] {
        Client c = pool.connect();
        std::vector<RawFuture> futures;
        for (int i = 0; i < kJobs; ++i) {
            futures.push_back(c.submit_encoded("echo", Encoding::binary, 0, echo_payload(i, 60 << 10)));
        }
        ::raise(SIGSTOP);  // stops reading while replies are owed
        std::uint64_t ok = 0;
        for (int i = 0; i < kJobs; ++i) ok += futures[static_cast<std::size_t>(i)].get() == echo_payload(i, 60 << 10);
        flags->ok = ok;
        return 0;
    });
    ASSERT_TRUE(testing::wait_until([&] { return process_state(client.pid()) == 'T'; }, 5s));
    ASSERT_TRUE(testing::wait_until([&] { return pool.status()["jobs"]["submitted"] == kJobs; }, 5s));
    std::this_thread::sleep_for(200ms);  // the stopped client's ring is as full as it gets

    {
        Client other = pool.connect();
        std::vector<Future<std::int64_t>> mine;
        for (std::int64_t i = 1; i <= 50; ++i) mine.push_back(other.submit<std::int64_t>("gcd", Pair{6 * i, 4 * i}));
        for (std::int64_t i = 1; i <= 50; ++i) {
            auto& f = mine[static_cast<std::size_t>(i - 1)];
            ASSERT_TRUE(f.wait_for(5s)) << "job " << i << " of a reading client waits behind a stopped one";
            EXPECT_EQ(f.get(), 2 * i);
        }
    }

    set_stopped(client.pid(), false);
    ASSERT_EQ(client.exit_code(20s), 0);
    EXPECT_EQ(flags->ok.load(), std::uint64_t{kJobs});
    const json jobs = settled_jobs(pool);
    EXPECT_EQ(jobs["submitted"], kJobs + 50);
    EXPECT_EQ(jobs["completed"], kJobs + 50);
    EXPECT_EQ(jobs["submitted"].get<std::uint64_t>(), terminal(jobs)) << jobs.dump();
}


// A worker killed at a random instruction of a job, before or after its reply is out: the job
// gets exactly one reply (its result if the reply made it out, else worker_crashed), is never
// run again once it replied, and the daemon counts it once. The worker is stopped at random
// moments while it runs a job, then killed, many times over.
TEST(ChaosTest, AWorkerKilledAnywhereInAJobLeavesItExactlyOneReply) {
    TestPool::Options options;
    options.workers = 1;
    TestPool pool(options);
    struct Progress {
        std::atomic<int> stop{0};
        std::atomic<std::uint64_t> submitted{0}, ok{0}, crashed{0}, wrong{0};
    };
    Shared<Progress> progress;
    Progress* shared = progress.get();
    Child client = Child::start([&pool, shared] {
        Client c = pool.connect();
        std::deque<Future<std::int64_t>> window;
        std::uint64_t ok = 0, crashed = 0, wrong = 0, submitted = 0;
        auto settle = [&](Future<std::int64_t>& f) {
            try {
                (f.get() == 1 ? ok : wrong) += 1;
            } catch (const JobError& e) {
                (e.kind() == ErrorKind::worker_crashed ? crashed : wrong) += 1;
            }
        };
        for (std::int64_t i = 0; shared->stop == 0; ++i) {
            if (window.size() >= 64) {
                settle(window.front());
                window.pop_front();
            }
            // gcd of consecutive numbers is 1. Every other job counts down from 20,000 or so
            // (tens of microseconds), so a stopped worker is often caught inside a job even on a
            // loaded machine; the tiny ones keep the moments around the reply in the mix.
            const std::int64_t n = i % 2 == 0 ? 20'000 + i % 1000 : 1;
            window.push_back(c.submit<std::int64_t>("gcd", Pair{n, n + 1}));
            ++submitted;
        }
        for (auto& f : window) settle(f);
        shared->submitted = submitted;
        shared->ok = ok;
        shared->crashed = crashed;
        shared->wrong = wrong;
        return 0;
    });

    // Workers' records in the pool segment. It has no name: as root, we open the supervisor's
    // own mapping of its memfd.
    const std::string segment = pool_segment_mapping(pool.pid(), pool.name());
    ASSERT_FALSE(segment.empty()) << "no mapping of the pool segment in the supervisor's maps";
    const int fd = ::open(segment.c_str(), O_RDONLY | O_CLOEXEC);
    ASSERT_GE(fd, 0) << segment << ": " << std::strerror(errno) << " (needs root)";
    const PoolLayout layout{2, 1u << 20};  // one worker: two slots; the default inbox size
    const std::size_t mapped = layout.worker_table_offset() + 2 * sizeof(WorkerRecord);
    void* map = ::mmap(nullptr, mapped, PROT_READ, MAP_SHARED, fd, 0);
    ::close(fd);
    ASSERT_NE(map, MAP_FAILED);
    const auto* records = reinterpret_cast<const WorkerRecord*>(static_cast<const std::byte*>(map) +
                                                                layout.worker_table_offset());

    constexpr int kKills = 20;
    int kills = 0;
    std::mt19937 rng(1);
    const auto give_up = std::chrono::steady_clock::now() + 30s;
    while (kills < kKills && std::chrono::steady_clock::now() < give_up) {
        const auto pids = pool.ready_worker_pids();
        if (pids.empty()) continue;
        const pid_t worker = pids.front();
        const WorkerRecord* record = nullptr;
        for (int slot = 0; slot < 2; ++slot) {
            if (records[slot].pid.load() == worker) record = &records[slot];
        }
        if (record == nullptr) continue;
        const auto resume = std::chrono::steady_clock::now() + std::chrono::microseconds(rng() % 100);
        while (std::chrono::steady_clock::now() < resume) {
        }
        if (::kill(worker, SIGSTOP) != 0) continue;
        while (process_state(worker) != 'T' && process_state(worker) != 't') std::this_thread::yield();
        if (record->running_seq.load() != 0) {  // mid-job: before, during or after its reply
            ::kill(worker, SIGKILL);
            ++kills;
            testing::wait_until(
                [&] {
                    const auto now_ready = pool.ready_worker_pids();
                    return now_ready.size() == 1 && now_ready.front() != worker;
                },
                5s);
        } else {
            ::kill(worker, SIGCONT);
        }
    }
    ::munmap(map, mapped);
    ASSERT_EQ(kills, kKills) << "the worker was rarely caught running a job";
    ASSERT_TRUE(testing::wait_until([&] { return pool.status()["workers"]["ready"] == 1; }, 5s));
    std::this_thread::sleep_for(200ms);
    shared->stop = 1;
    ASSERT_EQ(client.exit_code(20s), 0);
    EXPECT_EQ(shared->wrong.load(), 0u);
    EXPECT_EQ(shared->ok.load() + shared->crashed.load(), shared->submitted.load());
    EXPECT_LE(shared->crashed.load(), std::uint64_t{kKills}) << "one running job per kill at most";
    const json jobs = settled_jobs(pool);
    EXPECT_EQ(jobs["submitted"].get<std::uint64_t>(), shared->submitted.load());
    EXPECT_EQ(jobs["completed"].get<std::uint64_t>(), shared->ok.load())
        << "a job that completed once was run (and counted) again: " << jobs.dump();
    EXPECT_EQ(jobs["failed_by_kind"]["worker_crashed"].get<std::uint64_t>(), shared->crashed.load());
}

}  // namespace
}  // namespace warmpool
