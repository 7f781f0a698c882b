// The supervisor's set-up, its loop, and its life cycle (reload, stop): supervisor.hpp.
#include "warmpool/daemon/supervisor.hpp"

#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <random>

#include "epoll_tags.hpp"
#include "warmpool/common/clock.hpp"
#include "warmpool/common/runtime_paths.hpp"
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

}  // namespace

Supervisor::Supervisor(PoolConfig config, ConfigLoader reload)
    : config_(std::move(config)), reload_config_(std::move(reload)) {}

Supervisor::~Supervisor() {
    // Workers must not outlive us holding the pool's memory: they also have PDEATHSIG.
    if (workers_) {
        for (const auto& w : workers_->all()) {
            if (w.live()) ::kill(w.pid, SIGKILL);
        }
        for (const auto& w : workers_->all()) {
            if (w.live()) ::waitpid(w.pid, nullptr, 0);
        }
    }
    if (!endpoints_.sockets_removed) {
        if (!endpoints_.control_path.empty()) ::unlink(endpoints_.control_path.c_str());
        if (!endpoints_.status_path.empty()) ::unlink(endpoints_.status_path.c_str());
    }
}

// ---------------------------------------------------------------------------------------------
// Set-up

Status Supervisor::prepare() {
    auto access = AccessPolicy::resolve(config_, ::geteuid());
    if (!access) return access.error();
    access_ = std::move(access.value());
    // Fail early and clearly on a job library that cannot even be loaded (tried in a child:
    // the supervisor never loads it, check_job_library()).
    if (auto st = check_job_library(config_.jobs_library); !st) return st;
    return check_runtime_dir();
}

// The runtime directory holds the lock and the sockets, which the daemon creates and removes:
// whoever controls the directory controls those names. So it must be a real directory (not a
// symlink another user could point elsewhere), owned by us or root, and writable by nobody else
// unless it is sticky.
Status Supervisor::check_runtime_dir() const {
    const std::string& dir = config_.runtime_dir;
    const uid_t uid = ::geteuid();
    if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
        return errno_error("create runtime directory " + dir);
    }
    struct stat st{};
    if (::lstat(dir.c_str(), &st) != 0) return errno_error("runtime directory " + dir);
    if (S_ISLNK(st.st_mode)) {
        return make_error(SysError::Code::permission,
                          "runtime directory " + dir + " is a symlink; refusing to follow it");
    }
    if (!S_ISDIR(st.st_mode)) {
        return make_error(SysError::Code::permission, "runtime directory " + dir + " is not a directory");
    }
    if (st.st_uid != uid && st.st_uid != 0) {
        return make_error(SysError::Code::permission, "runtime directory " + dir + " belongs to uid " +
                                                          std::to_string(st.st_uid) + ", not to us (uid " +
                                                          std::to_string(uid) + ") or root");
    }
    if (st.st_uid != uid && (st.st_mode & (S_IWGRP | S_IWOTH)) != 0 && (st.st_mode & S_ISVTX) == 0) {
        return make_error(SysError::Code::permission,
                          "runtime directory " + dir + " is writable by others and not sticky");
    }
    return {};
}

