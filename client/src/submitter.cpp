#include "submitter.hpp"

#include <chrono>
#include <cstring>
#include <string>
#include <utility>

#include "warmpool/common/job_checks.hpp"
#include "warmpool/job_error.hpp"

namespace warmpool::detail {

JobRecord job_record(std::uint64_t id, std::string_view function, std::uint32_t flags, std::uint64_t fingerprint,
                     const CallOptions& options) {
    if (function.empty() || function.size() > kFunctionNameMax) {
        throw JobError(ErrorKind::bad_request, "function names are 1 to " + std::to_string(kFunctionNameMax) + " bytes");
    }
    if (!priority_in_range(options.priority)) {
        throw JobError(ErrorKind::bad_request, "priority " + std::to_string(options.priority) + " is outside " +
                                                   std::to_string(kPriorityMin) + ".." + std::to_string(kPriorityMax));
    }
    JobRecord record{};
    record.job_id = id;
    record.priority = options.priority;
    record.fingerprint = fingerprint;
    record.flags = flags;
    if (options.deadline) {
        // steady_clock is CLOCK_MONOTONIC on Linux, the clock every process of the pool uses.
        record.deadline_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                                 options.deadline->time_since_epoch()).count();
        if (record.deadline_ns == 0) record.deadline_ns = 1;
    }
    record.timeout_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(options.timeout).count();
    set_function_name(record, function);
    return record;
}

Submitter::Submitter(const SessionMemory& memory, SharedSegment board, int doorbell)
    : ring_(memory.submit()),
      lane_(&memory.lane()),
      supervisor_wake_(&memory.header().supervisor_wake),
      doorbell_(doorbell) {
    if (board.valid() && board.size() >= sizeof(LaneBoard) &&
        reinterpret_cast<const LaneBoard*>(board.data())->magic == kLaneBoardMagic) {
        board_segment_ = std::move(board);
        board_ = reinterpret_cast<const LaneBoard*>(board_segment_.data());
        board_words_ = (memory.layout.worker_slots + 63) / 64;
    }
}

bool Submitter::worker_watching() const {
    for (std::uint32_t i = 0; i < board_words_; ++i) {
        if (board_->watching[i].load(std::memory_order_seq_cst) != 0) return true;
    }
    return false;
}

// The lane (shm_layout.hpp: Lane) is posted to only when nothing else of this session is in
// flight, so it holds at most one of its jobs at a time.
bool Submitter::post_to_lane(const JobRecord& record, std::string_view payload) {
    if (board_ == nullptr || !lane_may_carry(record, payload.size()) ||
        board_->open.load(std::memory_order_relaxed) == 0 ||
        lane_yields(record.priority, board_->queued_above.load(std::memory_order_relaxed)) || !worker_watching()) {
        return false;
    }
    if (lane_state(lane_->word.load(std::memory_order_acquire)) != LaneWordState::free) return false;
    std::memcpy(&lane_->record, &record, sizeof record);
    std::memcpy(lane_->payload, payload.data(), payload.size());
    const std::uint64_t posted = lane_word(++lane_ticket_, 0, LaneWordState::posted);
    lane_->word.store(posted, std::memory_order_seq_cst);
    // The post, then (a full fence between) the watchers: a worker that stops watching clears its
    // bit and then looks at the lanes once more, so one of us sees the other.
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (worker_watching()) return true;
    std::uint64_t expected = posted;
    if (lane_->word.compare_exchange_strong(expected, lane_word(lane_ticket_, 0, LaneWordState::free),
                                           std::memory_order_acq_rel)) {
        return false;  // taken back: nobody watches
    }
    return true;  // a worker claimed it meanwhile
}

bool Submitter::try_write(const JobRecord& record, std::string_view payload) {
    std::byte* out = ring_.try_reserve(static_cast<std::uint32_t>(sizeof record + payload.size()));
    if (out == nullptr) return false;
    write(out, record, payload);
    return true;
}

bool Submitter::write_or_sleep(const JobRecord& record, std::string_view payload, std::int64_t timeout_ns) {
    WakeFlag& space = ring_.control()->space;
    const std::uint32_t token = space.prepare_sleep();
    if (std::byte* out = ring_.try_reserve(static_cast<std::uint32_t>(sizeof record + payload.size()))) {
        space.cancel_sleep();
        write(out, record, payload);
        return true;
    }
    space.sleep_futex(token, timeout_ns);
    return false;
}

void Submitter::write(std::byte* out, const JobRecord& record, std::string_view payload) {
    const auto size = static_cast<std::uint32_t>(sizeof record + payload.size());
    std::memcpy(out, &record, sizeof record);
    std::memcpy(out + sizeof record, payload.data(), payload.size());
    ring_.commit(size);
    ring_.publish();
    supervisor_wake_->notify_eventfd(doorbell_);
}

}  // namespace warmpool::detail
