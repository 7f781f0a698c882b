// The supervisor's side of the lanes (shm_layout.hpp: Lane, LaneBoard): it creates the board,
// tells workers which sessions exist, counts what the lane jobs came to, and settles the lane
// job of a worker that died. It is not on a lane job's path otherwise.
#include <algorithm>
#include <csignal>
#include <cstring>
#include <limits>

#include <spdlog/spdlog.h>

#include "warmpool/common/clock.hpp"
#include "warmpool/common/utf8.hpp"
#include "warmpool/daemon/job_fate.hpp"
#include "warmpool/daemon/supervisor.hpp"

namespace warmpool {

Status Supervisor::create_lane_board() {
    // Workers inherit the mapping; clients get a read-only descriptor with their Welcome: they
    // may read whether a worker watches, never say so.
    auto segment = SharedSegment::create(segment_label(config_.name, "lanes"), sizeof(LaneBoard));
    if (!segment) return segment.error();
    lane_board_segment_ = std::move(segment.value());
    lane_board_ = new (lane_board_segment_.data()) LaneBoard{};
    lane_board_->magic = kLaneBoardMagic;
    lane_board_->layout_version = kLayoutVersion;
    update_lanes_open();
    return {};
}

// A lane job has no run-time limit the supervisor could enforce (it does not know the job), so
// lanes are open only while no function has one.
void Supervisor::update_lanes_open() {
    bool open = state_ != State::stopping && config_.default_timeout_s <= 0;
    // Nor any retries: a lane job's arguments leave with the worker that takes it.
    for (const auto& [name, settings] : config_.functions) {
        open = open && settings.timeout_s <= 0 && settings.retries == 0;
    }
    for (const auto& [name, settings] : declared_functions_) {
        const FunctionConfig effective = function_settings(name);
        open = open && effective.timeout_s <= 0 && effective.retries == 0;
    }
    lane_board_->open.store(open ? 1 : 0, std::memory_order_seq_cst);
}

void Supervisor::publish_session(unsigned slot, bool active) {
    auto* table = reinterpret_cast<SessionEntry*>(pool_segment_.data() + pool_layout_.session_table_offset());
    auto* bits = reinterpret_cast<std::atomic<std::uint64_t>*>(pool_segment_.data() +
                                                               pool_layout_.active_sessions_offset());
    const std::uint64_t bit = std::uint64_t{1} << (slot % 64);
    if (active) {
        // The slot's previous generation is withdrawn before the trust changes, and the new one
        // published after: a worker that reads one generation on both sides of the trust reads
        // the trust decided for that session (Worker::may_unpickle).
        table[slot].generation.store(0, std::memory_order_relaxed);
        table[slot].trust.store(session_trust(sessions_[slot].peer), std::memory_order_release);
        table[slot].generation.store(sessions_[slot].generation, std::memory_order_release);
        bits[slot / 64].fetch_or(bit, std::memory_order_release);
    } else {
        bits[slot / 64].fetch_and(~bit, std::memory_order_release);
    }
}

LaneOutcome& Supervisor::lane_outcome(unsigned slot) const {
    return *reinterpret_cast<LaneOutcome*>(pool_segment_.data() + pool_layout_.lane_outcome_offset(slot));
}

Lane& Supervisor::lane(const Session& s) const {
    return *reinterpret_cast<Lane*>(s.segment.data() + session_layout_.lane_offset());
}

// Adds what the worker's lane jobs came to since the last look. A lane job counts as submitted
// when a worker takes it, and as finished once the worker counted its outcome.
void Supervisor::count_lane_outcomes(unsigned slot) {
    WorkerSlot& w = workers_[slot];
    if (w.pid <= 0) return;
    LaneOutcome& outcome = lane_outcome(slot);
    // Outcomes first, then takes: a job taken and counted between the two reads is then seen as
    // taken and running, never as counted and not taken.
    for (std::size_t k = 0; k < kOutcomeSlots; ++k) {
        const std::uint64_t now = outcome.counts[k].load(std::memory_order_acquire);
        const std::uint64_t delta = now - w.lane_counts_seen[k];
        if (delta == 0) continue;
        w.lane_counts_seen[k] = now;
        if (k == 0) {
            counters_.completed += delta;
        } else if (k == kOutcomeDropped) {
            counters_.dropped += delta;
        } else {
            counters_.failed[k] += delta;
        }
    }
    const std::uint64_t taken = lane_progress_taken(record(slot).lane_progress.load(std::memory_order_acquire));
    counters_.submitted += taken - w.lane_taken_seen;
    counters_.direct += taken - w.lane_taken_seen;
    w.lane_taken_seen = taken;
}

std::uint64_t Supervisor::lane_jobs_running(unsigned slot) const {
    const WorkerSlot& w = workers_[slot];
    if (w.pid <= 0) return 0;
    const std::uint64_t taken = lane_progress_taken(record(slot).lane_progress.load(std::memory_order_acquire));
    std::uint64_t counted = 0;
    for (const auto& count : lane_outcome(slot).counts) counted += count.load(std::memory_order_acquire);
    return taken > counted ? taken - counted : 0;
}

// The worker in `slot` died. If it was taking or running a lane job, that job gets exactly one
// reply and one count, as a job from its inbox would (job_fate.hpp).
void Supervisor::settle_lane_job(unsigned slot, const std::string& how) {
    WorkerSlot& w = workers_[slot];
    WorkerRecord& rec = record(slot);
    count_lane_outcomes(slot);
    const LaneStage stage = lane_progress_stage(rec.lane_progress.load(std::memory_order_acquire));
    if (stage == LaneStage::none) return;
    // Taken, and counted by the worker (the sum of its counts caught up with its takes): the reply
    // went out before the count.
    if (stage == LaneStage::taken && lane_jobs_running(slot) == 0) return;
    const std::uint32_t session_slot = rec.lane_session_slot.load(std::memory_order_relaxed);
    const std::uint64_t generation = rec.lane_generation.load(std::memory_order_relaxed);
    const std::uint64_t ticket = rec.lane_ticket.load(std::memory_order_relaxed);
    Session* s = session_slot < sessions_.size() ? &sessions_[session_slot] : nullptr;
    if (s != nullptr && (!s->used || s->generation != generation)) s = nullptr;  // that client is gone
    JobRecord job{};
    if (stage == LaneStage::claiming) {
        // Claimed only if the lane says so; then the record is still there, and ours to free.
        if (s == nullptr) return;
        Lane& l = lane(*s);
        if (l.word.load(std::memory_order_acquire) != lane_word(ticket, slot, LaneWordState::claimed)) return;
        std::memcpy(&job, &l.record, sizeof job);
        l.word.store(lane_word(ticket, 0, LaneWordState::free), std::memory_order_release);
        ++counters_.submitted;  // the worker died before counting it as taken
        ++counters_.direct;
    } else {
        job.job_id = rec.lane_job_id.load(std::memory_order_relaxed);
        // Killed between taking the job and freeing the lane: the lane is the client's again.
        if (s != nullptr) {
            std::uint64_t claimed = lane_word(ticket, slot, LaneWordState::claimed);
            lane(*s).word.compare_exchange_strong(claimed, lane_word(ticket, 0, LaneWordState::free),
                                                  std::memory_order_acq_rel);
        }
    }
    if (s == nullptr) {
        ++counters_.dropped;
        return;
    }
    const bool session_live = !s->closing;
    job.session_slot = session_slot;
    job.session_generation = generation;
    DeathFacts facts;
    facts.running = true;
    facts.session_live = session_live;
    if (session_live) {
        const auto* ring = reinterpret_cast<const RingControl*>(s->segment.data() + session_layout_.reply_offset(slot));
        facts.reply_published = ring->tail.load(std::memory_order_acquire) != rec.running_reply_tail.load();
    }
    facts.pool_stopping = state_ == State::stopping;
    facts.stopped_on_purpose = w.stop_seq == kLaneRunningSeq && lane_job_key(rec) == w.stop_lane;
    facts.purpose_kind = w.stop_kind;
    facts.purpose_message = w.stop_message;
    facts.how = how;
    facts.pid = w.pid;
    facts.attempt = 1;
    facts.retries = 0;  // its arguments left with the worker: it cannot run again
    facts.poison_threshold = config_.poison_threshold;
    const JobFate fate = decide_job_fate(facts);
    switch (fate.kind) {
        case JobFate::Kind::fail:
            reply_error(*s, job, fate.error, fate.message, 1);
            break;
        case JobFate::Kind::finished: {
            // The reply is out; the worker wrote its outcome before it.
            const std::uint32_t status = lane_outcome(slot).last_status.load(std::memory_order_relaxed);
            const std::size_t k = status < kOutcomeSlots ? status : 0;
            if (k == 0) {
                ++counters_.completed;
            } else if (k == kOutcomeDropped) {
                ++counters_.dropped;
            } else {
                ++counters_.failed[k];
            }
            break;
        }
        case JobFate::Kind::drop:
        case JobFate::Kind::requeue:
        case JobFate::Kind::retry:
            ++counters_.dropped;
            break;
    }
}

Supervisor::LaneJobKey Supervisor::lane_job_key(const WorkerRecord& rec) {
    return {rec.lane_session_slot.load(std::memory_order_relaxed), rec.lane_generation.load(std::memory_order_relaxed),
            rec.lane_ticket.load(std::memory_order_relaxed)};
}

bool Supervisor::any_worker_watching() const {
    // The fence orders what the caller did before (clearing a dead worker's bit) before these loads
    // and the lane loads that follow.
    std::atomic_thread_fence(std::memory_order_seq_cst);
    for (const auto& word : lane_board_->watching) {
        if (word.load(std::memory_order_seq_cst) != 0) return true;
    }
    return false;
}

// Takes the post `word` off the session's lane, if the lane still holds it: its record and
// arguments are copied out, then the lane is the client's again. The compare-and-swap decides
// between the supervisor, a worker claiming the post, and the client taking it back.
bool Supervisor::take_off_lane(Session& s, std::uint64_t word, JobRecord& record, std::string& payload) {
    Lane& l = lane(s);
    const std::uint64_t ticket = lane_ticket(word);
    if (!l.word.compare_exchange_strong(word, lane_word(ticket, kLaneClaimerSupervisor, LaneWordState::claimed),
                                        std::memory_order_acq_rel)) {
        return false;
    }
    std::memcpy(&record, &l.record, sizeof record);
    const std::size_t bytes = std::min<std::size_t>(record.payload_bytes, kLanePayloadMax);
    payload.assign(reinterpret_cast<const char*>(l.payload), bytes);
    l.word.store(lane_word(ticket, 0, LaneWordState::free), std::memory_order_release);
    return true;
}

// Takes a post into the session's queue, as if it had been submitted.
void Supervisor::take_lane_post(Session& s, unsigned slot, std::uint64_t word, std::int64_t now) {
    JobRecord record;
    std::string payload;
    if (!take_off_lane(s, word, record, payload)) return;
    spdlog::debug("session {}: queued lane post {} that no worker took", slot, lane_ticket(word));
    s.queue.push_back(PendingJob{record, std::move(payload)});
    accept_submission(s, static_cast<int>(slot), now);
}

// Queues every post on a lane now: a worker saw posts it could not take, or the worker that
// watched died.
void Supervisor::take_posted_lanes(std::int64_t now) {
    std::atomic_thread_fence(std::memory_order_seq_cst);
    for (unsigned slot = 0; slot < sessions_end_; ++slot) {
        Session& s = sessions_[slot];
        if (!s.used || s.closing) continue;
        const std::uint64_t word = lane(s).word.load(std::memory_order_acquire);
        if (lane_state(word) == LaneWordState::posted) take_lane_post(s, slot, word, now);
    }
}

// The backstop, at every housekeeping tick: a post still there, same ticket, since the last tick
// has no worker coming for it (its watcher may be stopped by a debugger), so it is queued.
void Supervisor::take_stale_lane_posts(std::int64_t now) {
    for (unsigned slot = 0; slot < sessions_end_; ++slot) {
        Session& s = sessions_[slot];
        if (!s.used || s.closing) continue;
        const std::uint64_t word = lane(s).word.load(std::memory_order_acquire);
        if (lane_state(word) != LaneWordState::posted) {
            s.lane_posted_seen = 0;
        } else if (word != s.lane_posted_seen) {
            s.lane_posted_seen = word;
        } else {
            s.lane_posted_seen = 0;
            take_lane_post(s, slot, word, now);
        }
    }
}

// The function of the lane job a worker runs, for status: the client leaves its lane alone until
// that job's reply, so the record is still there (checked against the worker's record).
std::string Supervisor::lane_job_function(unsigned slot) const {
    const WorkerRecord& rec = record(slot);
    const std::uint32_t session_slot = rec.lane_session_slot.load(std::memory_order_relaxed);
    if (session_slot >= sessions_.size()) return {};
    const Session& s = sessions_[session_slot];
    if (!s.used || s.generation != rec.lane_generation.load(std::memory_order_relaxed)) return {};
    JobRecord job;
    std::memcpy(&job, &lane(s).record, sizeof job);
    if (job.job_id != rec.lane_job_id.load(std::memory_order_relaxed)) return {};
    return valid_utf8(function_name(job));  // the client wrote it: any bytes but NUL
}

// A cancel of a job that came by lane. Still posted: taken off the lane and answered, as a queued
// job is. Taken by a worker, and `force`: the worker is stopped (a lane job is alone on it).
void Supervisor::cancel_lane_job(Session& s, std::uint64_t job_id, bool force) {
    const auto session_slot = static_cast<std::uint32_t>(&s - sessions_.data());
    Lane& l = lane(s);
    const std::uint64_t word = l.word.load(std::memory_order_acquire);
    // The record of a post stays put until it is taken: its job id says whether it is this job.
    JobRecord posted;
    std::string payload;
    if (lane_state(word) == LaneWordState::posted && l.record.job_id == job_id &&
        take_off_lane(s, word, posted, payload)) {
        ++counters_.submitted;
        ++s.submitted;
        reply_error(s, posted, ErrorKind::cancelled, "cancelled before it started", 1);
        return;
    }
    if (!force) return;
    for (unsigned slot = 0; slot < workers_.size(); ++slot) {
        WorkerSlot& w = workers_[slot];
        WorkerRecord& rec = record(slot);
        if (w.pid <= 0 || w.stop_seq != 0) continue;
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
        w.stop_seq = kLaneRunningSeq;
        w.stop_lane = key;
        w.stop_kind = ErrorKind::cancelled;
        w.stop_message = "cancelled while running; worker " + std::to_string(w.pid) + " was replaced";
        spdlog::warn("worker slot {} pid {}: {}; sending SIGKILL", slot, w.pid, w.stop_message);
        ::kill(w.pid, SIGKILL);
        w.kill_at_ns = std::numeric_limits<std::int64_t>::max();
        return;
    }
}

}  // namespace warmpool
