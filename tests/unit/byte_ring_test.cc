// Tests for ByteRing (byte_ring.hpp): records of every size, wrap-around with padding,
// back-pressure, batch publication, corrupt frames and hostile indices, takeover of a dead
// producer or consumer, and two processes sharing a ring in a real shared-memory segment,
// including a producer killed with SIGKILL at a random moment and replaced.
//
// In-process rings live in heap memory followed by a guard zone. Under AddressSanitizer the
// guard is poisoned, so any read or write outside the ring aborts the test; without it, stray
// writes still show as a damaged guard pattern.

#include "warmpool/common/byte_ring.hpp"

#include <gtest/gtest.h>

#include "child_process.hpp"
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <deque>
#include <new>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "warmpool/common/clock.hpp"
#include "warmpool/common/shared_segment.hpp"
#include "warmpool/common/wake_flag.hpp"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define WP_POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define WP_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define WP_POISON(p, n) ((void)(p), (void)(n))
#define WP_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

namespace warmpool {
namespace {

using Peek = RingConsumer::Peek;
using namespace std::chrono_literals;

// ---------------------------------------------------------------------------------------------
// Helpers

// A ring in heap memory with a guard zone after its data area (see the file comment).
class GuardedRing {
public:
    static constexpr std::size_t kGuard = 256;
    static constexpr unsigned char kGuardByte = 0xA5;

    explicit GuardedRing(std::uint64_t capacity)
        : capacity_(capacity),
          bytes_(ring_bytes_needed(capacity)),
          base_(static_cast<std::byte*>(::operator new (bytes_ + kGuard, std::align_val_t{64}))) {
        std::memset(base_, 0, bytes_);
        new (base_) RingControl();
        std::memset(base_ + bytes_, kGuardByte, kGuard);
        WP_POISON(base_ + bytes_, kGuard);
    }
    ~GuardedRing() {
        WP_UNPOISON(base_ + bytes_, kGuard);
        ::operator delete (base_, std::align_val_t{64});
    }
    GuardedRing(const GuardedRing&) = delete;
    GuardedRing& operator=(const GuardedRing&) = delete;

    RingView view() const { return RingView::at(base_, capacity_); }
    RingControl& control() const { return *view().control; }
    std::byte* data() const { return view().data; }
    std::uint64_t capacity() const { return capacity_; }

