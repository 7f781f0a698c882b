#include "warmpool/daemon/supervisor.hpp"

#include <fcntl.h>
#include <grp.h>
#include <malloc.h>
#include <pwd.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <random>

#include "warmpool/common/clock.hpp"
#include "warmpool/common/job_checks.hpp"
#include "warmpool/common/spin_relax.hpp"
#include "warmpool/common/utf8.hpp"
#include "warmpool/common/runtime_paths.hpp"
#include "warmpool/daemon/job_library.hpp"
#include "warmpool/daemon/worker_process.hpp"
#include "epoll_tags.hpp"

namespace warmpool {

namespace {

using namespace epoll_tag;

constexpr std::int64_t kSpinNs = 50'000;            // keep pumping this long after the last work
constexpr std::int64_t kTickMs = 200;               // housekeeping timer
constexpr std::int64_t kHelloTimeoutNs = 5'000'000'000;
// A one-answer connection (status, admin, refusal) whose peer has not taken the whole answer by
// then is dropped.
constexpr std::int64_t kAnswerDeadlineNs = 10'000'000'000;
// How often the supervisor gives the memory it freed back to the system.
constexpr std::int64_t kTrimIntervalNs = 5'000'000'000;
// Error replies waiting for room in one session's control ring before the session is closed.
constexpr std::size_t kMaxControlBacklog = 65536;
// Status connections open at once; more are closed at accept (each may hold a whole status).
constexpr std::size_t kMaxStatusConnections = 64;
constexpr std::size_t kMaxClientNameBytes = 64;   // of a Hello's name, made valid UTF-8

std::string describe_wait_status(int status) {
    if (WIFEXITED(status)) {
        int code = WEXITSTATUS(status);
        if (code == kWorkerExitInitFailed) return "exited: initialisation failed";
        if (code == kWorkerExitOutOfMemory) return "ran out of memory (MemoryError)";
        return "exited with status " + std::to_string(code);
    }
    if (WIFSIGNALED(status)) {
        int sig = WTERMSIG(status);
        const char* abbrev = sigabbrev_np(sig);
        std::string text = "killed by signal " + std::to_string(sig) + " (SIG" +
                           (abbrev ? abbrev : "?") + ")";
        if (WCOREDUMP(status)) text += ", core dumped";
        return text;
    }
    return "ended with wait status " + std::to_string(status);
}


}  // namespace

Supervisor::Supervisor(PoolConfig config, ConfigLoader reload)
    : config_(std::move(config)), reload_config_(std::move(reload)) {}

Supervisor::~Supervisor() {
    // Workers must not outlive us holding the pool's memory: they also have PDEATHSIG.
    for (auto& w : workers_) {
        if (w.pid > 0) ::kill(w.pid, SIGKILL);
    }
    for (auto& w : workers_) {
        if (w.pid > 0) ::waitpid(w.pid, nullptr, 0);
    }
    if (!sockets_removed_) {
        if (!control_path_.empty()) ::unlink(control_path_.c_str());
        if (!status_path_.empty()) ::unlink(status_path_.c_str());
    }
}

// ---------------------------------------------------------------------------------------------
// Set-up

Status Supervisor::prepare() {
    uid_ = geteuid();
    if (auto st = resolve_access(); !st) return st;
    // Fail early and clearly on a job library that cannot even be loaded.
    if (auto lib = LoadedJobLibrary::open(config_.jobs_library); !lib) return lib.error();
    return check_runtime_dir();
}

// The runtime directory holds the lock and the sockets, which the daemon creates and removes:
// whoever controls the directory controls those names. So it must be a real directory (not a
// symlink another user could point elsewhere), owned by us or root, and writable by nobody else
// unless it is sticky.
Status Supervisor::check_runtime_dir() const {
    const std::string& dir = config_.runtime_dir;
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
    if (st.st_uid != uid_ && st.st_uid != 0) {
        return make_error(SysError::Code::permission, "runtime directory " + dir + " belongs to uid " +
                                                          std::to_string(st.st_uid) + ", not to us (uid " +
                                                          std::to_string(uid_) + ") or root");
    }
    if (st.st_uid != uid_ && (st.st_mode & (S_IWGRP | S_IWOTH)) != 0 && (st.st_mode & S_ISVTX) == 0) {
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
    // Only the lock holder may name (and so, at exit, remove) the pool's sockets.
    auto paths = PoolPaths::in(config_.runtime_dir, config_.name);
    control_path_ = paths.control_socket;
    status_path_ = paths.status_socket;
    clean_leftovers();
    if (auto s = create_pool_segment(); !s) return s;
    if (auto s = create_lane_board(); !s) return s;
    if (auto s = create_event_sources(); !s) return s;

    // With users or groups allowed besides the socket's own, anyone may connect: the peer's
    // credentials (SO_PEERCRED) are the one decision, and a session's memory is its own anyway.
    const bool others_allowed = !config_.allow_users.empty() || !config_.allow_groups.empty();
    const unsigned socket_mode = others_allowed ? 0666u : config_.socket_mode;
    auto control = listen_unix(control_path_, socket_mode, group_);
    if (!control) return control.error();
    control_listen_ = std::move(control.value());
    auto status = listen_unix(status_path_, socket_mode, group_);
    if (!status) return status.error();
    status_listen_ = std::move(status.value());
    for (auto [fd, tag] : {std::pair{control_listen_.get(), kControlListen},
                           std::pair{status_listen_.get(), kStatusListen}}) {
        epoll_event ev{EPOLLIN, {.u64 = tagged(tag)}};
        if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev) != 0) return errno_error("epoll_ctl");
    }

    sessions_.resize(config_.max_sessions);
    workers_.resize(config_.worker_slots());
    last_exits_.resize(workers_.size());
    // Held back in every reply ring: one wrap-around, and the reply of a job that came by lane.
    reply_room_reserve_ = max_reply_bytes(sizeof(ReplyRecord), config_.inline_max) +
                          max_reply_bytes(sizeof(ReplyRecord), reply_inline_max(0, config_.inline_max));
    random_.seed(pool_generation_);
    allowed_cpus_ = allowed_cpus();
    spdlog::info("pool '{}' starting {} workers (job library {}, runtime dir {})", config_.name,
                 config_.workers, config_.jobs_library, config_.runtime_dir);
    sd_notifyf(0, "STATUS=starting %u workers", config_.workers);
    for (unsigned slot = 0; slot < config_.workers; ++slot) {
        if (auto s = spawn_worker(slot); !s) return s;
    }
    return {};
}

Status Supervisor::resolve_access() {
    if (!config_.group.empty()) {
        group* g = ::getgrnam(config_.group.c_str());
        if (g == nullptr) return make_error(SysError::Code::not_found, "no group '" + config_.group + "'");
        group_ = g->gr_gid;
        allowed_gids_.push_back(g->gr_gid);
    }
    for (const auto& name : config_.allow_users) {
        passwd* p = ::getpwnam(name.c_str());
        if (p == nullptr) return make_error(SysError::Code::not_found, "no user '" + name + "'");
        allowed_uids_.push_back(p->pw_uid);
    }
    for (const auto& name : config_.allow_groups) {
        group* g = ::getgrnam(name.c_str());
        if (g == nullptr) return make_error(SysError::Code::not_found, "no group '" + name + "'");
        allowed_gids_.push_back(g->gr_gid);
    }
    return {};
}

