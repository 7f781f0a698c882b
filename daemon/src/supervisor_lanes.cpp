// The supervisor's glue to the lanes (lanes.hpp): posts no worker is coming for are taken into
// their session's queue, a cancel reaches a lane job, and the lane job of a dead worker is
// settled with its session (supervisor.hpp).
#include <csignal>
#include <cstring>

#include <spdlog/spdlog.h>

#include "warmpool/common/utf8.hpp"
#include "warmpool/daemon/supervisor.hpp"

namespace warmpool {

// The worker in `slot` died. If it was taking or running a lane job, that job gets exactly one
// reply and one count, as a job from its inbox would.
void Supervisor::settle_lane_job(unsigned slot, const WorkerDeath& death) {
    const WorkerSlot& w = (*workers_)[slot];
    const WorkerRecord& rec = pool_.worker(slot);
    const LaneJobKey key = lane_job_key(rec);
    SessionSlot* s = sessions_->live(key.session_slot, key.generation);  // null: that client is gone
    Lanes::DeadWorkerLane where;
    if (s != nullptr) {
        where.lane = &s->memory.lane();
        where.session_live = !s->closing;
        where.reply_ring = &s->memory.reply_control(slot);
    }
    where.stopped_on_purpose = w.stop.running == kLaneRunningSeq && w.stop.lane == key;
    const Lanes::Settlement settled = lanes_.settle(slot, pool_, where, death, counters_);
    if (settled.reply && s != nullptr) s->post_error(settled.job, settled.error, settled.message);
}

void Supervisor::take_lane_post(SessionSlot& s, std::uint64_t word, std::int64_t now) {
    JobRecord record;
    std::string payload;
    if (!take_off_lane(s.memory.lane(), word, record, payload)) return;
    spdlog::debug("session {}: queued lane post {} that no worker took", sessions_->slot_of(s), lane_ticket(word));
    s.queue.push_back(PendingJob{record, std::move(payload)});
    accept_submission(s, now);
}

// Queues every post on a lane now: a worker saw posts it could not take, or the worker that
// watched died.
void Supervisor::take_posted_lanes(std::int64_t now) {
    std::atomic_thread_fence(std::memory_order_seq_cst);
    for (unsigned slot = 0; slot < sessions_->end(); ++slot) {
        SessionSlot& s = (*sessions_)[slot];
        if (!s.open()) continue;
        const std::uint64_t word = s.memory.lane().word.load(std::memory_order_acquire);
        if (lane_state(word) == LaneWordState::posted) take_lane_post(s, word, now);
    }
}

// The backstop, at every housekeeping tick: a post still there, same ticket, since the last tick
// has no worker coming for it (its watcher may be stopped by a debugger), so it is queued.
void Supervisor::take_stale_lane_posts(std::int64_t now) {
    for (unsigned slot = 0; slot < sessions_->end(); ++slot) {
        SessionSlot& s = (*sessions_)[slot];
        if (!s.open()) continue;
        const std::uint64_t word = s.memory.lane().word.load(std::memory_order_acquire);
        if (lane_state(word) != LaneWordState::posted) {
            s.lane_post_seen = 0;
        } else if (word != s.lane_post_seen) {
            s.lane_post_seen = word;
        } else {
            s.lane_post_seen = 0;
            take_lane_post(s, word, now);
        }
    }
}

// The function of the lane job a worker runs, for status: the client leaves its lane alone until
// that job's reply, so the record is still there (checked against the worker's record).
std::string Supervisor::lane_job_function(unsigned slot) const {
    const WorkerRecord& rec = pool_.worker(slot);
    const LaneJobKey key = lane_job_key(rec);
    if (key.session_slot >= sessions_->capacity()) return {};
    const SessionSlot& s = (*sessions_)[key.session_slot];
    if (!s.used || s.generation != key.generation) return {};
    JobRecord job;
    std::memcpy(&job, &s.memory.lane().record, sizeof job);
    if (job.job_id != rec.lane_job_id.load(std::memory_order_relaxed)) return {};
    return valid_utf8(function_name(job));  // the client wrote it: any bytes but NUL
}

// A cancel of a job that came by lane. Still posted: taken off the lane and answered, as a queued
// job is. Taken by a worker, and `force`: the worker is stopped (a lane job is alone on it).
void Supervisor::cancel_lane_job(SessionSlot& s, std::uint64_t job_id, bool force) {
    const unsigned session_slot = sessions_->slot_of(s);
    Lane& l = s.memory.lane();
    const std::uint64_t word = l.word.load(std::memory_order_acquire);
    // The record of a post stays put until it is taken: its job id says whether it is this job.
    JobRecord posted;
    std::string payload;
    if (lane_state(word) == LaneWordState::posted && l.record.job_id == job_id &&
        take_off_lane(l, word, posted, payload)) {
        ++counters_.submitted;
        ++s.submitted;
        reply_error(s, posted, ErrorKind::cancelled, "cancelled before it started", 1);
        return;
    }
    if (!force) return;
    for (unsigned slot = 0; slot < workers_->size(); ++slot) {
        WorkerSlot& w = (*workers_)[slot];
        WorkerRecord& rec = pool_.worker(slot);
        if (!w.live() || w.stop.given()) continue;
        const LaneJobKey key = lane_job_key(rec);
        if (key.session_slot != session_slot || key.generation != s.generation) continue;
        // Taken (its job id is in the record), or still being claimed (the lane says claimed by
        // this worker, and the record in the lane is still the job's).
        const LaneStage stage = lane_progress_stage(rec.lane_progress.load(std::memory_order_acquire));
        const bool taken = stage == LaneStage::taken && rec.lane_job_id.load() == job_id;
        const bool claiming = stage == LaneStage::claiming &&
                              l.word.load(std::memory_order_acquire) ==
                                  lane_word(key.ticket, slot, LaneWordState::claimed) &&
                              l.record.job_id == job_id;
        if (!taken && !claiming) continue;
        // Running or about to run: either way the worker goes, and only this job is answered
        // `cancelled` (settle_lane_job checks the record still names this post).
        rec.lanes_until_jobs.store(0, std::memory_order_seq_cst);
        w.stop.running = kLaneRunningSeq;
        w.stop.lane = key;
        w.stop.kind = ErrorKind::cancelled;
        w.stop.message = "cancelled while running; worker " + std::to_string(w.pid) + " was replaced";
        spdlog::warn("worker slot {} pid {}: {}; sending SIGKILL", slot, w.pid, w.stop.message);
        ::kill(w.pid, SIGKILL);
        w.stop.kill_at_ns = StopOrder::kNoKillDue;
        return;
    }
}

}  // namespace warmpool
