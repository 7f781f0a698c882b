// Supervisor: the pool's single-threaded control process: it owns the units below and runs the
// one loop that drives them. Its state machine:
//
//   starting --all workers ready--> running --SIGTERM/stop--> stopping --all workers gone--> done
//      |                              |  ^                        ^
//      |              SIGHUP/reload   |  | new workers ready      |
//      |              (new workers    v  | (old ones retire)      |
//      |              start)        running, reloading            |
//      +--a worker's initialisation fails: exit non-zero ---------+ (immediately)
//
// The units, each in its own header, own their state; calls go from the loop down to them:
//   SessionTable    connected clients' sessions, their memory, queues and control replies
//   Dispatcher      which worker holds which job; placing queued jobs in inboxes
//   WorkerSlots     worker processes: spawn (the fork seam), readiness, replacement plan
//   Lanes           the lane board and the lane jobs that pass the supervisor by
//   FunctionCatalog per-function settings and run-time estimates
//   ConnectionTable the listening sockets and connections; requests come up as values
//   AccessPolicy    who may connect, administer, send pickle
//   PoolCounters    the totals status reports; StatusReport formats a snapshot of it all
//
// One epoll loop watches the control and status sockets, client connections, a signalfd, a
// periodic timerfd, the doorbell eventfd that workers ring and each session's own doorbell that
// its client rings when the supervisor has announced it is going to sleep, and each worker's
// channel, over which it asks for the descriptors of shared memory it needs (nothing of the
// pool's shared memory has a name: supervisor_descriptors.cpp hands it out). Between events it
// pumps: moves jobs from the sessions' submit rings into their queues, hands them to workers'
// inboxes, and notes finished jobs. It is the only process that knows every job in flight, and
// the only one that forks. It never blocks on a client or a worker: answers to status and admin
// requests go out through a per-connection Outbox as the peer takes them.
//
// Where its methods live: supervisor.cpp (set-up, the loop, reload and stop),
// supervisor_workers.cpp (worker lives, deaths, time limits), supervisor_sessions.cpp
// (connections, sessions, submissions), supervisor_lanes.cpp, supervisor_descriptors.cpp,
// supervisor_status.cpp.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "warmpool/common/adaptive_spin.hpp"
#include "warmpool/common/pool_memory.hpp"
#include "warmpool/common/protocol.hpp"
#include "warmpool/common/shared_segment.hpp"
#include "warmpool/common/sys_result.hpp"
#include "warmpool/common/unique_fd.hpp"
#include "warmpool/common/unix_socket.hpp"
#include "warmpool/daemon/access_policy.hpp"
#include "warmpool/daemon/connection_table.hpp"
#include "warmpool/daemon/dispatcher.hpp"
#include "warmpool/daemon/function_catalog.hpp"
#include "warmpool/daemon/job_queue.hpp"
#include "warmpool/daemon/lanes.hpp"
#include "warmpool/daemon/oom_kill_counter.hpp"
#include "warmpool/daemon/pool_config.hpp"
#include "warmpool/daemon/pool_counters.hpp"
#include "warmpool/daemon/session_table.hpp"
#include "warmpool/daemon/status_report.hpp"
#include "warmpool/daemon/worker_slots.hpp"

namespace warmpool {

class Supervisor {
public:
    enum class State { starting, running, stopping, done };

    // `reload` re-creates the configuration on SIGHUP or `warmpool reload`; without one a
    // reload restarts the workers with the current configuration.
    explicit Supervisor(PoolConfig config, ConfigLoader reload = {});
    ~Supervisor();
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
    using Connection = ConnectionTable::Connection;
    // The descriptors the loop waits on besides the connections, and the socket paths.
    struct Endpoints {
        std::string control_path;
        std::string status_path;
        UniqueFd lock;
        UniqueFd epoll;
        UniqueFd signals;
        UniqueFd timer;
        UniqueFd doorbell;  // eventfd rung by workers (each session has its own for its client)
        bool sockets_removed = false;
    };

    // Set-up and lifecycle (supervisor.cpp)
    Status check_runtime_dir() const;
    Status take_lock();
    Status create_pool_segment();
    Status create_event_sources();
    bool pump(std::int64_t now);
    void arm_wake_flags(bool armed);
    void poll_events(int timeout_ms);
    void handle_signal();
    void handle_timer();
    void begin_reload(const std::string& why);
    void abandon_reload(const std::string& why);
    void begin_stop(const std::string& why);
    void stop_tick();
    void update_lanes_open();

