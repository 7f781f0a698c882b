// Tests for ControlSocket (client/src/control_socket.hpp) over a real socket pair: whole frames
// from many threads at once, a descriptor passed with a message, and hung_up(), which a readable
// socket alone does not make true but a peer that closed does.

#include "../../client/src/control_socket.hpp"

#include <gtest/gtest.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

#include "warmpool/common/protocol.hpp"

namespace warmpool::detail {
namespace {

struct SocketPair {
    SocketPair() {
        int fds[2];
        if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) throw std::runtime_error("socketpair");
        ours = UniqueFd(fds[0]);
        peer = UniqueFd(fds[1]);
    }
    UniqueFd ours;
    UniqueFd peer;
};

TEST(ControlSocketTest, FramesFromManyThreadsArriveWhole) {
    SocketPair pair;
    ControlSocket control(std::move(pair.ours));
    constexpr int kThreads = 4;
    constexpr std::uint64_t kEach = 200;
    std::vector<std::thread> senders;
    for (int t = 0; t < kThreads; ++t) {
        senders.emplace_back([&control, t] {
            for (std::uint64_t i = 0; i < kEach; ++i) {
                ASSERT_TRUE(control.send(protocol::Cancel{t * kEach + i, (i % 2) != 0}));
            }
        });
    }
    std::set<std::uint64_t> seen;
    for (std::uint64_t n = 0; n < kThreads * kEach; ++n) {
        auto frame = receive_frame(pair.peer.get(), 10'000);
        ASSERT_TRUE(frame && frame.value()) << "frame " << n;
        auto cancel = protocol::decode<protocol::Cancel>(*frame.value());
        ASSERT_TRUE(cancel) << cancel.error().message();
        EXPECT_EQ(cancel->force, (cancel->job_id % kEach % 2) != 0);
        seen.insert(cancel->job_id);
    }
    for (auto& sender : senders) sender.join();
    EXPECT_EQ(seen.size(), kThreads * kEach);
}

TEST(ControlSocketTest, PassesADescriptorWithAMessage) {
    SocketPair pair;
    ControlSocket control(std::move(pair.ours));
    UniqueFd passed(::eventfd(0, EFD_CLOEXEC));
    ASSERT_TRUE(passed.valid());
    ASSERT_TRUE(control.send(protocol::BlobOffer{42}, passed.get()));
    UniqueFd received;
    auto frame = receive_frame(pair.peer.get(), 10'000, &received);
    ASSERT_TRUE(frame && frame.value());
    auto offer = protocol::decode<protocol::BlobOffer>(*frame.value());
    ASSERT_TRUE(offer);
    EXPECT_EQ(offer->object, 42u);
    ASSERT_TRUE(received.valid());
    struct stat a {}, b {};
    ASSERT_EQ(::fstat(passed.get(), &a), 0);
    ASSERT_EQ(::fstat(received.get(), &b), 0);
    EXPECT_EQ(a.st_ino, b.st_ino) << "the same eventfd";
}

TEST(ControlSocketTest, HungUpOnlyOnceThePeerHasClosed) {
    SocketPair pair;
    ControlSocket control(std::move(pair.ours));
    EXPECT_FALSE(control.hung_up());
    ASSERT_EQ(::send(pair.peer.get(), "x", 1, MSG_NOSIGNAL), 1);
    EXPECT_FALSE(control.hung_up()) << "readable is an answer, not the end";
    pair.peer.reset();
    EXPECT_TRUE(control.hung_up());
    EXPECT_FALSE(control.send(protocol::Cancel{1, false}));
}

}  // namespace
}  // namespace warmpool::detail