Status Supervisor::take_lock() {
    auto paths = PoolPaths::in(config_.runtime_dir, config_.name);
    // O_NOFOLLOW: a symlink planted in place of the lock file is refused, never written through.
    lock_fd_.reset(::open(paths.lock_file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644));
    if (!lock_fd_) {
        if (errno == ELOOP) {
            return make_error(SysError::Code::permission, "lock file " + paths.lock_file + " is a symlink; refusing to follow it");
        }
        return errno_error("open " + paths.lock_file);
    }
    struct stat st{};
    if (::fstat(lock_fd_.get(), &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != uid_) {
        return make_error(SysError::Code::permission, "lock file " + paths.lock_file + " is not a file of ours");
    }
    // flock() dies with the process, so a kill -9'ed predecessor never leaves the pool locked.
    if (::flock(lock_fd_.get(), LOCK_EX | LOCK_NB) != 0) {
        if (errno == EWOULDBLOCK) {
            char pid[32] = {};
            [[maybe_unused]] ssize_t n = ::pread(lock_fd_.get(), pid, sizeof pid - 1, 0);
            return make_error(SysError::Code::exists, "pool '" + config_.name +
                                                          "' is already running (pid " + pid + ")");
        }
        return errno_error("lock " + paths.lock_file);
    }
    std::string pid = std::to_string(getpid()) + "\n";
    if (::ftruncate(lock_fd_.get(), 0) != 0 ||
        ::pwrite(lock_fd_.get(), pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size())) {
        return errno_error("write " + paths.lock_file);
    }
    return {};
}

void Supervisor::clean_leftovers() {
    // We hold the lock, so whatever carries this pool's names belongs to a dead predecessor.
    bool any = false;
    for (const auto& path : {control_path_, status_path_}) {
        if (::unlink(path.c_str()) == 0) any = true;
    }
    // (Its shared memory went with its last process: nothing of it has a name.)
    if (any) spdlog::warn("removed leftovers of a previous '{}' daemon that did not stop cleanly", config_.name);
}

Status Supervisor::create_pool_segment() {
    pool_layout_ = PoolLayout{config_.worker_slots(), config_.inbox_ring_bytes, config_.max_sessions};
    session_layout_ = SessionLayout{config_.worker_slots(), config_.submit_ring_bytes,
                                    config_.control_ring_bytes, config_.reply_ring_bytes};
    // For the supervisor and its workers only: they inherit the mapping across fork, and no
    // descriptor of it ever leaves the supervisor.
    auto segment = SharedSegment::create(segment_label(config_.name, "pool"), pool_layout_.total_bytes());
    if (!segment) return segment.error();
    pool_segment_ = std::move(segment.value());
    pool_segment_.close_fd();
    pool_header_ = new (pool_segment_.data()) PoolHeader{};
    pool_header_->magic = kPoolMagic;
    pool_header_->layout_version = kLayoutVersion;
    pool_header_->worker_slots = pool_layout_.worker_slots;
    pool_header_->generation = pool_generation_;
    pool_header_->inbox_ring_bytes = pool_layout_.inbox_ring_bytes;
    pool_header_->supervisor_pid = getpid();
    for (unsigned slot = 0; slot < pool_layout_.worker_slots; ++slot) {
        new (&record(slot)) WorkerRecord{};
        for (unsigned session = 0; session < pool_layout_.session_slots; ++session) {
            new (pool_segment_.data() + pool_layout_.reply_tail_offset(slot, session)) ReplyTail{};
        }
        new (pool_segment_.data() + pool_layout_.inbox_offset(slot)) RingControl{};
    }
    return {};
}

Status Supervisor::create_event_sources() {
    epoll_.reset(::epoll_create1(EPOLL_CLOEXEC));
    if (!epoll_) return errno_error("epoll_create1");

    // Signals become events: block them, then read them from a signalfd in the loop.
    sigset_t mask;
    sigemptyset(&mask);
    for (int sig : {SIGTERM, SIGINT, SIGHUP, SIGCHLD, SIGQUIT}) sigaddset(&mask, sig);
    if (::sigprocmask(SIG_BLOCK, &mask, nullptr) != 0) return errno_error("sigprocmask");
    ::signal(SIGPIPE, SIG_IGN);
    signal_fd_.reset(::signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC));
    if (!signal_fd_) return errno_error("signalfd");

    timer_fd_.reset(::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC));
    if (!timer_fd_) return errno_error("timerfd_create");
    itimerspec tick{};
    tick.it_interval.tv_nsec = kTickMs * 1'000'000;
    tick.it_value = tick.it_interval;
    if (::timerfd_settime(timer_fd_.get(), 0, &tick, nullptr) != 0) return errno_error("timerfd_settime");

    // Not close-on-exec matters not (workers never exec); it is inherited across fork on purpose.
    doorbell_.reset(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
    if (!doorbell_) return errno_error("eventfd");
    spare_fd_.reset(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    if (!spare_fd_) return errno_error("open /dev/null");

    for (auto [fd, tag] : {std::pair{signal_fd_.get(), kSignal}, std::pair{timer_fd_.get(), kTimer},
                           std::pair{doorbell_.get(), kDoorbell}}) {
        epoll_event ev{EPOLLIN, {.u64 = tagged(tag)}};
        if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev) != 0) return errno_error("epoll_ctl");
    }
    return {};
}

// ---------------------------------------------------------------------------------------------
// Workers

std::uint64_t Supervisor::reply_tail(unsigned worker, unsigned session, std::uint64_t generation) const {
    const auto& entry = *reinterpret_cast<const ReplyTail*>(pool_segment_.data() +
                                                             pool_layout_.reply_tail_offset(worker, session));
    const std::uint64_t before = entry.generation.load(std::memory_order_acquire);
    const std::uint64_t tail = entry.tail.load(std::memory_order_acquire);
    // Counted for another session of the slot, or being switched to this one: nothing counted
    // yet (any reply published meanwhile still has its room reserved).
    if (before != generation || entry.generation.load(std::memory_order_acquire) != generation) return 0;
    return tail;
}

WorkerRecord& Supervisor::record(unsigned slot) const {
    return reinterpret_cast<WorkerRecord*>(pool_segment_.data() + pool_layout_.worker_table_offset())[slot];
}

WorkerState Supervisor::worker_state(unsigned slot) const {
    return static_cast<WorkerState>(record(slot).state.load(std::memory_order_acquire));
}

Status Supervisor::spawn_worker(unsigned slot) {
    WorkerSlot& w = workers_[slot];
    // A fresh record and an empty inbox: the previous occupant's jobs were all resolved.
    WorkerRecord& rec = record(slot);
    rec.~WorkerRecord();
    new (&rec) WorkerRecord{};
    rec.state.store(static_cast<std::uint32_t>(WorkerState::starting), std::memory_order_release);
    std::byte* inbox_base = pool_segment_.data() + pool_layout_.inbox_offset(slot);
    new (inbox_base) RingControl{};
    new (&lane_outcome(slot)) LaneOutcome{};
    w = WorkerSlot{};
    w.inbox = RingProducer(RingView::at(inbox_base, pool_layout_.inbox_ring_bytes));
    w.reply_reserved.assign(sessions_.size(), 0);
    w.config_generation = config_generation_;
    if (config_.max_jobs > 0) {
        // Jitter, so that workers started together do not all recycle together.
        std::uniform_real_distribution<double> jitter(-config_.max_jobs_jitter, config_.max_jobs_jitter);
        const double jobs = static_cast<double>(config_.max_jobs) * (1.0 + jitter(random_));
        w.recycle_after = std::max<std::uint64_t>(1, static_cast<std::uint64_t>(jobs));
    }
    rec.lanes_until_jobs.store(w.recycle_after > 0 ? w.recycle_after : ~std::uint64_t{0}, std::memory_order_relaxed);

    WorkerSetup setup;
    setup.pool_name = config_.name;
    setup.jobs_library = config_.jobs_library;
    setup.log_level = config_.log_level;
    setup.slot = slot;
    setup.pool_layout = pool_layout_;
    setup.session_layout = session_layout_;
    setup.pool_base = pool_segment_.data();
    setup.lane_board = lane_board_;
    setup.inline_max = config_.inline_max;
    setup.python.enabled = config_.python;
    setup.python.modules = config_.python_modules;
    setup.python.path = config_.python_path;
    if (config_.cpu_affinity == "spread") {
        std::vector<int> member_cpus;
        for (const WorkerSlot& other : workers_) {
            if (other.member() && other.cpu >= 0) member_cpus.push_back(other.cpu);
        }
        setup.cpu = pick_cpu(allowed_cpus_, member_cpus);
    }

    int pair[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) return errno_error("socketpair");
    UniqueFd ours(pair[0]);
    UniqueFd theirs(pair[1]);
    const pid_t parent = getpid();
    const pid_t pid = ::fork();
    if (pid < 0) return errno_error("fork");
    if (pid == 0) {
        // The child keeps the pool mapping, the doorbell and its channel, and nothing else of ours.
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (::getppid() != parent) ::_exit(1);
        if (::dup2(doorbell_.get(), 3) < 0 || ::dup2(theirs.get(), 4) < 0) ::_exit(1);
        ::syscall(SYS_close_range, 5U, ~0U, 0U);
        setup.supervisor_eventfd = 3;
        setup.supervisor_channel = 4;
        sigset_t none;
        sigemptyset(&none);
        ::sigprocmask(SIG_SETMASK, &none, nullptr);
        ::signal(SIGPIPE, SIG_DFL);
        run_worker(setup);
    }
    theirs.reset();
    if (auto st = open_worker_channel(slot, std::move(ours)); !st) {
        spdlog::error("worker slot {}: no channel to pid {}: {}", slot, pid, st.error().message());
    }
    w.pid = pid;
    w.cpu = setup.cpu;
    w.started_ns = monotonic_ns();
    rec.pid.store(pid, std::memory_order_relaxed);
    if (setup.cpu >= 0) {
        spdlog::info("worker slot {} started: pid {}, on CPU {}", slot, pid, setup.cpu);
    } else {
        spdlog::info("worker slot {} started: pid {}", slot, pid);
    }
    return {};
}

FunctionStats& Supervisor::stats_for(Session& session, const JobRecord& record) {
    constexpr std::size_t kMaxTrackedFunctions = 4096;
    const std::string_view name = function_name(record);
    if (session.last_stats != nullptr && name == session.last_function) return *session.last_stats;
    FunctionStats* stats = &untracked_function_;
    if (auto it = functions_.find(std::string(name)); it != functions_.end()) {
        stats = &it->second;
    } else if (functions_.size() < kMaxTrackedFunctions) {
        stats = &functions_.emplace(std::string(name), FunctionStats{}).first->second;
    }
    // Values of an unordered_map keep their address: the pointer stays valid.
    session.last_function.assign(name);
    session.last_stats = stats;
    return *stats;
}

std::int64_t Supervisor::effective_timeout_ns(const PendingJob& job) const {
    if (job.record.timeout_ns > 0) return job.record.timeout_ns;
    const double seconds = function_settings(function_name(job.record)).timeout_s;
    return seconds > 0 ? static_cast<std::int64_t>(seconds * 1e9) : 0;
}

const RunEstimate& Supervisor::estimate(const PendingJob& job) const {
    const FunctionStats* stats = job.stats != nullptr ? job.stats : &untracked_function_;
    return (job.record.flags & kJobBatch) ? stats->batch : stats->single;
}

std::uint64_t Supervisor::reply_bytes(const JobRecord& record) const {
    return max_reply_bytes(sizeof(ReplyRecord), reply_inline_max(record.flags, config_.inline_max));
}

bool Supervisor::exclusive(const PendingJob& job, std::int64_t timeout_ns) const {
    return timeout_ns > 0 || !estimate(job).known_short();
}

