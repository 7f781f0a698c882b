// WorkerLives: the lives of the pool's workers. It starts them (the fork, fork_worker()), notices
// them ready, replaces those due for recycling, keeps the members wanted serving (plan_slots(),
// worker_slots.hpp), retires the replaced, reaps the dead and carries out a death's consequences
// for the worker's jobs (decide_job_fate(), job_fate.hpp, through JobIntake::resolve_held_jobs()
// and Lanes::settle_dead_worker()) and for its replacement (the respawn back-off).
//
// It owns the WorkerSlots (with the respawn back-off, the OOM kills seen and how each slot's
// previous worker ended) and the worker processes themselves: whatever is still alive when it
// goes is killed and reaped. The JobStopper and the DescriptorBroker are lent the same slots (they
// write a slot's StopOrder and its channel). It drives the Dispatcher, JobIntake, the
// DescriptorBroker and the Lanes it is given, calls go down only; it reads the configuration and
// the PoolLifecycle and changes neither. Where the pool's life cycle must react (all workers
// ready, a worker that could not initialise, a reload that completed or failed) the call that
// found it returns an Event for the supervisor to carry out, and does nothing further of it.
//
// In shared memory (shm_layout.hpp: WorkerRecord) it resets a slot's record before a spawn, stores
// `starting` in it and the new worker's pid, sets `lanes_until_jobs` (the recycling point; 0 for
// a worker being replaced), stores `exiting` into a retiring worker's state (and rings its
// inbox_wake), and `empty` once it reaped it. The supervisor's one thread only.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "warmpool/common/pool_memory.hpp"
#include "warmpool/common/sys_result.hpp"
#include "warmpool/daemon/descriptor_broker.hpp"
#include "warmpool/daemon/dispatcher.hpp"
#include "warmpool/daemon/job_intake.hpp"
#include "warmpool/daemon/lanes.hpp"
#include "warmpool/daemon/pool_config.hpp"
#include "warmpool/daemon/pool_counters.hpp"
#include "warmpool/daemon/pool_lifecycle.hpp"
#include "warmpool/daemon/session_table.hpp"
#include "warmpool/daemon/worker_slots.hpp"
#include "warmpool/daemon/zygote.hpp"

namespace warmpool {

// How a child's wait status reads in the log and in status ("killed by signal 9 (SIGKILL)").
std::string describe_wait_status(int status);

class WorkerLives {
public:
    // What the pool's life cycle must do after a call (the supervisor carries it out).
    struct Event {
        enum class Kind {
            none,
            pool_ready,       // starting, and `workers` workers are ready: the pool runs
            init_failed,      // starting, and a worker could not initialise: the pool stops
            reload_failed,    // a worker of the reload's configuration could not initialise
            reload_complete,  // the reload's workers all serve, the old ones are retiring
        };
        Kind kind = Kind::none;
        std::string how;    // init_failed, reload_failed: how the worker ended
        int exit_code = 0;  // init_failed: 64 for a configuration error, else 2
    };

    struct Units {
        Dispatcher& dispatcher;
        JobIntake& intake;
        DescriptorBroker& broker;
        Lanes& lanes;
        SessionTable& sessions;
        PoolCounters& counters;
    };
    // `slots` is made before the units lent it; `doorbell_fd` is the eventfd workers ring.
    WorkerLives(std::unique_ptr<WorkerSlots> slots, const PoolConfig& config, const PoolLifecycle& life,
                PoolMemory pool, int doorbell_fd, Units units);
    ~WorkerLives();
    WorkerLives(const WorkerLives&) = delete;
    WorkerLives& operator=(const WorkerLives&) = delete;

    const WorkerSlots& slots() const { return *slots_; }
    const Zygote& zygote() const { return zygote_; }

    // Members it keeps serving (plan_slots' `workers`): at first initial_workers() of the
    // configuration (scaling_policy.hpp), then what the WorkerScaler sets.
    unsigned wanted() const { return wanted_; }
    void set_wanted(unsigned members) { wanted_ = members; }
    // The ready, idle member in `slot` is to retire (scaled down): with one member fewer wanted,
    // the next maintain_workers() orders it out.
    void scale_down(unsigned slot) { (*slots_)[slot].replace = ReplaceReason::scaled_down; }

    // The pool starts: its first wanted() workers, or, with `preload`, the zygote, which forks
    // them once it is ready (look_at_zygote).
    Status start_workers();
    // Starts a worker in the empty `slot`, with the configuration of life.config_generation:
    // forked by the zygote if it is ready for that configuration, else the plain way.
    Status spawn(unsigned slot);
    // Whether the zygote sent its ready message (it rings the doorbell after it): the workers
    // that waited for it are started.
    Event look_at_zygote();
    // Looks whether the live worker in `slot` reported ready since the last look; a replacement
    // ready lets the worker it replaces retire.
    Event note_if_ready(unsigned slot, std::int64_t now);
    // Marks the worker in `slot` for replacement if it did max_jobs jobs or grew past max_rss.
    Event check_recycling(unsigned slot);
    // While the pool runs, keeps wanted() members (plan_slots): starts replacements (after the
    // back-off, if initialisations keep failing), retires workers whose replacement is ready,
    // and sends surplus workers away.
    Event maintain_workers();
    // Reaps one child that ended, if any, and handles a worker's death (on_worker_exit). Nothing
    // when no child is left to reap.
    std::optional<Event> reap_one();
    // The worker in `slot` ended with `wait_status`: its jobs and lane job are settled, its
    // channel closed, and a replacement planned.
    Event on_worker_exit(unsigned slot, int wait_status);

    // A reload begins: every member is to be replaced, with no back-off.
    void replace_members_for_reload();
    // A reload is abandoned: new workers still initialising are killed, and the workers they
    // were to replace stay members.
    void keep_previous_workers();

private:
    WorkerSetup worker_setup(unsigned slot, int cpu) const;
    // With `preload`: rebuilds a zygote that died (after its back-off) or was built for another
    // configuration; without: stops one still running.
    void maintain_zygote(std::int64_t now);
    // The zygote became ready or died: the workers that waited for it start.
    Event after_zygote_change();

    std::unique_ptr<WorkerSlots> slots_;
    const PoolConfig& config_;
    const PoolLifecycle& life_;
    PoolMemory pool_;
    int doorbell_fd_;
    Units units_;
    Zygote zygote_;  // with `preload`; killed and reaped as it goes
    unsigned wanted_;
};

}  // namespace warmpool
