// Large payloads against a real warmpoold: blobs reused on both sides, results read in place
// (warmpool::Bytes), and what happens to blobs when clients and workers die, lie, or shrink them.
//
// Each test checks bytes end to end (echo), and the shared-memory objects left in /dev/shm:
// a session's blobs may stay while it lives (they are reused), never after it ended; a dead
// worker's result blobs go when it is reaped.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <optional>
#include <random>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "expect_job_error.hpp"
#include "jobs/example_types.hpp"
#include "test_pool.hpp"
#include "warmpool/bytes.hpp"
#include "warmpool/client.hpp"
#include "warmpool/common/byte_ring.hpp"
#include "warmpool/common/protocol.hpp"
#include "warmpool/common/shared_segment.hpp"
#include "warmpool/common/shm_layout.hpp"
#include "warmpool/common/unix_socket.hpp"

namespace warmpool {
namespace {

using examples::SleepReport;
using testing::TestPool;
using testing::expect_job_error;
using testing::wait_until;
using Pair = std::pair<std::int64_t, std::int64_t>;
using namespace std::chrono_literals;

constexpr std::size_t kMiB = std::size_t{1} << 20;

std::string random_bytes(std::size_t size, std::uint64_t seed) {
    std::string bytes(size, '\0');
    std::mt19937_64 rng(seed);
    std::size_t i = 0;
    for (; i + 8 <= size; i += 8) {
        const std::uint64_t word = rng();
        std::memcpy(bytes.data() + i, &word, 8);
    }
    for (; i < size; ++i) bytes[i] = static_cast<char>(rng());
    return bytes;
}

void expect_serving(Client& client) {
    EXPECT_EQ(client.call<std::int64_t>("gcd", Pair{12, 18}), 6);
    const std::string big = random_bytes(3 * kMiB, 99);
    EXPECT_TRUE(client.call<Bytes>("echo", big) == big);
}

// Objects of the pool whose names contain `part`.
std::vector<std::string> shm_with(const TestPool& pool, const std::string& part) {
    std::vector<std::string> found;
    for (const auto& name : pool.leftover_shm()) {
        if (name.find(part) != std::string::npos) found.push_back(name);
    }
    return found;
}

// Objects of the pool that are blobs of the given shape, by the names shm_layout.hpp documents:
// "….b<16 hex digits>.a<object>" for arguments, "….b<16 hex digits>.r<pid>.<object>" for
// results. Matching whole names matters: a session segment's random token may contain ".a" or ".b".
std::vector<std::string> blobs_matching(const TestPool& pool, const std::string& tail) {
    const std::regex shape(R"(.*\.b[0-9a-f]{16}\.)" + tail);
    std::vector<std::string> found;
    for (const auto& name : pool.leftover_shm()) {
        if (std::regex_match(name, shape)) found.push_back(name);
    }
    return found;
}
std::vector<std::string> argument_blobs(const TestPool& pool) { return blobs_matching(pool, R"(a[0-9]+)"); }
std::vector<std::string> result_blobs(const TestPool& pool, const std::string& pid = "[0-9]+") {
    return blobs_matching(pool, "r" + pid + R"(\.[0-9]+)");
}
// Blob objects of the pool (arguments and results of every session).
std::vector<std::string> blobs_of(const TestPool& pool) {
    return blobs_matching(pool, R"((a[0-9]+|r[0-9]+\.[0-9]+))");
}

// The part of a blob's name that names its session: "….b<16 hex digits>.", from the start.
std::string session_prefix_of(const std::string& blob) {
    std::smatch found;
    if (!std::regex_search(blob, found, std::regex(R"(\.b[0-9a-f]{16}\.)"))) return blob;
    return blob.substr(0, static_cast<std::size_t>(found.position(0) + found.length(0)));
}

// Resizes a blob object behind the back of whoever maps it, as its owner may.
void resize_object(const std::string& name, std::size_t bytes) {
    ASSERT_EQ(::truncate(("/dev/shm/" + name).c_str(), static_cast<off_t>(bytes)), 0)
        << name << ": " << std::strerror(errno);
}

// Jobs of the pool that ended in worker_crashed.
std::uint64_t crashes_of(const TestPool& pool) {
    return pool.status()["jobs"]["failed_by_kind"]["worker_crashed"].get<std::uint64_t>();
}

TEST(PayloadTest, EchoesOf1And64MiBAreByteIdenticalThroughBothApis) {
    TestPool pool;
    Client client = pool.connect();
    for (std::size_t size : {kMiB, 64 * kMiB}) {
        const std::string sent = random_bytes(size, size);
        for (int round = 0; round < 3; ++round) {
            const std::string back = client.call<std::string>("echo", sent);
            EXPECT_TRUE(back == sent) << size << " bytes, round " << round << ", call<std::string>";
            const Bytes view = client.call<Bytes>("echo", sent);
            EXPECT_EQ(view.size(), sent.size());
            EXPECT_TRUE(view == sent) << size << " bytes, round " << round << ", call<Bytes>";
            const Bytes borrowed = client.call<Bytes>("echo", Bytes::borrow(sent));
            EXPECT_TRUE(borrowed == sent) << size << " bytes, round " << round << ", Bytes argument";
        }
    }
    // Small results come back as Bytes too (owned, not in a blob).
    EXPECT_TRUE(client.call<Bytes>("echo", std::string("tiny")) == std::string_view("tiny"));
    // Only a bounded set of blobs is kept for reuse: arguments (ours) and results (workers').
    EXPECT_LE(blobs_of(pool).size(), 4u + 2u * 4u);
}

TEST(PayloadTest, MixedSizesReuseAndGrowBlobs) {
    TestPool pool(TestPool::Options{.workers = 1});
    Client client = pool.connect();
    const std::vector<std::size_t> sizes = {70'000, kMiB, 3 * kMiB, 200'000, 9 * kMiB + 7, 2 * kMiB,
                                            65'537, 17 * kMiB, 5 * kMiB, 100'000, 17 * kMiB, 1};
    for (int round = 0; round < 3; ++round) {
        for (std::size_t i = 0; i < sizes.size(); ++i) {
            const std::string sent = random_bytes(sizes[i], round * 100 + i);
            if (i % 2 == 0) {
                EXPECT_TRUE(client.call<std::string>("echo", sent) == sent) << sizes[i];
            } else {
                EXPECT_TRUE(client.call<Bytes>("echo", sent) == sent) << sizes[i];
            }
        }
    }
    // One call at a time: a handful of argument and result blobs serve every size.
    EXPECT_LE(blobs_of(pool).size(), 8u) << ::testing::PrintToString(blobs_of(pool));
}

TEST(PayloadTest, ManyBigPayloadsInFlightFromSeveralThreads) {
    TestPool pool(TestPool::Options{.workers = 3});
    Client client = pool.connect();
    std::atomic<int> wrong{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&, t] {
            for (int round = 0; round < 3; ++round) {
                std::vector<std::string> sent;
                std::vector<Future<std::string>> copies;
                std::vector<Future<Bytes>> views;
                for (int i = 0; i < 6; ++i) {
                    sent.push_back(random_bytes((1 + (t + i) % 4) * kMiB + i * 4097, t * 1000 + round * 10 + i));
                    if (i % 2 == 0) {
                        copies.push_back(client.submit<std::string>("echo", sent.back()));
                    } else {
                        views.push_back(client.submit<Bytes>("echo", sent.back()));
                    }
                }
                for (int i = 0; i < 6; ++i) {
                    const bool same = i % 2 == 0 ? copies[i / 2].get() == sent[i] : views[i / 2].get() == sent[i];
                    if (!same) ++wrong;
                }
            }
        });
    }
    for (auto& thread : threads) thread.join();
    EXPECT_EQ(wrong.load(), 0);
    expect_serving(client);
}

