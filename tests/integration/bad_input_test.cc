// Hostile and broken peers against a real warmpoold: raw bytes on the control and status
// sockets (garbage, bad headers, lies about lengths, truncation, silence, the wrong order of
// messages), peers that may not use the pool, and many idle connections. After each one the
// pool must still run a job for a well-behaved client, with the same supervisor.
#include <fcntl.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "test_pool.hpp"
#include "test_users.hpp"
#include "warmpool/client.hpp"
#include "warmpool/common/protocol.hpp"
#include "warmpool/common/unix_socket.hpp"

namespace warmpool {
namespace {

using testing::TestPool;
using Pair = std::pair<std::int64_t, std::int64_t>;
using namespace std::chrono_literals;
namespace proto = protocol;

constexpr uid_t kNobody = 65534;

std::string raw_header(std::uint32_t magic, std::uint16_t version, std::uint16_t type,
                       std::uint32_t length) {
    proto::FrameHeader header{magic, version, type, length, 0};
    return std::string(reinterpret_cast<const char*>(&header), sizeof header);
}

std::string frame_of(proto::MessageType type, const std::string& body) {
    return raw_header(proto::kFrameMagic, proto::kProtocolVersion, static_cast<std::uint16_t>(type),
                      static_cast<std::uint32_t>(body.size())) +
           body;
}

template <class T>
std::string le_bytes(T value) {
    return std::string(reinterpret_cast<const char*>(&value), sizeof value);
}

UniqueFd connect_to(const std::string& path) {
    auto fd = connect_unix(path);
    if (!fd) throw std::runtime_error("connect " + path + ": " + fd.error().message());
    return std::move(fd.value());
}

// Best effort: the daemon may close the connection while we are still writing.
void send_raw(int fd, const std::string& bytes) {
    std::size_t sent = 0;
    while (sent < bytes.size()) {
        ssize_t n = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
        if (n <= 0) return;
        sent += static_cast<std::size_t>(n);
    }
}

struct Ending {
    bool closed = false;   // the daemon closed the connection within the limit
    std::string received;  // whatever it sent before closing
    std::chrono::milliseconds after{0};
};

Ending read_until_closed(int fd, std::chrono::milliseconds limit) {
    Ending ending;
    const auto start = std::chrono::steady_clock::now();
    const auto deadline = start + limit;
    char buf[4096];
    for (;;) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) break;
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
        ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n > 0) {
            ending.received.append(buf, static_cast<std::size_t>(n));
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        ending.closed = true;  // EOF or ECONNRESET
        break;
    }
    ending.after = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - start);
    return ending;
}

// The first frame the daemon sends on `fd`, or a failure.
proto::Frame expect_frame(int fd) {
    auto frame = receive_frame(fd, 5000);
    if (!frame) throw std::runtime_error("no frame: " + frame.error().message());
    if (!frame.value()) throw std::runtime_error("the daemon closed without answering");
    return std::move(*frame.value());
}

proto::Refused expect_refused(int fd) {
    proto::Frame frame = expect_frame(fd);
    auto refused = proto::decode<proto::Refused>(frame);
    if (!refused) throw std::runtime_error("not a Refused frame: " + refused.error().message());
    return refused.value();
}

class BadInputTest : public ::testing::Test {
protected:
    void SetUp() override {
        pool_.emplace(options());
        pid_ = pool_->pid();
        expect_healthy();
    }

    virtual TestPool::Options options() const { return TestPool::Options{.workers = 2}; }

    // The pool serves a normal client and is still the same, running supervisor.
    void expect_healthy() {
        ASSERT_TRUE(pool_->running());
        Client client = pool_->connect();
        EXPECT_EQ(client.call<std::int64_t>("gcd", Pair{12, 18}), 6);
        auto status = pool_->status();
        EXPECT_EQ(status["state"], "running");
        EXPECT_EQ(status["pid"].get<pid_t>(), pid_);
        EXPECT_EQ(status["workers"]["live"], 2);
    }

    // Sends `bytes` on a fresh control connection and expects the daemon to close it promptly
    // without sending anything.
    void expect_dropped(const std::string& bytes, const char* what) {
        UniqueFd fd = connect_to(pool_->control_socket());
        send_raw(fd.get(), bytes);
        Ending ending = read_until_closed(fd.get(), 3s);
        EXPECT_TRUE(ending.closed) << what << ": the daemon kept the connection open";
        EXPECT_LT(ending.after, 2s) << what;
        EXPECT_EQ(ending.received, "") << what;
        expect_healthy();
    }