Status Supervisor::start() {
    started_ns_ = monotonic_ns();
    started_wall_ns_ = wall_ns();
    pool_generation_ = std::random_device{}() ^ (static_cast<std::uint64_t>(std::random_device{}()) << 32) ^
                       static_cast<std::uint64_t>(started_wall_ns_);

    if (auto s = take_lock(); !s) return s;
    // Only the lock holder may name (and so, at exit, remove) the pool's sockets. Whatever
    // carries those names belongs to a dead predecessor.
    auto paths = PoolPaths::in(config_.runtime_dir, config_.name);
    endpoints_.control_path = paths.control_socket;
    endpoints_.status_path = paths.status_socket;
    bool leftovers = false;
    for (const auto& path : {endpoints_.control_path, endpoints_.status_path}) {
        if (::unlink(path.c_str()) == 0) leftovers = true;
    }
    // (Its shared memory went with its last process: nothing of it has a name.)
    if (leftovers) spdlog::warn("removed leftovers of a previous '{}' daemon that did not stop cleanly", config_.name);
    if (auto s = create_pool_segment(); !s) return s;
    if (auto s = lanes_.create(config_.name, config_.worker_slots()); !s) return s;
    update_lanes_open();
    if (auto s = create_event_sources(); !s) return s;

    // With users or groups allowed besides the socket's own, anyone may connect: the peer's
    // credentials (SO_PEERCRED) are the one decision, and a session's memory is its own anyway.
    const bool others_allowed = !config_.allow_users.empty() || !config_.allow_groups.empty();
    const unsigned socket_mode = others_allowed ? 0666u : config_.socket_mode;
    if (auto s = connections_.listen(endpoints_.epoll.get(), endpoints_.control_path, endpoints_.status_path,
                                     socket_mode, access_.socket_group());
        !s) {
        return s;
    }

    sessions_ = std::make_unique<SessionTable>(config_.max_sessions, pool_, session_layout_, &queue_totals_);
    dispatcher_ = std::make_unique<Dispatcher>(config_, pool_, config_.max_sessions);
    workers_ = std::make_unique<WorkerSlots>(config_.worker_slots(), pool_generation_);
    spdlog::info("pool '{}' starting {} workers (job library {}, runtime dir {})", config_.name,
                 config_.workers, config_.jobs_library, config_.runtime_dir);
    sd_notifyf(0, "STATUS=starting %u workers", config_.workers);
    for (unsigned slot = 0; slot < config_.workers; ++slot) {
        if (auto s = spawn_worker(slot); !s) return s;
    }
    return {};
}

Status Supervisor::take_lock() {
    auto paths = PoolPaths::in(config_.runtime_dir, config_.name);
    UniqueFd& lock = endpoints_.lock;
    // O_NOFOLLOW: a symlink planted in place of the lock file is refused, never written through.
    lock.reset(::open(paths.lock_file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644));
    if (!lock) {
        if (errno == ELOOP) {
            return make_error(SysError::Code::permission, "lock file " + paths.lock_file + " is a symlink; refusing to follow it");
        }
        return errno_error("open " + paths.lock_file);
    }
    struct stat st{};
    if (::fstat(lock.get(), &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != ::geteuid()) {
        return make_error(SysError::Code::permission, "lock file " + paths.lock_file + " is not a file of ours");
    }
    // flock() dies with the process, so a kill -9'ed predecessor never leaves the pool locked.
    if (::flock(lock.get(), LOCK_EX | LOCK_NB) != 0) {
        if (errno == EWOULDBLOCK) {
            char pid[32] = {};
            [[maybe_unused]] ssize_t n = ::pread(lock.get(), pid, sizeof pid - 1, 0);
            return make_error(SysError::Code::exists, "pool '" + config_.name +
                                                          "' is already running (pid " + pid + ")");
        }
        return errno_error("lock " + paths.lock_file);
    }
    std::string pid = std::to_string(getpid()) + "\n";
    if (::ftruncate(lock.get(), 0) != 0 ||
        ::pwrite(lock.get(), pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size())) {
        return errno_error("write " + paths.lock_file);
    }
    return {};
}

Status Supervisor::create_pool_segment() {
    const PoolLayout layout{config_.worker_slots(), config_.inbox_ring_bytes, config_.max_sessions};
    session_layout_ = SessionLayout{config_.worker_slots(), config_.submit_ring_bytes,
                                    config_.control_ring_bytes, config_.reply_ring_bytes};
    // For the supervisor and its workers only: they inherit the mapping across fork, and no
    // descriptor of it ever leaves the supervisor.
    auto segment = SharedSegment::create(segment_label(config_.name, "pool"), layout.total_bytes());
    if (!segment) return segment.error();
    pool_segment_ = std::move(segment.value());
    pool_segment_.close_fd();
    pool_ = PoolMemory{pool_segment_.data(), layout};
    pool_.construct();
    PoolHeader& header = pool_.header();
    header.magic = kPoolMagic;
    header.layout_version = kLayoutVersion;
    header.worker_slots = layout.worker_slots;
    header.generation = pool_generation_;
    header.inbox_ring_bytes = layout.inbox_ring_bytes;
    header.supervisor_pid = getpid();
    return {};
}

Status Supervisor::create_event_sources() {
    endpoints_.epoll.reset(::epoll_create1(EPOLL_CLOEXEC));
    if (!endpoints_.epoll) return errno_error("epoll_create1");

    // Signals become events: block them, then read them from a signalfd in the loop.
    sigset_t mask;
    sigemptyset(&mask);
    for (int sig : {SIGTERM, SIGINT, SIGHUP, SIGCHLD, SIGQUIT}) sigaddset(&mask, sig);
    if (::sigprocmask(SIG_BLOCK, &mask, nullptr) != 0) return errno_error("sigprocmask");
    ::signal(SIGPIPE, SIG_IGN);
    endpoints_.signals.reset(::signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC));
    if (!endpoints_.signals) return errno_error("signalfd");

    endpoints_.timer.reset(::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC));
    if (!endpoints_.timer) return errno_error("timerfd_create");
    itimerspec tick{};
    tick.it_interval.tv_nsec = kTickMs * 1'000'000;
    tick.it_value = tick.it_interval;
    if (::timerfd_settime(endpoints_.timer.get(), 0, &tick, nullptr) != 0) return errno_error("timerfd_settime");

    // Close-on-exec matters not (workers never exec); fork_worker() hands it to each worker.
    endpoints_.doorbell.reset(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
    if (!endpoints_.doorbell) return errno_error("eventfd");

    for (auto [fd, tag] : {std::pair{endpoints_.signals.get(), kSignal}, std::pair{endpoints_.timer.get(), kTimer},
                           std::pair{endpoints_.doorbell.get(), kDoorbell}}) {
        epoll_event ev{EPOLLIN, {.u64 = tagged(tag)}};
        if (::epoll_ctl(endpoints_.epoll.get(), EPOLL_CTL_ADD, fd, &ev) != 0) return errno_error("epoll_ctl");
    }
    return {};
}

