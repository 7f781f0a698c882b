// WorkerScaler: carries out the pool's scaling mode (scaling_policy.hpp). On each of the
// supervisor's ticks it pictures the members (starting, busy, idle and since when), asks
// decide_scaling() and carries the decision out through WorkerLives: it sets the members
// WorkerLives keeps (wanted) and marks the idle members that retire (WorkerLives::scale_down).
// A retiring worker is the same as a recycled one once replaced: state `exiting`, no lane jobs,
// the dispatcher gives it nothing more, and it exits once its inbox is done, so no job is lost.
//
// It owns each slot's idle-since time (when its worker last held, ran or finished a job), the
// times of the workers it started in the last second (spawn_rate), the admin target
// (`warmpool scale N`) and the reason status shows. It reads the configuration, the slots, the
// dispatcher's holdings, the lanes and the queue totals, and changes none of them; it writes
// nothing in shared memory. The supervisor's one thread only.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "warmpool/common/pool_memory.hpp"
#include "warmpool/daemon/dispatcher.hpp"
#include "warmpool/daemon/job_queue.hpp"
#include "warmpool/daemon/lanes.hpp"
#include "warmpool/daemon/pool_config.hpp"
#include "warmpool/daemon/pool_lifecycle.hpp"
#include "warmpool/daemon/scaling_policy.hpp"
#include "warmpool/daemon/worker_lives.hpp"

namespace warmpool {

class WorkerScaler {
public:
    struct Views {
        const Dispatcher& dispatcher;
        const Lanes& lanes;
        const QueueTotals& queued;
        PoolMemory pool;
    };
    WorkerScaler(const PoolConfig& config, const PoolLifecycle& life, WorkerLives& lives, Views views);

    // While the pool runs and no reload is under way: decides and carries the decision out.
    WorkerLives::Event tick(std::int64_t now);
    // `warmpool scale N`, already checked against the limits (scale_refusal()).
    WorkerLives::Event scale_to(unsigned workers, std::int64_t now);
    // A reload is about to switch from `running` to `next`: the admin target is kept unless the
    // reload changes a setting it stands for (mode, workers, min_workers, max_workers), and the
    // members wanted are brought within the new limits.
    void on_reload(const PoolConfig& running, const PoolConfig& next);

    std::optional<unsigned> admin_target() const { return admin_target_; }
    const std::string& reason() const { return reason_; }

private:
    ScalingPicture picture(std::int64_t now);

    const PoolConfig& config_;
    const PoolLifecycle& life_;
    WorkerLives& lives_;
    Views views_;
    std::vector<pid_t> seen_pid_;                 // whose idle-since the slot's entry is
    std::vector<std::int64_t> idle_since_;        // when it last held, ran or finished a job
    std::vector<std::uint64_t> seen_jobs_done_;   // its jobs_done at the last look
    std::deque<std::int64_t> starts_;             // when the workers it started in the last second were
    std::optional<unsigned> admin_target_;
    std::string reason_;
};

}  // namespace warmpool
