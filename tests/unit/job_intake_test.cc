// Tests for JobIntake (job_intake.hpp) over a real pool segment and real session segments, with
// jobs written into the submit ring as a client writes them: what is queued and counted, what is
// refused, the session's share of the queue, a corrupt ring, lane posts no worker takes, cancels
// of waiting jobs, deadlines, the pool stopping, and the jobs of a dead worker.

#include "warmpool/daemon/job_intake.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "unit_memory.hpp"
#include "warmpool/daemon/lanes.hpp"

namespace warmpool {
namespace {

using testing::next_record;
using testing::record_at;
using testing::UnitPoolMemory;

constexpr std::uint32_t kWorkers = 2;
constexpr unsigned kSessions = 4;
constexpr SessionLayout kSessionLayout{kWorkers, 1u << 14, 1u << 14, 1u << 12};
constexpr std::int64_t kNow = 1'000'000'000;

struct Reply {
    std::uint64_t job_id;
    ErrorKind kind;
    std::string message;
};

struct JobIntakeTest : ::testing::Test {
    JobIntakeTest()
        : pool(kWorkers, kSessions, 1u << 12),
          sessions(kSessions, pool.memory, kSessionLayout, &totals),
          functions(config),
          intake(config, sessions, functions, counters, totals) {
        config.name = "unit";
        config.session_queue_capacity = 3;
        open();
    }
    unsigned open() {
        PeerCredentials peer;
        peer.pid = 4000;
        peer.uid = 1000;
        auto slot = sessions.open(peer, 0, 77 + sessions.end(), "unit");
        if (!slot) throw std::runtime_error(slot.error().message());
        submit.emplace_back(sessions[slot.value()].memory.submit());
        control.emplace_back(sessions[slot.value()].memory.control());
        return slot.value();
    }
    static JobRecord record(std::uint64_t id, const std::string& args) {
        JobRecord r{};
        r.job_id = id;
        EXPECT_TRUE(set_function_name(r, "add"));
        r.flags = kJobJson;
        r.payload_bytes = static_cast<std::uint32_t>(args.size());
        return r;
    }
    // The client writes a job into its submit ring.
    void write(unsigned session, const JobRecord& r, const std::string& args) {
        RingProducer& ring = submit[session];
        std::byte* at = ring.try_reserve(static_cast<std::uint32_t>(sizeof r + args.size()));
        ASSERT_NE(at, nullptr);
        std::memcpy(at, &r, sizeof r);
        std::memcpy(at + sizeof r, args.data(), args.size());
        ring.commit(static_cast<std::uint32_t>(sizeof r + args.size()));
        ring.publish();
    }
    void write(unsigned session, std::uint64_t id) { write(session, record(id, "[1,2]"), "[1,2]"); }
    // The client posts job `id` on its lane.
    void post(unsigned session, std::uint64_t id, std::uint64_t ticket) {
        Lane& lane = sessions[session].memory.lane();
        lane.record = record(id, "[3]");
        std::memcpy(lane.payload, "[3]", 3);
        lane.word = lane_word(ticket, 0, LaneWordState::posted);
    }
    std::vector<Reply> replies(unsigned session) {
        std::vector<Reply> out;
        while (auto bytes = next_record(control[session])) {
            const auto r = record_at<ReplyRecord>(*bytes);
            out.push_back({r.job_id, static_cast<ErrorKind>(r.status), bytes->substr(sizeof(ReplyRecord))});
        }
        return out;
    }
    std::vector<std::uint64_t> queued(unsigned session) {
        std::vector<std::uint64_t> ids;
        for (const auto& job : sessions[session].queue) ids.push_back(job.record.job_id);
        return ids;
    }