    std::optional<TestPool> pool_;
    pid_t pid_ = -1;
};

TEST_F(BadInputTest, GarbageBytes) {
    std::string garbage;
    std::uint32_t x = 0x9e3779b9;
    for (int i = 0; i < 4096; ++i) {
        x = x * 1664525 + 1013904223;
        garbage.push_back(static_cast<char>(x >> 24));
    }
    expect_dropped(garbage, "4 KiB of garbage");
    expect_dropped("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n", "an HTTP request");
}

TEST_F(BadInputTest, BadMagic) {
    expect_dropped(raw_header(0xdeadbeef, proto::kProtocolVersion, 1, 0), "bad magic");
    // The magic byte-swapped: a big-endian peer.
    expect_dropped(
        raw_header(__builtin_bswap32(proto::kFrameMagic), proto::kProtocolVersion, 1, 8) +
            "12345678",
        "byte-swapped magic");
}

TEST_F(BadInputTest, UnsupportedHeaderVersionIsDropped) {
    // A frame header of another version is not a stream this daemon can parse: it closes without
    // an answer. (A Hello carrying another protocol version in its body is answered; see below.)
    expect_dropped(raw_header(proto::kFrameMagic, 99,
                              static_cast<std::uint16_t>(proto::MessageType::hello), 0),
                   "header version 99");
}

TEST_F(BadInputTest, OversizedLength) {
    // Closed as soon as the header is read: the daemon must not wait for (or buffer) the body.
    expect_dropped(
        raw_header(proto::kFrameMagic, proto::kProtocolVersion, 1, proto::kMaxFrameBody + 1),
        "length just over the limit");
    expect_dropped(raw_header(proto::kFrameMagic, proto::kProtocolVersion, 1, 0xffffffffu),
                   "length 4 GiB");
}

TEST_F(BadInputTest, TruncatedBodyThenClose) {
    const std::string hello =
        proto::encode_frame(proto::Hello{proto::kProtocolVersion, "truncated"});
    for (std::size_t keep : {std::size_t{3}, sizeof(proto::FrameHeader), hello.size() - 1}) {
        UniqueFd fd = connect_to(pool_->control_socket());
        send_raw(fd.get(), hello.substr(0, keep));
        fd.reset();
        expect_healthy();
    }
    // Let the daemon see every close before counting sessions.
    ASSERT_TRUE(
        testing::wait_until([&] { return pool_->status()["sessions"]["active"] == 0; }, 5s));
}

TEST_F(BadInputTest, HelloWithAnotherProtocolVersionIsRefused) {
    UniqueFd fd = connect_to(pool_->control_socket());
    send_raw(fd.get(),
             proto::encode_frame(proto::Hello{proto::kProtocolVersion + 1, "from the future"}));
    proto::Refused refused = expect_refused(fd.get());
    EXPECT_EQ(refused.kind, "bad_request");
    EXPECT_NE(
        refused.message.find("protocol version " + std::to_string(proto::kProtocolVersion + 1)),
        std::string::npos)
        << refused.message;
    EXPECT_TRUE(read_until_closed(fd.get(), 2s).closed);
    expect_healthy();
}

TEST_F(BadInputTest, MalformedFirstFramesAreRefused) {
    const std::string hello_body = proto::encode_body(proto::Hello{proto::kProtocolVersion, "x"});
    struct Case {
        const char* what;
        std::string bytes;
    };
    const Case cases[] = {
        {"an empty hello", frame_of(proto::MessageType::hello, "")},
        {"a hello of random bytes",
         frame_of(proto::MessageType::hello, "\x01\x02\x03\x04\x05\x06\x07")},
        {"a hello with trailing bytes", frame_of(proto::MessageType::hello, hello_body + "extra")},
        {"a hello whose name is longer than the frame",
         frame_of(proto::MessageType::hello,
                  le_bytes<std::uint32_t>(1) + le_bytes<std::uint64_t>(1000) + "abc")},
        // Longer than std::string can be: fails before any allocation.
        {"a hello whose name claims 2^64-1 bytes",
         frame_of(proto::MessageType::hello,
                  le_bytes<std::uint32_t>(1) + le_bytes<std::uint64_t>(~0ull) + "abc")},
        {"a cancel before any hello",
         frame_of(proto::MessageType::cancel, proto::encode_body(proto::Cancel{42, true}))},
        {"a goodbye before any hello", frame_of(proto::MessageType::goodbye, "")},
        {"a welcome sent to the daemon", frame_of(proto::MessageType::welcome, "")},
        {"an unknown message type",
         raw_header(proto::kFrameMagic, proto::kProtocolVersion, 999, 0)},
        {"a malformed admin command", frame_of(proto::MessageType::admin, "\xff")},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(c.what);
        UniqueFd fd = connect_to(pool_->control_socket());
        send_raw(fd.get(), c.bytes);
        proto::Refused refused = expect_refused(fd.get());
        EXPECT_EQ(refused.kind, "bad_request") << refused.message;
        EXPECT_TRUE(read_until_closed(fd.get(), 2s).closed);
        expect_healthy();
    }
}

