// Tests for ConnectionTable (connection_table.hpp) over real Unix sockets in a private directory
// and a real epoll set: listening and accepting (with the peer's credentials and the cap on status
// connections), requests read as values (frames whole and one at a time, status lines, and why a
// connection must close), one-answer connections, the timeouts, and closing.

#include "warmpool/daemon/connection_table.hpp"

#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "../../daemon/src/epoll_tags.hpp"
#include "warmpool/common/protocol.hpp"
#include "warmpool/common/unix_socket.hpp"

#include "scratch_dir.hpp"

namespace warmpool {
namespace {

// A private directory under /tmp, removed with everything in it.
struct Scratch : testing::ScratchDir {
    Scratch() : ScratchDir("warmpool-conntable") {}
};

using Kind = ConnectionTable::Request::Kind;

constexpr std::int64_t kSecond = 1'000'000'000;
constexpr std::int64_t kNow = 1000 * kSecond;  // any clock reading: the table only compares them
constexpr unsigned kMode = 0640;


std::string hello_frame(const std::string& name) {
    protocol::Hello hello;
    hello.client_name = name;
    return protocol::encode_frame(hello);
}

std::string client_name_of(const protocol::Frame& frame) {
    auto hello = protocol::decode<protocol::Hello>(frame);
    return hello ? hello.value().client_name : "(not a Hello: " + hello.error().message() + ")";
}

// What the client reads within `timeout_ms`: the bytes, or none and why.
struct ClientRead {
    std::string bytes;
    bool eof = false;          // the table closed its end
    bool reset = false;        // ... leaving unread what the client had sent (ECONNRESET, not EOF)
    bool would_block = false;  // nothing to read yet
};

ClientRead client_read(int fd, int timeout_ms) {
    ClientRead r;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, timeout_ms) <= 0) {
        r.would_block = true;
        return r;
    }
    char buf[65536];
    const ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n > 0) {
        r.bytes.assign(buf, static_cast<std::size_t>(n));
    } else if (n == 0) {
        r.eof = true;
    } else {
        r.would_block = (errno == EAGAIN);
        r.reset = (errno == ECONNRESET);
    }
    return r;
}

class ConnectionTableTest : public ::testing::Test {
protected:
    void SetUp() override {
        epoll_.reset(::epoll_create1(EPOLL_CLOEXEC));
        ASSERT_TRUE(epoll_) << "epoll_create1: " << std::strerror(errno);
        const Status st = table_.listen(epoll_.get(), control_path(), status_path(), kMode, static_cast<gid_t>(-1));
        ASSERT_TRUE(st) << st.error().message();
    }

    std::string control_path() const { return scratch_.path("control.sock"); }
    std::string status_path() const { return scratch_.path("status.sock"); }

    UniqueFd connect(bool status) {
        auto fd = connect_unix(status ? status_path() : control_path());
        if (!fd) {
            ADD_FAILURE() << "connect: " << fd.error().message();
            return UniqueFd();
        }
        return std::move(fd.value());
    }

    // The descriptors of every connection in the table, found by asking for each one.
    std::vector<int> connection_fds() {
        std::vector<int> fds;
        for (int fd = 0; fd < 4096; ++fd) {
            if (table_.find(fd) != nullptr) fds.push_back(fd);
        }
        return fds;
    }

    // Connects one client, accepts it, and returns the table's descriptor for it (-1 if the
    // table did not take exactly one new connection).
    int connect_and_accept(bool status, UniqueFd& client, std::int64_t now = kNow) {
        const std::vector<int> before = connection_fds();
        client = connect(status);
        table_.accept(status, now);
        const std::vector<int> after = connection_fds();
        std::vector<int> added;
        for (int fd : after) {
            if (std::find(before.begin(), before.end(), fd) == before.end()) added.push_back(fd);
        }
        if (added.size() != 1) {
            ADD_FAILURE() << "accept took " << added.size() << " new connections, not 1";
            return -1;
        }
        return added.front();
    }

    // The epoll events ready within `timeout_ms`.
    std::vector<epoll_event> ready(int timeout_ms) {
        epoll_event events[128];
        const int n = ::epoll_wait(epoll_.get(), events, 128, timeout_ms);
        if (n < 0) {
            ADD_FAILURE() << "epoll_wait: " << std::strerror(errno);
            return {};
        }
        return std::vector<epoll_event>(events, events + n);
    }

