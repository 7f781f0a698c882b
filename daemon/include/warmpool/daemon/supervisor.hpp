// Supervisor: the pool's single-threaded control process. It owns the units below, runs the one
// loop that drives them, and carries out the pool's life cycle (PoolLifecycle: starting, running,
// reloading, stopping). It forks the workers (WorkerLives does, on its one thread; with
// `preload` it asks the zygote, zygote.hpp) and is the parent of every one,
// and the only one that knows every job in flight.
//
// The units, each in its own header, own their state; calls go from the loop down to them, and
// where a unit needs something back it returns a value (ClientService::Order,
// WorkerLives::Event, ...):
//   PoolEndpoints    the lock, the socket names, the epoll set, signals, timer, doorbell
//   ClientService    connections and what clients ask: sessions opened, cancels, blob frames
//   SessionTable     connected clients' sessions, their memory, queues and control replies
//   JobIntake        jobs into the queues (submit rings, lanes), and out without a worker
//   Dispatcher       which worker holds which job; placing queued jobs in inboxes
//   JobStopper       time limits and forced cancels of running jobs
//   WorkerLives      the workers' lives: spawning, readiness, recycling, retiring, reaping;
//                    it owns the WorkerSlots (the fork seam, the replacement plan)
//   DescriptorBroker the descriptors of shared memory, and the workers' channels
//   Lanes            the lane board, and lane jobs that pass the supervisor by
//   FunctionCatalog  per-function settings and run-time estimates
//   AccessPolicy     who may connect, administer, send pickle
//   PoolCounters     the totals status reports; StatusReport formats a snapshot of it all
//   ServiceNotifier  what systemd is told: ready, reloading, stopping, status, watchdog pings
//
// One epoll loop watches the listening sockets and client connections, a signalfd, a periodic
// timerfd, the doorbell eventfd that workers ring, each session's own doorbell that its client
// rings when the supervisor has announced it is going to sleep, and each worker's channel.
// Between events it pumps: moves jobs from the sessions' submit rings into their queues, hands
// them to workers' inboxes, and notes finished jobs. It never blocks on a client or a worker.
//
// Where its methods live: supervisor.cpp (set-up, the loop, the life cycle: ready, reload and
// stop), supervisor_status.cpp.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "warmpool/common/adaptive_spin.hpp"
#include "warmpool/common/pool_memory.hpp"
#include "warmpool/common/protocol.hpp"
#include "warmpool/common/shared_segment.hpp"
#include "warmpool/common/sys_result.hpp"
#include "warmpool/daemon/access_policy.hpp"
#include "warmpool/daemon/client_service.hpp"
#include "warmpool/daemon/descriptor_broker.hpp"
#include "warmpool/daemon/dispatcher.hpp"
#include "warmpool/daemon/function_catalog.hpp"
#include "warmpool/daemon/job_intake.hpp"
#include "warmpool/daemon/job_queue.hpp"
#include "warmpool/daemon/job_stopper.hpp"
#include "warmpool/daemon/job_timings.hpp"
#include "warmpool/daemon/lanes.hpp"
#include "warmpool/daemon/pool_config.hpp"
#include "warmpool/daemon/pool_counters.hpp"
#include "warmpool/daemon/pool_endpoints.hpp"
#include "warmpool/daemon/pool_lifecycle.hpp"
#include "warmpool/daemon/service_notifier.hpp"
#include "warmpool/daemon/session_table.hpp"
#include "warmpool/daemon/status_report.hpp"
#include "warmpool/daemon/worker_lives.hpp"
#include "warmpool/daemon/worker_scaler.hpp"

namespace warmpool {

class Supervisor final : private DescriptorBroker::Peers {
public:
    // `reload` re-creates the configuration on SIGHUP or `warmpool reload`; without one a
    // reload restarts the workers with the current configuration.
    explicit Supervisor(PoolConfig config, ConfigLoader reload = {});
    Supervisor(const Supervisor&) = delete;
    Supervisor& operator=(const Supervisor&) = delete;

    // Checks what the configuration names: users and groups, the job library, the runtime
    // directory. An error here is a configuration error (warmpoold exits 64: do not restart).
    Status prepare();
    // After prepare(): takes the pool's lock, cleans leftovers of a dead predecessor, creates
    // the sockets and the pool segment, and forks the workers.
    Status start();
    // Runs the event loop until the pool has stopped. Returns the process exit code.
    int run();

private:
    // The loop (supervisor.cpp)
    bool pump(std::int64_t now);
    void arm_wake_flags(bool armed);
    void poll_events(int timeout_ms);
    void serve_client(int fd);
    void on_signals();
    void on_timer();

    // The pool's life cycle (supervisor.cpp)
    void begin_reload(const std::string& why);
    void abandon_reload(const std::string& why);
    void begin_stop(const std::string& why);
    void stop_tick();
    void update_lanes_open();
    // What WorkerLives found the pool's life cycle must do.
    void carry_out(const WorkerLives::Event& event);

    // Asked of us by the DescriptorBroker (supervisor.cpp)
    void read_client(int fd) override;
    void declared_functions(unsigned slot, const protocol::FunctionSettings& settings) override;

    // Status (supervisor_status.cpp)
    StatusSnapshot status_snapshot() const;
    std::string status_answer(const std::string& request);
    ServiceFigures service_figures() const;  // for the service manager's status line

    PoolConfig config_;
    ConfigLoader reload_config_;
    // Made with the supervisor, before anything forks: it takes NOTIFY_SOCKET and WATCHDOG_* out
    // of the environment.
    ServiceNotifier notifier_ = ServiceNotifier::from_environment();
    PoolLifecycle life_;
    AccessPolicy access_;
    PoolEndpoints endpoints_;
    SharedSegment pool_segment_;
    PoolMemory pool_;
    QueueTotals queue_totals_;  // kept by the sessions' JobQueues
    FunctionCatalog functions_{config_};
    Lanes lanes_;
    PoolCounters counters_;
    // Made in start(), once the pool's memory exists; destroyed in reverse order.
    std::unique_ptr<JobTimings> timings_;  // collected in on_timer() and before each status answer
    std::unique_ptr<SessionTable> sessions_;
    std::unique_ptr<Dispatcher> dispatcher_;
    std::unique_ptr<JobIntake> intake_;
    std::unique_ptr<JobStopper> stopper_;
    std::unique_ptr<DescriptorBroker> broker_;
    std::unique_ptr<ClientService> clients_;
    // Last, so that it goes first: the workers are killed before anything they use goes. (The
    // stopper and the broker, lent its WorkerSlots, do not touch them as they go.)
    std::unique_ptr<WorkerLives> lives_;
    std::unique_ptr<WorkerScaler> scaler_;  // scaling mode, admin target (worker_scaler.hpp)
    AdaptiveSpin idle_spin_;      // whether run() spins before it sleeps
    std::int64_t last_trim_ns_ = 0;  // when memory was last handed back to the system
};

}  // namespace warmpool