TEST_F(BadInputTest, UnknownAdminCommandIsAnsweredNotObeyed) {
    UniqueFd fd = connect_to(pool_->control_socket());
    send_raw(fd.get(), proto::encode_frame(proto::Admin{"self-destruct", {"now"}}));
    auto reply = proto::decode<proto::AdminReply>(expect_frame(fd.get()));
    ASSERT_TRUE(reply) << reply.error().message();
    EXPECT_FALSE(reply->ok);
    EXPECT_NE(reply->message.find("self-destruct"), std::string::npos) << reply->message;
    expect_healthy();
}

TEST_F(BadInputTest, HelloSentOneByteAtATimeStillWorks) {
    UniqueFd fd = connect_to(pool_->control_socket());
    const std::string hello =
        proto::encode_frame(proto::Hello{proto::kProtocolVersion, "slow typist"});
    for (char c : hello) {
        send_raw(fd.get(), std::string(1, c));
        std::this_thread::sleep_for(1ms);
    }
    UniqueFd doorbell;
    auto frame = receive_frame(fd.get(), 5000, &doorbell);
    ASSERT_TRUE(frame) << frame.error().message();
    ASSERT_TRUE(frame.value());
    EXPECT_EQ(frame.value()->type, proto::MessageType::welcome);
    EXPECT_TRUE(doorbell.valid()) << "the welcome carries the doorbell descriptor";
    EXPECT_EQ(pool_->status()["sessions"]["active"], 1);
    fd.reset();
    ASSERT_TRUE(testing::wait_until([&] { return pool_->status()["sessions"]["active"] == 0; }, 5s))
        << "the session of a vanished client was not released";
    expect_healthy();
}

TEST_F(BadInputTest, ProtocolViolationsInsideASessionEndOnlyThatSession) {
    Client bystander = pool_->connect();
    const std::string hello = proto::encode_frame(proto::Hello{proto::kProtocolVersion, "rude"});
    const std::string violations[] = {
        hello,                                          // a second hello
        proto::encode_frame(proto::Admin{"stop", {}}),  // admin inside a session
        frame_of(proto::MessageType::cancel, "\x01"),   // a malformed cancel
        raw_header(0x01020304, 1, 1, 0),                // garbage
        raw_header(proto::kFrameMagic, proto::kProtocolVersion, 4, 0x7fffffff),  // oversized
    };
    for (const std::string& violation : violations) {
        UniqueFd fd = connect_to(pool_->control_socket());
        send_raw(fd.get(), hello);
        UniqueFd doorbell;
        auto welcome = receive_frame(fd.get(), 5000, &doorbell);
        ASSERT_TRUE(welcome && welcome.value() &&
                    welcome.value()->type == proto::MessageType::welcome);
        send_raw(fd.get(), violation);
        Ending ending = read_until_closed(fd.get(), 3s);
        EXPECT_TRUE(ending.closed) << "the daemon kept a session that broke the protocol";
        EXPECT_EQ(bystander.call<std::int64_t>("gcd", Pair{12, 18}), 6)
            << "another client's session suffered";
    }
    ASSERT_TRUE(testing::wait_until([&] { return pool_->status()["sessions"]["active"] == 1; }, 5s))
        << pool_->status().dump();
    expect_healthy();
}

TEST_F(BadInputTest, ManyIdleConnections) {
    std::vector<UniqueFd> idle;
    for (int i = 0; i < 200; ++i) idle.push_back(connect_to(pool_->control_socket()));
    expect_healthy();
    idle.clear();
    expect_healthy();
}