TEST(PayloadTest, ABytesResultOutlivesLaterCallsAndItsClient) {
    TestPool pool;
    const std::string first = random_bytes(8 * kMiB, 1);
    std::optional<Bytes> kept;
    {
        Client client = pool.connect();
        kept = client.call<Bytes>("echo", first);
        for (int i = 0; i < 10; ++i) {
            const std::string other = random_bytes(8 * kMiB, 100 + i);
            EXPECT_TRUE(client.call<Bytes>("echo", other) == other);
            EXPECT_TRUE(*kept == first) << "its blob was reused under it after call " << i;
        }
        Future<Bytes> future = client.submit<Bytes>("echo", random_bytes(2 * kMiB, 3));
        kept = future.get();  // the future goes first, the Bytes stays
    }
    EXPECT_EQ(kept->size(), 2 * kMiB);
    EXPECT_TRUE(*kept == random_bytes(2 * kMiB, 3));
    // The session is gone: the daemon sweeps its names, our mapping still reads.
    EXPECT_TRUE(wait_until([&] { return blobs_of(pool).empty(); }, 10s)) << ::testing::PrintToString(blobs_of(pool));
    EXPECT_TRUE(*kept == random_bytes(2 * kMiB, 3));
    Client again = pool.connect();
    expect_serving(again);
}