    bool guard_intact() const {
        WP_UNPOISON(base_ + bytes_, kGuard);
        bool intact = true;
        for (std::size_t i = 0; i < kGuard; ++i) {
            intact = intact && base_[bytes_ + i] == std::byte{kGuardByte};
        }
        WP_POISON(base_ + bytes_, kGuard);
        return intact;
    }

private:
    std::uint64_t capacity_;
    std::size_t bytes_;
    std::byte* base_;
};

// The 8-byte frame in front of every record (byte_ring.hpp).
struct RawFrame {
    std::uint32_t size;
    std::uint32_t kind;
};

RawFrame frame_at(const GuardedRing& ring, std::uint64_t offset) {
    RawFrame frame;
    std::memcpy(&frame, ring.data() + offset, sizeof frame);
    return frame;
}

void put_frame(GuardedRing& ring, std::uint64_t offset, RawFrame frame) {
    std::memcpy(ring.data() + offset, &frame, sizeof frame);
}

// Record bodies: byte i of record `seq` is pattern(seq, i), except that records of 8 bytes or
// more start with `seq` itself, so a misplaced, torn or reordered record shows.
std::byte pattern(std::uint64_t seq, std::uint64_t i) {
    return static_cast<std::byte>((seq * 131 + i * 7 + (seq >> 8) + 1) & 0xff);
}

void write_record(std::byte* p, std::uint32_t size, std::uint64_t seq) {
    for (std::uint32_t i = 0; i < size; ++i) p[i] = pattern(seq, i);
    if (size >= sizeof seq) std::memcpy(p, &seq, sizeof seq);
}

// Empty if `body` is record `seq` of `size` bytes; else what is wrong.
std::string check_record(std::span<const std::byte> body, std::uint64_t seq, std::uint32_t size) {
    if (body.size() != size) {
        return "record " + std::to_string(seq) + ": size " + std::to_string(body.size()) +
               ", expected " + std::to_string(size);
    }
    std::size_t i = 0;
    if (size >= sizeof seq) {
        std::uint64_t got;
        std::memcpy(&got, body.data(), sizeof got);
        if (got != seq) {
            return "record " + std::to_string(seq) + " carries sequence number " +
                   std::to_string(got);
        }
        i = sizeof seq;
    }
    for (; i < size; ++i) {
        if (body[i] != pattern(seq, i)) {
            return "record " + std::to_string(seq) + ": byte " + std::to_string(i) + " differs";
        }
    }
    return {};
}

// Produces one record; false if the ring has no room.
bool produce(RingProducer& producer, std::uint32_t size, std::uint64_t seq) {
    std::byte* p = producer.try_reserve(size);
    if (p == nullptr) return false;
    write_record(p, size, seq);
    producer.commit(size);
    return true;
}

std::uint64_t offset_in(const GuardedRing& ring, std::span<const std::byte> body) {
    return static_cast<std::uint64_t>(body.data() - ring.data());
}

bool inside(const GuardedRing& ring, std::span<const std::byte> body) {
    return body.data() >= ring.data() && body.data() + body.size() <= ring.data() + ring.capacity();
}

// The frame kinds, learnt from what a producer writes rather than copied from byte_ring.cpp.
struct Kinds {
    std::uint32_t record;
    std::uint32_t wrap;
};

Kinds learn_kinds() {
    GuardedRing ring(4096);
    RingProducer producer(ring.view());
    RingConsumer consumer(ring.view());
    // 4096-byte ring: records of 2000 and 2040 bytes end at 4056; the next 100-byte record
    // needs 112 bytes and so wraps, leaving a wrap frame at 4056.
    EXPECT_TRUE(produce(producer, 2000, 0));
    EXPECT_TRUE(produce(producer, 2040, 1));
    producer.publish();
    std::span<const std::byte> body;
    while (consumer.peek(body) == Peek::record) consumer.pop();
    consumer.release();
    EXPECT_TRUE(produce(producer, 100, 2));
    return Kinds{frame_at(ring, 0).kind, frame_at(ring, 4056).kind};
}

using testing::Child;

bool exited_zero(const std::optional<int>& status) {
    return status && WIFEXITED(*status) && WEXITSTATUS(*status) == 0;
}

std::string unique_shm_name(const char* what) {
    static int counter = 0;
    return "warmpool-ut." + std::to_string(::getpid()) + "." + what + "." +
           std::to_string(counter++);
}

// ---------------------------------------------------------------------------------------------
// Single-process behaviour

TEST(ByteRing, RoundTripsRecordsOfEverySizeUpToMaxRecord) {
    GuardedRing ring(4096);
    RingProducer producer(ring.view());
    RingConsumer consumer(ring.view());
    const std::uint32_t max = producer.max_record();
    ASSERT_EQ(max, 4096u / 2 - 8);

    std::vector<std::uint32_t> sizes;
    for (std::uint32_t s = 0; s <= 72; ++s) sizes.push_back(s);
    for (std::uint32_t s : {127u, 128u, 129u, 1000u, max - 9, max - 1, max}) sizes.push_back(s);

    std::uint64_t seq = 0;
    for (std::uint32_t size : sizes) {
        ASSERT_TRUE(produce(producer, size, seq)) << "size " << size;
        producer.publish();
        std::span<const std::byte> body;
        ASSERT_EQ(consumer.peek(body), Peek::record) << "size " << size;
        EXPECT_EQ(check_record(body, seq, size), "");
        EXPECT_TRUE(inside(ring, body));
        consumer.pop();
        consumer.release();
        EXPECT_EQ(consumer.peek(body), Peek::empty);
        ++seq;
    }
    EXPECT_EQ(producer.try_reserve(max + 1), nullptr);
    EXPECT_EQ(producer.try_reserve(UINT32_MAX), nullptr);
    EXPECT_FALSE(producer.has_unpublished());
    EXPECT_TRUE(ring.guard_intact());
}

TEST(ByteRing, ManyQueuedRecordsComeOutInOrder) {
    GuardedRing ring(1 << 16);
    RingProducer producer(ring.view());
    RingConsumer consumer(ring.view());
    std::vector<std::uint32_t> sizes;
    for (std::uint32_t i = 0; i < 300; ++i) sizes.push_back((i * 37) % 97);
    for (std::uint64_t seq = 0; seq < sizes.size(); ++seq) {
        ASSERT_TRUE(produce(producer, sizes[seq], seq));
    }
    producer.publish();
    std::span<const std::byte> body;
    for (std::uint64_t seq = 0; seq < sizes.size(); ++seq) {
        ASSERT_EQ(consumer.peek(body), Peek::record) << seq;
        ASSERT_EQ(check_record(body, seq, sizes[seq]), "");
        consumer.pop();
    }
    EXPECT_EQ(consumer.peek(body), Peek::empty);
    consumer.release();
    EXPECT_EQ(ring.control().head.load(), ring.control().tail.load());
}

TEST(ByteRing, CommitMayShrinkTheReservedRecord) {
    GuardedRing ring(4096);
    RingProducer producer(ring.view());
    RingConsumer consumer(ring.view());
    std::byte* p = producer.try_reserve(500);
    ASSERT_NE(p, nullptr);
    write_record(p, 10, 7);
    producer.commit(10);
    ASSERT_TRUE(produce(producer, 20, 8));
    producer.publish();
    // The shrunk record occupies only align8(8 + 10) bytes.
    EXPECT_EQ(ring.control().tail.load(), 24u + 32u);
    std::span<const std::byte> body;
    ASSERT_EQ(consumer.peek(body), Peek::record);
    EXPECT_EQ(check_record(body, 7, 10), "");
    consumer.pop();
    ASSERT_EQ(consumer.peek(body), Peek::record);
    EXPECT_EQ(check_record(body, 8, 20), "");
}

TEST(ByteRing, ExactFitAtTheEndNeedsNoPadding) {
    GuardedRing ring(4096);
    RingProducer producer(ring.view());
    RingConsumer consumer(ring.view());
    // 32 records of 120 bytes take 128 bytes each: exactly the ring.
    for (std::uint64_t seq = 0; seq < 32; ++seq) ASSERT_TRUE(produce(producer, 120, seq));
    EXPECT_EQ(producer.free_bytes(), 0u);
    EXPECT_EQ(producer.try_reserve(0), nullptr);
    producer.publish();
    std::span<const std::byte> body;
    ASSERT_EQ(consumer.peek(body), Peek::record);
    consumer.pop();
    consumer.release();
    // One record freed: the next one goes to offset 0, with no wrap frame in front.
    ASSERT_TRUE(produce(producer, 120, 32));
    producer.publish();
    EXPECT_EQ(frame_at(ring, 0).size, 120u);
    for (std::uint64_t seq = 1; seq <= 32; ++seq) {
        ASSERT_EQ(consumer.peek(body), Peek::record);
        ASSERT_EQ(check_record(body, seq, 120), "");
        consumer.pop();
    }
    EXPECT_EQ(offset_in(ring, body), 8u);
    EXPECT_EQ(consumer.peek(body), Peek::empty);
}

TEST(ByteRing, WrapFrameOfZeroBytesFillsAnEightByteGap) {
    GuardedRing ring(4096);
    RingProducer producer(ring.view());
    RingConsumer consumer(ring.view());
    const Kinds kinds = learn_kinds();
    // 31 x 128 + 120 bytes: the tail stops 8 bytes before the end.
    for (std::uint64_t seq = 0; seq < 31; ++seq) ASSERT_TRUE(produce(producer, 120, seq));
    ASSERT_TRUE(produce(producer, 112, 31));
    producer.publish();
    ASSERT_EQ(ring.control().tail.load(), 4088u);
    std::span<const std::byte> body;
    while (consumer.peek(body) == Peek::record) consumer.pop();
    consumer.release();

    ASSERT_TRUE(produce(producer, 8, 32));  // 16 bytes: cannot fit in the last 8
    producer.publish();
    const RawFrame wrap = frame_at(ring, 4088);
    EXPECT_EQ(wrap.kind, kinds.wrap);
    EXPECT_EQ(wrap.size, 0u);
    EXPECT_EQ(ring.control().tail.load(), 4096u + 16u);
    ASSERT_EQ(consumer.peek(body), Peek::record);
    EXPECT_EQ(offset_in(ring, body), 8u);
    EXPECT_EQ(check_record(body, 32, 8), "");
    consumer.pop();
    consumer.release();
    EXPECT_EQ(ring.control().head.load(), 4096u + 16u);
}

TEST(ByteRing, FillAndDrainRepeatedlyWrapsWithPaddingAndKeepsContentAndOrder) {
    GuardedRing ring(4096);
    RingProducer producer(ring.view());
    RingConsumer consumer(ring.view());
    const std::uint32_t max = producer.max_record();
    std::mt19937_64 rng(12345);
    auto pick_size = [&]() -> std::uint32_t {
        switch (rng() % 4) {
            case 0:
                return static_cast<std::uint32_t>(rng() % 16);
            case 1:
                return static_cast<std::uint32_t>(rng() % 200);
            case 2:
                return static_cast<std::uint32_t>(rng() % 700);
            default:
                return static_cast<std::uint32_t>(rng() % (max + 1));
        }
    };

    std::deque<std::uint32_t> in_flight;  // sizes of produced, unconsumed records
    std::uint64_t next_write = 0, next_read = 0;
    std::uint64_t prev_end = 0;  // offset just past the previous record's frame and padding
    int padded_wraps = 0, exact_wraps = 0;
    for (int round = 0; round < 3000; ++round) {
        for (;;) {
            const std::uint32_t size = pick_size();
            if (!produce(producer, size, next_write)) break;
            in_flight.push_back(size);
            ++next_write;
        }
        producer.publish();
        std::span<const std::byte> body;
        Peek peek;
        while ((peek = consumer.peek(body)) == Peek::record) {
            ASSERT_FALSE(in_flight.empty());
            ASSERT_EQ(check_record(body, next_read, in_flight.front()), "") << "round " << round;
            ASSERT_TRUE(inside(ring, body));
            const std::uint64_t start = offset_in(ring, body) - 8;
            if (start < prev_end || (start == 0 && prev_end == ring.capacity())) {
                ASSERT_EQ(start, 0u) << "a record after a wrap starts at offset 0";
                if (prev_end == ring.capacity()) {
                    ++exact_wraps;
                } else {
                    ++padded_wraps;
                }
            } else {
                ASSERT_EQ(start, prev_end) << "records are contiguous";
            }
            prev_end = start + ((8 + body.size() + 7) & ~std::uint64_t{7});
            in_flight.pop_front();
            ++next_read;
            consumer.pop();
        }
        ASSERT_EQ(peek, Peek::empty);
        ASSERT_TRUE(in_flight.empty());
        consumer.release();
    }
    EXPECT_EQ(next_read, next_write);
    EXPECT_GT(padded_wraps, 500);
    EXPECT_GT(exact_wraps, 0);
    EXPECT_GT(ring.control().tail.load(), 1000 * ring.capacity());
    EXPECT_TRUE(ring.guard_intact());
}

TEST(ByteRing, RandomlyInterleavedProducerAndConsumerAgree) {
    GuardedRing ring(8192);
    RingProducer producer(ring.view());
    RingConsumer consumer(ring.view());
    std::mt19937_64 rng(777);
    std::deque<std::uint32_t> sizes;  // of records produced and not yet consumed
    std::uint64_t next_write = 0, next_read = 0, published = 0;
    for (int step = 0; step < 200000; ++step) {
        switch (rng() % 5) {
            case 0:
            case 1: {
                const auto size =
                    static_cast<std::uint32_t>(rng() % 3 == 0 ? rng() % 4000 : rng() % 64);
                if (produce(producer, size, next_write)) {
                    sizes.push_back(size);
                    ++next_write;
                }
                break;
            }
            case 2:
                producer.publish();
                published = next_write;
                break;
            case 3: {
                std::span<const std::byte> body;
                const Peek peek = consumer.peek(body);
                if (next_read == published) {
                    ASSERT_EQ(peek, Peek::empty) << "step " << step;
                } else {
                    ASSERT_EQ(peek, Peek::record) << "step " << step;
                    ASSERT_EQ(check_record(body, next_read, sizes.front()), "") << "step " << step;
                    consumer.pop();
                    sizes.pop_front();
                    ++next_read;
                }
                break;
            }
            default:
                consumer.release();
                break;
        }
    }
    EXPECT_GT(next_read, 10000u);
    EXPECT_TRUE(ring.guard_intact());
}

TEST(ByteRing, TryReserveFailsWhenFullAndSucceedsOnceTheConsumerReleases) {
    GuardedRing ring(4096);
    RingProducer producer(ring.view());
    RingConsumer consumer(ring.view());
    // 100-byte records take 112 bytes: 36 fit (4032 bytes) and the 64 left cannot take another.
    std::uint64_t seq = 0;
    while (produce(producer, 100, seq)) ++seq;
    ASSERT_EQ(seq, 36u);
    EXPECT_EQ(producer.free_bytes(), 64u);
    EXPECT_EQ(producer.try_reserve(100), nullptr);
    EXPECT_NE(producer.try_reserve(48), nullptr) << "a smaller record still fits";
    producer.publish();

    // Popping alone frees nothing: the space comes back with release().
    std::span<const std::byte> body;
    ASSERT_EQ(consumer.peek(body), Peek::record);
    consumer.pop();
    EXPECT_EQ(producer.try_reserve(100), nullptr);
    consumer.release();
    // Now 112 + 64 bytes are free: the wrap frame (64) plus one record (112).
    ASSERT_TRUE(produce(producer, 100, 1000));
    EXPECT_EQ(producer.try_reserve(0), nullptr);
    producer.publish();
    for (std::uint64_t s = 1; s < 36; ++s) {
        ASSERT_EQ(consumer.peek(body), Peek::record);
        ASSERT_EQ(check_record(body, s, 100), "");
        consumer.pop();
    }
    ASSERT_EQ(consumer.peek(body), Peek::record);
    EXPECT_EQ(check_record(body, 1000, 100), "");
    EXPECT_EQ(offset_in(ring, body), 8u);
}

TEST(ByteRing, ReleaseWakesAProducerWaitingForSpace) {
    GuardedRing ring(4096);
    RingConsumer consumer(ring.view());
    RingProducer producer(ring.view());
    ASSERT_TRUE(produce(producer, 16, 0));
    producer.publish();
    RingControl& control = ring.control();
    const std::uint32_t token = control.space.prepare_sleep();
    std::span<const std::byte> body;
    ASSERT_EQ(consumer.peek(body), Peek::record);
    consumer.pop();
    consumer.release();
    EXPECT_EQ(control.space.waiting.load(), 0u);
    EXPECT_NE(control.space.sequence.load(), token);
    // Without a waiter, release() makes no wake-up.
    ASSERT_TRUE(produce(producer, 16, 1));
    producer.publish();
    const std::uint32_t before = control.space.sequence.load();
    ASSERT_EQ(consumer.peek(body), Peek::record);
    consumer.pop();
    consumer.release();
    EXPECT_EQ(control.space.sequence.load(), before);
}

TEST(ByteRing, RecordsStayInvisibleUntilPublish) {
    GuardedRing ring(4096);
    RingProducer producer(ring.view());
    RingConsumer consumer(ring.view());
    for (std::uint64_t seq = 0; seq < 10; ++seq) ASSERT_TRUE(produce(producer, 24, seq));
    EXPECT_TRUE(producer.has_unpublished());
    EXPECT_EQ(ring.control().tail.load(), 0u);
    std::span<const std::byte> body;
    EXPECT_EQ(consumer.peek(body), Peek::empty);
    EXPECT_TRUE(consumer.empty_now());

    producer.publish();
    EXPECT_FALSE(producer.has_unpublished());
    EXPECT_FALSE(consumer.empty_now());
    for (std::uint64_t seq = 0; seq < 10; ++seq) {
        ASSERT_EQ(consumer.peek(body), Peek::record);
        ASSERT_EQ(check_record(body, seq, 24), "");
        consumer.pop();
    }
    EXPECT_EQ(consumer.peek(body), Peek::empty);
    EXPECT_TRUE(consumer.empty_now());
    producer.publish();  // nothing new: no store
    EXPECT_EQ(ring.control().tail.load(), 10u * 32u);
}

TEST(ByteRing, PeekWithoutPopReturnsTheSameRecord) {
    GuardedRing ring(4096);
    RingProducer producer(ring.view());
    RingConsumer consumer(ring.view());
    ASSERT_TRUE(produce(producer, 30, 1));
    ASSERT_TRUE(produce(producer, 40, 2));
    producer.publish();
    std::span<const std::byte> first, again;
    ASSERT_EQ(consumer.peek(first), Peek::record);
    ASSERT_EQ(consumer.peek(again), Peek::record);
    EXPECT_EQ(first.data(), again.data());
    EXPECT_EQ(check_record(again, 1, 30), "");
    consumer.pop();
    ASSERT_EQ(consumer.peek(again), Peek::record);
    EXPECT_EQ(check_record(again, 2, 40), "");
}

// ---------------------------------------------------------------------------------------------
// Corrupt frames and hostile indices

// A ring whose consumer stands at `head` with one valid 16-byte record published there.
struct CorruptFixture {
    explicit CorruptFixture(std::uint64_t head) : ring(4096) {
        ring.control().head.store(head);
        ring.control().tail.store(head);
        RingProducer producer(ring.view());
        EXPECT_TRUE(produce(producer, 16, 1));
        producer.publish();
        pos = head & (ring.capacity() - 1);
    }
    Peek peek() {
        RingConsumer consumer(ring.view());
        std::span<const std::byte> body;
        Peek result = consumer.peek(body);
        if (result == Peek::record) {
            EXPECT_TRUE(inside(ring, body));
        }
        return result;
    }
    GuardedRing ring;
    std::uint64_t pos;
};

TEST(ByteRingCorruption, GarbageFrameKindIsCorrupt) {
    const Kinds kinds = learn_kinds();
    for (std::uint32_t kind : {0u, 0xdeadbeefu, kinds.record + 1, kinds.wrap ^ 0x80000000u}) {
        CorruptFixture f(64);
        ASSERT_EQ(f.peek(), Peek::record);
        put_frame(f.ring, f.pos, RawFrame{16, kind});
        EXPECT_EQ(f.peek(), Peek::corrupt) << std::hex << kind;
    }
    EXPECT_NE(kinds.record, kinds.wrap);
}

TEST(ByteRingCorruption, ImpossibleRecordSizeIsCorrupt) {
    const Kinds kinds = learn_kinds();
    // Published: 24 bytes. Any size needing more than that, or more than the ring, is corrupt.
    for (std::uint32_t size : {17u, 100u, 4096u, 0xfffffff8u, 0xffffffffu}) {
        CorruptFixture f(64);
        put_frame(f.ring, f.pos, RawFrame{size, kinds.record});
        EXPECT_EQ(f.peek(), Peek::corrupt) << size;
    }
}

TEST(ByteRingCorruption, RecordStraddlingTheEndIsCorrupt) {
    const Kinds kinds = learn_kinds();
    CorruptFixture f(4096 - 16);
    ASSERT_EQ(f.peek(), Peek::record);
    // A 64-byte record at 4080 would run past the end; the tail claims enough bytes for it.
    put_frame(f.ring, f.pos, RawFrame{64, kinds.record});
    f.ring.control().tail.store(4096 - 16 + 72);
    EXPECT_EQ(f.peek(), Peek::corrupt);
}

TEST(ByteRingCorruption, BadWrapFramesAreCorrupt) {
    const Kinds kinds = learn_kinds();
    {
        CorruptFixture f(4096 - 16);  // a wrap frame here must say 8 bytes
        put_frame(f.ring, f.pos, RawFrame{0, kinds.wrap});
        f.ring.control().tail.store(4096 + 24);
        EXPECT_EQ(f.peek(), Peek::corrupt);
        put_frame(f.ring, f.pos, RawFrame{16, kinds.wrap});
        EXPECT_EQ(f.peek(), Peek::corrupt);
        put_frame(f.ring, f.pos, RawFrame{8, kinds.wrap});
        put_frame(f.ring, 0, RawFrame{16, kinds.record});
        EXPECT_EQ(f.peek(), Peek::record) << "the well-formed wrap is accepted";
    }
    {
        CorruptFixture f(4096 - 16);  // correct wrap frame, but the tail does not cover it
        put_frame(f.ring, f.pos, RawFrame{8, kinds.wrap});
        f.ring.control().tail.store(4096 - 16 + 8);
        EXPECT_EQ(f.peek(), Peek::corrupt);
    }
    {
        CorruptFixture f(64);  // a wrap frame in mid-ring claims to reach the end
        put_frame(f.ring, f.pos, RawFrame{16, kinds.wrap});
        EXPECT_EQ(f.peek(), Peek::corrupt);
    }
}

TEST(ByteRingCorruption, ImpossibleTailIsCorrupt) {
    const std::uint64_t head = 4096 * 3 + 64;
    for (std::uint64_t tail : {head + 3, head + 4, head + 12, head + 4096 + 8, head - 8, head - 1,
                               std::uint64_t{0}, UINT64_MAX}) {
        CorruptFixture f(head);
        f.ring.control().tail.store(tail);
        EXPECT_EQ(f.peek(), Peek::corrupt)
            << "tail - head = " << static_cast<std::int64_t>(tail - head);
    }
}

TEST(ByteRingCorruption, GarbageEverywhereNeverYieldsARecordOutsideTheRing) {
    const Kinds kinds = learn_kinds();
    std::mt19937_64 rng(4242);
    int records = 0, corrupt = 0;
    for (int trial = 0; trial < 3000; ++trial) {
        GuardedRing ring(4096);
        for (std::uint64_t i = 0; i < 4096; i += 8) {
            RawFrame frame{static_cast<std::uint32_t>(rng()), static_cast<std::uint32_t>(rng())};
            switch (rng() % 4) {  // plausible frames make the consumer go further
                case 0:
                    frame = RawFrame{static_cast<std::uint32_t>(rng() % 64), kinds.record};
                    break;
                case 1:
                    frame = RawFrame{static_cast<std::uint32_t>(4096 - i - 8), kinds.wrap};
                    break;
                default:
                    break;
            }
            put_frame(ring, i, frame);
        }
        const std::uint64_t head = (rng() % (1 << 20)) & ~std::uint64_t{7};
        ring.control().head.store(head);
        ring.control().tail.store(rng() % 2 ? head + rng() % 8192 : rng());
        RingConsumer consumer(ring.view());
        std::span<const std::byte> body;
        for (int step = 0; step < 64; ++step) {
            const Peek peek = consumer.peek(body);
            if (peek != Peek::record) {
                corrupt += peek == Peek::corrupt;
                break;
            }
            ++records;
            ASSERT_TRUE(inside(ring, body)) << "trial " << trial;
            consumer.pop();
        }
        ASSERT_TRUE(ring.guard_intact());
    }
    EXPECT_GT(records, 200);
    EXPECT_GT(corrupt, 1000);
}

// Regression: a consumer taking over at a scribbled, misaligned head read its frame across the
// end of the data area.
TEST(ByteRingCorruption, ConsumerAtAMisalignedHeadReportsCorruptWithoutReadingOutside) {
    const Kinds kinds = learn_kinds();
    for (std::uint64_t head :
         {std::uint64_t{4096 - 4}, std::uint64_t{4096 - 1}, std::uint64_t{12}}) {
        GuardedRing ring(4096);
        for (std::uint64_t i = 0; i < 4096; i += 8) put_frame(ring, i, RawFrame{0, kinds.record});
        ring.control().head.store(head);
        ring.control().tail.store(head + 64);
        RingConsumer consumer(ring.view());
        std::span<const std::byte> body;
        EXPECT_EQ(consumer.peek(body), Peek::corrupt) << head;
    }
}

TEST(ByteRingHostileHead, HeadAheadOfTailMakesTryReserveFailWithoutWriting) {
    GuardedRing ring(4096);
    RingProducer producer(ring.view());
    RingConsumer consumer(ring.view());
    for (std::uint64_t seq = 0; seq < 5; ++seq) ASSERT_TRUE(produce(producer, 40, seq));
    producer.publish();
    const std::uint64_t tail = ring.control().tail.load();

    // Indices are compared modulo 2^64: these heads all claim to be ahead of the tail.
    for (std::uint64_t hostile :
         {tail + 8, tail + 4096, tail + 1, tail + (std::uint64_t{1} << 63)}) {
        ring.control().head.store(hostile);
        const std::vector<std::byte> before(ring.data(), ring.data() + ring.capacity());
        RingProducer fresh(ring.view());  // takes over: loads the hostile head
        EXPECT_EQ(fresh.free_bytes(), 0u);
        for (std::uint32_t size : {0u, 8u, 100u, fresh.max_record()}) {
            EXPECT_EQ(fresh.try_reserve(size), nullptr) << hostile << " " << size;
        }
        EXPECT_TRUE(std::equal(before.begin(), before.end(), ring.data())) << "nothing written";
    }
    EXPECT_TRUE(ring.guard_intact());

    ring.control().head.store(0);  // the honest value again: the records are all still there
    std::span<const std::byte> body;
    for (std::uint64_t seq = 0; seq < 5; ++seq) {
        ASSERT_EQ(consumer.peek(body), Peek::record);
        ASSERT_EQ(check_record(body, seq, 40), "");
        consumer.pop();
    }
}

TEST(ByteRingHostileHead, HeadFarBehindMakesTryReserveFailRatherThanOverwrite) {
    GuardedRing ring(4096);
    RingProducer producer(ring.view());
    RingConsumer consumer(ring.view());
    // Cycle a few times around the ring so that the tail is far from zero.
    std::span<const std::byte> body;
    std::uint64_t seq = 0;
    for (int i = 0; i < 200; ++i) {
        ASSERT_TRUE(produce(producer, 100, seq++));
        producer.publish();
        ASSERT_EQ(consumer.peek(body), Peek::record);
        consumer.pop();
        consumer.release();
    }
    // Fill the ring completely, so that the producer's cached head no longer suffices for even
    // the smallest record and it must reload the (now hostile) head.
    std::vector<std::pair<std::uint64_t, std::uint32_t>> unread;  // seq, size
    for (std::uint32_t size : {100u, 0u}) {
        while (produce(producer, size, seq)) unread.emplace_back(seq++, size);
    }
    ASSERT_EQ(producer.free_bytes(), 0u);
    producer.publish();
    const std::uint64_t tail = ring.control().tail.load();
    const std::uint64_t honest_head = ring.control().head.load();
    const std::vector<std::byte> before(ring.data(), ring.data() + ring.capacity());

    for (std::uint64_t hostile : {tail - 4096 - 8, tail - 2 * 4096, std::uint64_t{0}}) {
        ring.control().head.store(hostile);
        EXPECT_EQ(producer.try_reserve(8), nullptr) << "head " << hostile << ", tail " << tail;
        EXPECT_EQ(producer.free_bytes(), 0u);
        RingProducer fresh(ring.view());
        EXPECT_EQ(fresh.try_reserve(8), nullptr);
    }
    EXPECT_TRUE(std::equal(before.begin(), before.end(), ring.data())) << "nothing overwritten";
    EXPECT_TRUE(ring.guard_intact());

    ring.control().head.store(honest_head);
    for (const auto& [s, size] : unread) {
        ASSERT_EQ(consumer.peek(body), Peek::record);
        ASSERT_EQ(check_record(body, s, size), "");
        consumer.pop();
    }
    EXPECT_EQ(consumer.peek(body), Peek::empty);
}

// Regression: a producer taking over a ring whose tail was scribbled to a misaligned value wrote
// a wrap frame across the end of the data area.
TEST(ByteRingHostileHead, ProducerTakingOverAMisalignedTailNeverWritesOutsideTheRing) {
    for (std::uint64_t tail :
         {std::uint64_t{4096 - 4}, std::uint64_t{4096 * 5 - 1}, std::uint64_t{4}}) {
        GuardedRing ring(4096);
        ring.control().head.store(tail);
        ring.control().tail.store(tail);
        RingProducer producer(ring.view());
        for (int i = 0; i < 600; ++i) {
            std::byte* p = producer.try_reserve(8);
            if (p == nullptr) break;
            ASSERT_GE(p, ring.data());
            ASSERT_LE(p + 8, ring.data() + ring.capacity());
            producer.commit(8);
            producer.publish();
            ring.control().head.store(ring.control().tail.load());  // a consumer keeping up
        }
        EXPECT_TRUE(ring.guard_intact()) << "tail " << tail;
    }
}

// ---------------------------------------------------------------------------------------------
// Takeover

TEST(ByteRingTakeover, NewProducerResumesFromThePublishedTail) {
    GuardedRing ring(4096);
    RingConsumer consumer(ring.view());
    std::uint64_t seq = 0;
    {
        RingProducer dead(ring.view());
        // Bring the tail near the end so that the successor has to wrap.
        for (; seq < 30; ++seq) ASSERT_TRUE(produce(dead, 120, seq));
        dead.publish();
        std::span<const std::byte> body;
        for (int i = 0; i < 25; ++i) {
            ASSERT_EQ(consumer.peek(body), Peek::record);
            consumer.pop();
        }
        consumer.release();
        // Committed but never published: lost with the producer.
        ASSERT_TRUE(produce(dead, 40, 9000));
        ASSERT_TRUE(produce(dead, 40, 9001));
    }
    RingProducer successor(ring.view());
    EXPECT_FALSE(successor.has_unpublished());
    for (std::uint64_t s = 30; s < 40; ++s) ASSERT_TRUE(produce(successor, 120, s));
    successor.publish();

    std::span<const std::byte> body;
    for (std::uint64_t s = 25; s < 40; ++s) {
        ASSERT_EQ(consumer.peek(body), Peek::record) << s;
        ASSERT_EQ(check_record(body, s, 120), "");
        consumer.pop();
    }
    EXPECT_EQ(consumer.peek(body), Peek::empty);
    EXPECT_TRUE(ring.guard_intact());
}

TEST(ByteRingTakeover, NewConsumerResumesFromTheReleasedHead) {
    GuardedRing ring(4096);
    RingProducer producer(ring.view());
    for (std::uint64_t seq = 0; seq < 20; ++seq) ASSERT_TRUE(produce(producer, 50, seq));
    producer.publish();
    std::span<const std::byte> body;
    {
        RingConsumer dead(ring.view());
        for (int i = 0; i < 5; ++i) {
            ASSERT_EQ(dead.peek(body), Peek::record);
            dead.pop();
        }
        dead.release();
        // Popped but not released: its successor sees these again.
        for (int i = 0; i < 3; ++i) {
            ASSERT_EQ(dead.peek(body), Peek::record);
            dead.pop();
        }
    }
    RingConsumer successor(ring.view());
    for (std::uint64_t seq = 5; seq < 20; ++seq) {
        ASSERT_EQ(successor.peek(body), Peek::record);
        ASSERT_EQ(check_record(body, seq, 50), "");
        successor.pop();
    }
    EXPECT_EQ(successor.peek(body), Peek::empty);
}

// ---------------------------------------------------------------------------------------------
// Two processes

// Shared between the test process and its producer children; the ring follows at kRingOffset.
struct SharedArea {
    WakeFlag data;  // the consumer (test process) waits here for records
};
constexpr std::size_t kRingOffset = 4096;
constexpr std::uint64_t kSharedRingCapacity = 1 << 16;

// Sizes vary with the sequence number: mostly small, now and then large, so that wraps fall at
// irregular places.
std::uint32_t record_size(std::uint64_t seq, std::uint32_t max) {
    const std::uint64_t h = (seq + 1) * 0x9e3779b97f4a7c15ULL;
    if (seq % 997 == 0) return 8 + static_cast<std::uint32_t>((h >> 20) % (max - 8 + 1));
    return 8 + static_cast<std::uint32_t>((h >> 40) % 128);
}

class SharedRing {
public:
    SharedRing() {
        auto segment = SharedSegment::create(unique_shm_name("ring"),
                                             kRingOffset + ring_bytes_needed(kSharedRingCapacity));
        if (!segment) {
            ADD_FAILURE() << segment.error().message();
            return;
        }
        segment_ = std::move(segment.value());
        new (segment_.data()) SharedArea();
        new (segment_.data() + kRingOffset) RingControl();
    }
    bool ok() const { return segment_.valid(); }
    SharedArea& area() const { return *reinterpret_cast<SharedArea*>(segment_.data()); }
    RingView view() const {
        return RingView::at(segment_.data() + kRingOffset, kSharedRingCapacity);
    }

private:
    SharedSegment segment_;  // owner: the name goes with the test
};

// Runs in a child: produces records first, first + 1, ... (count 0: until killed).
int produce_sequence(RingView view, SharedArea* area, std::uint64_t first, std::uint64_t count) {
    RingProducer producer(view);
    WakeFlag& space = view.control->space;
    for (std::uint64_t seq = first; count == 0 || seq < first + count; ++seq) {
        const std::uint32_t size = record_size(seq, producer.max_record());
        std::byte* p = producer.try_reserve(size);
        for (int spin = 0; p == nullptr; ++spin) {
            producer.publish();
            area->data.notify_futex();
            if (spin < 100) {
                p = producer.try_reserve(size);
                continue;
            }
            const std::uint32_t token = space.prepare_sleep();
            p = producer.try_reserve(size);
            if (p != nullptr) {
                space.cancel_sleep();
                break;
            }
            space.sleep_futex(token, 200'000'000);
            p = producer.try_reserve(size);
        }
        write_record(p, size, seq);
        producer.commit(size);
        if (seq % 8 == 7) {
            producer.publish();
            area->data.notify_futex();
        }
    }
    producer.publish();
    area->data.notify_futex();
    return 0;
}

// The test process's side: reads records and checks they are `next`, `next + 1`, ...
class SequenceReader {
public:
    SequenceReader(RingView view, SharedArea* area, std::uint64_t first)
        : consumer_(view), area_(area), next_(first), max_(RingProducer(view).max_record()) {}

