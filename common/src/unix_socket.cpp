#include "warmpool/common/unix_socket.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

#include "warmpool/common/clock.hpp"

namespace warmpool {

namespace {

Result<sockaddr_un> make_address(const std::string& path) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof addr.sun_path) {
        return make_error(SysError::Code::invalid, "socket path too long: " + path);
    }
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    return addr;
}

}  // namespace

Result<UniqueFd> listen_unix(const std::string& path, unsigned mode, gid_t group) {
    auto addr = make_address(path);
    if (!addr) return addr.error();
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd) return errno_error("socket");
    if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr.value()), sizeof(sockaddr_un)) != 0) {
        return errno_error("bind " + path);
    }
    // The socket file's mode and group are the access control: set them before listening so no
    // peer can connect through a more permissive window.
    if (::chmod(path.c_str(), mode) != 0) return errno_error("chmod " + path);
    if (group != static_cast<gid_t>(-1) && group != getegid() &&
        ::chown(path.c_str(), static_cast<uid_t>(-1), group) != 0) {
        return errno_error("chown " + path);
    }
    if (::listen(fd.get(), 128) != 0) return errno_error("listen " + path);
    return fd;
}

Result<UniqueFd> connect_unix(const std::string& path) {
    auto addr = make_address(path);
    if (!addr) return addr.error();
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd) return errno_error("socket");
    if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr.value()), sizeof(sockaddr_un)) != 0) {
        return errno_error("connect " + path);
    }
    return fd;
}

bool unix_socket_alive(const std::string& path) { return connect_unix(path).ok(); }

Result<PeerCredentials> peer_credentials(int fd) {
    ucred cred{};
    socklen_t len = sizeof cred;
    if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
        return errno_error("SO_PEERCRED");
    }
    return PeerCredentials{cred.pid, cred.uid, cred.gid};
}

Result<std::vector<gid_t>> peer_groups(int fd) {
    std::vector<gid_t> groups(32);
    for (;;) {
        auto len = static_cast<socklen_t>(groups.size() * sizeof(gid_t));
        if (::getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups.data(), &len) == 0) {
            groups.resize(len / sizeof(gid_t));
            return groups;
        }
        // ERANGE tells how much room the list needs (the kernel caps it at NGROUPS_MAX).
        if (errno != ERANGE || len <= groups.size() * sizeof(gid_t)) return errno_error("SO_PEERGROUPS");
        groups.resize(len / sizeof(gid_t));
    }
}

namespace {

// Moves the descriptors an SCM_RIGHTS message carried into `out` (closing them if `out` is
// null). False if the kernel had to drop some for want of room (MSG_CTRUNC).
bool take_passed_fds(msghdr& msg, std::vector<UniqueFd>* out) {
    for (cmsghdr* cm = CMSG_FIRSTHDR(&msg); cm != nullptr; cm = CMSG_NXTHDR(&msg, cm)) {
        if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS) continue;
        const std::size_t count = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (std::size_t i = 0; i < count; ++i) {
            int passed = -1;
            std::memcpy(&passed, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
            if (out != nullptr) {
                out->emplace_back(passed);
            } else {
                ::close(passed);
            }
        }
    }
    return (msg.msg_flags & MSG_CTRUNC) == 0;
}

using PassedControl = char[CMSG_SPACE(sizeof(int) * kMaxPassedFds)];

}  // namespace

Status send_all(int fd, const std::string& bytes, std::span<const int> pass_fds) {
    if (pass_fds.size() > kMaxPassedFds) return make_error(SysError::Code::invalid, "too many descriptors to pass");
    std::size_t sent = 0;
    while (sent < bytes.size()) {
        iovec iov{const_cast<char*>(bytes.data() + sent), bytes.size() - sent};
        msghdr msg{};
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        alignas(cmsghdr) PassedControl control;
        if (!pass_fds.empty() && sent == 0) {
            std::memset(control, 0, sizeof control);
            msg.msg_control = control;
            msg.msg_controllen = CMSG_SPACE(sizeof(int) * pass_fds.size());
            cmsghdr* cm = CMSG_FIRSTHDR(&msg);
            cm->cmsg_level = SOL_SOCKET;
            cm->cmsg_type = SCM_RIGHTS;
            cm->cmsg_len = CMSG_LEN(sizeof(int) * pass_fds.size());
            std::memcpy(CMSG_DATA(cm), pass_fds.data(), sizeof(int) * pass_fds.size());
        }
        ssize_t n = ::sendmsg(fd, &msg, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN) {
                pollfd p{fd, POLLOUT, 0};
                ::poll(&p, 1, 1000);
                continue;
            }
            return errno_error("send");
        }
        sent += static_cast<std::size_t>(n);
    }
    return {};
}

Status send_all(int fd, const std::string& bytes, int pass_fd) {
    if (pass_fd < 0) return send_all(fd, bytes, std::span<const int>{});
    return send_all(fd, bytes, std::span<const int>(&pass_fd, 1));
}

