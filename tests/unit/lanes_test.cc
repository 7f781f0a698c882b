// Tests for Lanes (lanes.hpp) over a real pool segment, lane board and session segment, with
// the workers' side (their records, lane tallies and a session's Lane) written by hand: counting
// lane jobs exactly once, the watcher bits, taking a post off a lane, and settling the lane job
// of a worker that died in each stage.

#include "warmpool/daemon/lanes.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "unit_memory.hpp"

namespace warmpool {
namespace {

using testing::UnitPoolMemory;
using testing::UnitSessionMemory;

constexpr std::uint32_t kWorkers = 2;
constexpr SessionLayout kSessionLayout{kWorkers, 1u << 12, 1u << 12, 1u << 12};
constexpr std::uint32_t kSessionSlot = 1;
constexpr std::uint64_t kGeneration = 0xabc;
constexpr std::uint64_t kTicket = 41;
constexpr std::uint64_t kJobId = 9001;

bool same(const PoolCounters& a, const PoolCounters& b) {
    return std::memcmp(&a, &b, sizeof a) == 0;
}

struct LanesTest : ::testing::Test {
    LanesTest() : pool(kWorkers, 2, 1u << 12), session(kSessionLayout, kSessionSlot, kGeneration) {
        if (auto st = lanes.create("unit", kWorkers); !st) ADD_FAILURE() << st.error().message();
        for (unsigned slot = 0; slot < kWorkers; ++slot) lanes.start_worker(slot);
    }

    // The worker in `slot` took `taken` lane jobs, counted `counted` of them as results, and is at
    // `stage` of the post kTicket of the test session.
    void worker_at(unsigned slot, std::uint64_t taken, std::uint64_t counted, LaneStage stage) {
        WorkerRecord& rec = pool.memory.worker(slot);
        rec.lane_progress = lane_progress(taken, stage);
        rec.lane_session_slot = kSessionSlot;
        rec.lane_generation = kGeneration;
        rec.lane_ticket = kTicket;
        rec.lane_job_id = kJobId;
        pool.memory.lane_outcome(slot).counts[0] = counted;
    }
    // The client posted job kJobId on its lane as post kTicket.
    void post(std::uint64_t claimer, LaneWordState state) {
        Lane& lane = session.memory.lane();
        lane.record = JobRecord{};
        lane.record.job_id = kJobId;
        ASSERT_TRUE(set_function_name(lane.record, "add"));
        lane.record.payload_bytes = 5;
        std::memcpy(lane.payload, "12345", 5);
        lane.word = lane_word(kTicket, claimer, state);
    }
    Lanes::DeadWorkerLane live_session() const {
        Lanes::DeadWorkerLane where;
        where.lane = &session.memory.lane();
        where.session_live = true;
        where.reply_ring = &session.memory.reply_control(1);
        return where;
    }
    static WorkerDeath death() {
        WorkerDeath d;
        d.how = "killed by signal 9 (SIGKILL)";
        d.pid = 4242;
        return d;
    }

