// GatewayState: what warmpool-gateway's threads share, behind one mutex.
//
//   intake, housekeeper   add_running() jobs they submitted to the local pool, push() outcomes
//                         they decided without running (bad_request, poison, deadline, ...)
//   finisher              take_running() a job whose local future resolved, take_ops() to write
//                         outcomes back to Redis
//   housekeeper           running_entries() for the refresh, mark_lost(), cancel()
//   main (drain)          take_all_running() at the end
//
// A job is in exactly one place: running here, an op queued here, or an op the finisher is
// writing. busy() counts the first two, so intake reads no more than the pool has room for.
// Counters are atomics any thread may bump; heartbeats read them.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <variant>
#include <vector>

#include "job_entry.hpp"
#include "warmpool/future.hpp"

namespace warmpool {

// The job's one outcome, for the finish script.
struct FinishOp {
    std::string entry_id;  // "" if there is no entry to acknowledge
    std::string job;
    std::string client;
    std::uint64_t seq = 0;
    std::uint16_t status = 0;  // 0 or an ErrorKind code
    std::uint32_t flags = 0;   // of the body
    std::string body;
};
// Back to the stream as a new entry (the requeue script).
struct RequeueOp {
    std::string entry_id;
    std::string job;
    std::uint64_t attempts = 0;
    std::string last_failure;
};
// An entry no one can be answered for: acknowledged, deleted and counted.
struct DropOp {
    std::string entry_id;
};
using GatewayOp = std::variant<FinishOp, RequeueOp, DropOp>;

struct RunningJob {
    JobEntry entry;
    std::uint64_t deliveries = 1;  // attempts + this entry's delivery count
    RawFuture future;
};

struct GatewayCounters {
    std::atomic<std::uint64_t> received{0}, finished{0}, claims{0}, requeued{0}, poisoned{0}, duplicates_dropped{0},
        late_after_cancel{0}, lost{0}, redis_reconnects{0}, dropped{0};
};

class GatewayState {
public:
    // True if the entry is running here (a claim of our own entry after a stall is not a new job).
    bool holds_entry(const std::string& entry_id) const;
    // Registers a submitted job, before its future is watched.
    void add_running(RunningJob job);
    void push(GatewayOp op);
    // Jobs running, outcomes queued, and outcomes the finisher has taken but not yet written
    // (set_unwritten): each holds a slot of the capacity until Redis has it.
    std::size_t busy() const;
    void set_unwritten(std::size_t count) { unwritten_.store(count); }

    std::optional<RunningJob> take_running(std::uint64_t future_id);
    std::vector<GatewayOp> take_ops();
    std::vector<RunningJob> take_all_running();

    std::vector<std::string> running_entries() const;
    // Counts the entries refresh found pending elsewhere, once each.
    void mark_lost(const std::vector<std::string>& entry_ids);

    // A cancel from the cancels stream: cancels the local future if the job runs here, and
    // remembers the job (a bounded number) so it is not run if read later.
    void cancel(const std::string& job, bool force);
    bool was_cancelled(const std::string& job) const;

    GatewayCounters counters;

private:
    static constexpr std::size_t kRememberedCancels = 10'000;

    std::atomic<std::size_t> unwritten_{0};
    mutable std::mutex mutex_;
    std::map<std::uint64_t, RunningJob> running_;  // by local future id
    std::set<std::string> lost_;                   // entry ids of running jobs known to be lost
    std::deque<GatewayOp> ops_;
    std::set<std::string> cancelled_;
    std::deque<std::string> cancel_order_;  // oldest first, to forget beyond kRememberedCancels
};

}  // namespace warmpool
