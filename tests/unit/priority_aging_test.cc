// Tests for PriorityAging (priority_aging.hpp): the highest level goes first, a level passed over
// rises one level per step, and under a stream of top-priority jobs that never lets up the lowest
// level is served within its bound. The clock is simulated.

#include "warmpool/daemon/priority_aging.hpp"

#include <gtest/gtest.h>

#include <cstdint>

namespace warmpool {
namespace {

constexpr std::int64_t kStep = 100;  // ns of the simulated clock per level
constexpr unsigned kTop = kPriorityLevels - 1;
constexpr PriorityLevels bit(unsigned level) { return PriorityLevels{1} << level; }

TEST(PriorityAging, TheHighestLevelGoesFirstWhileNothingIsPassedOver) {
    PriorityAging aging(kStep);
    EXPECT_EQ(aging.next(bit(3), 0), 3u);
    EXPECT_EQ(aging.next(bit(3) | bit(9) | bit(0), 1'000'000), 9u);  // waiting alone ages nothing
    EXPECT_EQ(aging.effective(0, 1'000'000), 0u);
}

TEST(PriorityAging, APassedOverLevelRisesOneLevelPerStepUpToTheTop) {
    PriorityAging aging(kStep);
    aging.dispatched(10, bit(10) | bit(4), 1000);  // level 4 passed over at t=1000
    EXPECT_EQ(aging.effective(4, 1000), 4u);
    EXPECT_EQ(aging.effective(4, 1099), 4u);
    EXPECT_EQ(aging.effective(4, 1100), 5u);
    EXPECT_EQ(aging.effective(4, 1000 + 5 * kStep), 9u);
    EXPECT_EQ(aging.next(bit(10) | bit(4), 1000 + 5 * kStep), 10u);
    // Level with 10: the one passed over goes first.
    EXPECT_EQ(aging.effective(4, 1000 + 6 * kStep), 10u);
    EXPECT_EQ(aging.next(bit(10) | bit(4), 1000 + 6 * kStep), 4u);
    EXPECT_EQ(aging.effective(4, 1000 + 1000 * kStep), kTop);
    EXPECT_EQ(aging.effective(10, 1000 + 1000 * kStep), 10u);  // never passed over
    // Served: it counts as its own level again, and level 10, passed over now, starts ageing.
    aging.dispatched(4, bit(10) | bit(4), 2000);
    EXPECT_EQ(aging.effective(4, 5000), 4u);
    EXPECT_EQ(aging.effective(10, 2000 + 2 * kStep), 12u);
}

TEST(PriorityAging, ALevelThatEmptiedForgetsItsWait) {
    PriorityAging aging(kStep);
    aging.dispatched(kTop, bit(kTop) | bit(0), 0);
    EXPECT_EQ(aging.effective(0, 20 * kStep), kTop);
    aging.keep_only(bit(kTop));  // level 0's jobs were cancelled
    EXPECT_EQ(aging.effective(0, 20 * kStep), 0u);
    EXPECT_EQ(aging.next(bit(kTop) | bit(0), 20 * kStep), kTop);
}

TEST(PriorityAging, AClockThatStepsBackAgesNothing) {
    PriorityAging aging(kStep);
    aging.dispatched(5, bit(5) | bit(1), 1000);
    EXPECT_EQ(aging.effective(1, 10), 1u);
}

// A saturating stream: the top level always holds jobs and one job is dispatched every `tick`.
// A lowest-level job waiting from t=0 is served within (kPriorityLevels - 1) steps of being
// first passed over, plus one tick; a middle level within its own, shorter, bound; and the top
// level still gets all but those turns.
TEST(PriorityAging, UnderAStreamOfTopPriorityJobsTheLowestIsServedWithinItsBound) {
    for (const std::int64_t tick : {1, 7, 30, 100, 250}) {
        PriorityAging aging(kStep);
        PriorityLevels waiting = bit(kTop) | bit(0) | bit(8);
        std::int64_t first_passed_over = -1, served_0 = -1, served_8 = -1;
        unsigned top_served = 0;
        for (std::int64_t now = 0; now < 100 * kStep && (served_0 < 0 || served_8 < 0); now += tick) {
            const unsigned level = aging.next(waiting, now);
            aging.dispatched(level, waiting, now);
            if (first_passed_over < 0) first_passed_over = now;
            if (level == 0) served_0 = now, waiting &= ~bit(0);
            if (level == 8) served_8 = now, waiting &= ~bit(8);
            if (level == kTop) ++top_served;
            aging.keep_only(waiting);
        }
        ASSERT_GE(served_0, 0) << "tick " << tick;
        ASSERT_GE(served_8, 0) << "tick " << tick;
        EXPECT_LE(served_0 - first_passed_over, static_cast<std::int64_t>(kTop) * kStep + tick) << "tick " << tick;
        EXPECT_LE(served_8 - first_passed_over, static_cast<std::int64_t>(kTop - 8) * kStep + tick) << "tick " << tick;
        EXPECT_GE(served_0 - first_passed_over, static_cast<std::int64_t>(kTop) * kStep) << "tick " << tick;
        EXPECT_GT(top_served, 0u);
    }
}

}  // namespace
}  // namespace warmpool
