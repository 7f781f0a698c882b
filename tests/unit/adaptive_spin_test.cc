// Tests for AdaptiveSpin (adaptive_spin.hpp): a waiter spins while spinning finds what it waits
// for, stops after kMissesToStop misses in a row, still probes every kProbeEvery-th wait, and
// spins again as soon as a probe finds something.

#include "warmpool/common/adaptive_spin.hpp"

#include <gtest/gtest.h>

namespace warmpool {
namespace {

// Counts how many of the next `waits` waits would spin, each of them missing.
unsigned spins_among_missed_waits(AdaptiveSpin& spin, unsigned waits) {
    unsigned spun = 0;
    for (unsigned i = 0; i < waits; ++i) {
        if (spin.spin_now()) {
            ++spun;
            spin.missed();
        }
    }
    return spun;
}

TEST(AdaptiveSpinTest, SpinsWhileSpinningFinds) {
    AdaptiveSpin spin;
    for (int i = 0; i < 1000; ++i) {
        ASSERT_TRUE(spin.spin_now());
        spin.found();
    }
}

TEST(AdaptiveSpinTest, MissesBelowTheLimitKeepItSpinning) {
    AdaptiveSpin spin;
    for (int round = 0; round < 100; ++round) {
        for (std::uint32_t i = 0; i + 1 < AdaptiveSpin::kMissesToStop; ++i) {
            ASSERT_TRUE(spin.spin_now());
            spin.missed();
        }
        ASSERT_TRUE(spin.spin_now());
        spin.found();
    }
}

TEST(AdaptiveSpinTest, StopsAfterMissesInARowAndThenOnlyProbes) {
    AdaptiveSpin spin;
    EXPECT_EQ(spins_among_missed_waits(spin, AdaptiveSpin::kMissesToStop), AdaptiveSpin::kMissesToStop);
    // From here on, one wait in kProbeEvery spins.
    EXPECT_EQ(spins_among_missed_waits(spin, 10 * AdaptiveSpin::kProbeEvery), 10u);
}

TEST(AdaptiveSpinTest, AProbeThatFindsRestoresSpinning) {
    AdaptiveSpin spin;
    spins_among_missed_waits(spin, AdaptiveSpin::kMissesToStop);
    unsigned waits = 0;
    while (!spin.spin_now()) ASSERT_LE(++waits, AdaptiveSpin::kProbeEvery);
    spin.found();
    for (std::uint32_t i = 0; i < AdaptiveSpin::kMissesToStop; ++i) {
        ASSERT_TRUE(spin.spin_now());
        spin.missed();
    }
    EXPECT_FALSE(spin.spin_now());
}

}  // namespace
}  // namespace warmpool
