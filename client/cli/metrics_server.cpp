#include "metrics_server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <vector>

#include "metrics_http.hpp"
#include "warmpool/common/clock.hpp"
#include "warmpool/common/status_query.hpp"
#include "warmpool/common/unique_fd.hpp"

namespace warmpool {

namespace {

constexpr std::size_t kMaxConnections = 16;
// From accept to the last byte of the answer: a client that takes longer is dropped.
constexpr std::int64_t kConnectionDeadlineNs = 10'000'000'000;
constexpr int kStatusTimeoutMs = 5000;
// After accept() ran out of descriptors with no connection to give up: a pause before the next.
constexpr std::int64_t kAcceptPauseNs = 100'000'000;
constexpr int kExitUsage = 64;
constexpr int kExitOsError = 71;

struct Connection {
    UniqueFd fd;
    std::int64_t deadline_ns = 0;
    std::string received;
    std::string reply;  // empty until the request is answered
    std::size_t sent = 0;
    bool done = false;  // to be closed
};

Result<UniqueFd> listen_tcp(const metrics_http::ListenAddress& address) {
    sockaddr_storage storage{};
    socklen_t length = 0;
    if (address.ipv6) {
        auto* in6 = reinterpret_cast<sockaddr_in6*>(&storage);
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons(address.port);
        ::inet_pton(AF_INET6, address.host.c_str(), &in6->sin6_addr);
        length = sizeof *in6;
    } else {
        auto* in4 = reinterpret_cast<sockaddr_in*>(&storage);
        in4->sin_family = AF_INET;
        in4->sin_port = htons(address.port);
        ::inet_pton(AF_INET, address.host.c_str(), &in4->sin_addr);
        length = sizeof *in4;
    }
    UniqueFd fd(::socket(storage.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd) return errno_error("socket");
    const int on = 1;
    if (::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) != 0) return errno_error("SO_REUSEADDR");
    // "[::]:PORT" means IPv6 only: the server listens only where it is told.
    if (address.ipv6 && ::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on) != 0) {
        return errno_error("IPV6_V6ONLY");
    }
    if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&storage), length) != 0) return errno_error("bind");
    if (::listen(fd.get(), 64) != 0) return errno_error("listen");
    return fd;
}

class MetricsServer {
public:
    MetricsServer(const MetricsServerOptions& options, UniqueFd listener, UniqueFd signals)
        : options_(options), listener_(std::move(listener)), signals_(std::move(signals)) {}

