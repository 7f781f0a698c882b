// Tests for the control-socket wire format (protocol.hpp) and its socket transport
// (unix_socket.hpp): every message round-trips, FrameReader copes with any split of the stream
// and rejects what is not a warmpool stream, malformed bodies are errors (never exceptions),
// and frames travel over a real socket pair with a passed descriptor and a receive timeout.

#include "warmpool/common/protocol.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "child_process.hpp"
#include "decode_probe.hpp"
#include "warmpool/common/unique_fd.hpp"
#include "warmpool/common/unix_socket.hpp"

namespace warmpool::protocol {
namespace {

using namespace std::string_literals;
using test::max_rss_kib;
using test::u64_bytes;

// ---------------------------------------------------------------------------------------------
// Helpers

Hello sample_hello() { return Hello{kProtocolVersion, "client \xc3\xa9\0x"s}; }

Welcome sample_welcome() {
    Welcome w;
    w.session_slot = 4095;
    w.session_generation = 0xfedcba9876543210ULL;
    w.pool_name = "pool";
    w.supervisor_pid = -12345;
    w.worker_slots = 64;
    w.submit_ring_bytes = 1ull << 20;
    w.control_ring_bytes = 1ull << 16;
    w.reply_ring_bytes = 1ull << 30;
    w.inline_max = 65536;
    return w;
}

Refused sample_refused() { return Refused{"overloaded", std::string(1000, 'm')}; }
Cancel sample_cancel() { return Cancel{std::numeric_limits<std::uint64_t>::max(), true}; }
Admin sample_admin() { return Admin{"reload", {"", "a", std::string(300, 'z'), "\0\1"s}}; }
AdminReply sample_admin_reply() { return AdminReply{true, ""}; }

void expect_same(const Hello& a, const Hello& b) {
    EXPECT_EQ(a.protocol_version, b.protocol_version);
    EXPECT_EQ(a.client_name, b.client_name);
}
void expect_same(const Welcome& a, const Welcome& b) {
    EXPECT_EQ(a.session_slot, b.session_slot);
    EXPECT_EQ(a.session_generation, b.session_generation);
    EXPECT_EQ(a.pool_name, b.pool_name);
    EXPECT_EQ(a.supervisor_pid, b.supervisor_pid);
    EXPECT_EQ(a.worker_slots, b.worker_slots);
    EXPECT_EQ(a.submit_ring_bytes, b.submit_ring_bytes);
    EXPECT_EQ(a.control_ring_bytes, b.control_ring_bytes);
    EXPECT_EQ(a.reply_ring_bytes, b.reply_ring_bytes);
    EXPECT_EQ(a.inline_max, b.inline_max);
}
void expect_same(const Refused& a, const Refused& b) {
    EXPECT_EQ(a.kind, b.kind);
    EXPECT_EQ(a.message, b.message);
}
void expect_same(const Cancel& a, const Cancel& b) {
    EXPECT_EQ(a.job_id, b.job_id);
    EXPECT_EQ(a.force, b.force);
}
void expect_same(const Admin& a, const Admin& b) {
    EXPECT_EQ(a.command, b.command);
    EXPECT_EQ(a.arguments, b.arguments);
}
void expect_same(const AdminReply& a, const AdminReply& b) {
    EXPECT_EQ(a.ok, b.ok);
    EXPECT_EQ(a.message, b.message);
}
void expect_same(const Goodbye&, const Goodbye&) {}

FrameHeader header_of(const std::string& frame) {
    FrameHeader header;
    std::memcpy(&header, frame.data(), sizeof header);
    return header;
}

std::string raw_header(std::uint32_t magic, std::uint16_t version, std::uint16_t type,
                       std::uint32_t length) {
    FrameHeader header{magic, version, type, length, 0};
    return std::string(reinterpret_cast<const char*>(&header), sizeof header);
}

// Every frame kind in one stream, and a check of each decoded frame against its sample.
std::string all_frames() {
    return encode_frame(sample_hello()) + encode_frame(sample_welcome()) +
           encode_frame(sample_refused()) + encode_frame(sample_cancel()) +
           encode_frame(sample_admin()) + encode_frame(sample_admin_reply()) +
           encode_frame(Goodbye{});
}

template <class T>
void expect_decodes_to(const Frame& frame, const T& expected) {
    ASSERT_EQ(frame.type, type_of<T>());
    auto decoded = decode<T>(frame);
    ASSERT_TRUE(decoded.ok()) << decoded.error().message();
    expect_same(decoded.value(), expected);
}

void expect_all_frames(const std::vector<Frame>& frames) {
    ASSERT_EQ(frames.size(), 7u);
    expect_decodes_to(frames[0], sample_hello());
    expect_decodes_to(frames[1], sample_welcome());
    expect_decodes_to(frames[2], sample_refused());
    expect_decodes_to(frames[3], sample_cancel());
    expect_decodes_to(frames[4], sample_admin());
    expect_decodes_to(frames[5], sample_admin_reply());
    expect_decodes_to(frames[6], Goodbye{});
}

// Decoding must give a value or an error; it must never throw.
template <class T>
bool decodes(const std::string& body) {
    try {
        return decode<T>(Frame{type_of<T>(), body}).ok();
    } catch (...) {
        ADD_FAILURE() << "decode threw";
        return false;
    }
}

// ---------------------------------------------------------------------------------------------
// Encoding and decoding

template <class T>
void round_trip(const T& message) {
    const std::string frame = encode_frame(message);
    const FrameHeader header = header_of(frame);
    EXPECT_EQ(header.magic, kFrameMagic);
    EXPECT_EQ(header.version, kProtocolVersion);
    EXPECT_EQ(header.type, static_cast<std::uint16_t>(type_of<T>()));
    EXPECT_EQ(header.length, frame.size() - sizeof(FrameHeader));
    EXPECT_EQ(header.reserved, 0u);
    EXPECT_EQ(frame.substr(sizeof(FrameHeader)), encode_body(message));

    FrameReader reader;
    reader.feed(frame.data(), frame.size());
    auto next = reader.next();
    ASSERT_TRUE(next.ok()) << next.error().message();
    ASSERT_TRUE(next.value().has_value());
    expect_decodes_to(*next.value(), message);
    EXPECT_EQ(reader.buffered(), 0u);
}

TEST(Protocol, EveryMessageTypeRoundTrips) {
    round_trip(sample_hello());
    round_trip(sample_welcome());
    round_trip(sample_refused());
    round_trip(sample_cancel());
    round_trip(sample_admin());
    round_trip(sample_admin_reply());
    round_trip(Goodbye{});
    // Defaults and empty values too.
    round_trip(Hello{});
    round_trip(Welcome{});
    round_trip(Refused{});
    round_trip(Cancel{});
    round_trip(Admin{});
    round_trip(AdminReply{});
    EXPECT_TRUE(encode_body(Goodbye{}).empty());
}

TEST(Protocol, MessageTypesAreDistinctAndStable) {
    // The numbers travel on the wire: they must never change.
    EXPECT_EQ(static_cast<int>(type_of<Hello>()), 1);
    EXPECT_EQ(static_cast<int>(type_of<Welcome>()), 2);
    EXPECT_EQ(static_cast<int>(type_of<Refused>()), 3);
    EXPECT_EQ(static_cast<int>(type_of<Cancel>()), 4);
    EXPECT_EQ(static_cast<int>(type_of<Admin>()), 5);
    EXPECT_EQ(static_cast<int>(type_of<AdminReply>()), 6);
    EXPECT_EQ(static_cast<int>(type_of<Goodbye>()), 7);
    EXPECT_EQ(header_of(encode_frame(Goodbye{})).magic, 0x31435057u);
}

TEST(Protocol, FrameReaderFedOneByteAtATimeYieldsEachFrameWhenComplete) {
    const std::string stream = all_frames();
    std::vector<std::size_t> frame_ends;  // offsets just past each frame
    for (std::size_t at = 0; at < stream.size();) {
        at += sizeof(FrameHeader) + header_of(stream.substr(at, sizeof(FrameHeader))).length;
        frame_ends.push_back(at);
    }
    FrameReader reader;
    std::vector<Frame> frames;
    for (std::size_t i = 0; i < stream.size(); ++i) {
        reader.feed(&stream[i], 1);
        auto next = reader.next();
        ASSERT_TRUE(next.ok()) << next.error().message();
        const bool complete =
            frames.size() < frame_ends.size() && i + 1 == frame_ends[frames.size()];
        ASSERT_EQ(next.value().has_value(), complete) << "after byte " << i;
        if (complete) {
            frames.push_back(std::move(*next.value()));
            auto none = reader.next();
            ASSERT_TRUE(none.ok());
            EXPECT_FALSE(none.value().has_value());
        }
    }
    EXPECT_EQ(reader.buffered(), 0u);
    expect_all_frames(frames);
}

TEST(Protocol, FrameReaderHandlesManyFramesInOneFeedAndRandomSplits) {
    const std::string stream = all_frames() + all_frames();
    {
        FrameReader reader;
        reader.feed(stream.data(), stream.size());
        std::vector<Frame> frames;
        for (;;) {
            auto next = reader.next();
            ASSERT_TRUE(next.ok());
            if (!next.value()) break;
            frames.push_back(std::move(*next.value()));
        }
        ASSERT_EQ(frames.size(), 14u);
        expect_all_frames(std::vector<Frame>(frames.begin(), frames.begin() + 7));
        expect_all_frames(std::vector<Frame>(frames.begin() + 7, frames.end()));
    }
    std::mt19937 rng(99);
    for (int trial = 0; trial < 50; ++trial) {
        FrameReader reader;
        std::vector<Frame> frames;
        for (std::size_t at = 0; at < stream.size();) {
            const std::size_t n = std::min<std::size_t>(stream.size() - at, 1 + rng() % 200);
            reader.feed(stream.data() + at, n);
            at += n;
            for (;;) {
                auto next = reader.next();
                ASSERT_TRUE(next.ok());
                if (!next.value()) break;
                frames.push_back(std::move(*next.value()));
            }
        }
        ASSERT_EQ(frames.size(), 14u) << "trial " << trial;
        expect_all_frames(std::vector<Frame>(frames.begin() + 7, frames.end()));
    }
}

TEST(Protocol, FrameReaderRejectsBadMagicBadVersionAndOversizedLength) {
    struct Case {
        const char* what;
        std::string header;
    };
    const Case cases[] = {
        {"bad magic", raw_header(0x31435058, kProtocolVersion, 1, 0)},
        {"byte-swapped magic", raw_header(0x57504331, kProtocolVersion, 1, 0)},
        {"HTTP", "GET / HTTP/1.1\r\n"},
        {"version 0", raw_header(kFrameMagic, 0, 1, 0)},
        {"version 1 (names, no descriptors)", raw_header(kFrameMagic, 1, 1, 0)},
        {"version 3", raw_header(kFrameMagic, 3, 1, 0)},
        {"length over the limit", raw_header(kFrameMagic, kProtocolVersion, 1, kMaxFrameBody + 1)},
        {"length 4 GiB", raw_header(kFrameMagic, kProtocolVersion, 1, 0xffffffffu)},
    };
    for (const Case& c : cases) {
        ASSERT_EQ(c.header.size(), sizeof(FrameHeader)) << c.what;
        FrameReader reader;
        reader.feed(c.header.data(), c.header.size() - 1);
        auto early = reader.next();
        ASSERT_TRUE(early.ok()) << c.what << ": judged before the header is complete";
        EXPECT_FALSE(early.value().has_value());
        reader.feed(c.header.data() + c.header.size() - 1, 1);
        auto next = reader.next();  // an error from the header alone: no body needed
        ASSERT_FALSE(next.ok()) << c.what;
        EXPECT_EQ(next.error().code, SysError::Code::protocol) << c.what;
    }
}

TEST(Protocol, FrameOfExactlyTheMaximumLengthIsAccepted) {
    const std::string body(kMaxFrameBody, 'x');
    const std::string frame = raw_header(kFrameMagic, kProtocolVersion, 99, kMaxFrameBody) + body;
    FrameReader reader;
    reader.feed(frame.data(), frame.size() - 1);
    auto partial = reader.next();
    ASSERT_TRUE(partial.ok());
    EXPECT_FALSE(partial.value().has_value());
    reader.feed(frame.data() + frame.size() - 1, 1);
    auto next = reader.next();
    ASSERT_TRUE(next.ok());
    ASSERT_TRUE(next.value().has_value());
    EXPECT_EQ(static_cast<int>(next.value()->type), 99)
        << "unknown types are for the caller to judge";
    EXPECT_EQ(next.value()->body, body);
}

TEST(Protocol, DecodeWithTheWrongTypeIsAnError) {
    const Frame cancel{MessageType::cancel, encode_body(sample_cancel())};
    auto as_hello = decode<Hello>(cancel);
    ASSERT_FALSE(as_hello.ok());
    EXPECT_EQ(as_hello.error().code, SysError::Code::protocol);
    EXPECT_FALSE(decode<Goodbye>(cancel).ok());
    EXPECT_FALSE(decode<Cancel>(Frame{static_cast<MessageType>(0), cancel.body}).ok());
    EXPECT_FALSE(decode<Cancel>(Frame{static_cast<MessageType>(999), cancel.body}).ok());
    EXPECT_TRUE(decode<Cancel>(cancel).ok());
}

TEST(Protocol, TrailingBytesAreAnError) {
    EXPECT_FALSE(decodes<Hello>(encode_body(sample_hello()) + "x"));
    EXPECT_FALSE(decodes<Welcome>(encode_body(sample_welcome()) + "\0"s));
    EXPECT_FALSE(decodes<Refused>(encode_body(sample_refused()) + "xyz"));
    EXPECT_FALSE(decodes<Cancel>(encode_body(sample_cancel()) + "\0"s));
    EXPECT_FALSE(decodes<Admin>(encode_body(sample_admin()) + std::string(100, '\0')));
    EXPECT_FALSE(decodes<AdminReply>(encode_body(sample_admin_reply()) + "1"));
    EXPECT_FALSE(decodes<Goodbye>("\0"s));
    auto result = decode<Goodbye>(Frame{MessageType::goodbye, "junk"});
    ASSERT_FALSE(result.ok());
    EXPECT_EQ(result.error().code, SysError::Code::protocol);
}

template <class T>
void expect_every_prefix_rejected(const T& message) {
    const std::string body = encode_body(message);
    ASSERT_TRUE(decodes<T>(body));
    for (std::size_t n = 0; n < body.size(); ++n) {
        EXPECT_FALSE(decodes<T>(body.substr(0, n))) << "prefix of " << n << " of " << body.size();
    }
}

TEST(Protocol, TruncatedBodiesAreErrors) {
    expect_every_prefix_rejected(sample_hello());
    expect_every_prefix_rejected(sample_welcome());
    expect_every_prefix_rejected(sample_refused());
    expect_every_prefix_rejected(sample_cancel());
    expect_every_prefix_rejected(sample_admin());
    expect_every_prefix_rejected(sample_admin_reply());
    expect_every_prefix_rejected(Hello{});
    expect_every_prefix_rejected(Admin{});
}

// Garbage shaped like a message: every byte of every field is random and lengths often lie, the
// way a confused peer might write. Only a length that no other length follows may lie, so the
// rest of the message stays parseable and both outcomes occur; huge lying lengths have a test
// of their own (HostileLengthsAreErrorsWithoutHugeAllocations).
class GarbageWriter {
public:
    explicit GarbageWriter(std::mt19937_64& rng) : rng_(rng) {}
    void u32() { bytes(4); }
    void u64() { bytes(8); }
    void boolean() { out_ += static_cast<char>(rng_() % 2); }
    void string(bool may_lie) {
        const std::uint64_t actual = rng_() % 40;
        length(actual, may_lie);
        bytes(actual);
    }
    // A vector<string>: either its count or its last element's length may lie, not both.
    void strings(bool may_lie) {
        const std::uint64_t count = rng_() % 5;
        const bool count_lies = may_lie && rng_() % 2 == 0;
        length(count, count_lies);
        for (std::uint64_t i = 0; i < count; ++i) string(may_lie && !count_lies && i + 1 == count);
    }
    // Sometimes cut short, sometimes one byte too long.
    std::string finish() {
        switch (rng_() % 4) {
            case 0:
                return out_.substr(0, out_.empty() ? 0 : rng_() % out_.size());
            case 1:
                out_ += static_cast<char>(rng_());
                return out_;
            default:
                return out_;
        }
    }

private:
    void bytes(std::uint64_t n) {
        for (std::uint64_t i = 0; i < n; ++i) out_ += static_cast<char>(rng_());
    }
    void length(std::uint64_t actual, bool may_lie) {
        std::uint64_t declared = actual;
        if (may_lie) {
            switch (rng_() % 4) {
                case 0:
                    declared = actual + rng_() % 8;
                    break;
                case 1:
                    declared = actual >= 3 ? actual - rng_() % 4 : actual;
                    break;
                case 2:
                    declared = rng_() % 300;
                    break;
                default:
                    break;
            }
        }
        out_.append(reinterpret_cast<const char*>(&declared), sizeof declared);
    }
    std::mt19937_64& rng_;
    std::string out_;
};

template <class T>
void expect_garbage_handled(const std::string& body, int* accepted) {
    std::optional<Result<T>> result;
    try {
        result.emplace(decode<T>(Frame{type_of<T>(), body}));
    } catch (...) {
        FAIL() << "decode threw on a body of " << body.size() << " bytes";
    }
    if (!result->ok()) {
        EXPECT_EQ(result->error().code, SysError::Code::protocol);
        return;
    }
    // Accepted only if the body is exactly the message's encoding: nothing skipped or left over.
    EXPECT_EQ(encode_body(result->value()), body);
    ++*accepted;
}

TEST(Protocol, GarbageBodiesAreErrorsNeverExceptions) {
    std::mt19937_64 rng(2024);
    int accepted = 0, total = 0;
    for (int trial = 0; trial < 4000; ++trial) {
        {
            GarbageWriter g(rng);
            g.u32();
            g.string(true);
            expect_garbage_handled<Hello>(g.finish(), &accepted);
        }
        {
            GarbageWriter g(rng);
            g.u32(), g.u64(), g.string(false), g.string(true);  // slot .. pool_name
            g.u32(), g.u32(), g.u32(), g.u32(), g.u32();        // owner_uid .. worker_slots
            g.u64(), g.u64(), g.u64(), g.u32();                 // ring sizes, inline_max
            expect_garbage_handled<Welcome>(g.finish(), &accepted);
        }
        {
            GarbageWriter g(rng);
            g.string(false), g.string(true);
            expect_garbage_handled<Refused>(g.finish(), &accepted);
        }
        {
            GarbageWriter g(rng);
            g.u64(), g.boolean();
            expect_garbage_handled<Cancel>(g.finish(), &accepted);
        }
        {
            GarbageWriter g(rng);
            g.string(false), g.strings(true);
            expect_garbage_handled<Admin>(g.finish(), &accepted);
        }
        {
            GarbageWriter g(rng);
            g.boolean(), g.string(true);
            expect_garbage_handled<AdminReply>(g.finish(), &accepted);
        }
        {
            std::string junk(rng() % 64, '\0');
            for (char& c : junk) c = static_cast<char>(rng());
            expect_garbage_handled<Goodbye>(junk, &accepted);
        }
        total += 7;
    }
    // Both outcomes occurred often: the garbage was neither always fine nor always rejected.
    EXPECT_GT(accepted, total / 10);
    EXPECT_LT(accepted, total * 9 / 10);
}

// Runs `body` in a child process and returns its exit code (-2 if it died of a signal), so that
// a crash or an allocation failure in the code under test fails one test, not the whole binary.
template <class Body>
int in_child(Body body) {
    return testing::Child::start(std::move(body)).exit_code(std::chrono::seconds(60));
}

// Cereal's own binary archive resizes a string or vector to the length the peer wrote before
// reading it, so a 20-byte Hello claiming a 1 GiB client_name would allocate and zero 1 GiB, and
// a length of 2^40 aborts a sanitizer build. A body is at most kMaxFrameBody bytes, so no length
// beyond what is left of it can be valid; decode must say so without allocating.
TEST(Protocol, HostileLengthsAreErrorsWithoutHugeAllocations) {
    const std::uint32_t version = kProtocolVersion;
    const std::string version_bytes(reinterpret_cast<const char*>(&version), sizeof version);
    for (std::uint64_t length : {std::uint64_t{1} << 28, std::uint64_t{1} << 40,
                                 std::uint64_t{1} << 50, std::uint64_t{1} << 63}) {
        const int rc = in_child([&] {
#if !defined(__SANITIZE_ADDRESS__)
            // Whatever the decoder does, it must not take the machine down with it.
            const rlimit cap{std::uint64_t{4} << 30, std::uint64_t{4} << 30};
            ::setrlimit(RLIMIT_AS, &cap);
#endif
            const long before = max_rss_kib();
            // Each claims `length` bytes and brings three.
            const std::string hello = version_bytes + u64_bytes(length) + "abc";
            const std::string refused = u64_bytes(length) + "abc";
            if (decode<Hello>(Frame{MessageType::hello, hello}).ok()) return 11;
            if (decode<Refused>(Frame{MessageType::refused, refused}).ok()) return 12;
            if (length >= std::uint64_t{1} << 40) {  // as many strings: terabytes
                const std::string admin = u64_bytes(0) + u64_bytes(length) + "abc";
                if (decode<Admin>(Frame{MessageType::admin, admin}).ok()) return 13;
            }
            return max_rss_kib() - before > 64 * 1024 ? 14 : 0;
        });
        EXPECT_EQ(rc, 0)
            << "length " << length
            << " (11-13: accepted; 14: the decoder allocated over 64 MiB; -2: killed by a"
               " signal; 1: a sanitizer aborted)";
    }
}

// Read as a raw byte, a `force` byte of 2 would make a bool holding neither true nor false
// (undefined behaviour on every later read; UBSan aborts).
TEST(Protocol, BoolBytesOtherThanZeroOrOneAreErrors) {
    const int rc = in_child([] {
        std::string body = encode_body(Cancel{7, true});
        body.back() = '\x02';
        if (decode<Cancel>(Frame{MessageType::cancel, body}).ok()) return 1;
        std::string reply = encode_body(AdminReply{true, "m"});
        reply.front() = '\xff';
        if (decode<AdminReply>(Frame{MessageType::admin_reply, reply}).ok()) return 2;
        return 0;
    });
    EXPECT_EQ(rc, 0);
}

// ---------------------------------------------------------------------------------------------
// Over a socket

struct SocketPair {
    SocketPair() {
        int fds[2];
        if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0) {
            a.reset(fds[0]);
            b.reset(fds[1]);
        }
    }
    UniqueFd a, b;
};

TEST(ProtocolSocket, SendMessageAndReceiveFrameCarryEveryMessage) {
    SocketPair pair;
    ASSERT_TRUE(pair.a.valid());
    ASSERT_TRUE(send_message(pair.a.get(), sample_hello()).ok());
    ASSERT_TRUE(send_message(pair.a.get(), sample_welcome()).ok());
    ASSERT_TRUE(send_message(pair.a.get(), sample_refused()).ok());
    ASSERT_TRUE(send_message(pair.a.get(), sample_cancel()).ok());
    ASSERT_TRUE(send_message(pair.a.get(), sample_admin()).ok());
    ASSERT_TRUE(send_message(pair.a.get(), sample_admin_reply()).ok());
    ASSERT_TRUE(send_message(pair.a.get(), Goodbye{}).ok());
    std::vector<Frame> frames;
    for (int i = 0; i < 7; ++i) {
        auto frame = receive_frame(pair.b.get(), 1000);
        ASSERT_TRUE(frame.ok()) << frame.error().message();
        ASSERT_TRUE(frame.value().has_value());
        frames.push_back(std::move(*frame.value()));
    }
    expect_all_frames(frames);

    pair.a.reset();  // the peer goes away: nullopt, not an error
    auto closed = receive_frame(pair.b.get(), 1000);
    ASSERT_TRUE(closed.ok()) << closed.error().message();
    EXPECT_FALSE(closed.value().has_value());
}

TEST(ProtocolSocket, EventfdPassedWithAFrameArrivesCloseOnExecAndWorks) {
    SocketPair pair;
    ASSERT_TRUE(pair.a.valid());
    UniqueFd efd(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
    ASSERT_TRUE(efd.valid());
    ASSERT_TRUE(send_message(pair.a.get(), sample_welcome(), efd.get()).ok());
    ASSERT_TRUE(send_message(pair.a.get(), sample_cancel()).ok());  // no descriptor with this one

    UniqueFd received;
    auto frame = receive_frame(pair.b.get(), 1000, &received);
    ASSERT_TRUE(frame.ok()) << frame.error().message();
    ASSERT_TRUE(frame.value().has_value());
    expect_decodes_to(*frame.value(), sample_welcome());
    ASSERT_TRUE(received.valid());
    EXPECT_NE(received.get(), efd.get());
    EXPECT_NE(::fcntl(received.get(), F_GETFD) & FD_CLOEXEC, 0);

    // The same eventfd: a write through the received descriptor is read from the original.
    const std::uint64_t seven = 7;
    ASSERT_EQ(::write(received.get(), &seven, sizeof seven), static_cast<ssize_t>(sizeof seven));
    std::uint64_t value = 0;
    ASSERT_EQ(::read(efd.get(), &value, sizeof value), static_cast<ssize_t>(sizeof value));
    EXPECT_EQ(value, 7u);

    UniqueFd none;
    auto second = receive_frame(pair.b.get(), 1000, &none);
    ASSERT_TRUE(second.ok());
    ASSERT_TRUE(second.value().has_value());
    expect_decodes_to(*second.value(), sample_cancel());
    EXPECT_FALSE(none.valid());
}

TEST(ProtocolSocket, ReceiveTimesOutWhenNothingOrOnlyPartOfAFrameArrives) {
    SocketPair pair;
    ASSERT_TRUE(pair.a.valid());
    auto start = std::chrono::steady_clock::now();
    auto nothing = receive_frame(pair.b.get(), 100);
    auto waited = std::chrono::steady_clock::now() - start;
    ASSERT_FALSE(nothing.ok());
    EXPECT_GE(waited, std::chrono::milliseconds(90));
    EXPECT_LT(waited, std::chrono::milliseconds(2000));

    const std::string frame = encode_frame(sample_refused());
    ASSERT_EQ(::write(pair.a.get(), frame.data(), 20), 20);  // header and 4 body bytes
    start = std::chrono::steady_clock::now();
    auto partial = receive_frame(pair.b.get(), 100);
    waited = std::chrono::steady_clock::now() - start;
    ASSERT_FALSE(partial.ok());
    EXPECT_GE(waited, std::chrono::milliseconds(90));
    EXPECT_LT(waited, std::chrono::milliseconds(2000));
}

TEST(ProtocolSocket, MalformedOrCutStreamsAreErrors) {
    {
        SocketPair pair;
        ASSERT_TRUE(pair.a.valid());
        const std::string junk = raw_header(0xdeadbeef, kProtocolVersion, 1, 0);
        ASSERT_EQ(::write(pair.a.get(), junk.data(), junk.size()),
                  static_cast<ssize_t>(junk.size()));
        auto frame = receive_frame(pair.b.get(), 1000);
        ASSERT_FALSE(frame.ok());
        EXPECT_EQ(frame.error().code, SysError::Code::protocol);
    }
    {
        SocketPair pair;
        ASSERT_TRUE(pair.a.valid());
        const std::string huge = raw_header(kFrameMagic, kProtocolVersion, 1, kMaxFrameBody + 1);
        ASSERT_EQ(::write(pair.a.get(), huge.data(), huge.size()),
                  static_cast<ssize_t>(huge.size()));
        auto frame = receive_frame(pair.b.get(), 1000);
        ASSERT_FALSE(frame.ok());
        EXPECT_EQ(frame.error().code, SysError::Code::protocol);
    }
    {
        SocketPair pair;
        ASSERT_TRUE(pair.a.valid());
        const std::string frame = encode_frame(sample_admin());
        ASSERT_EQ(::write(pair.a.get(), frame.data(), frame.size() - 1),
                  static_cast<ssize_t>(frame.size() - 1));
        pair.a.reset();  // closed in the middle of the body
        auto cut = receive_frame(pair.b.get(), 1000);
        ASSERT_FALSE(cut.ok());
        EXPECT_EQ(cut.error().code, SysError::Code::protocol);
    }
}

TEST(ProtocolSocket, LargestFrameCrossesASocketIntact) {
    SocketPair pair;
    ASSERT_TRUE(pair.a.valid());
    Refused big;
    big.kind = "bad_request";
    big.message = std::string(kMaxFrameBody - 64, 'q');
    const std::size_t body = encode_body(big).size();
    ASSERT_LE(body, kMaxFrameBody);
    // The frame may exceed the socket buffer: write it from another process while we read.
    testing::Child writer = testing::Child::start([&] { return send_message(pair.a.get(), big).ok() ? 0 : 1; });
    auto frame = receive_frame(pair.b.get(), 5000);
    const std::optional<int> status = writer.wait(std::chrono::seconds(5));
    ASSERT_TRUE(status.has_value()) << "the writer did not finish";
    EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0);
    ASSERT_TRUE(frame.ok()) << frame.error().message();
    ASSERT_TRUE(frame.value().has_value());
    expect_decodes_to(*frame.value(), big);
}

}  // namespace
}  // namespace warmpool::protocol
