// Tests for Submitter (client/src/submitter.hpp) over a real session segment and the pool's lane
// board as the supervisor makes it (Lanes), mapped read-only as a client maps it: job records,
// writing jobs into the submit ring (and ringing the supervisor only if it sleeps), a full
// ring, and when a job may go to the lane instead.

#include "../../client/src/submitter.hpp"

#include <gtest/gtest.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <chrono>
#include <string>

#include "unit_memory.hpp"
#include "warmpool/daemon/lanes.hpp"
#include "warmpool/job_error.hpp"

namespace warmpool::detail {
namespace {

using warmpool::testing::next_record;
using warmpool::testing::record_at;
using warmpool::testing::UnitSessionMemory;

constexpr std::uint32_t kWorkers = 2;
constexpr SessionLayout kLayout{kWorkers, 1u << 12, 1u << 12, 1u << 12};

JobRecord record_for(std::uint64_t id, std::string_view payload, std::uint32_t flags = 0) {
    JobRecord record = job_record(id, "add", flags, 0, CallOptions{});
    record.payload_bytes = static_cast<std::uint32_t>(payload.size());
    return record;
}

struct SubmitterTest : ::testing::Test {
    SubmitterTest() : session(kLayout, 3, 77), doorbell(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
        if (auto st = lanes.create("unit", kWorkers); !st) ADD_FAILURE() << st.error().message();
    }
    // The board as a client maps it: read-only, from a copy of the descriptor.
    SharedSegment client_board() const {
        auto fd = lanes.board_segment().share(SharedSegment::Access::read_only);
        if (!fd) return SharedSegment();
        auto board = SharedSegment::adopt(std::move(fd.value()), sizeof(LaneBoard), SharedSegment::Access::read_only,
                                          "lane board");
        return board ? std::move(board.value()) : SharedSegment();
    }
    void worker_watches(unsigned slot, bool on) {
        auto& word = lanes.board()->watching[slot / 64];
        if (on) {
            word.fetch_or(1ull << (slot % 64));
        } else {
            word.fetch_and(~(1ull << (slot % 64)));
        }
    }
    bool doorbell_rung() const {
        std::uint64_t count = 0;
        return ::read(doorbell.get(), &count, sizeof count) == static_cast<ssize_t>(sizeof count);
    }

