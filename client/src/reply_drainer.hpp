// ReplyDrainer: the reply side of a client session ("the drainer"): reads the replies of its
// jobs and hands each to the job's slot. Private to libwarmpool.
//
// Owns the consumers of the session's reply rings (the control ring, then one per worker slot),
// the workers' result blobs as mapped here (ResultBlobs), and the adaptive spin of its waits. It
// delivers into the session's JobTable and CompletionQueue (under ReplyWaits' mutex) and frees
// argument blobs (ArgumentBlobs) whose job is answered; it uses those, and the control socket,
// and outlives none of them.
//
// Any thread may call it, but only the thread whose turn it is (ReplyWaits::drain_in_turn)
// reads the rings: wait_for(), deliver_in_turn() and run_background() take the turn themselves.
// daemon_alive() and fail_all() may be called by any thread. Of the shared memory it alone
// writes the reply rings' heads (consuming), and SessionHeader::reply_room_wanted back to 0,
// ringing the supervisor's doorbell when it does; it sleeps on SessionHeader::client_wake.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "argument_blobs.hpp"
#include "completion_queue.hpp"
#include "control_socket.hpp"
#include "job_table.hpp"
#include "reply_waits.hpp"
#include "result_blobs.hpp"
#include "warmpool/common/adaptive_spin.hpp"
#include "warmpool/common/byte_ring.hpp"
#include "warmpool/common/pool_memory.hpp"

namespace warmpool::detail {

class ReplyDrainer {
public:
    // The session's parts it delivers into and waits with.
    struct Peers {
        ReplyWaits& waits;
        JobTable& jobs;
        CompletionQueue& completions;
        ArgumentBlobs& arguments;
    };
    // memory: the session segment; doorbell: the supervisor's eventfd for this session;
    // pool_name: for the message jobs fail with when the pool goes away.
    ReplyDrainer(const SessionMemory& memory, int doorbell, ControlSocket& control, std::string pool_name,
                 const Peers& peers);

    // Waits until `flag` is set or deadline_ns (monotonic; -1: no limit) passes, draining while
    // it is this thread's turn (ReplyWaits::wait_for). True if set.
    bool wait_for(const std::atomic<bool>& flag, std::int64_t deadline_ns, bool yields = false);
    // Delivers the replies available now if the turn is free (a submitter waiting for room in the
    // submit ring: workers may be waiting for it to read their replies).
    void deliver_in_turn();
    // The background thread's loop, until ReplyWaits::stop(): drains for jobs nobody waits for.
    void run_background();

    // False (and every pending job failed) if the daemon has gone away.
    bool daemon_alive();
    // Fails every pending job with `why`, and the session is lost (JobTable::fail_all).
    void fail_all(const std::string& why);

    // Consumes every reply available now; returns how many were delivered. The drainer only.
    std::size_t deliver_available();
    // Whether a reply ring holds a record (the drainer only).
    bool replies_pending();

private:
    // The drainer's loop: deliver replies until `target` is set or the deadline passes (or, when
    // `yields`, another thread wants to drain).
    void drain_until(const std::atomic<bool>* target, std::int64_t deadline_ns, bool yields);
    void deliver(const ReplyRecord& reply, std::span<const std::byte> payload);

    std::vector<RingConsumer> replies_;  // [0] control ring, then one per worker slot
    ResultBlobs results_;                // workers' result blobs, kept mapped for their reuse
    AdaptiveSpin reply_spin_;            // whether drain_until() spins before it sleeps
    SessionHeader* header_;
    int doorbell_;
    ControlSocket& control_;
    std::string pool_name_;
    Peers peers_;
};

}  // namespace warmpool::detail