bool Supervisor::collect_completions(std::int64_t now) {
    bool progress = false;
    for (unsigned slot = 0; slot < workers_.size(); ++slot) {
        WorkerSlot& w = workers_[slot];
        if (w.pid <= 0) continue;
        WorkerRecord& rec = record(slot);
        if (!w.ever_ready && worker_state(slot) == WorkerState::ready) {
            w.ever_ready = true;
            respawn_.on_ready();
            progress = true;
            spdlog::info("worker slot {} pid {} ready after {:.3f} s", slot, w.pid,
                         static_cast<double>(now - w.started_ns) / 1e9);
            // What it declared before it reported ready is in its channel: heard before any job
            // of a function it declared a timeout for can reach it.
            handle_worker_channel(slot);
            check_startup_complete();
            maintain_workers();  // a replacement is ready: the worker it replaces may retire
        }
        check_recycling(slot);  // it may have done its jobs by lane, passing the supervisor by
        if (w.in_flight.empty()) continue;
        const std::uint64_t done = rec.inbox_done.load(std::memory_order_acquire);
        if (w.in_flight.front().seq >= done) continue;
        // In-flight sequence numbers are consecutive: the first `finished` jobs are done.
        const std::size_t finished =
            static_cast<std::size_t>(std::min<std::uint64_t>(done - w.in_flight.front().seq, w.in_flight.size()));
        // One finished job: the worker's own measurement. Several at once: they were short.
        const std::int64_t since = std::max(w.last_completion_ns, w.in_flight.front().dispatched_ns);
        const std::int64_t each = finished == 1 ? rec.last_run_ns.load(std::memory_order_relaxed)
                                                : (now - since) / static_cast<std::int64_t>(finished);
        w.last_completion_ns = now;
        for (std::size_t i = 0; i < finished; ++i) {
            InFlightJob& job = w.in_flight.front();
            count_outcome(slot, job.seq);
            if (job.job.stats != nullptr) {
                ((job.job.record.flags & kJobBatch) ? job.job.stats->batch : job.job.stats->single).observe(each);
            }
            const std::uint32_t session_slot = job.job.record.session_slot;
            Session& s = sessions_[session_slot];
            if (s.in_flight > 0) --s.in_flight;
            std::uint64_t& reserved = w.reply_reserved[session_slot];
            reserved -= std::min(reserved, reply_bytes(job.job.record));
            if (job.exclusive) --w.exclusive_held;
            w.in_flight.pop_front();
        }
        progress = true;
        check_recycling(slot);
    }
    return progress;
}

// Replaces a worker that did max_jobs jobs or grew past max_rss.
void Supervisor::check_recycling(unsigned slot) {
    WorkerSlot& w = workers_[slot];
    if (w.pid <= 0 || !w.replace_reason.empty() || w.retiring) return;
    const WorkerRecord& rec = record(slot);
    if (w.recycle_after > 0 && rec.jobs_done.load(std::memory_order_relaxed) >= w.recycle_after) {
        spdlog::info("worker slot {} pid {} recycled after {} jobs (max_jobs {})", slot, w.pid,
                     rec.jobs_done.load(), config_.max_jobs);
        w.replace_reason = "max_jobs";
        ++counters_.recycled;
        maintain_workers();
    } else if (config_.max_rss_bytes > 0 && rec.rss_bytes.load(std::memory_order_relaxed) > config_.max_rss_bytes) {
        spdlog::info("worker slot {} pid {} recycled: RSS {} MiB passed max_rss {} MiB", slot, w.pid,
                     rec.rss_bytes.load() >> 20, config_.max_rss_bytes >> 20);
        w.replace_reason = "max_rss";
        ++counters_.recycled;
        maintain_workers();
    }
}

// Adds what a finished job came to (written by its worker, shm_layout.hpp) to the counters.
void Supervisor::count_outcome(unsigned slot, std::uint64_t seq) {
    const auto* table = reinterpret_cast<const JobOutcome*>(pool_segment_.data() + pool_layout_.outcome_offset(slot));
    const JobOutcome& outcome = table[seq % kOutcomeEntries];
    counters_.completed += outcome.counts[0];
    for (std::size_t k = 1; k < kOutcomeDropped; ++k) counters_.failed[k] += outcome.counts[k];
    counters_.dropped += outcome.counts[kOutcomeDropped];
}

// One pass of the dispatcher: hands queued jobs to workers until every session with queued jobs
// is served or held back (its next job has no worker that may take it now).
//
// Sessions take turns one job at a time, so one busy client cannot starve another; the turn
// order starts one session further on each pass. Each job goes to the worker pick_worker()
// chooses (dispatch_policy.hpp). What a pass needs from shared memory (whether a worker runs a
// long job, the free space in each reply ring) is read once, the first time it is needed, and
// then kept up to date locally as jobs are placed; each worker's inbox is published, and the
// worker woken if it sleeps, once at the end.
bool Supervisor::dispatch(std::int64_t now) {
    if (queue_totals_.jobs == 0) return false;
    const auto n_workers = static_cast<unsigned>(workers_.size());
    pass_workers_.resize(n_workers);
    pass_touched_.assign(n_workers, 0);
    for (unsigned slot = 0; slot < n_workers; ++slot) {
        const WorkerSlot& w = workers_[slot];
        WorkerCandidate& c = pass_workers_[slot];
        // ever_ready was brought up to date by collect_completions() in this pump.
        c.ready = w.takes_jobs() && w.ever_ready;
        c.load.held = w.in_flight.size();
        c.load.holds_exclusive = w.exclusive_held > 0;
        c.load.running_long = false;
        if (!c.ready) continue;
        const WorkerRecord& rec = record(slot);
        const std::uint64_t running = rec.running_seq.load(std::memory_order_relaxed);
        // A job that came by lane is not in in_flight, and its length is unknown: treated as one
        // exclusive job held, so nothing waits behind it. Held from the claim on, before the
        // worker shows it running: a job queued in that moment would wait behind it.
        const bool lane_job = running == kLaneRunningSeq ||
                              lane_progress_stage(rec.lane_progress.load(std::memory_order_acquire)) ==
                                  LaneStage::taken;
        if (lane_job) {
            ++c.load.held;
            c.load.holds_exclusive = true;
        } else if (c.load.held > 0 && !c.load.holds_exclusive && c.load.held < config_.prefetch) {
            c.load.running_long = running != 0 &&
                                  now - rec.running_since_ns.load(std::memory_order_relaxed) > kShortJobNs;
        }
    }
    const unsigned n_sessions = sessions_end_;
    if (n_sessions == 0) return false;
    pass_sessions_.clear();
    for (unsigned i = 0; i < n_sessions; ++i) {
        const unsigned slot = (dispatch_cursor_ + i) % n_sessions;
        const Session& s = sessions_[slot];
        if (s.used && !s.closing && !s.queue.empty()) {
            pass_sessions_.push_back({slot, static_cast<unsigned>(pass_sessions_.size())});
        }
    }
    if (pass_sessions_.empty()) return false;
    dispatch_cursor_ = (pass_sessions_.front().slot + 1) % n_sessions;
    if (pass_sessions_.size() > 1) {
        order_by_jobs_held(std::span<PassSession>(pass_sessions_),
                           [&](const PassSession& p) { return sessions_[p.slot].in_flight; });
    }
    constexpr std::uint64_t kUnknown = ~std::uint64_t{0};
    pass_room_.assign(pass_sessions_.size() * n_workers, kUnknown);

    bool progress = false;
    // Sessions still taking part stay at the front of pass_sessions_, in turn order.
    std::size_t taking_part = pass_sessions_.size();
    while (taking_part > 0) {
        std::size_t kept = 0;
        for (std::size_t k = 0; k < taking_part; ++k) {
            const PassSession entry = pass_sessions_[k];
            Session& s = sessions_[entry.slot];
            if (s.queue.empty()) continue;  // served in full: out of the pass
            PendingJob& job = s.queue.front();
            if (job.record.deadline_ns != 0 && now > job.record.deadline_ns) {
                reply_error(s, job.record, ErrorKind::deadline_exceeded,
                            "the job's deadline passed while it was queued", job.items);
                s.queue.pop_front();
                progress = true;
                pass_sessions_[kept++] = entry;
                continue;
            }
            const std::int64_t timeout_ns = effective_timeout_ns(job);
            const bool excl = exclusive(job, timeout_ns);
            const std::uint64_t job_reply = reply_bytes(job.record);
            std::uint64_t* room = &pass_room_[std::size_t{entry.row} * n_workers];
            auto has_room = [&](std::size_t slot) {
                if (room[slot] == kUnknown) {
                    const auto* ring = reinterpret_cast<const RingControl*>(
                        s.segment.data() + session_layout_.reply_offset(static_cast<std::uint32_t>(slot)));
                    // The tail the worker counted, not the one in the client's memory.
                    const std::uint64_t used = reply_ring_unread(
                        reply_tail(static_cast<unsigned>(slot), entry.slot, s.generation),
                        ring->head.load(std::memory_order_acquire), session_layout_.reply_ring_bytes);
                    room[slot] = reply_room_bytes(session_layout_.reply_ring_bytes, used,
                                                  workers_[slot].reply_reserved[entry.slot], reply_room_reserve_);
                }
                if (room[slot] >= job_reply) return true;
                // Held back until the client reads: it rings the doorbell when it has (the store
                // precedes our next look at the ring, so a read in between is not missed).
                s.header->reply_room_wanted.store(1);
                return false;
            };
            const int best = pick_worker(std::span<const WorkerCandidate>(pass_workers_), worker_cursor_, excl,
                                         excl ? 1 : queue_depth(config_.prefetch, estimate(job)), has_room);
            if (best < 0) continue;  // held back: out of the pass
            const auto w_slot = static_cast<unsigned>(best);
            WorkerSlot& w = workers_[w_slot];
            const auto size = static_cast<std::uint32_t>(sizeof(JobRecord) + job.payload.size());
            std::byte* out = w.inbox.try_reserve(size);
            if (out == nullptr) continue;  // inbox full of large payloads: try again next pass
            std::memcpy(out, &job.record, sizeof(JobRecord));
            std::memcpy(out + sizeof(JobRecord), job.payload.data(), job.payload.size());
            w.inbox.commit(size);
            if (excl) ++w.exclusive_held;
            w.reply_reserved[entry.slot] += job_reply;
            w.in_flight.emplace_back(InFlightJob{w.dispatched++, now, timeout_ns, excl, s.queue.take_front()});
            ++s.in_flight;
            WorkerCandidate& c = pass_workers_[w_slot];
            ++c.load.held;
            c.load.holds_exclusive = c.load.holds_exclusive || excl;
            room[w_slot] -= job_reply;
            pass_touched_[w_slot] = 1;
            worker_cursor_ = w_slot;
            progress = true;
            pass_sessions_[kept++] = entry;
        }
        taking_part = kept;
    }
    for (unsigned slot = 0; slot < n_workers; ++slot) {
        if (pass_touched_[slot] == 0) continue;
        workers_[slot].inbox.publish();
        record(slot).inbox_wake.notify_futex();
    }
    return progress;
}