// A lane job has no run-time limit the supervisor could enforce (it does not know the job), nor
// retries (its arguments leave with the worker that takes it), so lanes are open only while no
// function has either.
void Supervisor::update_lanes_open() {
    lanes_.set_open(state_ != State::stopping && !functions_.any_limits());
}

// ---------------------------------------------------------------------------------------------
// The loop

int Supervisor::run() {
    std::int64_t last_work = monotonic_ns();
    unsigned since_poll = 0;
    bool waiting = false;  // pump has found nothing since wait_start
    std::int64_t wait_start = 0;
    bool spin = true;  // spin this wait (idle_spin_)
    while (state_ != State::done) {
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
        const std::int64_t supervise_at = next_supervision_ns();
        if (supervise_at >= 0 && now >= supervise_at) {
            supervise_running_jobs();
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
    sd_notify(0, "STOPPING=1\nSTATUS=stopped");
    spdlog::info("pool '{}' stopped", config_.name);
    return exit_code_;
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
    for (unsigned slot = 0; slot < workers_->size(); ++slot) {
        if (!(*workers_)[slot].live()) continue;
        if (!(*workers_)[slot].ever_ready) note_if_ready(slot, now);
        check_recycling(slot);  // it may have done its jobs by lane, passing the supervisor by
        if (dispatcher_->collect(slot, now, *sessions_, counters_)) {
            progress = true;
            check_recycling(slot);
        }
    }
    PoolHeader& header = pool_.header();
    if (header.lane_posts_left.load(std::memory_order_relaxed) != 0 &&
        header.lane_posts_left.exchange(0, std::memory_order_seq_cst) != 0) {
        take_posted_lanes(now);
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
                close_connection(s.fd, "stopped reading its control ring");
                continue;
            }
        }
        if (!s.closing) progress |= drain_submit_ring(s, now);
    }
    if (queue_totals_.jobs > 0) progress |= dispatcher_->dispatch(now, sessions, workers_->all(), functions_, counters_);
    sessions.finish_closed();
    return progress;
}

void Supervisor::poll_events(int timeout_ms) {
    epoll_event events[64];
    int n = ::epoll_wait(endpoints_.epoll.get(), events, 64, timeout_ms);
    for (int i = 0; i < n; ++i) {
        const std::uint64_t data = events[i].data.u64;
        const auto tag = static_cast<Tag>(data >> 32);
        const int fd = static_cast<int>(data & 0xffffffff);
        switch (tag) {
            case kControlListen: connections_.accept(false, monotonic_ns()); break;
            case kStatusListen: connections_.accept(true, monotonic_ns()); break;
            case kSignal: handle_signal(); break;
            case kTimer: handle_timer(); break;
            case kDoorbell:
            case kSessionDoorbell: {
                std::uint64_t count;
                [[maybe_unused]] ssize_t r = ::read(tag == kDoorbell ? endpoints_.doorbell.get() : fd, &count,
                                                    sizeof count);
                break;
            }
            case kConnection: handle_connection_guarded(fd); break;
            case kWorkerChannel: handle_worker_channel(static_cast<unsigned>(fd)); break;
        }
        if (state_ == State::done) return;
    }
}

