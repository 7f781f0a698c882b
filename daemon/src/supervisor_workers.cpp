// The supervisor's workers: starting them, noticing them ready, replacing and retiring them,
// their deaths and what becomes of the jobs they held, and the time limits of running jobs
// (supervisor.hpp). What to start and retire is decided by plan_slots() (worker_slots.hpp); the
// fate of each job of a dead worker by decide_job_fate() (job_fate.hpp).
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/epoll.h>
#include <sys/wait.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <deque>

#include "warmpool/common/clock.hpp"
#include "warmpool/daemon/supervisor.hpp"

namespace warmpool {

namespace {

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
        std::string text = "killed by signal " + std::to_string(sig) + " (SIG" + (abbrev ? abbrev : "?") + ")";
        if (WCOREDUMP(status)) text += ", core dumped";
        return text;
    }
    return "ended with wait status " + std::to_string(status);
}

}  // namespace

Status Supervisor::spawn_worker(unsigned slot) {
    // A fresh record, lane tallies and an empty inbox: the previous occupant's jobs were all
    // resolved.
    pool_.reset_worker(slot);
    WorkerRecord& rec = pool_.worker(slot);
    rec.state.store(static_cast<std::uint32_t>(WorkerState::starting), std::memory_order_release);
    dispatcher_->start_worker(slot);
    lanes_.start_worker(slot);
    WorkerSlot& w = workers_->renew(slot, config_, config_generation_);
    rec.lanes_until_jobs.store(w.recycle_after > 0 ? w.recycle_after : ~std::uint64_t{0}, std::memory_order_relaxed);

    WorkerSetup setup;
    setup.pool_name = config_.name;
    setup.jobs_library = config_.jobs_library;
    setup.log_level = config_.log_level;
    setup.slot = slot;
    setup.pool_layout = pool_.layout;
    setup.session_layout = session_layout_;
    setup.pool_base = pool_.base;
    setup.lane_board = lanes_.board();
    setup.inline_max = config_.inline_max;
    setup.python.enabled = config_.python;
    setup.python.modules = config_.python_modules;
    setup.python.path = config_.python_path;
    setup.cpu = w.cpu;
    auto forked = fork_worker(std::move(setup), endpoints_.doorbell.get());
    if (!forked) return forked.error();
    const pid_t pid = forked->pid;
    if (auto st = open_worker_channel(slot, std::move(forked->channel)); !st) {
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

// A worker that reported ready since the last look: the pool may now be running, and a worker it
// replaces may retire.
void Supervisor::note_if_ready(unsigned slot, std::int64_t now) {
    WorkerSlot& w = (*workers_)[slot];
    if (!w.live() || w.ever_ready) return;
    if (pool_.worker(slot).state.load(std::memory_order_acquire) != static_cast<std::uint32_t>(WorkerState::ready)) {
        return;
    }
    w.ever_ready = true;
    workers_->respawn().on_ready();
    spdlog::info("worker slot {} pid {} ready after {:.3f} s", slot, w.pid,
                 static_cast<double>(now - w.started_ns) / 1e9);
    // What it declared before it reported ready is in its channel: heard before any job of a
    // function it declared a timeout for can reach it.
    handle_worker_channel(slot);
    if (state_ == State::starting && workers_->ready_workers() >= config_.workers) {
        state_ = State::running;
        const double seconds = static_cast<double>(monotonic_ns() - started_ns_) / 1e9;
        spdlog::info("pool '{}' ready: {} workers initialised in {:.3f} s; control socket {}", config_.name,
                     config_.workers, seconds, endpoints_.control_path);
        sd_notifyf(0, "READY=1\nSTATUS=%u workers ready\nMAINPID=%d", config_.workers, getpid());
    }
    maintain_workers();  // a replacement is ready: the worker it replaces may retire
}

// Replaces a worker that did max_jobs jobs or grew past max_rss.
void Supervisor::check_recycling(unsigned slot) {
    WorkerSlot& w = (*workers_)[slot];
    if (!w.member()) return;
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
        return;
    }
    ++counters_.recycled;
    maintain_workers();
}

// Keeps `workers` members (plan_slots): starts replacements (after the back-off, if
// initialisations keep failing), retires workers whose replacement is ready, and sends surplus
// workers away.
void Supervisor::maintain_workers() {
    if (state_ != State::running) return;
    const SlotPlan plan = plan_slots(workers_->all(), config_.workers, previous_config_.has_value());
    for (unsigned slot : plan.scale_down) (*workers_)[slot].replace = ReplaceReason::scaled_down;
    // A worker being replaced serves its inbox only: lane jobs would keep it busy past its due.
    for (unsigned slot = 0; slot < workers_->size(); ++slot) {
        const WorkerSlot& w = (*workers_)[slot];
        if (w.live() && (w.retiring || w.replace != ReplaceReason::none)) {
            pool_.worker(slot).lanes_until_jobs.store(0, std::memory_order_relaxed);
        }
    }
    for (unsigned slot : plan.retire) {
        WorkerSlot& w = (*workers_)[slot];
        w.retiring = true;
        spdlog::info("worker slot {} pid {} retiring ({}); {} jobs to finish", slot, w.pid, to_string(w.replace),
                     dispatcher_->holdings(slot).jobs.size());
        // A worker still initialising sees this instead of becoming ready (shm_layout.hpp: state).
        pool_.worker(slot).state.store(static_cast<std::uint32_t>(WorkerState::exiting), std::memory_order_release);
        pool_.worker(slot).inbox_wake.notify_futex();
    }
    if (plan.reload_complete) {
        spdlog::info("reload complete: {} workers with the new configuration", workers_->ready_workers());
        previous_config_.reset();
        sd_notifyf(0, "READY=1\nSTATUS=%u workers ready", config_.workers);
    }
    const std::int64_t now = monotonic_ns();
    if (now < workers_->next_spawn_ns) return;
    for (unsigned slot : plan.spawn) {
        if (auto st = spawn_worker(slot); !st) {
            spdlog::error("cannot start a worker in slot {}: {}", slot, st.error().message());
            workers_->next_spawn_ns = now + RespawnPolicy::kFirstDelayNs;
            return;
        }
    }
}

void Supervisor::reap_children() {
    for (;;) {
        int status = 0;
        pid_t pid = ::waitpid(-1, &status, WNOHANG);
        if (pid <= 0) return;
        if (const int slot = workers_->find(pid); slot >= 0) on_worker_exit(static_cast<unsigned>(slot), status);
    }
}

void Supervisor::on_worker_exit(unsigned slot, int wait_status) {
    WorkerSlot& w = (*workers_)[slot];
    WorkerRecord& rec = pool_.worker(slot);
    const auto state = static_cast<WorkerState>(rec.state.load(std::memory_order_acquire));
    WorkerDeath death;
    death.how = describe_wait_status(wait_status);
    if (WIFSIGNALED(wait_status) && WTERMSIG(wait_status) == SIGKILL && !w.stop.signalled() && oom_kills_.changed()) {
        death.how += ": out of memory (the kernel's OOM killer)";
    }
    death.pid = w.pid;
    death.pool_stopping = state_ == State::stopping;
    death.stop_kind = w.stop.kind;
    death.stop_message = w.stop.message;
    death.poison_threshold = config_.poison_threshold;
    const bool was_ready = w.ever_ready || state == WorkerState::ready;
    const bool on_purpose = state_ == State::stopping || w.retiring || w.stop.given() || state == WorkerState::exiting;
    const bool clean = WIFEXITED(wait_status) && WEXITSTATUS(wait_status) == 0;
    // Told to stop while still initialising (a reload replaced it), and it did: not a failure.
    const bool failed_init = !was_ready && !(on_purpose && clean);
    ++counters_.worker_exits;
    if (failed_init) ++counters_.failed_inits;
    if (on_purpose && (clean || w.stop.given())) {
        spdlog::info("worker slot {} pid {} {}{}", slot, w.pid, death.how, w.retiring ? " (retired)" : "");
    } else {
        if (was_ready) ++counters_.worker_crashes;
        spdlog::warn("worker slot {} pid {} {} after {} jobs{}", slot, w.pid, death.how, rec.jobs_done.load(),
                     dispatcher_->holdings(slot).jobs.empty() ? "" : " holding jobs");
    }

    // It watches no lane any more; a post only it saw goes to the supervisor's queue.
    lanes_.forget_watcher(slot);
    settle_lane_job(slot, death);
    resolve_jobs_of_dead_worker(slot, death);
    // Its result blobs (kept for reuse) have no owner any more; clients keep what they have.
    // Those a published reply names but its client has not asked for yet go with the session.
    // (Offers still in its channel are read first: it sent each before the reply naming it.)
    handle_worker_channel(slot);
    forget_results_of(w.pid);
    if (w.channel) {
        ::epoll_ctl(endpoints_.epoll.get(), EPOLL_CTL_DEL, w.channel.get(), nullptr);
        w.channel.reset();
    }
    const std::uint64_t generation = w.config_generation;
    const bool was_replacing = w.replace != ReplaceReason::none || w.retiring;
    w.pid = 0;
    workers_->record_exit(slot, death.how);
    // A post only it saw is queued, unless another worker watches (and so will see it).
    if (!lanes_.any_watching()) take_posted_lanes(monotonic_ns());
    rec.state.store(static_cast<std::uint32_t>(WorkerState::empty), std::memory_order_release);

    if (state_ == State::starting && failed_init) {
        spdlog::critical("a worker could not initialise ({}); giving up instead of forking again. "
                         "See the worker's error above.", death.how);
        exit_code_ = 2;
        begin_stop("worker initialisation failed");
        return;
    }
    if (state_ != State::running) return;
    if (failed_init && previous_config_ && generation == config_generation_) {
        abandon_reload("a worker with the new configuration could not initialise (" + death.how + ")");
        return;
    }
    if (!was_replacing) {
        const std::int64_t delay = workers_->respawn().on_death(was_ready);
        workers_->next_spawn_ns = std::max(workers_->next_spawn_ns, monotonic_ns() + delay);
        if (delay > 0) {
            spdlog::warn("workers failed to initialise {} times in a row; next attempt in {:.1f} s",
                         workers_->respawn().consecutive_failed_inits(), static_cast<double>(delay) / 1e9);
        }
    }
    maintain_workers();
}

// Every job the dead worker held is resolved here, exactly once (job_fate.hpp).
void Supervisor::resolve_jobs_of_dead_worker(unsigned slot, const WorkerDeath& death) {
    const WorkerSlot& w = (*workers_)[slot];
    const WorkerRecord& rec = pool_.worker(slot);
    const std::uint64_t done = rec.inbox_done.load(std::memory_order_acquire);
    const std::uint64_t running = rec.running_seq.load(std::memory_order_acquire);
    Fifo<InFlightJob> held = dispatcher_->release_all(slot, *sessions_);
    std::deque<PendingJob> requeue;
    for (auto& flight : held) {
        PendingJob& job = flight.job;
        SessionSlot& s = (*sessions_)[job.record.session_slot];
        DeathFacts facts = death_facts(death);
        facts.finished = flight.seq < done;
        facts.running = running == running_word_of_inbox_seq(flight.seq);
        facts.session_live = s.open() && s.generation == job.record.session_generation;
        if (facts.running && facts.session_live) {
            // Did the reply make it out before the death? The tail moved if it did.
            facts.reply_published = s.memory.reply_control(slot).tail.load(std::memory_order_acquire) !=
                                    rec.running_reply_tail.load(std::memory_order_acquire);
        }
        facts.stopped_on_purpose = w.stop.running == running_word_of_inbox_seq(flight.seq);
        facts.attempt = job.record.attempt;
        facts.retries = functions_.settings(function_name(job.record)).retries;
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
                counters_.add_outcomes(pool_.outcome(slot, flight.seq));
                break;
        }
    }
    for (auto it = requeue.rbegin(); it != requeue.rend(); ++it) {
        (*sessions_)[it->record.session_slot].queue.push_front(std::move(*it));
    }
}

