// Large payloads against a real warmpoold: blobs reused on both sides, results read in place
// (warmpool::Bytes), and what happens to blobs when clients and workers die or lie, and that
// nobody can shrink them.
//
// Each test checks bytes end to end (echo), and the blob memfds that still exist (held open or
// mapped by any process, test_pool.hpp): a session's blobs may stay while it lives (they are
// reused), never after it ended, except those a consumer still maps; a dead worker's result
// blobs are let go of by the supervisor when it is reaped.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <functional>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "expect_job_error.hpp"
#include "jobs/example_types.hpp"
#include "raw_session.hpp"
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
using testing::RawSession;
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

// Objects of the pool (pool_shared_memory(): "memfd:warmpool.<pool>.<what>#<inode>") whose
// label or inode contains `part`.
std::vector<std::string> shm_with(const TestPool& pool, const std::string& part) {
    std::vector<std::string> found;
    for (const auto& object : pool.leftover_shm()) {
        if (object.find(part) != std::string::npos) found.push_back(object);
    }
    return found;
}

// Objects of the pool that are blobs, by the labels shm_layout.hpp documents:
// "memfd:warmpool.<pool>.arguments.<client pid>#<inode>" for arguments (every client of one process
// shares its label), "memfd:warmpool.<pool>.results.<worker pid>#<inode>" for results (every
// session's results of one worker share its label). `kind` is "arguments", "results" or "" for
// both; `pid` is a producer's pid or "" for any.
bool all_digits(std::string_view text) {
    return !text.empty() && std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
}
std::vector<std::string> blobs_matching(const TestPool& pool, const std::string& kind, const std::string& pid) {
    const std::string prefix = "memfd:warmpool." + pool.name() + ".";
    std::vector<std::string> found;
    for (const auto& object : pool.leftover_shm()) {
        if (!object.starts_with(prefix)) continue;
        const std::string_view rest = std::string_view(object).substr(prefix.size());
        const auto dot = rest.find('.');
        const auto hash = rest.find('#');
        if (dot == std::string_view::npos || hash == std::string_view::npos || hash < dot) continue;
        const std::string_view label_kind = rest.substr(0, dot);
        const std::string_view producer = rest.substr(dot + 1, hash - dot - 1);
        if (label_kind != "arguments" && label_kind != "results") continue;
        if (!kind.empty() && label_kind != kind) continue;
        if (!all_digits(producer) || !all_digits(rest.substr(hash + 1))) continue;
        if (!pid.empty() && producer != pid) continue;
        found.push_back(object);
    }
    return found;
}
std::vector<std::string> argument_blobs(const TestPool& pool, const std::string& client_pid = "") {
    return blobs_matching(pool, "arguments", client_pid);
}
std::vector<std::string> result_blobs(const TestPool& pool, const std::string& worker_pid = "") {
    return blobs_matching(pool, "results", worker_pid);
}
// Blob objects of the pool (arguments and results of every session).
std::vector<std::string> blobs_of(const TestPool& pool) { return blobs_matching(pool, "", ""); }

// The objects of `objects` that process `pid` maps.
std::vector<std::string> mapped_by(pid_t pid, const std::vector<std::string>& objects) {
    std::set<std::string> mapped;
    std::ifstream maps("/proc/" + std::to_string(pid) + "/maps");
    for (std::string line; std::getline(maps, line);) {
        const auto at = line.find("/memfd:");
        if (at == std::string::npos) continue;
        std::istringstream fields(line);
        std::string range, perms, offset, dev, inode;
        fields >> range >> perms >> offset >> dev >> inode;
        const auto end = line.find(' ', at);
        mapped.insert(line.substr(at + 1, end == std::string::npos ? std::string::npos : end - at - 1) + "#" + inode);
    }
    std::vector<std::string> found;
    for (const auto& object : objects) {
        if (mapped.contains(object)) found.push_back(object);
    }
    return found;
}

