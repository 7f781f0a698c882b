// detail::LocalSession: the client side of one session with a local pool (detail::Session over
// shared memory). Private to libwarmpool.
//
// Owns the session's connection (the control socket and the doorbell), its shared memory, and
// the parts that do the work, each with a contract of its own:
//   Submitter        job ids, the submit ring and the lane (the single producer of both)
//   ArgumentBlobs    the blobs large arguments are written into
//   JobTable         the jobs awaiting their reply
//   CompletionQueue  the ids of watched jobs that are done
//   ReplyWaits       the session's mutex, the threads waiting for replies and whose turn it is
//                    to drain them (DrainerTurns)
//   ReplyDrainer     the reply rings: reads each reply into its job's slot
// and the background thread, which drains for jobs nobody waits for. LocalSession composes
// them; they call each other only downwards (the drainer delivers into the table, the queue and
// the argument blobs), never back into LocalSession.
//
// Thread-safe. Replies are consumed by one thread at a time, "the drainer", which is whichever
// thread is waiting for a result (or the background thread when nobody waits), so the common
// request/response path runs on the caller's own thread with no hand-off.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "argument_blobs.hpp"
#include "completion_queue.hpp"
#include "control_socket.hpp"
#include "job_slot.hpp"
#include "job_table.hpp"
#include "reply_drainer.hpp"
#include "reply_waits.hpp"
#include "session.hpp"
#include "submitter.hpp"
#include "warmpool/call_options.hpp"
#include "warmpool/common/pool_memory.hpp"
#include "warmpool/common/protocol.hpp"
#include "warmpool/common/shared_segment.hpp"
#include "warmpool/common/unique_fd.hpp"

namespace warmpool::detail {

class LocalSession final : public Session {
public:
    static std::shared_ptr<LocalSession> connect(const std::string& socket_path, const std::string& client_name,
                                            int timeout_ms);
    ~LocalSession() override;

    // Registers a job and writes it to the submit ring. Throws JobError (bad_request,
    // overloaded, shutting_down) if it cannot be submitted.
    std::shared_ptr<JobSlot> submit(std::string_view function, std::uint32_t flags, std::uint64_t fingerprint,
                                    std::string_view payload, const CallOptions& options) override;
    // As submit, for a payload of `bytes` bytes that `write` puts straight into its blob (so a
    // large argument is encoded once, into memory that is reused from call to call).
    std::shared_ptr<JobSlot> submit_in_place(std::string_view function, std::uint32_t flags,
                                             std::uint64_t fingerprint, std::size_t bytes,
                                             const PayloadWriter& write, const CallOptions& options) override;
    // A finished slot's payload buffer, for a later reply to reuse (kept only if large enough).
    void give_back_payload(std::string&& buffer) override;
    // Waits for the slot's reply until deadline_ns (monotonic; -1: no limit). True if done.
    bool wait(JobSlot& slot, std::int64_t deadline_ns) override;
    void cancel(JobSlot& slot, bool force) override;

    // The completion queue (CompletionQueue): watch() queues a slot that is done already at
    // once; unwatch() is true if the slot was watched and not yet done (then its id will never
    // be queued).
    void watch(JobSlot& slot) override;
    bool unwatch(JobSlot& slot) override;
    // Moves the queued ids into `out`, waiting (and draining replies meanwhile) until there is
    // at least one, wake_completions() was called, or deadline_ns passes. Returns how many.
    std::size_t wait_completions(std::vector<std::uint64_t>& out, std::int64_t deadline_ns) override;
    void wake_completions() override;

    const SessionInfo& info() const override { return info_; }
    const protocol::Welcome& welcome() const { return welcome_; }

private:
    LocalSession(const protocol::Welcome& welcome, UniqueFd control, UniqueFd doorbell, SharedSegment segment,
            const SessionMemory& memory, SharedSegment board);

    // Registers the slot and writes its record (and payload) to the lane or the submit ring.
    std::shared_ptr<JobSlot> publish_job(std::shared_ptr<JobSlot> slot, JobRecord& record,
                                         std::string_view payload, const CallOptions& options);

    // Declared in the order they are built; destroyed in reverse, the control socket last
    // (closing it tells the supervisor we left; the argument blobs retired before that).
    protocol::Welcome welcome_;
    SessionInfo info_;
    ControlSocket control_;
    UniqueFd doorbell_;
    SharedSegment segment_;
    ArgumentBlobs arguments_;
    Submitter submitter_;
    ReplyWaits waits_;
    JobTable jobs_;
    CompletionQueue completions_;
    ReplyDrainer drainer_;
    std::thread background_;
};

}  // namespace warmpool::detail
