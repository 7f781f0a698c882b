// Tests for the dispatch rules (dispatch_policy.hpp): how a function's run-time estimate learns
// whether it is short, which jobs a worker may take (exclusive jobs only on an idle worker,
// short jobs prefetched up to the limit), and the reply-room reservation, checked both as
// arithmetic and against a real ByteRing: whenever reply_room says yes, the worker can publish
// a reply of the largest size for every job it holds without the client reading anything.

#include "warmpool/daemon/dispatch_policy.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <new>
#include <random>
#include <span>
#include <vector>

#include "warmpool/common/byte_ring.hpp"
#include "warmpool/common/shm_layout.hpp"

namespace warmpool {
namespace {

constexpr std::int64_t kUs = 1'000;
constexpr std::int64_t kMs = 1'000'000;
constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();

// ---- RunEstimate ----

TEST(RunEstimate, NeverSeenIsNotShort) {
    RunEstimate estimate;
    EXPECT_LT(estimate.ns, 0);
    EXPECT_FALSE(estimate.known_short());
}

TEST(RunEstimate, FirstRunSetsTheEstimate) {
    RunEstimate fast;
    fast.observe(150 * kUs);
    EXPECT_EQ(fast.ns, 150 * kUs);
    EXPECT_TRUE(fast.known_short());

    RunEstimate slow;
    slow.observe(5 * kMs);
    EXPECT_EQ(slow.ns, 5 * kMs);
    EXPECT_FALSE(slow.known_short());
}

TEST(RunEstimate, ShortMeansAtMost200Microseconds) {
    EXPECT_EQ(kShortJobNs, 200 * kUs);
    RunEstimate at_limit;
    at_limit.observe(kShortJobNs);
    EXPECT_TRUE(at_limit.known_short());
    RunEstimate just_over;
    just_over.observe(kShortJobNs + 1);
    EXPECT_FALSE(just_over.known_short());
}

TEST(RunEstimate, ZeroDurationIsKnownShortNotNeverSeen) {
    // A job faster than the clock's resolution measures 0 ns: it has been seen.
    RunEstimate estimate;
    estimate.observe(0);
    EXPECT_EQ(estimate.ns, 0);
    EXPECT_TRUE(estimate.known_short());
    for (int i = 0; i < 10; ++i) estimate.observe(0);
    EXPECT_TRUE(estimate.known_short());
}

TEST(RunEstimate, RunsWeighTheHistoryThreeToOne) {
    RunEstimate estimate;
    estimate.observe(100 * kUs);
    estimate.observe(500 * kUs);
    EXPECT_EQ(estimate.ns, 200 * kUs);  // (3 * 100 + 500) / 4
    estimate.observe(600 * kUs);
    EXPECT_EQ(estimate.ns, 300 * kUs);
}

TEST(RunEstimate, OneLongRunMakesAShortFunctionLongAtOnce) {
    // So the next jobs of a function that turned slow are not queued behind it.
    RunEstimate estimate;
    for (int i = 0; i < 50; ++i) estimate.observe(10 * kUs);
    ASSERT_TRUE(estimate.known_short());
    estimate.observe(1 * kMs);
    EXPECT_FALSE(estimate.known_short());
}

TEST(RunEstimate, ALongFunctionBecomesShortOnlyAfterSeveralShortRuns) {
    RunEstimate estimate;
    estimate.observe(10 * kMs);
    int short_runs = 0;
    while (!estimate.known_short() && short_runs < 1000) {
        estimate.observe(10 * kUs);
        ++short_runs;
    }
    // 10 ms * (3/4)^k + 10 us <= 200 us first holds at k = 14.
    EXPECT_EQ(short_runs, 14);
}

TEST(RunEstimate, SteadyRunTimesConvergeToTheirValue) {
    RunEstimate from_above;
    from_above.observe(50 * kMs);
    for (int i = 0; i < 200; ++i) from_above.observe(300 * kUs);
    EXPECT_NEAR(static_cast<double>(from_above.ns), 300.0 * kUs, 4.0);
    EXPECT_FALSE(from_above.known_short());

    RunEstimate from_below;
    from_below.observe(0);
    for (int i = 0; i < 200; ++i) from_below.observe(150 * kUs);
    EXPECT_NEAR(static_cast<double>(from_below.ns), 150.0 * kUs, 4.0);
    EXPECT_TRUE(from_below.known_short());
}

TEST(RunEstimate, HugeRunTimesDoNotOverflow) {
    RunEstimate estimate;
    estimate.observe(kMax);
    EXPECT_EQ(estimate.ns, kMax);
    estimate.observe(kMax);
    EXPECT_EQ(estimate.ns, kMax) << "the average of two equal run times is that run time";
    EXPECT_FALSE(estimate.known_short());
    estimate.observe(0);
    EXPECT_EQ(estimate.ns, 6'917'529'027'641'081'855);  // 3 * kMax / 4, exactly
    EXPECT_FALSE(estimate.known_short());
}

TEST(RunEstimate, AHugeRunMakesAShortFunctionLongAndItStaysLong) {
    RunEstimate estimate;
    estimate.observe(1 * kUs);
    estimate.observe(kMax);
    EXPECT_EQ(estimate.ns, 2'305'843'009'213'694'701);  // (3 * 1000 + kMax) / 4, exactly
    EXPECT_FALSE(estimate.known_short());
    for (int i = 0; i < 10; ++i) {
        estimate.observe(1 * kUs);
        EXPECT_FALSE(estimate.known_short()) << "after " << i + 1 << " short runs";
        EXPECT_GT(estimate.ns, 0);
    }
}

TEST(FunctionStats, SingleCallsAndBatchesLearnApart) {
    FunctionStats stats;
    stats.single.observe(20 * kUs);
    EXPECT_TRUE(stats.single.known_short());
    EXPECT_FALSE(stats.batch.known_short()) << "a batch of the function was never seen";
    stats.batch.observe(30 * kMs);
    EXPECT_FALSE(stats.batch.known_short());
    EXPECT_TRUE(stats.single.known_short());
}

// ---- queue_depth ----

RunEstimate taking(std::int64_t ns) {
    RunEstimate e;
    e.ns = ns;
    return e;
}

TEST(QueueDepth, TinyJobsQueueAsDeepAsPrefetchAllows) {
    EXPECT_EQ(queue_depth(256, taking(0)), 256u);
    EXPECT_EQ(queue_depth(256, taking(1'000)), 256u);  // 1 ms would fit 1000
    EXPECT_EQ(queue_depth(16, taking(2'000)), 16u);
}

TEST(QueueDepth, LongerJobsQueueAboutAMillisecondOfWorkAtMost) {
    EXPECT_EQ(queue_depth(256, taking(10'000)), 100u);
    EXPECT_EQ(queue_depth(256, taking(100'000)), 10u);
    EXPECT_EQ(queue_depth(256, taking(kShortJobNs)), 5u);
    for (std::int64_t ns : {3'000, 7'777, 50'001, 199'999}) {
        const unsigned depth = queue_depth(1024, taking(ns));
        EXPECT_LE(static_cast<std::int64_t>(depth) * ns, kQueueBudgetNs) << ns;
        EXPECT_GT(static_cast<std::int64_t>(depth + 1) * ns, kQueueBudgetNs) << ns;
    }
}

TEST(QueueDepth, AlwaysAtLeastOne) {
    EXPECT_EQ(queue_depth(256, taking(kQueueBudgetNs * 5)), 1u);
    EXPECT_EQ(queue_depth(1, taking(0)), 1u);
    RunEstimate huge;
    huge.observe(INT64_MAX);
    EXPECT_EQ(queue_depth(256, huge), 1u);
}

// ---- may_take ----

WorkerLoad holding(std::size_t held, bool holds_exclusive = false, bool running_long = false) {
    WorkerLoad load;
    load.held = held;
    load.holds_exclusive = holds_exclusive;
    load.running_long = running_long;
    return load;
}

TEST(MayTake, AnIdleWorkerTakesAnyJob) {
    for (unsigned prefetch : {1u, 16u, 1024u}) {
        EXPECT_TRUE(may_take(holding(0), /*exclusive=*/true, prefetch));
        EXPECT_TRUE(may_take(holding(0), /*exclusive=*/false, prefetch));
    }
}

TEST(MayTake, ExclusiveJobsGoOnlyToAnIdleWorker) {
    // Unknown and long functions and jobs with a timeout: never queued behind anything.
    for (std::size_t held : {1u, 2u, 15u}) {
        EXPECT_FALSE(may_take(holding(held), /*exclusive=*/true, 16)) << "held " << held;
    }
}

TEST(MayTake, NothingIsQueuedBehindAnExclusiveJob) {
    EXPECT_FALSE(may_take(holding(1, /*holds_exclusive=*/true), /*exclusive=*/false, 16));
    EXPECT_FALSE(may_take(holding(1, /*holds_exclusive=*/true), /*exclusive=*/true, 16));
}

TEST(MayTake, NothingIsQueuedBehindAJobThatHasRunLong) {
    EXPECT_FALSE(may_take(holding(1, false, /*running_long=*/true), /*exclusive=*/false, 16));
    EXPECT_FALSE(may_take(holding(3, false, /*running_long=*/true), /*exclusive=*/false, 16));
}

TEST(MayTake, ShortJobsArePrefetchedUpToTheLimit) {
    constexpr unsigned kPrefetch = 16;
    for (std::size_t held = 1; held < kPrefetch; ++held) {
        EXPECT_TRUE(may_take(holding(held), /*exclusive=*/false, kPrefetch)) << "held " << held;
    }
    EXPECT_FALSE(may_take(holding(kPrefetch), /*exclusive=*/false, kPrefetch));
    EXPECT_FALSE(may_take(holding(kPrefetch + 1), /*exclusive=*/false, kPrefetch));
}

TEST(MayTake, PrefetchOfOneGivesJobsOnlyToIdleWorkers) {
    EXPECT_TRUE(may_take(holding(0), /*exclusive=*/false, 1));
    EXPECT_FALSE(may_take(holding(1), /*exclusive=*/false, 1));
}

// ---- max_reply_bytes and reply_room ----

TEST(MaxReplyBytes, FrameRecordAndInlineBodyPaddedToEight) {
    static_assert(max_reply_bytes(40, 64) == 112);
    EXPECT_EQ(max_reply_bytes(sizeof(ReplyRecord), 64), 8u + 40u + 64u);
    EXPECT_EQ(max_reply_bytes(sizeof(ReplyRecord), 65), 120u);
    EXPECT_EQ(max_reply_bytes(sizeof(ReplyRecord), 71), 120u);
    EXPECT_EQ(max_reply_bytes(sizeof(ReplyRecord), 72), 120u);
    EXPECT_EQ(max_reply_bytes(sizeof(ReplyRecord), 64u << 10), 8u + 40u + (64u << 10));
    // The largest inline_max a uint32 can say does not wrap.
    EXPECT_EQ(max_reply_bytes(sizeof(ReplyRecord), std::numeric_limits<std::uint32_t>::max()),
              4'294'967'344u);
}

// ---- reply_inline_max: how large a reply may go inline ----

TEST(ReplyInlineMax, ASingleCallsReplyIsSmallABatchsTakesInlineMax) {
    EXPECT_EQ(reply_inline_max(0, 64u << 10), kSingleReplyInlineMax);
    EXPECT_EQ(reply_inline_max(kJobJson, 64u << 10), kSingleReplyInlineMax);
    EXPECT_EQ(reply_inline_max(kJobBlob, 64u << 10), kSingleReplyInlineMax);
    EXPECT_EQ(reply_inline_max(kJobBatch, 64u << 10), 64u << 10);
    EXPECT_EQ(reply_inline_max(kJobBatch | kJobJson, 64u << 10), 64u << 10);
    // Never more than inline_max.
    EXPECT_EQ(reply_inline_max(0, 512), 512u);
    EXPECT_EQ(reply_inline_max(kJobBatch, 512), 512u);
}

// ---- reply_room_bytes: room for every reply a worker owes ----

TEST(ReplyRoomBytes, FreeSpaceLessWhatIsReservedLessOneWrap) {
    constexpr std::uint64_t kCapacity = 1u << 20;
    const std::uint64_t largest = max_reply_bytes(sizeof(ReplyRecord), 64u << 10);
    EXPECT_EQ(reply_room_bytes(kCapacity, 0, 0, largest), kCapacity - largest);
    EXPECT_EQ(reply_room_bytes(kCapacity, 4096, 0, largest), kCapacity - 4096 - largest);
    EXPECT_EQ(reply_room_bytes(kCapacity, 4096, 10'000, largest), kCapacity - 4096 - 10'000 - largest);
    EXPECT_EQ(reply_room_bytes(kCapacity, 0, kCapacity - largest, largest), 0u);
    EXPECT_EQ(reply_room_bytes(kCapacity, 0, kCapacity, largest), 0u);
    EXPECT_EQ(reply_room_bytes(kCapacity, kCapacity, 0, 112), 0u);  // a full ring
}

// ---- order_by_jobs_held: a session holding no worker is offered the next free one ----

TEST(OrderByJobsHeld, FewestHeldFirstAndTiesKeepTheTurnOrder) {
    struct Entry {
        int session;
        int held;
    };
    std::vector<Entry> order = {{3, 2}, {0, 1}, {1, 0}, {2, 1}, {4, 0}};
    order_by_jobs_held(std::span<Entry>(order), [](const Entry& e) { return e.held; });
    std::vector<int> sessions;
    for (const Entry& e : order) sessions.push_back(e.session);
    EXPECT_EQ(sessions, (std::vector<int>{1, 4, 0, 2, 3}));
}

// ---- reply_ring_unread: the worker's own count against the head a client reports ----

TEST(ReplyRingUnread, TrustsTheProducersCountAndClampsTheClientsHead) {
    constexpr std::uint64_t kCapacity = 1u << 20;
    EXPECT_EQ(reply_ring_unread(0, 0, kCapacity), 0u);
    EXPECT_EQ(reply_ring_unread(5000, 1000, kCapacity), 4000u);
    EXPECT_EQ(reply_ring_unread(kCapacity, 0, kCapacity), kCapacity);  // full, honestly
    // A head beyond what was produced: nothing unread (a reply being counted, or a lie that can
    // hurt only the liar, whose worker then finds no room and drops its reply).
    EXPECT_EQ(reply_ring_unread(5000, 9000, kCapacity), 0u);
    EXPECT_EQ(reply_ring_unread(5000, std::numeric_limits<std::uint64_t>::max(), kCapacity), 0u);
    // A head more than a ring behind: impossible, so more than full, whatever reserve follows.
    EXPECT_GT(reply_ring_unread(3 * kCapacity, 0, kCapacity), kCapacity);
    EXPECT_EQ(reply_room_bytes(kCapacity, reply_ring_unread(3 * kCapacity, 0, kCapacity), 0, 0), 0u);
}

TEST(ReplyRoomBytes, NonsenseUsedFromTheClientMeansNoRoom) {
    // head > tail in the client's ring makes tail - head wrap to a huge number.
    constexpr std::uint64_t kCapacity = 1u << 20;
    EXPECT_EQ(reply_room_bytes(kCapacity, kCapacity + 8, 0, 112), 0u);
    EXPECT_EQ(reply_room_bytes(kCapacity, std::numeric_limits<std::uint64_t>::max(), 0, 112), 0u);
    EXPECT_EQ(reply_room_bytes(kCapacity, std::uint64_t{0} - 8, 0, 112), 0u);
}

TEST(ReplyRoomBytes, DefaultRingsHoldHundredsOfSingleCallsOrFourteenBatchesPerWorker) {
    // 1 MiB reply rings and a 64 KiB inline_max, the defaults; the reserve the supervisor holds
    // back (a wrap-around and a lane reply), as it computes it.
    constexpr std::uint32_t kInlineMax = 64u << 10;
    const std::uint64_t single = max_reply_bytes(sizeof(ReplyRecord), reply_inline_max(0, kInlineMax));
    const std::uint64_t batch = max_reply_bytes(sizeof(ReplyRecord), reply_inline_max(kJobBatch, kInlineMax));
    const std::uint64_t room = reply_room_bytes(1u << 20, 0, 0, reply_room_reserve(kInlineMax));
    EXPECT_EQ(room / single, 236u);
    EXPECT_EQ(room / batch, 14u);
}

// A ring in heap memory whose indices are set directly, to start from any state.
class TestRing {
public:
    explicit TestRing(std::uint64_t capacity)
        : capacity_(capacity),
          base_(static_cast<std::byte*>(
              ::operator new (ring_bytes_needed(capacity), std::align_val_t{64}))) {
        new (base_) RingControl{};
    }
    ~TestRing() {
        reinterpret_cast<RingControl*>(base_)->~RingControl();
        ::operator delete (base_, std::align_val_t{64});
    }
    TestRing(const TestRing&) = delete;
    TestRing& operator=(const TestRing&) = delete;

    // Makes the ring hold `used` unread bytes, the oldest at absolute position `head`.
    RingView with(std::uint64_t head, std::uint64_t used) {
        RingView view = RingView::at(base_, capacity_);
        view.control->head.store(head);
        view.control->tail.store(head + used);
        return view;
    }

private:
    std::uint64_t capacity_;
    std::byte* base_;
};

// How many of these replies, each with a body of the given size, a worker can publish into
// `view` one after another with nobody reading.
std::size_t replies_that_fit(RingView view, const std::vector<std::uint32_t>& bodies) {
    RingProducer producer(view);
    std::size_t n = 0;
    for (; n < bodies.size(); ++n) {
        const auto size = static_cast<std::uint32_t>(sizeof(ReplyRecord) + bodies[n]);
        if (producer.try_reserve(size) == nullptr) break;
        producer.commit(size);
        producer.publish();
    }
    return n;
}

// The dispatcher's use: room computed once, counted down by each job placed; then the worker
// publishes every reply it owes, each as large as may go inline, and nobody reads meanwhile.
TEST(ReplyRoomBytes, EveryReplyOfTheJobsItAdmitsFits) {
    std::mt19937_64 random(20261124);
    std::uint64_t admitted_jobs = 0, wrapped = 0, mixed = 0;
    for (int i = 0; i < 20'000; ++i) {
        const std::uint64_t capacity = std::uint64_t{1} << (10 + random() % 7);  // 1 KiB .. 64 KiB
        const auto inline_max = static_cast<std::uint32_t>(64 + random() % (capacity / 4 - 64));
        const std::uint64_t largest = max_reply_bytes(sizeof(ReplyRecord), inline_max);
        const std::uint64_t used = (random() % (capacity / 8 + 1)) * 8;
        const std::uint64_t head = (random() % (capacity / 2)) * 8;  // anywhere in the first laps
        // Some jobs the worker already holds, then as many more as the room admits.
        std::vector<std::uint32_t> bodies;
        std::uint64_t reserved = 0;
        const std::size_t held = random() % 6;
        for (std::size_t k = 0; k < held; ++k) {
            bodies.push_back(reply_inline_max(random() % 3 == 0 ? std::uint32_t{kJobBatch} : 0u, inline_max));
            reserved += max_reply_bytes(sizeof(ReplyRecord), bodies.back());
        }
        std::uint64_t room = reply_room_bytes(capacity, used, reserved, largest);
        if (reserved + largest > capacity) continue;  // more held than the rule could have allowed
        for (;;) {
            const std::uint32_t body = reply_inline_max(random() % 3 == 0 ? std::uint32_t{kJobBatch} : 0u, inline_max);
            const std::uint64_t need = max_reply_bytes(sizeof(ReplyRecord), body);
            if (room < need) break;
            room -= need;
            bodies.push_back(body);
            ++admitted_jobs;
        }
        if (bodies.size() == held) continue;
        if (std::adjacent_find(bodies.begin(), bodies.end(), std::not_equal_to<>()) != bodies.end()) ++mixed;
        std::uint64_t total = 0;
        for (const std::uint32_t body : bodies) total += max_reply_bytes(sizeof(ReplyRecord), body);
        if ((head + used) % capacity + total > capacity) ++wrapped;
        TestRing ring(capacity);
        EXPECT_EQ(replies_that_fit(ring.with(head, used), bodies), bodies.size())
            << "capacity " << capacity << ", inline_max " << inline_max << ", head " << head << ", used " << used
            << ", held " << held << ", replies " << bodies.size();
    }
    EXPECT_GT(admitted_jobs, 10'000u) << "too few jobs admitted: the property was hardly tested";
    EXPECT_GT(wrapped, 1000u) << "too few states that wrap around";
    EXPECT_GT(mixed, 1000u) << "too few states mixing single calls and batches";
}

TEST(ReplyRoomBytes, TheWrapAllowanceIsNeeded) {
    // Free space for exactly the owed replies is not enough when they must wrap: the gap
    // before the end of the ring is lost. reply_room_bytes keeps a wrap's worth back.
    constexpr std::uint64_t kCapacity = 4096;
    constexpr std::uint32_t kInlineMax = 64;
    const std::uint64_t m = max_reply_bytes(sizeof(ReplyRecord), kInlineMax);  // 112
    for (std::uint64_t held = 0; held <= 3; ++held) {
        const std::uint64_t used = kCapacity - (held + 1) * m;
        // The tail `m - 8` bytes before the end: too little for one more reply there.
        const std::uint64_t head = kCapacity - (m - 8) - used;
        TestRing ring(kCapacity);
        const std::vector<std::uint32_t> bodies(held + 1, kInlineMax);
        EXPECT_LT(replies_that_fit(ring.with(head, used), bodies), held + 1) << "held " << held;
        EXPECT_LT(reply_room_bytes(kCapacity, used, held * m, m), m) << "held " << held;
    }
}

// ---- pick_worker ----

WorkerCandidate ready_holding(std::size_t held, bool holds_exclusive = false, bool running_long = false) {
    WorkerCandidate c;
    c.ready = true;
    c.load = holding(held, holds_exclusive, running_long);
    return c;
}

constexpr auto kAlwaysRoom = [](std::size_t) { return true; };

TEST(PickWorker, TheWorkerHoldingFewestJobs) {
    const std::vector<WorkerCandidate> w = {ready_holding(3), ready_holding(1), ready_holding(2)};
    for (std::size_t start = 0; start < w.size(); ++start) {
        EXPECT_EQ(pick_worker(std::span(w), start, false, 16, kAlwaysRoom), 1) << "start " << start;
    }
}

TEST(PickWorker, AmongEqualsTheOneMetFirstFromStart) {
    // The dispatcher starts at the worker it gave a job last: it is most likely still spinning.
    const std::vector<WorkerCandidate> w = {ready_holding(2), ready_holding(1), ready_holding(1),
                                            ready_holding(1)};
    EXPECT_EQ(pick_worker(std::span(w), 0, false, 16, kAlwaysRoom), 1);
    EXPECT_EQ(pick_worker(std::span(w), 2, false, 16, kAlwaysRoom), 2);
    EXPECT_EQ(pick_worker(std::span(w), 3, false, 16, kAlwaysRoom), 3);
}

TEST(PickWorker, WorkersNotReadyAreNeverChosen) {
    std::vector<WorkerCandidate> w = {ready_holding(0), ready_holding(5)};
    w[0].ready = false;
    EXPECT_EQ(pick_worker(std::span(w), 0, false, 16, kAlwaysRoom), 1);
    w[1].ready = false;
    EXPECT_EQ(pick_worker(std::span(w), 0, false, 16, kAlwaysRoom), -1);
}

TEST(PickWorker, FollowsMayTake) {
    const std::vector<WorkerCandidate> w = {ready_holding(1), ready_holding(16),
                                            ready_holding(2, /*holds_exclusive=*/true)};
    EXPECT_EQ(pick_worker(std::span(w), 0, /*exclusive=*/true, 16, kAlwaysRoom), -1);
    EXPECT_EQ(pick_worker(std::span(w), 1, /*exclusive=*/false, 16, kAlwaysRoom), 0);
    const std::vector<WorkerCandidate> long_one = {ready_holding(1, false, /*running_long=*/true),
                                                   ready_holding(4)};
    EXPECT_EQ(pick_worker(std::span(long_one), 0, false, 16, kAlwaysRoom), 1);
}

TEST(PickWorker, AWorkerWithoutReplyRoomIsPassedOver) {
    const std::vector<WorkerCandidate> w = {ready_holding(0), ready_holding(3), ready_holding(5)};
    std::vector<std::size_t> asked;
    const int best = pick_worker(std::span(w), 0, false, 16, [&](std::size_t slot) {
        asked.push_back(slot);
        return slot == 2;
    });
    EXPECT_EQ(best, 2);
    // Room is asked of a worker only when it would otherwise be the best so far.
    EXPECT_EQ(asked, (std::vector<std::size_t>{0, 1, 2}));
}

TEST(PickWorker, RoomIsNotAskedOfWorkersThatCannotWin) {
    const std::vector<WorkerCandidate> w = {ready_holding(1), ready_holding(4), ready_holding(0)};
    std::vector<std::size_t> asked;
    EXPECT_EQ(pick_worker(std::span(w), 0, false, 16,
                          [&](std::size_t slot) {
                              asked.push_back(slot);
                              return true;
                          }),
              2);
    EXPECT_EQ(asked, (std::vector<std::size_t>{0, 2}));
}

}  // namespace
}  // namespace warmpool