// A new read-write descriptor of an object this process maps (through /proc/self/map_files,
// which needs root, as the tests have in CI): what a client can do with its own blobs and the
// result blobs it was given.
UniqueFd open_own_mapping(const std::string& object) {
    std::ifstream maps("/proc/self/maps");
    for (std::string line; std::getline(maps, line);) {
        const auto at = line.find("/memfd:");
        if (at == std::string::npos) continue;
        std::istringstream fields(line);
        std::string range, perms, offset, dev, inode;
        fields >> range >> perms >> offset >> dev >> inode;
        const auto end = line.find(' ', at);
        if (line.substr(at + 1, end == std::string::npos ? std::string::npos : end - at - 1) + "#" + inode != object) {
            continue;
        }
        return UniqueFd(::open(("/proc/self/map_files/" + range).c_str(), O_RDWR | O_CLOEXEC));
    }
    return UniqueFd();
}

// Expects `fd`'s object to refuse every change of size, and more seals.
void expect_size_sealed(int fd, const std::string& what) {
    struct stat st{};
    ASSERT_EQ(::fstat(fd, &st), 0) << what;
    for (const off_t size : {off_t{0}, off_t{4096}, st.st_size - 1, st.st_size + 4096}) {
        errno = 0;
        EXPECT_NE(::ftruncate(fd, size), 0) << what << ": resized to " << size;
        EXPECT_EQ(errno, EPERM) << what << ": resized to " << size << ": " << std::strerror(errno);
    }
    const int seals = ::fcntl(fd, F_GET_SEALS);
    EXPECT_EQ(seals & (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL), F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)
        << what << ": seals " << seals;
    errno = 0;
    EXPECT_NE(::fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE), 0) << what << ": sealed further";
    EXPECT_EQ(errno, EPERM) << what << ": " << std::strerror(errno);
}

