// Tests for JobQueue (job_queue.hpp): a session's queue keeps its own length, payload bytes and
// deadline count, and the pool-wide totals, through every way a job enters or leaves it; and it
// files jobs by priority level, each level in order.

#include "warmpool/daemon/job_queue.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <iterator>
#include <string>
#include <vector>

namespace warmpool {
namespace {

PendingJob job(std::uint64_t id, std::size_t payload_bytes, std::int64_t deadline_ns = 0, int priority = 0) {
    PendingJob j;
    j.record.job_id = id;
    j.record.priority = priority;
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

std::vector<std::uint64_t> ids(const JobQueue& q) {
    std::vector<std::uint64_t> out;
    for (const PendingJob& j : q) out.push_back(j.record.job_id);
    return out;
}

constexpr unsigned level(int priority) { return priority_level(priority); }

TEST(JobQueue, FilesJobsByPriorityEachLevelInOrder) {
    QueueTotals totals;
    JobQueue q(&totals);
    q.push_back(job(1, 1, 0, 0));
    q.push_back(job(2, 1, 0, -8));
    q.push_back(job(3, 1, 0, 7));
    q.push_back(job(4, 1, 0, 0));
    q.push_front(job(5, 1, 0, 0));  // given back: first of its level
    EXPECT_EQ(q.levels(), (1u << level(-8)) | (1u << level(0)) | (1u << level(7)));
    EXPECT_EQ(ids(q), (std::vector<std::uint64_t>{3, 5, 1, 4, 2}));  // the highest level first
    EXPECT_EQ(q.front().record.job_id, 3u);
    EXPECT_EQ(q.front(level(0)).record.job_id, 5u);
    EXPECT_EQ(q.front(level(-8)).record.job_id, 2u);
    EXPECT_EQ(totals.by_level[level(0)], 3u);
    EXPECT_EQ(totals.by_level[level(7)], 1u);
    EXPECT_EQ(totals.queued_above(), level(7) + 1);

    EXPECT_EQ(q.take_front(level(7)).record.job_id, 3u);
    EXPECT_EQ(q.levels(), (1u << level(-8)) | (1u << level(0)));
    EXPECT_EQ(totals.levels, q.levels());
    EXPECT_EQ(totals.queued_above(), level(0) + 1);
    q.pop_front(level(0));
    EXPECT_EQ(ids(q), (std::vector<std::uint64_t>{1, 4, 2}));
    q.clear();
    EXPECT_EQ(q.levels(), 0u);
    EXPECT_EQ(totals.levels, 0u);
    EXPECT_EQ(totals.queued_above(), 0u);
    for (const std::uint64_t n : totals.by_level) EXPECT_EQ(n, 0u);
}

TEST(JobQueue, PopBackTakesOutTheJobPushedLastWhateverItsLevel) {
    QueueTotals totals;
    JobQueue q(&totals);
    q.push_back(job(1, 1, 0, 0));
    q.push_back(job(2, 1, 0, 0));
    q.push_back(job(3, 5, 0, -3));
    EXPECT_EQ(q.back().record.job_id, 3u);
    q.pop_back();
    EXPECT_EQ(ids(q), (std::vector<std::uint64_t>{1, 2}));
    EXPECT_EQ(q.payload_bytes(), 2u);
    EXPECT_EQ(totals.by_level[level(-3)], 0u);
    // A priority out of range, as a hostile client may write, is filed at the nearest level
    // until the intake refuses it and takes it out again.
    q.push_back(job(4, 1, 0, 1000));
    EXPECT_EQ(q.levels() & (1u << (kPriorityLevels - 1)), 1u << (kPriorityLevels - 1));
    q.pop_back();
    q.push_back(job(5, 1, 0, INT32_MIN));
    EXPECT_EQ(q.front(0).record.job_id, 5u);
    q.pop_back();
    EXPECT_EQ(ids(q), (std::vector<std::uint64_t>{1, 2}));
    EXPECT_EQ(totals.jobs, 2u);
}

TEST(JobQueue, EraseWalksOnAcrossLevels) {
    QueueTotals totals;
    JobQueue q(&totals);
    for (std::uint64_t i = 0; i < 12; ++i) q.push_back(job(i, 1, 0, static_cast<int>(i % 3) - 1));
    // Levels 1: 2 5 8 11; 0: 1 4 7 10; -1: 0 3 6 9. Erase every even id.
    for (auto it = q.begin(); it != q.end();) it = it->record.job_id % 2 == 0 ? q.erase(it) : std::next(it);
    EXPECT_EQ(ids(q), (std::vector<std::uint64_t>{5, 11, 1, 7, 3, 9}));
    // Erasing the last job of a level empties it.
    for (auto it = q.begin(); it != q.end();) it = it->record.priority == 0 ? q.erase(it) : std::next(it);
    EXPECT_EQ(ids(q), (std::vector<std::uint64_t>{5, 11, 3, 9}));
    EXPECT_EQ(q.levels(), (1u << level(1)) | (1u << level(-1)));
    EXPECT_EQ(totals.by_level[level(0)], 0u);
    EXPECT_EQ(totals.jobs, 4u);
}

TEST(JobQueue, AMovedQueueKeepsItsLevels) {
    QueueTotals totals;
    JobQueue a(&totals);
    a.push_back(job(1, 1, 0, 2));
    a.push_back(job(2, 1, 0, -2));
    JobQueue b(std::move(a));
    EXPECT_EQ(ids(b), (std::vector<std::uint64_t>{1, 2}));
    EXPECT_TRUE(a.empty());  // NOLINT(bugprone-use-after-move): a moved-from queue is empty
    EXPECT_EQ(a.levels(), 0u);
    b.pop_back();  // the job pushed last went with the move
    EXPECT_EQ(ids(b), (std::vector<std::uint64_t>{1}));
}

}  // namespace
}  // namespace warmpool
