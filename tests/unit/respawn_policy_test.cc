// Tests for RespawnPolicy (respawn_policy.hpp): workers that die during initialisation back off
// exponentially from 100 ms up to 30 s; a worker that got ready resets the back-off; the count
// of failures in a row (which the supervisor logs) stays exact past the cap.

#include "warmpool/daemon/respawn_policy.hpp"

#include <gtest/gtest.h>

#include <cstdint>

namespace warmpool {
namespace {

constexpr std::int64_t kMs = 1'000'000;

TEST(RespawnPolicy, FailedInitialisationsDoubleTheDelayFrom100Ms) {
    RespawnPolicy policy;
    EXPECT_EQ(policy.consecutive_failed_inits(), 0u);
    std::int64_t expected = 100 * kMs;
    for (unsigned failures = 1; failures <= 9; ++failures) {
        EXPECT_EQ(policy.on_death(false), expected) << "failure " << failures;
        EXPECT_EQ(policy.consecutive_failed_inits(), failures);
        expected *= 2;
    }
    // 100 ms * 2^9 = 51.2 s: the tenth failure is capped.
    EXPECT_EQ(policy.on_death(false), 30'000 * kMs);
}

TEST(RespawnPolicy, DelayStaysCappedAt30SecondsForever) {
    RespawnPolicy policy;
    std::int64_t previous = 0;
    for (int i = 0; i < 10'000; ++i) {
        const std::int64_t delay = policy.on_death(false);
        ASSERT_GE(delay, previous) << "never shrinks while failures continue";
        ASSERT_LE(delay, RespawnPolicy::kMaxDelayNs);
        previous = delay;
    }
    EXPECT_EQ(previous, 30'000 * kMs);
    EXPECT_EQ(RespawnPolicy::kFirstDelayNs, 100 * kMs);
    EXPECT_EQ(RespawnPolicy::kMaxDelayNs, 30'000 * kMs);
}

TEST(RespawnPolicy, DeathOfAReadyWorkerIsReplacedAtOnceAndResetsTheBackOff) {
    RespawnPolicy policy;
    for (int i = 0; i < 5; ++i) (void)policy.on_death(false);
    EXPECT_EQ(policy.consecutive_failed_inits(), 5u);
    EXPECT_EQ(policy.on_death(true), 0);
    EXPECT_EQ(policy.consecutive_failed_inits(), 0u);
    EXPECT_EQ(policy.on_death(false), 100 * kMs) << "back to the first delay";
    EXPECT_EQ(policy.on_death(false), 200 * kMs);
}

TEST(RespawnPolicy, OnReadyResetsTheBackOff) {
    RespawnPolicy policy;
    for (int i = 0; i < 20; ++i) (void)policy.on_death(false);
    ASSERT_EQ(policy.on_death(false), 30'000 * kMs);
    policy.on_ready();
    EXPECT_EQ(policy.consecutive_failed_inits(), 0u);
    EXPECT_EQ(policy.on_death(false), 100 * kMs);
}

TEST(RespawnPolicy, ReadyDeathsNeverWait) {
    RespawnPolicy policy;
    for (int i = 0; i < 100; ++i) EXPECT_EQ(policy.on_death(true), 0);
    EXPECT_EQ(policy.consecutive_failed_inits(), 0u);
}

TEST(RespawnPolicy, FailureCountStaysExactPastTheCap) {
    // The supervisor logs "failed to initialise N times in a row": N must not stop at the cap.
    RespawnPolicy policy;
    for (unsigned failures = 1; failures <= 50; ++failures) {
        (void)policy.on_death(false);
        ASSERT_EQ(policy.consecutive_failed_inits(), failures);
    }
    EXPECT_EQ(policy.on_death(false), 30'000 * kMs);
    EXPECT_EQ(policy.consecutive_failed_inits(), 51u);
}

}  // namespace
}  // namespace warmpool
