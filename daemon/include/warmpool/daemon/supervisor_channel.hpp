// SupervisorChannel: a worker's end of its socketpair with the supervisor, through which it gets
// the descriptors of shared memory it has no other way to reach (nothing of it has a name;
// shared_segment.hpp) and hands over those of the result blobs it makes.
//
// Owned by the worker process (the descriptor was set up at fork); the worker is
// single-threaded. Requests block until the supervisor answers: the supervisor answers from its
// loop at once and never waits on a worker, and if it is gone the worker dies with it
// (PR_SET_PDEATHSIG), so the wait is bounded only as a last resort.
#pragma once

#include <cstdint>

#include "warmpool/common/protocol.hpp"
#include "warmpool/common/sys_result.hpp"
#include "warmpool/common/unique_fd.hpp"

namespace warmpool {

class SupervisorChannel {
public:
    explicit SupervisorChannel(int fd) : fd_(fd) {}

    // The memfd of session (slot, generation)'s segment; not_found once the session is gone.
    Result<UniqueFd> session(std::uint32_t slot, std::uint64_t generation) const;
    // The memfd of that session's argument blob `object`; not_found if its client offered none.
    Result<UniqueFd> argument_blob(std::uint32_t slot, std::uint64_t generation, std::uint64_t object) const;
    // Hands over a new result blob before any reply names it.
    Status offer_result(std::uint32_t slot, std::uint64_t generation, std::uint64_t object, int fd) const;
    // A result blob no reply will name again.
    void retire_result(std::uint32_t slot, std::uint64_t generation, std::uint64_t object) const;
    // Declares the settings this worker's functions declare, and lists the functions it serves
    // (before it reports ready).
    Status declare_functions(const protocol::FunctionSettings& settings) const;
    Status list_functions(const protocol::FunctionList& functions) const;

private:
    Result<UniqueFd> want(const protocol::WorkerWant& request) const;

    int fd_;
};

}  // namespace warmpool
