// JobSlot: one submitted job of a client session, from submission to its terminal reply.
// Private to libwarmpool.
//
// Shared (std::shared_ptr) by the caller's future and, until the reply arrives, the session's
// JobTable. Who writes what: the submitting thread sets id and argument_blob before the job is
// published; the drainer (ReplyDrainer) fills in status, flags, the result and clears
// argument_blob, then sets done with release order; readers look at the rest only once they saw
// done (acquire). cancel_requested and watched are read and written under the session's mutex
// (ReplyWaits::lock()). The slot is process memory: nothing in it is shared with another process.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace warmpool::detail {

struct JobSlot {
    std::uint64_t id = 0;
    std::atomic<bool> done{false};
    std::uint16_t status = 0;  // 0 ok, else ErrorKind; valid once done
    std::uint32_t flags = 0;   // of the reply payload
    std::string payload;       // result bytes or error message
    // A result read in place: the lease keeps its blob mapped and taken (ResultBlobs::take).
    std::shared_ptr<const void> result_lease;
    std::string_view result_in_blob;
    std::uint64_t argument_blob = 0;  // our argument blob's object, freed when the reply arrives
    bool cancel_requested = false;
    bool watched = false;  // its id goes to the session's completion queue when done

    // The result bytes (status ok) or the error message, valid while the slot lives.
    std::string_view result() const { return result_lease ? result_in_blob : std::string_view(payload); }
};

}  // namespace warmpool::detail