void Supervisor::handle_signal() {
    signalfd_siginfo info;
    while (::read(endpoints_.signals.get(), &info, sizeof info) == sizeof info) {
        switch (info.ssi_signo) {
            case SIGCHLD: reap_children(); break;
            case SIGTERM:
            case SIGINT:
            case SIGQUIT: begin_stop(std::string("signal ") + sigabbrev_np(static_cast<int>(info.ssi_signo))); break;
            case SIGHUP: begin_reload("SIGHUP"); break;
            default: break;
        }
    }
    reap_children();  // SIGCHLDs coalesce; make sure none is missed
}

void Supervisor::handle_timer() {
    std::uint64_t expirations;
    [[maybe_unused]] ssize_t r = ::read(endpoints_.timer.get(), &expirations, sizeof expirations);
    // Lane jobs pass the supervisor by: their counts and recycling are looked at here.
    for (unsigned slot = 0; slot < workers_->size(); ++slot) {
        if (!(*workers_)[slot].live()) continue;
        lanes_.count(slot, pool_, counters_);
        check_recycling(slot);
    }
    take_stale_lane_posts(monotonic_ns());
    maintain_workers();
    supervise_running_jobs();
    expire_queued_deadlines();
    const std::int64_t now = monotonic_ns();
    for (const auto& [fd, why] : connections_.expired(now)) close_connection(fd, why);
    connections_.resume_listening();
    // Memory freed after a burst (status answers of a few hundred KiB, a full queue drained)
    // stays resident in the heap unless it is handed back; a long-lived daemon hands it back.
    if (now - last_trim_ns_ > kTrimIntervalNs) {
        ::malloc_trim(0);
        last_trim_ns_ = now;
    }
    if (state_ == State::stopping) stop_tick();
}

// ---------------------------------------------------------------------------------------------
// Reload

// Reload: new workers with the new configuration start; the old ones serve until enough new
// ones are ready, then retire. If a new worker cannot initialise (the job library at the path
// does not load, a constructor throws), the reload is abandoned and the old workers carry on.
// The library is not tried here: that would block the loop, and the supervisor never loads it.
void Supervisor::begin_reload(const std::string& why) {
    if (state_ != State::running) {
        spdlog::warn("reload ({}) ignored: the pool is {}", why, state_ == State::starting ? "starting" : "stopping");
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
        // What the shared memory and sockets were built from cannot change while they exist.
        auto keep = [&](auto PoolConfig::*field, const char* name) {
            if (next.*field != config_.*field) {
                spdlog::warn("reload: '{}' cannot change while the pool runs; keeping the current value", name);
                next.*field = config_.*field;
            }
        };
        keep(&PoolConfig::name, "name");
        keep(&PoolConfig::runtime_dir, "runtime_dir");
        keep(&PoolConfig::max_sessions, "max_sessions");
        keep(&PoolConfig::submit_ring_bytes, "submit_ring");
        keep(&PoolConfig::control_ring_bytes, "control_ring");
        keep(&PoolConfig::reply_ring_bytes, "reply_ring");
        keep(&PoolConfig::inbox_ring_bytes, "inbox_ring");
        keep(&PoolConfig::inline_max, "inline_max");
        keep(&PoolConfig::socket_mode, "socket_mode");
        keep(&PoolConfig::group, "group");
        const unsigned most = workers_->size() / 2;
        if (next.workers > most) {
            spdlog::warn("reload: workers = {} needs a restart (at most {} without one)", next.workers, most);
            next.workers = most;
        }
    }
    spdlog::info("reloading ({}): starting {} workers with job library {}", why, next.workers, next.jobs_library);
    sd_notify(0, "RELOADING=1\nSTATUS=reloading");
    ++counters_.reloads;
    if (!previous_config_) previous_config_ = config_;
    config_ = std::move(next);
    update_lanes_open();
    ++config_generation_;
    // The user database is asked here, not on the loop's every connection.
    if (auto access = AccessPolicy::resolve(config_, ::geteuid())) {
        access_ = std::move(access.value());
    } else {
        spdlog::warn("reload: {}; keeping the previous access rules", access.error().message());
    }
    for (unsigned slot = 0; slot < sessions_->end(); ++slot) {
        sessions_->republish_trust(slot, access_.session_trust((*sessions_)[slot].peer));  // python.pickle
    }
    for (auto& w : workers_->all()) {
        if (w.member()) w.replace = ReplaceReason::reload;
    }
    workers_->next_spawn_ns = 0;
    maintain_workers();
}

