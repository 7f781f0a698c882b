// WorkerSlots: the pool's worker slots and the life of the process in each.
//
// A slot's worker is a member (counted towards `workers`), being replaced (`replace` set: it
// serves until its replacement is ready), or retiring (takes no new jobs and exits once its inbox
// is done). WorkerSlots owns each slot's process facts (pid, readiness, CPU, recycling point,
// stop order, the channel to it), the respawn back-off, how each slot's previous worker ended,
// and the kernel's OOM kills seen. plan_slots() is the pure decision of what to start, replace
// and retire; WorkerLives (worker_lives.hpp), which owns the slots, carries it out.
// fork_worker() is the fork seam.
//
// It writes nothing in shared memory itself: WorkerLives resets a slot's record before a spawn
// and orders a retiring worker out through the record's state (shm_layout.hpp).
// The supervisor's one thread only.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "warmpool/common/protocol.hpp"
#include "warmpool/common/sys_result.hpp"
#include "warmpool/common/unique_fd.hpp"
#include "warmpool/daemon/oom_kill_counter.hpp"
#include "warmpool/daemon/pool_config.hpp"
#include "warmpool/daemon/respawn_policy.hpp"
#include "warmpool/daemon/stop_order.hpp"
#include "warmpool/daemon/worker_process.hpp"

namespace warmpool {

enum class ReplaceReason : std::uint8_t { none, max_jobs, max_rss, reload, scaled_down };
constexpr std::string_view to_string(ReplaceReason reason) {
    switch (reason) {
        case ReplaceReason::none: return "";
        case ReplaceReason::max_jobs: return "max_jobs";
        case ReplaceReason::max_rss: return "max_rss";
        case ReplaceReason::reload: return "reload";
        case ReplaceReason::scaled_down: return "scaled down";
    }
    return "";
}

struct WorkerSlot {
    pid_t pid = 0;
    bool ever_ready = false;
    bool retiring = false;
    ReplaceReason replace = ReplaceReason::none;
    std::uint64_t config_generation = 0;
    std::uint64_t recycle_after = 0;  // jobs before recycling (max_jobs with jitter); 0: never
    std::int64_t started_ns = 0;
    int cpu = -1;  // the CPU it is pinned to; -1: none
    StopOrder stop;
    UniqueFd channel;  // our end of its socketpair (descriptor requests and offers)
    protocol::FrameReader channel_reader;
    std::vector<UniqueFd> channel_fds;  // received, not yet claimed by their frame

    bool live() const { return pid > 0; }
    bool member() const { return pid > 0 && !retiring && replace == ReplaceReason::none; }
    bool being_replaced() const { return pid > 0 && !retiring && replace != ReplaceReason::none; }
    bool takes_jobs() const { return pid > 0 && !retiring && !stop.given(); }
};

// What to do with the slots now, to keep `workers` members serving:
struct SlotPlan {
    std::vector<unsigned> scale_down;  // members beyond `workers` (the newest): to be replaced
    std::vector<unsigned> retire;      // replaced workers no longer needed for capacity
    std::vector<unsigned> spawn;       // empty slots to start a worker in
    bool reload_complete = false;      // a reload's new workers all serve, the old are retiring
};
SlotPlan plan_slots(std::span<const WorkerSlot> slots, unsigned workers, bool reloading);

// The fork seam. Before the fork WorkerLives resets the slot's record, lane tallies and inbox
// and fills in `setup`. The child keeps: the pool segment (its record, its inbox ring, the
// session table) and the lane board, mapped before the fork; no session segment (each is kept
// out of children, SharedSegment::keep_out_of_children: a worker maps the sessions it serves
// from descriptors it asks for on its channel); descriptors 0-2, the workers' doorbell as 3 and
// its end of the channel as 4, every other one closed; and a copy-on-write image of the heap and
// the loaded libraries. It unblocks signals, sets PDEATHSIG, runs run_worker() and never returns.
// The parent records the pid and keeps its end of the channel, which the caller watches.
struct ForkedWorker {
    pid_t pid = 0;
    UniqueFd channel;
};
Result<ForkedWorker> fork_worker(WorkerSetup setup, int doorbell_fd);

class WorkerSlots {
public:
    explicit WorkerSlots(unsigned slots, std::uint64_t seed);

    unsigned size() const { return static_cast<unsigned>(slots_.size()); }
    WorkerSlot& operator[](unsigned slot) { return slots_[slot]; }
    const WorkerSlot& operator[](unsigned slot) const { return slots_[slot]; }
    std::span<WorkerSlot> all() { return slots_; }
    std::span<const WorkerSlot> all() const { return slots_; }
    // The slot of the worker with `pid`, or -1.
    int find(pid_t pid) const;
    // Live workers that have reported ready (members or not).
    unsigned ready_workers() const;
    bool any_live() const;

    // A fresh slot for a new worker of configuration `generation`: its recycling point (max_jobs
    // with jitter, so workers started together do not recycle together) and, with cpu_affinity
    // "spread", the CPU fewest members use.
    WorkerSlot& renew(unsigned slot, const PoolConfig& config, std::uint64_t generation);
    void record_exit(unsigned slot, std::string how) { last_exits_[slot] = std::move(how); }
    const std::string& last_exit(unsigned slot) const { return last_exits_[slot]; }

    // Whether the kernel's OOM killer struck in our cgroup since the last call: a worker dead of
    // SIGKILL nobody sent is then reported as out of memory.
    bool oom_kill_since_last_asked() { return oom_kills_.changed(); }

    RespawnPolicy& respawn() { return respawn_; }
    const RespawnPolicy& respawn() const { return respawn_; }
    // No worker starts before this (the back-off after failed initialisations).
    std::int64_t next_spawn_ns = 0;

private:
    std::vector<WorkerSlot> slots_;
    std::vector<std::string> last_exits_;  // how each slot's previous worker ended
    RespawnPolicy respawn_;
    OomKillCounter oom_kills_;
    std::mt19937_64 random_;
    std::vector<int> allowed_cpus_;  // where workers may be pinned (cpu_affinity "spread")
};

}  // namespace warmpool
