// Tests for JobTable (client/src/job_table.hpp): registering and taking jobs out for their reply,
// spare payload buffers (reused only when asked for, at most kSparePayloadsMax kept), and
// fail_all(): every pending job failed and completed with the first reason, the table lost.

#include "../../client/src/job_table.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "warmpool/error_kind.hpp"

namespace warmpool::detail {
namespace {

std::shared_ptr<JobSlot> slot_with_id(std::uint64_t id) {
    auto slot = std::make_shared<JobSlot>();
    slot->id = id;
    return slot;
}

std::string spare_buffer() {
    std::string buffer;
    buffer.reserve(2 * JobTable::kReusedPayloadMin);
    return buffer;
}

TEST(JobTableTest, AddSaysWhetherTheTableWasEmpty) {
    JobTable jobs;
    EXPECT_TRUE(jobs.empty());
    EXPECT_TRUE(jobs.add(slot_with_id(1)));
    EXPECT_FALSE(jobs.add(slot_with_id(2)));
    EXPECT_FALSE(jobs.empty());
    EXPECT_TRUE(jobs.holds(1));
    EXPECT_TRUE(jobs.holds(2));
    EXPECT_FALSE(jobs.holds(3));
}

TEST(JobTableTest, TakeHandsTheSlotOutOnce) {
    JobTable jobs;
    auto slot = slot_with_id(5);
    jobs.add(slot);
    EXPECT_EQ(jobs.take(5, false), slot);
    EXPECT_FALSE(jobs.holds(5));
    EXPECT_TRUE(jobs.empty());
    EXPECT_EQ(jobs.take(5, false), nullptr);
    EXPECT_EQ(jobs.take(6, true), nullptr);
}

TEST(JobTableTest, EraseForgetsAJob) {
    JobTable jobs;
    jobs.add(slot_with_id(1));
    jobs.erase(1);
    EXPECT_TRUE(jobs.empty());
    EXPECT_TRUE(jobs.add(slot_with_id(2)));
}

TEST(JobTableTest, SpareBuffersGoOnlyToSlotsThatAskForThem) {
    JobTable jobs;
    jobs.keep_spare(spare_buffer());
    jobs.add(slot_with_id(1));
    jobs.add(slot_with_id(2));
    EXPECT_LT(jobs.take(1, false)->payload.capacity(), JobTable::kReusedPayloadMin);
    EXPECT_GE(jobs.take(2, true)->payload.capacity(), 2 * JobTable::kReusedPayloadMin);
    jobs.add(slot_with_id(3));
    EXPECT_LT(jobs.take(3, true)->payload.capacity(), JobTable::kReusedPayloadMin) << "the one spare is gone";
}

TEST(JobTableTest, KeepsAtMostTheMostSpareBuffers) {
    JobTable jobs;
    const std::size_t offered = JobTable::kSparePayloadsMax + 3;
    for (std::size_t i = 0; i < offered; ++i) jobs.keep_spare(spare_buffer());
    std::size_t reused = 0;
    for (std::uint64_t id = 1; id <= offered; ++id) {
        jobs.add(slot_with_id(id));
        if (jobs.take(id, true)->payload.capacity() >= 2 * JobTable::kReusedPayloadMin) ++reused;
    }
    EXPECT_EQ(reused, JobTable::kSparePayloadsMax);
}

TEST(JobTableTest, FailAllFailsEveryPendingJobWithTheFirstReason) {
    JobTable jobs;
    CompletionQueue completions;
    auto watched = slot_with_id(1);
    auto plain = slot_with_id(2);
    jobs.add(watched);
    jobs.add(plain);
    completions.watch(*watched);
    EXPECT_FALSE(jobs.lost());

    jobs.fail_all("the pool went away", completions);
    EXPECT_TRUE(jobs.lost());
    EXPECT_EQ(jobs.lost_reason(), "the pool went away");
    EXPECT_TRUE(jobs.empty());
    for (const auto& slot : {watched, plain}) {
        EXPECT_TRUE(slot->done.load());
        EXPECT_EQ(slot->status, static_cast<std::uint16_t>(ErrorKind::shutting_down));
        EXPECT_EQ(slot->payload, "the pool went away");
    }
    std::vector<std::uint64_t> out;
    EXPECT_EQ(completions.take(out), 1u);
    EXPECT_EQ(out.front(), 1u);

    auto late = slot_with_id(3);
    jobs.add(late);
    jobs.fail_all("closed", completions);
    EXPECT_EQ(jobs.lost_reason(), "the pool went away") << "the first reason stays";
    EXPECT_EQ(late->payload, "the pool went away");
}

}  // namespace
}  // namespace warmpool::detail
