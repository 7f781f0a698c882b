// Tests for SessionTable (session_table.hpp) over a real pool segment and real session
// segments, and for PoolMemory (pool_memory.hpp): which slot a session takes, what it publishes
// in the pool's session table and in its own header, closing and freeing, error replies through
// the control ring; and that every PoolMemory accessor reaches memory of its own.

#include "warmpool/daemon/session_table.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "unit_memory.hpp"

namespace warmpool {
namespace {

using testing::next_record;
using testing::record_at;
using testing::UnitPoolMemory;

constexpr std::uint32_t kWorkers = 2;
constexpr SessionLayout kSessionLayout{kWorkers, 1u << 12, 1u << 12, 1u << 12};

PeerCredentials peer(uid_t uid, pid_t pid = 4000) {
    PeerCredentials p;
    p.pid = pid;
    p.uid = uid;
    p.gid = uid;
    return p;
}

bool active_bit(const PoolMemory& pool, unsigned slot) {
    return (pool.active_sessions()[slot / 64].load() >> (slot % 64) & 1) != 0;
}

PendingJob job(std::uint64_t id, std::uint32_t items) {
    PendingJob j;
    j.record.job_id = id;
    j.items = items;
    j.payload = "args";
    return j;
}

struct SessionTableTest : ::testing::Test {
    explicit SessionTableTest(unsigned capacity = 3) : pool(kWorkers, capacity, 1u << 12),
                                                        table(capacity, pool.memory, kSessionLayout, &totals) {}
    unsigned open(uid_t uid, std::uint64_t generation, std::uint32_t trust = 0) {
        auto slot = table.open(peer(uid), trust, generation, "unit");
        if (!slot) ADD_FAILURE() << slot.error().message();
        return slot ? slot.value() : ~0u;
    }

    UnitPoolMemory pool;
    QueueTotals totals;
    SessionTable table;
};

TEST_F(SessionTableTest, OpenPublishesTheSession) {
    EXPECT_EQ(table.capacity(), 3u);
    EXPECT_EQ(table.end(), 0u);
    const unsigned slot = open(1000, 77, kSessionMayUnpickle);
    ASSERT_EQ(slot, 0u);
    EXPECT_EQ(table.end(), 1u);

    const SessionSlot& s = table[0];
    EXPECT_TRUE(s.used);
    EXPECT_FALSE(s.closing);
    EXPECT_TRUE(s.open());
    EXPECT_EQ(s.generation, 77u);
    EXPECT_EQ(s.peer.uid, 1000u);
    EXPECT_EQ(s.peer.pid, 4000);
    EXPECT_TRUE(s.doorbell.valid());
    ASSERT_TRUE(s.segment.valid());
    EXPECT_EQ(s.segment.size(), kSessionLayout.total_bytes());
    EXPECT_EQ(s.memory.base, s.segment.data());
    EXPECT_EQ(s.jobs_with_workers, 0u);
    EXPECT_TRUE(s.queue.empty());

    // Its header, as a worker or the client finds it.
    const SessionHeader& h = s.header();
    EXPECT_EQ(h.magic, kSessionMagic);
    EXPECT_EQ(h.layout_version, kLayoutVersion);
    EXPECT_EQ(h.slot, 0u);
    EXPECT_EQ(h.generation, 77u);
    EXPECT_EQ(h.state.load(), static_cast<std::uint32_t>(SessionState::active));
    EXPECT_EQ(s.memory.lane().word.load(), 0u);

    // Its entry in the pool's session table, and its active bit.
    EXPECT_EQ(pool.memory.session_entry(0).generation.load(), 77u);
    EXPECT_EQ(pool.memory.session_entry(0).trust.load(), std::uint32_t{kSessionMayUnpickle});
    EXPECT_TRUE(active_bit(pool.memory, 0));
    EXPECT_FALSE(active_bit(pool.memory, 1));
    EXPECT_EQ(pool.memory.session_entry(1).generation.load(), 0u);
}

TEST_F(SessionTableTest, LowestFreeSlotHeldByFullAndLive) {
    EXPECT_EQ(open(1000, 10), 0u);
    EXPECT_EQ(open(1000, 11), 1u);
    EXPECT_FALSE(table.full());
    EXPECT_EQ(open(2000, 12, kSessionMayUnpickle), 2u);
    EXPECT_TRUE(table.full());
    EXPECT_EQ(table.end(), 3u);
    EXPECT_EQ(table.held_by(1000), 2u);
    EXPECT_EQ(table.held_by(2000), 1u);
    EXPECT_EQ(table.held_by(3000), 0u);

    auto refused = table.open(peer(1000), 0, 13, "unit");
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().code, SysError::Code::resource);

