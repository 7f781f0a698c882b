#include "warmpool/daemon/dispatcher.hpp"

#include <algorithm>
#include <cstring>

namespace warmpool {

const InFlightJob* WorkerHoldings::running(std::uint64_t running_seq) const {
    if (!runs_inbox_job(running_seq)) return nullptr;
    for (const auto& job : jobs) {
        if (running_word_of_inbox_seq(job.seq) == running_seq) return &job;
    }
    return nullptr;
}

Dispatcher::Dispatcher(const PoolConfig& config, PoolMemory pool, unsigned session_slots)
    : config_(config),
      pool_(pool),
      reply_reserve_(reply_room_reserve(config.inline_max)),
      workers_(pool.layout.worker_slots) {
    for (auto& w : workers_) w.reply_reserved.assign(session_slots, 0);
}

void Dispatcher::start_worker(unsigned slot) {
    WorkerHoldings& w = workers_[slot];
    const std::size_t sessions = w.reply_reserved.size();
    w = WorkerHoldings{};
    w.inbox = RingProducer(pool_.inbox(slot));
    w.reply_reserved.assign(sessions, 0);
}

std::uint64_t Dispatcher::jobs_held() const {
    std::uint64_t held = 0;
    for (const auto& w : workers_) held += w.jobs.size();
    return held;
}

bool Dispatcher::collect(unsigned slot, std::int64_t now, SessionTable& sessions, PoolCounters& counters) {
    WorkerHoldings& w = workers_[slot];
    if (w.jobs.empty()) return false;
    const WorkerRecord& rec = pool_.worker(slot);
    const std::uint64_t done = rec.inbox_done.load(std::memory_order_acquire);
    if (w.jobs.front().seq >= done) return false;
    // In-flight sequence numbers are consecutive: the first `finished` jobs are done.
    const std::size_t finished =
        static_cast<std::size_t>(std::min<std::uint64_t>(done - w.jobs.front().seq, w.jobs.size()));
    // One finished job: the worker's own measurement. Several at once: they were short.
    const std::int64_t since = std::max(w.last_completion_ns, w.jobs.front().dispatched_ns);
    const std::int64_t each = finished == 1 ? rec.last_run_ns.load(std::memory_order_relaxed)
                                            : (now - since) / static_cast<std::int64_t>(finished);
    w.last_completion_ns = now;
    for (std::size_t i = 0; i < finished; ++i) {
        InFlightJob& job = w.jobs.front();
        counters.add_outcomes(pool_.outcome(slot, job.seq));
        if (job.job.stats != nullptr) {
            ((job.job.record.flags & kJobBatch) ? job.job.stats->batch : job.job.stats->single).observe(each);
        }
        const std::uint32_t session_slot = job.job.record.session_slot;
        SessionSlot& s = sessions[session_slot];
        if (s.jobs_with_workers > 0) --s.jobs_with_workers;
        std::uint64_t& reserved = w.reply_reserved[session_slot];
        reserved -= std::min(reserved, job_reply_bytes(job.job.record.flags, config_.inline_max));
        if (job.exclusive) --w.exclusive_held;
        w.jobs.pop_front();
    }
    return true;
}

Fifo<InFlightJob> Dispatcher::release_all(unsigned slot, SessionTable& sessions) {
    WorkerHoldings& w = workers_[slot];
    Fifo<InFlightJob> jobs = std::move(w.jobs);
    w.jobs = Fifo<InFlightJob>{};
    for (const auto& job : jobs) {
        SessionSlot& s = sessions[job.job.record.session_slot];
        if (s.jobs_with_workers > 0) --s.jobs_with_workers;
    }
    std::fill(w.reply_reserved.begin(), w.reply_reserved.end(), 0);
    w.exclusive_held = 0;
    return jobs;
}

// Higher priority first (priority_aging.hpp: each session offers the job of its level that
// counts highest, and a round of turns serves the sessions offering the highest level). Within a
// level, sessions take turns one job at a time, so one busy client cannot starve another; the
// turn order starts one session further on each pass, and sessions holding fewer jobs with
// workers go first (order_by_jobs_held). A job no worker may take now holds back every job of a
// lower level for the rest of the pass, so that none of them is queued in an inbox ahead of it;
// a job held back for its own client's reply room holds back only that client. Each job goes to
// the worker pick_worker() chooses. What a pass needs from shared memory (whether a worker runs a
// long job, the free space in each reply ring) is read once, the first time it is needed, and then
// kept up to date locally as jobs are placed; each worker's inbox is published, and the worker
// woken if it sleeps, once at the end.
bool Dispatcher::dispatch(std::int64_t now, SessionTable& sessions, std::span<const WorkerSlot> slots,
                          const FunctionCatalog& functions, PoolCounters& counters) {
    const auto n_workers = static_cast<unsigned>(workers_.size());
    pass_workers_.resize(n_workers);
    pass_touched_.assign(n_workers, 0);
    for (unsigned slot = 0; slot < n_workers; ++slot) {
        const WorkerSlot& ws = slots[slot];
        const WorkerHoldings& w = workers_[slot];
        WorkerCandidate& c = pass_workers_[slot];
        // ever_ready was brought up to date before this pass.
        c.ready = ws.takes_jobs() && ws.ever_ready;
        c.load.held = w.jobs.size();
        c.load.holds_exclusive = w.exclusive_held > 0;
        c.load.running_long = false;
        if (!c.ready) continue;
        const WorkerRecord& rec = pool_.worker(slot);
        const std::uint64_t running = rec.running_seq.load(std::memory_order_relaxed);
        // A job that came by lane is not in `jobs`, and its length is unknown: treated as one
        // exclusive job held, so nothing waits behind it. Held from the claim on, before the
        // worker shows it running: a job queued in that moment would wait behind it.
        const bool lane_job = running == kLaneRunningSeq ||
                              lane_progress_stage(rec.lane_progress.load(std::memory_order_acquire)) ==
                                  LaneStage::taken;
        if (lane_job) {
            ++c.load.held;
            c.load.holds_exclusive = true;
        } else if (c.load.held > 0 && !c.load.holds_exclusive && c.load.held < config_.prefetch) {
            c.load.running_long = running != kNoRunningJob &&
                                  now - rec.running_since_ns.load(std::memory_order_relaxed) > kShortJobNs;
        }
    }
    const unsigned n_sessions = sessions.end();
    if (n_sessions == 0) return false;
    pass_sessions_.clear();
    PriorityLevels waiting = 0;  // the levels queued in sessions taking part
    for (unsigned i = 0; i < n_sessions; ++i) {
        const unsigned slot = (session_cursor_ + i) % n_sessions;
        const SessionSlot& s = sessions[slot];
        if (s.open() && !s.queue.empty()) {
            pass_sessions_.push_back({slot, static_cast<unsigned>(pass_sessions_.size())});
            waiting |= s.queue.levels();
        }
    }
    if (pass_sessions_.empty()) return false;
    aging_.keep_only(waiting);
    // All jobs of one level (the usual case): no session's job counts more than another's.
    const bool one_level = (waiting & (waiting - 1)) == 0;
    const unsigned only_level = top_level(waiting);
    session_cursor_ = (pass_sessions_.front().slot + 1) % n_sessions;
    if (pass_sessions_.size() > 1) {
        order_by_jobs_held(std::span<PassSession>(pass_sessions_),
                           [&](const PassSession& p) { return sessions[p.slot].jobs_with_workers; });
    }
    constexpr std::uint64_t kUnknown = ~std::uint64_t{0};
    pass_room_.assign(pass_sessions_.size() * n_workers, kUnknown);

    bool progress = false;
    unsigned floor = 0;  // no job that counts as a lower level is placed in the rest of the pass
    // Sessions still taking part stay at the front of pass_sessions_, in turn order.
    std::size_t taking_part = pass_sessions_.size();
    while (taking_part > 0) {
        // This round serves the sessions whose next job counts as the highest level.
        unsigned round_level = only_level;
        if (!one_level) {
            round_level = 0;
            for (std::size_t k = 0; k < taking_part; ++k) {
                PassSession& entry = pass_sessions_[k];
                const JobQueue& queue = sessions[entry.slot].queue;
                if (queue.empty()) continue;
                entry.level = aging_.next(queue.levels(), now);
                entry.effective = aging_.effective(entry.level, now);
                round_level = std::max(round_level, entry.effective);
            }
        }
        std::size_t kept = 0;
        for (std::size_t k = 0; k < taking_part; ++k) {
            PassSession entry = pass_sessions_[k];
            SessionSlot& s = sessions[entry.slot];
            if (s.queue.empty()) continue;  // served in full: out of the pass
            if (one_level) entry.level = entry.effective = only_level;
            if (entry.effective < floor) continue;  // behind a job no worker may take: out of the pass
            if (entry.effective < round_level) {    // not its turn this round
                pass_sessions_[kept++] = entry;
                continue;
            }
            PendingJob& job = s.queue.front(entry.level);
            if (start_deadline_passed(job.record, now)) {
                counters.add_failure(ErrorKind::deadline_exceeded, job.items);
                s.post_error(job.record, ErrorKind::deadline_exceeded, kDeadlinePassedMessage);
                s.queue.pop_front(entry.level);
                progress = true;
                pass_sessions_[kept++] = entry;
                continue;
            }
            const std::int64_t timeout_ns = functions.timeout_ns(job.record);
            const RunEstimate& estimate = functions.estimate(job);
            const bool exclusive = timeout_ns > 0 || !estimate.known_short();
            const std::uint64_t job_reply = job_reply_bytes(job.record.flags, config_.inline_max);
            std::uint64_t* room = &pass_room_[std::size_t{entry.row} * n_workers];
            bool room_lacking = false;
            auto has_room = [&](std::size_t slot) {
                const auto worker = static_cast<std::uint32_t>(slot);
                if (room[slot] == kUnknown) {
                    // The tail the worker counted, not the one in the client's memory.
                    const ReplyTail& counted = pool_.reply_tail(worker, entry.slot);
                    const std::uint64_t before = counted.generation.load(std::memory_order_acquire);
                    std::uint64_t tail = counted.tail.load(std::memory_order_acquire);
                    // Counted for another session of the slot, or being switched to this one:
                    // nothing counted yet (a reply published meanwhile still has its room reserved).
                    if (before != s.generation || counted.generation.load(std::memory_order_acquire) != s.generation) {
                        tail = 0;
                    }
                    const std::uint64_t used =
                        reply_ring_unread(tail, s.memory.reply_control(worker).head.load(std::memory_order_acquire),
                                          s.memory.layout.reply_ring_bytes);
                    room[slot] = reply_room_bytes(s.memory.layout.reply_ring_bytes, used,
                                                  workers_[slot].reply_reserved[entry.slot], reply_reserve_);
                }
                if (room[slot] >= job_reply) return true;
                // Held back until the client reads: it rings the doorbell when it has (the store
                // precedes our next look at the ring, so a read in between is not missed).
                s.header().reply_room_wanted.store(1);
                room_lacking = true;
                return false;
            };
            const int best = pick_worker(std::span<const WorkerCandidate>(pass_workers_), worker_cursor_, exclusive,
                                         exclusive ? 1 : queue_depth(config_.prefetch, estimate), has_room);
            if (best < 0) {  // held back: out of the pass
                if (!room_lacking) floor = std::max(floor, entry.effective);
                continue;
            }
            const auto w_slot = static_cast<unsigned>(best);
            WorkerHoldings& w = workers_[w_slot];
            const auto size = static_cast<std::uint32_t>(sizeof(JobRecord) + job.payload.size());
            std::byte* out = w.inbox.try_reserve(size);
            if (out == nullptr) {  // inbox full of large payloads: try again next pass
                floor = std::max(floor, entry.effective);
                continue;
            }
            std::memcpy(out, &job.record, sizeof(JobRecord));
            std::memcpy(out + sizeof(JobRecord), job.payload.data(), job.payload.size());
            w.inbox.commit(size);
            if (exclusive) ++w.exclusive_held;
            w.reply_reserved[entry.slot] += job_reply;
            w.jobs.emplace_back(
                InFlightJob{w.next_inbox_seq++, now, timeout_ns, exclusive, s.queue.take_front(entry.level)});
            aging_.dispatched(entry.level, waiting, now);
            ++s.jobs_with_workers;
            WorkerCandidate& c = pass_workers_[w_slot];
            ++c.load.held;
            c.load.holds_exclusive = c.load.holds_exclusive || exclusive;
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
        pool_.worker(slot).inbox_wake.notify_futex();
    }
    return progress;
}

}  // namespace warmpool
