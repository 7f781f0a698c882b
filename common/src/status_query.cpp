#include "warmpool/common/status_query.hpp"

#include <poll.h>
#include <unistd.h>

#include "warmpool/common/clock.hpp"
#include "warmpool/common/unix_socket.hpp"

namespace warmpool {

Result<std::string> query_status(const std::string& status_socket, std::string_view request, int timeout_ms) {
    auto fd = connect_unix(status_socket);
    if (!fd) return fd.error();
    if (auto st = send_all(fd->get(), std::string(request) + "\n"); !st) return st.error();
    std::string answer;
    const std::int64_t deadline = monotonic_ns() + std::int64_t{timeout_ms} * 1'000'000;
    char buf[65536];
    for (;;) {
        const std::int64_t left = deadline - monotonic_ns();
        if (left <= 0) return make_error(SysError::Code::io, "timed out reading " + status_socket);
        pollfd p{fd->get(), POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(left / 1'000'000) + 1) < 0 && errno != EINTR) {
            return errno_error("poll " + status_socket);
        }
        ssize_t n = ::read(fd->get(), buf, sizeof buf);
        if (n == 0) return answer;
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN) continue;
            return errno_error("read " + status_socket);
        }
        answer.append(buf, static_cast<std::size_t>(n));
    }
}

}  // namespace warmpool