    // The events epoll reports for the connection at `fd` within `timeout_ms` (0: none).
    std::uint32_t connection_events(int fd, int timeout_ms = 1000) {
        for (const epoll_event& ev : ready(timeout_ms)) {
            if (ev.data.u64 == epoll_tag::tagged(epoll_tag::kConnection, static_cast<std::uint32_t>(fd))) {
                return ev.events;
            }
        }
        return 0;
    }

    static void send_bytes(int fd, const std::string& bytes, int pass_fd = -1) {
        const Status st = send_all(fd, bytes, pass_fd);
        ASSERT_TRUE(st) << st.error().message();
    }

    Scratch scratch_;
    UniqueFd epoll_;
    ConnectionTable table_;  // declared last: gone before the epoll set and the directory
};

// --- listening and accepting ---

TEST_F(ConnectionTableTest, ListenCreatesBothSocketsWithTheModeAsked) {
    for (const std::string& path : {control_path(), status_path()}) {
        SCOPED_TRACE(path);
        struct stat st {};
        ASSERT_EQ(::stat(path.c_str(), &st), 0) << std::strerror(errno);
        EXPECT_TRUE(S_ISSOCK(st.st_mode));
        EXPECT_EQ(st.st_mode & 07777, kMode);
    }
    EXPECT_GE(table_.listener(false), 0);
    EXPECT_GE(table_.listener(true), 0);
    EXPECT_NE(table_.listener(false), table_.listener(true));
    EXPECT_EQ(table_.size(), 0u);
}

TEST_F(ConnectionTableTest, ListenersAreWatchedInTheEpollSetUnderTheirTags) {
    EXPECT_TRUE(ready(0).empty());
    UniqueFd control_client = connect(false);
    UniqueFd status_client = connect(true);
    bool control_seen = false;
    bool status_seen = false;
    for (const epoll_event& ev : ready(1000)) {
        control_seen |= ev.data.u64 == epoll_tag::tagged(epoll_tag::kControlListen);
        status_seen |= ev.data.u64 == epoll_tag::tagged(epoll_tag::kStatusListen);
    }
    EXPECT_TRUE(control_seen);
    EXPECT_TRUE(status_seen);
}

TEST_F(ConnectionTableTest, AcceptTakesEveryWaitingPeerWithItsCredentials) {
    std::vector<UniqueFd> clients;
    for (int i = 0; i < 3; ++i) clients.push_back(connect(false));
    clients.push_back(connect(true));

    table_.accept(false, kNow);
    ASSERT_EQ(table_.size(), 3u) << "every waiting control peer, and no status peer";
    table_.accept(true, kNow + kSecond);
    ASSERT_EQ(table_.size(), 4u);
    table_.accept(false, kNow + 2 * kSecond);
    EXPECT_EQ(table_.size(), 4u) << "nobody was waiting any more";

    const std::vector<int> fds = connection_fds();
    ASSERT_EQ(fds.size(), 4u);
    int status_connections = 0;
    for (int fd : fds) {
        const ConnectionTable::Connection* conn = table_.find(fd);
        ASSERT_NE(conn, nullptr);
        EXPECT_EQ(conn->fd.get(), fd);
        EXPECT_EQ(conn->peer.uid, ::getuid());
        EXPECT_EQ(conn->peer.gid, ::getgid());
        EXPECT_EQ(conn->peer.pid, ::getpid());
        EXPECT_EQ(conn->session, -1);
        EXPECT_FALSE(conn->answering);
        EXPECT_EQ(conn->accepted_ns, conn->status ? kNow + kSecond : kNow);
        status_connections += conn->status ? 1 : 0;
    }
    EXPECT_EQ(status_connections, 1);
    EXPECT_EQ(table_.find(-1), nullptr);
    EXPECT_EQ(table_.find(table_.listener(false)), nullptr);
}

// --- frames on control connections ---

TEST_F(ConnectionTableTest, AFrameComesBackWithItsTypeAndBody) {
    UniqueFd client;
    const int fd = connect_and_accept(false, client);
    ASSERT_GE(fd, 0);
    EXPECT_EQ(table_.next(fd).kind, Kind::none) << "nothing sent yet";

    send_bytes(client.get(), hello_frame("conn-test"));
    EXPECT_TRUE(connection_events(fd) & EPOLLIN) << "the connection is watched under its tag";
    const ConnectionTable::Request request = table_.next(fd);
    ASSERT_EQ(request.kind, Kind::frame) << request.close_reason;
    EXPECT_EQ(request.frame.type, protocol::MessageType::hello);
    EXPECT_EQ(client_name_of(request.frame), "conn-test");
    EXPECT_EQ(table_.next(fd).kind, Kind::none);
}