// Timeouts of running jobs, and the SIGKILL that follows a SIGTERM the worker ignored.
void Supervisor::supervise_running_jobs() {
    const std::int64_t now = monotonic_ns();
    for (unsigned slot = 0; slot < workers_->size(); ++slot) {
        WorkerSlot& w = (*workers_)[slot];
        if (!w.live()) continue;
        if (w.stop.signalled()) {
            if (w.stop.kill_due() && now >= w.stop.kill_at_ns) {
                spdlog::warn("worker slot {} pid {} ignored SIGTERM; sending SIGKILL", slot, w.pid);
                ::kill(w.pid, SIGKILL);
                w.stop.kill_at_ns = StopOrder::kNoKillDue;
            }
            continue;
        }
        if (w.stop.given()) continue;
        const WorkerRecord& rec = pool_.worker(slot);
        const std::uint64_t running = rec.running_seq.load(std::memory_order_acquire);
        const InFlightJob* job = dispatcher_->holdings(slot).running(running);
        if (job == nullptr) continue;
        const std::int64_t due =
            time_limit_passes_at(rec.running_since_ns.load(std::memory_order_relaxed), job->timeout_ns);
        if (due < 0 || now < due) continue;
        ++counters_.timeouts;
        char limit[32];
        std::snprintf(limit, sizeof limit, "%.3f", static_cast<double>(job->timeout_ns) / 1e9);
        stop_running_job(slot, running, ErrorKind::timeout,
                         "the job ran longer than its time limit of " + std::string(limit) + " s; worker " +
                             std::to_string(w.pid) + " was stopped and replaced",
                         SIGTERM);
    }
}

