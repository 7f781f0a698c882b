// Tests for ArgumentBlobs (client/src/argument_blobs.hpp) with a real socket pair standing for
// the session's control socket: a new blob's memfd is offered to the supervisor before it is
// handed out, a released blob is reused with no new offer, and the blobs still kept are retired
// when the session goes.

#include "../../client/src/argument_blobs.hpp"

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <cstring>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

#include "warmpool/common/protocol.hpp"

namespace warmpool::detail {
namespace {

struct ArgumentBlobsTest : ::testing::Test {
    ArgumentBlobsTest() {
        int fds[2];
        if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) throw std::runtime_error("socketpair");
        control = std::make_unique<ControlSocket>(UniqueFd(fds[0]));
        supervisor = UniqueFd(fds[1]);
    }

    // The next message the supervisor got, of type T, and the descriptor that came with it.
    template <class T>
    T next_message(UniqueFd* fd = nullptr) {
        auto frame = receive_frame(supervisor.get(), 10'000, fd);
        if (!frame || !frame.value()) throw std::runtime_error("no message");
        auto message = protocol::decode<T>(*frame.value());
        if (!message) throw std::runtime_error(message.error().message());
        return message.value();
    }
    bool supervisor_has_mail() const {
        pollfd p{supervisor.get(), POLLIN, 0};
        return ::poll(&p, 1, 0) == 1;
    }

    std::unique_ptr<ControlSocket> control;
    UniqueFd supervisor;
};

TEST_F(ArgumentBlobsTest, ANewBlobIsOfferedBeforeItIsHandedOut) {
    ArgumentBlobs blobs("unit", *control);
    constexpr std::size_t kBytes = 100'000;
    auto blob = blobs.acquire(kBytes);
    ASSERT_TRUE(blob) << blob.error().message();
    EXPECT_GE(blob->capacity, kBytes);
    std::memset(blob->data, 0x5a, kBytes);  // writable, all of it

    UniqueFd offered;
    const auto offer = next_message<protocol::BlobOffer>(&offered);
    EXPECT_EQ(offer.object, blob->ref.object);
    ASSERT_TRUE(offered.valid());
    struct stat st {};
    ASSERT_EQ(::fstat(offered.get(), &st), 0);
    EXPECT_GE(static_cast<std::size_t>(st.st_size), kBlobDataOffset + kBytes);
    blobs.release(blob->ref.object);
}

TEST_F(ArgumentBlobsTest, AReleasedBlobIsReusedWithNoNewOffer) {
    ArgumentBlobs blobs("unit", *control);
    auto first = blobs.acquire(50'000);
    ASSERT_TRUE(first);
    next_message<protocol::BlobOffer>();
    blobs.release(first->ref.object);

    auto again = blobs.acquire(10'000);
    ASSERT_TRUE(again);
    EXPECT_EQ(again->ref.object, first->ref.object);
    EXPECT_FALSE(supervisor_has_mail());

    auto second = blobs.acquire(10'000);  // the first is in use: a new one
    ASSERT_TRUE(second);
    EXPECT_NE(second->ref.object, first->ref.object);
    EXPECT_EQ(next_message<protocol::BlobOffer>().object, second->ref.object);
    blobs.release(again->ref.object);
    blobs.release(second->ref.object);
}

TEST_F(ArgumentBlobsTest, TheBlobsKeptAreRetiredWhenTheSessionGoes) {
    std::set<std::uint64_t> made;
    {
        ArgumentBlobs blobs("unit", *control);
        auto a = blobs.acquire(20'000);
        auto b = blobs.acquire(20'000);
        ASSERT_TRUE(a && b);
        made = {a->ref.object, b->ref.object};
        next_message<protocol::BlobOffer>();
        next_message<protocol::BlobOffer>();
        blobs.release(a->ref.object);
        blobs.release(b->ref.object);
    }
    std::set<std::uint64_t> retired;
    retired.insert(next_message<protocol::BlobRetire>().object);
    retired.insert(next_message<protocol::BlobRetire>().object);
    EXPECT_EQ(retired, made);
}

TEST_F(ArgumentBlobsTest, ManyThreadsAcquireAndRelease) {
    ArgumentBlobs blobs("unit", *control);
    std::thread reader([this] {
        while (true) {
            auto frame = receive_frame(supervisor.get(), 10'000);
            if (!frame || !frame.value()) return;  // closed with the control socket
        }
    });
    std::vector<std::thread> callers;
    for (int t = 0; t < 4; ++t) {
        callers.emplace_back([&blobs, t] {
            for (int i = 0; i < 100; ++i) {
                auto blob = blobs.acquire(4096 * (1 + (i + t) % 4));
                ASSERT_TRUE(blob);
                blob->data[0] = std::byte{1};
                blobs.release(blob->ref.object);
            }
        });
    }
    for (auto& caller : callers) caller.join();
    ::shutdown(control->fd(), SHUT_RDWR);
    reader.join();
}

}  // namespace
}  // namespace warmpool::detail
