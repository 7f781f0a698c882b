// Tests for Outbox (outbox.hpp): an answer larger than the socket takes goes out in pieces as
// the peer reads, without a write ever blocking; a peer that leaves is reported; the deadline.

#include "warmpool/daemon/outbox.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <string>

#include "warmpool/common/unique_fd.hpp"

namespace warmpool {
namespace {

struct SocketPair {
    UniqueFd ours;
    UniqueFd peer;
    SocketPair() {
        int fds[2];
        if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) throw std::runtime_error("socketpair");
        ours.reset(fds[0]);
        peer.reset(fds[1]);
        int small = 4096;
        ::setsockopt(ours.get(), SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
        ::setsockopt(peer.get(), SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    }
};

std::string read_some(int fd) {
    char buf[65536];
    const ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
}

TEST(Outbox, LargeAnswerGoesOutAsThePeerReadsWithoutBlocking) {
    SocketPair s;  // ours is blocking: the outbox must not block on it anyway
    Outbox out;
    std::string answer(4u << 20, '\0');
    for (std::size_t i = 0; i < answer.size(); ++i) answer[i] = static_cast<char>(i * 7);
    out.put(answer, 0);
    std::string received;
    int rounds = 0;
    for (;;) {
        const Outbox::Flush f = out.flush(s.ours.get());
        ASSERT_NE(f, Outbox::Flush::failed);
        if (f == Outbox::Flush::done) break;
        ++rounds;
        received += read_some(s.peer.get());
    }
    for (std::string more; !(more = read_some(s.peer.get())).empty();) received += more;
    EXPECT_GT(rounds, 1) << "the socket took 4 MiB at once: the test proves nothing";
    EXPECT_TRUE(out.empty());
    EXPECT_EQ(received.size(), answer.size());
    EXPECT_TRUE(received == answer);
}

TEST(Outbox, APeerThatLeftFails) {
    SocketPair s;
    Outbox out;
    out.put(std::string(1u << 20, 'x'), 0);
    EXPECT_EQ(out.flush(s.ours.get()), Outbox::Flush::pending);
    s.peer.reset();
    EXPECT_EQ(out.flush(s.ours.get()), Outbox::Flush::failed);
}

TEST(Outbox, OverdueOnlyWhileSomethingIsPending) {
    SocketPair s;
    Outbox out;
    EXPECT_FALSE(out.overdue(100));
    out.put(std::string(1u << 20, 'x'), 50);
    EXPECT_EQ(out.flush(s.ours.get()), Outbox::Flush::pending);
    EXPECT_FALSE(out.overdue(50));
    EXPECT_TRUE(out.overdue(51));
    Outbox small;
    small.put("hello", 50);
    EXPECT_EQ(small.flush(s.peer.get()), Outbox::Flush::done);
    EXPECT_FALSE(small.overdue(1000));
}

}  // namespace
}  // namespace warmpool