// At rest, every blob of this process's clients is held by its producer, whose pool keeps at
// most 4 (ours for arguments, each worker's for results), or still mapped by a consumer that
// keeps its mappings for reuse (each worker at most 4 of our argument blobs, our clients' result
// mappings at most 8): nothing else keeps one alive, the supervisor's copies of retired blobs go.
void expect_blobs_bounded(const TestPool& pool) {
    const std::vector<pid_t> workers = pool.ready_worker_pids();
    const std::string us = std::to_string(::getpid());
    auto unaccounted = [&] {
        std::vector<std::string> left;
        const auto arguments = argument_blobs(pool, us);
        std::set<std::string> held;
        for (const auto& object : mapped_by(::getpid(), arguments)) held.insert(object);
        for (pid_t worker : workers) {
            for (const auto& object : mapped_by(worker, arguments)) held.insert(object);
        }
        for (const auto& object : arguments) {
            if (!held.contains(object)) left.push_back(object);
        }
        for (pid_t worker : workers) {
            const auto results = result_blobs(pool, std::to_string(worker));
            std::set<std::string> kept;
            for (const auto& object : mapped_by(worker, results)) kept.insert(object);
            for (const auto& object : mapped_by(::getpid(), results)) kept.insert(object);
            for (const auto& object : results) {
                if (!kept.contains(object)) left.push_back(object);
            }
        }
        return left;
    };
    EXPECT_TRUE(wait_until([&] { return unaccounted().empty(); }, 10s))
        << "held by neither producer nor consumer: " << ::testing::PrintToString(unaccounted());
    EXPECT_LE(mapped_by(::getpid(), argument_blobs(pool, us)).size(), 4u);
    EXPECT_LE(mapped_by(::getpid(), result_blobs(pool)).size(), 8u);
    for (pid_t worker : workers) {
        EXPECT_LE(mapped_by(worker, argument_blobs(pool, us)).size(), 4u) << "worker " << worker;
        EXPECT_LE(mapped_by(worker, result_blobs(pool, std::to_string(worker))).size(), 4u) << "worker " << worker;
    }
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
    // Only a bounded set of blobs is kept for reuse: arguments (ours, and mapped by the workers
    // that read them) and results (the workers', and mapped by us).
    expect_blobs_bounded(pool);
    EXPECT_LE(blobs_of(pool).size(), 4u + 2u * 4u + 8u) << ::testing::PrintToString(blobs_of(pool));
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
    // One call at a time: a handful of argument and result blobs serve every size: up to 4 of
    // ours and those the worker's mappings still keep of ones we dropped, up to 4 of the worker's
    // results and those our result mappings still keep of ones it dropped.
    expect_blobs_bounded(pool);
    EXPECT_LE(argument_blobs(pool).size(), 4u + 4u) << ::testing::PrintToString(blobs_of(pool));
    EXPECT_LE(result_blobs(pool).size(), 4u + 8u) << ::testing::PrintToString(blobs_of(pool));
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
    // The session is gone: its segment, and the supervisor and the worker let go of its blobs;
    // our client's argument blobs went with it. What is left is the one result blob the Bytes
    // maps, and only we hold it.
    EXPECT_TRUE(wait_until([&] { return shm_with(pool, ".session.").empty(); }, 10s))
        << ::testing::PrintToString(pool.leftover_shm());
    EXPECT_TRUE(wait_until([&] { return blobs_of(pool).size() == 1; }, 10s)) << ::testing::PrintToString(blobs_of(pool));
    EXPECT_EQ(result_blobs(pool).size(), 1u) << ::testing::PrintToString(blobs_of(pool));
    EXPECT_EQ(mapped_by(::getpid(), blobs_of(pool)), blobs_of(pool));
    EXPECT_TRUE(*kept == random_bytes(2 * kMiB, 3));
    kept.reset();
    EXPECT_TRUE(blobs_of(pool).empty()) << ::testing::PrintToString(blobs_of(pool));
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
        [&] { return !argument_blobs(pool, std::to_string(child)).empty() && !result_blobs(pool).empty(); }, 20s);
    ::kill(child, SIGKILL);
    ::waitpid(child, nullptr, 0);
    ASSERT_TRUE(busy) << "the client never had blobs in flight";
    EXPECT_TRUE(wait_until([&] { return blobs_of(pool).empty(); }, 10s))
        << "left behind: " << ::testing::PrintToString(blobs_of(pool));
    Client client = pool.connect();
    expect_serving(client);
}

// A dead worker's result blobs are let go of by the supervisor when it is reaped, once its
// client has them; what is left of them lives only in the client that maps them, and goes with
// that client's session (or the last result it holds).
TEST(PayloadTest, AWorkerKilledWhileHoldingResultBlobsHasThemSwept) {
    TestPool pool(TestPool::Options{.workers = 1});
    std::optional<Client> client(pool.connect());
    const std::string first = random_bytes(6 * kMiB, 1);
    std::optional<Bytes> kept = client->call<Bytes>("echo", first);  // a taken result blob
    for (int i = 0; i < 3; ++i) {
        EXPECT_TRUE(client->call<Bytes>("echo", random_bytes(2 * kMiB, i)) == random_bytes(2 * kMiB, i));
    }
    const std::vector<pid_t> workers = pool.ready_worker_pids();
    ASSERT_EQ(workers.size(), 1u);
    const std::string theirs = std::to_string(workers[0]);
    ASSERT_FALSE(result_blobs(pool, theirs).empty()) << "the worker keeps its result blobs";

    ::kill(workers[0], SIGKILL);
    ASSERT_TRUE(wait_until(
        [&] {
            const auto now = pool.ready_worker_pids();
            return now.size() == 1 && now[0] != workers[0];
        },
        10s));
    // Reaped: nobody but our client (its kept mappings and the Bytes) holds them now.
    EXPECT_TRUE(wait_until([&] { return mapped_by(::getpid(), result_blobs(pool, theirs)) == result_blobs(pool, theirs); },
                           10s))
        << "held elsewhere: " << ::testing::PrintToString(result_blobs(pool, theirs));
    EXPECT_TRUE(*kept == first) << "a result already read stays readable";
    expect_serving(*client);
    client.reset();
    // The session gone, only the Bytes' blob is left of the dead worker's.
    EXPECT_TRUE(wait_until([&] { return result_blobs(pool, theirs).size() == 1; }, 10s))
        << "left behind: " << ::testing::PrintToString(result_blobs(pool, theirs));
    EXPECT_TRUE(*kept == first);
    kept.reset();
    EXPECT_TRUE(result_blobs(pool, theirs).empty()) << ::testing::PrintToString(result_blobs(pool, theirs));
}

