// Unix-domain stream sockets: listening with an explicit owner and mode, connecting, peer
// credentials, and whole-frame send/receive, with descriptors passed alongside (SCM_RIGHTS).
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <vector>

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
// The peer's supplementary groups as the kernel recorded them at connect (SO_PEERGROUPS): no
// look-up in the user database, so it can neither block nor be lied to.
Result<std::vector<gid_t>> peer_groups(int fd);

// At most this many descriptors travel with one message.
inline constexpr std::size_t kMaxPassedFds = 4;

// Writes all of `bytes`, passing `pass_fds` with the first byte. Blocking sockets only (a
// non-blocking one is polled for room); MSG_NOSIGNAL so a vanished peer is an error, not a
// SIGPIPE.
Status send_all(int fd, const std::string& bytes, std::span<const int> pass_fds);
Status send_all(int fd, const std::string& bytes, int pass_fd = -1);

template <class T>
Status send_message(int fd, const T& message, int pass_fd = -1) {
    return send_all(fd, protocol::encode_frame(message), pass_fd);
}
template <class T>
Status send_message(int fd, const T& message, std::span<const int> pass_fds) {
    return send_all(fd, protocol::encode_frame(message), pass_fds);
}

// Sends `bytes` (and `pass_fds`) in one non-blocking write, or fails: for a peer that asked for
// the message and must have room for it. A message only partly sent is an error too (the
// stream can then no longer be trusted, and the caller closes it).
Status send_now(int fd, const std::string& bytes, std::span<const int> pass_fds = {});

// One non-blocking read of up to `n` bytes; descriptors that came with them are appended to
// `fds` (in the order they were sent). 0: the peer closed. EAGAIN is an error with that errno.
// More descriptors in one message than kMaxPassedFds is a protocol error (the kernel closed
// the rest).
Result<std::size_t> receive_available(int fd, char* out, std::size_t n, std::vector<UniqueFd>& fds);

// Reads one whole frame from a blocking socket, waiting at most timeout_ms (-1: no limit).
// Descriptors passed with the frame are appended to *received_fds (closed if it is null).
// nullopt: the peer closed.
Result<std::optional<protocol::Frame>> receive_frame(int fd, int timeout_ms,
                                                      std::vector<UniqueFd>* received_fds);
// As above, keeping only the first descriptor passed.
Result<std::optional<protocol::Frame>> receive_frame(int fd, int timeout_ms, UniqueFd* received_fd = nullptr);

}  // namespace warmpool