TEST_F(ConnectionTableTest, TwoFramesInOneWriteComeBackOnePerCall) {
    UniqueFd client;
    const int fd = connect_and_accept(false, client);
    ASSERT_GE(fd, 0);
    send_bytes(client.get(), hello_frame("first") + protocol::encode_frame(protocol::Goodbye{}));
    ASSERT_NE(connection_events(fd), 0u);

    const ConnectionTable::Request first = table_.next(fd);
    ASSERT_EQ(first.kind, Kind::frame) << first.close_reason;
    EXPECT_EQ(first.frame.type, protocol::MessageType::hello);
    EXPECT_EQ(client_name_of(first.frame), "first");
    const ConnectionTable::Request second = table_.next(fd);
    ASSERT_EQ(second.kind, Kind::frame) << second.close_reason;
    EXPECT_EQ(second.frame.type, protocol::MessageType::goodbye);
    EXPECT_TRUE(second.frame.body.empty());
    EXPECT_EQ(table_.next(fd).kind, Kind::none);
}

TEST_F(ConnectionTableTest, AFrameSplitAcrossWritesComesBackOnlyOnceComplete) {
    const std::string frame = hello_frame("split across writes");
    // Cut inside the header, and inside the body.
    for (const std::size_t cut : {std::size_t{5}, sizeof(protocol::FrameHeader) + 3}) {
        SCOPED_TRACE("cut at " + std::to_string(cut));
        ASSERT_LT(cut, frame.size());
        UniqueFd client;
        const int fd = connect_and_accept(false, client);
        ASSERT_GE(fd, 0);
        send_bytes(client.get(), frame.substr(0, cut));
        ASSERT_NE(connection_events(fd), 0u);
        EXPECT_EQ(table_.next(fd).kind, Kind::none);
        send_bytes(client.get(), frame.substr(cut));
        ASSERT_NE(connection_events(fd), 0u);
        const ConnectionTable::Request request = table_.next(fd);
        ASSERT_EQ(request.kind, Kind::frame) << request.close_reason;
        EXPECT_EQ(client_name_of(request.frame), "split across writes");
        EXPECT_EQ(table_.next(fd).kind, Kind::none);
        EXPECT_EQ(table_.close(fd), -1);
    }
}

TEST_F(ConnectionTableTest, GarbageIsAProtocolError) {
    UniqueFd client;
    const int fd = connect_and_accept(false, client);
    ASSERT_GE(fd, 0);
    send_bytes(client.get(), std::string(64, 'x'));
    ASSERT_NE(connection_events(fd), 0u);
    const ConnectionTable::Request request = table_.next(fd);
    EXPECT_EQ(request.kind, Kind::close);
    EXPECT_EQ(request.close_reason, "protocol error");
}

TEST_F(ConnectionTableTest, APeerThatClosesIsDisconnected) {
    for (const bool status : {false, true}) {
        SCOPED_TRACE(status ? "status connection" : "control connection");
        UniqueFd client;
        const int fd = connect_and_accept(status, client);
        ASSERT_GE(fd, 0);
        EXPECT_EQ(table_.next(fd).kind, Kind::none);
        client.reset();
        ASSERT_NE(connection_events(fd), 0u);
        const ConnectionTable::Request request = table_.next(fd);
        EXPECT_EQ(request.kind, Kind::close);
        EXPECT_EQ(request.close_reason, "client disconnected");
        EXPECT_EQ(table_.close(fd), -1);
    }
}

