#include "warmpool/daemon/supervisor_channel.hpp"

#include <vector>

#include "warmpool/common/unix_socket.hpp"

namespace warmpool {

namespace {

// Only if the supervisor is stopped (a debugger): it answers from its loop at once otherwise.
constexpr int kAnswerTimeoutMs = 10'000;

}  // namespace

Result<UniqueFd> SupervisorChannel::want(const protocol::WorkerWant& request) const {
    if (auto st = send_message(fd_, request); !st) return st.error();
    std::vector<UniqueFd> fds;
    auto frame = receive_frame(fd_, kAnswerTimeoutMs, &fds);
    if (!frame) return frame.error();
    if (!frame.value()) return make_error(SysError::Code::io, "the supervisor closed the channel");
    auto give = protocol::decode<protocol::WorkerGive>(*frame.value());
    if (!give) return give.error();
    if (!give->found) return make_error(SysError::Code::not_found, give->message);
    if (fds.size() != 1) return make_error(SysError::Code::protocol, "the supervisor's answer carried no descriptor");
    return std::move(fds.front());
}

Result<UniqueFd> SupervisorChannel::session(std::uint32_t slot, std::uint64_t generation) const {
    return want(protocol::WorkerWant{protocol::WorkerWantKind::session, slot, generation, 0});
}

Result<UniqueFd> SupervisorChannel::argument_blob(std::uint32_t slot, std::uint64_t generation,
                                                  std::uint64_t object) const {
    return want(protocol::WorkerWant{protocol::WorkerWantKind::argument_blob, slot, generation, object});
}

Status SupervisorChannel::offer_result(std::uint32_t slot, std::uint64_t generation, std::uint64_t object,
                                       int fd) const {
    return send_message(fd_, protocol::ResultOffer{slot, generation, object}, fd);
}

void SupervisorChannel::retire_result(std::uint32_t slot, std::uint64_t generation, std::uint64_t object) const {
    [[maybe_unused]] auto st = send_message(fd_, protocol::ResultRetire{slot, generation, object});
}

Status SupervisorChannel::declare_functions(const protocol::FunctionSettings& settings) const {
    return send_message(fd_, settings);
}

Status SupervisorChannel::list_functions(const protocol::FunctionList& functions) const {
    return send_message(fd_, functions);
}

}  // namespace warmpool