// An argument blob made by hand as a client may: a sealed memfd with a blob's header and
// `payload` after it, offered to the supervisor as object `object` of the session.
struct HandMadeBlob {
    SharedSegment segment;
    BlobRef ref{};
    BlobHeader* header() const { return reinterpret_cast<BlobHeader*>(segment.data()); }
};

HandMadeBlob make_blob(const TestPool& pool, std::uint64_t object, std::size_t capacity, std::string_view payload) {
    HandMadeBlob blob;
    auto made = SharedSegment::create(segment_label(pool.name(), "arguments." + std::to_string(::getpid())),
                                      kBlobDataOffset + capacity);
    if (!made) throw std::runtime_error(made.error().message());
    blob.segment = std::move(made.value());
    blob.ref = BlobRef{payload.size(), object, 0x5eed};
    blob.header()->magic = kBlobMagic;
    blob.header()->serial = blob.ref.serial;
    blob.header()->capacity = capacity;
    std::memcpy(blob.segment.data() + kBlobDataOffset, payload.data(), payload.size());
    return blob;
}

void offer(RawSession& session, std::uint64_t object, int fd) {
    ASSERT_TRUE(send_message(session.control(), protocol::BlobOffer{object}, fd).ok());
}

std::string ref_bytes(BlobRef ref) { return std::string(reinterpret_cast<const char*>(&ref), sizeof ref); }

// Submits an echo whose payload is `payload` with kJobBlob set: the reply's status and payload.
std::pair<std::uint16_t, std::string> echo_blob(RawSession& session, std::string_view payload) {
    JobRecord record{};
    record.job_id = session.next_job_id();
    record.flags = kJobBlob;
    record.payload_bytes = static_cast<std::uint32_t>(payload.size());
    set_function_name(record, "echo");
    session.submit_record(record, payload);
    return session.wait_reply(record.job_id);
}

// Whether the supervisor closed `session`'s connection: reading finds its end (or a reset) after
// any frames it sent first.
bool connection_closed(RawSession& session) {
    for (int frames = 0; frames < 16; ++frames) {
        auto frame = receive_frame(session.control(), 5000);
        if (!frame) return false;            // nothing within the bound: still open
        if (!frame.value()) return true;     // its end (or a reset)
    }
    return false;
}