    PoolConfig config;
    UnitPoolMemory pool;
    QueueTotals totals;
    SessionTable sessions;
    FunctionCatalog functions;
    PoolCounters counters;
    JobIntake intake;
    std::vector<RingProducer> submit;    // the clients' ends
    std::vector<RingConsumer> control;
};

using Ids = std::vector<std::uint64_t>;

TEST_F(JobIntakeTest, JobsAreQueuedStampedAndCounted) {
    EXPECT_EQ(intake.drain_submit_ring(sessions[0], kNow), JobIntake::Drained::nothing);
    write(0, 1);
    write(0, 2);
    EXPECT_EQ(intake.drain_submit_ring(sessions[0], kNow), JobIntake::Drained::some);
    EXPECT_EQ(queued(0), (Ids{1, 2}));
    const PendingJob& job = sessions[0].queue.front();
    EXPECT_EQ(job.record.session_slot, 0u);
    EXPECT_EQ(job.record.session_generation, sessions[0].generation);
    EXPECT_EQ(job.record.attempt, 1u);
    EXPECT_EQ(job.record.enqueued_ns, kNow);
    EXPECT_EQ(job.payload, "[1,2]");
    EXPECT_EQ(job.items, 1u);
    EXPECT_NE(job.stats, nullptr);
    EXPECT_EQ(counters.submitted, 2u);
    EXPECT_EQ(sessions[0].submitted, 2u);
    EXPECT_EQ(totals.jobs, 2u);
    EXPECT_TRUE(replies(0).empty());
}

TEST_F(JobIntakeTest, ARefusedJobIsAnsweredAndCountedOnce) {
    JobRecord bad = record(5, "[1,2]");
    bad.payload_bytes = 99;  // not what follows it
    write(0, bad, "[1,2]");
    write(0, 6);
    EXPECT_EQ(intake.drain_submit_ring(sessions[0], kNow), JobIntake::Drained::some);
    EXPECT_EQ(queued(0), (Ids{6}));
    const auto got = replies(0);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].job_id, 5u);
    EXPECT_EQ(got[0].kind, ErrorKind::bad_request);
    EXPECT_EQ(counters.submitted, 2u);
    EXPECT_EQ(counters.failed[static_cast<std::size_t>(ErrorKind::bad_request)], 1u);
}

TEST_F(JobIntakeTest, ASessionQueuesNoMoreThanItsShare) {
    for (std::uint64_t id = 1; id <= 5; ++id) write(0, id);
    intake.drain_submit_ring(sessions[0], kNow);
    EXPECT_EQ(queued(0), (Ids{1, 2, 3})) << "session_queue_capacity 3: the rest wait in the ring";
    sessions[0].queue.pop_front();
    intake.drain_submit_ring(sessions[0], kNow);
    EXPECT_EQ(queued(0), (Ids{2, 3, 4}));
}

TEST_F(JobIntakeTest, ACorruptRingIsReported) {
    const std::string junk = "xyz";  // shorter than a JobRecord
    std::byte* at = submit[0].try_reserve(3);
    ASSERT_NE(at, nullptr);
    std::memcpy(at, junk.data(), 3);
    submit[0].commit(3);
    submit[0].publish();
    EXPECT_EQ(intake.drain_submit_ring(sessions[0], kNow), JobIntake::Drained::corrupt);
    EXPECT_TRUE(queued(0).empty());
}

TEST_F(JobIntakeTest, AJobTakenInWhileThePoolStopsIsAnswered) {
    intake.stop_accepting();
    write(0, 1);
    intake.drain_submit_ring(sessions[0], kNow);
    EXPECT_TRUE(queued(0).empty());
    const auto got = replies(0);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].kind, ErrorKind::shutting_down);
    EXPECT_EQ(got[0].message, "pool 'unit' is shutting down");
    EXPECT_EQ(counters.submitted, 1u);
}

TEST_F(JobIntakeTest, PostedLanesAreTakenIntoTheQueue) {
    const unsigned other = open();
    post(0, 9, 1);
    intake.take_posted_lanes(kNow);
    EXPECT_EQ(queued(0), (Ids{9}));
    EXPECT_TRUE(queued(other).empty());
    EXPECT_EQ(lane_state(sessions[0].memory.lane().word.load()), LaneWordState::free);
    EXPECT_EQ(sessions[0].queue.front().payload, "[3]");
    EXPECT_EQ(counters.submitted, 1u);
}

// A post is taken by the backstop only when it is seen, same ticket, at two ticks in a row.
TEST_F(JobIntakeTest, AStalePostIsTakenAtTheSecondTick) {
    post(0, 9, 1);
    intake.take_stale_lane_posts(kNow);
    EXPECT_TRUE(queued(0).empty());
    post(0, 10, 2);  // the first was taken by a worker; a new post
    intake.take_stale_lane_posts(kNow);
    EXPECT_TRUE(queued(0).empty());
    intake.take_stale_lane_posts(kNow);
    EXPECT_EQ(queued(0), (Ids{10}));
}