TEST(PayloadTest, AClientKilledWithBigPayloadsInFlightLeavesNoBlobs) {
    TestPool pool;
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        try {
            Client client = pool.connect();
            std::vector<Future<Bytes>> futures;
            std::vector<Bytes> held;
            for (std::uint64_t i = 0;; ++i) {
                futures.push_back(client.submit<Bytes>("echo", random_bytes(4 * kMiB, i)));
                if (futures.size() >= 6) {
                    held.push_back(futures.front().get());  // results kept: taken blobs
                    futures.erase(futures.begin());
                    if (held.size() > 3) held.erase(held.begin());
                }
            }
        } catch (...) {
        }
        ::_exit(1);
    }
    // Wait until it has blobs both ways, then kill it mid-stream.
    const bool busy = wait_until(
        [&] { return !argument_blobs(pool).empty() && !result_blobs(pool).empty(); }, 20s);
    ::kill(child, SIGKILL);
    ::waitpid(child, nullptr, 0);
    ASSERT_TRUE(busy) << "the client never had blobs in flight";
    EXPECT_TRUE(wait_until([&] { return blobs_of(pool).empty(); }, 10s))
        << "left behind: " << ::testing::PrintToString(blobs_of(pool));
    Client client = pool.connect();
    expect_serving(client);
}

TEST(PayloadTest, AWorkerKilledWhileHoldingResultBlobsHasThemSwept) {
    TestPool pool(TestPool::Options{.workers = 1});
    Client client = pool.connect();
    const std::string first = random_bytes(6 * kMiB, 1);
    const Bytes kept = client.call<Bytes>("echo", first);  // a taken result blob
    for (int i = 0; i < 3; ++i) EXPECT_TRUE(client.call<Bytes>("echo", random_bytes(2 * kMiB, i)) == random_bytes(2 * kMiB, i));
    const std::vector<pid_t> workers = pool.ready_worker_pids();
    ASSERT_EQ(workers.size(), 1u);
    const std::string theirs = std::to_string(workers[0]);
    ASSERT_FALSE(result_blobs(pool, theirs).empty()) << "the worker keeps its result blobs";

    ::kill(workers[0], SIGKILL);
    EXPECT_TRUE(wait_until([&] { return result_blobs(pool, theirs).empty(); }, 10s))
        << "left behind: " << ::testing::PrintToString(result_blobs(pool, theirs));
    EXPECT_TRUE(kept == first) << "a result already read stays readable";
    ASSERT_TRUE(wait_until([&] { return pool.ready_worker_pids().size() == 1; }, 10s));
    expect_serving(client);
}