void Supervisor::reap_children() {
    for (;;) {
        int status = 0;
        pid_t pid = ::waitpid(-1, &status, WNOHANG);
        if (pid <= 0) return;
        for (unsigned slot = 0; slot < workers_.size(); ++slot) {
            if (workers_[slot].pid == pid) {
                on_worker_exit(slot, status);
                break;
            }
        }
    }
}

void Supervisor::on_worker_exit(unsigned slot, int wait_status) {
    WorkerSlot& w = workers_[slot];
    WorkerRecord& rec = record(slot);
    std::string how = describe_wait_status(wait_status);
    if (WIFSIGNALED(wait_status) && WTERMSIG(wait_status) == SIGKILL && w.kill_at_ns < 0 &&
        oom_kills_.changed()) {
        how += ": out of memory (the kernel's OOM killer)";
    }
    const bool was_ready = w.ever_ready || worker_state(slot) == WorkerState::ready;
    const bool on_purpose = state_ == State::stopping || w.retiring || w.stop_seq != 0 ||
                            worker_state(slot) == WorkerState::exiting;
    const bool clean = WIFEXITED(wait_status) && WEXITSTATUS(wait_status) == 0;
    ++counters_.worker_exits;
    if (!was_ready) ++counters_.failed_inits;
    if (on_purpose && (clean || w.stop_seq != 0)) {
        spdlog::info("worker slot {} pid {} {}{}", slot, w.pid, how,
                     w.retiring ? " (retired)" : "");
    } else {
        if (was_ready) ++counters_.worker_crashes;
        spdlog::warn("worker slot {} pid {} {} after {} jobs{}", slot, w.pid, how, rec.jobs_done.load(),
                     w.in_flight.empty() ? "" : " holding jobs");
    }

    // It watches no lane any more; a post only it saw goes to the supervisor's queue.
    lane_board_->watching[slot / 64].fetch_and(~(std::uint64_t{1} << (slot % 64)), std::memory_order_seq_cst);
    lane_board_->watcher_role[slot / 64].fetch_and(~(std::uint64_t{1} << (slot % 64)), std::memory_order_seq_cst);
    settle_lane_job(slot, how);
    resolve_jobs_of_dead_worker(slot, how);
    // Its result blobs (kept for reuse) have no owner any more; clients keep what they have.
    // Those a published reply names but its client has not asked for yet go with the session.
    // (Offers still in its channel are read first: it sent each before the reply naming it.)
    handle_worker_channel(slot);
    forget_results_of(w.pid);
    if (w.channel) {
        ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, w.channel.get(), nullptr);
        w.channel.reset();
    }
    const std::uint64_t generation = w.config_generation;
    const bool was_replacing = !w.replace_reason.empty() || w.retiring;
    w.pid = 0;
    w.in_flight.clear();
    last_exits_[slot] = how;
    // A post only it saw is queued, unless another worker watches (and so will see it).
    if (!any_worker_watching()) take_posted_lanes(monotonic_ns());
    rec.state.store(static_cast<std::uint32_t>(WorkerState::empty), std::memory_order_release);

    if (state_ == State::starting && !was_ready) {
        spdlog::critical("a worker could not initialise ({}); giving up instead of forking again. "
                         "See the worker's error above.", how);
        exit_code_ = 2;
        begin_stop("worker initialisation failed");
        return;
    }
    if (state_ != State::running) return;
    if (!was_ready && previous_config_ && generation == config_generation_) {
        abandon_reload("a worker with the new configuration could not initialise (" + how + ")");
        return;
    }
    if (!was_replacing) {
        const std::int64_t delay = respawn_.on_death(was_ready);
        next_spawn_ns_ = std::max(next_spawn_ns_, monotonic_ns() + delay);
        if (delay > 0) {
            spdlog::warn("workers failed to initialise {} times in a row; next attempt in {:.1f} s",
                         respawn_.consecutive_failed_inits(), static_cast<double>(delay) / 1e9);
        }
    }
    maintain_workers();
}

void Supervisor::resolve_jobs_of_dead_worker(unsigned slot, const std::string& how) {
    WorkerSlot& w = workers_[slot];
    WorkerRecord& rec = record(slot);
    // Every job it held is resolved here, exactly once (job_fate.hpp).
    const std::uint64_t done = rec.inbox_done.load(std::memory_order_acquire);
    const std::uint64_t running = rec.running_seq.load(std::memory_order_acquire);
    std::deque<PendingJob> requeue;
    for (auto& flight : w.in_flight) {
        PendingJob& job = flight.job;
        Session& s = sessions_[job.record.session_slot];
        if (s.in_flight > 0) --s.in_flight;
        DeathFacts facts;
        facts.finished = flight.seq < done;
        facts.running = running == flight.seq + 1;
        facts.session_live = s.used && s.generation == job.record.session_generation && !s.closing;
        if (facts.running && facts.session_live) {
            // Did the reply make it out before the death? The tail moved if it did.
            const auto* ring = reinterpret_cast<const RingControl*>(s.segment.data() +
                                                                    session_layout_.reply_offset(slot));
            facts.reply_published = ring->tail.load(std::memory_order_acquire) != rec.running_reply_tail.load();
        }
        facts.pool_stopping = state_ == State::stopping;
        facts.stopped_on_purpose = w.stop_seq != 0 && w.stop_seq == flight.seq + 1;
        facts.purpose_kind = w.stop_kind;
        facts.purpose_message = w.stop_message;
        facts.how = how;
        facts.pid = w.pid;
        facts.attempt = job.record.attempt;
        facts.retries = function_settings(function_name(job.record)).retries;
        facts.poison_threshold = config_.poison_threshold;
        const JobFate fate = decide_job_fate(facts);

        switch (fate.kind) {
            case JobFate::Kind::requeue:
                requeue.push_back(std::move(job));
                continue;
            case JobFate::Kind::retry:
                spdlog::warn("job {} of session {} ({}) crashed worker {}; retrying (attempt {} of {})",
                             job.record.job_id, job.record.session_slot, function_name(job.record), w.pid,
                             job.record.attempt + 1, facts.retries + 1);
                ++job.record.attempt;
                counters_.retried += job.items;
                requeue.push_back(std::move(job));
                continue;
            case JobFate::Kind::fail:
                reply_error(s, job.record, fate.error, fate.message, job.items);
                break;
            case JobFate::Kind::drop:
                counters_.dropped += job.items;
                break;
            case JobFate::Kind::finished:
                count_outcome(slot, flight.seq);
                break;
        }
    }
    for (auto it = requeue.rbegin(); it != requeue.rend(); ++it) {
        sessions_[it->record.session_slot].queue.push_front(std::move(*it));
    }
}

// Keeps `workers` members: starts replacements (after the back-off, if initialisations keep
// failing), retires workers whose replacement is ready, and sends surplus workers away.
void Supervisor::maintain_workers() {
    if (state_ != State::running) return;
    unsigned members = 0, ready_members = 0, replaced = 0;
    for (unsigned slot = 0; slot < workers_.size(); ++slot) {
        const WorkerSlot& w = workers_[slot];
        if (w.member()) {
            ++members;
            if (w.ever_ready) ++ready_members;
        } else if (w.pid > 0 && !w.retiring) {
            ++replaced;
        }
    }
    // Too many members (a reload lowered `workers`): the newest go first.
    for (unsigned slot = static_cast<unsigned>(workers_.size()); slot-- > 0 && members > config_.workers;) {
        WorkerSlot& w = workers_[slot];
        if (!w.member()) continue;
        w.replace_reason = "scaled down";
        --members;
        if (w.ever_ready) --ready_members;
        ++replaced;
    }
    // A worker being replaced serves its inbox only: lane jobs would keep it busy past its due.
    for (unsigned slot = 0; slot < workers_.size(); ++slot) {
        const WorkerSlot& w = workers_[slot];
        if (w.pid > 0 && (w.retiring || !w.replace_reason.empty())) {
            record(slot).lanes_until_jobs.store(0, std::memory_order_relaxed);
        }
    }
    // Retire replaced workers once enough new ones are ready to keep `workers` serving.
    for (unsigned slot = 0; slot < workers_.size() && replaced > 0; ++slot) {
        WorkerSlot& w = workers_[slot];
        if (w.pid <= 0 || w.retiring || w.replace_reason.empty()) continue;
        if (ready_members + replaced - 1 < config_.workers) break;  // still needed to keep capacity
        w.retiring = true;
        --replaced;
        spdlog::info("worker slot {} pid {} retiring ({}); {} jobs to finish", slot, w.pid, w.replace_reason,
                     w.in_flight.size());
        record(slot).state.store(static_cast<std::uint32_t>(WorkerState::exiting), std::memory_order_release);
        record(slot).inbox_wake.notify_futex();
    }
    if (previous_config_ && replaced == 0 && ready_members >= config_.workers) {
        spdlog::info("reload complete: {} workers with the new configuration", ready_members);
        previous_config_.reset();
        sd_notifyf(0, "READY=1\nSTATUS=%u workers ready", config_.workers);
    }
    const std::int64_t now = monotonic_ns();
    if (now < next_spawn_ns_) return;
    for (unsigned slot = 0; slot < workers_.size() && members < config_.workers; ++slot) {
        if (workers_[slot].pid != 0) continue;
        if (auto st = spawn_worker(slot); !st) {
            spdlog::error("cannot start a worker in slot {}: {}", slot, st.error().message());
            next_spawn_ns_ = now + RespawnPolicy::kFirstDelayNs;
            return;
        }
        ++members;
    }
}

