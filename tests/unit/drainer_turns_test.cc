// Tests for DrainerTurns (client/src/drainer_turns.hpp): one drainer at a time; an owner takes a
// free turn at once, a yielding waiter only while no owner asks for it, the background thread
// only once nobody has drained for kBackgroundIdleNs; an owner's request is counted until it is
// withdrawn or dropped, and a turn held by a yielding waiter is seen as such until it ends.

#include "../../client/src/drainer_turns.hpp"

#include <gtest/gtest.h>

namespace warmpool::detail {
namespace {

using Role = DrainerTurns::Role;

constexpr std::int64_t kStart = 1'000'000'000;  // a monotonic time well past zero
constexpr std::int64_t kIdle = DrainerTurns::kBackgroundIdleNs;

TEST(DrainerTurnsTest, OneDrainerAtATime) {
    for (const Role first : {Role::owner, Role::yielding, Role::background}) {
        DrainerTurns turns;
        ASSERT_TRUE(turns.try_take(first, kStart));
        EXPECT_TRUE(turns.held());
        for (const Role second : {Role::owner, Role::yielding, Role::background}) {
            EXPECT_FALSE(turns.try_take(second, kStart + 10 * kIdle));
        }
        turns.end(kStart + 1);
        EXPECT_FALSE(turns.held());
        EXPECT_TRUE(turns.try_take(Role::owner, kStart + 2));
    }
}

TEST(DrainerTurnsTest, OwnerTakesAFreeTurnRightAfterTheLastOne) {
    DrainerTurns turns;
    ASSERT_TRUE(turns.try_take(Role::owner, kStart));
    turns.end(kStart + 100);
    EXPECT_TRUE(turns.try_take(Role::owner, kStart + 100));
}

TEST(DrainerTurnsTest, BackgroundWaitsUntilNobodyHasDrainedForTheIdleTime) {
    DrainerTurns turns;
    EXPECT_TRUE(turns.try_take(Role::background, kStart)) << "nobody has drained yet";
    turns.end(kStart);
    ASSERT_TRUE(turns.try_take(Role::owner, kStart + 1));
    turns.end(kStart + 1000);
    EXPECT_FALSE(turns.try_take(Role::background, kStart + 1000));
    EXPECT_FALSE(turns.try_take(Role::background, kStart + 1000 + kIdle - 1));
    EXPECT_FALSE(turns.held());
    EXPECT_TRUE(turns.try_take(Role::background, kStart + 1000 + kIdle));
}

TEST(DrainerTurnsTest, YieldingWaiterLeavesTheTurnToAnOwnerThatAsks) {
    DrainerTurns turns;
    {
        DrainerTurns::Request request(turns);
        EXPECT_FALSE(turns.wanted());
        request.ask();
        request.ask();  // asking twice counts once
        EXPECT_TRUE(turns.wanted());
        EXPECT_FALSE(turns.try_take(Role::yielding, kStart));
        EXPECT_FALSE(turns.held());
        request.withdraw();
        EXPECT_FALSE(turns.wanted());
        request.ask();
    }
    EXPECT_FALSE(turns.wanted()) << "a request ends with its scope";
    EXPECT_TRUE(turns.try_take(Role::yielding, kStart));
}

TEST(DrainerTurnsTest, RequestsOfSeveralOwnersAreCountedApart) {
    DrainerTurns turns;
    DrainerTurns::Request first(turns);
    DrainerTurns::Request second(turns);
    first.ask();
    second.ask();
    first.withdraw();
    first.withdraw();  // withdrawing twice counts once
    EXPECT_TRUE(turns.wanted(std::memory_order_seq_cst));
    second.withdraw();
    EXPECT_FALSE(turns.wanted(std::memory_order_seq_cst));
}

TEST(DrainerTurnsTest, ATurnIsSeenHeldByAYieldingWaiterUntilItEnds) {
    DrainerTurns turns;
    ASSERT_TRUE(turns.try_take(Role::yielding, kStart));
    EXPECT_TRUE(turns.held_by_yielding());
    turns.end(kStart + 1);
    EXPECT_FALSE(turns.held_by_yielding());
    ASSERT_TRUE(turns.try_take(Role::owner, kStart + 2));
    EXPECT_FALSE(turns.held_by_yielding());
    turns.end(kStart + 2);
    ASSERT_TRUE(turns.try_take(Role::background, kStart + 2 + kIdle));
    EXPECT_FALSE(turns.held_by_yielding());
}

TEST(DrainerTurnsTest, AnOwnerMayTakeTheTurnWhileItsRequestStands) {
    // An owner that asked a yielding drainer to step aside takes the turn once it is free.
    DrainerTurns turns;
    ASSERT_TRUE(turns.try_take(Role::yielding, kStart));
    DrainerTurns::Request request(turns);
    request.ask();
    EXPECT_FALSE(turns.try_take(Role::owner, kStart));
    turns.end(kStart + 1);
    EXPECT_TRUE(turns.try_take(Role::owner, kStart + 1));
    EXPECT_FALSE(turns.held_by_yielding());
}

}  // namespace
}  // namespace warmpool::detail