void Supervisor::abandon_reload(const std::string& why) {
    spdlog::error("reload failed: {}; keeping the previous workers and configuration", why);
    config_ = std::move(*previous_config_);
    previous_config_.reset();
    if (auto access = AccessPolicy::resolve(config_, ::geteuid())) access_ = std::move(access.value());
    for (unsigned slot = 0; slot < sessions_->end(); ++slot) {
        sessions_->republish_trust(slot, access_.session_trust((*sessions_)[slot].peer));
    }
    update_lanes_open();
    for (auto& w : workers_->all()) {
        if (!w.live()) continue;
        if (!w.ever_ready && !w.retiring) {
            ::kill(w.pid, SIGKILL);  // a new worker still initialising
            w.retiring = true;
        } else if (w.replace == ReplaceReason::reload && !w.retiring) {
            w.replace = ReplaceReason::none;
        }
    }
    sd_notifyf(0, "READY=1\nSTATUS=reload failed; %u workers ready", config_.workers);
    maintain_workers();
}

// ---------------------------------------------------------------------------------------------
// Stopping

void Supervisor::begin_stop(const std::string& why) {
    if (state_ == State::stopping || state_ == State::done) return;
    spdlog::info("pool '{}' stopping ({}): {} jobs queued, grace period {:.1f} s", config_.name, why,
                 queue_totals_.jobs, config_.grace_period_s);
    sd_notify(0, "STOPPING=1\nSTATUS=stopping");
    state_ = State::stopping;
    update_lanes_open();
    stop_deadline_ns_ = monotonic_ns() + static_cast<std::int64_t>(config_.grace_period_s * 1e9);
    // No new clients; the sockets disappear now so a successor can start at once.
    connections_.stop_listening();
    ::unlink(endpoints_.control_path.c_str());
    ::unlink(endpoints_.status_path.c_str());
    endpoints_.sockets_removed = true;
    stop_tick();
}

void Supervisor::stop_tick() {
    const bool grace_over = monotonic_ns() >= stop_deadline_ns_;
    auto holds_work = [&](unsigned slot) {
        return !dispatcher_->holdings(slot).jobs.empty() || lanes_.running(slot, pool_) > 0;
    };
    bool work_left = queue_totals_.jobs > 0;
    for (unsigned slot = 0; slot < workers_->size(); ++slot) {
        work_left |= (*workers_)[slot].live() && holds_work(slot);
    }
    if (grace_over || !work_left) {
        // Queued jobs that will not run now get their terminal reply.
        SessionTable& sessions = *sessions_;
        for (unsigned slot = 0; slot < sessions.end(); ++slot) {
            SessionSlot& s = sessions[slot];
            if (!s.open()) continue;
            for (auto& job : s.queue) {
                reply_error(s, job.record, ErrorKind::shutting_down,
                            "pool '" + config_.name + "' stopped before the job could run", job.items);
            }
            s.queue.clear();
        }
        for (unsigned slot = 0; slot < workers_->size(); ++slot) {
            const WorkerSlot& w = (*workers_)[slot];
            if (!w.live()) continue;
            if (grace_over && holds_work(slot)) {
                ::kill(w.pid, SIGKILL);  // its running job is answered shutting_down by the reaper
            } else {
                pool_.worker(slot).state.store(static_cast<std::uint32_t>(WorkerState::exiting));
                pool_.worker(slot).inbox_wake.notify_futex();
            }
        }
    }
    if (!workers_->any_live()) {
        for (unsigned slot = 0; slot < sessions_->end(); ++slot) {
            if ((*sessions_)[slot].used) (*sessions_)[slot].flush_control();
        }
        state_ = State::done;
    }
}

}  // namespace warmpool