TEST(PayloadTest, LyingBlobReferencesAndScribbledHeadersGetBadRequest) {
    TestPool pool;
    const std::vector<pid_t> workers = pool.ready_worker_pids();
    RawSession hostile(pool.control_socket());

    // A well-formed argument blob of 1 MiB with 100 bytes in it, made by hand.
    const std::string encoded = to_binary(std::string(92, 'x'));  // 100 bytes
    HandMadeBlob blob = make_blob(pool, 1, kMiB, encoded);
    offer(hostile, 1, blob.segment.fd());
    BlobHeader* header = blob.header();

    auto expect_bad = [&](std::string_view payload, const std::string& what) {
        const auto [status, message] = echo_blob(hostile, payload);
        EXPECT_EQ(status, static_cast<std::uint16_t>(ErrorKind::bad_request)) << what << ": " << message;
    };
    {
        const auto [status, message] = echo_blob(hostile, ref_bytes(BlobRef{100, 1, 0x5eed}));
        EXPECT_EQ(status, 0) << "the honest reference works: " << message;
    }
    expect_bad(ref_bytes(BlobRef{kMiB + 1, 1, 0x5eed}), "more bytes than the object holds");
    expect_bad(ref_bytes(BlobRef{std::uint64_t{1} << 62, 1, 0x5eed}), "absurd size");
    expect_bad(ref_bytes(BlobRef{100, 1, 0x5eee}), "wrong serial");
    expect_bad(ref_bytes(BlobRef{100, 77, 0x5eed}), "no such object");
    expect_bad(ref_bytes(BlobRef{100, 1, 0x5eed}).substr(0, 16), "short reference");
    header->capacity = ~std::uint64_t{0};  // lies in the header are not believed...
    expect_bad(ref_bytes(BlobRef{2 * kMiB, 1, 0x5eed}), "header claims more room");
    header->magic = 0;  // ...and a header that is not a blob's is refused
    expect_bad(ref_bytes(BlobRef{100, 1, 0x5eed}), "scribbled magic");
    header->magic = kBlobMagic;
    header->serial = 0xbad;
    expect_bad(ref_bytes(BlobRef{100, 1, 0x5eed}), "scribbled serial");

    EXPECT_EQ(pool.ready_worker_pids(), workers) << "no worker died of it";
    Client client = pool.connect();
    expect_serving(client);
}

// A batch can travel in a blob, where the supervisor cannot check its item count: the worker
// checks it before it sizes anything for it, and a count the blob's bytes cannot hold, or
// beyond the limit, is a bad request, not a worker killed by an allocation of 32 GiB.
TEST(PayloadTest, ABatchInABlobWithALyingItemCountGetsBadRequest) {
    TestPool pool;
    const std::vector<pid_t> workers = pool.ready_worker_pids();
    RawSession hostile(pool.control_socket());

    auto batch = [](std::uint32_t count, const std::vector<std::string>& items) {
        std::string bytes(reinterpret_cast<const char*>(&count), sizeof count);
        bytes.append(4, '\0');
        for (const auto& item : items) {
            const auto len = static_cast<std::uint32_t>(item.size());
            bytes.append(reinterpret_cast<const char*>(&len), sizeof len);
            bytes += item;
        }
        return bytes;
    };
    auto call = [&](std::uint64_t object, const std::string& payload) {
        HandMadeBlob blob = make_blob(pool, object, kMiB, payload);
        offer(hostile, object, blob.segment.fd());
        JobRecord record{};
        record.job_id = hostile.next_job_id();
        record.flags = kJobBlob | kJobBatch | kJobJson;
        record.payload_bytes = sizeof(BlobRef);
        set_function_name(record, "gcd");
        hostile.submit_record(record, ref_bytes(blob.ref));
        return hostile.wait_reply(record.job_id);
    };

    const auto [honest, results] = call(1, batch(2, {"[12, 18]", "[7, 21]"}));
    EXPECT_EQ(honest, 0) << "an honest batch in a blob is served: " << results;
    for (const std::uint32_t count : {~std::uint32_t{0}, kMaxBatchItems + 1, 3u, 0u}) {
        const auto [status, message] =
            call(2 + count % 1000, batch(count, {"[12, 18]", "[7, 21]"}));
        EXPECT_EQ(status, static_cast<std::uint16_t>(ErrorKind::bad_request))
            << count << " items: " << message;
    }
    EXPECT_EQ(pool.ready_worker_pids(), workers) << "no worker died of it";
}