void Supervisor::check_startup_complete() {
    if (state_ != State::starting) return;
    unsigned ready = 0;
    for (const auto& w : workers_) ready += w.pid > 0 && w.ever_ready ? 1 : 0;
    if (ready < config_.workers) return;
    state_ = State::running;
    const double seconds = static_cast<double>(monotonic_ns() - started_ns_) / 1e9;
    spdlog::info("pool '{}' ready: {} workers initialised in {:.3f} s; control socket {}", config_.name,
                 config_.workers, seconds, control_path_);
    sd_notifyf(0, "READY=1\nSTATUS=%u workers ready\nMAINPID=%d", config_.workers, getpid());
}

// Timeouts of running jobs, and the SIGKILL that follows a SIGTERM the worker ignored.
void Supervisor::supervise_running_jobs() {
    const std::int64_t now = monotonic_ns();
    for (unsigned slot = 0; slot < workers_.size(); ++slot) {
        WorkerSlot& w = workers_[slot];
        if (w.pid <= 0) continue;
        if (w.kill_at_ns >= 0) {
            if (now >= w.kill_at_ns) {
                spdlog::warn("worker slot {} pid {} ignored SIGTERM; sending SIGKILL", slot, w.pid);
                ::kill(w.pid, SIGKILL);
                w.kill_at_ns = std::numeric_limits<std::int64_t>::max();
            }
            continue;
        }
        if (w.stop_seq != 0 || w.in_flight.empty()) continue;
        const WorkerRecord& rec = record(slot);
        const std::uint64_t running = rec.running_seq.load(std::memory_order_acquire);
        if (running == 0) continue;
        for (const auto& flight : w.in_flight) {
            if (flight.seq + 1 != running) continue;
            const std::int64_t ran = now - rec.running_since_ns.load(std::memory_order_relaxed);
            if (flight.timeout_ns > 0 && ran > flight.timeout_ns) {
                ++counters_.timeouts;
                char limit[32];
                std::snprintf(limit, sizeof limit, "%.3f", static_cast<double>(flight.timeout_ns) / 1e9);
                stop_running_job(slot, running, ErrorKind::timeout,
                                 "the job ran longer than its time limit of " + std::string(limit) +
                                     " s; worker " + std::to_string(w.pid) + " was stopped and replaced",
                                 SIGTERM);
            }
            break;
        }
    }
}

// When supervise_running_jobs() next has something to do; -1: nothing pending.
std::int64_t Supervisor::next_supervision_ns() const {
    std::int64_t next = -1;
    auto consider = [&next](std::int64_t at) { next = next < 0 ? at : std::min(next, at); };
    for (unsigned slot = 0; slot < workers_.size(); ++slot) {
        const WorkerSlot& w = workers_[slot];
        if (w.pid <= 0) continue;
        if (w.kill_at_ns >= 0) {
            if (w.kill_at_ns != std::numeric_limits<std::int64_t>::max()) consider(w.kill_at_ns);
            continue;
        }
        const WorkerRecord& rec = record(slot);
        const std::uint64_t running = rec.running_seq.load(std::memory_order_acquire);
        if (running == 0 || w.stop_seq != 0) continue;
        for (const auto& flight : w.in_flight) {
            if (flight.seq + 1 != running) continue;
            if (flight.timeout_ns > 0) {
                consider(rec.running_since_ns.load(std::memory_order_relaxed) + flight.timeout_ns + 1);
            }
            break;
        }
    }
    return next;
}

// Stops the job a worker is running by stopping the worker: its client gets `kind`. The job
// is exclusive (nothing queued behind it), so the signal cannot hit another client's job.
void Supervisor::stop_running_job(unsigned slot, std::uint64_t running, ErrorKind kind, const std::string& message,
                                  int signal) {
    WorkerSlot& w = workers_[slot];
    WorkerRecord& rec = record(slot);
    // The job the decision was about, and no other: it may have ended since.
    if (w.pid <= 0 || running == 0 || rec.running_seq.load(std::memory_order_acquire) != running) return;
    // It takes no lane job from now on: the signal is for this one.
    rec.lanes_until_jobs.store(0, std::memory_order_seq_cst);
    w.stop_seq = running;
    w.stop_lane = lane_job_key(rec);
    w.stop_kind = kind;
    w.stop_message = message;
    spdlog::warn("worker slot {} pid {}: {}; sending SIG{}", slot, w.pid, message, sigabbrev_np(signal));
    ::kill(w.pid, signal);
    w.kill_at_ns = signal == SIGKILL ? std::numeric_limits<std::int64_t>::max()
                                     : monotonic_ns() + static_cast<std::int64_t>(config_.kill_grace_s * 1e9);
}

// Ends queued jobs whose deadline passed, even while no worker is free to look at them.
void Supervisor::expire_queued_deadlines() {
    if (queue_totals_.with_deadline == 0) return;
    const std::int64_t now = monotonic_ns();
    for (auto& s : sessions_) {
        if (!s.used || s.closing) continue;
        for (auto it = s.queue.begin(); it != s.queue.end();) {
            if (it->record.deadline_ns == 0 || now <= it->record.deadline_ns) {
                ++it;
                continue;
            }
            reply_error(s, it->record, ErrorKind::deadline_exceeded,
                        "the job's deadline passed while it was queued", it->items);
            it = s.queue.erase(it);
        }
    }
}

// Reload: new workers with the new configuration start; the old ones serve until enough new
// ones are ready, then retire. If a new worker cannot initialise, the reload is abandoned and
// the old workers carry on.
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
        const unsigned most = static_cast<unsigned>(workers_.size() / 2);
        if (next.workers > most) {
            spdlog::warn("reload: workers = {} needs a restart (at most {} without one)", next.workers, most);
            next.workers = most;
        }
    }
    if (auto lib = LoadedJobLibrary::open(next.jobs_library); !lib) {
        spdlog::error("reload ({}) failed, keeping the current workers: {}", why, lib.error().message());
        return;
    }
    spdlog::info("reloading ({}): starting {} workers with job library {}", why, next.workers, next.jobs_library);
    sd_notify(0, "RELOADING=1\nSTATUS=reloading");
    ++counters_.reloads;
    if (!previous_config_) previous_config_ = config_;
    config_ = std::move(next);
    update_lanes_open();
    ++config_generation_;
    allowed_uids_.clear();
    allowed_gids_.clear();
    if (auto st = resolve_access(); !st) spdlog::warn("reload: {}", st.error().message());
    republish_trust();  // python.pickle may have changed
    for (auto& w : workers_) {
        if (w.pid > 0 && !w.retiring && w.replace_reason.empty()) w.replace_reason = "reload";
    }
    next_spawn_ns_ = 0;
    maintain_workers();
}

