// SessionTable: the supervisor's record of every connected client's session.
//
// It owns each session's shared memory (the session segment, mapped here and kept out of the
// workers the supervisor forks), its doorbell eventfd, the blob descriptors kept for the other
// side to ask for, the session's queue of jobs waiting for a worker (a JobQueue, which keeps the
// pool's queue totals), and the error replies waiting for room in its control ring.
//
// In shared memory it alone writes, in the pool segment, the session table (SessionEntry: a
// slot's generation and trust) and the active-session bitmap; in each session segment, the
// header (construct, `state`) and the control ring as its producer. It consumes the submit ring.
//
// The supervisor's one thread only. A session's slot is its index; a slot is reused once its
// session closed and no worker holds a job of it any more (finish_closed()).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "warmpool/common/byte_ring.hpp"
#include "warmpool/common/pool_memory.hpp"
#include "warmpool/common/shared_segment.hpp"
#include "warmpool/common/sys_result.hpp"
#include "warmpool/common/unique_fd.hpp"
#include "warmpool/common/unix_socket.hpp"
#include "warmpool/daemon/function_catalog.hpp"
#include "warmpool/daemon/job_queue.hpp"
#include "warmpool/error_kind.hpp"

namespace warmpool {

struct SessionSlot {
    bool used = false;
    bool closing = false;
    int fd = -1;  // the control connection (owned by the supervisor's connections)
    std::uint64_t generation = 0;
    PeerCredentials peer;
    std::string client_name;
    std::int64_t connected_ns = 0;
    SharedSegment segment;  // keeps its memfd: workers ask for it
    SessionMemory memory;
    UniqueFd doorbell;  // this session's eventfd: only its client rings it
    // Blob memfds (protocol.hpp: BlobOffer, ResultOffer), kept for the other side to ask for
    // until their producer retires them or the session ends.
    std::unordered_map<std::uint64_t, UniqueFd> argument_blobs;  // the client's, by object
    struct ResultBlob {
        pid_t worker = 0;
        std::uint64_t object = 0;
        UniqueFd fd;
        bool given = false;              // the client was given a copy (it may drop it and ask again)
        std::uint32_t worker_slot = 0;   // whose reply ring carries the replies naming it
        // Once its worker died: kept until the client has read its reply ring up to here (every
        // reply the dead worker published), since a reply may still name it.
        std::optional<std::uint64_t> until_replies_read;
    };
    std::vector<ResultBlob> result_blobs;
    RingConsumer submit;
    RingProducer control;
    JobQueue queue;
    FunctionCatalog::LastLookup last_function;
    std::deque<std::string> control_backlog;  // error replies waiting for control-ring space
    std::uint64_t jobs_with_workers = 0;      // its jobs in workers' inboxes
    std::uint64_t lane_post_seen = 0;         // its lane's word seen posted at the last tick, or 0
    std::uint64_t submitted = 0;

    SessionHeader& header() const { return memory.header(); }
    bool open() const { return used && !closing; }
    // Queues an error reply for the client's control ring and sends what fits.
    void post_error(const JobRecord& record, ErrorKind kind, const std::string& message);
    // Moves waiting error replies into the control ring as room allows; true if any moved.
    bool flush_control();
};

class SessionTable {
public:
    SessionTable(unsigned capacity, PoolMemory pool, SessionLayout layout, QueueTotals* totals);

    unsigned capacity() const { return static_cast<unsigned>(slots_.size()); }
    // One past the highest slot in use: nothing beyond it need be looked at. (A new session takes
    // the lowest free slot, so this stays close to the number of clients.)
    unsigned end() const { return end_; }
    SessionSlot& operator[](unsigned slot) { return slots_[slot]; }
    const SessionSlot& operator[](unsigned slot) const { return slots_[slot]; }
    // The session in `slot` if it is still the one of `generation`.
    SessionSlot* live(std::uint32_t slot, std::uint64_t generation);
    const SessionLayout& layout() const { return layout_; }
    unsigned slot_of(const SessionSlot& session) const { return static_cast<unsigned>(&session - slots_.data()); }
    std::size_t held_by(uid_t uid) const;
    bool full() const;

    // Opens a session for `peer` in the lowest free slot, with its memory (labelled after
    // `pool_name` and the slot) and doorbell made and its entry published (with `trust`,
    // SessionTrust bits).
    Result<unsigned> open(const PeerCredentials& peer, std::uint32_t trust, std::uint64_t generation,
                          std::string_view pool_name);
    void republish_trust(unsigned slot, std::uint32_t trust);
    // The client is gone: workers are told (its entry withdrawn, its header `closing`), its queue
    // and waiting replies go. Returns the calls dropped from its queue.
    std::uint64_t begin_close(unsigned slot);
    // Frees the slots of closed sessions no worker holds a job of any more.
    void finish_closed();

private:
    std::vector<SessionSlot> slots_;
    PoolMemory pool_;
    SessionLayout layout_;
    QueueTotals* totals_;
    unsigned end_ = 0;
};

}  // namespace warmpool