    UnitPoolMemory pool;
    UnitSessionMemory session;
    Lanes lanes;
    PoolCounters counters;
};

TEST_F(LanesTest, CreateMakesTheBoard) {
    ASSERT_NE(lanes.board(), nullptr);
    EXPECT_EQ(lanes.board()->magic, kLaneBoardMagic);
    EXPECT_EQ(lanes.board()->layout_version, kLayoutVersion);
    EXPECT_EQ(lanes.board()->open.load(), 0u);
    EXPECT_TRUE(lanes.board_segment().valid());
    EXPECT_EQ(lanes.board_segment().size(), sizeof(LaneBoard));
    EXPECT_EQ(static_cast<void*>(lanes.board()), static_cast<void*>(lanes.board_segment().data()));
    lanes.set_open(true);
    EXPECT_EQ(lanes.board()->open.load(), 1u);
    lanes.set_open(false);
    EXPECT_EQ(lanes.board()->open.load(), 0u);
}

TEST_F(LanesTest, CountAddsEachLaneJobOnce) {
    LaneOutcome& outcome = pool.memory.lane_outcome(1);
    outcome.counts[0] = 3;
    outcome.counts[static_cast<std::size_t>(ErrorKind::handler_error)] = 1;
    outcome.counts[kOutcomeDropped] = 1;
    pool.memory.worker(1).lane_progress = lane_progress(6, LaneStage::taken);

    lanes.count(1, pool.memory, counters);
    EXPECT_EQ(counters.submitted, 6u);
    EXPECT_EQ(counters.direct, 6u);
    EXPECT_EQ(counters.completed, 3u);
    EXPECT_EQ(counters.failed[static_cast<std::size_t>(ErrorKind::handler_error)], 1u);
    EXPECT_EQ(counters.dropped, 1u);
    EXPECT_EQ(lanes.running(1, pool.memory), 1u);  // six taken, five counted

    const PoolCounters before = counters;
    lanes.count(1, pool.memory, counters);  // nothing new
    EXPECT_TRUE(same(before, counters));
    lanes.count(0, pool.memory, counters);  // another worker, nothing of its own
    EXPECT_TRUE(same(before, counters));

    outcome.counts[0] = 4;  // the running one finished
    lanes.count(1, pool.memory, counters);
    EXPECT_EQ(counters.completed, 4u);
    EXPECT_EQ(counters.submitted, 6u);
    EXPECT_EQ(lanes.running(1, pool.memory), 0u);

    pool.memory.worker(1).lane_progress = lane_progress(7, LaneStage::claiming);
    lanes.count(1, pool.memory, counters);
    EXPECT_EQ(counters.submitted, 7u);
    EXPECT_EQ(counters.direct, 7u);
    EXPECT_EQ(lanes.running(1, pool.memory), 1u);
}

TEST_F(LanesTest, StartWorkerStartsItsTallyAfresh) {
    pool.memory.lane_outcome(0).counts[0] = 2;
    pool.memory.worker(0).lane_progress = lane_progress(2, LaneStage::none);
    lanes.count(0, pool.memory, counters);
    EXPECT_EQ(counters.completed, 2u);
    // A new worker in the slot, over a reset record: it counts from zero again.
    pool.memory.reset_worker(0);
    lanes.start_worker(0);
    pool.memory.lane_outcome(0).counts[0] = 1;
    pool.memory.worker(0).lane_progress = lane_progress(1, LaneStage::none);
    lanes.count(0, pool.memory, counters);
    EXPECT_EQ(counters.completed, 3u);
    EXPECT_EQ(counters.submitted, 3u);
    EXPECT_EQ(lanes.running(0, pool.memory), 0u);
}

TEST_F(LanesTest, WatchersAreForgotten) {
    EXPECT_FALSE(lanes.any_watching());
    LaneBoard& board = *lanes.board();
    board.watching[0] |= std::uint64_t{1} << 1;
    board.watcher_role[0] |= std::uint64_t{1} << 1;
    EXPECT_TRUE(lanes.any_watching());
    lanes.forget_watcher(0);  // not the watcher
    EXPECT_TRUE(lanes.any_watching());
    EXPECT_EQ(board.watcher_role[0].load(), std::uint64_t{1} << 1);
    lanes.forget_watcher(1);
    EXPECT_FALSE(lanes.any_watching());
    EXPECT_EQ(board.watcher_role[0].load(), 0u);

    // A slot beyond the first word.
    board.watching[2] |= std::uint64_t{1} << 3;
    board.watcher_role[2] |= std::uint64_t{1} << 3;
    board.watching[2] |= std::uint64_t{1} << 4;
    EXPECT_TRUE(lanes.any_watching());
    lanes.forget_watcher(131);
    EXPECT_EQ(board.watching[2].load(), std::uint64_t{1} << 4);
    EXPECT_EQ(board.watcher_role[2].load(), 0u);
    EXPECT_TRUE(lanes.any_watching());
    lanes.forget_watcher(132);
    EXPECT_FALSE(lanes.any_watching());
}

TEST_F(LanesTest, TakeOffLaneTakesAPostOnce) {
    post(0, LaneWordState::posted);
    Lane& lane = session.memory.lane();
    const std::uint64_t word = lane.word.load();
    JobRecord record{};
    std::string payload;
    ASSERT_TRUE(take_off_lane(lane, word, record, payload));
    EXPECT_EQ(record.job_id, kJobId);
    EXPECT_EQ(function_name(record), "add");
    EXPECT_EQ(payload, "12345");
    EXPECT_EQ(lane.word.load(), lane_word(kTicket, 0, LaneWordState::free));  // the client's again

    JobRecord again{};
    std::string again_payload;
    EXPECT_FALSE(take_off_lane(lane, word, again, again_payload));
    EXPECT_EQ(again.job_id, 0u);
    EXPECT_EQ(again_payload, "");
}

TEST_F(LanesTest, TakeOffLaneLosesToAWorkerOrTheClient) {
    Lane& lane = session.memory.lane();
    const std::uint64_t posted = lane_word(kTicket, 0, LaneWordState::posted);
    JobRecord record{};
    std::string payload;
    post(1, LaneWordState::claimed);  // a worker claimed it first
    EXPECT_FALSE(take_off_lane(lane, posted, record, payload));
    EXPECT_EQ(lane.word.load(), lane_word(kTicket, 1, LaneWordState::claimed));
    post(0, LaneWordState::posted);  // posted again under a new ticket: the old word is stale
    lane.word = lane_word(kTicket + 1, 0, LaneWordState::posted);
    EXPECT_FALSE(take_off_lane(lane, posted, record, payload));
    EXPECT_EQ(lane.word.load(), lane_word(kTicket + 1, 0, LaneWordState::posted));
}

TEST_F(LanesTest, TakeOffLaneBoundsThePayload) {
    post(0, LaneWordState::posted);
    Lane& lane = session.memory.lane();
    lane.record.payload_bytes = 1u << 30;  // the client's word, not to be believed
    JobRecord record{};
    std::string payload;
    ASSERT_TRUE(take_off_lane(lane, lane.word.load(), record, payload));
    EXPECT_EQ(payload.size(), kLanePayloadMax);
}

TEST_F(LanesTest, SettleNothingToSettle) {
    worker_at(1, 2, 2, LaneStage::none);
    post(1, LaneWordState::claimed);  // whatever the lane says: the worker was not at it
    const Lanes::Settlement settled = lanes.settle(1, pool.memory, live_session(), death(), counters);
    EXPECT_FALSE(settled.reply);
    EXPECT_EQ(counters.submitted, 2u);  // what it had done, counted now
    EXPECT_EQ(counters.completed, 2u);
    EXPECT_EQ(counters.dropped, 0u);
    EXPECT_EQ(session.memory.lane().word.load(), lane_word(kTicket, 1, LaneWordState::claimed));
}

TEST_F(LanesTest, SettleClaimedButNotTaken) {
    // The worker claimed the post (the lane says so) and died before counting it as taken.
    worker_at(1, 2, 2, LaneStage::claiming);
    post(1, LaneWordState::claimed);
    lanes.count(1, pool.memory, counters);
    const PoolCounters before = counters;

    const Lanes::Settlement settled = lanes.settle(1, pool.memory, live_session(), death(), counters);
    ASSERT_TRUE(settled.reply);
    EXPECT_EQ(settled.error, ErrorKind::worker_crashed);
    EXPECT_EQ(settled.message, "worker 4242 killed by signal 9 (SIGKILL) while running the job");
    EXPECT_EQ(settled.job.job_id, kJobId);
    EXPECT_EQ(function_name(settled.job), "add");
    EXPECT_EQ(settled.job.session_slot, kSessionSlot);
    EXPECT_EQ(settled.job.session_generation, kGeneration);
    EXPECT_EQ(session.memory.lane().word.load(), lane_word(kTicket, 0, LaneWordState::free));

    EXPECT_EQ(counters.submitted, before.submitted + 1);
    EXPECT_EQ(counters.direct, before.direct + 1);
    EXPECT_EQ(counters.failed[static_cast<std::size_t>(ErrorKind::worker_crashed)], 1u);
    EXPECT_EQ(counters.completed, before.completed);
    EXPECT_EQ(counters.dropped, 0u);
}

TEST_F(LanesTest, SettleClaimingAPostItNeverClaimed) {
    // About to claim, but the lane shows the post still posted, claimed by the supervisor, or an
    // older post claimed: the job is not this worker's to answer, and nothing is counted.
    worker_at(1, 2, 2, LaneStage::claiming);
    lanes.count(1, pool.memory, counters);
    const PoolCounters before = counters;
    for (const std::uint64_t word : {lane_word(kTicket, 0, LaneWordState::posted),
                                     lane_word(kTicket, kLaneClaimerSupervisor, LaneWordState::claimed),
                                     lane_word(kTicket - 1, 1, LaneWordState::claimed)}) {
        session.memory.lane().word = word;
        const Lanes::Settlement settled = lanes.settle(1, pool.memory, live_session(), death(), counters);
        EXPECT_FALSE(settled.reply);
        EXPECT_EQ(session.memory.lane().word.load(), word);
        EXPECT_TRUE(same(before, counters));
    }
    // Claiming with the session gone: nothing to free, and nothing counted (the job was never
    // counted as submitted either).
    Lanes::DeadWorkerLane gone;
    EXPECT_FALSE(lanes.settle(1, pool.memory, gone, death(), counters).reply);
    EXPECT_TRUE(same(before, counters));
}

TEST_F(LanesTest, SettleTakenAndAlreadyCounted) {
    worker_at(1, 3, 3, LaneStage::taken);
    lanes.count(1, pool.memory, counters);
    const PoolCounters before = counters;
    post(1, LaneWordState::claimed);
    const Lanes::Settlement settled = lanes.settle(1, pool.memory, live_session(), death(), counters);
    EXPECT_FALSE(settled.reply);
    EXPECT_TRUE(same(before, counters));
    EXPECT_EQ(session.memory.lane().word.load(), lane_word(kTicket, 1, LaneWordState::claimed));
}

TEST_F(LanesTest, SettleTakenNotCountedSessionGone) {
    worker_at(1, 3, 2, LaneStage::taken);
    lanes.count(1, pool.memory, counters);
    const PoolCounters before = counters;
    Lanes::DeadWorkerLane gone;  // no session of that slot and generation any more
    const Lanes::Settlement settled = lanes.settle(1, pool.memory, gone, death(), counters);
    EXPECT_FALSE(settled.reply);
    EXPECT_EQ(counters.dropped, before.dropped + 1);
    EXPECT_EQ(counters.submitted, before.submitted);
    EXPECT_EQ(counters.failed[static_cast<std::size_t>(ErrorKind::worker_crashed)], 0u);
}

TEST_F(LanesTest, SettleTakenNotCountedSessionClosing) {
    worker_at(1, 3, 2, LaneStage::taken);
    lanes.count(1, pool.memory, counters);
    const PoolCounters before = counters;
    Lanes::DeadWorkerLane closing = live_session();
    closing.session_live = false;
    const Lanes::Settlement settled = lanes.settle(1, pool.memory, closing, death(), counters);
    EXPECT_FALSE(settled.reply);
    EXPECT_EQ(counters.dropped, before.dropped + 1);
}

TEST_F(LanesTest, SettleTakenNotCountedCrashFreesTheLaneAndFails) {
    // Killed between taking the job and freeing the lane: the lane is the client's again.
    worker_at(1, 3, 2, LaneStage::taken);
    post(1, LaneWordState::claimed);
    const Lanes::Settlement settled = lanes.settle(1, pool.memory, live_session(), death(), counters);
    ASSERT_TRUE(settled.reply);
    EXPECT_EQ(settled.error, ErrorKind::worker_crashed);
    EXPECT_EQ(settled.job.job_id, kJobId);  // from the worker's record
    EXPECT_EQ(settled.job.session_slot, kSessionSlot);
    EXPECT_EQ(session.memory.lane().word.load(), lane_word(kTicket, 0, LaneWordState::free));
    EXPECT_EQ(counters.submitted, 3u);  // counted by count(), not again
    EXPECT_EQ(counters.failed[static_cast<std::size_t>(ErrorKind::worker_crashed)], 1u);
}

TEST_F(LanesTest, SettleStoppedOnPurpose) {
    worker_at(1, 3, 2, LaneStage::taken);
    session.memory.lane().word = lane_word(kTicket + 1, 0, LaneWordState::posted);  // the client moved on
    Lanes::DeadWorkerLane where = live_session();
    where.stopped_on_purpose = true;
    WorkerDeath d = death();
    d.stop_kind = ErrorKind::timeout;
    d.stop_message = "the job ran longer than its 1 s limit";
    const Lanes::Settlement settled = lanes.settle(1, pool.memory, where, d, counters);
    ASSERT_TRUE(settled.reply);
    EXPECT_EQ(settled.error, ErrorKind::timeout);
    EXPECT_EQ(settled.message, "the job ran longer than its 1 s limit");
    EXPECT_EQ(settled.job.job_id, kJobId);
    EXPECT_EQ(counters.failed[static_cast<std::size_t>(ErrorKind::timeout)], 1u);
    EXPECT_EQ(counters.failed[static_cast<std::size_t>(ErrorKind::worker_crashed)], 0u);
    // A newer post is left alone.
    EXPECT_EQ(session.memory.lane().word.load(), lane_word(kTicket + 1, 0, LaneWordState::posted));
}

TEST_F(LanesTest, SettleReplyPublishedBeforeTheDeath) {
    // The reply reached the client's ring (its tail moved past the one the job started at), the
    // count did not happen: counted now by the last status the worker wrote.
    worker_at(1, 3, 2, LaneStage::taken);
    pool.memory.worker(1).running_reply_tail = 64;
    session.memory.reply(1).control->tail = 128;
    pool.memory.lane_outcome(1).last_status = static_cast<std::uint32_t>(ErrorKind::handler_error);
    lanes.count(1, pool.memory, counters);
    const PoolCounters before = counters;
    const Lanes::Settlement settled = lanes.settle(1, pool.memory, live_session(), death(), counters);
    EXPECT_FALSE(settled.reply);
    EXPECT_EQ(counters.failed[static_cast<std::size_t>(ErrorKind::handler_error)], 1u);
    EXPECT_EQ(counters.completed, before.completed);
    EXPECT_EQ(counters.dropped, 0u);
}

}  // namespace
}  // namespace warmpool