void Supervisor::abandon_reload(const std::string& why) {
    spdlog::error("reload failed: {}; keeping the previous workers and configuration", why);
    config_ = std::move(*previous_config_);
    previous_config_.reset();
    republish_trust();
    update_lanes_open();
    for (unsigned slot = 0; slot < workers_.size(); ++slot) {
        WorkerSlot& w = workers_[slot];
        if (w.pid <= 0) continue;
        if (!w.ever_ready && !w.retiring) {
            ::kill(w.pid, SIGKILL);  // a new worker still initialising
            w.retiring = true;
        } else if (w.replace_reason == "reload" && !w.retiring) {
            w.replace_reason.clear();
        }
    }
    sd_notifyf(0, "READY=1\nSTATUS=reload failed; %u workers ready", config_.workers);
    maintain_workers();
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
            if (waiting) idle_spin_.waited(now - wait_start, kSpinNs);
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
        if (spin && now - last_work < kSpinNs) {
            spin_relax();
            continue;
        }
        // Announce the sleep, look once more, then sleep in epoll until something rings or a
        // running job's time limit comes.
        arm_wake_flags(true);
        if (pump(monotonic_ns())) {
            arm_wake_flags(false);
            last_work = monotonic_ns();
            idle_spin_.waited(last_work - wait_start, kSpinNs);
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
    set(pool_header_->supervisor_wake);
    for (unsigned slot = 0; slot < sessions_end_; ++slot) {
        Session& s = sessions_[slot];
        if (s.used && !s.closing) set(s.header->supervisor_wake);
    }
}

bool Supervisor::pump(std::int64_t now) {
    bool progress = collect_completions(now);
    if (pool_header_->lane_posts_left.load(std::memory_order_relaxed) != 0 &&
        pool_header_->lane_posts_left.exchange(0, std::memory_order_seq_cst) != 0) {
        take_posted_lanes(now);
    }
    for (unsigned slot = 0; slot < sessions_end_; ++slot) {
        Session& s = sessions_[slot];
        if (!s.used) continue;
        if (!s.control_backlog.empty()) {
            progress |= flush_control(s);
            // Errors it is not reading would otherwise pile up in our memory without end.
            if (s.control_backlog.size() > kMaxControlBacklog && s.fd >= 0) {
                spdlog::warn("session {} (pid {}) left {} error replies unread; closing it", slot, s.peer.pid,
                             s.control_backlog.size());
                close_connection(s.fd, "stopped reading its control ring");
                continue;
            }
        }
        if (!s.closing) progress |= drain_submit_ring(s, static_cast<int>(slot), now);
    }
    progress |= dispatch(now);
    finish_closed_sessions();
    return progress;
}

void Supervisor::poll_events(int timeout_ms) {
    epoll_event events[64];
    int n = ::epoll_wait(epoll_.get(), events, 64, timeout_ms);
    for (int i = 0; i < n; ++i) {
        const std::uint64_t data = events[i].data.u64;
        const auto tag = static_cast<Tag>(data >> 32);
        const int fd = static_cast<int>(data & 0xffffffff);
        switch (tag) {
            case kControlListen: accept_connections(control_listen_.get(), false); break;
            case kStatusListen: accept_connections(status_listen_.get(), true); break;
            case kSignal: handle_signal(); break;
            case kTimer: handle_timer(); break;
            case kDoorbell: {
                std::uint64_t count;
                [[maybe_unused]] ssize_t r = ::read(doorbell_.get(), &count, sizeof count);
                break;
            }
            case kConnection: handle_connection_guarded(fd); break;
            case kSessionDoorbell: {
                std::uint64_t count;
                [[maybe_unused]] ssize_t r = ::read(fd, &count, sizeof count);
                break;
            }
            case kWorkerChannel: handle_worker_channel(static_cast<unsigned>(fd)); break;
        }
        if (state_ == State::done) return;
    }
}

void Supervisor::handle_signal() {
    signalfd_siginfo info;
    while (::read(signal_fd_.get(), &info, sizeof info) == sizeof info) {
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
    [[maybe_unused]] ssize_t r = ::read(timer_fd_.get(), &expirations, sizeof expirations);
    // Lane jobs pass the supervisor by: their counts and recycling are looked at here.
    for (unsigned slot = 0; slot < workers_.size(); ++slot) {
        count_lane_outcomes(slot);
        check_recycling(slot);
    }
    take_stale_lane_posts(monotonic_ns());
    maintain_workers();
    supervise_running_jobs();
    expire_queued_deadlines();
    const std::int64_t now = monotonic_ns();
    std::vector<int> stale;
    std::vector<int> overdue;
    for (auto& [fd, conn] : connections_) {
        if (conn.answering) {
            if (conn.outbox.overdue(now)) overdue.push_back(fd);
        } else if (conn.session < 0 && now - conn.accepted_ns > kHelloTimeoutNs) {
            stale.push_back(fd);
        }
    }
    for (int fd : stale) close_connection(fd, "no request within 5 s");
    for (int fd : overdue) close_connection(fd, "did not take its answer within 10 s");
    if (listeners_paused_) watch_listeners(true);
    // Memory freed after a burst (status answers of a few hundred KiB, a full queue drained)
    // stays resident in the heap unless it is handed back; a long-lived daemon hands it back.
    if (now - last_trim_ns_ > kTrimIntervalNs) {
        ::malloc_trim(0);
        last_trim_ns_ = now;
    }
    if (state_ == State::stopping) stop_tick();
}

// ---------------------------------------------------------------------------------------------
// Connections and sessions

void Supervisor::accept_connections(int listen_fd, bool status) {
    for (;;) {
        UniqueFd fd(::accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
        if (!fd) {
            if (errno == EMFILE || errno == ENFILE) accept_out_of_descriptors(listen_fd);
            return;  // EAGAIN, or a transient error: nothing more to take now
        }
        auto peer = peer_credentials(fd.get());
        if (!peer) continue;
        if (status && static_cast<std::size_t>(std::count_if(connections_.begin(), connections_.end(), [](const auto& c) {
                          return c.second.status;
                      })) >= kMaxStatusConnections) {
            continue;  // closed: it may ask again once others have been answered
        }
        Connection conn;
        conn.peer = peer.value();
        if (auto groups = peer_groups(fd.get())) conn.groups = std::move(groups.value());
        conn.status = status;
        conn.accepted_ns = monotonic_ns();
        const int raw = fd.get();
        epoll_event ev{EPOLLIN | EPOLLRDHUP, {.u64 = tagged(kConnection, raw)}};
        if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, raw, &ev) != 0) continue;
        conn.fd = std::move(fd);
        connections_.emplace(raw, std::move(conn));
    }
}

void Supervisor::accept_out_of_descriptors(int listen_fd) {
    if (spare_fd_) {
        spare_fd_.reset();
        UniqueFd fd(::accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
        if (fd) {
            [[maybe_unused]] auto st = send_now(
                fd.get(), protocol::encode_frame(protocol::Refused{"overloaded", "the pool is out of file descriptors"}));
        }
        fd.reset();
        spare_fd_.reset(::open("/dev/null", O_RDONLY | O_CLOEXEC));
        const std::int64_t now = monotonic_ns();
        if (now - last_fd_warning_ns_ > 1'000'000'000) {  // a line a second at most, not one per peer
            spdlog::warn("out of file descriptors: refusing new connections");
            last_fd_warning_ns_ = now;
        }
        if (spare_fd_) return;  // the loop comes back while peers wait
    }
    // No spare to refuse with: stop listening until the next tick instead of spinning.
    watch_listeners(false);
}

void Supervisor::watch_listeners(bool watch) {
    listeners_paused_ = !watch;
    for (auto [listen, tag] : {std::pair{&control_listen_, kControlListen}, std::pair{&status_listen_, kStatusListen}}) {
        if (!*listen) continue;
        epoll_event ev{watch ? static_cast<std::uint32_t>(EPOLLIN) : 0u, {.u64 = tagged(tag)}};
        ::epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, listen->get(), &ev);
    }
}

void Supervisor::answer_and_close(Connection& conn, std::string bytes, const std::string& why) {
    if (conn.session >= 0) {
        begin_close_session(conn.session, why);
        conn.session = -1;
    }
    conn.answering = true;
    conn.close_reason = why;
    conn.outbox.put(std::move(bytes), monotonic_ns() + kAnswerDeadlineNs);
    const int fd = conn.fd.get();
    // From now on the connection only waits for room to write; nothing more is read from it.
    epoll_event ev{EPOLLOUT, {.u64 = tagged(kConnection, static_cast<std::uint32_t>(fd))}};
    ::epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, fd, &ev);
    continue_answer(fd);
}

void Supervisor::continue_answer(int fd) {
    auto it = connections_.find(fd);
    if (it == connections_.end()) return;
    switch (it->second.outbox.flush(fd)) {
        case Outbox::Flush::done: close_connection(fd, it->second.close_reason); return;
        case Outbox::Flush::failed: close_connection(fd, "gone before taking its answer"); return;
        case Outbox::Flush::pending: return;
    }
}

void Supervisor::close_connection(int fd, const std::string& why) {
    auto it = connections_.find(fd);
    if (it == connections_.end()) return;
    ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr);
    if (it->second.session >= 0) begin_close_session(it->second.session, why);
    connections_.erase(it);
}

// Whatever goes wrong while one connection's event is handled ends that connection, never
// the pool: the peer is told nothing more, and everyone else is served on.
void Supervisor::handle_connection_guarded(int fd) {
    try {
        auto it = connections_.find(fd);
        if (it != connections_.end() && it->second.answering) return continue_answer(fd);
        handle_connection(fd);
    } catch (const std::exception& e) {
        spdlog::error("internal error while serving a connection ({}); closing it", e.what());
        close_connection(fd, "internal error");
    }
}