TEST_F(ConnectionTableTest, ADescriptorLeftOverAfterItsFrameClosesTheConnection) {
    int pipe_fds[2];
    ASSERT_EQ(::pipe2(pipe_fds, O_CLOEXEC), 0);
    const UniqueFd pipe_read(pipe_fds[0]);
    const UniqueFd pipe_write(pipe_fds[1]);

    for (const bool claim : {true, false}) {
        SCOPED_TRACE(claim ? "the frame's handler takes the descriptor" : "nothing takes the descriptor");
        UniqueFd client;
        const int fd = connect_and_accept(false, client);
        ASSERT_GE(fd, 0);
        send_bytes(client.get(), hello_frame("with a descriptor"), pipe_read.get());
        ASSERT_NE(connection_events(fd), 0u);
        const ConnectionTable::Request request = table_.next(fd);
        ASSERT_EQ(request.kind, Kind::frame) << request.close_reason;
        ConnectionTable::Connection* conn = table_.find(fd);
        ASSERT_NE(conn, nullptr);
        ASSERT_EQ(conn->passed_fds.size(), 1u) << "the descriptor arrives with its frame";
        if (claim) {
            conn->passed_fds.clear();
            EXPECT_EQ(table_.next(fd).kind, Kind::none);
        } else {
            const ConnectionTable::Request after = table_.next(fd);
            EXPECT_EQ(after.kind, Kind::close);
            EXPECT_EQ(after.close_reason, "descriptors passed without a message that takes them");
        }
        EXPECT_EQ(table_.close(fd), -1);
    }
}

TEST_F(ConnectionTableTest, MoreDescriptorsThanOneFrameCarriesCloseTheConnection) {
    int pipe_fds[2];
    ASSERT_EQ(::pipe2(pipe_fds, O_CLOEXEC), 0);
    const UniqueFd pipe_read(pipe_fds[0]);
    const UniqueFd pipe_write(pipe_fds[1]);
    UniqueFd client;
    const int fd = connect_and_accept(false, client);
    ASSERT_GE(fd, 0);
    // One frame sent a byte at a time, each byte with a descriptor: one more than a frame takes.
    const std::string frame = hello_frame("too many descriptors");
    for (std::size_t i = 0; i <= kMaxPassedFds; ++i) send_bytes(client.get(), frame.substr(i, 1), pipe_read.get());
    ASSERT_NE(connection_events(fd), 0u);
    const ConnectionTable::Request request = table_.next(fd);
    EXPECT_EQ(request.kind, Kind::close);
    EXPECT_EQ(request.close_reason, "descriptors passed without a message that takes them");
}

// --- status connections ---

TEST_F(ConnectionTableTest, AStatusRequestIsItsLineTrimmed) {
    struct Case {
        std::vector<std::string> writes;
        std::string expected;
    };
    for (const Case& c : {Case{{"json\n"}, "json"}, Case{{"prometheus \r\n"}, "prometheus"},
                          Case{{"te", "xt\n"}, "text"}}) {
        SCOPED_TRACE(c.expected);
        UniqueFd client;
        const int fd = connect_and_accept(true, client);
        ASSERT_GE(fd, 0);
        ConnectionTable::Request request;
        for (const std::string& part : c.writes) {
            EXPECT_EQ(request.kind, Kind::none) << "a status line before its newline";
            send_bytes(client.get(), part);
            ASSERT_NE(connection_events(fd), 0u);
            request = table_.next(fd);
        }
        ASSERT_EQ(request.kind, Kind::status) << request.close_reason;
        EXPECT_EQ(request.status, c.expected);
        EXPECT_EQ(table_.close(fd), -1);
    }
}

TEST_F(ConnectionTableTest, AStatusRequestOverTheLimitClosesTheConnection) {
    UniqueFd client;
    const int fd = connect_and_accept(true, client);
    ASSERT_GE(fd, 0);
    send_bytes(client.get(), std::string(256, 'a'));
    ASSERT_NE(connection_events(fd), 0u);
    EXPECT_EQ(table_.next(fd).kind, Kind::none) << "256 bytes are still a request being sent";
    send_bytes(client.get(), "a");
    ASSERT_NE(connection_events(fd), 0u);
    const ConnectionTable::Request request = table_.next(fd);
    EXPECT_EQ(request.kind, Kind::close);
    EXPECT_EQ(request.close_reason, "oversized status request");
}