// The vandal (a client of this process, as the victim is) scribbles on the headers of its own
// blobs, arguments and results, which it maps read-write: only its own calls may suffer.
TEST(PayloadTest, AClientScribblingOnItsOwnResultBlobsOnlyHurtsItself) {
    TestPool pool(TestPool::Options{.workers = 1});
    Client victim = pool.connect();
    Client vandal = pool.connect();
    const std::string big = random_bytes(4 * kMiB, 5);
    EXPECT_TRUE(vandal.call<Bytes>("echo", big) == big);
    // Both clients are of this process, and the worker's results of every session share a label:
    // the vandal's objects are told from the victim's by when they appeared.
    std::set<std::string> vandals, victims;
    auto note_new = [&](std::set<std::string>& into) {
        for (const auto& object : blobs_of(pool)) {
            if (!vandals.contains(object) && !victims.contains(object)) into.insert(object);
        }
    };
    note_new(vandals);
    ASSERT_FALSE(vandals.empty());
    // The vandal marks its blobs free and corrupts their headers while results are in use.
    for (int round = 0; round < 5; ++round) {
        for (const auto& object : mapped_by(::getpid(), std::vector<std::string>(vandals.begin(), vandals.end()))) {
            UniqueFd fd = open_own_mapping(object);
            if (!fd) continue;
            auto segment = SharedSegment::adopt(std::move(fd), 0, SharedSegment::Access::read_write, "vandal");
            if (!segment || segment->size() < sizeof(BlobHeader)) continue;
            auto* header = reinterpret_cast<BlobHeader*>(segment->data());
            header->state.store(static_cast<std::uint32_t>(round % 2 ? BlobState::free : BlobState::taken));
            header->capacity = 1;
        }
        try {
            (void)vandal.call<Bytes>("echo", big);
        } catch (const JobError&) {
        }
        note_new(vandals);
        const std::string mine = random_bytes(2 * kMiB, 50 + round);
        EXPECT_TRUE(victim.call<std::string>("echo", mine) == mine);
        note_new(victims);
    }
    EXPECT_EQ(pool.ready_worker_pids().size(), 1u);
    expect_serving(victim);
}

// A client owns its argument blobs, but they are sealed against resizing when made: it cannot
// shrink one under the worker that maps it, through its own descriptor or any other it opens,
// and the worker reads every call's argument whole.
TEST(PayloadTest, AClientCannotShrinkItsArgumentBlobUnderTheWorker) {
    TestPool pool(TestPool::Options{.workers = 1});
    const std::vector<pid_t> workers = pool.ready_worker_pids();
    ASSERT_EQ(workers.size(), 1u);
    Client victim = pool.connect();
    Client vandal = pool.connect();
    const std::string first = random_bytes(8 * kMiB, 11);
    EXPECT_TRUE(vandal.call<std::string>("echo", first) == first);
    const std::vector<std::string> blobs = argument_blobs(pool, std::to_string(::getpid()));
    ASSERT_EQ(blobs.size(), 1u) << ::testing::PrintToString(blobs);

    Future<SleepReport> busy = victim.submit<SleepReport>("sleep_report", 1.0);
    ASSERT_TRUE(wait_until(
        [&] { return pool.status()["workers"]["rows"][0]["current_function"] == "sleep_report"; }, 10s))
        << pool.status().dump();
    const std::string second = random_bytes(8 * kMiB, 12);
    Future<std::string> reused = vandal.submit<std::string>("echo", second);
    ASSERT_EQ(argument_blobs(pool), blobs) << "the second call reuses the first one's blob";
    {
        UniqueFd fd = open_own_mapping(blobs[0]);
        ASSERT_TRUE(fd.valid()) << blobs[0] << ": " << std::strerror(errno) << " (needs root)";
        expect_size_sealed(fd.get(), blobs[0]);
    }

    EXPECT_EQ(busy.get().pid, workers[0]);
    EXPECT_TRUE(reused.get() == second) << "the blob the worker reads is whole";
    EXPECT_EQ(pool.ready_worker_pids(), workers) << "the worker survived";
    EXPECT_EQ(crashes_of(pool), 0u);
    EXPECT_TRUE(vandal.call<std::string>("echo", first) == first);
    expect_serving(victim);
    EXPECT_EQ(pool.ready_worker_pids(), workers);
}

