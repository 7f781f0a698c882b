// The supervisor's set-up, its loop, and its life cycle (ready, reload, stop): supervisor.hpp.
#include "warmpool/daemon/supervisor.hpp"

#include <malloc.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <random>

#include "epoll_tags.hpp"
#include "warmpool/common/clock.hpp"
#include "warmpool/common/spin_relax.hpp"
#include "warmpool/daemon/job_library.hpp"

namespace warmpool {

namespace {

using namespace epoll_tag;

constexpr std::int64_t kIdleSpinNs = 50'000;  // keep pumping this long after the last work
constexpr std::int64_t kTickMs = 200;         // housekeeping timer
// How often the supervisor gives the memory it freed back to the system.
constexpr std::int64_t kTrimIntervalNs = 5'000'000'000;
// Error replies waiting for room in one session's control ring before the session is closed.
constexpr std::size_t kMaxControlBacklog = 65536;

// The pool segment, for the supervisor and its workers only: they inherit the mapping across
// fork, and no descriptor of it ever leaves the supervisor.
Result<PoolMemory> create_pool_segment(const PoolConfig& config, std::uint64_t generation, SharedSegment& segment) {
    const PoolLayout layout{config.worker_slots(), config.inbox_ring_bytes, config.max_sessions};
    auto created = SharedSegment::create(segment_label(config.name, "pool"), layout.total_bytes());
    if (!created) return created.error();
    segment = std::move(created.value());
    segment.close_fd();
    PoolMemory pool{segment.data(), layout};
    pool.construct();
    PoolHeader& header = pool.header();
    header.magic = kPoolMagic;
    header.layout_version = kLayoutVersion;
    header.worker_slots = layout.worker_slots;
    header.generation = generation;
    header.inbox_ring_bytes = layout.inbox_ring_bytes;
    header.supervisor_pid = getpid();
    return pool;
}

}  // namespace

Supervisor::Supervisor(PoolConfig config, ConfigLoader reload)
    : config_(std::move(config)), reload_config_(std::move(reload)) {}

// ---------------------------------------------------------------------------------------------
// Set-up

Status Supervisor::prepare() {
    auto access = AccessPolicy::resolve(config_, ::geteuid());
    if (!access) return access.error();
    access_ = std::move(access.value());
    // Fail early and clearly on a job library that cannot even be loaded (tried in a child:
    // the supervisor never loads it, check_job_library()).
    if (auto st = check_job_library(config_.jobs_library); !st) return st;
    return check_runtime_dir(config_.runtime_dir, ::geteuid());
}

Status Supervisor::start() {
    life_.started_ns = monotonic_ns();
    life_.started_wall_ns = wall_ns();
    const std::uint64_t generation = std::random_device{}() ^
                                     (static_cast<std::uint64_t>(std::random_device{}()) << 32) ^
                                     static_cast<std::uint64_t>(life_.started_wall_ns);

    // The watchdog is fed from the housekeeping timer's handler, so it ticks often enough for it.
    const std::int64_t tick_ms = housekeeping_tick_ms(kTickMs, notifier_.watchdog_interval_ns());
    if (auto s = endpoints_.open(config_.runtime_dir, config_.name, tick_ms); !s) return s;
    auto pool = create_pool_segment(config_, generation, pool_segment_);
    if (!pool) return pool.error();
    pool_ = pool.value();
    timings_ = std::make_unique<JobTimings>(config_.worker_slots());
    if (auto s = lanes_.create(config_.name, config_.worker_slots()); !s) return s;
    update_lanes_open();

    const SessionLayout session_layout{config_.worker_slots(), config_.submit_ring_bytes, config_.control_ring_bytes,
                                       config_.reply_ring_bytes};
    sessions_ = std::make_unique<SessionTable>(config_.max_sessions, pool_, session_layout, &queue_totals_);
    // The slots are WorkerLives' own; the stopper (stop orders) and the broker (channels) are lent them.
    auto slots = std::make_unique<WorkerSlots>(config_.worker_slots(), generation);
    dispatcher_ = std::make_unique<Dispatcher>(config_, pool_, config_.max_sessions);
    intake_ = std::make_unique<JobIntake>(config_, *sessions_, functions_, counters_, queue_totals_);
    stopper_ = std::make_unique<JobStopper>(config_, pool_, *slots, *dispatcher_, counters_);
    DescriptorBroker::Peers& peers = *this;
    broker_ = std::make_unique<DescriptorBroker>(endpoints_.epoll(), *slots, *sessions_, functions_, peers);
    lives_ = std::make_unique<WorkerLives>(
        std::move(slots), config_, life_, pool_, endpoints_.doorbell(),
        WorkerLives::Units{*dispatcher_, *intake_, *broker_, lanes_, *sessions_, counters_});
    scaler_ = std::make_unique<WorkerScaler>(config_, life_, *lives_,
                                             WorkerScaler::Views{*dispatcher_, lanes_, queue_totals_, pool_});
    clients_ = std::make_unique<ClientService>(
        config_, access_, endpoints_.epoll(), generation,
        ClientService::Units{*sessions_, *intake_, *stopper_, *broker_, lanes_, counters_});

    // With users or groups allowed besides the socket's own, anyone may connect: the peer's
    // credentials (SO_PEERCRED) are the one decision, and a session's memory is its own anyway.
    const bool others_allowed = !config_.allow_users.empty() || !config_.allow_groups.empty();
    const unsigned socket_mode = others_allowed ? 0666u : config_.socket_mode;
    if (auto s = clients_->connections().listen(endpoints_.epoll(), endpoints_.control_path(),
                                                endpoints_.status_path(), socket_mode, access_.socket_group());
        !s) {
        return s;
    }

    spdlog::info("pool '{}' starting {} workers (scaling {}, job library {}, runtime dir {})", config_.name,
                 lives_->wanted(), config_.scaling_mode, config_.jobs_library, config_.runtime_dir);
    notifier_.status(fmt::format("starting {} workers", lives_->wanted()));
    if (auto s = lives_->start_workers(); !s) return s;
    // No worker to wait for (ondemand): the pool is ready once its sockets listen.
    if (lives_->wanted() == 0) carry_out({WorkerLives::Event::Kind::pool_ready, "", 0});
    return {};
}

// A lane job has no run-time limit the supervisor could enforce (it does not know the job), nor
// retries (its arguments leave with the worker that takes it), so lanes are open only while no
// function has either.
void Supervisor::update_lanes_open() {
    lanes_.set_open(life_.state != PoolState::stopping && !functions_.any_limits());
}

void Supervisor::carry_out(const WorkerLives::Event& event) {
    using Kind = WorkerLives::Event::Kind;
    switch (event.kind) {
        case Kind::none: break;
        case Kind::pool_ready: {
            life_.state = PoolState::running;
            const double seconds = static_cast<double>(monotonic_ns() - life_.started_ns) / 1e9;
            spdlog::info("pool '{}' ready: {} workers initialised in {:.3f} s; control socket {}", config_.name,
                         lives_->wanted(), seconds, endpoints_.control_path());
            notifier_.ready(fmt::format("{} workers ready", lives_->wanted()), true);
            carry_out(lives_->maintain_workers());  // a replacement is ready: the worker it replaces may retire
            break;
        }
        case Kind::init_failed:
            spdlog::critical("a worker could not initialise ({}); giving up instead of forking again. "
                             "See the worker's error above.", event.how);
            life_.exit_code = event.exit_code;
            begin_stop("worker initialisation failed");
            break;
        case Kind::reload_failed:
            abandon_reload("a worker with the new configuration could not initialise (" + event.how + ")");
            break;
        case Kind::reload_complete:
            spdlog::info("reload complete: {} workers with the new configuration", lives_->slots().ready_workers());
            life_.previous_config.reset();
            notifier_.ready(fmt::format("{} workers ready", lives_->wanted()), false);
            break;
    }
}

// ---------------------------------------------------------------------------------------------
// The loop

int Supervisor::run() {
    std::int64_t last_work = monotonic_ns();
    unsigned since_poll = 0;
    bool waiting = false;  // pump has found nothing since wait_start
    std::int64_t wait_start = 0;
    bool spin = true;  // spin this wait (idle_spin_)
    while (life_.state != PoolState::done) {
        const std::int64_t now = monotonic_ns();
        if (pump(now)) {
            if (waiting) idle_spin_.waited(now - wait_start, kIdleSpinNs);
            waiting = false;
            last_work = now;
            // Keep sockets and signals served while busy, without a system call per job.
            if (++since_poll >= 64) {
                since_poll = 0;
                poll_events(0);
            }
            continue;
        }
        const std::int64_t supervise_at = stopper_->next_due_ns();
        if (supervise_at >= 0 && now >= supervise_at) {
            stopper_->supervise(now);
            continue;
        }
        if (!waiting) {
            waiting = true;
            wait_start = last_work;
            spin = idle_spin_.spin_now();
        }
        if (spin && now - last_work < kIdleSpinNs) {
            spin_relax();
            continue;
        }
        // Announce the sleep, look once more, then sleep in epoll until something rings or a
        // running job's time limit comes.
        arm_wake_flags(true);
        if (pump(monotonic_ns())) {
            arm_wake_flags(false);
            last_work = monotonic_ns();
            idle_spin_.waited(last_work - wait_start, kIdleSpinNs);
            waiting = false;
            continue;
        }
        int timeout_ms = -1;
        if (supervise_at >= 0) timeout_ms = static_cast<int>((supervise_at - now + 999'999) / 1'000'000);
        poll_events(timeout_ms);
        arm_wake_flags(false);
        since_poll = 0;
        last_work = monotonic_ns();  // the wait goes on until pump finds something
    }
    notifier_.stopping("stopped");
    spdlog::info("pool '{}' stopped", config_.name);
    return life_.exit_code;
}

void Supervisor::arm_wake_flags(bool armed) {
    auto set = [armed](WakeFlag& flag) {
        if (armed) {
            flag.prepare_sleep();
        } else {
            flag.cancel_sleep();
        }
    };
    set(pool_.header().supervisor_wake);
    SessionTable& sessions = *sessions_;
    for (unsigned slot = 0; slot < sessions.end(); ++slot) {
        if (sessions[slot].open()) set(sessions[slot].header().supervisor_wake);
    }
}

// One turn of the work loop at time `now` (one clock reading serves the whole turn).
bool Supervisor::pump(std::int64_t now) {
    bool progress = false;
    const WorkerSlots& workers = lives_->slots();
    for (unsigned slot = 0; slot < workers.size(); ++slot) {
        if (!workers[slot].live()) continue;
        if (!workers[slot].ever_ready) carry_out(lives_->note_if_ready(slot, now));
        // It may have done its jobs by lane, passing the supervisor by.
        carry_out(lives_->check_recycling(slot));
        if (dispatcher_->collect(slot, now, *sessions_, counters_)) {
            progress = true;
            carry_out(lives_->check_recycling(slot));
        }
    }
    PoolHeader& header = pool_.header();
    if (header.lane_posts_left.load(std::memory_order_relaxed) != 0 &&
        header.lane_posts_left.exchange(0, std::memory_order_seq_cst) != 0) {
        intake_->take_posted_lanes(now);
    }
    SessionTable& sessions = *sessions_;
    for (unsigned slot = 0; slot < sessions.end(); ++slot) {
        SessionSlot& s = sessions[slot];
        if (!s.used) continue;
        if (!s.control_backlog.empty()) {
            progress |= s.flush_control();
            // Errors it is not reading would otherwise pile up in our memory without end.
            if (s.control_backlog.size() > kMaxControlBacklog && s.fd >= 0) {
                spdlog::warn("session {} (pid {}) left {} error replies unread; closing it", slot, s.peer.pid,
                             s.control_backlog.size());
                clients_->close(s.fd, "stopped reading its control ring");
                continue;
            }
        }
        if (s.closing) continue;
        switch (intake_->drain_submit_ring(s, now)) {
            case JobIntake::Drained::nothing: break;
            case JobIntake::Drained::some: progress = true; break;
            case JobIntake::Drained::corrupt:
                progress = true;
                if (s.fd >= 0) clients_->close(s.fd, "corrupt submit ring");
                break;
        }
    }
    // A job for a pool with no worker (ondemand, cold): start one now rather than on the next tick.
    if (queue_totals_.jobs > 0 && lives_->wanted() == 0) carry_out(scaler_->tick(now));
    if (queue_totals_.jobs > 0) progress |= dispatcher_->dispatch(now, sessions, workers.all(), functions_, counters_);
    lanes_.set_queued_above(queue_totals_.queued_above());  // lane calls yield to what stays queued
    sessions.finish_closed();
    return progress;
}

void Supervisor::poll_events(int timeout_ms) {
    epoll_event events[64];
    int n = ::epoll_wait(endpoints_.epoll(), events, 64, timeout_ms);
    for (int i = 0; i < n; ++i) {
        const std::uint64_t data = events[i].data.u64;
        const auto tag = static_cast<Tag>(data >> 32);
        const int fd = static_cast<int>(data & 0xffffffff);
        switch (tag) {
            case kControlListen: clients_->connections().accept(false, monotonic_ns()); break;
            case kStatusListen: clients_->connections().accept(true, monotonic_ns()); break;
            case kSignal: on_signals(); break;
            case kTimer: on_timer(); break;
            case kDoorbell:
                PoolEndpoints::take_doorbell(endpoints_.doorbell());
                carry_out(lives_->look_at_zygote());  // the zygote rings it once, when ready
                break;
            case kSessionDoorbell: PoolEndpoints::take_doorbell(fd); break;
            case kConnection: serve_client(fd); break;
            case kWorkerChannel: broker_->read_worker_channel(static_cast<unsigned>(fd)); break;
        }
        if (life_.state == PoolState::done) return;
    }
}

// What a client asks that is the supervisor's to carry out: status, stop, reload.
void Supervisor::serve_client(int fd) {
    const ClientService::Order order = clients_->serve(fd, life_.state);
    switch (order.kind) {
        case ClientService::Order::Kind::none: break;
        case ClientService::Order::Kind::status: clients_->answer(order.fd, status_answer(order.request)); break;
        case ClientService::Order::Kind::stop: begin_stop(order.why); break;
        case ClientService::Order::Kind::reload: begin_reload(order.why); break;
        case ClientService::Order::Kind::scale: carry_out(scaler_->scale_to(order.workers, monotonic_ns())); break;
    }
}

// The broker reads a session's connection for an offer that may be in flight; a session's
// connection carries no status, stop or reload request (those come before a Hello).
void Supervisor::read_client(int fd) { serve_client(fd); }

void Supervisor::declared_functions(unsigned slot, const protocol::FunctionSettings& settings) {
    bool changed = false;
    if (auto why = functions_.declare(lives_->slots()[slot].config_generation, settings, changed); !why.empty()) {
        spdlog::warn("worker slot {} declared {}: all ignored", slot, why);
        return;
    }
    if (changed) update_lanes_open();
}

void Supervisor::on_signals() {
    auto reap_children = [this] {
        while (auto event = lives_->reap_one()) carry_out(*event);
    };
    for (const int signal : endpoints_.take_signals()) {
        switch (signal) {
            case SIGCHLD: reap_children(); break;
            case SIGTERM:
            case SIGINT:
            case SIGQUIT: begin_stop(std::string("signal ") + sigabbrev_np(signal)); break;
            case SIGHUP: begin_reload("SIGHUP"); break;
            default: break;
        }
    }
    reap_children();  // SIGCHLDs coalesce; make sure none is missed
}

void Supervisor::on_timer() {
    endpoints_.take_timer();
    // The watchdog's pings and the status line, from the loop itself: a hung loop sends none.
    notifier_.tick(monotonic_ns(), [this] { return service_figures(); });
    // Lane jobs pass the supervisor by: their counts and recycling are looked at here.
    for (unsigned slot = 0; slot < lives_->slots().size(); ++slot) {
        if (!lives_->slots()[slot].live()) continue;
        lanes_.count(slot, pool_, counters_);
        carry_out(lives_->check_recycling(slot));
    }
    timings_->collect(pool_, monotonic_ns());
    intake_->take_stale_lane_posts(monotonic_ns());
    broker_->forget_read_results();
    carry_out(lives_->maintain_workers());
    carry_out(scaler_->tick(monotonic_ns()));
    stopper_->supervise(monotonic_ns());
    intake_->expire_deadlines(monotonic_ns());
    const std::int64_t now = monotonic_ns();
    for (const auto& [fd, why] : clients_->connections().expired(now)) clients_->close(fd, why);
    clients_->connections().resume_listening();
    // Memory freed after a burst (status answers of a few hundred KiB, a full queue drained)
    // stays resident in the heap unless it is handed back; a long-lived daemon hands it back.
    if (now - last_trim_ns_ > kTrimIntervalNs) {
        ::malloc_trim(0);
        last_trim_ns_ = now;
    }
    if (life_.state == PoolState::stopping) stop_tick();
}

// ---------------------------------------------------------------------------------------------
// Reload

// Reload: new workers with the new configuration start; the old ones serve until enough new
// ones are ready, then retire. If a new worker cannot initialise (the job library at the path
// does not load, a constructor throws), the reload is abandoned and the old workers carry on.
// The library is not tried here: that would block the loop, and the supervisor never loads it.
void Supervisor::begin_reload(const std::string& why) {
    if (life_.state != PoolState::running) {
        spdlog::warn("reload ({}) ignored: the pool is {}", why, to_string(life_.state));
        return;
    }
    PoolConfig next = config_;
    if (reload_config_) {
        auto loaded = reload_config_();
        if (!loaded) {
            spdlog::error("reload ({}) failed, keeping the current configuration: {}", why,
                          loaded.error().message());
            return;
        }
        next = std::move(loaded.value());
        for (const auto& warning : settle_reloaded_config(next, config_, lives_->slots().size())) {
            spdlog::warn("reload: {}", warning);
        }
    }
    spdlog::info("reloading ({}): starting {} workers with job library {}", why, next.workers, next.jobs_library);
    notifier_.reloading();
    ++counters_.reloads;
    scaler_->on_reload(config_, next);
    if (!life_.previous_config) life_.previous_config = config_;
    config_ = std::move(next);
    update_lanes_open();
    ++life_.config_generation;
    // The user database is asked here, not on the loop's every connection.
    if (auto access = AccessPolicy::resolve(config_, ::geteuid())) {
        access_ = std::move(access.value());
    } else {
        spdlog::warn("reload: {}; keeping the previous access rules", access.error().message());
    }
    for (unsigned slot = 0; slot < sessions_->end(); ++slot) {
        sessions_->republish_trust(slot, access_.session_trust((*sessions_)[slot].peer));  // python.pickle
    }
    lives_->replace_members_for_reload();
    carry_out(lives_->maintain_workers());
}

void Supervisor::abandon_reload(const std::string& why) {
    spdlog::error("reload failed: {}; keeping the previous workers and configuration", why);
    config_ = std::move(*life_.previous_config);
    life_.previous_config.reset();
    if (auto access = AccessPolicy::resolve(config_, ::geteuid())) access_ = std::move(access.value());
    for (unsigned slot = 0; slot < sessions_->end(); ++slot) {
        sessions_->republish_trust(slot, access_.session_trust((*sessions_)[slot].peer));
    }
    update_lanes_open();
    lives_->keep_previous_workers();
    notifier_.ready(fmt::format("reload failed; {} workers ready", lives_->wanted()), false);
    carry_out(lives_->maintain_workers());
}

// ---------------------------------------------------------------------------------------------
// Stopping

void Supervisor::begin_stop(const std::string& why) {
    if (life_.state == PoolState::stopping || life_.state == PoolState::done) return;
    spdlog::info("pool '{}' stopping ({}): {} jobs queued, grace period {:.1f} s", config_.name, why,
                 queue_totals_.jobs, config_.grace_period_s);
    notifier_.stopping("stopping");
    life_.state = PoolState::stopping;
    intake_->stop_accepting();
    update_lanes_open();
    life_.stop_deadline_ns = monotonic_ns() + static_cast<std::int64_t>(config_.grace_period_s * 1e9);
    // No new clients; the sockets disappear now so a successor can start at once.
    clients_->connections().stop_listening();
    endpoints_.remove_sockets();
    stop_tick();
}

void Supervisor::stop_tick() {
    const bool grace_over = monotonic_ns() >= life_.stop_deadline_ns;
    auto holds_work = [&](unsigned slot) {
        return !dispatcher_->holdings(slot).jobs.empty() || lanes_.running(slot, pool_) > 0;
    };
    const WorkerSlots& workers = lives_->slots();
    bool work_left = queue_totals_.jobs > 0;
    for (unsigned slot = 0; slot < workers.size(); ++slot) {
        work_left |= workers[slot].live() && holds_work(slot);
    }
    if (grace_over || !work_left) {
        // Queued jobs that will not run now get their terminal reply.
        intake_->refuse_all_queued("pool '" + config_.name + "' stopped before the job could run");
        for (unsigned slot = 0; slot < workers.size(); ++slot) {
            const WorkerSlot& w = workers[slot];
            if (!w.live()) continue;
            if (grace_over && holds_work(slot)) {
                ::kill(w.pid, SIGKILL);  // its running job is answered shutting_down by the reaper
            } else {
                pool_.worker(slot).state.store(static_cast<std::uint32_t>(WorkerState::exiting));
                pool_.worker(slot).inbox_wake.notify_futex();
            }
        }
    }
    if (!workers.any_live()) {
        for (unsigned slot = 0; slot < sessions_->end(); ++slot) {
            if ((*sessions_)[slot].used) (*sessions_)[slot].flush_control();
        }
        life_.state = PoolState::done;
    }
}

}  // namespace warmpool
