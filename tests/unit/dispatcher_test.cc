// Tests for the Dispatcher (dispatcher.hpp) over a real pool segment and a SessionTable with
// real session segments. Workers are slots marked live and ready by hand (a pid no one signals);
// what a worker would do (take its inbox, mark jobs done, write outcomes) is written by hand too.

#include "warmpool/daemon/dispatcher.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "unit_memory.hpp"

namespace warmpool {
namespace {

using testing::next_record;
using testing::record_at;
using testing::UnitPoolMemory;

constexpr std::uint32_t kWorkers = 2;
constexpr std::uint32_t kSessions = 3;
// Replies of single calls may take 4 KiB inline, so each held job reserves 4144 bytes of its
// client's reply ring, and 8288 are held back besides (reply_room_reserve(4096)): a 32 KiB reply
// ring has room for the replies of 5 held jobs.
constexpr std::uint32_t kInlineMax = 4096;
constexpr std::uint64_t kJobReply = 4144;
constexpr SessionLayout kSessionLayout{kWorkers, 1u << 14, 1u << 12, 1u << 15};
constexpr std::int64_t kNow = 1'000'000'000;

PoolConfig make_config() {
    PoolConfig config;
    config.workers = kWorkers;
    config.inline_max = kInlineMax;
    config.functions["limited"] = FunctionConfig{2.0, 0};
    return config;
}

// What a queued job has besides its id and function.
struct Extra {
    std::uint32_t items = 1;
    std::int64_t deadline_ns = 0;
    std::int64_t timeout_ns = 0;
    int priority = 0;
};

struct DispatcherTest : ::testing::Test {
    DispatcherTest()
        : config(make_config()),
          pool(kWorkers, kSessions, 1u << 14),
          sessions(kSessions, pool.memory, kSessionLayout, &totals),
          slots(kWorkers, 1),
          functions(config),
          dispatcher(config, pool.memory, kSessions) {
        // "add" is known to be short (1 us a call): queued several deep.
        FunctionCatalog::LastLookup last;
        functions.stats("add", last).single.observe(1000);
    }

    unsigned open_session(std::uint64_t generation) {
        PeerCredentials peer;
        peer.uid = 1000;
        auto slot = sessions.open(peer, 0, generation, "unit");
        if (!slot) ADD_FAILURE() << slot.error().message();
        return slot ? slot.value() : 0;
    }
    // A worker in `slot` that has initialised and takes jobs.
    void ready(unsigned slot) {
        slots[slot].pid = static_cast<pid_t>(900000 + slot);
        slots[slot].ever_ready = true;
        pool.memory.reset_worker(slot);
        dispatcher.start_worker(slot);
    }
    // Queues a job as the supervisor does once it has checked a submission (session fields filled
    // in). The deadline is set before the job enters the queue, which counts jobs with one.
    void queue(unsigned session, std::uint64_t id, std::string_view function = "add", Extra extra = {}) {
        SessionSlot& s = sessions[session];
        PendingJob job;
        job.record.job_id = id;
        EXPECT_TRUE(set_function_name(job.record, function));
        job.payload = "payload " + std::to_string(id);
        job.record.payload_bytes = static_cast<std::uint32_t>(job.payload.size());
        job.record.session_slot = session;
        job.record.session_generation = s.generation;
        job.record.attempt = 1;
        job.record.deadline_ns = extra.deadline_ns;
        job.record.timeout_ns = extra.timeout_ns;
        job.record.priority = extra.priority;
        job.record.enqueued_ns = kNow;
        job.items = extra.items;
        job.stats = &functions.stats(function, s.last_function);
        s.queue.push_back(std::move(job));
    }
    bool dispatch(std::int64_t now = kNow) { return dispatcher.dispatch(now, sessions, slots.all(), functions, counters); }
    // The job ids in the inbox of the worker in `slot`, read as the worker would.
    std::vector<std::uint64_t> inbox_ids(RingConsumer& inbox) {
        std::vector<std::uint64_t> ids;
        while (auto bytes = next_record(inbox)) ids.push_back(record_at<JobRecord>(*bytes).job_id);
        return ids;
    }
    std::vector<std::uint64_t> held_ids(unsigned slot) const {
        std::vector<std::uint64_t> ids;
        for (const auto& job : dispatcher.holdings(slot).jobs) ids.push_back(job.job.record.job_id);
        return ids;
    }

