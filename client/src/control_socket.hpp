// ControlSocket: a client session's connection to its supervisor, after the welcome. Private to
// libwarmpool.
//
// Owns the socket; closing it (the destructor) tells the supervisor the client left. Any thread
// may send: send() holds the writer mutex for the whole frame, so frames never interleave. Only
// the drainer reads, and only the supervisor's answer to a request of its own (ResultBlobs);
// hung_up() only polls. No shared memory.
#pragma once

#include <poll.h>

#include <cerrno>
#include <mutex>
#include <utility>

#include "warmpool/common/unique_fd.hpp"
#include "warmpool/common/unix_socket.hpp"

namespace warmpool::detail {

class ControlSocket {
public:
    explicit ControlSocket(UniqueFd fd) : fd_(std::move(fd)) {}

    // Sends one message (and `pass_fd` with it, if any).
    template <class Message>
    Status send(const Message& message, int pass_fd = -1) {
        std::lock_guard lock(send_mu_);
        return send_message(fd_.get(), message, pass_fd);
    }
    // For reading an answer (the drainer only).
    int fd() const { return fd_.get(); }

    // True if the supervisor has hung up (or the connection broke). Readable alone is not that:
    // it is the answer to a request of the drainer's.
    bool hung_up() const {
        pollfd p{fd_.get(), POLLRDHUP, 0};
        const int rc = ::poll(&p, 1, 0);
        if (rc == 0 || (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) == 0) return false;
        if (rc < 0 && errno == EINTR) return false;
        return true;
    }

private:
    UniqueFd fd_;
    std::mutex send_mu_;  // one writer at a time
};

}  // namespace warmpool::detail