// A hand-made session: writes job records straight into the submit ring, as a hostile client
// could, and reads the replies.
class RawSession {
public:
    explicit RawSession(const TestPool& pool) {
        auto fd = connect_unix(pool.control_socket());
        if (!fd) throw std::runtime_error(fd.error().message());
        control_ = std::move(fd.value());
        if (!send_message(control_.get(), protocol::Hello{protocol::kProtocolVersion, "hostile"})) {
            throw std::runtime_error("hello");
        }
        auto frame = receive_frame(control_.get(), 5000, &doorbell_);
        if (!frame || !frame.value()) throw std::runtime_error("no welcome");
        auto welcome = protocol::decode<protocol::Welcome>(*frame.value());
        if (!welcome) throw std::runtime_error("bad welcome");
        welcome_ = welcome.value();
        layout_ = SessionLayout{welcome_.worker_slots, welcome_.submit_ring_bytes, welcome_.control_ring_bytes,
                                welcome_.reply_ring_bytes};
        auto segment = SharedSegment::open(welcome_.session_segment, layout_.total_bytes());
        if (!segment) throw std::runtime_error(segment.error().message());
        segment_ = std::move(segment.value());
        submit_ = RingProducer(RingView::at(segment_.data() + layout_.submit_offset(), layout_.submit_ring_bytes));
        replies_.emplace_back(RingView::at(segment_.data() + layout_.control_offset(), layout_.control_ring_bytes));
        for (std::uint32_t w = 0; w < welcome_.worker_slots; ++w) {
            replies_.emplace_back(RingView::at(segment_.data() + layout_.reply_offset(w), layout_.reply_ring_bytes));
        }
    }

    std::string arg_name(std::uint64_t object) const {
        return blob_name(welcome_.owner_uid, welcome_.pool_name, welcome_.session_generation, 'a', object);
    }

    // Submits an echo whose payload is `payload` with kJobBlob set; returns the reply's status
    // and message.
    std::pair<std::uint16_t, std::string> echo_blob(std::string_view payload) {
        JobRecord record{};
        record.job_id = ++next_id_;
        record.flags = kJobBlob;
        record.payload_bytes = static_cast<std::uint32_t>(payload.size());
        set_function_name(record, "echo");
        const auto size = static_cast<std::uint32_t>(sizeof record + payload.size());
        std::byte* out = submit_.try_reserve(size);
        if (out == nullptr) throw std::runtime_error("submit ring full");
        std::memcpy(out, &record, sizeof record);
        std::memcpy(out + sizeof record, payload.data(), payload.size());
        submit_.commit(size);
        submit_.publish();
        reinterpret_cast<SessionHeader*>(segment_.data())->supervisor_wake.notify_eventfd(doorbell_.get());
        const auto give_up = std::chrono::steady_clock::now() + 10s;
        while (std::chrono::steady_clock::now() < give_up) {
            for (auto& ring : replies_) {
                std::span<const std::byte> bytes;
                if (ring.peek(bytes) != RingConsumer::Peek::record) continue;
                ReplyRecord reply;
                std::memcpy(&reply, bytes.data(), sizeof reply);
                std::string message(reinterpret_cast<const char*>(bytes.data()) + sizeof reply, reply.payload_bytes);
                ring.pop();
                ring.release();
                if (reply.job_id == record.job_id) return {reply.status, message};
            }
            std::this_thread::sleep_for(1ms);
        }
        throw std::runtime_error("no reply");
    }

    static std::string ref_bytes(BlobRef ref) { return std::string(reinterpret_cast<const char*>(&ref), sizeof ref); }

private:
    protocol::Welcome welcome_;
    SessionLayout layout_{};
    UniqueFd control_;
    UniqueFd doorbell_;
    SharedSegment segment_;
    RingProducer submit_;
    std::vector<RingConsumer> replies_;
    std::uint64_t next_id_ = 0;
};