    UnitSessionMemory session;
    Lanes lanes;
    UniqueFd doorbell;
};

TEST(JobRecordTest, CarriesTheCall) {
    CallOptions options;
    options.timeout = std::chrono::milliseconds(1500);
    options.deadline = std::chrono::steady_clock::time_point(std::chrono::nanoseconds(123456789));
    const JobRecord record = job_record(9, "md5_chain", kJobJson, 0xfeed, options);
    EXPECT_EQ(record.job_id, 9u);
    EXPECT_EQ(record.fingerprint, 0xfeedu);
    EXPECT_EQ(record.flags, kJobJson);
    EXPECT_EQ(record.deadline_ns, 123456789);
    EXPECT_EQ(record.timeout_ns, 1'500'000'000);
    EXPECT_EQ(record.payload_bytes, 0u);
    EXPECT_EQ(function_name(record), "md5_chain");

    options.deadline = std::chrono::steady_clock::time_point{};
    EXPECT_EQ(job_record(1, "f", 0, 0, options).deadline_ns, 1) << "0 would mean no deadline";
    EXPECT_EQ(job_record(1, "f", 0, 0, CallOptions{}).deadline_ns, 0);
}

TEST(JobRecordTest, RefusesBadFunctionNames) {
    for (const std::string& name : {std::string(), std::string(kFunctionNameMax + 1, 'f')}) {
        try {
            job_record(1, name, 0, 0, CallOptions{});
            ADD_FAILURE() << "accepted a name of " << name.size() << " bytes";
        } catch (const JobError& e) {
            EXPECT_EQ(e.kind(), ErrorKind::bad_request);
        }
    }
    EXPECT_NO_THROW(job_record(1, std::string(kFunctionNameMax, 'f'), 0, 0, CallOptions{}));
}

TEST_F(SubmitterTest, JobIdsAreNeverReused) {
    Submitter submitter(session.memory, SharedSegment(), doorbell.get());
    const std::uint64_t first = submitter.new_job_id();
    EXPECT_NE(first, 0u);
    EXPECT_EQ(submitter.new_job_id(), first + 1);
}

TEST_F(SubmitterTest, WritesJobsIntoTheSubmitRing) {
    Submitter submitter(session.memory, SharedSegment(), doorbell.get());
    RingConsumer supervisor(session.memory.submit());
    {
        auto lock = submitter.lock();
        ASSERT_TRUE(submitter.try_write(record_for(1, "12345"), "12345"));
        ASSERT_TRUE(submitter.write_or_sleep(record_for(2, ""), "", 1'000'000)) << "room: written at once";
    }
    auto bytes = next_record(supervisor);
    ASSERT_TRUE(bytes);
    ASSERT_EQ(bytes->size(), sizeof(JobRecord) + 5);
    EXPECT_EQ(record_at<JobRecord>(*bytes).job_id, 1u);
    EXPECT_EQ(record_at<JobRecord>(*bytes).payload_bytes, 5u);
    EXPECT_EQ(bytes->substr(sizeof(JobRecord)), "12345");
    bytes = next_record(supervisor);
    ASSERT_TRUE(bytes);
    EXPECT_EQ(record_at<JobRecord>(*bytes).job_id, 2u);
    EXPECT_FALSE(next_record(supervisor));
}

TEST_F(SubmitterTest, RingsTheSupervisorOnlyIfItSleeps) {
    Submitter submitter(session.memory, SharedSegment(), doorbell.get());
    auto lock = submitter.lock();
    ASSERT_TRUE(submitter.try_write(record_for(1, ""), ""));
    EXPECT_FALSE(doorbell_rung());
    session.memory.header().supervisor_wake.prepare_sleep();
    ASSERT_TRUE(submitter.try_write(record_for(2, ""), ""));
    EXPECT_TRUE(doorbell_rung());
    ASSERT_TRUE(submitter.try_write(record_for(3, ""), ""));
    EXPECT_FALSE(doorbell_rung()) << "woken once";
}

TEST_F(SubmitterTest, AFullRingTakesNothingUntilThereIsRoom) {
    Submitter submitter(session.memory, SharedSegment(), doorbell.get());
    RingConsumer supervisor(session.memory.submit());
    const std::string payload(500, 'p');
    auto lock = submitter.lock();
    int written = 0;
    while (submitter.try_write(record_for(written + 1, payload), payload)) ++written;
    ASSERT_GT(written, 0);
    EXPECT_TRUE(submitter.fits(sizeof(JobRecord) + payload.size()));
    EXPECT_FALSE(submitter.fits(kLayout.submit_ring_bytes));
    EXPECT_FALSE(submitter.write_or_sleep(record_for(100, payload), payload, 1'000'000));

    ASSERT_TRUE(next_record(supervisor));  // the supervisor takes two
    ASSERT_TRUE(next_record(supervisor));
    ASSERT_TRUE(submitter.try_write(record_for(101, payload), payload));
    for (int i = 2; i < written; ++i) ASSERT_TRUE(next_record(supervisor));
    auto last = next_record(supervisor);
    ASSERT_TRUE(last);
    EXPECT_EQ(record_at<JobRecord>(*last).job_id, 101u);
}

TEST_F(SubmitterTest, PostsToTheLaneWhileAWorkerWatches) {
    Submitter submitter(session.memory, client_board(), doorbell.get());
    Lane& lane = session.memory.lane();
    lanes.set_open(true);
    worker_watches(1, true);
    auto lock = submitter.lock();
    ASSERT_TRUE(submitter.post_to_lane(record_for(5, "12345"), "12345"));
    const std::uint64_t word = lane.word.load();
    EXPECT_EQ(lane_state(word), LaneWordState::posted);
    EXPECT_EQ(lane_ticket(word), 1u);
    EXPECT_EQ(lane.record.job_id, 5u);
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(lane.payload), 5), "12345");
    EXPECT_FALSE(submitter.post_to_lane(record_for(6, ""), "")) << "the lane holds one job";

    lane.word.store(lane_word(1, 1, LaneWordState::free));  // the worker took it
    ASSERT_TRUE(submitter.post_to_lane(record_for(7, ""), ""));
    EXPECT_EQ(lane_ticket(lane.word.load()), 2u) << "a new ticket per post";
}

TEST_F(SubmitterTest, NoLaneWithoutAWatcherAnOpenBoardOrAJobThatFits) {
    Lane& lane = session.memory.lane();
    {
        Submitter without_board(session.memory, SharedSegment(), doorbell.get());
        lanes.set_open(true);
        worker_watches(0, true);
        auto lock = without_board.lock();
        EXPECT_FALSE(without_board.post_to_lane(record_for(1, ""), ""));
    }
    Submitter submitter(session.memory, client_board(), doorbell.get());
    auto lock = submitter.lock();
    lanes.set_open(false);
    EXPECT_FALSE(submitter.post_to_lane(record_for(2, ""), "")) << "closed";
    lanes.set_open(true);
    worker_watches(0, false);
    EXPECT_FALSE(submitter.post_to_lane(record_for(3, ""), "")) << "nobody watches";
    worker_watches(0, true);
    const std::string large(kLanePayloadMax + 1, 'x');
    EXPECT_FALSE(submitter.post_to_lane(record_for(4, large), large)) << "too large";
    EXPECT_FALSE(submitter.post_to_lane(record_for(5, "", kJobBatch), "")) << "a batch";
    JobRecord limited = record_for(6, "");
    limited.timeout_ns = 1'000'000;
    EXPECT_FALSE(submitter.post_to_lane(limited, "")) << "a run-time limit";
    EXPECT_EQ(lane_state(lane.word.load()), LaneWordState::free);
    EXPECT_TRUE(submitter.post_to_lane(record_for(7, ""), ""));
}

}  // namespace
}  // namespace warmpool::detail