// The same through a hand-made session: an argument blob it made and offered cannot be resized,
// and what it offers must be a memfd sealed against shrinking, at least a header long. Anything
// else costs it its connection, before any worker maps it; the worker never notices.
TEST(PayloadTest, OnlyArgumentBlobsSealedAgainstShrinkingAreAccepted) {
    TestPool pool(TestPool::Options{.workers = 1});
    const std::vector<pid_t> workers = pool.ready_worker_pids();
    ASSERT_EQ(workers.size(), 1u);

    constexpr std::size_t kCapacity = 4 * kMiB;
    const std::string encoded = to_binary(random_bytes(3 * kMiB, 13));
    {
        RawSession honest(pool.control_socket());
        HandMadeBlob blob = make_blob(pool, 1, kCapacity, encoded);
        offer(honest, 1, blob.segment.fd());
        ASSERT_EQ(echo_blob(honest, ref_bytes(blob.ref)).first, 0) << "the honest call works, and the worker keeps the mapping";
        expect_size_sealed(blob.segment.fd(), "our own argument blob");
        UniqueFd reopened(::open(("/proc/self/fd/" + std::to_string(blob.segment.fd())).c_str(), O_RDWR | O_CLOEXEC));
        ASSERT_TRUE(reopened.valid()) << std::strerror(errno);
        expect_size_sealed(reopened.get(), "our own argument blob, opened afresh");
        EXPECT_EQ(echo_blob(honest, ref_bytes(blob.ref)).first, 0) << "and it works again";
    }

    struct Offer {
        const char* what;
        std::function<UniqueFd()> make;
    };
    auto unsealed_memfd = [&](unsigned flags, int seals) {
        UniqueFd fd(::memfd_create(segment_label(pool.name(), "arguments.unsealed").c_str(), MFD_CLOEXEC | flags));
        if (!fd) return fd;
        if (::ftruncate(fd.get(), static_cast<off_t>(kBlobDataOffset + kCapacity)) != 0) return UniqueFd();
        auto* header = static_cast<BlobHeader*>(
            ::mmap(nullptr, kBlobDataOffset + encoded.size(), PROT_READ | PROT_WRITE, MAP_SHARED, fd.get(), 0));
        if (header == MAP_FAILED) return UniqueFd();
        header->magic = kBlobMagic;
        header->serial = 0x5eed;
        header->capacity = kCapacity;
        std::memcpy(reinterpret_cast<std::byte*>(header) + kBlobDataOffset, encoded.data(), encoded.size());
        ::munmap(header, kBlobDataOffset + encoded.size());
        if (seals != 0 && ::fcntl(fd.get(), F_ADD_SEALS, seals) != 0) return UniqueFd();
        return fd;
    };
    const Offer offers[] = {
        {"a memfd that cannot be sealed", [&] { return unsealed_memfd(0, 0); }},
        {"a memfd not sealed", [&] { return unsealed_memfd(MFD_ALLOW_SEALING, 0); }},
        {"a memfd sealed against growing only", [&] { return unsealed_memfd(MFD_ALLOW_SEALING, F_SEAL_GROW | F_SEAL_SEAL); }},
        {"a memfd sealed, smaller than a header",
         [&] {
             UniqueFd fd(::memfd_create("tiny", MFD_CLOEXEC | MFD_ALLOW_SEALING));
             if (!fd || ::ftruncate(fd.get(), 16) != 0) return UniqueFd();
             if (::fcntl(fd.get(), F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) != 0) return UniqueFd();
             return fd;
         }},
        {"a pipe",
         [&] {
             int ends[2];
             if (::pipe2(ends, O_CLOEXEC) != 0) return UniqueFd();
             ::close(ends[1]);
             return UniqueFd(ends[0]);
         }},
        {"no descriptor at all", [&] { return UniqueFd(); }},
    };
    for (const Offer& o : offers) {
        RawSession hostile(pool.control_socket());
        UniqueFd fd = o.make();
        if (std::string_view(o.what) != "no descriptor at all") {
            ASSERT_TRUE(fd.valid()) << o.what << ": " << std::strerror(errno);
        }
        offer(hostile, 1, fd.get());
        EXPECT_TRUE(connection_closed(hostile)) << o.what << " was accepted";
        EXPECT_EQ(pool.ready_worker_pids(), workers) << o.what << ": the worker died of it";
    }
    EXPECT_TRUE(wait_until([&] { return pool.status()["sessions"]["active"] == 0; }, 10s)) << pool.status().dump();
    EXPECT_EQ(crashes_of(pool), 0u);
    Client client = pool.connect();
    expect_serving(client);
    EXPECT_EQ(pool.ready_worker_pids(), workers);
}

