// WorkerSessions: a worker's views of the client sessions it serves, each mapped on first need.
//
// A view holds the mapping of the session's segment, the worker's reply ring and the session's
// lane in it, and what the worker keeps for the session's jobs (job_runner.hpp: SessionBlobs).
// A segment's descriptor is asked of the supervisor by slot and generation (SupervisorChannel);
// a session it says is gone is not asked for again. Views of sessions that ended are let go when
// the worker is idle (forget_ended()), so their mappings and result blobs go with them.
//
// Owned by the worker process and used from its one thread. Writes no shared field itself; reads
// the session table (SessionEntry), which only the supervisor writes, and each session's state.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <unordered_map>

#include "warmpool/common/byte_ring.hpp"
#include "warmpool/common/shared_segment.hpp"
#include "warmpool/common/shm_layout.hpp"
#include "warmpool/daemon/job_runner.hpp"
#include "warmpool/daemon/supervisor_channel.hpp"
#include "warmpool/daemon/worker_process.hpp"

namespace warmpool {

struct SessionView {
    std::uint64_t generation = 0;
    SharedSegment segment;
    SessionHeader* header = nullptr;
    Lane* lane = nullptr;
    RingProducer reply;  // this worker's reply ring in the session
    bool reply_overrun_logged = false;  // the client broke its reply ring: said once, not per reply
    SessionBlobs blobs;

    // The client is still connected (SessionState::active).
    bool active() const {
        return header->state.load(std::memory_order_acquire) == static_cast<std::uint32_t>(SessionState::active);
    }
};

class WorkerSessions {
public:
    // `pid`: the worker's, naming its result blobs.
    WorkerSessions(const WorkerSetup& setup, SupervisorChannel channel, pid_t pid);

    // The view of session (slot, generation) while that session is active, mapped first if need
    // be; null once it closed or if the supervisor no longer has it.
    SessionView* find(std::uint32_t slot, std::uint64_t generation);
    // The view of the session the session table shows in `slot` now, as find(); a view already
    // mapped is returned even if the session just started closing. Null if the slot is empty.
    SessionView* current(std::uint32_t slot);
    // Whether the job's session may send pickle (SessionEntry::trust), as long as the session in
    // its slot is still the job's.
    bool may_unpickle(const JobRecord& job) const;
    // Lets go of the views of sessions that are no longer active.
    void forget_ended();

private:
    SessionView* map(std::uint32_t slot, std::uint64_t generation);

    const WorkerSetup& setup_;
    SupervisorChannel channel_;
    pid_t pid_;
    const SessionEntry* table_;  // the session table, in the pool segment
    std::unordered_map<std::uint32_t, SessionView> views_;
    // Per session slot, the generation the supervisor last said is gone: not asked for again.
    std::unordered_map<std::uint32_t, std::uint64_t> gone_;
};

}  // namespace warmpool
