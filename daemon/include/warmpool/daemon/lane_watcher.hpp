// LaneWatcher: a worker's side of the lanes (shm_layout.hpp: Lane, LaneBoard). It watches the
// sessions' lanes while the worker is idle, claims a job a client posted there, and keeps in the
// worker's record what a supervisor needs to settle that job should the worker die.
//
// One worker at a time watches: two idle workers spinning beside a client that spins would be
// three spinners on what may be two cores. A worker watches while idle, stops while it runs
// anything, and starts again just before it publishes a lane job's reply, so that the client's
// next post, made as soon as it has the reply, finds it watching.
//
// Owned by the worker process and used from its one thread; the worker runs what it claims
// (start_claimed() ... count_claimed(), finish_claimed()). For this worker it alone writes its
// bits in LaneBoard::watching and LaneBoard::watcher_role, WorkerRecord::lane_progress and the
// other lane_* fields, running_reply_tail when it claims, LaneOutcome, and sets
// PoolHeader::lane_posts_left; in a session, a lane's word when it claims the post there (by
// compare-and-swap) and frees the lane after copying the post out.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "warmpool/common/shm_layout.hpp"
#include "warmpool/daemon/worker_process.hpp"
#include "warmpool/daemon/worker_sessions.hpp"

namespace warmpool {

class LaneWatcher {
public:
    LaneWatcher(const WorkerSetup& setup, WorkerSessions& sessions);

    // Lanes open, this worker not exiting, not due for recycling nor being replaced.
    bool may_take_jobs() const;
    bool watching() const { return watching_; }
    // A claimed job waits to be run.
    bool claimed() const { return claimed_; }

    // Takes the watcher's role unless another worker holds it, then shows clients it watches.
    // The role outlives a lane job the watcher runs (it stops showing itself meanwhile), so
    // another idle worker does not start spinning beside it.
    void watch();
    // Clears this worker's bit, then looks at every lane once more: a client that saw the bit set
    // may have posted. A post found then is claimed (claimed()), to be run by the caller, if this
    // worker may take one now; any other post found is handed to the supervisor, which queues it.
    // keep_role: it runs the lane job it just claimed, and will show itself again before replying.
    void stop_watching(bool keep_role = false);
    // Claims one posted lane job of any active session, if there is one.
    bool claim_posted();

    // The claimed job, now to be run: its record (session fields filled in) and arguments, valid
    // until the next claim.
    const JobRecord& start_claimed();
    std::span<const std::byte> claimed_payload() const { return claimed_payload_; }
    // The outcome slot of the running lane job's single call, noted before its reply goes out.
    void note_status(std::size_t outcome_slot);
    // Counts the lane job that ran (after its reply went out, or kOutcomeDropped if it did not).
    void count_claimed(std::size_t outcome_slot);
    // The lane job is over: nothing of it is left for a supervisor to settle.
    void finish_claimed();

private:
    bool any_posted_lane();
    bool claim(std::uint32_t slot, SessionView& view);
    template <class Found>
    bool any_active_session(std::uint32_t from, Found&& found);
    bool exiting() const;

    const WorkerSetup& setup_;
    WorkerSessions& sessions_;
    PoolHeader* pool_header_;
    WorkerRecord* record_;
    LaneBoard* board_;
    LaneOutcome* outcome_;
    const std::atomic<std::uint64_t>* active_sessions_;  // the active-session bitmap
    const std::uint64_t bit_;                            // this worker's bit in a board word
    // Reply-ring room a lane reply needs wherever the ring's tail stands: two of the largest.
    const std::uint64_t reply_room_;
    bool watching_ = false;      // its bit in LaneBoard::watching is set
    bool watcher_role_ = false;  // its bit in LaneBoard::watcher_role is set
    bool claimed_ = false;       // claimed_job_ waits to be run
    bool running_ = false;       // claimed_job_ runs
    std::uint64_t taken_ = 0;    // lane jobs taken (WorkerRecord::lane_progress)
    std::uint32_t scan_from_ = 0;  // session slot the next look at the lanes starts from
    JobRecord claimed_job_{};
    std::vector<std::byte> claimed_payload_;
};

}  // namespace warmpool
