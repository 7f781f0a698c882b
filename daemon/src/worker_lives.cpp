// WorkerLives: worker_lives.hpp. What to start and retire is decided by plan_slots()
// (worker_slots.hpp); the fate of each job of a dead worker by decide_job_fate() (job_fate.hpp),
// carried out by JobIntake::resolve_held_jobs() and Lanes::settle_dead_worker().
#include "warmpool/daemon/worker_lives.hpp"

#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/wait.h>

#include <algorithm>

#include "warmpool/common/clock.hpp"
#include "warmpool/daemon/scaling_policy.hpp"

namespace warmpool {

std::string describe_wait_status(int status) {
    if (WIFEXITED(status)) {
        int code = WEXITSTATUS(status);
        if (code == kWorkerExitInitFailed) return "exited: initialisation failed";
        if (code == kWorkerExitOutOfMemory) return "ran out of memory (MemoryError)";
        if (code == kWorkerExitBadConfig) return "exited: the configuration names a function it does not have";
        return "exited with status " + std::to_string(code);
    }
    if (WIFSIGNALED(status)) {
        int sig = WTERMSIG(status);
        const char* abbrev = sigabbrev_np(sig);
        std::string text = "killed by signal " + std::to_string(sig) + " (SIG" + (abbrev ? abbrev : "?") + ")";
        if (WCOREDUMP(status)) text += ", core dumped";
        return text;
    }
    return "ended with wait status " + std::to_string(status);
}

WorkerLives::WorkerLives(std::unique_ptr<WorkerSlots> slots, const PoolConfig& config, const PoolLifecycle& life,
                         PoolMemory pool, int doorbell_fd, Units units)
    : slots_(std::move(slots)), config_(config), life_(life), pool_(pool), doorbell_fd_(doorbell_fd), units_(units),
      wanted_(initial_workers(scaling_limits(config))) {}

WorkerLives::~WorkerLives() {
    // Workers must not outlive the supervisor holding the pool's memory: they also have PDEATHSIG.
    for (const auto& w : slots_->all()) {
        if (w.live()) ::kill(w.pid, SIGKILL);
    }
    for (const auto& w : slots_->all()) {
        if (w.live()) ::waitpid(w.pid, nullptr, 0);
    }
}

Status WorkerLives::spawn(unsigned slot) {
    // A fresh record, lane tallies and an empty inbox: the previous occupant's jobs were all
    // resolved.
    pool_.reset_worker(slot);
    WorkerRecord& rec = pool_.worker(slot);
    rec.state.store(static_cast<std::uint32_t>(WorkerState::starting), std::memory_order_release);
    units_.dispatcher.start_worker(slot);
    units_.lanes.start_worker(slot);
    WorkerSlot& w = slots_->renew(slot, config_, life_.config_generation);
    rec.lanes_until_jobs.store(w.recycle_after > 0 ? w.recycle_after : ~std::uint64_t{0}, std::memory_order_relaxed);

    WorkerSetup setup = worker_setup(slot, w.cpu);
    Result<ForkedWorker> forked = make_error(SysError::Code::invalid, "no zygote");
    if (zygote_.serves(setup)) forked = zygote_.fork_worker(slot, w.cpu);  // its error is logged
    if (!forked) forked = fork_worker(std::move(setup), doorbell_fd_);
    if (!forked) return forked.error();
    const pid_t pid = forked->pid;
    if (auto st = units_.broker.open_worker_channel(slot, std::move(forked->channel)); !st) {
        spdlog::error("worker slot {}: no channel to pid {}: {}", slot, pid, st.error().message());
    }
    w.pid = pid;
    w.started_ns = monotonic_ns();
    rec.pid.store(pid, std::memory_order_relaxed);
    if (w.cpu >= 0) {
        spdlog::info("worker slot {} started: pid {}, on CPU {}", slot, pid, w.cpu);
    } else {
        spdlog::info("worker slot {} started: pid {}", slot, pid);
    }
    return {};
}

WorkerSetup WorkerLives::worker_setup(unsigned slot, int cpu) const {
    WorkerSetup setup;
    setup.pool_name = config_.name;
    setup.jobs_library = config_.jobs_library;
    setup.log_level = config_.log_level;
    setup.slot = slot;
    setup.pool_layout = pool_.layout;
    setup.session_layout = units_.sessions.layout();
    setup.pool_base = pool_.base;
    setup.lane_board = units_.lanes.board();
    setup.inline_max = config_.inline_max;
    setup.python.enabled = config_.python;
    setup.python.modules = config_.python_modules;
    setup.python.path = config_.python_path;
    setup.cpu = cpu;
    for (const auto& [name, settings] : config_.functions) setup.configured_functions.push_back(name);
    return setup;
}

Status WorkerLives::start_workers() {
    if (config_.preload) {
        if (auto st = zygote_.build(worker_setup(0, -1), doorbell_fd_, /*awaited=*/true, monotonic_ns()); st) {
            return {};  // the workers start once it is ready, or the plain way if it dies
        } else {
            spdlog::error("cannot start the zygote ({}); workers load the job library themselves",
                          st.error().message());
        }
    }
    for (unsigned slot = 0; slot < wanted_; ++slot) {
        if (auto st = spawn(slot); !st) return st;
    }
    return {};
}

WorkerLives::Event WorkerLives::look_at_zygote() {
    if (!zygote_.look(monotonic_ns())) return {};
    return after_zygote_change();
}

WorkerLives::Event WorkerLives::after_zygote_change() {
    if (life_.state == PoolState::starting && !slots_->any_live() && !zygote_.awaited()) {
        for (unsigned slot = 0; slot < wanted_; ++slot) {
            if (auto st = spawn(slot); !st) return {Event::Kind::init_failed, "cannot start a worker: " + st.error().message(), 2};
        }
        return {};
    }
    return maintain_workers();
}

void WorkerLives::maintain_zygote(std::int64_t now) {
    if (!config_.preload) {
        if (zygote_.state() != Zygote::State::none) zygote_.stop();
        return;
    }
    const bool stale = (zygote_.state() == Zygote::State::ready || zygote_.state() == Zygote::State::preloading) &&
                       !same_worker_image(zygote_.built_for(), worker_setup(0, -1));
    const bool missing = zygote_.state() == Zygote::State::none ||
                         (zygote_.state() == Zygote::State::down && now >= zygote_.next_build_ns());
    if (!stale && !missing) return;
    if (auto st = zygote_.build(worker_setup(0, -1), doorbell_fd_, /*awaited=*/false, now); !st) {
        spdlog::error("cannot rebuild the zygote: {}", st.error().message());
    }
}

WorkerLives::Event WorkerLives::note_if_ready(unsigned slot, std::int64_t now) {
    WorkerSlot& w = (*slots_)[slot];
    if (!w.live() || w.ever_ready) return {};
    if (pool_.worker(slot).state.load(std::memory_order_acquire) != static_cast<std::uint32_t>(WorkerState::ready)) {
        return {};
    }
    w.ever_ready = true;
    slots_->respawn().on_ready();
    spdlog::info("worker slot {} pid {} ready after {:.3f} s", slot, w.pid,
                 static_cast<double>(now - w.started_ns) / 1e9);
    // What it declared before it reported ready is in its channel: heard before any job of a
    // function it declared a timeout for can reach it.
    units_.broker.read_worker_channel(slot);
    // All ready: the supervisor lets the pool run, then has the workers maintained.
    if (life_.state == PoolState::starting && slots_->ready_workers() >= wanted_) {
        return {Event::Kind::pool_ready, "", 0};
    }
    return maintain_workers();  // a replacement is ready: the worker it replaces may retire
}

WorkerLives::Event WorkerLives::check_recycling(unsigned slot) {
    WorkerSlot& w = (*slots_)[slot];
    if (!w.member()) return {};
    const WorkerRecord& rec = pool_.worker(slot);
    if (w.recycle_after > 0 && rec.jobs_done.load(std::memory_order_relaxed) >= w.recycle_after) {
        spdlog::info("worker slot {} pid {} recycled after {} jobs (max_jobs {})", slot, w.pid,
                     rec.jobs_done.load(), config_.max_jobs);
        w.replace = ReplaceReason::max_jobs;
    } else if (config_.max_rss_bytes > 0 && rec.rss_bytes.load(std::memory_order_relaxed) > config_.max_rss_bytes) {
        spdlog::info("worker slot {} pid {} recycled: RSS {} MiB passed max_rss {} MiB", slot, w.pid,
                     rec.rss_bytes.load() >> 20, config_.max_rss_bytes >> 20);
        w.replace = ReplaceReason::max_rss;
    } else {
        return {};
    }
    ++units_.counters.recycled;
    return maintain_workers();
}

WorkerLives::Event WorkerLives::maintain_workers() {
    if (life_.state != PoolState::running) return {};
    const SlotPlan plan = plan_slots(slots_->all(), wanted_, life_.reloading());
    for (unsigned slot : plan.scale_down) (*slots_)[slot].replace = ReplaceReason::scaled_down;
    // A worker being replaced serves its inbox only: lane jobs would keep it busy past its due.
    for (unsigned slot = 0; slot < slots_->size(); ++slot) {
        const WorkerSlot& w = (*slots_)[slot];
        if (w.live() && (w.retiring || w.replace != ReplaceReason::none)) {
            pool_.worker(slot).lanes_until_jobs.store(0, std::memory_order_relaxed);
        }
    }
    for (unsigned slot : plan.retire) {
        WorkerSlot& w = (*slots_)[slot];
        w.retiring = true;
        spdlog::info("worker slot {} pid {} retiring ({}); {} jobs to finish", slot, w.pid, to_string(w.replace),
                     units_.dispatcher.holdings(slot).jobs.size());
        // A worker still initialising sees this instead of becoming ready (shm_layout.hpp: state).
        pool_.worker(slot).state.store(static_cast<std::uint32_t>(WorkerState::exiting), std::memory_order_release);
        pool_.worker(slot).inbox_wake.notify_futex();
    }
    // A complete reload spawns nothing: every member is ready, so none is missing.
    const Event done = plan.reload_complete ? Event{Event::Kind::reload_complete, "", 0} : Event{};
    const std::int64_t now = monotonic_ns();
    maintain_zygote(now);
    // A zygote preloading for a start or a reload forks the new workers once it is ready.
    if (now < slots_->next_spawn_ns || zygote_.awaited()) return done;
    for (unsigned slot : plan.spawn) {
        if (auto st = spawn(slot); !st) {
            spdlog::error("cannot start a worker in slot {}: {}", slot, st.error().message());
            slots_->next_spawn_ns = now + RespawnPolicy::kFirstDelayNs;
            return done;
        }
    }
    return done;
}

std::optional<WorkerLives::Event> WorkerLives::reap_one() {
    for (;;) {
        int status = 0;
        const pid_t pid = ::waitpid(-1, &status, WNOHANG);
        if (pid <= 0) return std::nullopt;
        if (const int slot = slots_->find(pid); slot >= 0) return on_worker_exit(static_cast<unsigned>(slot), status);
        if (zygote_.on_exit(pid, status, monotonic_ns())) return after_zygote_change();
    }
}

WorkerLives::Event WorkerLives::on_worker_exit(unsigned slot, int wait_status) {
    WorkerSlot& w = (*slots_)[slot];
    WorkerRecord& rec = pool_.worker(slot);
    const auto state = static_cast<WorkerState>(rec.state.load(std::memory_order_acquire));
    WorkerDeath death;
    death.how = describe_wait_status(wait_status);
    if (WIFSIGNALED(wait_status) && WTERMSIG(wait_status) == SIGKILL && !w.stop.signalled() &&
        slots_->oom_kill_since_last_asked()) {
        death.how += ": out of memory (the kernel's OOM killer)";
    }
    death.pid = w.pid;
    death.pool_stopping = life_.state == PoolState::stopping;
    death.stop_kind = w.stop.kind;
    death.stop_message = w.stop.message;
    death.poison_threshold = config_.poison_threshold;
    const bool was_ready = w.ever_ready || state == WorkerState::ready;
    const bool on_purpose = life_.state == PoolState::stopping || w.retiring || w.stop.given() || state == WorkerState::exiting;
    const bool clean = WIFEXITED(wait_status) && WEXITSTATUS(wait_status) == 0;
    // Told to stop while still initialising (a reload replaced it), and it did: not a failure.
    const bool failed_init = !was_ready && !(on_purpose && clean);
    PoolCounters& counters = units_.counters;
    ++counters.worker_exits;
    if (failed_init) ++counters.failed_inits;
    if (on_purpose && (clean || w.stop.given())) {
        spdlog::info("worker slot {} pid {} {}{}", slot, w.pid, death.how, w.retiring ? " (retired)" : "");
    } else {
        if (was_ready) ++counters.worker_crashes;
        spdlog::warn("worker slot {} pid {} {} after {} jobs{}", slot, w.pid, death.how, rec.jobs_done.load(),
                     units_.dispatcher.holdings(slot).jobs.empty() ? "" : " holding jobs");
    }

    // It watches no lane any more; a post only it saw goes to the supervisor's queue.
    units_.lanes.forget_watcher(slot);
    units_.lanes.settle_dead_worker(slot, pool_, units_.sessions, w.stop, death, counters);
    units_.intake.resolve_held_jobs(slot, units_.dispatcher.release_all(slot, units_.sessions), death, w.stop, pool_);
    units_.broker.close_worker_channel(slot);
    const std::uint64_t generation = w.config_generation;
    const bool was_replacing = w.replace != ReplaceReason::none || w.retiring;
    w.pid = 0;
    slots_->record_exit(slot, death.how);
    // A post only it saw is queued, unless another worker watches (and so will see it).
    if (!units_.lanes.any_watching()) units_.intake.take_posted_lanes(monotonic_ns());
    rec.state.store(static_cast<std::uint32_t>(WorkerState::empty), std::memory_order_release);

    if (life_.state == PoolState::starting && failed_init) {
        // A configuration error, as one found before the start: restarting will not fix it.
        const bool config_error = WIFEXITED(wait_status) && WEXITSTATUS(wait_status) == kWorkerExitBadConfig;
        return {Event::Kind::init_failed, death.how, config_error ? 64 : 2};
    }
    if (life_.state != PoolState::running) return {};
    if (failed_init && life_.reloading() && generation == life_.config_generation) {
        return {Event::Kind::reload_failed, death.how, 0};
    }
    if (!was_replacing) {
        const std::int64_t delay = slots_->respawn().on_death(was_ready);
        slots_->next_spawn_ns = std::max(slots_->next_spawn_ns, monotonic_ns() + delay);
        if (delay > 0) {
            spdlog::warn("workers failed to initialise {} times in a row; next attempt in {:.1f} s",
                         slots_->respawn().consecutive_failed_inits(), static_cast<double>(delay) / 1e9);
        }
    }
    return maintain_workers();
}

void WorkerLives::replace_members_for_reload() {
    for (auto& w : slots_->all()) {
        if (w.member()) w.replace = ReplaceReason::reload;
    }
    slots_->next_spawn_ns = 0;
    // The library at the path may have changed: a new zygote preloads it, and the reload's
    // workers wait for it.
    if (config_.preload) {
        if (auto st = zygote_.build(worker_setup(0, -1), doorbell_fd_, /*awaited=*/true, monotonic_ns()); !st) {
            spdlog::error("cannot rebuild the zygote for the reload: {}", st.error().message());
        }
    }
}

void WorkerLives::keep_previous_workers() {
    for (auto& w : slots_->all()) {
        if (!w.live()) continue;
        if (!w.ever_ready && !w.retiring) {
            ::kill(w.pid, SIGKILL);  // a new worker still initialising
            w.retiring = true;
        } else if (w.replace == ReplaceReason::reload && !w.retiring) {
            w.replace = ReplaceReason::none;
        }
    }
}

}  // namespace warmpool