TEST_F(JobIntakeTest, CancelWaitingFindsQueuedAndPostedJobs) {
    write(0, 1);
    write(0, 2);  // still in the ring when the cancel comes
    EXPECT_TRUE(intake.cancel_waiting(sessions[0], 2, kNow));
    EXPECT_EQ(queued(0), (Ids{1}));
    post(0, 3, 1);
    EXPECT_TRUE(intake.cancel_waiting(sessions[0], 3, kNow));
    EXPECT_EQ(lane_state(sessions[0].memory.lane().word.load()), LaneWordState::free);
    EXPECT_FALSE(intake.cancel_waiting(sessions[0], 4, kNow)) << "not waiting: with a worker, or unknown";
    const auto got = replies(0);
    ASSERT_EQ(got.size(), 2u);
    EXPECT_EQ(got[0].job_id, 2u);
    EXPECT_EQ(got[0].kind, ErrorKind::cancelled);
    EXPECT_EQ(got[1].job_id, 3u);
    EXPECT_EQ(got[1].kind, ErrorKind::cancelled);
    EXPECT_EQ(counters.submitted, 3u);
    EXPECT_EQ(counters.failed[static_cast<std::size_t>(ErrorKind::cancelled)], 2u);
}

TEST_F(JobIntakeTest, DeadlinesPassedInTheQueueAreAnswered) {
    JobRecord soon = record(1, "[1,2]");
    soon.deadline_ns = kNow + 10;
    write(0, soon, "[1,2]");
    write(0, 2);
    intake.drain_submit_ring(sessions[0], kNow);
    intake.expire_deadlines(kNow + 10);
    EXPECT_EQ(queued(0), (Ids{1, 2}));
    intake.expire_deadlines(kNow + 11);
    EXPECT_EQ(queued(0), (Ids{2}));
    const auto got = replies(0);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].kind, ErrorKind::deadline_exceeded);
    EXPECT_EQ(totals.with_deadline, 0u);
}

TEST_F(JobIntakeTest, RefuseAllQueuedAnswersEveryOpenSession) {
    const unsigned other = open();
    write(0, 1);
    write(other, 2);
    intake.drain_submit_ring(sessions[0], kNow);
    intake.drain_submit_ring(sessions[other], kNow);
    intake.refuse_all_queued("stopped");
    EXPECT_EQ(totals.jobs, 0u);
    EXPECT_EQ(replies(0).at(0).message, "stopped");
    EXPECT_EQ(replies(other).at(0).kind, ErrorKind::shutting_down);
}

// The dead worker held three jobs: the first finished, the second was running when it died
// (answered worker_crashed, no retries), the third had not started (back at the front of the queue,
// ahead of what was queued meanwhile).
TEST_F(JobIntakeTest, ADeadWorkersJobsAreResolvedOnce) {
    for (std::uint64_t id = 1; id <= 4; ++id) write(0, id);
    intake.drain_submit_ring(sessions[0], kNow);
    Fifo<InFlightJob> held;
    for (std::uint64_t seq = 0; seq < 3; ++seq) held.push_back(InFlightJob{seq, kNow, 0, false, sessions[0].queue.take_front()});
    intake.drain_submit_ring(sessions[0], kNow);  // job 4, queued meanwhile
    WorkerRecord& rec = pool.memory.worker(1);
    rec.inbox_done = 1;
    rec.running_seq = running_word_of_inbox_seq(1);
    pool.memory.outcome(1, 0).counts[0] = 1;
    WorkerDeath death;
    death.how = "killed by signal 9 (SIGKILL)";
    death.pid = 4242;
    intake.resolve_held_jobs(1, std::move(held), death, StopOrder{}, pool.memory);
    EXPECT_EQ(queued(0), (Ids{3, 4}));
    const auto got = replies(0);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].job_id, 2u);
    EXPECT_EQ(got[0].kind, ErrorKind::worker_crashed);
    EXPECT_NE(got[0].message.find("4242"), std::string::npos) << got[0].message;
    EXPECT_EQ(counters.completed, 1u) << "the finished job counted from its outcome";
}

}  // namespace
}  // namespace warmpool