Status send_now(int fd, const std::string& bytes, std::span<const int> pass_fds) {
    if (pass_fds.size() > kMaxPassedFds) return make_error(SysError::Code::invalid, "too many descriptors to pass");
    iovec iov{const_cast<char*>(bytes.data()), bytes.size()};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    alignas(cmsghdr) PassedControl control;
    if (!pass_fds.empty()) {
        std::memset(control, 0, sizeof control);
        msg.msg_control = control;
        msg.msg_controllen = CMSG_SPACE(sizeof(int) * pass_fds.size());
        cmsghdr* cm = CMSG_FIRSTHDR(&msg);
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(sizeof(int) * pass_fds.size());
        std::memcpy(CMSG_DATA(cm), pass_fds.data(), sizeof(int) * pass_fds.size());
    }
    ssize_t n;
    do {
        n = ::sendmsg(fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
    } while (n < 0 && errno == EINTR);
    if (n < 0) return errno_error("send");
    if (static_cast<std::size_t>(n) != bytes.size()) {
        return make_error(SysError::Code::io, "the peer has no room for a message it asked for");
    }
    return {};
}

Result<std::size_t> receive_available(int fd, char* out, std::size_t n, std::vector<UniqueFd>& fds) {
    for (;;) {
        iovec iov{out, n};
        msghdr msg{};
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        alignas(cmsghdr) PassedControl control;
        msg.msg_control = control;
        msg.msg_controllen = sizeof control;
        const ssize_t r = ::recvmsg(fd, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
        if (r < 0) {
            if (errno == EINTR) continue;
            return errno_error("recv");
        }
        if (!take_passed_fds(msg, &fds)) {
            return make_error(SysError::Code::protocol, "peer passed more descriptors than a message may carry");
        }
        return static_cast<std::size_t>(r);
    }
}

namespace {

// Reads exactly n bytes before `deadline` (monotonic ns, <0 none). false + errno on failure;
// true with *closed set if the peer closed first.
Status read_exact(int fd, char* out, std::size_t n, std::int64_t deadline, bool* closed,
                  std::vector<UniqueFd>* received_fds) {
    std::size_t got = 0;
    *closed = false;
    while (got < n) {
        if (deadline >= 0) {
            std::int64_t left = deadline - monotonic_ns();
            if (left <= 0) return make_error(SysError::Code::io, "timed out waiting for the daemon");
            pollfd p{fd, POLLIN, 0};
            int rc = ::poll(&p, 1, static_cast<int>(left / 1'000'000) + 1);
            if (rc < 0 && errno != EINTR) return errno_error("poll");
            if (rc <= 0) continue;
        }
        iovec iov{out + got, n - got};
        msghdr msg{};
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        alignas(cmsghdr) PassedControl control;
        msg.msg_control = control;
        msg.msg_controllen = sizeof control;
        ssize_t r = ::recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);
        if (r < 0) {
            if (errno == EINTR) continue;
            if (errno == ECONNRESET) {
                *closed = true;
                return {};
            }
            return errno_error("recv");
        }
        if (r == 0) {
            *closed = true;
            return {};
        }
        if (!take_passed_fds(msg, received_fds)) {
            return make_error(SysError::Code::protocol, "peer passed more descriptors than a message may carry");
        }
        got += static_cast<std::size_t>(r);
    }
    return {};
}

}  // namespace

Result<std::optional<protocol::Frame>> receive_frame(int fd, int timeout_ms, std::vector<UniqueFd>* received_fds) {
    const std::int64_t deadline =
        timeout_ms < 0 ? -1 : monotonic_ns() + std::int64_t{timeout_ms} * 1'000'000;
    protocol::FrameHeader header;
    bool closed = false;
    if (auto st = read_exact(fd, reinterpret_cast<char*>(&header), sizeof header, deadline, &closed,
                             received_fds);
        !st) {
        return st.error();
    }
    if (closed) return std::optional<protocol::Frame>{};
    protocol::FrameReader reader;
    reader.feed(reinterpret_cast<const char*>(&header), sizeof header);
    if (header.magic == protocol::kFrameMagic && header.length <= protocol::kMaxFrameBody) {
        std::string body(header.length, '\0');
        if (auto st = read_exact(fd, body.data(), body.size(), deadline, &closed, received_fds); !st) {
            return st.error();
        }
        if (closed) return make_error(SysError::Code::protocol, "connection closed mid-frame");
        reader.feed(body.data(), body.size());
    }
    auto frame = reader.next();
    if (!frame) return frame.error();
    if (!frame.value()) return make_error(SysError::Code::protocol, "incomplete frame");
    return std::move(frame.value());
}


Result<std::optional<protocol::Frame>> receive_frame(int fd, int timeout_ms, UniqueFd* received_fd) {
    std::vector<UniqueFd> fds;
    auto frame = receive_frame(fd, timeout_ms, received_fd != nullptr ? &fds : nullptr);
    if (received_fd != nullptr && !fds.empty()) *received_fd = std::move(fds.front());
    return frame;
}

}  // namespace warmpool
