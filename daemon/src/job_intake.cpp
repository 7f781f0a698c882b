// JobIntake: job_intake.hpp.
#include "warmpool/daemon/job_intake.hpp"

#include <spdlog/spdlog.h>

#include <atomic>
#include <cstring>
#include <deque>

#include "warmpool/common/job_checks.hpp"
#include "warmpool/daemon/lanes.hpp"

namespace warmpool {

JobIntake::JobIntake(const PoolConfig& config, SessionTable& sessions, FunctionCatalog& functions,
                     PoolCounters& counters, const QueueTotals& totals)
    : config_(config), sessions_(sessions), functions_(functions), counters_(counters), totals_(totals) {}

// A session's queue takes more only within its own share (jobs and payload bytes), so that one
// session's backlog waits in its own submit ring. Beyond the pool's queue_capacity, a session
// may still queue up to its guaranteed share (queue_capacity / max_sessions): sessions that
// fill the pool's queue cannot lock the others out, and the total stays under twice the
// capacity.
JobIntake::Drained JobIntake::drain_submit_ring(SessionSlot& s, std::int64_t now) {
    auto may_queue_more = [&] {
        if (s.queue.size() >= config_.session_queue_capacity) return false;
        if (s.queue.payload_bytes() >= config_.session_queue_bytes) return false;
        return totals_.jobs < config_.queue_capacity || s.queue.size() < config_.guaranteed_queue_share();
    };
    bool progress = false;
    std::span<const std::byte> bytes;
    while (may_queue_more()) {
        auto peek = s.submit.peek(bytes);
        if (peek == RingConsumer::Peek::empty) break;
        if (peek == RingConsumer::Peek::corrupt || bytes.size() < sizeof(JobRecord)) {
            spdlog::warn("session {} wrote a corrupt submit ring; dropping the client", sessions_.slot_of(s));
            s.submit.release();
            return Drained::corrupt;
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
        accept(s, now);
    }
    if (progress) s.submit.release();
    return progress ? Drained::some : Drained::nothing;
}

void JobIntake::accept(SessionSlot& s, std::int64_t now) {
    PendingJob& job = s.queue.back();
    job.record.session_slot = sessions_.slot_of(s);
    job.record.session_generation = s.generation;
    job.record.attempt = 1;
    job.record.enqueued_ns = now;
    ++s.submitted;
    const auto payload = std::as_bytes(std::span(job.payload.data(), job.payload.size()));
    // Counted only once it is known to be what it claims: a refused record is one job, whatever
    // its batch header says.
    if (auto why = job_refusal(job.record, payload, JobLimits{config_.inline_max})) {
        counters_.submitted += 1;
        answer(s, job.record, ErrorKind::bad_request, *why, 1);
        s.queue.pop_back();
        return;
    }
    job.items = batch_item_count(job.record, payload);
    counters_.submitted += job.items;
    if (!accepting_) {
        answer(s, job.record, ErrorKind::shutting_down, "pool '" + config_.name + "' is shutting down", job.items);
        s.queue.pop_back();
        return;
    }
    job.stats = &functions_.stats(function_name(job.record), s.last_function);
}

void JobIntake::take_lane_post(SessionSlot& s, std::uint64_t word, std::int64_t now) {
    JobRecord record;
    std::string payload;
    if (!take_off_lane(s.memory.lane(), word, record, payload)) return;
    spdlog::debug("session {}: queued lane post {} that no worker took", sessions_.slot_of(s), lane_ticket(word));
    s.queue.push_back(PendingJob{record, std::move(payload)});
    accept(s, now);
}

void JobIntake::take_posted_lanes(std::int64_t now) {
    std::atomic_thread_fence(std::memory_order_seq_cst);
    for (unsigned slot = 0; slot < sessions_.end(); ++slot) {
        SessionSlot& s = sessions_[slot];
        if (!s.open()) continue;
        const std::uint64_t word = s.memory.lane().word.load(std::memory_order_acquire);
        if (lane_state(word) == LaneWordState::posted) take_lane_post(s, word, now);
    }
}

void JobIntake::take_stale_lane_posts(std::int64_t now) {
    for (unsigned slot = 0; slot < sessions_.end(); ++slot) {
        SessionSlot& s = sessions_[slot];
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

bool JobIntake::cancel_waiting(SessionSlot& s, std::uint64_t job_id, std::int64_t now) {
    // The job may still sit in the submit ring: take everything in first. (A corrupt ring is
    // left for the pump to find: it drops the client.)
    drain_submit_ring(s, now);
    for (auto it = s.queue.begin(); it != s.queue.end(); ++it) {
        if (it->record.job_id == job_id) {
            answer(s, it->record, ErrorKind::cancelled, "cancelled before it started", it->items);
            s.queue.erase(it);
            return true;
        }
    }
    // Still posted on its lane: taken off and answered, as a queued job is. The record of a post
    // stays put until it is taken: its job id says whether it is this job.
    Lane& lane = s.memory.lane();
    const std::uint64_t word = lane.word.load(std::memory_order_acquire);
    JobRecord posted;
    std::string payload;
    if (lane_state(word) == LaneWordState::posted && lane.record.job_id == job_id &&
        take_off_lane(lane, word, posted, payload)) {
        ++counters_.submitted;
        ++s.submitted;
        answer(s, posted, ErrorKind::cancelled, "cancelled before it started", 1);
        return true;
    }
    return false;
}

void JobIntake::expire_deadlines(std::int64_t now) {
    if (totals_.with_deadline == 0) return;
    for (unsigned slot = 0; slot < sessions_.end(); ++slot) {
        SessionSlot& s = sessions_[slot];
        if (!s.open()) continue;
        for (auto it = s.queue.begin(); it != s.queue.end();) {
            if (!start_deadline_passed(it->record, now)) {
                ++it;
                continue;
            }
            answer(s, it->record, ErrorKind::deadline_exceeded, kDeadlinePassedMessage, it->items);
            it = s.queue.erase(it);
        }
    }
}

void JobIntake::refuse_all_queued(const std::string& message) {
    for (unsigned slot = 0; slot < sessions_.end(); ++slot) {
        SessionSlot& s = sessions_[slot];
        if (!s.open()) continue;
        for (auto& job : s.queue) answer(s, job.record, ErrorKind::shutting_down, message, job.items);
        s.queue.clear();
    }
}

void JobIntake::resolve_held_jobs(unsigned slot, Fifo<InFlightJob> held, const WorkerDeath& death,
                                  const StopOrder& stop, const PoolMemory& pool) {
    const WorkerRecord& rec = pool.worker(slot);
    const std::uint64_t done = rec.inbox_done.load(std::memory_order_acquire);
    const std::uint64_t running = rec.running_seq.load(std::memory_order_acquire);
    std::deque<PendingJob> requeue;
    for (auto& flight : held) {
        PendingJob& job = flight.job;
        SessionSlot& s = sessions_[job.record.session_slot];
        DeathFacts facts = death_facts(death);
        facts.finished = flight.seq < done;
        facts.running = running == running_word_of_inbox_seq(flight.seq);
        facts.session_live = s.open() && s.generation == job.record.session_generation;
        if (facts.running && facts.session_live) {
            // Did the reply make it out before the death? The tail moved if it did.
            facts.reply_published = s.memory.reply_control(slot).tail.load(std::memory_order_acquire) !=
                                    rec.running_reply_tail.load(std::memory_order_acquire);
        }
        facts.stopped_on_purpose = stop.running == running_word_of_inbox_seq(flight.seq);
        facts.attempt = job.record.attempt;
        facts.retries = functions_.settings(function_name(job.record)).retries;
        const JobFate fate = decide_job_fate(facts);
        switch (fate.kind) {
            case JobFate::Kind::requeue:
                requeue.push_back(std::move(job));
                continue;
            case JobFate::Kind::retry:
                spdlog::warn("job {} of session {} ({}) crashed worker {}; retrying (attempt {} of {})",
                             job.record.job_id, job.record.session_slot, function_name(job.record), death.pid,
                             job.record.attempt + 1, facts.retries + 1);
                ++job.record.attempt;
                counters_.retried += job.items;
                requeue.push_back(std::move(job));
                continue;
            case JobFate::Kind::fail:
                answer(s, job.record, fate.error, fate.message, job.items);
                break;
            case JobFate::Kind::drop:
                counters_.dropped += job.items;
                break;
            case JobFate::Kind::finished:
                counters_.add_outcomes(pool.outcome(slot, flight.seq));
                break;
        }
    }
    for (auto it = requeue.rbegin(); it != requeue.rend(); ++it) {
        sessions_[it->record.session_slot].queue.push_front(std::move(*it));
    }
}

void JobIntake::answer(SessionSlot& s, const JobRecord& record, ErrorKind kind, const std::string& message,
                       std::uint32_t items) {
    counters_.add_failure(kind, items);
    s.post_error(record, kind, message);
}

}  // namespace warmpool