    EXPECT_EQ(table.live(1, 11), &table[1]);
    EXPECT_EQ(table.live(1, 10), nullptr);  // another generation of the slot
    EXPECT_EQ(table.live(3, 11), nullptr);  // beyond the table
    EXPECT_EQ(table.live(~0u, 11), nullptr);
    EXPECT_EQ(table.slot_of(table[2]), 2u);

    for (unsigned slot = 0; slot < 3; ++slot) EXPECT_TRUE(active_bit(pool.memory, slot)) << slot;
    EXPECT_EQ(pool.memory.session_entry(2).trust.load(), std::uint32_t{kSessionMayUnpickle});
    EXPECT_EQ(pool.memory.session_entry(1).trust.load(), 0u);
    // Every session has a segment of its own.
    EXPECT_NE(table[0].memory.base, table[1].memory.base);
    EXPECT_NE(table[0].doorbell.get(), table[1].doorbell.get());
}

TEST_F(SessionTableTest, RepublishTrust) {
    open(1000, 10);
    table.republish_trust(0, kSessionMayUnpickle);
    EXPECT_EQ(pool.memory.session_entry(0).trust.load(), std::uint32_t{kSessionMayUnpickle});
    table.republish_trust(0, 0);
    EXPECT_EQ(pool.memory.session_entry(0).trust.load(), 0u);
    table.republish_trust(1, kSessionMayUnpickle);  // no session there: nothing published
    EXPECT_EQ(pool.memory.session_entry(1).trust.load(), 0u);
}

TEST_F(SessionTableTest, BeginCloseWithdrawsTheSessionAndDropsItsQueue) {
    open(1000, 10);
    open(1000, 11);
    SessionSlot& s = table[1];
    s.fd = 42;
    s.queue.push_back(job(1, 1));
    s.queue.push_back(job(2, 5));  // a batch of five calls
    s.control_backlog.push_back("waiting");
    s.argument_blobs.emplace(3, UniqueFd());
    EXPECT_EQ(totals.jobs, 2u);

    EXPECT_EQ(table.begin_close(1), 6u);
    EXPECT_TRUE(s.used);
    EXPECT_TRUE(s.closing);
    EXPECT_FALSE(s.open());
    EXPECT_EQ(s.fd, -1);
    EXPECT_TRUE(s.queue.empty());
    EXPECT_EQ(totals.jobs, 0u);
    EXPECT_TRUE(s.control_backlog.empty());
    EXPECT_TRUE(s.argument_blobs.empty());
    EXPECT_EQ(s.header().state.load(), static_cast<std::uint32_t>(SessionState::closing));
    EXPECT_FALSE(active_bit(pool.memory, 1));
    EXPECT_TRUE(active_bit(pool.memory, 0));  // the other session is untouched
    EXPECT_EQ(table[0].header().state.load(), static_cast<std::uint32_t>(SessionState::active));
    // Still found by its generation: workers' replies and descriptor requests may still name it.
    EXPECT_EQ(table.live(1, 11), &s);

    EXPECT_EQ(table.begin_close(1), 0u);  // once only
    EXPECT_EQ(table.begin_close(2), 0u);  // no session there
}

TEST_F(SessionTableTest, FinishClosedFreesOnlySlotsNoWorkerHoldsAJobOf) {
    open(1000, 10);
    open(1000, 11);
    open(1000, 12);
    table[2].jobs_with_workers = 1;
    table.begin_close(1);
    table.begin_close(2);
    table.finish_closed();
    EXPECT_FALSE(table[1].used);
    EXPECT_FALSE(table[1].segment.valid());
    EXPECT_FALSE(table[1].doorbell.valid());
    EXPECT_TRUE(table[2].used);  // a worker still holds one of its jobs
    EXPECT_TRUE(table[2].segment.valid());
    EXPECT_TRUE(table[0].used);  // open sessions are never freed
    EXPECT_EQ(table.end(), 3u);
    EXPECT_EQ(table.held_by(1000), 2u);

    table[2].jobs_with_workers = 0;
    table.finish_closed();
    EXPECT_FALSE(table[2].used);
    EXPECT_EQ(table.end(), 1u);  // shrinks past every free slot at the end
    EXPECT_EQ(table.held_by(1000), 1u);

    // The lowest free slot is taken again, with the new generation and trust published.
    EXPECT_EQ(open(2000, 20, kSessionMayUnpickle), 1u);
    EXPECT_EQ(table.end(), 2u);
    EXPECT_EQ(pool.memory.session_entry(1).generation.load(), 20u);
    EXPECT_EQ(pool.memory.session_entry(1).trust.load(), std::uint32_t{kSessionMayUnpickle});
    EXPECT_TRUE(active_bit(pool.memory, 1));
    EXPECT_EQ(table[1].header().generation, 20u);
    EXPECT_EQ(table[1].header().slot, 1u);
    EXPECT_EQ(table.live(1, 11), nullptr);
    EXPECT_EQ(table.live(1, 20), &table[1]);
}

TEST_F(SessionTableTest, FinishClosedLeavesAnOpenLastSlot) {
    open(1000, 10);
    open(1000, 11);
    table.begin_close(0);
    table.finish_closed();
    EXPECT_FALSE(table[0].used);
    EXPECT_EQ(table.end(), 2u);  // slot 1 is still in use
}

TEST_F(SessionTableTest, PostErrorWritesAReplyIntoTheControlRing) {
    open(1000, 10);
    SessionSlot& s = table[0];
    RingConsumer client(s.memory.control());
    s.header().client_wake.waiting.store(1);  // the client announced it is about to sleep

    JobRecord record{};
    record.job_id = 0x1234'5678'9abcULL;
    s.post_error(record, ErrorKind::deadline_exceeded, "too late");
    EXPECT_TRUE(s.control_backlog.empty());
    EXPECT_EQ(s.header().client_wake.waiting.load(), 0u);  // woken

    auto bytes = next_record(client);
    ASSERT_TRUE(bytes);
    ASSERT_EQ(bytes->size(), sizeof(ReplyRecord) + 8);
    const auto reply = record_at<ReplyRecord>(*bytes);
    EXPECT_EQ(reply.job_id, 0x1234'5678'9abcULL);
    EXPECT_EQ(reply.status, static_cast<std::uint16_t>(ErrorKind::deadline_exceeded));
    EXPECT_EQ(reply.payload_bytes, 8u);
    EXPECT_EQ(reply.flags, 0u);
    EXPECT_EQ(reply.worker_pid, 0);
    EXPECT_EQ(bytes->substr(sizeof(ReplyRecord)), "too late");
    EXPECT_FALSE(next_record(client));
}

TEST_F(SessionTableTest, PostErrorKeepsABacklogWhileTheControlRingIsFull) {
    open(1000, 10);
    SessionSlot& s = table[0];
    RingConsumer client(s.memory.control());
    // 1000-byte messages: three replies fit a 4 KiB ring (1048 bytes each with their frames).
    const std::string message(1000, 'm');
    JobRecord record{};
    for (std::uint64_t id = 1; id <= 5; ++id) {
        record.job_id = id;
        s.post_error(record, ErrorKind::overloaded, message);
    }
    EXPECT_EQ(s.control_backlog.size(), 2u);
    EXPECT_FALSE(s.flush_control());  // nothing read yet: nothing moves

    for (std::uint64_t id = 1; id <= 3; ++id) {
        auto bytes = next_record(client);
        ASSERT_TRUE(bytes) << id;
        EXPECT_EQ(record_at<ReplyRecord>(*bytes).job_id, id);
        EXPECT_EQ(bytes->size(), sizeof(ReplyRecord) + message.size());
    }
    EXPECT_FALSE(next_record(client));
    EXPECT_TRUE(s.flush_control());
    EXPECT_TRUE(s.control_backlog.empty());
    for (std::uint64_t id = 4; id <= 5; ++id) {
        auto bytes = next_record(client);
        ASSERT_TRUE(bytes) << id;
        const auto reply = record_at<ReplyRecord>(*bytes);
        EXPECT_EQ(reply.job_id, id);  // in order, none lost
        EXPECT_EQ(reply.status, static_cast<std::uint16_t>(ErrorKind::overloaded));
        EXPECT_EQ(bytes->substr(sizeof(ReplyRecord)), message);
    }
    EXPECT_FALSE(s.flush_control());
}

// A table larger than one word of the active-session bitmap.
struct WideSessionTableTest : SessionTableTest {
    WideSessionTableTest() : SessionTableTest(70) {}
};

TEST_F(WideSessionTableTest, ActiveBitsBeyondTheFirstWord) {
    for (unsigned i = 0; i < 70; ++i) ASSERT_EQ(open(1000, 100 + i), i);
    EXPECT_TRUE(table.full());
    EXPECT_EQ(pool.memory.active_sessions()[0].load(), ~std::uint64_t{0});
    EXPECT_EQ(pool.memory.active_sessions()[1].load(), (std::uint64_t{1} << 6) - 1);
    table.begin_close(65);
    EXPECT_EQ(pool.memory.active_sessions()[1].load(), (std::uint64_t{1} << 6) - 1 - (std::uint64_t{1} << 1));
    EXPECT_EQ(pool.memory.active_sessions()[0].load(), ~std::uint64_t{0});
    EXPECT_EQ(pool.memory.session_entry(69).generation.load(), 169u);
}

// PoolMemory: every accessor reaches memory no other accessor reaches, inside total_bytes().
TEST(PoolMemory, AccessorsDoNotOverlap) {
    constexpr std::uint32_t kSlots = 3, kSessions = 70;
    constexpr std::uint64_t kInbox = 1u << 12;
    UnitPoolMemory unit(kSlots, kSessions, kInbox);
    const PoolMemory& m = unit.memory;
    const std::byte* begin = m.base;
    const std::byte* end = m.base + m.layout.total_bytes();
    ASSERT_EQ(unit.size(), m.layout.total_bytes());
    auto inside = [&](const void* p, std::size_t bytes) {
        const auto* b = static_cast<const std::byte*>(p);
        return b >= begin && b + bytes <= end;
    };

    // Write a distinct value into every field...
    std::uint64_t v = 1;
    m.header().magic = v++;
    m.header().generation = v++;
    m.header().lane_posts_left.store(static_cast<std::uint32_t>(v++));
    for (std::uint32_t w = 0; w < kSlots; ++w) {
        WorkerRecord& r = m.worker(w);
        ASSERT_TRUE(inside(&r, sizeof r));
        r.jobs_done = v++;
        r.inbox_done = v++;
        r.lane_progress = v++;
        r.lanes_until_jobs = v++;
        for (std::uint32_t e = 0; e < kOutcomeEntries; ++e) {
            JobOutcome& o = m.outcome(w, e);
            ASSERT_TRUE(inside(&o, sizeof o));
            o.counts[0] = static_cast<std::uint32_t>(v++);
            o.counts[kOutcomeSlots - 1] = static_cast<std::uint32_t>(v++);
        }
        LaneOutcome& lo = m.lane_outcome(w);
        ASSERT_TRUE(inside(&lo, sizeof lo));
        lo.counts[0] = v++;
        lo.last_status = static_cast<std::uint32_t>(v++);
        for (std::uint32_t s = 0; s < kSessions; ++s) {
            ReplyTail& t = m.reply_tail(w, s);
            ASSERT_TRUE(inside(&t, sizeof t));
            t.generation = v++;
            t.tail = v++;
            t.replies = v++;
            t.lane_jobs = v++;
        }
        WorkerTimings& timings = m.worker_timings(w);
        ASSERT_TRUE(inside(&timings, sizeof timings));
        timings.busy_ns = v++;
        timings.functions[0].queue_wait.buckets[0] = v++;
        timings.functions[kTimedFunctions].run_time.sum_ns = v++;
        RingView inbox = m.inbox(w);
        ASSERT_TRUE(inside(inbox.control, ring_bytes_needed(inbox.capacity)));
        EXPECT_EQ(inbox.capacity, kInbox);
        inbox.control->head = v++;
        inbox.control->tail = v++;
        std::memset(inbox.data, static_cast<int>(0x10 + w), inbox.capacity);
    }
    for (std::uint32_t word = 0; word < m.layout.active_words(); ++word) {
        ASSERT_TRUE(inside(&m.active_sessions()[word], 8));
        m.active_sessions()[word] = v++;
    }
    for (std::uint32_t s = 0; s < kSessions; ++s) {
        SessionEntry& e = m.session_entry(s);
        ASSERT_TRUE(inside(&e, sizeof e));
        e.generation = v++;
        e.trust = static_cast<std::uint32_t>(v++);
    }

    // ...and read every one back, in the same order.
    std::uint64_t expect = 1;
    EXPECT_EQ(m.header().magic, expect++);
    EXPECT_EQ(m.header().generation, expect++);
    EXPECT_EQ(m.header().lane_posts_left.load(), static_cast<std::uint32_t>(expect++));
    for (std::uint32_t w = 0; w < kSlots; ++w) {
        const WorkerRecord& r = m.worker(w);
        EXPECT_EQ(r.jobs_done.load(), expect++);
        EXPECT_EQ(r.inbox_done.load(), expect++);
        EXPECT_EQ(r.lane_progress.load(), expect++);
        EXPECT_EQ(r.lanes_until_jobs.load(), expect++);
        for (std::uint32_t e = 0; e < kOutcomeEntries; ++e) {
            ASSERT_EQ(m.outcome(w, e).counts[0], static_cast<std::uint32_t>(expect++)) << w << " " << e;
            ASSERT_EQ(m.outcome(w, e).counts[kOutcomeSlots - 1], static_cast<std::uint32_t>(expect++));
        }
        // Sequence numbers wrap onto the same entries.
        EXPECT_EQ(&m.outcome(w, kOutcomeEntries + 5), &m.outcome(w, 5));
        EXPECT_EQ(m.lane_outcome(w).counts[0].load(), expect++);
        EXPECT_EQ(m.lane_outcome(w).last_status.load(), static_cast<std::uint32_t>(expect++));
        for (std::uint32_t s = 0; s < kSessions; ++s) {
            ASSERT_EQ(m.reply_tail(w, s).generation.load(), expect++);
            ASSERT_EQ(m.reply_tail(w, s).tail.load(), expect++);
            ASSERT_EQ(m.reply_tail(w, s).replies.load(), expect++);
            ASSERT_EQ(m.reply_tail(w, s).lane_jobs.load(), expect++);
        }
        EXPECT_EQ(m.worker_timings(w).busy_ns.load(), expect++);
        EXPECT_EQ(m.worker_timings(w).functions[0].queue_wait.buckets[0].load(), expect++);
        EXPECT_EQ(m.worker_timings(w).functions[kTimedFunctions].run_time.sum_ns.load(), expect++);
        EXPECT_EQ(m.inbox(w).control->head.load(), expect++);
        EXPECT_EQ(m.inbox(w).control->tail.load(), expect++);
        const RingView inbox = m.inbox(w);
        for (std::uint64_t i = 0; i < inbox.capacity; ++i) {
            ASSERT_EQ(static_cast<int>(inbox.data[i]), 0x10 + static_cast<int>(w)) << w << " " << i;
        }
    }
    for (std::uint32_t word = 0; word < m.layout.active_words(); ++word) {
        EXPECT_EQ(m.active_sessions()[word].load(), expect++);
    }
    for (std::uint32_t s = 0; s < kSessions; ++s) {
        EXPECT_EQ(m.session_entry(s).generation.load(), expect++);
        EXPECT_EQ(m.session_entry(s).trust.load(), static_cast<std::uint32_t>(expect++));
    }
}

TEST(PoolMemory, ConstructStartsEveryRecordEmpty) {
    UnitPoolMemory unit(2, 3, 1u << 12);
    const PoolMemory& m = unit.memory;
    // Scribble, then construct again: construct() must start every record afresh.
    m.worker(1).jobs_done = 9;
    m.worker(1).lane_progress = 9;
    m.lane_outcome(1).counts[3] = 9;
    m.reply_tail(1, 2).tail = 9;
    m.inbox(1).control->tail = 9;
    m.header().lane_posts_left = 9;
    m.construct();
    EXPECT_EQ(m.worker(1).jobs_done.load(), 0u);
    EXPECT_EQ(m.worker(1).lane_progress.load(), 0u);
    EXPECT_EQ(m.lane_outcome(1).counts[3].load(), 0u);
    EXPECT_EQ(m.reply_tail(1, 2).tail.load(), 0u);
    EXPECT_EQ(m.inbox(1).control->tail.load(), 0u);
    EXPECT_EQ(m.header().lane_posts_left.load(), 0u);
}

TEST(PoolMemory, ResetWorkerResetsOnlyThatWorker) {
    UnitPoolMemory unit(2, 3, 1u << 12);
    const PoolMemory& m = unit.memory;
    for (std::uint32_t w = 0; w < 2; ++w) {
        m.worker(w).pid = static_cast<std::int32_t>(100 + w);
        m.worker(w).state = static_cast<std::uint32_t>(WorkerState::ready);
        m.worker(w).inbox_done = 7;
        m.worker(w).lane_progress = lane_progress(3, LaneStage::taken);
        m.lane_outcome(w).counts[0] = 3;
        m.lane_outcome(w).last_status = 2;
        m.outcome(w, 4).counts[0] = 1;
        m.reply_tail(w, 1).tail = 640;
        m.inbox(w).control->head = 128;
        m.inbox(w).control->tail = 256;
    }
    m.session_entry(1).generation = 5;
    m.reset_worker(1);

    const WorkerRecord& reset = m.worker(1);
    EXPECT_EQ(reset.pid.load(), 0);
    EXPECT_EQ(reset.state.load(), static_cast<std::uint32_t>(WorkerState::empty));
    EXPECT_EQ(reset.inbox_done.load(), 0u);
    EXPECT_EQ(reset.lane_progress.load(), 0u);
    EXPECT_EQ(m.lane_outcome(1).counts[0].load(), 0u);
    EXPECT_EQ(m.lane_outcome(1).last_status.load(), 0u);
    EXPECT_EQ(m.inbox(1).control->head.load(), 0u);
    EXPECT_EQ(m.inbox(1).control->tail.load(), 0u);
    // Outcome entries are indexed by sequence numbers that restart with the inbox: left as they
    // are. Reply tails carry their session's generation: also left.
    EXPECT_EQ(m.outcome(1, 4).counts[0], 1u);
    EXPECT_EQ(m.reply_tail(1, 1).tail.load(), 640u);

    // The other worker and the session table are untouched.
    EXPECT_EQ(m.worker(0).pid.load(), 100);
    EXPECT_EQ(m.worker(0).inbox_done.load(), 7u);
    EXPECT_EQ(m.worker(0).lane_progress.load(), lane_progress(3, LaneStage::taken));
    EXPECT_EQ(m.lane_outcome(0).counts[0].load(), 3u);
    EXPECT_EQ(m.inbox(0).control->tail.load(), 256u);
    EXPECT_EQ(m.session_entry(1).generation.load(), 5u);
}

}  // namespace
}  // namespace warmpool