    // Workers (supervisor_workers.cpp)
    Status spawn_worker(unsigned slot);
    void note_if_ready(unsigned slot, std::int64_t now);
    void check_recycling(unsigned slot);
    void maintain_workers();
    void reap_children();
    void on_worker_exit(unsigned slot, int wait_status);
    void resolve_jobs_of_dead_worker(unsigned slot, const WorkerDeath& death);
    void supervise_running_jobs();
    std::int64_t next_supervision_ns() const;
    void stop_running_job(unsigned slot, std::uint64_t running, ErrorKind kind, const std::string& message,
                          int signal);
    void expire_queued_deadlines();
    void handle_cancel(SessionSlot& session, const protocol::Cancel& cancel);
    void on_function_settings(unsigned slot, const protocol::FunctionSettings& settings);

    // Connections and sessions (supervisor_sessions.cpp)
    void handle_connection_guarded(int fd);
    void handle_connection(int fd);
    void on_frame(Connection& conn, const protocol::Frame& frame);
    void open_session(Connection& conn, const protocol::Hello& hello);
    void handle_admin(Connection& conn, const protocol::Admin& admin);
    // Sends `bytes` as the peer takes them, then closes the connection (Connection::answering).
    void answer_and_close(Connection& conn, std::string bytes, const std::string& why);
    void continue_answer(int fd);
    void close_connection(int fd, const std::string& why);
    void begin_close_session(unsigned slot, const std::string& why);
    bool drain_submit_ring(SessionSlot& session, std::int64_t now);
    // Validates the job just put at the back of the session's queue and counts it, or answers
    // and removes it.
    void accept_submission(SessionSlot& session, std::int64_t now);
    void reply_error(SessionSlot& session, const JobRecord& record, ErrorKind kind, const std::string& message,
                     std::uint32_t items);

    // Lanes (supervisor_lanes.cpp)
    void settle_lane_job(unsigned slot, const WorkerDeath& death);
    void take_posted_lanes(std::int64_t now);
    void take_stale_lane_posts(std::int64_t now);
    void take_lane_post(SessionSlot& s, std::uint64_t word, std::int64_t now);
    void cancel_lane_job(SessionSlot& s, std::uint64_t job_id, bool force);
    std::string lane_job_function(unsigned slot) const;

    // Descriptors of shared memory (supervisor_descriptors.cpp)
    Status open_worker_channel(unsigned slot, UniqueFd ours);
    void handle_worker_channel(unsigned slot);
    void on_worker_frame(unsigned slot, const protocol::Frame& frame);
    void answer_worker_want(unsigned slot, const protocol::WorkerWant& want);
    // Handles a client's blob_* frame; false if it broke the protocol (the caller closes it).
    bool on_blob_frame(Connection& conn, SessionSlot& session, const protocol::Frame& frame, std::string& why);
    Result<UniqueFd> session_fd_for_worker(unsigned slot, const protocol::WorkerWant& want);
    void forget_results_of(pid_t worker);

    // Status (supervisor_status.cpp)
    StatusSnapshot status_snapshot() const;
    void answer_status(Connection& conn, const std::string& request);

    PoolConfig config_;
    ConfigLoader reload_config_;
    std::optional<PoolConfig> previous_config_;  // during a reload, to return to if it fails
    std::uint64_t config_generation_ = 1;
    State state_ = State::starting;
    int exit_code_ = 0;
    std::int64_t started_ns_ = 0;
    std::int64_t started_wall_ns_ = 0;
    std::int64_t stop_deadline_ns_ = 0;
    std::uint64_t pool_generation_ = 0;
    std::uint64_t session_counter_ = 0;
    AdaptiveSpin idle_spin_;  // whether run() spins before it sleeps
    AccessPolicy access_;
    Endpoints endpoints_;
    ConnectionTable connections_;
    SharedSegment pool_segment_;
    PoolMemory pool_;
    SessionLayout session_layout_{};
    QueueTotals queue_totals_;  // kept by the sessions' JobQueues
    FunctionCatalog functions_{config_};
    std::unique_ptr<SessionTable> sessions_;
    std::unique_ptr<Dispatcher> dispatcher_;
    std::unique_ptr<WorkerSlots> workers_;
    Lanes lanes_;
    PoolCounters counters_;
    OomKillCounter oom_kills_;
    // Housekeeping: when memory was last handed back, and how deep descriptor requests nest
    // (supervisor_descriptors.cpp).
    std::int64_t last_trim_ns_ = 0;
    int descriptor_nesting_ = 0;
};

}  // namespace warmpool
