#include "warmpool/daemon/lane_watcher.hpp"

#include <algorithm>
#include <bit>
#include <cstring>

#include "warmpool/common/clock.hpp"
#include "warmpool/common/job_checks.hpp"
#include "warmpool/daemon/dispatch_policy.hpp"

namespace warmpool {

LaneWatcher::LaneWatcher(const WorkerSetup& setup, WorkerSessions& sessions)
    : setup_(setup),
      sessions_(sessions),
      pool_header_(&setup.pool_memory().header()),
      record_(&setup.pool_memory().worker(setup.slot)),
      board_(setup.lane_board),
      outcome_(&setup.pool_memory().lane_outcome(setup.slot)),
      active_sessions_(setup.pool_memory().active_sessions()),
      bit_(std::uint64_t{1} << (setup.slot % 64)),
      reply_room_(2 * job_reply_bytes(0, setup.inline_max)) {}

bool LaneWatcher::exiting() const {
    return record_->state.load(std::memory_order_acquire) == static_cast<std::uint32_t>(WorkerState::exiting);
}

bool LaneWatcher::may_take_jobs() const {
    return board_->open.load(std::memory_order_relaxed) != 0 && !exiting() &&
           record_->jobs_done.load(std::memory_order_relaxed) <
               record_->lanes_until_jobs.load(std::memory_order_relaxed);
}

void LaneWatcher::watch() {
    if (watching_ || !may_take_jobs()) return;
    if (!watcher_role_) {
        std::atomic<std::uint64_t>& role = board_->watcher_role[setup_.slot / 64];
        if ((role.fetch_or(bit_, std::memory_order_seq_cst) & ~bit_) != 0) {
            role.fetch_and(~bit_, std::memory_order_seq_cst);  // another worker has it
            return;
        }
        watcher_role_ = true;
    }
    board_->watching[setup_.slot / 64].fetch_or(bit_, std::memory_order_seq_cst);
    watching_ = true;
}

void LaneWatcher::stop_watching(bool keep_role) {
    if (watching_) {
        board_->watching[setup_.slot / 64].fetch_and(~bit_, std::memory_order_seq_cst);
        std::atomic_thread_fence(std::memory_order_seq_cst);
        watching_ = false;
        // Not while a lane job runs or waits to (the record describes that one), nor when this
        // worker may not take lane jobs at all.
        if (!claimed_ && !running_ && may_take_jobs()) claim_posted();
        if (any_posted_lane()) {
            pool_header_->lane_posts_left.store(1, std::memory_order_seq_cst);
            pool_header_->supervisor_wake.notify_eventfd(setup_.supervisor_eventfd);
        }
    }
    if (watcher_role_ && !keep_role) {
        board_->watcher_role[setup_.slot / 64].fetch_and(~bit_, std::memory_order_seq_cst);
        watcher_role_ = false;
    }
}

bool LaneWatcher::any_posted_lane() {
    return any_active_session(0, [](std::uint32_t, SessionView& view) {
        return lane_state(view.lane->word.load(std::memory_order_acquire)) == LaneWordState::posted;
    });
}

// Sessions are looked at from the one after the last claimed, so none is always last.
bool LaneWatcher::claim_posted() {
    return any_active_session(scan_from_, [this](std::uint32_t slot, SessionView& view) {
        if (!claim(slot, view)) return false;
        scan_from_ = slot + 1;
        return true;
    });
}

// Whether `found(slot, view)` holds for an active session, asked of each in turn from session
// slot `from` round to the one before it.
template <class Found>
bool LaneWatcher::any_active_session(std::uint32_t from, Found&& found) {
    const std::uint32_t words = setup_.pool_layout.active_words();
    const std::uint32_t start_word = (from / 64) % words;
    const std::uint32_t start_bit = from % 64;
    for (std::uint32_t n = 0; n <= words; ++n) {
        const std::uint32_t w = (start_word + n) % words;
        std::uint64_t bits = active_sessions_[w].load(std::memory_order_acquire);
        if (n == 0) bits &= ~std::uint64_t{0} << start_bit;  // the start word from its bit on
        if (n == words) bits &= start_bit == 0 ? 0 : ~std::uint64_t{0} >> (64 - start_bit);  // the rest
        while (bits != 0) {
            const auto slot = static_cast<std::uint32_t>(w * 64 + std::countr_zero(bits));
            bits &= bits - 1;
            // Mapped on first sight: one mmap per session, as its first job would cost.
            SessionView* view = sessions_.current(slot);
            if (view != nullptr && found(slot, *view)) return true;
        }
    }
    return false;
}

// The record tells a supervisor what this worker claims before the claim, so that a death at any
// point leaves the job with exactly one owner.
bool LaneWatcher::claim(std::uint32_t slot, SessionView& view) {
    Lane& lane = *view.lane;
    std::uint64_t word = lane.word.load(std::memory_order_acquire);
    if (lane_state(word) != LaneWordState::posted) return false;
    // A client with nothing in flight has read every reply; one whose ring lacks room for a
    // reply is not served here (the supervisor queues its post), so no worker ever waits on it.
    if (view.reply.free_bytes() < reply_room_) return false;
    // Nor a post of lower priority than a queued job: the supervisor queues it behind that one.
    if (lane_yields(lane.record.priority, board_->queued_above.load(std::memory_order_acquire))) return false;
    const std::uint64_t ticket = lane_ticket(word);
    record_->lane_session_slot.store(slot, std::memory_order_relaxed);
    record_->lane_generation.store(view.generation, std::memory_order_relaxed);
    record_->lane_ticket.store(ticket, std::memory_order_relaxed);
    // Only this worker publishes into that reply ring: its tail stays put until our reply.
    record_->running_reply_tail.store(view.reply.published_tail(), std::memory_order_relaxed);
    record_->lane_progress.store(lane_progress(taken_, LaneStage::claiming), std::memory_order_seq_cst);
    if (!lane.word.compare_exchange_strong(word, lane_word(ticket, setup_.slot, LaneWordState::claimed),
                                           std::memory_order_acq_rel)) {
        record_->lane_progress.store(lane_progress(taken_, LaneStage::none), std::memory_order_release);
        return false;
    }
    // Copied out before the lane is the client's again; what it says is checked when it runs.
    std::memcpy(&claimed_job_, &lane.record, sizeof claimed_job_);
    const std::size_t bytes = std::min<std::size_t>(claimed_job_.payload_bytes, kLanePayloadMax);
    claimed_payload_.assign(lane.payload, lane.payload + bytes);
    claimed_job_.session_slot = slot;
    claimed_job_.session_generation = view.generation;
    claimed_job_.attempt = 1;
    claimed_job_.enqueued_ns = monotonic_ns();
    record_->lane_job_id.store(claimed_job_.job_id, std::memory_order_relaxed);
    ++taken_;
    record_->lane_progress.store(lane_progress(taken_, LaneStage::taken), std::memory_order_release);
    lane.word.store(lane_word(ticket, 0, LaneWordState::free), std::memory_order_release);
    claimed_ = true;
    return true;
}

const JobRecord& LaneWatcher::start_claimed() {
    claimed_ = false;
    running_ = true;
    return claimed_job_;
}

void LaneWatcher::note_status(std::size_t outcome_slot) {
    outcome_->last_status.store(static_cast<std::uint32_t>(outcome_slot), std::memory_order_relaxed);
}

void LaneWatcher::count_claimed(std::size_t outcome_slot) {
    // Only this worker writes its counts: no read-modify-write needed.
    std::atomic<std::uint64_t>& count = outcome_->counts[outcome_slot];
    count.store(count.load(std::memory_order_relaxed) + 1, std::memory_order_release);
}

void LaneWatcher::finish_claimed() {
    record_->lane_progress.store(lane_progress(taken_, LaneStage::none), std::memory_order_release);
    running_ = false;
}

}  // namespace warmpool
