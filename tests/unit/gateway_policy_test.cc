// gateway_policy: how much a gateway reads, what becomes of an entry when read and of a delivery
// when its pool answers, which consumers go, and the reconnection back-off.
#include "gateway_policy.hpp"

#include <gtest/gtest.h>

namespace warmpool {
namespace {

using namespace gateway_policy;

constexpr std::uint16_t code(ErrorKind kind) { return static_cast<std::uint16_t>(kind); }

TEST(GatewayPolicy, ReadsOnlyWhatThePoolHasRoomFor) {
    EXPECT_EQ(read_room(4, 0), 4U);
    EXPECT_EQ(read_room(4, 3), 1U);
    EXPECT_EQ(read_room(4, 4), 0U);
    EXPECT_EQ(read_room(4, 9), 0U) << "more busy than capacity (claims raced reads) is no room, not a wrap";
    EXPECT_EQ(read_room(0, 0), 0U);
}

TEST(GatewayPolicy, AnEntryRunsUnlessSomethingSaysOtherwise) {
    IntakeFacts f;
    EXPECT_EQ(intake_fate(f), IntakeFate::run);
    f.deliveries = 3;
    EXPECT_EQ(intake_fate(f), IntakeFate::run) << "the threshold's own delivery still runs";
    f.deliveries = 4;
    EXPECT_EQ(intake_fate(f), IntakeFate::poison);
    f.deliveries = 1;
    f.deadline_passed = true;
    EXPECT_EQ(intake_fate(f), IntakeFate::deadline_exceeded);
    f.deadline_passed = false;
    f.pickle = true;
    EXPECT_EQ(intake_fate(f), IntakeFate::permission);
    f.trust_pickle = true;
    EXPECT_EQ(intake_fate(f), IntakeFate::run);
    f.cancelled = true;
    f.deliveries = 99;
    EXPECT_EQ(intake_fate(f), IntakeFate::cancelled) << "a cancel is the job's answer already";
}

TEST(GatewayPolicy, ACrashedDeliveryIsRequeuedUntilTheThresholdThenPoison) {
    EXPECT_EQ(delivery_fate(code(ErrorKind::worker_crashed), 1, 3), DeliveryFate::requeue_crashed);
    EXPECT_EQ(delivery_fate(code(ErrorKind::worker_crashed), 2, 3), DeliveryFate::requeue_crashed);
    EXPECT_EQ(delivery_fate(code(ErrorKind::worker_crashed), 3, 3), DeliveryFate::poison);
    EXPECT_EQ(delivery_fate(code(ErrorKind::worker_crashed), 1, 1), DeliveryFate::poison);
}

TEST(GatewayPolicy, ThePoolGoingAwayIsNotTheJobsFault) {
    EXPECT_EQ(delivery_fate(code(ErrorKind::shutting_down), 3, 3), DeliveryFate::requeue_unfit);
    EXPECT_EQ(delivery_fate(code(ErrorKind::overloaded), 3, 3), DeliveryFate::requeue_unfit);
}

TEST(GatewayPolicy, EveryOtherOutcomeIsTheJobsOne) {
    EXPECT_EQ(delivery_fate(0, 1, 3), DeliveryFate::finish);
    for (ErrorKind kind : kAllErrorKinds) {
        if (kind == ErrorKind::worker_crashed || kind == ErrorKind::shutting_down || kind == ErrorKind::overloaded) continue;
        EXPECT_EQ(delivery_fate(code(kind), 5, 3), DeliveryFate::finish) << to_string(kind);
    }
}

TEST(GatewayPolicy, OnlyDeadIdleEmptyConsumersOfOthersAreRemoved) {
    ConsumerFacts dead{false, false, 0, 5000};
    EXPECT_TRUE(consumer_removable(dead, 1000));
    ConsumerFacts c = dead;
    c.is_self = true;
    EXPECT_FALSE(consumer_removable(c, 1000));
    c = dead;
    c.heartbeat_alive = true;
    EXPECT_FALSE(consumer_removable(c, 1000));
    c = dead;
    c.pending = 1;
    EXPECT_FALSE(consumer_removable(c, 1000)) << "its entries must be claimed first";
    c = dead;
    c.idle_ms = 1000;
    EXPECT_FALSE(consumer_removable(c, 1000));
}

TEST(GatewayPolicy, BackoffDoublesFromATenthOfASecondToTwoSeconds) {
    EXPECT_EQ(next_redis_backoff_ms(0), 100);
    EXPECT_EQ(next_redis_backoff_ms(100), 200);
    EXPECT_EQ(next_redis_backoff_ms(1600), 2000);
    EXPECT_EQ(next_redis_backoff_ms(2000), 2000);
    EXPECT_EQ(housekeeping_period_ms(5000), 1000);
    EXPECT_EQ(housekeeping_period_ms(50), 20);
}

TEST(GatewayPolicy, AfterConnectingAGatewayWaitsOutEveryOthersBackoffBeforeClaiming) {
    EXPECT_EQ(claim_pause_after_connect_ms(1000), 1000 + kMaxBackoffMs);
    EXPECT_GT(claim_pause_after_connect_ms(200), kMaxBackoffMs);
}

TEST(GatewayPolicy, ThePoisonMessageSaysHowOftenAndWhy) {
    EXPECT_EQ(poison_message(3, "worker_crashed: killed by signal 6"),
              "the job was delivered 3 times and none ended with an outcome; the last: worker_crashed: killed by signal 6");
    EXPECT_EQ(poison_message(4, ""), "the job was delivered 4 times and none ended with an outcome");
}

}  // namespace
}  // namespace warmpool
