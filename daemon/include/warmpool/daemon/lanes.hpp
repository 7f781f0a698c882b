// Lanes: the supervisor's side of the lanes (shm_layout.hpp: Lane, LaneBoard), by which a client
// hands one job at a time straight to an idle worker.
//
// It owns the lane board (created here, inherited by the workers, given read-only to clients) and
// what it has counted of each worker's lane jobs. It alone writes the board's `open` and
// `queued_above`; it clears a dead worker's `watching` and `watcher_role` bits (the worker sets
// and clears them while it lives). In a session's Lane it moves a post to `claimed` and back to
// `free` when it takes the post into the queue, and frees a lane a dead worker claimed.
//
// It is not on a lane job's path: it counts what lane jobs came to, settles the lane job of a
// worker that died, and takes posts no worker is coming for. The supervisor's one thread only.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "warmpool/common/pool_memory.hpp"
#include "warmpool/common/shared_segment.hpp"
#include "warmpool/common/sys_result.hpp"
#include "warmpool/daemon/job_fate.hpp"
#include "warmpool/daemon/pool_counters.hpp"
#include "warmpool/daemon/session_table.hpp"

namespace warmpool {

// Which lane job a worker record describes: a session's post, by its ticket.
struct LaneJobKey {
    std::uint32_t session_slot = 0;
    std::uint64_t generation = 0;
    std::uint64_t ticket = 0;
    bool operator==(const LaneJobKey&) const = default;
};
LaneJobKey lane_job_key(const WorkerRecord& record);

// Takes the post `word` off `lane` if the lane still holds it: its record and arguments are
// copied out, then the lane is the client's again. The compare-and-swap decides between the
// supervisor, a worker claiming the post, and the client taking it back.
bool take_off_lane(Lane& lane, std::uint64_t word, JobRecord& record, std::string& payload);

struct StopOrder;

class Lanes {
public:
    Status create(std::string_view pool_name, unsigned worker_slots);
    const SharedSegment& board_segment() const { return segment_; }
    LaneBoard* board() const { return board_; }

    void set_open(bool open);
    // The highest priority level queued plus one, 0 if none (LaneBoard::queued_above); stored
    // only when it changes.
    void set_queued_above(std::uint32_t queued_above);
    // A new worker in `slot`: nothing of its lane jobs counted yet.
    void start_worker(unsigned slot);
    // Adds to `counters` what the lane jobs of the worker in `slot` came to since the last look.
    // A lane job counts as submitted when a worker takes it, and as finished once the worker has
    // counted its outcome.
    void count(unsigned slot, const PoolMemory& pool, PoolCounters& counters);
    // Lane jobs the worker in `slot` took and has not counted (0 or 1).
    std::uint64_t running(unsigned slot, const PoolMemory& pool) const;
    // The worker in `slot` died: it watches no lane any more.
    void forget_watcher(unsigned slot);
    bool any_watching() const;

    // The lane job of a worker that died, settled: exactly one reply and one count, as a job from
    // its inbox would get (job_fate.hpp). `lane` and `reply_ring` are those of the job's session
    // if it is still connected (else null); `stopped_on_purpose`: the supervisor's stop order
    // was for this job.
    struct Settlement {
        bool reply = false;  // the client is to get `error` with `message` for `job`
        JobRecord job{};
        ErrorKind error = ErrorKind::worker_crashed;
        std::string message;
    };
    struct DeadWorkerLane {
        Lane* lane = nullptr;                    // of the job's session, if that session exists
        bool session_live = false;               // ... and is not closing
        const RingControl* reply_ring = nullptr;  // the worker's reply ring of that session
        bool stopped_on_purpose = false;
    };
    Settlement settle(unsigned slot, const PoolMemory& pool, const DeadWorkerLane& where, const WorkerDeath& death,
                      PoolCounters& counters);
    // settle(), for the session the dead worker's record names, with the reply posted to it.
    // `stop`: the order the supervisor had given the worker.
    void settle_dead_worker(unsigned slot, const PoolMemory& pool, SessionTable& sessions, const StopOrder& stop,
                            const WorkerDeath& death, PoolCounters& counters);
    // The function of the lane job the worker in `slot` runs, for status; empty if unknown.
    std::string running_function(unsigned slot, const PoolMemory& pool, const SessionTable& sessions) const;

private:
    struct Tally {
        std::uint64_t taken_seen = 0;
        std::uint64_t counts_seen[kOutcomeSlots] = {};
    };
    SharedSegment segment_;
    LaneBoard* board_ = nullptr;
    std::vector<Tally> tallies_;
    std::uint32_t queued_above_ = 0;  // as last stored on the board
};

}  // namespace warmpool
