// Tests for JobQueue (job_queue.hpp): a session's queue keeps its own length, payload bytes and
// deadline count, and the pool-wide totals, through every way a job enters or leaves it.

#include "warmpool/daemon/job_queue.hpp"

#include <gtest/gtest.h>

#include <string>

namespace warmpool {
namespace {

PendingJob job(std::uint64_t id, std::size_t payload_bytes, std::int64_t deadline_ns = 0) {
    PendingJob j;
    j.record.job_id = id;
    j.record.deadline_ns = deadline_ns;
    j.payload.assign(payload_bytes, 'x');
    return j;
}

TEST(JobQueue, CountsWhatItHolds) {
    QueueTotals totals;
    JobQueue q(&totals);
    q.push_back(job(1, 10));
    q.push_back(job(2, 20, 5));
    q.push_front(job(3, 30, 7));
    EXPECT_EQ(q.size(), 3u);
    EXPECT_EQ(q.payload_bytes(), 60u);
    EXPECT_EQ(q.with_deadline(), 2u);
    EXPECT_EQ(totals.jobs, 3u);
    EXPECT_EQ(totals.with_deadline, 2u);
    EXPECT_EQ(q.front().record.job_id, 3u);

    PendingJob taken = q.take_front();  // counted out before it is moved out
    EXPECT_EQ(taken.payload.size(), 30u);
    EXPECT_EQ(q.payload_bytes(), 30u);
    EXPECT_EQ(totals.with_deadline, 1u);
    q.pop_back();
    EXPECT_EQ(q.payload_bytes(), 10u);
    EXPECT_EQ(totals.jobs, 1u);
    EXPECT_EQ(totals.with_deadline, 0u);
    EXPECT_EQ(totals.most_jobs, 3u);
}

TEST(JobQueue, EraseAndClearUncount) {
    QueueTotals totals;
    JobQueue q(&totals);
    for (std::uint64_t i = 0; i < 10; ++i) q.push_back(job(i, i, i % 2 ? 100 : 0));
    for (auto it = q.begin(); it != q.end();) it = it->record.deadline_ns != 0 ? q.erase(it) : std::next(it);
    EXPECT_EQ(q.size(), 5u);
    EXPECT_EQ(q.payload_bytes(), 0u + 2 + 4 + 6 + 8);
    EXPECT_EQ(totals.with_deadline, 0u);
    q.clear();
    EXPECT_EQ(totals.jobs, 0u);
    EXPECT_EQ(q.payload_bytes(), 0u);
}

TEST(JobQueue, TwoQueuesShareTheTotalsAndADroppedQueueGivesItsJobsBack) {
    QueueTotals totals;
    {
        JobQueue a(&totals);
        JobQueue b(&totals);
        a.push_back(job(1, 1, 9));
        b.push_back(job(2, 1));
        EXPECT_EQ(totals.jobs, 2u);
        JobQueue moved(std::move(a));  // the jobs go with the move, counted once
        EXPECT_EQ(totals.jobs, 2u);
        b = JobQueue(&totals);  // b's job leaves the totals with it
        EXPECT_EQ(totals.jobs, 1u);
        EXPECT_EQ(totals.with_deadline, 1u);
    }
    EXPECT_EQ(totals.jobs, 0u);
    EXPECT_EQ(totals.with_deadline, 0u);
}

}  // namespace
}  // namespace warmpool