void Supervisor::handle_connection(int fd) {
    auto it = connections_.find(fd);
    if (it == connections_.end()) return;
    Connection& conn = it->second;
    char buf[4096];
    for (;;) {
        auto received = receive_available(fd, buf, sizeof buf, conn.passed_fds);
        const ssize_t n = received ? static_cast<ssize_t>(received.value()) : -1;
        if (!received) errno = received.error().errno_value;
        if (conn.status) conn.passed_fds.clear();  // nothing is ever passed to a status socket
        if (n > 0) {
            if (conn.status) {
                conn.status_request.append(buf, static_cast<std::size_t>(n));
                if (conn.status_request.find('\n') != std::string::npos) {
                    answer_status(conn);
                    return;
                }
                if (conn.status_request.size() > 256) {
                    close_connection(fd, "oversized status request");
                    return;
                }
                continue;
            }
            conn.reader.feed(buf, static_cast<std::size_t>(n));
            for (;;) {
                auto frame = conn.reader.next();
                if (!frame) {
                    spdlog::warn("client pid {} sent a malformed frame ({}); closing its connection",
                                 conn.peer.pid, frame.error().message());
                    close_connection(fd, "protocol error");
                    return;
                }
                if (!frame.value()) break;
                on_frame(conn, *frame.value());
                auto still = connections_.find(fd);
                if (still == connections_.end() || still->second.answering) return;  // closed by the frame
            }
            // A descriptor belongs to the frame it came with: left over with no frame pending,
            // or more than one frame could carry, it came with none.
            if ((conn.reader.buffered() == 0 && !conn.passed_fds.empty()) || conn.passed_fds.size() > kMaxPassedFds) {
                close_connection(fd, "descriptors passed without a message that takes them");
                return;
            }
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
        close_connection(fd, n == 0 ? "client disconnected" : "read error");
        return;
    }
}

void Supervisor::on_frame(Connection& conn, const protocol::Frame& frame) {
    const int fd = conn.fd.get();
    auto refuse = [&](const std::string& kind, const std::string& message) {
        answer_and_close(conn, protocol::encode_frame(protocol::Refused{kind, message}), message);
    };
    if (conn.session < 0) {
        if (frame.type == protocol::MessageType::admin) {
            auto admin = protocol::decode<protocol::Admin>(frame);
            if (!admin) return refuse("bad_request", admin.error().message());
            handle_admin(conn, admin.value());
            return;
        }
        auto hello = protocol::decode<protocol::Hello>(frame);
        if (!hello) return refuse("bad_request", "expected a hello: " + hello.error().message());
        if (hello->protocol_version != protocol::kProtocolVersion) {
            return refuse("bad_request", "protocol version " + std::to_string(hello->protocol_version) +
                                             " is not supported");
        }
        open_session(conn, hello.value());
        return;
    }
    Session& session = sessions_[conn.session];
    switch (frame.type) {
        case protocol::MessageType::cancel: {
            auto cancel = protocol::decode<protocol::Cancel>(frame);
            if (!cancel) return close_connection(fd, "malformed cancel");
            handle_cancel(session, cancel.value());
            return;
        }
        case protocol::MessageType::goodbye: close_connection(fd, "client said goodbye"); return;
        case protocol::MessageType::blob_offer:
        case protocol::MessageType::blob_retire:
        case protocol::MessageType::blob_want: {
            std::string why;
            if (!on_blob_frame(conn, session, frame, why)) {
                spdlog::warn("session {} (pid {}): {}; closing it", conn.session, conn.peer.pid, why);
                close_connection(fd, why);
            }
            return;
        }
        default: close_connection(fd, "unexpected message"); return;
    }
}

// The peer's groups come from the socket (SO_PEERGROUPS, read at accept): the loop never asks
// the user database, which may be slow or remote.
static bool peer_in_groups(gid_t primary, const std::vector<gid_t>& supplementary, const std::vector<gid_t>& allowed) {
    auto is_allowed = [&](gid_t g) { return std::find(allowed.begin(), allowed.end(), g) != allowed.end(); };
    return is_allowed(primary) || std::any_of(supplementary.begin(), supplementary.end(), is_allowed);
}

void Supervisor::open_session(Connection& conn, const protocol::Hello& hello) {
    const int fd = conn.fd.get();
    auto refuse = [&](const std::string& kind, const std::string& message) {
        spdlog::warn("refused client pid {} uid {}: {}", conn.peer.pid, conn.peer.uid, message);
        answer_and_close(conn, protocol::encode_frame(protocol::Refused{kind, message}), message);
    };
    const uid_t uid = conn.peer.uid;
    const bool allowed = uid == uid_ || uid == 0 ||
                         std::find(allowed_uids_.begin(), allowed_uids_.end(), uid) != allowed_uids_.end() ||
                         peer_in_groups(conn.peer.gid, conn.groups, allowed_gids_);
    if (!allowed) return refuse("permission", "uid " + std::to_string(uid) + " may not use pool '" + config_.name + "'");
    if (state_ == State::stopping || state_ == State::done) {
        return refuse("shutting_down", "pool '" + config_.name + "' is shutting down");
    }
    const auto held = std::count_if(sessions_.begin(), sessions_.begin() + sessions_end_,
                                    [&](const Session& s) { return s.used && s.peer.uid == uid; });
    if (static_cast<std::uint64_t>(held) >= config_.sessions_per_user()) {
        return refuse("overloaded", "uid " + std::to_string(uid) + " holds " + std::to_string(held) +
                                        " sessions, the most per user (max_sessions_per_user)");
    }
    int slot = -1;
    for (unsigned i = 0; i < sessions_.size(); ++i) {
        if (!sessions_[i].used) {
            slot = static_cast<int>(i);
            break;
        }
    }
    if (slot < 0) return refuse("overloaded", "all " + std::to_string(sessions_.size()) + " sessions are in use");

    Session& s = sessions_[slot];
    s = Session{};
    s.queue = JobQueue(&queue_totals_);
    // Generations only tell one session of a slot from the next; nothing is named after them.
    s.generation = pool_generation_ + (++session_counter_ * 0x9e3779b97f4a7c15ULL);
    auto segment = SharedSegment::create(segment_label(config_.name, "session." + std::to_string(slot)), session_layout_.total_bytes());
    if (!segment) {
        spdlog::error("cannot create the memory of a session for pid {}: {}", conn.peer.pid, segment.error().message());
        return refuse("overloaded", "cannot create session memory: " + segment.error().message());
    }
    UniqueFd doorbell(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
    auto board = lane_board_segment_.share(SharedSegment::Access::read_only);
    if (!doorbell || !board) return refuse("overloaded", "cannot set up a session: out of descriptors");
    epoll_event ev{EPOLLIN, {.u64 = tagged(kSessionDoorbell, static_cast<std::uint32_t>(doorbell.get()))}};
    if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, doorbell.get(), &ev) != 0) {
        return refuse("overloaded", "cannot watch a session's doorbell");
    }
    s.doorbell = std::move(doorbell);
    s.segment = std::move(segment.value());
    s.header = new (s.segment.data()) SessionHeader{};
    s.header->magic = kSessionMagic;
    s.header->layout_version = kLayoutVersion;
    s.header->slot = static_cast<std::uint32_t>(slot);
    s.header->generation = s.generation;
    s.header->state.store(static_cast<std::uint32_t>(SessionState::active), std::memory_order_release);
    std::byte* base = s.segment.data();
    new (base + session_layout_.lane_offset()) Lane{};
    new (base + session_layout_.submit_offset()) RingControl{};
    new (base + session_layout_.control_offset()) RingControl{};
    for (unsigned w = 0; w < session_layout_.worker_slots; ++w) new (base + session_layout_.reply_offset(w)) RingControl{};
    s.submit = RingConsumer(RingView::at(base + session_layout_.submit_offset(), session_layout_.submit_ring_bytes));
    s.control = RingProducer(RingView::at(base + session_layout_.control_offset(), session_layout_.control_ring_bytes));
    s.used = true;
    s.peer = conn.peer;  // before it is published: the session's trust follows from it
    publish_session(static_cast<unsigned>(slot), true);
    sessions_end_ = std::max(sessions_end_, static_cast<unsigned>(slot) + 1);
    s.fd = fd;
    s.client_name = valid_utf8(hello.client_name, kMaxClientNameBytes);
    s.connected_ns = monotonic_ns();

    protocol::Welcome welcome;
    welcome.session_slot = static_cast<std::uint32_t>(slot);
    welcome.session_generation = s.generation;
    welcome.pool_name = config_.name;
    welcome.supervisor_pid = getpid();
    welcome.worker_slots = session_layout_.worker_slots;
    welcome.submit_ring_bytes = session_layout_.submit_ring_bytes;
    welcome.control_ring_bytes = session_layout_.control_ring_bytes;
    welcome.reply_ring_bytes = session_layout_.reply_ring_bytes;
    welcome.inline_max = config_.inline_max;
    conn.session = slot;
    // The socket is blocking-free (non-blocking); a Welcome is small and fits the socket buffer.
    auto segment_fd = s.segment.share(SharedSegment::Access::read_write);
    if (!segment_fd) {
        close_connection(fd, "cannot share the session memory: " + segment_fd.error().message());
        return;
    }
    const int passed[protocol::kWelcomeFds] = {segment_fd->get(), s.doorbell.get(), board->get()};
    if (auto st = send_message(fd, welcome, std::span<const int>(passed)); !st) {
        close_connection(fd, "cannot send welcome: " + st.error().message());
        return;
    }
    spdlog::info("session {} opened: pid {} uid {} ({})", slot, conn.peer.pid, conn.peer.uid, s.client_name);
}

void Supervisor::handle_cancel(Session& session, const protocol::Cancel& cancel) {
    // The job may still sit in the submit ring: take everything in first.
    drain_submit_ring(session, static_cast<int>(&session - sessions_.data()), monotonic_ns());
    for (auto it = session.queue.begin(); it != session.queue.end(); ++it) {
        if (it->record.job_id == cancel.job_id) {
            reply_error(session, it->record, ErrorKind::cancelled, "cancelled before it started", it->items);
            session.queue.erase(it);
            return;
        }
    }
    // Already with a worker (or finished). Without force it runs to completion and the client
    // drops the result. With force, a job that is running is stopped by replacing its worker,
    // if it is exclusive on it (a short job queued with others is about to finish anyway).
    if (!cancel.force) {
        cancel_lane_job(session, cancel.job_id, false);  // still on its lane: cancelled like a queued job
        return;
    }
    const auto session_slot = static_cast<std::uint32_t>(&session - sessions_.data());
    for (unsigned slot = 0; slot < workers_.size(); ++slot) {
        WorkerSlot& w = workers_[slot];
        if (w.pid <= 0 || w.stop_seq != 0) continue;
        const std::uint64_t running = record(slot).running_seq.load(std::memory_order_acquire);
        for (const auto& flight : w.in_flight) {
            const JobRecord& r = flight.job.record;
            if (r.session_slot != session_slot || r.job_id != cancel.job_id) continue;
            if (running == flight.seq + 1 && flight.exclusive) {
                stop_running_job(slot, running, ErrorKind::cancelled,
                                 "cancelled while running; worker " + std::to_string(w.pid) + " was replaced",
                                 SIGKILL);
            }
            return;
        }
    }
    cancel_lane_job(session, cancel.job_id, cancel.force);
}