TEST_F(ConnectionTableTest, The65thStatusConnectionIsClosedAtAccept) {
    std::vector<UniqueFd> clients;
    for (int i = 0; i < 65; ++i) clients.push_back(connect(true));
    table_.accept(true, kNow);
    EXPECT_EQ(table_.size(), 64u);
    // Peers are accepted in the order they connected: the last one was refused.
    const ClientRead last = client_read(clients.back().get(), 1000);
    EXPECT_TRUE(last.eof) << "the 65th status client should see its connection closed";
    for (std::size_t i = 0; i + 1 < clients.size(); ++i) {
        const ClientRead r = client_read(clients[i].get(), 0);
        EXPECT_TRUE(r.would_block) << "status client " << i << " should still be connected";
    }

    // Control connections are not counted against the status cap.
    UniqueFd control;
    EXPECT_GE(connect_and_accept(false, control), 0);

    // Once one status connection is gone, another is taken.
    std::vector<int> status_fds;
    for (int fd : connection_fds()) {
        if (table_.find(fd)->status) status_fds.push_back(fd);
    }
    ASSERT_EQ(status_fds.size(), 64u);
    EXPECT_EQ(table_.close(status_fds.front()), -1);
    UniqueFd again;
    EXPECT_GE(connect_and_accept(true, again), 0);
    EXPECT_EQ(table_.size(), 65u);
}

// --- answers ---

TEST_F(ConnectionTableTest, AnAnsweringConnectionIsNotReadAndItsAnswerGoesOut) {
    UniqueFd client;
    const int fd = connect_and_accept(true, client);
    ASSERT_GE(fd, 0);
    send_bytes(client.get(), "json\n");
    ASSERT_NE(connection_events(fd), 0u);
    ASSERT_EQ(table_.next(fd).kind, Kind::status);

    // An answer larger than the socket holds, so that it has to go out in pieces as the client reads.
    std::string answer(1u << 20, '\0');
    for (std::size_t i = 0; i < answer.size(); ++i) answer[i] = static_cast<char>(i * 13 + i / 251);
    ConnectionTable::Connection* conn = table_.find(fd);
    ASSERT_NE(conn, nullptr);
    table_.answer(*conn, answer, "status answered", kNow);
    EXPECT_TRUE(table_.find(fd)->answering);

    // The client sends more: it is not read, and epoll now waits for room to write, not for input.
    send_bytes(client.get(), "prometheus\n");
    EXPECT_EQ(table_.next(fd).kind, Kind::none);
    const std::uint32_t events = connection_events(fd);
    EXPECT_TRUE(events & EPOLLOUT);
    EXPECT_FALSE(events & EPOLLIN);

    std::string received;
    std::string reason;
    int rounds = 0;
    bool done = false;
    while (!done && rounds < 100000) {
        done = table_.continue_answer(fd, reason);
        ++rounds;
        for (ClientRead r = client_read(client.get(), 0); !r.bytes.empty(); r = client_read(client.get(), 0)) {
            received += r.bytes;
        }
    }
    ASSERT_TRUE(done) << "the answer was not out after " << rounds << " rounds";
    EXPECT_GT(rounds, 1) << "the socket took 1 MiB at once: the test proves nothing about pieces";
    EXPECT_EQ(reason, "status answered");
    EXPECT_TRUE(table_.expired(kNow + 60 * kSecond).empty()) << "an answer that is out is not overdue";

    EXPECT_EQ(table_.close(fd), -1);
    for (;;) {
        const ClientRead r = client_read(client.get(), 1000);
        if (r.bytes.empty()) {
            // The second request was never read, so the kernel ends the stream with a reset.
            EXPECT_TRUE(r.reset) << "eof " << r.eof << ", would block " << r.would_block;
            break;
        }
        received += r.bytes;
    }
    EXPECT_EQ(received.size(), answer.size());
    EXPECT_TRUE(received == answer) << "the client did not get exactly the answer";
}

TEST_F(ConnectionTableTest, AnAnswerThePeerDoesNotTakeExpiresAfter10Seconds) {
    UniqueFd client;
    const int fd = connect_and_accept(false, client);
    ASSERT_GE(fd, 0);
    ConnectionTable::Connection* conn = table_.find(fd);
    ASSERT_NE(conn, nullptr);
    table_.answer(*conn, std::string(8u << 20, 'r'), "refused", kNow);
    std::string reason = "unchanged";
    EXPECT_FALSE(table_.continue_answer(fd, reason)) << "the client never reads: 8 MiB cannot all be out";
    EXPECT_EQ(reason, "unchanged");

    EXPECT_TRUE(table_.expired(kNow + 10 * kSecond).empty());
    const auto due = table_.expired(kNow + 11 * kSecond);
    ASSERT_EQ(due.size(), 1u);
    EXPECT_EQ(due[0].first, fd);
    EXPECT_EQ(due[0].second, "did not take its answer within 10 s");
}

