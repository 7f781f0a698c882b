// JobStopper: job_stopper.hpp.
#include "warmpool/daemon/job_stopper.hpp"

#include <signal.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "warmpool/daemon/lanes.hpp"

namespace warmpool {

JobStopper::JobStopper(const PoolConfig& config, PoolMemory pool, WorkerSlots& workers,
                       const Dispatcher& dispatcher, PoolCounters& counters)
    : config_(config), pool_(pool), workers_(workers), dispatcher_(dispatcher), counters_(counters) {}

void JobStopper::supervise(std::int64_t now) {
    for (unsigned slot = 0; slot < workers_.size(); ++slot) {
        WorkerSlot& w = workers_[slot];
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
        const InFlightJob* job = dispatcher_.holdings(slot).running(running);
        if (job == nullptr) continue;
        const std::int64_t due =
            time_limit_passes_at(rec.running_since_ns.load(std::memory_order_relaxed), job->timeout_ns);
        if (due < 0 || now < due) continue;
        ++counters_.timeouts;
        char limit[32];
        std::snprintf(limit, sizeof limit, "%.3f", static_cast<double>(job->timeout_ns) / 1e9);
        stop(slot, running, ErrorKind::timeout,
             "the job ran longer than its time limit of " + std::string(limit) + " s; worker " +
                 std::to_string(w.pid) + " was stopped and replaced",
             SIGTERM, now);
    }
}

std::int64_t JobStopper::next_due_ns() const {
    std::int64_t next = -1;
    auto consider = [&next](std::int64_t at) {
        if (at >= 0) next = next < 0 ? at : std::min(next, at);
    };
    for (unsigned slot = 0; slot < workers_.size(); ++slot) {
        const WorkerSlot& w = workers_[slot];
        if (!w.live()) continue;
        if (w.stop.signalled()) {
            if (w.stop.kill_due()) consider(w.stop.kill_at_ns);
            continue;
        }
        if (w.stop.given()) continue;
        const WorkerRecord& rec = pool_.worker(slot);
        const InFlightJob* job = dispatcher_.holdings(slot).running(rec.running_seq.load(std::memory_order_acquire));
        if (job != nullptr) {
            consider(time_limit_passes_at(rec.running_since_ns.load(std::memory_order_relaxed), job->timeout_ns));
        }
    }
    return next;
}

bool JobStopper::cancel_held(unsigned session_slot, std::uint64_t job_id, std::int64_t now) {
    for (unsigned slot = 0; slot < workers_.size(); ++slot) {
        const WorkerSlot& w = workers_[slot];
        if (!w.live() || w.stop.given()) continue;
        const std::uint64_t running = pool_.worker(slot).running_seq.load(std::memory_order_acquire);
        for (const auto& flight : dispatcher_.holdings(slot).jobs) {
            const JobRecord& r = flight.job.record;
            if (r.session_slot != session_slot || r.job_id != job_id) continue;
            if (running == running_word_of_inbox_seq(flight.seq) && flight.exclusive) {
                stop(slot, running, ErrorKind::cancelled,
                     "cancelled while running; worker " + std::to_string(w.pid) + " was replaced", SIGKILL, now);
            }
            return true;
        }
    }
    return false;
}

bool JobStopper::cancel_lane_job(unsigned session_slot, std::uint64_t generation, const Lane& lane,
                                 std::uint64_t job_id) {
    for (unsigned slot = 0; slot < workers_.size(); ++slot) {
        WorkerSlot& w = workers_[slot];
        WorkerRecord& rec = pool_.worker(slot);
        if (!w.live() || w.stop.given()) continue;
        const LaneJobKey key = lane_job_key(rec);
        if (key.session_slot != session_slot || key.generation != generation) continue;
        // Taken (its job id is in the record), or still being claimed (the lane says claimed by
        // this worker, and the record in the lane is still the job's).
        const LaneStage stage = lane_progress_stage(rec.lane_progress.load(std::memory_order_acquire));
        const bool taken = stage == LaneStage::taken && rec.lane_job_id.load() == job_id;
        const bool claiming = stage == LaneStage::claiming &&
                              lane.word.load(std::memory_order_acquire) ==
                                  lane_word(key.ticket, slot, LaneWordState::claimed) &&
                              lane.record.job_id == job_id;
        if (!taken && !claiming) continue;
        // Running or about to run: either way the worker goes, and only this job is answered
        // `cancelled` (Lanes::settle checks the record still names this post).
        order(slot, kLaneRunningSeq, key, ErrorKind::cancelled,
              "cancelled while running; worker " + std::to_string(w.pid) + " was replaced", SIGKILL, 0);
        return true;
    }
    return false;
}

// The job is exclusive on its worker (nothing queued behind it), so the signal cannot hit
// another client's job.
void JobStopper::stop(unsigned slot, std::uint64_t running, ErrorKind kind, const std::string& message, int signal,
                      std::int64_t now) {
    WorkerSlot& w = workers_[slot];
    WorkerRecord& rec = pool_.worker(slot);
    // The job the decision was about, and no other: it may have ended since.
    if (!w.live() || running == kNoRunningJob || rec.running_seq.load(std::memory_order_acquire) != running) return;
    order(slot, running, lane_job_key(rec), kind, message, signal, now);
}

void JobStopper::order(unsigned slot, std::uint64_t running, const LaneJobKey& lane, ErrorKind kind,
                       const std::string& message, int signal, std::int64_t now) {
    WorkerSlot& w = workers_[slot];
    // It takes no lane job from now on: the signal is for this one.
    pool_.worker(slot).lanes_until_jobs.store(0, std::memory_order_seq_cst);
    w.stop.running = running;
    w.stop.lane = lane;
    w.stop.kind = kind;
    w.stop.message = message;
    spdlog::warn("worker slot {} pid {}: {}; sending SIG{}", slot, w.pid, message, sigabbrev_np(signal));
    ::kill(w.pid, signal);
    w.stop.kill_at_ns = signal == SIGKILL ? StopOrder::kNoKillDue
                                          : now + static_cast<std::int64_t>(config_.kill_grace_s * 1e9);
}

}  // namespace warmpool