    PoolConfig config;
    UnitPoolMemory pool;
    QueueTotals totals;
    SessionTable sessions;
    WorkerSlots slots;
    FunctionCatalog functions;
    Dispatcher dispatcher;
    PoolCounters counters;
};

using Ids = std::vector<std::uint64_t>;

TEST_F(DispatcherTest, ReplyReserveIsTheDispatchPolicys) {
    EXPECT_EQ(dispatcher.reply_reserve(), reply_room_reserve(kInlineMax));
    EXPECT_EQ(dispatcher.reply_reserve(), 2 * kJobReply);
    PoolConfig defaults;
    const Dispatcher other(defaults, pool.memory, kSessions);
    EXPECT_EQ(other.reply_reserve(), reply_room_reserve(defaults.inline_max));
    EXPECT_EQ(other.reply_reserve(), 65584u + 4144u);
}

TEST_F(DispatcherTest, NothingToDo) {
    EXPECT_FALSE(dispatch());  // no sessions
    ready(0);
    open_session(7);
    EXPECT_FALSE(dispatch());  // nothing queued
    EXPECT_EQ(dispatcher.jobs_held(), 0u);
}

TEST_F(DispatcherTest, PlacesAQueuedJobInAWorkersInbox) {
    ready(0);
    ready(1);
    const unsigned s = open_session(7);
    queue(s, 11);
    RingConsumer inbox(pool.memory.inbox(0));
    pool.memory.worker(0).inbox_wake.waiting = 1;  // the worker is about to sleep

    EXPECT_TRUE(dispatch());
    auto bytes = next_record(inbox);
    ASSERT_TRUE(bytes);
    ASSERT_EQ(bytes->size(), sizeof(JobRecord) + std::string("payload 11").size());
    const auto record = record_at<JobRecord>(*bytes);
    EXPECT_EQ(record.job_id, 11u);
    EXPECT_EQ(function_name(record), "add");
    EXPECT_EQ(record.session_slot, s);
    EXPECT_EQ(record.session_generation, 7u);
    EXPECT_EQ(record.attempt, 1u);
    EXPECT_EQ(bytes->substr(sizeof(JobRecord)), "payload 11");
    EXPECT_FALSE(next_record(inbox));
    EXPECT_EQ(pool.memory.worker(0).inbox_wake.waiting.load(), 0u);  // woken

    const WorkerHoldings& held = dispatcher.holdings(0);
    ASSERT_EQ(held.jobs.size(), 1u);
    const InFlightJob& job = held.jobs.front();
    EXPECT_EQ(job.seq, 0u);
    EXPECT_EQ(job.dispatched_ns, kNow);
    EXPECT_EQ(job.timeout_ns, 0);
    EXPECT_FALSE(job.exclusive);
    EXPECT_EQ(held.next_inbox_seq, 1u);
    EXPECT_EQ(held.exclusive_held, 0u);
    EXPECT_EQ(held.reply_reserved[s], kJobReply);
    EXPECT_EQ(held.running(1), &job);  // running_seq is the inbox seq + 1
    EXPECT_EQ(held.running(0), nullptr);
    EXPECT_EQ(held.running(kLaneRunningSeq), nullptr);
    EXPECT_TRUE(dispatcher.holdings(1).jobs.empty());
    EXPECT_EQ(sessions[s].jobs_with_workers, 1u);
    EXPECT_TRUE(sessions[s].queue.empty());
    EXPECT_EQ(totals.jobs, 0u);
    EXPECT_EQ(dispatcher.jobs_held(), 1u);
    EXPECT_EQ(counters.submitted, 0u);  // counted at submission, not here
    EXPECT_FALSE(dispatch());           // nothing left
}

TEST_F(DispatcherTest, ShortJobsGoToTheWorkerHoldingFewest) {
    ready(0);
    ready(1);
    const unsigned s = open_session(7);
    for (std::uint64_t id = 1; id <= 5; ++id) queue(s, id);
    EXPECT_TRUE(dispatch());
    RingConsumer inbox0(pool.memory.inbox(0)), inbox1(pool.memory.inbox(1));
    // Job 1 to worker 0; job 2 to worker 1, which holds fewer; job 3 to worker 1 again (as
    // loaded as worker 0, and the last one given a job); then 4 and 5 to worker 0.
    EXPECT_EQ(inbox_ids(inbox0), (Ids{1, 4, 5}));
    EXPECT_EQ(inbox_ids(inbox1), (Ids{2, 3}));
    EXPECT_EQ(held_ids(0), (Ids{1, 4, 5}));
    EXPECT_EQ(dispatcher.holdings(0).jobs.back().seq, 2u);  // consecutive inbox sequence numbers
    EXPECT_EQ(sessions[s].jobs_with_workers, 5u);
}

TEST_F(DispatcherTest, OnlyWorkersThatTakeJobsGetThem) {
    const unsigned s = open_session(7);
    queue(s, 1);
    EXPECT_FALSE(dispatch());  // no worker at all
    slots[0].pid = 900000;     // started, not ready
    dispatcher.start_worker(0);
    ready(1);
    slots[1].retiring = true;
    EXPECT_FALSE(dispatch());
    slots[1].retiring = false;
    slots[1].stop.running = 1;  // being stopped
    EXPECT_FALSE(dispatch());
    EXPECT_EQ(sessions[s].queue.size(), 1u);
    slots[1].stop = StopOrder{};
    slots[1].replace = ReplaceReason::max_jobs;  // being replaced: serves until then
    EXPECT_TRUE(dispatch());
    EXPECT_EQ(held_ids(1), (Ids{1}));
}

TEST_F(DispatcherTest, ExclusiveJobsGoOnlyToAnEmptyWorker) {
    ready(0);
    ready(1);
    const unsigned s = open_session(7);
    queue(s, 1);             // short: worker 0
    queue(s, 2, "limited");  // a 2 s limit: exclusive, to the empty worker 1
    queue(s, 3, "limited");  // no empty worker left: waits
    queue(s, 4);             // behind it in the session's queue: waits too
    EXPECT_TRUE(dispatch());
    EXPECT_EQ(held_ids(0), (Ids{1}));
    EXPECT_EQ(held_ids(1), (Ids{2}));
    const InFlightJob& limited = dispatcher.holdings(1).jobs.front();
    EXPECT_TRUE(limited.exclusive);
    EXPECT_EQ(limited.timeout_ns, 2'000'000'000);
    EXPECT_EQ(dispatcher.holdings(1).exclusive_held, 1u);
    EXPECT_EQ(sessions[s].queue.size(), 2u);
    EXPECT_FALSE(dispatch());

    // The short job finishes: worker 0 is empty again and takes the next exclusive job.
    pool.memory.worker(0).inbox_done = 1;
    EXPECT_TRUE(dispatcher.collect(0, kNow, sessions, counters));
    EXPECT_TRUE(dispatch());
    EXPECT_EQ(held_ids(0), (Ids{3}));
    // Job 4 is short, but both workers hold an exclusive job: nothing may queue behind one.
    EXPECT_EQ(sessions[s].queue.size(), 1u);
}

TEST_F(DispatcherTest, AJobsOwnTimeoutMakesItExclusive) {
    ready(0);
    const unsigned s = open_session(7);
    queue(s, 1);
    queue(s, 2, "add", {.timeout_ns = 5'000});
    EXPECT_TRUE(dispatch());
    EXPECT_EQ(held_ids(0), (Ids{1}));  // job 2 waits for an empty worker
    pool.memory.worker(0).inbox_done = 1;
    dispatcher.collect(0, kNow, sessions, counters);
    EXPECT_TRUE(dispatch());
    ASSERT_EQ(held_ids(0), (Ids{2}));
    EXPECT_EQ(dispatcher.holdings(0).jobs.front().timeout_ns, 5'000);
    EXPECT_TRUE(dispatcher.holdings(0).jobs.front().exclusive);
}

TEST_F(DispatcherTest, UnknownFunctionsAreExclusive) {
    // Never seen run: it may be long, so nothing queues behind it.
    ready(0);
    const unsigned s = open_session(7);
    queue(s, 1, "never_seen");
    queue(s, 2, "never_seen");
    EXPECT_TRUE(dispatch());
    EXPECT_EQ(held_ids(0), (Ids{1}));
    EXPECT_TRUE(dispatcher.holdings(0).jobs.front().exclusive);
    EXPECT_EQ(sessions[s].queue.size(), 1u);
}

TEST_F(DispatcherTest, ALaneJobKeepsItsWorkerFromQueuedJobs) {
    ready(0);
    ready(1);
    const unsigned s = open_session(7);
    pool.memory.worker(0).running_seq = kLaneRunningSeq;  // runs a job that came by lane
    queue(s, 1);
    queue(s, 2);
    EXPECT_TRUE(dispatch());
    EXPECT_TRUE(dispatcher.holdings(0).jobs.empty());
    EXPECT_EQ(held_ids(1), (Ids{1, 2}));

    // Taken from the lane, not yet shown running: the same.
    pool.memory.worker(0).running_seq = 0;
    pool.memory.worker(0).lane_progress = lane_progress(1, LaneStage::taken);
    queue(s, 3);
    EXPECT_TRUE(dispatch());
    EXPECT_EQ(held_ids(1), (Ids{1, 2, 3}));
}

TEST_F(DispatcherTest, ExpiredDeadlinesAreAnsweredAndCounted) {
    ready(0);
    const unsigned s = open_session(7);
    queue(s, 1, "add", {.deadline_ns = kNow - 1});
    queue(s, 2, "add", {.items = 3, .deadline_ns = kNow - 1'000});  // a batch of three calls
    queue(s, 3, "add", {.deadline_ns = kNow});                      // due now, not past
    RingConsumer control(sessions[s].memory.control());
    EXPECT_TRUE(dispatch());

    for (const std::uint64_t id : {1u, 2u}) {
        auto bytes = next_record(control);
        ASSERT_TRUE(bytes) << id;
        const auto reply = record_at<ReplyRecord>(*bytes);
        EXPECT_EQ(reply.job_id, id);
        EXPECT_EQ(reply.status, static_cast<std::uint16_t>(ErrorKind::deadline_exceeded));
        EXPECT_EQ(reply.worker_pid, 0);
        EXPECT_EQ(bytes->substr(sizeof(ReplyRecord)), "the job's deadline passed while it was queued");
    }
    EXPECT_FALSE(next_record(control));
    EXPECT_EQ(counters.failed[static_cast<std::size_t>(ErrorKind::deadline_exceeded)], 4u);
    EXPECT_EQ(held_ids(0), (Ids{3}));
    EXPECT_EQ(sessions[s].jobs_with_workers, 1u);
    EXPECT_EQ(totals.jobs, 0u);
    EXPECT_EQ(totals.with_deadline, 0u);
}

TEST_F(DispatcherTest, ExpiredDeadlinesAreAnsweredWithNoWorker) {
    const unsigned s = open_session(7);
    queue(s, 1, "add", {.deadline_ns = kNow - 1});
    queue(s, 2);
    RingConsumer control(sessions[s].memory.control());
    EXPECT_TRUE(dispatch());
    auto bytes = next_record(control);
    ASSERT_TRUE(bytes);
    EXPECT_EQ(record_at<ReplyRecord>(*bytes).job_id, 1u);
    EXPECT_EQ(sessions[s].queue.size(), 1u);
    EXPECT_EQ(counters.failed[static_cast<std::size_t>(ErrorKind::deadline_exceeded)], 1u);
}

TEST_F(DispatcherTest, ClosingSessionsAreNotServed) {
    ready(0);
    const unsigned a = open_session(7);
    const unsigned b = open_session(8);
    queue(a, 1);
    queue(b, 2);
    sessions[a].closing = true;  // as begin_close leaves it (its queue would be cleared too)
    EXPECT_TRUE(dispatch());
    EXPECT_EQ(held_ids(0), (Ids{2}));
    EXPECT_EQ(sessions[a].queue.size(), 1u);
}

TEST_F(DispatcherTest, ReplyRoomHoldsJobsBack) {
    ready(0);
    const unsigned s = open_session(7);
    for (std::uint64_t id = 1; id <= 8; ++id) queue(s, id);
    EXPECT_EQ(sessions[s].header().reply_room_wanted.load(), 0u);
    EXPECT_TRUE(dispatch());
    EXPECT_EQ(held_ids(0), (Ids{1, 2, 3, 4, 5}));
    EXPECT_EQ(dispatcher.holdings(0).reply_reserved[s], 5 * kJobReply);
    EXPECT_EQ(sessions[s].queue.size(), 3u);
    EXPECT_EQ(sessions[s].header().reply_room_wanted.load(), 1u);  // the client is asked to say when it read

    // The worker finishes them and the client reads every reply: room again.
    pool.memory.worker(0).inbox_done = 5;
    EXPECT_TRUE(dispatcher.collect(0, kNow + 1000, sessions, counters));
    EXPECT_EQ(dispatcher.holdings(0).reply_reserved[s], 0u);
    EXPECT_TRUE(dispatch());
    EXPECT_EQ(held_ids(0), (Ids{6, 7, 8}));
}

TEST_F(DispatcherTest, UnreadRepliesCountAgainstTheRoom) {
    ready(0);
    const unsigned s = open_session(7);
    // The worker published 20000 bytes of replies the client has not read.
    ReplyTail& tail = pool.memory.reply_tail(0, s);
    tail.generation = 7;
    tail.tail = 20000;
    for (std::uint64_t id = 1; id <= 3; ++id) queue(s, id);
    EXPECT_TRUE(dispatch());
    // 32768 - 20000 - 8288 = 4480 bytes: one reply's room.
    EXPECT_EQ(held_ids(0), (Ids{1}));
    // Counted for an older session of the slot: not this session's replies.
    tail.generation = 6;
    EXPECT_TRUE(dispatch());
    EXPECT_EQ(held_ids(0), (Ids{1, 2, 3}));
}

TEST_F(DispatcherTest, CollectTakesOffFinishedJobsAndCountsThem) {
    ready(0);
    const unsigned s = open_session(7);
    for (std::uint64_t id = 1; id <= 3; ++id) queue(s, id);
    EXPECT_TRUE(dispatch(kNow));
    ASSERT_EQ(held_ids(0), (Ids{1, 2, 3}));
    WorkerRecord& rec = pool.memory.worker(0);

    EXPECT_FALSE(dispatcher.collect(0, kNow, sessions, counters));  // nothing done yet
    EXPECT_FALSE(dispatcher.collect(1, kNow, sessions, counters));  // holds nothing

    // Job 1 done, a result; its run time the worker's own measurement.
    pool.memory.outcome(0, 0).counts[0] = 1;
    rec.last_run_ns = 5000;
    rec.inbox_done = 1;
    EXPECT_TRUE(dispatcher.collect(0, kNow + 10'000, sessions, counters));
    EXPECT_EQ(held_ids(0), (Ids{2, 3}));
    EXPECT_EQ(counters.completed, 1u);
    EXPECT_EQ(sessions[s].jobs_with_workers, 2u);
    EXPECT_EQ(dispatcher.holdings(0).reply_reserved[s], 2 * kJobReply);
    EXPECT_EQ(dispatcher.holdings(0).last_completion_ns, kNow + 10'000);
    FunctionCatalog::LastLookup last;
    EXPECT_EQ(functions.stats("add", last).single.ns, 2000);  // (3 * 1000 + 5000) / 4

    // Jobs 2 and 3 done at once, one failed and one came to two results (outcomes count calls);
    // they share the time since the last completion as their run time.
    pool.memory.outcome(0, 1).counts[static_cast<std::size_t>(ErrorKind::handler_error)] = 1;
    pool.memory.outcome(0, 2).counts[0] = 2;
    rec.inbox_done = 3;
    EXPECT_TRUE(dispatcher.collect(0, kNow + 30'000, sessions, counters));
    EXPECT_TRUE(dispatcher.holdings(0).jobs.empty());
    EXPECT_EQ(counters.completed, 3u);
    EXPECT_EQ(counters.failed[static_cast<std::size_t>(ErrorKind::handler_error)], 1u);
    EXPECT_EQ(sessions[s].jobs_with_workers, 0u);
    EXPECT_EQ(dispatcher.holdings(0).reply_reserved[s], 0u);
    EXPECT_EQ(dispatcher.jobs_held(), 0u);
    // Each took (30000 - 10000) / 2 = 10000 ns: 2000 -> 4000 -> 5500.
    EXPECT_EQ(functions.stats("add", last).single.ns, 5500);
    EXPECT_FALSE(dispatcher.collect(0, kNow + 40'000, sessions, counters));
}

TEST_F(DispatcherTest, CollectCountsDroppedCalls) {
    ready(0);
    const unsigned s = open_session(7);
    queue(s, 1);
    EXPECT_TRUE(dispatch());
    pool.memory.outcome(0, 0).counts[kOutcomeDropped] = 1;
    pool.memory.worker(0).inbox_done = 1;
    EXPECT_TRUE(dispatcher.collect(0, kNow, sessions, counters));
    EXPECT_EQ(counters.dropped, 1u);
    EXPECT_EQ(counters.completed, 0u);
}

TEST_F(DispatcherTest, CollectBelievesNoMoreThanItHolds) {
    // A worker's inbox_done beyond the jobs it was given (a broken or hostile worker): only the
    // jobs held are taken off.
    ready(0);
    const unsigned s = open_session(7);
    queue(s, 1);
    queue(s, 2);
    EXPECT_TRUE(dispatch());
    pool.memory.worker(0).inbox_done = 1000;
    EXPECT_TRUE(dispatcher.collect(0, kNow, sessions, counters));
    EXPECT_TRUE(dispatcher.holdings(0).jobs.empty());
    EXPECT_EQ(sessions[s].jobs_with_workers, 0u);
}

TEST_F(DispatcherTest, ReleaseAllReturnsEveryHeldJob) {
    ready(0);
    ready(1);
    const unsigned a = open_session(7);
    const unsigned b = open_session(8);
    queue(a, 5, "limited");
    queue(a, 1);
    queue(a, 2);
    queue(b, 3);
    queue(b, 4);
    EXPECT_TRUE(dispatch());
    // Sessions take turns: a's exclusive job to worker 0, then everything else to worker 1.
    ASSERT_EQ(held_ids(0), (Ids{5}));
    ASSERT_EQ(held_ids(1), (Ids{3, 1, 4, 2}));
    EXPECT_EQ(sessions[a].jobs_with_workers, 3u);
    EXPECT_EQ(sessions[b].jobs_with_workers, 2u);

    Fifo<InFlightJob> released = dispatcher.release_all(1, sessions);
    Ids released_ids;
    for (const auto& job : released) released_ids.push_back(job.job.record.job_id);
    EXPECT_EQ(released_ids, (Ids{3, 1, 4, 2}));  // in inbox order
    EXPECT_EQ(released.front().seq, 0u);
    EXPECT_TRUE(dispatcher.holdings(1).jobs.empty());
    for (unsigned slot = 0; slot < kSessions; ++slot) EXPECT_EQ(dispatcher.holdings(1).reply_reserved[slot], 0u);
    EXPECT_EQ(sessions[a].jobs_with_workers, 1u);
    EXPECT_EQ(sessions[b].jobs_with_workers, 0u);
    EXPECT_EQ(dispatcher.jobs_held(), 1u);
    EXPECT_EQ(held_ids(0), (Ids{5}));  // the other worker keeps its job
    EXPECT_EQ(dispatcher.holdings(0).reply_reserved[a], kJobReply);

    released = dispatcher.release_all(0, sessions);
    ASSERT_EQ(released.size(), 1u);
    EXPECT_TRUE(released.front().exclusive);
    EXPECT_EQ(dispatcher.holdings(0).exclusive_held, 0u);
    EXPECT_EQ(dispatcher.holdings(0).reply_reserved[a], 0u);
    EXPECT_EQ(sessions[a].jobs_with_workers, 0u);
    EXPECT_EQ(dispatcher.jobs_held(), 0u);

    // The slot's next worker starts from an empty inbox at sequence 0.
    ready(0);
    EXPECT_EQ(dispatcher.holdings(0).next_inbox_seq, 0u);
    EXPECT_TRUE(dispatcher.release_all(0, sessions).empty());
}

TEST_F(DispatcherTest, SessionsHoldingFewerJobsGoFirst) {
    // One worker, exclusive jobs: one job per pass. Session b holds nothing with workers, a
    // holds one: b's job goes first though a comes first in turn order.
    ready(0);
    const unsigned a = open_session(7);
    const unsigned b = open_session(8);
    queue(a, 1, "limited");
    sessions[a].jobs_with_workers = 1;  // as if a worker that is not ours held one
    queue(b, 2, "limited");
    EXPECT_TRUE(dispatch());
    EXPECT_EQ(held_ids(0), (Ids{2}));
    EXPECT_EQ(sessions[a].queue.size(), 1u);
}

TEST_F(DispatcherTest, HigherPriorityGoesFirstAcrossSessions) {
    ready(0);
    const unsigned a = open_session(7);
    const unsigned b = open_session(8);
    queue(a, 1, "add", {.priority = -1});
    queue(a, 2, "add", {.priority = -1});
    queue(b, 3);
    queue(a, 4, "add", {.priority = 5});
    queue(b, 5, "add", {.priority = kPriorityMin});
    EXPECT_TRUE(dispatch());
    EXPECT_EQ(held_ids(0), (Ids{4, 3, 1, 2, 5}));
}

TEST_F(DispatcherTest, WithinAPrioritySessionsStillTakeTurns) {
    ready(0);
    const unsigned a = open_session(7);
    const unsigned b = open_session(8);
    queue(a, 1, "add", {.priority = 2});
    queue(a, 2, "add", {.priority = 2});
    queue(a, 3, "add", {.priority = 2});
    queue(b, 4, "add", {.priority = 2});
    queue(b, 5, "add", {.priority = 2});
    queue(a, 6);
    EXPECT_TRUE(dispatch());
    EXPECT_EQ(held_ids(0), (Ids{1, 4, 2, 5, 3, 6}));
}

TEST_F(DispatcherTest, AJobNoWorkerMayTakeHoldsBackEveryLowerOne) {
    // The one worker holds a short job. An exclusive job of priority 3 must wait for it; a short
    // job of priority 0 could be queued behind it, but would then run first: it waits too.
    ready(0);
    const unsigned a = open_session(7);
    const unsigned b = open_session(8);
    queue(a, 1);
    EXPECT_TRUE(dispatch());
    queue(a, 2, "limited", {.priority = 3});
    queue(b, 3);
    EXPECT_FALSE(dispatch());
    EXPECT_EQ(held_ids(0), (Ids{1}));
    // A short job of the same priority as the waiting one still goes, as without priorities.
    queue(b, 4, "add", {.priority = 3});
    EXPECT_TRUE(dispatch());
    EXPECT_EQ(held_ids(0), (Ids{1, 4}));
    // The worker is done: the exclusive job goes, and nothing behind it.
    pool.memory.worker(0).inbox_done = 2;
    EXPECT_TRUE(dispatcher.collect(0, kNow, sessions, counters));
    EXPECT_TRUE(dispatch());
    EXPECT_EQ(held_ids(0), (Ids{2}));
    EXPECT_EQ(sessions[b].queue.size(), 1u);
}

TEST_F(DispatcherTest, ALowPriorityJobIsServedWithinTheAgingBoundUnderAStreamOfHighOnes) {
    // One worker, exclusive jobs: one job per pass, one pass every 30 ms of a simulated clock.
    // Session a keeps priority-7 jobs queued; session b's priority -8 job is served once it has
    // been passed over for (levels - 1) aging steps, not before, and not much later.
    ready(0);
    const unsigned a = open_session(7);
    const unsigned b = open_session(8);
    for (std::uint64_t id = 100; id < 200; ++id) queue(a, id, "limited", {.priority = kPriorityMax});
    queue(b, 1, "limited", {.priority = kPriorityMin});
    constexpr std::int64_t kTick = 30'000'000;
    const std::int64_t bound = (kPriorityLevels - 1) * kPriorityAgingStepNs;
    std::int64_t served_at = -1;
    std::uint64_t done = 0;
    for (std::int64_t now = kNow; now < kNow + 2 * bound && served_at < 0; now += kTick) {
        ASSERT_TRUE(dispatch(now));
        ASSERT_EQ(dispatcher.holdings(0).jobs.size(), 1u);
        if (dispatcher.holdings(0).jobs.front().job.record.job_id == 1) served_at = now;
        pool.memory.worker(0).inbox_done = ++done;
        ASSERT_TRUE(dispatcher.collect(0, now, sessions, counters));
    }
    ASSERT_GE(served_at, 0) << "the low-priority job was never dispatched";
    // First passed over at kNow, by the first pass.
    EXPECT_GE(served_at - kNow, bound);
    EXPECT_LE(served_at - kNow, bound + kTick);
    EXPECT_FALSE(sessions[a].queue.empty());  // the stream had not run dry
}

}  // namespace
}  // namespace warmpool