TEST(PayloadTest, LyingBlobReferencesAndScribbledHeadersGetBadRequest) {
    TestPool pool;
    const std::vector<pid_t> workers = pool.ready_worker_pids();
    RawSession hostile(pool);

    // A well-formed argument blob of 1 MiB with 100 bytes in it, made by hand.
    const std::string name = hostile.arg_name(1);
    auto made = SharedSegment::create(name, kBlobDataOffset + kMiB, SegmentAccess{0600});
    ASSERT_TRUE(made.ok()) << made.error().message();
    auto* header = reinterpret_cast<BlobHeader*>(made->data());
    header->magic = kBlobMagic;
    header->serial = 0x5eed;
    header->capacity = kMiB;
    const std::string encoded = to_binary(std::string(92, 'x'));  // 100 bytes
    std::memcpy(made->data() + kBlobDataOffset, encoded.data(), encoded.size());

    auto expect_bad = [&](std::string_view payload, const std::string& what) {
        const auto [status, message] = hostile.echo_blob(payload);
        EXPECT_EQ(status, static_cast<std::uint16_t>(ErrorKind::bad_request)) << what << ": " << message;
    };
    {
        const auto [status, message] = hostile.echo_blob(RawSession::ref_bytes(BlobRef{100, 1, 0x5eed}));
        EXPECT_EQ(status, 0) << "the honest reference works: " << message;
    }
    expect_bad(RawSession::ref_bytes(BlobRef{kMiB + 1, 1, 0x5eed}), "more bytes than the object holds");
    expect_bad(RawSession::ref_bytes(BlobRef{std::uint64_t{1} << 62, 1, 0x5eed}), "absurd size");
    expect_bad(RawSession::ref_bytes(BlobRef{100, 1, 0x5eee}), "wrong serial");
    expect_bad(RawSession::ref_bytes(BlobRef{100, 77, 0x5eed}), "no such object");
    expect_bad(RawSession::ref_bytes(BlobRef{100, 1, 0x5eed}).substr(0, 16), "short reference");
    header->capacity = ~std::uint64_t{0};  // lies in the header are not believed...
    expect_bad(RawSession::ref_bytes(BlobRef{2 * kMiB, 1, 0x5eed}), "header claims more room");
    header->magic = 0;  // ...and a header that is not a blob's is refused
    expect_bad(RawSession::ref_bytes(BlobRef{100, 1, 0x5eed}), "scribbled magic");
    header->magic = kBlobMagic;
    header->serial = 0xbad;
    expect_bad(RawSession::ref_bytes(BlobRef{100, 1, 0x5eed}), "scribbled serial");

    EXPECT_EQ(pool.ready_worker_pids(), workers) << "no worker died of it";
    Client client = pool.connect();
    expect_serving(client);
}

TEST(PayloadTest, AClientScribblingOnItsOwnResultBlobsOnlyHurtsItself) {
    TestPool pool(TestPool::Options{.workers = 1});
    Client victim = pool.connect();
    Client vandal = pool.connect();
    const std::string big = random_bytes(4 * kMiB, 5);
    EXPECT_TRUE(vandal.call<Bytes>("echo", big) == big);
    // Only the vandal has blobs yet: their common prefix is its session's.
    const std::vector<std::string> first = blobs_of(pool);
    ASSERT_FALSE(first.empty());
    const std::string prefix = session_prefix_of(first[0]);
    // The vandal marks its blobs free and corrupts their headers while results are in use.
    for (int round = 0; round < 5; ++round) {
        for (const auto& name : shm_with(pool, prefix)) {
            auto segment = SharedSegment::open(name);
            if (!segment || segment->size() < sizeof(BlobHeader)) continue;
            auto* header = reinterpret_cast<BlobHeader*>(segment->data());
            header->state.store(static_cast<std::uint32_t>(round % 2 ? BlobState::free : BlobState::taken));
            header->capacity = 1;
        }
        try {
            (void)vandal.call<Bytes>("echo", big);
        } catch (const JobError&) {
        }
        const std::string mine = random_bytes(2 * kMiB, 50 + round);
        EXPECT_TRUE(victim.call<std::string>("echo", mine) == mine);
    }
    EXPECT_EQ(pool.ready_worker_pids().size(), 1u);
    expect_serving(victim);
}

