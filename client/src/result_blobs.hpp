// ResultBlobs: the workers' result blobs as one client session reads them. Private to libwarmpool.
//
// A result too large for a reply ring stays in its worker's blob; the reply carries a BlobRef.
// take() maps that blob (its memfd asked of the supervisor over the session's control socket the
// first time, then kept mapped for the blob's reuse, see BlobMappings) and marks it taken; the
// lease it returns marks it free again when the last reader lets go, and the worker reuses it
// only then. Of the shared memory it writes only BlobHeader::state of the blobs it maps.
//
// Only the session's drainer (ReplyDrainer) calls take(): it alone reads the control socket
// after the welcome, and only for the supervisor's answer to a request made here. Not
// thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>

#include "control_socket.hpp"
#include "warmpool/common/blob_mappings.hpp"
#include "warmpool/common/sys_result.hpp"
#include "warmpool/common/unique_fd.hpp"

namespace warmpool::detail {

class ResultBlobs {
public:
    explicit ResultBlobs(ControlSocket& control) : control_(&control) {}

    struct Taken {
        std::shared_ptr<const void> lease;  // keeps the blob mapped and taken
        std::string_view bytes;             // the result, valid while the lease lives
    };
    // The result a blob reply of `worker_pid` carries (`reference`: the reply's payload, a
    // BlobRef), mapped and taken. Dropping the lease at once hands the blob straight back.
    Result<Taken> take(std::int32_t worker_pid, std::span<const std::byte> reference);

private:
    Result<UniqueFd> ask_supervisor(std::int32_t worker_pid, std::uint64_t object);

    ControlSocket* control_;
    BlobMappings mappings_{8};
};

}  // namespace warmpool::detail