TEST_F(BadInputTest, StatusSocketGarbage) {
    {
        UniqueFd fd = connect_to(pool_->status_socket());
        send_raw(fd.get(), "please\n");
        Ending ending = read_until_closed(fd.get(), 3s);
        EXPECT_TRUE(ending.closed);
        EXPECT_NE(ending.received.find("\"error\""), std::string::npos) << ending.received;
    }
    {
        UniqueFd fd = connect_to(pool_->status_socket());
        send_raw(fd.get(), std::string("\x00\xff\x13\x37 binary\x00\n", 13));
        Ending ending = read_until_closed(fd.get(), 3s);
        EXPECT_TRUE(ending.closed);
        EXPECT_NE(ending.received.find("\"error\""), std::string::npos) << ending.received;
    }
    for (std::size_t size : {std::size_t{300}, std::size_t{1} << 20}) {
        SCOPED_TRACE(std::to_string(size) + " bytes with no newline");
        UniqueFd fd = connect_to(pool_->status_socket());
        send_raw(fd.get(), std::string(size, 'j'));
        Ending ending = read_until_closed(fd.get(), 3s);
        EXPECT_TRUE(ending.closed);
        EXPECT_LT(ending.after, 2s);
        EXPECT_EQ(ending.received, "");
    }
    {
        // Control-protocol frames on the status socket are just a bad request line.
        UniqueFd fd = connect_to(pool_->status_socket());
        send_raw(fd.get(), proto::encode_frame(proto::Admin{"stop", {}}) + "\n");
        EXPECT_TRUE(read_until_closed(fd.get(), 3s).closed);
    }
    expect_healthy();
}

TEST_F(BadInputTest, SilentConnectionsAreClosedAfterTheHelloTimeout) {
    // Every kind of stall at once, so the test waits for the 5 s timeout only once.
    const std::string hello = proto::encode_frame(proto::Hello{proto::kProtocolVersion, "stalled"});
    UniqueFd silent = connect_to(pool_->control_socket());
    UniqueFd half_header = connect_to(pool_->control_socket());
    send_raw(half_header.get(), hello.substr(0, 8));
    UniqueFd half_body = connect_to(pool_->control_socket());
    send_raw(half_body.get(), hello.substr(0, hello.size() - 2));
    UniqueFd status_silent = connect_to(pool_->status_socket());
    UniqueFd status_no_newline = connect_to(pool_->status_socket());
    send_raw(status_no_newline.get(), "json");

    const auto start = std::chrono::steady_clock::now();
    for (const UniqueFd* fd :
         {&silent, &half_header, &half_body, &status_silent, &status_no_newline}) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            start + 9s - std::chrono::steady_clock::now());
        Ending ending = read_until_closed(fd->get(), std::max(left, 1ms));
        const auto since_start = std::chrono::duration_cast<std::chrono::milliseconds>(
            std::chrono::steady_clock::now() - start);
        EXPECT_TRUE(ending.closed)
            << "connection " << fd->get() << " still open after " << since_start.count() << " ms";
        EXPECT_EQ(ending.received, "");
        EXPECT_GT(since_start, 4s) << "closed before the hello timeout";
    }
    expect_healthy();
}

// --- Peers that may not use the pool ------------------------------------------------------------

// Runs `probe` as nobody (gid: `gid`) with `supplementary` groups; returns what it returned.
std::string run_as_nobody(gid_t gid, const std::vector<gid_t>& supplementary,
                          const std::function<std::string()>& probe) {
    return testing::run_as(kNobody, gid, supplementary, probe);
}

std::string connect_errno(const std::string& path) {
    auto fd = connect_unix(path);
    if (fd) return "connected";
    return fd.error().errno_value == EACCES ? "EACCES" : fd.error().message();
}

std::string hello_answer(const std::string& path) {
    UniqueFd fd = connect_to(path);
    send_raw(fd.get(), proto::encode_frame(proto::Hello{proto::kProtocolVersion, "nobody"}));
    proto::Frame frame = expect_frame(fd.get());
    if (frame.type == proto::MessageType::welcome) return "welcome";
    auto refused = proto::decode<proto::Refused>(frame);
    if (!refused) return "unexpected frame";
    return "refused " + refused->kind + ": " + refused->message;
}

std::string admin_answer(const std::string& path, const std::string& command) {
    UniqueFd fd = connect_to(path);
    send_raw(fd.get(), proto::encode_frame(proto::Admin{command, {}}));
    auto reply = proto::decode<proto::AdminReply>(expect_frame(fd.get()));
    if (!reply) return "unexpected frame";
    return std::string(reply->ok ? "ok: " : "denied: ") + reply->message;
}