// A client owns its argument blobs and may shrink one once the worker checked its size: here the
// worker keeps its mapping of the blob from the client's first call, which the second call reuses,
// and the object shrinks to one page while the only worker is busy with another client's job.
// Reading the argument then goes past the object's end (SIGBUS): the job must get bad_request,
// not kill the worker.
TEST(PayloadTest, AClientShrinkingItsArgumentBlobUnderTheWorkerOnlyGetsBadRequest) {
    TestPool pool(TestPool::Options{.workers = 1});
    const std::vector<pid_t> workers = pool.ready_worker_pids();
    ASSERT_EQ(workers.size(), 1u);
    Client victim = pool.connect();
    Client vandal = pool.connect();
    const std::string first = random_bytes(8 * kMiB, 11);
    EXPECT_TRUE(vandal.call<std::string>("echo", first) == first);
    const std::vector<std::string> blobs = argument_blobs(pool);
    ASSERT_EQ(blobs.size(), 1u) << ::testing::PrintToString(blobs);

    Future<SleepReport> busy = victim.submit<SleepReport>("sleep_report", 1.0);
    ASSERT_TRUE(wait_until(
        [&] { return pool.status()["workers"]["rows"][0]["current_function"] == "sleep_report"; }, 10s))
        << pool.status().dump();
    const std::string second = random_bytes(8 * kMiB, 12);
    Future<std::string> shrunk = vandal.submit<std::string>("echo", second);
    ASSERT_EQ(argument_blobs(pool), blobs) << "the second call reuses the first one's blob";
    resize_object(blobs[0], 4096);  // the header stays; the argument's bytes go

    EXPECT_EQ(busy.get().pid, workers[0]);
    const JobError error = expect_job_error([&] { (void)shrunk.get(); });
    EXPECT_EQ(error.kind(), ErrorKind::bad_request) << error.what();
    EXPECT_NE(error.message().find("shrank"), std::string::npos) << error.what();
    EXPECT_EQ(pool.ready_worker_pids(), workers) << "the worker survived";
    EXPECT_EQ(crashes_of(pool), 0u);
    // The vandal may go on with small calls (a big one would write into the blob it shrank).
    EXPECT_EQ(vandal.call<std::int64_t>("gcd", Pair{21, 14}), 7);
    expect_serving(victim);
    EXPECT_EQ(pool.ready_worker_pids(), workers);
}

// The same through a hand-made session, without timing: the worker keeps its mapping of a blob
// between jobs, so a shrink between two jobs naming it is only found by reading. Shrunk to one
// page, the argument's bytes fault; shrunk to nothing, so does the header the worker checks first.
TEST(PayloadTest, AnArgumentBlobShrunkUnderAKeptMappingIsNeverReadPastItsEnd) {
    TestPool pool(TestPool::Options{.workers = 1});
    const std::vector<pid_t> workers = pool.ready_worker_pids();
    ASSERT_EQ(workers.size(), 1u);
    RawSession hostile(pool);

    const std::string name = hostile.arg_name(1);
    constexpr std::size_t kCapacity = 4 * kMiB;
    auto made = SharedSegment::create(name, kBlobDataOffset + kCapacity, SegmentAccess{0600});
    ASSERT_TRUE(made.ok()) << made.error().message();
    const std::string encoded = to_binary(random_bytes(3 * kMiB, 13));
    const BlobRef ref{encoded.size(), 1, 0x5eed};
    // Through our own mapping, which covers the whole object whenever it has its full size.
    auto write_blob = [&] {
        auto* header = reinterpret_cast<BlobHeader*>(made->data());
        header->magic = kBlobMagic;
        header->serial = ref.serial;
        header->capacity = kCapacity;
        std::memcpy(made->data() + kBlobDataOffset, encoded.data(), encoded.size());
    };
    auto echo = [&] { return hostile.echo_blob(RawSession::ref_bytes(ref)); };
    auto expect_bad = [&](const std::string& because, const std::string& what) {
        const auto [status, message] = echo();
        EXPECT_EQ(status, static_cast<std::uint16_t>(ErrorKind::bad_request)) << what << ": " << message;
        EXPECT_NE(message.find(because), std::string::npos) << what << ": " << message;
        EXPECT_EQ(pool.ready_worker_pids(), workers) << what << ": the worker died of it";
    };

    write_blob();
    ASSERT_EQ(echo().first, 0) << "the honest call works, and the worker keeps the mapping";
    resize_object(name, 4096);
    expect_bad("shrank", "shrunk to one page under the kept mapping");
    expect_bad("cannot hold", "a fresh look finds it too small before reading");

    resize_object(name, kBlobDataOffset + kCapacity);
    write_blob();
    ASSERT_EQ(echo().first, 0) << "grown back, it is good again, and kept mapped again";
    resize_object(name, 0);
    expect_bad("argument blob", "shrunk to nothing under the kept mapping: its header faults");

    EXPECT_EQ(crashes_of(pool), 0u);
    Client client = pool.connect();
    expect_serving(client);
    EXPECT_EQ(pool.ready_worker_pids(), workers);
}

