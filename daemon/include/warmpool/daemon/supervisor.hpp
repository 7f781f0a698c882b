// Supervisor: the pool's single-threaded control process, and its state machine.
//
//   starting --all workers ready--> running --SIGTERM/stop--> stopping --all workers gone--> done
//      |                              |  ^                        ^
//      |              SIGHUP/reload   |  | new workers ready      |
//      |              (new workers    v  | (old ones retire)      |
//      |              start)        running, reloading            |
//      +--a worker's initialisation fails: exit non-zero ---------+ (immediately)
//
// Worker slots have a life cycle of their own (see WorkerSlot): while running, the supervisor
// keeps `workers` members alive, replacing a dead one at once (or after a back-off if workers
// keep failing to initialise); a worker due for recycling (max_jobs, max_rss) or reload keeps
// serving until its replacement is ready, then retires, so capacity never drops.
//
// One epoll loop watches the control and status sockets, client connections, a signalfd, a
// periodic timerfd, the doorbell eventfd that workers ring and each session's own doorbell that
// its client rings when the supervisor has announced it is going to sleep, and each worker's
// channel, over which it asks for the descriptors of shared memory it needs (nothing of the
// pool's shared memory has a name: supervisor_descriptors.cpp hands it out). Between events it pumps: moves jobs from the sessions'
// submit rings into its queues, hands them to workers' inboxes, and notes finished jobs. It is
// the only process that knows every job in flight, and the only one that forks. It never
// blocks on a client or a worker.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "warmpool/common/adaptive_spin.hpp"
#include "warmpool/common/protocol.hpp"
#include "warmpool/common/shared_segment.hpp"
#include "warmpool/common/shm_layout.hpp"
#include "warmpool/common/sys_result.hpp"
#include "warmpool/common/unique_fd.hpp"
#include "warmpool/common/unix_socket.hpp"
#include "warmpool/daemon/cpu_placement.hpp"
#include "warmpool/daemon/dispatch_policy.hpp"
#include "warmpool/daemon/fifo.hpp"
#include "warmpool/daemon/job_fate.hpp"
#include "warmpool/daemon/job_queue.hpp"
#include "warmpool/daemon/oom_kill_counter.hpp"
#include "warmpool/daemon/outbox.hpp"
#include "warmpool/daemon/pending_job.hpp"
#include "warmpool/daemon/pool_config.hpp"
#include "warmpool/daemon/respawn_policy.hpp"
#include "warmpool/error_kind.hpp"

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
    // Which lane job a worker record describes: a session's post, by its ticket.
    struct LaneJobKey {
        std::uint32_t session_slot = 0;
        std::uint64_t generation = 0;
        std::uint64_t ticket = 0;
        bool operator==(const LaneJobKey&) const = default;
    };
    static LaneJobKey lane_job_key(const WorkerRecord& rec);

    // One of the pool's worker slots. A slot's worker is a member (counted towards `workers`),
    // being replaced (`replace_reason` set: it serves until its replacement is ready), or
    // retiring (takes no new jobs and exits once its inbox is done).
    struct WorkerSlot {
        pid_t pid = 0;
        bool ever_ready = false;
        bool retiring = false;
        std::string replace_reason;       // "max_jobs", "max_rss", "reload"
        std::uint64_t config_generation = 0;
        std::uint64_t recycle_after = 0;  // jobs before recycling (max_jobs with jitter); 0: never
        std::int64_t started_ns = 0;
        int cpu = -1;                     // the CPU it is pinned to; -1: none
        std::uint64_t dispatched = 0;     // inbox records written
        std::uint64_t exclusive_held = 0;  // exclusive jobs among in_flight
        std::int64_t last_completion_ns = 0;
        // A running job the supervisor is stopping (timeout, forced cancel): its inbox seq + 1,
        // the reply its client gets, and when SIGKILL follows the SIGTERM.
        std::uint64_t stop_seq = 0;
        LaneJobKey stop_lane;  // with stop_seq kLaneRunningSeq: which lane job
        ErrorKind stop_kind = ErrorKind::timeout;
        std::string stop_message;
        std::int64_t kill_at_ns = -1;
        RingProducer inbox;
        UniqueFd channel;  // our end of its socketpair (descriptor requests and offers)
        protocol::FrameReader channel_reader;
        std::vector<UniqueFd> channel_fds;  // received, not yet claimed by their frame
        Fifo<InFlightJob> in_flight;
        // Reply-ring bytes set aside per session slot for the replies of the jobs in in_flight.
        std::vector<std::uint64_t> reply_reserved;
        // Its lane jobs taken, and their outcomes, as far as they are in counters_.
        std::uint64_t lane_taken_seen = 0;
        std::uint64_t lane_counts_seen[kOutcomeSlots] = {};

        bool member() const { return pid > 0 && !retiring && replace_reason.empty(); }
        bool takes_jobs() const { return pid > 0 && !retiring && stop_seq == 0; }
    };

    struct Session {
        bool used = false;
        bool closing = false;
        int fd = -1;  // the control connection (owned by connections_)
        std::uint64_t generation = 0;
        PeerCredentials peer;
        std::string client_name;
        std::int64_t connected_ns = 0;
        SharedSegment segment;  // keeps its memfd: workers ask for it
        SessionHeader* header = nullptr;
        UniqueFd doorbell;      // this session's eventfd: only its client rings it
        // Blob memfds (protocol.hpp: BlobOffer, ResultOffer), kept for the other side to ask for
        // until their producer retires them or the session ends.
        std::unordered_map<std::uint64_t, UniqueFd> argument_blobs;  // the client's, by object
        struct ResultBlob {
            pid_t worker = 0;
            std::uint64_t object = 0;
            UniqueFd fd;
            bool given = false;  // the client has its own copy
        };
        std::vector<ResultBlob> result_blobs;
        RingConsumer submit;
        RingProducer control;
        JobQueue queue;
        // The function of the last job drained, so a stream of calls of one function looks its
        // run-time statistics up once.
        std::string last_function;
        FunctionStats* last_stats = nullptr;
        std::deque<std::string> control_backlog;  // replies waiting for control-ring space
        std::uint64_t in_flight = 0;              // jobs in workers' inboxes
        std::uint64_t lane_posted_seen = 0;       // lane word seen posted at the last tick, or 0
        std::uint64_t submitted = 0;
    };

    struct Connection {
        UniqueFd fd;
        protocol::FrameReader reader;
        PeerCredentials peer;
        std::vector<gid_t> groups;  // supplementary, as the kernel recorded them at connect
        int session = -1;  // slot once the Hello is accepted
        bool status = false;  // a status-socket connection
        std::string status_request;
        std::int64_t accepted_ns = 0;
        std::vector<UniqueFd> passed_fds;  // received, not yet claimed by their frame
        // A one-answer connection (status, admin, refusal) whose answer is going out: nothing
        // more is read from it, and it closes once the answer is out or overdue.
        bool answering = false;
        Outbox outbox;
        std::string close_reason;
    };

    struct Counters {
        std::uint64_t submitted = 0;
        std::uint64_t completed = 0;
        std::uint64_t failed[kOutcomeSlots] = {};
        std::uint64_t dropped = 0;  // of clients that left
        std::uint64_t retried = 0;  // attempts after a crash
        std::uint64_t worker_exits = 0;
        std::uint64_t worker_crashes = 0;  // died while serving, not on purpose
        std::uint64_t failed_inits = 0;
        std::uint64_t recycled = 0;
        std::uint64_t timeouts = 0;  // running jobs stopped at their time limit
        std::uint64_t reloads = 0;
        std::uint64_t direct = 0;  // jobs that went by lane, straight from client to worker
    };


    // Set-up
    Status check_runtime_dir() const;
    Status take_lock();
    void clean_leftovers();
    Status create_pool_segment();

    // Lanes (supervisor_lanes.cpp)
    Status create_lane_board();
    void update_lanes_open();
    void publish_session(unsigned slot, bool active);
    LaneOutcome& lane_outcome(unsigned slot) const;
    Lane& lane(const Session& s) const;
    void count_lane_outcomes(unsigned slot);
    std::uint64_t lane_jobs_running(unsigned slot) const;
    void settle_lane_job(unsigned slot, const std::string& how);
    bool any_worker_watching() const;
    void take_posted_lanes(std::int64_t now);
    void take_stale_lane_posts(std::int64_t now);
    bool take_off_lane(Session& s, std::uint64_t word, JobRecord& record, std::string& payload);
    void take_lane_post(Session& s, unsigned slot, std::uint64_t word, std::int64_t now);
    void cancel_lane_job(Session& s, std::uint64_t job_id, bool force);
    std::string lane_job_function(unsigned slot) const;
    void check_recycling(unsigned slot);
    // Validates the job just put at the back of s.queue and counts it, or answers and removes it.
    void accept_submission(Session& s, int slot, std::int64_t now);
    Status create_event_sources();
    Status resolve_access();

    // The loop
    // One turn of the work loop at time `now` (one clock reading serves the whole turn).
    bool pump(std::int64_t now);
    void arm_wake_flags(bool armed);
    void poll_events(int timeout_ms);
    void handle_signal();
    void handle_timer();
    void accept_connections(int listen_fd, bool status);
    void handle_connection_guarded(int fd);
    void handle_connection(int fd);
    void close_connection(int fd, const std::string& why);
    // Sends `bytes` as the peer takes them, then closes the connection (see Connection::answering).
    void answer_and_close(Connection& conn, std::string bytes, const std::string& why);
    void continue_answer(int fd);
    // Out of descriptors: accept and refuse one waiting peer with the spare descriptor, or stop
    // watching the listening sockets until the next tick.
    void accept_out_of_descriptors(int listen_fd);
    void watch_listeners(bool watch);

    // Descriptors of shared memory (supervisor_descriptors.cpp)
    Status open_worker_channel(unsigned slot, UniqueFd ours);
    void handle_worker_channel(unsigned slot);
    void on_worker_frame(unsigned slot, const protocol::Frame& frame);
    void answer_worker_want(unsigned slot, const protocol::WorkerWant& want);
    // Handles a client's blob_* frame; false if it broke the protocol (the caller closes it).
    bool on_blob_frame(Connection& conn, Session& session, const protocol::Frame& frame, std::string& why);
    Result<UniqueFd> session_fd_for_worker(unsigned slot, const protocol::WorkerWant& want);
    void forget_results_of(pid_t worker);
    Session* live_session(std::uint32_t slot, std::uint64_t generation);

    // Python jobs, as far as the supervisor (which runs no Python) knows them (supervisor_python.cpp)
    void on_function_settings(unsigned slot, const protocol::FunctionSettings& settings);
    // The settings of `function`: its [functions.NAME] section, else what the workers' Python
    // declared for it, else the pool's defaults.
    FunctionConfig function_settings(std::string_view function) const;
    // SessionTrust bits for a session of `peer` (python.pickle).
    std::uint32_t session_trust(const PeerCredentials& peer) const;
    void republish_trust();

    // Sessions
    void on_frame(Connection& conn, const protocol::Frame& frame);
    void open_session(Connection& conn, const protocol::Hello& hello);
    void handle_cancel(Session& session, const protocol::Cancel& cancel);
    void handle_admin(Connection& conn, const protocol::Admin& admin);
    void begin_close_session(int slot, const std::string& why);
    void finish_closed_sessions();
    bool may_queue_more(const Session& session) const;
    bool drain_submit_ring(Session& session, int slot, std::int64_t now);
    bool validate(const JobRecord& record, std::span<const std::byte> payload, std::string& why) const;
    void reply_error(Session& session, const JobRecord& record, ErrorKind kind, const std::string& message,
                     std::uint32_t items);
    bool flush_control(Session& session);

    // Workers
    Status spawn_worker(unsigned slot);
    bool collect_completions(std::int64_t now);
    bool dispatch(std::int64_t now);
    // The run-time estimate of the job's function (singles and batches apart).
    const RunEstimate& estimate(const PendingJob& job) const;
    bool exclusive(const PendingJob& job, std::int64_t timeout_ns) const;
    // The reply-ring room a job's reply may take (dispatch_policy.hpp).
    std::uint64_t reply_bytes(const JobRecord& record) const;
    std::int64_t effective_timeout_ns(const PendingJob& job) const;
    FunctionStats& stats_for(Session& session, const JobRecord& record);
    void count_outcome(unsigned slot, std::uint64_t seq);
    void reap_children();
    void on_worker_exit(unsigned slot, int wait_status);
    void resolve_jobs_of_dead_worker(unsigned slot, const std::string& how);
    WorkerRecord& record(unsigned slot) const;
    // How far the worker in `worker` has published into its reply ring of the session (ReplyTail).
    std::uint64_t reply_tail(unsigned worker, unsigned session, std::uint64_t generation) const;
    WorkerState worker_state(unsigned slot) const;
    void maintain_workers();
    void check_startup_complete();
    void supervise_running_jobs();
    std::int64_t next_supervision_ns() const;
    // Stops the job the worker runs, if it still is `running` (its running_seq).
    void stop_running_job(unsigned slot, std::uint64_t running, ErrorKind kind, const std::string& message,
                          int signal);
    void expire_queued_deadlines();
    void begin_reload(const std::string& why);
    void abandon_reload(const std::string& why);

    // Stopping
    void begin_stop(const std::string& why);
    void stop_tick();

    // Status
    std::string status_json() const;
    std::string status_prometheus() const;
    void answer_status(Connection& conn);

    PoolConfig config_;
    ConfigLoader reload_config_;
    State state_ = State::starting;
    int exit_code_ = 0;
    uid_t uid_ = 0;
    gid_t group_ = static_cast<gid_t>(-1);
    std::vector<uid_t> allowed_uids_;
    std::vector<gid_t> allowed_gids_;
    std::int64_t started_ns_ = 0;
    std::int64_t started_wall_ns_ = 0;
    std::int64_t stop_deadline_ns_ = 0;
    std::uint64_t pool_generation_ = 0;
    AdaptiveSpin idle_spin_;             // whether run() spins before it sleeps
    std::vector<int> allowed_cpus_;      // where workers may be pinned (cpu_affinity "spread")
    std::uint64_t session_counter_ = 0;

    std::string control_path_;
    std::string status_path_;
    UniqueFd lock_fd_;
    UniqueFd control_listen_;
    UniqueFd status_listen_;
    UniqueFd epoll_;
    UniqueFd signal_fd_;
    UniqueFd timer_fd_;
    UniqueFd doorbell_;  // eventfd rung by workers (each session has its own for its client)
    // Held open so that, out of descriptors, one can be freed to accept and refuse a waiting peer
    // (a listening socket with a backlog would otherwise wake the loop for ever).
    UniqueFd spare_fd_;
    bool listeners_paused_ = false;
    std::int64_t last_fd_warning_ns_ = 0;
    std::int64_t last_trim_ns_ = 0;

    PoolLayout pool_layout_{};
    SessionLayout session_layout_{};
    SharedSegment pool_segment_;
    PoolHeader* pool_header_ = nullptr;

    std::vector<WorkerSlot> workers_;
    std::vector<std::string> last_exits_;  // how each slot's previous worker ended
    std::vector<Session> sessions_;
    // One past the highest session slot in use: the loop looks at no slot beyond it. (A new
    // session takes the lowest free slot, so this stays close to the number of clients.)
    unsigned sessions_end_ = 0;
    std::unordered_map<int, Connection> connections_;
    QueueTotals queue_totals_;  // kept by the sessions' JobQueues
    unsigned dispatch_cursor_ = 0;
    unsigned worker_cursor_ = 0;
    // dispatch()'s working memory, kept between passes so that a pass allocates nothing.
    std::vector<WorkerCandidate> pass_workers_;
    struct PassSession {
        unsigned slot;  // in sessions_
        unsigned row;   // its row of pass_room_
    };
    std::vector<PassSession> pass_sessions_;    // sessions with queued jobs, in turn order
    std::vector<std::uint64_t> pass_room_;      // [row][worker]: reply_room_bytes, or unknown
    std::vector<unsigned char> pass_touched_;   // workers given jobs: publish and wake once
    SharedSegment lane_board_segment_;
    LaneBoard* lane_board_ = nullptr;
    std::uint64_t reply_room_reserve_ = 0;  // reply_room_bytes()'s allowance: a wrap and a lane reply
    RespawnPolicy respawn_;
    std::int64_t next_spawn_ns_ = 0;  // back-off after failed initialisations
    std::uint64_t config_generation_ = 1;
    std::optional<PoolConfig> previous_config_;  // during a reload, to return to if it fails
    std::unordered_map<std::string, FunctionStats> functions_;  // bounded: names come from clients
    // Settings the workers' Python functions declared (protocol::FunctionSettings), from workers of
    // configuration generation declared_generation_: a reload's new workers replace them.
    std::map<std::string, FunctionConfig, std::less<>> declared_functions_;
    std::uint64_t declared_generation_ = 0;
    FunctionStats untracked_function_;
    std::mt19937_64 random_;
    OomKillCounter oom_kills_;
    Counters counters_;
    bool sockets_removed_ = false;
    int descriptor_nesting_ = 0;  // handle_worker_channel() calls under way (supervisor_descriptors.cpp)
};

}  // namespace warmpool