// A client maps the worker's result blobs read-write (it marks them taken and free), but they are
// sealed against resizing: the descriptor it gets for one (BlobWant, BlobGive) cannot shrink it
// under the worker, which reuses it for the session's next results.
TEST(PayloadTest, AClientCannotShrinkTheWorkersResultBlobs) {
    TestPool pool(TestPool::Options{.workers = 1});
    const std::vector<pid_t> workers = pool.ready_worker_pids();
    ASSERT_EQ(workers.size(), 1u);
    Client victim = pool.connect();
    RawSession vandal(pool.control_socket());
    const std::string encoded = to_binary(random_bytes(4 * kMiB, 21));
    HandMadeBlob blob = make_blob(pool, 1, 4 * kMiB + 64, encoded);
    offer(vandal, 1, blob.segment.fd());

    for (int round = 0; round < 3; ++round) {
        const auto [status, payload] = echo_blob(vandal, ref_bytes(blob.ref));
        ASSERT_EQ(status, 0) << payload;
        const ReplyRecord reply = vandal.last_reply();
        ASSERT_NE(reply.flags & kJobBlob, 0u) << "a 4 MiB result comes in a blob";
        ASSERT_EQ(payload.size(), sizeof(BlobRef));
        BlobRef result{};
        std::memcpy(&result, payload.data(), sizeof result);
        EXPECT_EQ(reply.worker_pid, workers[0]);

        ASSERT_TRUE(send_message(vandal.control(), protocol::BlobWant{reply.worker_pid, result.object}).ok());
        std::vector<UniqueFd> fds;
        auto frame = receive_frame(vandal.control(), 5000, &fds);
        ASSERT_TRUE(frame.ok() && frame.value()) << "no answer to the blob want";
        auto give = protocol::decode<protocol::BlobGive>(*frame.value());
        ASSERT_TRUE(give.ok()) << give.error().message();
        ASSERT_TRUE(give->found) << give->message;
        ASSERT_EQ(fds.size(), 1u);
        auto mapped = SharedSegment::adopt(UniqueFd(::fcntl(fds[0].get(), F_DUPFD_CLOEXEC, 0)), 0,
                                           SharedSegment::Access::read_write, "their result");
        ASSERT_TRUE(mapped.ok()) << mapped.error().message();
        ASSERT_GE(mapped->size(), kBlobDataOffset + result.bytes);
        EXPECT_TRUE(std::string_view(reinterpret_cast<const char*>(mapped->data()) + kBlobDataOffset, result.bytes) ==
                    encoded)
            << "round " << round;
        expect_size_sealed(fds[0].get(), "the worker's result blob, round " + std::to_string(round));
        // Done with it: free, so the worker reuses it for the next round.
        reinterpret_cast<BlobHeader*>(mapped->data())->state.store(static_cast<std::uint32_t>(BlobState::free));

        const std::string mine = random_bytes(2 * kMiB, 40 + round);
        EXPECT_TRUE(victim.call<std::string>("echo", mine) == mine);
        EXPECT_EQ(pool.ready_worker_pids(), workers) << "round " << round;
    }
    EXPECT_EQ(crashes_of(pool), 0u);
    EXPECT_EQ(pool.ready_worker_pids(), workers) << "the worker survived";
    expect_serving(victim);
}

}  // namespace
}  // namespace warmpool
