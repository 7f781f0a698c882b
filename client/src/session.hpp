// detail::Session: what a Client and its futures need of a session, whatever carries its jobs.
// Private to libwarmpool.
//
// Two kinds: LocalSession (local_session.hpp), a session with one pool on this machine through
// shared memory, and RedisSession (redis_session.hpp), a session with a scale-out cluster through
// Redis streams. Client::connect picks one by the name it is given; RawFuture and Client call
// only what is declared here. Every implementation is thread-safe and resolves each JobSlot
// exactly once (done set with release order, after its status, flags and result).
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "job_slot.hpp"
#include "warmpool/call_options.hpp"

namespace warmpool::detail {

// What Client reports of its session (pool_name(), worker_slots()...) and what map() sizes its
// batches by.
struct SessionInfo {
    std::string pool_name;         // the pool's name, or the cluster's
    pid_t supervisor_pid = 0;      // 0 for a cluster: no one process serves it
    unsigned worker_slots = 0;     // workers it may run at once (at least 2)
    std::size_t inline_max = 0;    // a payload budget: map() keeps its batches to half of it
};

class Session {
public:
    virtual ~Session() = default;

    // Submits a job. Throws JobError (bad_request, overloaded, shutting_down) if it cannot be.
    virtual std::shared_ptr<JobSlot> submit(std::string_view function, std::uint32_t flags,
                                            std::uint64_t fingerprint, std::string_view payload,
                                            const CallOptions& options) = 0;
    // As submit, for a payload of `bytes` bytes that `write` puts into place itself.
    using PayloadWriter = std::function<void(std::byte* out)>;
    virtual std::shared_ptr<JobSlot> submit_in_place(std::string_view function, std::uint32_t flags,
                                                     std::uint64_t fingerprint, std::size_t bytes,
                                                     const PayloadWriter& write, const CallOptions& options) = 0;
    // A finished slot's payload buffer, for a later reply to reuse (an implementation may drop it).
    virtual void give_back_payload(std::string&& buffer) = 0;
    // Waits for the slot's reply until deadline_ns (monotonic; -1: no limit). True if done.
    virtual bool wait(JobSlot& slot, std::int64_t deadline_ns) = 0;
    // Asks for the job to be dropped (with force: stopped if it runs). Its one reply still comes.
    virtual void cancel(JobSlot& slot, bool force) = 0;

    // The completion queue: watch() queues a slot that is done already at once; unwatch() is
    // true if the slot was watched and not yet done (then its id will never be queued).
    virtual void watch(JobSlot& slot) = 0;
    virtual bool unwatch(JobSlot& slot) = 0;
    // Moves the queued ids into `out`, waiting until there is at least one, wake_completions()
    // was called, or deadline_ns passes. Returns how many.
    virtual std::size_t wait_completions(std::vector<std::uint64_t>& out, std::int64_t deadline_ns) = 0;
    virtual void wake_completions() = 0;

    virtual const SessionInfo& info() const = 0;
};

}  // namespace warmpool::detail
