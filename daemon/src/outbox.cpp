#include "warmpool/daemon/outbox.hpp"

#include <sys/socket.h>

#include <cerrno>

namespace warmpool {

void Outbox::put(std::string bytes, std::int64_t deadline_ns) {
    if (empty()) {
        bytes_ = std::move(bytes);
        sent_ = 0;
    } else {
        bytes_ += bytes;
    }
    deadline_ns_ = deadline_ns;
}

Outbox::Flush Outbox::flush(int fd) {
    while (!empty()) {
        const ssize_t n = ::send(fd, bytes_.data() + sent_, bytes_.size() - sent_, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n > 0) {
            sent_ += static_cast<std::size_t>(n);
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return Flush::pending;
        return Flush::failed;
    }
    bytes_.clear();
    bytes_.shrink_to_fit();
    sent_ = 0;
    return Flush::done;
}

}  // namespace warmpool