TEST_F(ConnectionTableTest, AnAnswerToAPeerThatLeftIsDone) {
    UniqueFd client;
    const int fd = connect_and_accept(false, client);
    ASSERT_GE(fd, 0);
    client.reset();
    ConnectionTable::Connection* conn = table_.find(fd);
    ASSERT_NE(conn, nullptr);
    table_.answer(*conn, std::string(1u << 20, 'r'), "refused", kNow);
    std::string reason;
    EXPECT_TRUE(table_.continue_answer(fd, reason));
    EXPECT_EQ(reason, "gone before taking its answer");
}

// --- timeouts and closing ---

TEST_F(ConnectionTableTest, APeerThatSaysNothingExpiresAfter5Seconds) {
    UniqueFd quiet;
    const int quiet_fd = connect_and_accept(false, quiet, kNow);
    ASSERT_GE(quiet_fd, 0);
    UniqueFd quiet_status;
    const int quiet_status_fd = connect_and_accept(true, quiet_status, kNow);
    ASSERT_GE(quiet_status_fd, 0);
    UniqueFd in_session;
    const int in_session_fd = connect_and_accept(false, in_session, kNow);
    ASSERT_GE(in_session_fd, 0);
    table_.find(in_session_fd)->session = 3;
    UniqueFd late;
    const int late_fd = connect_and_accept(false, late, kNow + 2 * kSecond);
    ASSERT_GE(late_fd, 0);

    EXPECT_TRUE(table_.expired(kNow + 5 * kSecond).empty());
    auto due = table_.expired(kNow + 6 * kSecond);
    std::sort(due.begin(), due.end());
    std::vector<std::pair<int, std::string>> expected{{quiet_fd, "no request within 5 s"},
                                                      {quiet_status_fd, "no request within 5 s"}};
    std::sort(expected.begin(), expected.end());
    EXPECT_EQ(due, expected) << "a connection holding a session, or accepted later, is not due";
    EXPECT_EQ(table_.expired(kNow + 8 * kSecond).size(), 3u);
}

TEST_F(ConnectionTableTest, CloseHandsBackTheSessionTheConnectionHeld) {
    UniqueFd with_session;
    const int session_fd = connect_and_accept(false, with_session);
    ASSERT_GE(session_fd, 0);
    UniqueFd without_session;
    const int plain_fd = connect_and_accept(false, without_session);
    ASSERT_GE(plain_fd, 0);
    table_.find(session_fd)->session = 7;

    EXPECT_EQ(table_.close(session_fd), 7);
    EXPECT_EQ(table_.find(session_fd), nullptr);
    EXPECT_EQ(table_.size(), 1u);
    EXPECT_TRUE(client_read(with_session.get(), 1000).eof) << "the table closed its end";
    EXPECT_EQ(table_.close(session_fd), -1) << "already closed";
    EXPECT_EQ(table_.close(plain_fd), -1);
    EXPECT_EQ(table_.close(12345), -1);
    EXPECT_EQ(table_.size(), 0u);
    std::string reason;
    EXPECT_FALSE(table_.continue_answer(plain_fd, reason));
    EXPECT_EQ(table_.next(plain_fd).kind, Kind::none);
}

TEST_F(ConnectionTableTest, StopListeningTakesNoMorePeersAndKeepsTheConnections) {
    UniqueFd client;
    const int fd = connect_and_accept(false, client);
    ASSERT_GE(fd, 0);

    table_.stop_listening();
    EXPECT_EQ(table_.listener(false), -1);
    EXPECT_EQ(table_.listener(true), -1);
    EXPECT_FALSE(connect_unix(control_path())) << "nothing listens at the control path any more";
    EXPECT_FALSE(connect_unix(status_path())) << "nothing listens at the status path any more";
    table_.accept(false, kNow);
    table_.accept(true, kNow);
    EXPECT_EQ(table_.size(), 1u);

    send_bytes(client.get(), hello_frame("still here"));
    ASSERT_NE(connection_events(fd), 0u);
    const ConnectionTable::Request request = table_.next(fd);
    ASSERT_EQ(request.kind, Kind::frame) << request.close_reason;
    EXPECT_EQ(client_name_of(request.frame), "still here");
}

}  // namespace
}  // namespace warmpool