    int run() {
        for (;;) {
            const std::int64_t now = monotonic_ns();
            std::erase_if(connections_, [&](const Connection& c) { return c.done || c.deadline_ns <= now; });
            const bool accepting = now >= accept_paused_until_ns_;
            std::vector<pollfd> fds = {{signals_.get(), POLLIN, 0}, {accepting ? listener_.get() : -1, POLLIN, 0}};
            std::int64_t wake_ns = accepting ? INT64_MAX : accept_paused_until_ns_;
            for (const Connection& c : connections_) {
                const bool sending = !c.reply.empty() && c.sent < c.reply.size();
                fds.push_back({c.fd.get(), static_cast<short>(sending ? POLLOUT : POLLIN), 0});
                wake_ns = std::min(wake_ns, c.deadline_ns);
            }
            const int timeout_ms =
                wake_ns == INT64_MAX ? -1 : static_cast<int>(std::max<std::int64_t>(0, wake_ns - now) / 1'000'000 + 1);
            if (::poll(fds.data(), fds.size(), timeout_ms) < 0) {
                if (errno == EINTR) continue;
                std::perror("warmpool metrics: poll");
                return kExitOsError;
            }
            if (fds[0].revents != 0) return 0;  // SIGTERM or SIGINT
            for (std::size_t i = 0; i < connections_.size(); ++i) {
                Connection& c = connections_[i];
                if (fds[i + 2].revents == 0) continue;
                if (c.reply.empty()) {
                    c.done = !receive(c);
                } else {
                    c.done = !(c.sent < c.reply.size() ? send_reply(c) : drain(c));
                }
            }
            if (fds[1].revents != 0) accept_connections(monotonic_ns());
        }
    }

private:
    void accept_connections(std::int64_t now) {
        for (;;) {
            UniqueFd fd(::accept4(listener_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
            if (!fd) {
                if (errno == EINTR || errno == ECONNABORTED) continue;
                // Out of descriptors: the oldest connection gives way, or with none, a pause.
                if (errno == EMFILE || errno == ENFILE) {
                    if (drop_oldest()) continue;
                    accept_paused_until_ns_ = now + kAcceptPauseNs;
                }
                return;  // EAGAIN: no one else is waiting
            }
            std::erase_if(connections_, [](const Connection& c) { return c.done; });
            if (connections_.size() >= kMaxConnections) drop_oldest();
            connections_.push_back(Connection{std::move(fd), now + kConnectionDeadlineNs, {}, {}, 0, false});
        }
    }

    // Closes the connection accepted first (the nearest deadline); false if there is none.
    bool drop_oldest() {
        auto oldest = std::min_element(connections_.begin(), connections_.end(), [](const auto& a, const auto& b) {
            return a.deadline_ns < b.deadline_ns;
        });
        if (oldest == connections_.end()) return false;
        connections_.erase(oldest);
        return true;
    }

    // Reads what the client sent and answers once its request head is whole. False: close it.
    bool receive(Connection& c) {
        char buf[4096];
        for (;;) {
            const std::size_t room = metrics_http::kMaxRequestHeadBytes + 1 - c.received.size();
            const ssize_t n = ::recv(c.fd.get(), buf, std::min(sizeof buf, room), 0);
            if (n == 0) return false;  // closed before a whole request
            if (n < 0) {
                if (errno == EINTR) continue;
                return errno == EAGAIN || errno == EWOULDBLOCK;
            }
            c.received.append(buf, static_cast<std::size_t>(n));
            const metrics_http::ParsedHead head = metrics_http::parse_request_head(c.received);
            if (head.status == metrics_http::ParsedHead::Status::incomplete) continue;
            const metrics_http::Response response =
                metrics_http::answer(head, [this](metrics_http::Format format) { return scrape(format); });
            c.reply = metrics_http::serialize(response);
            return send_reply(c);
        }
    }

    // Sends what is left of the answer, then shuts the sending side. False on an error.
    bool send_reply(Connection& c) {
        while (c.sent < c.reply.size()) {
            const ssize_t n = ::send(c.fd.get(), c.reply.data() + c.sent, c.reply.size() - c.sent, MSG_NOSIGNAL);
            if (n < 0) {
                if (errno == EINTR) continue;
                return errno == EAGAIN || errno == EWOULDBLOCK;
            }
            c.sent += static_cast<std::size_t>(n);
        }
        return ::shutdown(c.fd.get(), SHUT_WR) == 0;
    }

    // Once answered, what the client still sends (the rest of a request refused as too large, a
    // body) is read and dropped until it closes: closing with bytes unread would reset the
    // connection, and a reset can discard the answer before the client reads it. The deadline
    // bounds the wait. False once the client has closed.
    static bool drain(Connection& c) {
        char buf[4096];
        for (int reads = 0; reads < 64; ++reads) {
            const ssize_t n = ::recv(c.fd.get(), buf, sizeof buf, 0);
            if (n == 0) return false;
            if (n < 0) return errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK;
        }
        return true;
    }

    Result<std::string> scrape(metrics_http::Format format) {
        const char* request = format == metrics_http::Format::openmetrics ? "openmetrics" : "prometheus";
        Result<std::string> text =
            options_.scrape ? options_.scrape(format) : query_status(options_.status_socket, request, kStatusTimeoutMs);
        const bool reachable = text && !text.value().empty();
        if (!reachable && pool_was_reachable_) {
            std::fprintf(stderr, "warmpool metrics: pool '%s' is unreachable: %s\n", options_.pool.c_str(),
                         text ? "it closed its status socket without an answer" : text.error().message().c_str());
        }
        pool_was_reachable_ = reachable;
        return text;
    }

    const MetricsServerOptions& options_;
    UniqueFd listener_;
    UniqueFd signals_;
    std::vector<Connection> connections_;
    std::int64_t accept_paused_until_ns_ = 0;
    bool pool_was_reachable_ = true;  // so that the first failure is reported
};

}  // namespace

int serve_metrics(const MetricsServerOptions& options) {
    const auto address = metrics_http::parse_listen_address(options.listen);
    if (!address) {
        std::fprintf(stderr,
                     "warmpool metrics: --listen %s: give a numeric address and a port, as 127.0.0.1:9464 or "
                     "[::1]:9464\n",
                     options.listen.c_str());
        return kExitUsage;
    }
    sigset_t stop;
    ::sigemptyset(&stop);
    ::sigaddset(&stop, SIGTERM);
    ::sigaddset(&stop, SIGINT);
    ::sigprocmask(SIG_BLOCK, &stop, nullptr);
    UniqueFd signals(::signalfd(-1, &stop, SFD_NONBLOCK | SFD_CLOEXEC));
    if (!signals) {
        std::perror("warmpool metrics: signalfd");
        return kExitOsError;
    }
    ::signal(SIGPIPE, SIG_IGN);
    auto listener = listen_tcp(*address);
    if (!listener) {
        std::fprintf(stderr, "warmpool metrics: cannot listen on %s: %s\n", options.listen.c_str(),
                     listener.error().message().c_str());
        return kExitOsError;
    }
    return MetricsServer(options, std::move(listener.value()), std::move(signals)).run();
}

}  // namespace warmpool