// A client maps the worker's result blobs read-write (it marks them taken and free), so it can
// shrink them too. The worker touches its result blobs when it checks one for reuse, writes a
// result into one (echo writes in place), copies a typed result into one (a long error message)
// and marks one published: past the object's new end, any of these may cost the vandal a
// bad_request, never the worker its life. Objects that shrank are dropped and replaced, so the
// vandal's later calls work again; shrunk to nothing, even the header faults.
TEST(PayloadTest, AClientShrinkingTheWorkersResultBlobsOnlyGetsBadRequest) {
    TestPool pool(TestPool::Options{.workers = 1});
    const std::vector<pid_t> workers = pool.ready_worker_pids();
    ASSERT_EQ(workers.size(), 1u);
    Client victim = pool.connect();
    Client vandal = pool.connect();
    const std::string big = random_bytes(4 * kMiB, 21);
    EXPECT_TRUE(vandal.call<std::string>("echo", big) == big);
    // Only the vandal has blobs yet.
    const std::vector<std::string> first = result_blobs(pool);
    ASSERT_FALSE(first.empty());
    const std::string prefix = session_prefix_of(first[0]);
    auto vandals_results = [&] {
        std::vector<std::string> found;
        for (const auto& name : result_blobs(pool)) {
            if (name.starts_with(prefix)) found.push_back(name);
        }
        return found;
    };

    int refused = 0;
    for (const std::size_t shrunk_to : {std::size_t{0}, std::size_t{4096}}) {
        for (int round = 0; round < 3; ++round) {
            const std::vector<std::string> shrunk = vandals_results();
            ASSERT_FALSE(shrunk.empty());
            for (const auto& name : shrunk) resize_object(name, shrunk_to);
            const std::string payload = random_bytes(4 * kMiB, 30 + round);
            try {
                EXPECT_TRUE(vandal.call<std::string>("echo", payload) == payload) << "shrunk to " << shrunk_to;
            } catch (const JobError& e) {
                EXPECT_EQ(e.kind(), ErrorKind::bad_request) << "shrunk to " << shrunk_to << ": " << e.what();
                EXPECT_NE(e.message().find("shrank"), std::string::npos) << e.what();
                ++refused;
            }
            for (const auto& name : vandals_results()) resize_object(name, shrunk_to);
            const std::string message(2 * kMiB, 'm');  // too long to go inline: copied into a blob
            const JobError error = expect_job_error([&] { (void)vandal.call<std::string>("fail", message); });
            if (error.kind() == ErrorKind::bad_request) {
                EXPECT_NE(error.message().find("shrank"), std::string::npos) << error.what();
                ++refused;
            } else {
                EXPECT_EQ(error.kind(), ErrorKind::handler_error) << "shrunk to " << shrunk_to << ": " << error.what();
                EXPECT_TRUE(error.message() == message) << "the message arrives whole";
            }
            const std::string mine = random_bytes(2 * kMiB, 40 + round);
            EXPECT_TRUE(victim.call<std::string>("echo", mine) == mine);
            EXPECT_EQ(pool.ready_worker_pids(), workers) << "shrunk to " << shrunk_to << ", round " << round;
            // Blobs that shrank were dropped: the next ones are new, whole, and shrunk in turn.
            EXPECT_TRUE(vandal.call<std::string>("echo", big) == big) << "shrunk to " << shrunk_to;
        }
    }
    EXPECT_GT(refused, 0) << "no shrink was noticed: the test did not shrink what the worker used";
    EXPECT_EQ(crashes_of(pool), 0u);
    EXPECT_EQ(pool.ready_worker_pids(), workers) << "the worker survived";
    expect_serving(victim);
}

}  // namespace
}  // namespace warmpool