// When supervise_running_jobs() next has something to do; -1: nothing pending.
std::int64_t Supervisor::next_supervision_ns() const {
    std::int64_t next = -1;
    auto consider = [&next](std::int64_t at) {
        if (at >= 0) next = next < 0 ? at : std::min(next, at);
    };
    for (unsigned slot = 0; slot < workers_->size(); ++slot) {
        const WorkerSlot& w = (*workers_)[slot];
        if (!w.live()) continue;
        if (w.stop.signalled()) {
            if (w.stop.kill_due()) consider(w.stop.kill_at_ns);
            continue;
        }
        if (w.stop.given()) continue;
        const WorkerRecord& rec = pool_.worker(slot);
        const InFlightJob* job = dispatcher_->holdings(slot).running(rec.running_seq.load(std::memory_order_acquire));
        if (job != nullptr) {
            consider(time_limit_passes_at(rec.running_since_ns.load(std::memory_order_relaxed), job->timeout_ns));
        }
    }
    return next;
}

// Stops the job a worker is running by stopping the worker: its client gets `kind`. The job
// is exclusive (nothing queued behind it), so the signal cannot hit another client's job.
void Supervisor::stop_running_job(unsigned slot, std::uint64_t running, ErrorKind kind, const std::string& message,
                                  int signal) {
    WorkerSlot& w = (*workers_)[slot];
    WorkerRecord& rec = pool_.worker(slot);
    // The job the decision was about, and no other: it may have ended since.
    if (!w.live() || running == kNoRunningJob || rec.running_seq.load(std::memory_order_acquire) != running) return;
    // It takes no lane job from now on: the signal is for this one.
    rec.lanes_until_jobs.store(0, std::memory_order_seq_cst);
    w.stop.running = running;
    w.stop.lane = lane_job_key(rec);
    w.stop.kind = kind;
    w.stop.message = message;
    spdlog::warn("worker slot {} pid {}: {}; sending SIG{}", slot, w.pid, message, sigabbrev_np(signal));
    ::kill(w.pid, signal);
    w.stop.kill_at_ns = signal == SIGKILL ? StopOrder::kNoKillDue
                                          : monotonic_ns() + static_cast<std::int64_t>(config_.kill_grace_s * 1e9);
}

