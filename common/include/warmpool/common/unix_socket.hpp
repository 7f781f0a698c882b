// Unix-domain stream sockets: listening with an explicit owner and mode, connecting, peer
// credentials, and whole-frame send/receive (with one optional passed descriptor).
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>

#include "warmpool/common/protocol.hpp"
#include "warmpool/common/sys_result.hpp"
#include "warmpool/common/unique_fd.hpp"

namespace warmpool {

struct PeerCredentials {
    pid_t pid = 0;
    uid_t uid = 0;
    gid_t gid = 0;
};

// Binds and listens at `path` (replacing nothing: the caller removes stale files first), then
// sets the mode and group. Non-blocking and close-on-exec.
Result<UniqueFd> listen_unix(const std::string& path, unsigned mode, gid_t group);
// Blocking connect; close-on-exec.
Result<UniqueFd> connect_unix(const std::string& path);
// True if something accepts connections at `path` right now.
bool unix_socket_alive(const std::string& path);

Result<PeerCredentials> peer_credentials(int fd);

// Writes all of `bytes`, passing `pass_fd` (if >= 0) with the first byte. Blocking sockets
// only; MSG_NOSIGNAL so a vanished peer is an error, not a SIGPIPE.
Status send_all(int fd, const std::string& bytes, int pass_fd = -1);

template <class T>
Status send_message(int fd, const T& message, int pass_fd = -1) {
    return send_all(fd, protocol::encode_frame(message), pass_fd);
}

// Reads one whole frame from a blocking socket, waiting at most timeout_ms (-1: no limit).
// A descriptor passed with the frame is stored in *received_fd. nullopt: the peer closed.
Result<std::optional<protocol::Frame>> receive_frame(int fd, int timeout_ms,
                                                      UniqueFd* received_fd = nullptr);

}  // namespace warmpool