    // Reads what is there now (at most `limit` records). False on a bad or corrupt record.
    bool read_available(std::size_t limit = SIZE_MAX) {
        std::span<const std::byte> body;
        for (std::size_t n = 0; n < limit; ++n) {
            const Peek peek = consumer_.peek(body);
            if (peek == Peek::empty) break;
            if (peek == Peek::corrupt) {
                error_ = "corrupt ring before record " + std::to_string(next_);
                return false;
            }
            error_ = check_record(body, next_, record_size(next_, max_));
            if (!error_.empty()) return false;
            consumer_.pop();
            ++next_;
            if (next_ % 64 == 0) consumer_.release();
        }
        consumer_.release();
        return true;
    }
    // Spins briefly, then sleeps on the data flag until records arrive or `timeout_ns` passes.
    void wait(std::int64_t timeout_ns) {
        for (int spin = 0; spin < 200; ++spin) {
            if (!consumer_.empty_now()) return;
        }
        const std::uint32_t token = area_->data.prepare_sleep();
        if (!consumer_.empty_now()) {
            area_->data.cancel_sleep();
            return;
        }
        area_->data.sleep_futex(token, timeout_ns);
    }
    bool empty_now() { return consumer_.empty_now(); }
    std::uint64_t next() const { return next_; }
    const std::string& error() const { return error_; }

private:
    RingConsumer consumer_;
    SharedArea* area_;
    std::uint64_t next_;
    std::uint32_t max_;
    std::string error_;
};

TEST(ByteRingProcesses, ChildProducesAMillionRecordsParentReadsThemAllInOrder) {
    SharedRing shared;
    ASSERT_TRUE(shared.ok());
    constexpr std::uint64_t kRecords = 1'000'000;
    SharedArea* area = &shared.area();
    const RingView view = shared.view();
    Child child = Child::start([&] { return produce_sequence(view, area, 0, kRecords); });
    ASSERT_GT(child.pid(), 0);

    SequenceReader reader(view, area, 0);
    const std::int64_t deadline = monotonic_ns() + 60'000'000'000;
    while (reader.next() < kRecords) {
        ASSERT_TRUE(reader.read_available()) << reader.error();
        if (reader.next() == kRecords) break;
        ASSERT_LT(monotonic_ns(), deadline) << "stuck at record " << reader.next();
        reader.wait(50'000'000);
    }
    EXPECT_TRUE(exited_zero(child.wait(10s)));
    EXPECT_TRUE(reader.empty_now());
    EXPECT_EQ(view.control->tail.load(), view.control->head.load());
    EXPECT_GT(view.control->tail.load(), 100 * kSharedRingCapacity) << "the ring wrapped often";
}

TEST(ByteRingProcesses, ProducerKilledAtRandomLeavesIntactRecordsAndASuccessorResumes) {
    SharedRing shared;
    ASSERT_TRUE(shared.ok());
    SharedArea* area = &shared.area();
    const RingView view = shared.view();
    const unsigned seed = std::random_device{}();
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::mt19937 rng(seed);

    SequenceReader reader(view, area, 0);
    constexpr int kKilledProducers = 6;
    for (int round = 0; round < kKilledProducers; ++round) {
        const std::uint64_t first = reader.next();
        Child child = Child::start([&] { return produce_sequence(view, area, first, 0); });
        ASSERT_GT(child.pid(), 0);
        // Let it start producing, then keep reading for a random while and kill it mid-stream.
        const std::int64_t start_deadline = monotonic_ns() + 10'000'000'000;
        while (reader.next() == first) {
            ASSERT_TRUE(reader.read_available()) << reader.error();
            ASSERT_LT(monotonic_ns(), start_deadline) << "round " << round << ": no records";
            reader.wait(10'000'000);
        }
        const std::int64_t kill_at =
            monotonic_ns() + std::uniform_int_distribution<>(0, 20'000)(rng) * 1000;
        while (monotonic_ns() < kill_at) {
            // Read only part of what is there, so the producer is sometimes blocked on space.
            ASSERT_TRUE(reader.read_available(rng() % 2 ? 50 : SIZE_MAX)) << reader.error();
        }
        const int status = child.kill_and_reap();
        ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "round " << round;

        // Everything it published is intact and in order; nothing more appears.
        ASSERT_TRUE(reader.read_available()) << reader.error();
        EXPECT_TRUE(reader.empty_now());
        EXPECT_GT(reader.next(), first);
    }

    // The last successor produces a known number of records and exits.
    const std::uint64_t first = reader.next();
    constexpr std::uint64_t kFinal = 100'000;
    Child child = Child::start([&] { return produce_sequence(view, area, first, kFinal); });
    ASSERT_GT(child.pid(), 0);
    const std::int64_t deadline = monotonic_ns() + 30'000'000'000;
    while (reader.next() < first + kFinal) {
        ASSERT_TRUE(reader.read_available()) << reader.error();
        if (reader.next() == first + kFinal) break;
        ASSERT_LT(monotonic_ns(), deadline) << "stuck at record " << reader.next();
        reader.wait(50'000'000);
    }
    EXPECT_TRUE(exited_zero(child.wait(10s)));
    EXPECT_TRUE(reader.empty_now());
}

}  // namespace
}  // namespace warmpool