// Ends queued jobs whose deadline passed, even while no worker is free to look at them.
void Supervisor::expire_queued_deadlines() {
    if (queue_totals_.with_deadline == 0) return;
    const std::int64_t now = monotonic_ns();
    for (unsigned slot = 0; slot < sessions_->end(); ++slot) {
        SessionSlot& s = (*sessions_)[slot];
        if (!s.open()) continue;
        for (auto it = s.queue.begin(); it != s.queue.end();) {
            if (it->record.deadline_ns == 0 || now <= it->record.deadline_ns) {
                ++it;
                continue;
            }
            reply_error(s, it->record, ErrorKind::deadline_exceeded, "the job's deadline passed while it was queued",
                        it->items);
            it = s.queue.erase(it);
        }
    }
}

void Supervisor::handle_cancel(SessionSlot& session, const protocol::Cancel& cancel) {
    // The job may still sit in the submit ring: take everything in first.
    drain_submit_ring(session, monotonic_ns());
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
    const unsigned session_slot = sessions_->slot_of(session);
    for (unsigned slot = 0; slot < workers_->size(); ++slot) {
        const WorkerSlot& w = (*workers_)[slot];
        if (!w.live() || w.stop.given()) continue;
        const std::uint64_t running = pool_.worker(slot).running_seq.load(std::memory_order_acquire);
        for (const auto& flight : dispatcher_->holdings(slot).jobs) {
            const JobRecord& r = flight.job.record;
            if (r.session_slot != session_slot || r.job_id != cancel.job_id) continue;
            if (running == running_word_of_inbox_seq(flight.seq) && flight.exclusive) {
                stop_running_job(slot, running, ErrorKind::cancelled,
                                 "cancelled while running; worker " + std::to_string(w.pid) + " was replaced",
                                 SIGKILL);
            }
            return;
        }
    }
    cancel_lane_job(session, cancel.job_id, cancel.force);
}

void Supervisor::on_function_settings(unsigned slot, const protocol::FunctionSettings& settings) {
    bool changed = false;
    if (auto why = functions_.declare((*workers_)[slot].config_generation, settings, changed); !why.empty()) {
        spdlog::warn("worker slot {} declared {}: all ignored", slot, why);
        return;
    }
    if (changed) update_lanes_open();
}

}  // namespace warmpool
