#include "argument_blobs.hpp"

#include <unistd.h>

#include <string>

#include "warmpool/common/protocol.hpp"
#include "warmpool/common/shm_layout.hpp"

namespace warmpool::detail {

namespace {

// Argument blobs kept for reuse beyond those of jobs in flight.
constexpr BlobPool::Limits kArgumentBlobLimits{4, 512ull << 20};

}  // namespace

ArgumentBlobs::ArgumentBlobs(const std::string& pool_name, ControlSocket& control)
    : pool_(segment_label(pool_name, "arguments." + std::to_string(::getpid())),
            BlobPool::Broker{[&control](std::uint64_t object, int blob_fd) -> Status {
                                 return control.send(protocol::BlobOffer{object}, blob_fd);
                             },
                             [&control](std::uint64_t object) {
                                 [[maybe_unused]] auto st = control.send(protocol::BlobRetire{object});
                             }},
            kArgumentBlobLimits) {}

Result<BlobPool::Blob> ArgumentBlobs::acquire(std::size_t bytes) {
    std::lock_guard lock(mu_);
    return pool_.acquire(bytes);
}

void ArgumentBlobs::release(std::uint64_t object) {
    std::lock_guard lock(mu_);
    pool_.release(object);
}

}  // namespace warmpool::detail