void Supervisor::handle_admin(Connection& conn, const protocol::Admin& admin) {
    protocol::AdminReply reply;
    if (conn.peer.uid != uid_ && conn.peer.uid != 0) {
        reply.message = "admin commands need the daemon's user or root";
    } else if (admin.command == "stop") {
        reply.ok = true;
        reply.message = "stopping pool '" + config_.name + "'";
    } else if (admin.command == "reload") {
        reply.ok = state_ == State::running;
        reply.message = reply.ok ? "reloading pool '" + config_.name + "'"
                                 : "pool '" + config_.name + "' cannot reload while it is " +
                                       (state_ == State::starting ? "starting" : "stopping");
    } else {
        reply.message = "unknown admin command '" + admin.command + "'";
    }
    const pid_t peer_pid = conn.peer.pid;  // answer_and_close() may destroy conn
    answer_and_close(conn, protocol::encode_frame(reply), "");
    if (reply.ok && admin.command == "stop") begin_stop("stop command from pid " + std::to_string(peer_pid));
    if (reply.ok && admin.command == "reload") begin_reload("reload command from pid " + std::to_string(peer_pid));
}

void Supervisor::begin_close_session(int slot, const std::string& why) {
    Session& s = sessions_[slot];
    if (!s.used || s.closing) return;
    s.closing = true;
    publish_session(static_cast<unsigned>(slot), false);
    s.header->state.store(static_cast<std::uint32_t>(SessionState::closing), std::memory_order_release);
    // Explicitly: the client's copy of the eventfd would keep it in our epoll set.
    if (s.doorbell) ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, s.doorbell.get(), nullptr);
    s.argument_blobs.clear();
    // Workers blocked on this client's full reply ring see the state change within their wait.
    for (const auto& job : s.queue) counters_.dropped += job.items;
    s.queue.clear();
    s.control_backlog.clear();
    spdlog::info("session {} closing ({}): pid {}, {} jobs still with workers", slot, why, s.peer.pid,
                 s.in_flight);
    s.fd = -1;
}

void Supervisor::finish_closed_sessions() {
    for (unsigned slot = 0; slot < sessions_end_; ++slot) {
        Session& s = sessions_[slot];
        if (!s.used || !s.closing || s.in_flight > 0) continue;
        // No worker holds a job of this session any more: its memory can go (the memfds go with
        // the last process that maps them).
        s = Session{};  // unmaps the segment, closes the doorbell (leaving epoll) and the blobs
    }
    while (sessions_end_ > 0 && !sessions_[sessions_end_ - 1].used) --sessions_end_;
}

bool Supervisor::validate(const JobRecord& record, std::span<const std::byte> payload,
                          std::string& why) const {
    std::optional<std::string> refusal = job_refusal(record, payload, JobLimits{config_.inline_max});
    if (!refusal) return true;
    why = std::move(*refusal);
    return false;
}

// A session's queue takes more only within its own share (jobs and payload bytes), so that one
// session's backlog waits in its own submit ring. Beyond the pool's queue_capacity, a session
// may still queue up to its guaranteed share (queue_capacity / max_sessions): sessions that
// fill the pool's queue cannot lock the others out, and the total stays under twice the
// capacity.
bool Supervisor::may_queue_more(const Session& s) const {
    if (s.queue.size() >= config_.session_queue_capacity) return false;
    if (s.queue.payload_bytes() >= config_.session_queue_bytes) return false;
    return queue_totals_.jobs < config_.queue_capacity || s.queue.size() < config_.guaranteed_queue_share();
}

bool Supervisor::drain_submit_ring(Session& s, int slot, std::int64_t now) {
    bool progress = false;
    std::span<const std::byte> bytes;
    while (may_queue_more(s)) {
        auto peek = s.submit.peek(bytes);
        if (peek == RingConsumer::Peek::empty) break;
        if (peek == RingConsumer::Peek::corrupt || bytes.size() < sizeof(JobRecord)) {
            spdlog::warn("session {} wrote a corrupt submit ring; dropping the client", slot);
            s.submit.release();
            auto it = connections_.find(s.fd);
            if (it != connections_.end()) close_connection(s.fd, "corrupt submit ring");
            return true;
        }
        // Copied out first, straight into the queue (the client can still write to its ring
        // while we look); taken out again below if it is refused. Built from the copy, not
        // zeroed first: the queue's slot is usually not in the cache, and every store to it counts.
        JobRecord record;
        std::memcpy(&record, bytes.data(), sizeof record);
        s.queue.push_back(PendingJob{
            record, std::string(reinterpret_cast<const char*>(bytes.data()) + sizeof(JobRecord),
                                bytes.size() - sizeof(JobRecord))});
        s.submit.pop();
        progress = true;
        accept_submission(s, slot, now);
    }
    if (progress) s.submit.release();
    return progress;
}

void Supervisor::accept_submission(Session& s, int slot, std::int64_t now) {
    PendingJob& job = s.queue.back();
    job.record.session_slot = static_cast<std::uint32_t>(slot);
    job.record.session_generation = s.generation;
    job.record.attempt = 1;
    job.record.enqueued_ns = now;
    ++s.submitted;
    std::string why;
    // Counted only once it is known to be what it claims: a refused record is one job, whatever
    // its batch header says.
    const auto payload = std::as_bytes(std::span(job.payload.data(), job.payload.size()));
    if (!validate(job.record, payload, why)) {
        counters_.submitted += 1;
        reply_error(s, job.record, ErrorKind::bad_request, why, 1);
        s.queue.pop_back();
        return;
    }
    job.items = batch_item_count(job.record, payload);
    counters_.submitted += job.items;
    if (state_ == State::stopping) {
        reply_error(s, job.record, ErrorKind::shutting_down, "pool '" + config_.name + "' is shutting down",
                    job.items);
        s.queue.pop_back();
        return;
    }
    job.stats = &stats_for(s, job.record);
}

void Supervisor::reply_error(Session& s, const JobRecord& record, ErrorKind kind,
                             const std::string& message, std::uint32_t items) {
    counters_.failed[static_cast<std::size_t>(kind)] += items;
    ReplyRecord reply{};
    reply.job_id = record.job_id;
    reply.status = static_cast<std::uint16_t>(kind);
    reply.payload_bytes = static_cast<std::uint32_t>(message.size());
    std::string bytes(reinterpret_cast<const char*>(&reply), sizeof reply);
    bytes += message;
    s.control_backlog.push_back(std::move(bytes));
    flush_control(s);
}

bool Supervisor::flush_control(Session& s) {
    bool progress = false;
    while (!s.control_backlog.empty()) {
        const std::string& bytes = s.control_backlog.front();
        std::byte* out = s.control.try_reserve(static_cast<std::uint32_t>(bytes.size()));
        if (out == nullptr) break;  // the client is slow to read: keep it for later
        std::memcpy(out, bytes.data(), bytes.size());
        s.control.commit(static_cast<std::uint32_t>(bytes.size()));
        s.control_backlog.pop_front();
        progress = true;
    }
    if (progress) {
        s.control.publish();
        s.header->client_wake.notify_futex();
    }
    return progress;
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
    for (UniqueFd* listen : {&control_listen_, &status_listen_}) {
        if (*listen) ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, listen->get(), nullptr);
        listen->reset();
    }
    ::unlink(control_path_.c_str());
    ::unlink(status_path_.c_str());
    sockets_removed_ = true;
    stop_tick();
}

void Supervisor::stop_tick() {
    const bool grace_over = monotonic_ns() >= stop_deadline_ns_;
    bool work_left = queue_totals_.jobs > 0;
    for (unsigned slot = 0; slot < workers_.size(); ++slot) {
        work_left |= !workers_[slot].in_flight.empty() || lane_jobs_running(slot) > 0;
    }
    if (grace_over || !work_left) {
        // Queued jobs that will not run now get their terminal reply.
        for (auto& s : sessions_) {
            if (!s.used || s.closing) continue;
            for (auto& job : s.queue) {
                reply_error(s, job.record, ErrorKind::shutting_down,
                            "pool '" + config_.name + "' stopped before the job could run", job.items);
            }
            s.queue.clear();
        }
        for (unsigned slot = 0; slot < workers_.size(); ++slot) {
            WorkerSlot& w = workers_[slot];
            if (w.pid <= 0) continue;
            if (grace_over && (!w.in_flight.empty() || lane_jobs_running(slot) > 0)) {
                ::kill(w.pid, SIGKILL);  // its running job is answered shutting_down by the reaper
            } else {
                record(slot).state.store(static_cast<std::uint32_t>(WorkerState::exiting));
                record(slot).inbox_wake.notify_futex();
            }
        }
    }
    bool alive = false;
    for (auto& w : workers_) alive |= w.pid > 0;
    if (!alive) {
        for (auto& s : sessions_) {
            if (s.used) flush_control(s);
        }
        state_ = State::done;
    }
}

// ---------------------------------------------------------------------------------------------
// Status

void Supervisor::answer_status(Connection& conn) {
    std::string request = conn.status_request.substr(0, conn.status_request.find('\n'));
    while (!request.empty() && (request.back() == '\r' || request.back() == ' ')) request.pop_back();
    std::string body;
    for (unsigned slot = 0; slot < workers_.size(); ++slot) count_lane_outcomes(slot);
    if (request.empty() || request == "json") {
        body = status_json() + "\n";
    } else if (request == "prometheus" || request == "metrics") {
        body = status_prometheus();
    } else {
        body = "{\"error\":\"unknown request; send 'json' or 'prometheus'\"}\n";
    }
    answer_and_close(conn, std::move(body), "");
}

}  // namespace warmpool
