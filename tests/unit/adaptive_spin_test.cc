// Tests for AdaptiveSpin (adaptive_spin.hpp): a waiter keeps spinning while its waits end within
// a few spin windows, stops after kMissesToStop longer waits in a row, and spins again after the
// first wait that is short again.

#include "warmpool/common/adaptive_spin.hpp"

#include <gtest/gtest.h>

namespace warmpool {
namespace {

constexpr std::int64_t kWindow = 50'000;
constexpr std::int64_t kNear = AdaptiveSpin::kNearMissFactor * kWindow;  // longest near miss
constexpr std::int64_t kLong = 4'000'000;                                // a millisecond job

TEST(AdaptiveSpinTest, ShortAndNearMissWaitsKeepItSpinning) {
    AdaptiveSpin spin;
    for (const std::int64_t waited : {std::int64_t{0}, kWindow / 2, kWindow, 2 * kWindow, kNear}) {
        for (int i = 0; i < 100; ++i) {
            ASSERT_TRUE(spin.spin_now()) << waited;
            spin.waited(waited, kWindow);
        }
    }
}

TEST(AdaptiveSpinTest, StopsAfterLongWaitsInARow) {
    AdaptiveSpin spin;
    for (std::uint32_t i = 0; i < AdaptiveSpin::kMissesToStop; ++i) {
        ASSERT_TRUE(spin.spin_now()) << i;
        spin.waited(kLong, kWindow);
    }
    EXPECT_FALSE(spin.spin_now());
    spin.waited(kNear + 1, kWindow);  // just past a near miss: still long
    EXPECT_FALSE(spin.spin_now());
}

TEST(AdaptiveSpinTest, AShortWaitBetweenLongOnesStartsTheCountAgain) {
    AdaptiveSpin spin;
    for (int round = 0; round < 100; ++round) {
        for (std::uint32_t i = 0; i + 1 < AdaptiveSpin::kMissesToStop; ++i) {
            ASSERT_TRUE(spin.spin_now());
            spin.waited(kLong, kWindow);
        }
        ASSERT_TRUE(spin.spin_now());
        spin.waited(kWindow, kWindow);
    }
}

TEST(AdaptiveSpinTest, OneShortWaitRestoresSpinning) {
    AdaptiveSpin spin;
    for (std::uint32_t i = 0; i < AdaptiveSpin::kMissesToStop; ++i) spin.waited(kLong, kWindow);
    ASSERT_FALSE(spin.spin_now());
    spin.waited(kNear, kWindow);  // timed while sleeping: waits got short again
    EXPECT_TRUE(spin.spin_now());
}

}  // namespace
}  // namespace warmpool
