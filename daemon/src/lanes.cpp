// Lanes: lanes.hpp.
#include "warmpool/daemon/lanes.hpp"

#include <algorithm>
#include <cstring>
#include <new>

#include "warmpool/common/utf8.hpp"
#include "warmpool/daemon/stop_order.hpp"

namespace warmpool {

LaneJobKey lane_job_key(const WorkerRecord& rec) {
    return {rec.lane_session_slot.load(std::memory_order_relaxed), rec.lane_generation.load(std::memory_order_relaxed),
            rec.lane_ticket.load(std::memory_order_relaxed)};
}

bool take_off_lane(Lane& lane, std::uint64_t word, JobRecord& record, std::string& payload) {
    const std::uint64_t ticket = lane_ticket(word);
    if (!lane.word.compare_exchange_strong(word, lane_word(ticket, kLaneClaimerSupervisor, LaneWordState::claimed),
                                           std::memory_order_acq_rel)) {
        return false;
    }
    std::memcpy(&record, &lane.record, sizeof record);
    const std::size_t bytes = std::min<std::size_t>(record.payload_bytes, kLanePayloadMax);
    payload.assign(reinterpret_cast<const char*>(lane.payload), bytes);
    lane.word.store(lane_word(ticket, 0, LaneWordState::free), std::memory_order_release);
    return true;
}

Status Lanes::create(std::string_view pool_name, unsigned worker_slots) {
    // Workers inherit the mapping; clients get a read-only descriptor with their Welcome: they
    // may read whether a worker watches, never say so.
    auto segment = SharedSegment::create(segment_label(pool_name, "lanes"), sizeof(LaneBoard));
    if (!segment) return segment.error();
    segment_ = std::move(segment.value());
    board_ = new (segment_.data()) LaneBoard{};
    board_->magic = kLaneBoardMagic;
    board_->layout_version = kLayoutVersion;
    tallies_.assign(worker_slots, Tally{});
    return {};
}

void Lanes::set_open(bool open) { board_->open.store(open ? 1 : 0, std::memory_order_seq_cst); }

void Lanes::set_queued_above(std::uint32_t queued_above) {
    if (queued_above == queued_above_) return;
    queued_above_ = queued_above;
    board_->queued_above.store(queued_above, std::memory_order_release);
}

void Lanes::start_worker(unsigned slot) { tallies_[slot] = Tally{}; }

void Lanes::count(unsigned slot, const PoolMemory& pool, PoolCounters& counters) {
    Tally& tally = tallies_[slot];
    const LaneOutcome& outcome = pool.lane_outcome(slot);
    // Outcomes first, then takes: a job taken and counted between the two reads is then seen as
    // taken and running, never as counted and not taken.
    for (std::size_t k = 0; k < kOutcomeSlots; ++k) {
        const std::uint64_t now = outcome.counts[k].load(std::memory_order_acquire);
        counters.add_outcome(k, now - tally.counts_seen[k]);
        tally.counts_seen[k] = now;
    }
    const std::uint64_t taken = lane_progress_taken(pool.worker(slot).lane_progress.load(std::memory_order_acquire));
    counters.submitted += taken - tally.taken_seen;
    counters.direct += taken - tally.taken_seen;
    tally.taken_seen = taken;
}

std::uint64_t Lanes::running(unsigned slot, const PoolMemory& pool) const {
    const std::uint64_t taken = lane_progress_taken(pool.worker(slot).lane_progress.load(std::memory_order_acquire));
    std::uint64_t counted = 0;
    for (const auto& count : pool.lane_outcome(slot).counts) counted += count.load(std::memory_order_acquire);
    return taken > counted ? taken - counted : 0;
}

void Lanes::forget_watcher(unsigned slot) {
    const std::uint64_t bit = std::uint64_t{1} << (slot % 64);
    board_->watching[slot / 64].fetch_and(~bit, std::memory_order_seq_cst);
    board_->watcher_role[slot / 64].fetch_and(~bit, std::memory_order_seq_cst);
}

bool Lanes::any_watching() const {
    // The fence orders what the caller did before (clearing a dead worker's bit) before these
    // loads and the lane loads that follow.
    std::atomic_thread_fence(std::memory_order_seq_cst);
    return std::any_of(std::begin(board_->watching), std::end(board_->watching),
                       [](const auto& word) { return word.load(std::memory_order_seq_cst) != 0; });
}

Lanes::Settlement Lanes::settle(unsigned slot, const PoolMemory& pool, const DeadWorkerLane& where,
                                const WorkerDeath& death, PoolCounters& counters) {
    Settlement settled;
    const WorkerRecord& rec = pool.worker(slot);
    count(slot, pool, counters);
    const LaneStage stage = lane_progress_stage(rec.lane_progress.load(std::memory_order_acquire));
    if (stage == LaneStage::none) return settled;
    // Taken, and counted by the worker (the sum of its counts caught up with its takes): the reply
    // went out before the count.
    if (stage == LaneStage::taken && running(slot, pool) == 0) return settled;
    const LaneJobKey key = lane_job_key(rec);
    JobRecord& job = settled.job;
    if (stage == LaneStage::claiming) {
        // Claimed only if the lane says so; then the record is still there, and ours to free.
        if (where.lane == nullptr) return settled;
        Lane& l = *where.lane;
        if (l.word.load(std::memory_order_acquire) != lane_word(key.ticket, slot, LaneWordState::claimed)) {
            return settled;
        }
        std::memcpy(&job, &l.record, sizeof job);
        l.word.store(lane_word(key.ticket, 0, LaneWordState::free), std::memory_order_release);
        ++counters.submitted;  // the worker died before counting it as taken
        ++counters.direct;
    } else {
        job.job_id = rec.lane_job_id.load(std::memory_order_relaxed);
        // Killed between taking the job and freeing the lane: the lane is the client's again.
        if (where.lane != nullptr) {
            std::uint64_t claimed = lane_word(key.ticket, slot, LaneWordState::claimed);
            where.lane->word.compare_exchange_strong(claimed, lane_word(key.ticket, 0, LaneWordState::free),
                                                     std::memory_order_acq_rel);
        }
    }
    if (where.lane == nullptr) {
        ++counters.dropped;
        return settled;
    }
    job.session_slot = key.session_slot;
    job.session_generation = key.generation;
    DeathFacts facts = death_facts(death);
    facts.running = true;
    facts.session_live = where.session_live;
    if (where.session_live && where.reply_ring != nullptr) {
        facts.reply_published = where.reply_ring->tail.load(std::memory_order_acquire) !=
                                rec.running_reply_tail.load(std::memory_order_acquire);
    }
    facts.stopped_on_purpose = where.stopped_on_purpose;
    facts.attempt = 1;
    facts.retries = 0;  // its arguments left with the worker: it cannot run again
    const JobFate fate = decide_job_fate(facts);
    switch (fate.kind) {
        case JobFate::Kind::fail:
            settled.reply = true;
            settled.error = fate.error;
            settled.message = fate.message;
            counters.add_failure(fate.error, 1);
            break;
        case JobFate::Kind::finished: {
            // The reply is out; the worker wrote its outcome before it.
            const std::uint32_t status = pool.lane_outcome(slot).last_status.load(std::memory_order_relaxed);
            counters.add_outcome(status < kOutcomeSlots ? status : 0, 1);
            break;
        }
        case JobFate::Kind::drop:
        case JobFate::Kind::requeue:
        case JobFate::Kind::retry:
            ++counters.dropped;
            break;
    }
    return settled;
}

// If the dead worker was taking or running a lane job, that job gets exactly one reply and one
// count, as a job from its inbox would.
void Lanes::settle_dead_worker(unsigned slot, const PoolMemory& pool, SessionTable& sessions, const StopOrder& stop,
                               const WorkerDeath& death, PoolCounters& counters) {
    const LaneJobKey key = lane_job_key(pool.worker(slot));
    SessionSlot* s = sessions.live(key.session_slot, key.generation);  // null: that client is gone
    DeadWorkerLane where;
    if (s != nullptr) {
        where.lane = &s->memory.lane();
        where.session_live = !s->closing;
        where.reply_ring = &s->memory.reply_control(slot);
    }
    where.stopped_on_purpose = stop.running == kLaneRunningSeq && stop.lane == key;
    const Settlement settled = settle(slot, pool, where, death, counters);
    if (settled.reply && s != nullptr) s->post_error(settled.job, settled.error, settled.message);
}

// The client leaves its lane alone until that job's reply, so the record is still there (checked
// against the worker's record).
std::string Lanes::running_function(unsigned slot, const PoolMemory& pool, const SessionTable& sessions) const {
    const WorkerRecord& rec = pool.worker(slot);
    const LaneJobKey key = lane_job_key(rec);
    if (key.session_slot >= sessions.capacity()) return {};
    const SessionSlot& s = sessions[key.session_slot];
    if (!s.used || s.generation != key.generation) return {};
    JobRecord job;
    std::memcpy(&job, &s.memory.lane().record, sizeof job);
    if (job.job_id != rec.lane_job_id.load(std::memory_order_relaxed)) return {};
    return valid_utf8(function_name(job));  // the client wrote it: any bytes but NUL
}

}  // namespace warmpool
