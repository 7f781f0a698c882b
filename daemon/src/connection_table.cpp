#include "warmpool/daemon/connection_table.hpp"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>

#include "epoll_tags.hpp"

namespace warmpool {

namespace {

using namespace epoll_tag;

constexpr std::int64_t kHelloTimeoutNs = 5'000'000'000;
// A one-answer connection whose peer has not taken the whole answer by then is dropped.
constexpr std::int64_t kAnswerDeadlineNs = 10'000'000'000;
// Status connections open at once; more are closed at accept (each may hold a whole status).
constexpr std::size_t kMaxStatusConnections = 64;
constexpr std::size_t kMaxStatusRequestBytes = 256;

}  // namespace

Status ConnectionTable::listen(int epoll_fd, const std::string& control_path, const std::string& status_path,
                               unsigned mode, gid_t group) {
    epoll_ = epoll_fd;
    spare_.reset(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    if (!spare_) return errno_error("open /dev/null");
    auto control = listen_unix(control_path, mode, group);
    if (!control) return control.error();
    control_listen_ = std::move(control.value());
    auto status = listen_unix(status_path, mode, group);
    if (!status) return status.error();
    status_listen_ = std::move(status.value());
    for (auto [fd, tag] : {std::pair{control_listen_.get(), kControlListen}, std::pair{status_listen_.get(), kStatusListen}}) {
        epoll_event ev{EPOLLIN, {.u64 = tagged(tag)}};
        if (::epoll_ctl(epoll_, EPOLL_CTL_ADD, fd, &ev) != 0) return errno_error("epoll_ctl");
    }
    return {};
}

void ConnectionTable::stop_listening() {
    for (UniqueFd* listen : {&control_listen_, &status_listen_}) {
        if (*listen) ::epoll_ctl(epoll_, EPOLL_CTL_DEL, listen->get(), nullptr);
        listen->reset();
    }
}

void ConnectionTable::accept(bool status, std::int64_t now) {
    const int listen_fd = listener(status);
    if (listen_fd < 0) return;
    for (;;) {
        UniqueFd fd(::accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
        if (!fd) {
            if (errno == EMFILE || errno == ENFILE) accept_out_of_descriptors(listen_fd, now);
            return;  // EAGAIN, or a transient error: nothing more to take now
        }
        auto peer = peer_credentials(fd.get());
        if (!peer) continue;
        if (status && static_cast<std::size_t>(std::count_if(connections_.begin(), connections_.end(), [](const auto& c) {
                          return c.second.status;
                      })) >= kMaxStatusConnections) {
            continue;  // closed: it may ask again once others have been answered
        }
        Connection conn;
        conn.peer = peer.value();
        if (auto groups = peer_groups(fd.get())) conn.groups = std::move(groups.value());
        conn.status = status;
        conn.accepted_ns = now;
        const int raw = fd.get();
        epoll_event ev{EPOLLIN | EPOLLRDHUP, {.u64 = tagged(kConnection, raw)}};
        if (::epoll_ctl(epoll_, EPOLL_CTL_ADD, raw, &ev) != 0) continue;
        conn.fd = std::move(fd);
        connections_.emplace(raw, std::move(conn));
    }
}

void ConnectionTable::accept_out_of_descriptors(int listen_fd, std::int64_t now) {
    if (spare_) {
        spare_.reset();
        UniqueFd fd(::accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
        if (fd) {
            [[maybe_unused]] auto st = send_now(
                fd.get(), protocol::encode_frame(protocol::Refused{"overloaded", "the pool is out of file descriptors"}));
        }
        fd.reset();
        spare_.reset(::open("/dev/null", O_RDONLY | O_CLOEXEC));
        if (now - last_fd_warning_ns_ > 1'000'000'000) {  // a line a second at most, not one per peer
            spdlog::warn("out of file descriptors: refusing new connections");
            last_fd_warning_ns_ = now;
        }
        if (spare_) return;  // the loop comes back while peers wait
    }
    // No spare to refuse with: stop listening until the next tick instead of spinning.
    watch_listeners(false);
}

void ConnectionTable::resume_listening() {
    if (listeners_paused_) watch_listeners(true);
}

void ConnectionTable::watch_listeners(bool watch) {
    listeners_paused_ = !watch;
    for (auto [listen, tag] : {std::pair{&control_listen_, kControlListen}, std::pair{&status_listen_, kStatusListen}}) {
        if (!*listen) continue;
        epoll_event ev{watch ? static_cast<std::uint32_t>(EPOLLIN) : 0u, {.u64 = tagged(tag)}};
        ::epoll_ctl(epoll_, EPOLL_CTL_MOD, listen->get(), &ev);
    }
}

ConnectionTable::Connection* ConnectionTable::find(int fd) {
    auto it = connections_.find(fd);
    return it == connections_.end() ? nullptr : &it->second;
}

ConnectionTable::Request ConnectionTable::next(int fd) {
    using Kind = Request::Kind;
    Request request;
    Connection* found = find(fd);
    if (found == nullptr || found->answering) return request;
    Connection& conn = *found;
    auto close = [&](std::string why) {
        request.kind = Kind::close;
        request.close_reason = std::move(why);
        return std::move(request);
    };
    char buf[4096];
    for (;;) {
        if (!conn.status) {
            auto frame = conn.reader.next();
            if (!frame) {
                spdlog::warn("client pid {} sent a malformed frame ({}); closing its connection", conn.peer.pid,
                             frame.error().message());
                return close("protocol error");
            }
            if (frame.value()) {
                request.kind = Kind::frame;
                request.frame = std::move(*frame.value());
                return request;
            }
            // A descriptor belongs to the frame it came with: left over with no frame pending, or
            // more than one frame could carry, it came with none.
            if ((conn.reader.buffered() == 0 && !conn.passed_fds.empty()) || conn.passed_fds.size() > kMaxPassedFds) {
                return close("descriptors passed without a message that takes them");
            }
        }
        auto received = receive_available(fd, buf, sizeof buf, conn.passed_fds);
        if (conn.status) conn.passed_fds.clear();  // nothing is ever passed to a status socket
        if (!received) {
            const int err = received.error().errno_value;
            if (err == EAGAIN || err == EINTR) return request;
            return close("read error");
        }
        const std::size_t n = received.value();
        if (n == 0) return close("client disconnected");
        if (!conn.status) {
            conn.reader.feed(buf, n);
            continue;
        }
        conn.status_request.append(buf, n);
        if (const auto end = conn.status_request.find('\n'); end != std::string::npos) {
            std::string line = conn.status_request.substr(0, end);
            while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
            request.kind = Kind::status;
            request.status = std::move(line);
            return request;
        }
        if (conn.status_request.size() > kMaxStatusRequestBytes) return close("oversized status request");
    }
}

void ConnectionTable::answer(Connection& conn, std::string bytes, std::string close_reason, std::int64_t now) {
    conn.answering = true;
    conn.close_reason = std::move(close_reason);
    conn.outbox.put(std::move(bytes), now + kAnswerDeadlineNs);
    const int fd = conn.fd.get();
    // From now on the connection only waits for room to write; nothing more is read from it.
    epoll_event ev{EPOLLOUT, {.u64 = tagged(kConnection, static_cast<std::uint32_t>(fd))}};
    ::epoll_ctl(epoll_, EPOLL_CTL_MOD, fd, &ev);
}

bool ConnectionTable::continue_answer(int fd, std::string& close_reason) {
    Connection* conn = find(fd);
    if (conn == nullptr) return false;
    switch (conn->outbox.flush(fd)) {
        case Outbox::Flush::done: close_reason = conn->close_reason; return true;
        case Outbox::Flush::failed: close_reason = "gone before taking its answer"; return true;
        case Outbox::Flush::pending: return false;
    }
    return false;
}

int ConnectionTable::close(int fd) {
    auto it = connections_.find(fd);
    if (it == connections_.end()) return -1;
    ::epoll_ctl(epoll_, EPOLL_CTL_DEL, fd, nullptr);
    const int session = it->second.session;
    connections_.erase(it);
    return session;
}

std::vector<std::pair<int, std::string>> ConnectionTable::expired(std::int64_t now) const {
    std::vector<std::pair<int, std::string>> due;
    for (const auto& [fd, conn] : connections_) {
        if (conn.answering) {
            if (conn.outbox.overdue(now)) due.emplace_back(fd, "did not take its answer within 10 s");
        } else if (conn.session < 0 && now - conn.accepted_ns > kHelloTimeoutNs) {
            due.emplace_back(fd, "no request within 5 s");
        }
    }
    return due;
}

}  // namespace warmpool
