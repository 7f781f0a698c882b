#include "result_blobs.hpp"

#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "warmpool/common/protocol.hpp"
#include "warmpool/common/shm_layout.hpp"
#include "warmpool/common/unix_socket.hpp"

namespace warmpool::detail {

namespace {

// How long to wait for the supervisor to answer for a result blob: it answers at once from its
// loop, so this only bounds a supervisor that stopped.
constexpr int kBlobAnswerTimeoutMs = 5'000;

// Holds a worker's result blob for as long as anything reads the result: the worker reuses it
// once this is gone.
struct ResultLease {
    ResultLease(std::shared_ptr<SharedSegment> s, BlobHeader* h) : segment(std::move(s)), header(h) {}
    ResultLease(const ResultLease&) = delete;
    ResultLease& operator=(const ResultLease&) = delete;
    std::shared_ptr<SharedSegment> segment;
    BlobHeader* header;
    ~ResultLease() {
        // Release: our reads of the result happen before the worker's next writes.
        header->state.store(static_cast<std::uint32_t>(BlobState::free), std::memory_order_release);
    }
};

}  // namespace

Result<ResultBlobs::Taken> ResultBlobs::take(std::int32_t worker_pid, std::span<const std::byte> reference) {
    BlobRef ref{};
    if (reference.size() != sizeof ref || worker_pid <= 0) {
        return make_error(SysError::Code::protocol, "malformed blob reference");
    }
    std::memcpy(&ref, reference.data(), sizeof ref);
    auto mapped = mappings_.map("r" + std::to_string(worker_pid) + "." + std::to_string(ref.object), ref,
                                [&] { return ask_supervisor(worker_pid, ref.object); });
    if (!mapped) return mapped.error();
    // Taken: the worker leaves it alone until the lease is gone.
    mapped->header->state.store(static_cast<std::uint32_t>(BlobState::taken), std::memory_order_relaxed);
    return Taken{std::make_shared<ResultLease>(std::move(mapped->segment), mapped->header), mapped->bytes};
}

Result<UniqueFd> ResultBlobs::ask_supervisor(std::int32_t worker_pid, std::uint64_t object) {
    if (auto st = control_->send(protocol::BlobWant{worker_pid, object}); !st) return st.error();
    std::vector<UniqueFd> fds;
    auto frame = receive_frame(control_->fd(), kBlobAnswerTimeoutMs, &fds);
    if (!frame) return frame.error();
    if (!frame.value()) return make_error(SysError::Code::io, "the pool closed the session");
    auto give = protocol::decode<protocol::BlobGive>(*frame.value());
    if (!give) return give.error();
    if (give->worker_pid != worker_pid || give->object != object) {
        return make_error(SysError::Code::protocol, "the pool answered for another blob");
    }
    if (!give->found || fds.size() != 1) {
        return make_error(SysError::Code::not_found, "the pool has no such result blob: " + give->message);
    }
    return std::move(fds.front());
}

}  // namespace warmpool::detail