class ForeignPeerTest : public BadInputTest {
protected:
    void SetUp() override {
        if (::geteuid() != 0) GTEST_SKIP() << "needs root to act as another user";
        group* g = ::getgrnam("daemon");
        if (g == nullptr) GTEST_SKIP() << "needs a group 'daemon'";
        socket_group_ = g->gr_gid;
        BadInputTest::SetUp();
        // mkdtemp made the directory 0700; let nobody reach the sockets inside.
        ASSERT_EQ(::chmod(pool_->runtime_dir().c_str(), 0755), 0);
    }
    // The sockets belong to group "daemon" (mode 0660), which nobody is not a member of.
    TestPool::Options options() const override {
        return TestPool::Options{.workers = 2, .extra_args = {"--group", "daemon"}};
    }
    gid_t socket_group_ = 0;
};

TEST_F(ForeignPeerTest, NobodyCannotEvenConnect) {
    struct stat st {};
    ASSERT_EQ(::stat(pool_->control_socket().c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0660u);
    EXPECT_EQ(st.st_gid, socket_group_);
    EXPECT_EQ(run_as_nobody(kNobody, {}, [&] { return connect_errno(pool_->control_socket()); }),
              "EACCES");
    EXPECT_EQ(run_as_nobody(kNobody, {}, [&] { return connect_errno(pool_->status_socket()); }),
              "EACCES");
    expect_healthy();
}

TEST_F(ForeignPeerTest, TheGroupsThePeerHoldsDecideNotTheUserDatabase) {
    // The daemon asks the socket which groups the peer holds (SO_PEERGROUPS), never the user
    // database: holding the socket's group as a supplementary group (nobody is not a member of
    // it in /etc/group) is membership, as it is for every other access check of the kernel.
    const std::string answer = run_as_nobody(kNobody, {socket_group_},
                                             [&] { return hello_answer(pool_->control_socket()); });
    EXPECT_EQ(answer, "welcome");
    expect_healthy();
}

TEST_F(ForeignPeerTest, ANonAdminCannotStopThePool) {
    const std::string answer = run_as_nobody(
        kNobody, {socket_group_}, [&] { return admin_answer(pool_->control_socket(), "stop"); });
    EXPECT_EQ(answer.rfind("denied: ", 0), 0u) << answer;
    std::this_thread::sleep_for(300ms);  // a stop, if wrongly obeyed, would show by now
    expect_healthy();
}

TEST_F(ForeignPeerTest, AMemberOfTheSocketGroupIsServed) {
    // nobody with the pool's --group as its primary group is an allowed peer.
    const std::string answer = run_as_nobody(socket_group_, {}, [&] {
        Client::Options options;
        options.runtime_dir = pool_->runtime_dir();
        Client client = Client::connect(pool_->name(), options);
        return std::to_string(client.call<std::int64_t>("gcd", Pair{12, 18}));
    });
    EXPECT_EQ(answer, "6");
    expect_healthy();
}

// --- Bugs found by these tests, reported and not yet fixed
// ----------------------------------------

std::int64_t peak_rss_kib(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    std::string key;
    while (in >> key) {
        if (key == "VmHWM:") {
            std::int64_t kib = 0;
            in >> kib;
            return kib;
        }
        in.ignore(1 << 16, '\n');
    }
    return -1;
}

// A 40-byte Hello that claims a 1 GiB client name must be refused at once: trusting the length
// prefix would make the supervisor allocate and zero 1 GiB (seconds during which its single event
// loop serves nobody), and this happens before the permission check, so anyone could do it.
TEST_F(BadInputTest, HelloClaimingAHugeNameDoesNotMakeTheDaemonAllocateIt) {
    const std::int64_t before = peak_rss_kib(pid_);
    UniqueFd fd = connect_to(pool_->control_socket());
    const auto start = std::chrono::steady_clock::now();
    send_raw(fd.get(),
             frame_of(proto::MessageType::hello,
                      le_bytes<std::uint32_t>(1) + le_bytes<std::uint64_t>(1ull << 30) + "abc"));
    proto::Refused refused = expect_refused(fd.get());
    const auto took = std::chrono::steady_clock::now() - start;
    EXPECT_EQ(refused.kind, "bad_request");
    EXPECT_LT(took, 500ms);
    EXPECT_LT(peak_rss_kib(pid_) - before, 64 * 1024) << "peak RSS grew from " << before << " KiB";
    expect_healthy();
}

}  // namespace
}  // namespace warmpool
