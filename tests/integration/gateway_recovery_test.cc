// warmpool-gateway when hosts fail: a gateway killed (-9) or stalled (SIGSTOP) while it holds
// jobs, a whole host killed, a gateway stopped with SIGTERM. Every job gets exactly one reply;
// a lapsed gateway's entries are claimed and finished by the others after the lease; a stalled
// gateway's late outcomes are dropped and counted; consumers that are gone are removed.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "redis_server.hpp"
#include "scale_out_hosts.hpp"
#include "wire_jobs.hpp"

namespace warmpool {
namespace {

using namespace std::chrono_literals;
using testing::GatewaySettings;
using testing::ScaleOutHosts;
using testing::wait_until;
using testing::WireJobs;

constexpr int kLeaseMs = 1000;
// Claims happen a lease after the last refresh, at the claimer's next round (a fifth of a lease);
// the margin covers a loaded machine.
constexpr auto kRecovery = std::chrono::milliseconds(kLeaseMs) + 20s;

GatewaySettings settings_for(const testing::RedisServer& redis, std::vector<std::string> extra = {}) {
    GatewaySettings s;
    s.endpoint = redis.endpoint("t");
    s.lease_ms = kLeaseMs;
    s.capacity = 2;  // as many jobs as workers: what a host holds is what it runs
    s.extra_args = std::move(extra);
    return s;
}

// Waits until the gateway of `host` holds at least `count` entries; returns its consumer name.
std::string wait_for_pending(WireJobs& client, testing::ScaleOutHost& host, long long count) {
    std::string consumer;
    EXPECT_TRUE(wait_until(
        [&] {
            if (consumer.empty()) consumer = client.consumer_of(host.gateway_pid());
            return !consumer.empty() && client.pending_on(consumer) >= count;
        },
        20s))
        << "the gateway never held " << count << " entries";
    return consumer;
}

TEST(GatewayRecovery, AKilledGatewaysJobsFinishOnTheOtherHostsExactlyOnce) {
    testing::RedisServer redis;
    ScaleOutHosts hosts(settings_for(redis), 3);
    WireJobs client(redis, "t");
    for (int i = 0; i < 24; ++i) client.submit_json("sleep_report", "0.4");
    const std::string victim = wait_for_pending(client, hosts[0], 2);
    const long long held = client.pending_on(victim);
    hosts[0].kill9_gateway();

    const auto& replies = client.read_all(kRecovery + 10s);
    EXPECT_EQ(client.not_exactly_once(), "") << "jobs with other than one reply (seq:count)";
    for (const auto& [seq, list] : replies) {
        for (const auto& r : list) {
            EXPECT_EQ(r.status, 0) << r.body;
            EXPECT_NE(r.by, victim) << "a dead gateway answers nothing";
        }
    }
    EXPECT_GE(client.stat("claims"), held) << "its entries were claimed";
    // Its consumer, empty now, goes once its heartbeat has lapsed.
    EXPECT_TRUE(wait_until(
        [&] {
            const auto names = client.consumers();
            return std::find(names.begin(), names.end(), victim) == names.end();
        },
        kRecovery))
        << "the dead consumer was not removed";
    EXPECT_GE(client.stat("consumers_removed"), 1);
    EXPECT_EQ(client.heartbeat(victim), "");
}

TEST(GatewayRecovery, AStalledGatewaysLateOutcomesAreDroppedAndCounted) {
    testing::RedisServer redis;
    ScaleOutHosts hosts(settings_for(redis), 2);
    WireJobs client(redis, "t");
    // Two workers a host and two jobs each: host 0 holds two when it stalls.
    for (int i = 0; i < 4; ++i) client.submit_json("sleep_report", "1.0");
    const std::string stalled = wait_for_pending(client, hosts[0], 2);
    hosts[0].stop_gateway();
    // Its pool finishes the jobs meanwhile; the other host claims and runs them again.
    ASSERT_TRUE(wait_until([&] { return client.stat("claims") >= 2; }, kRecovery)) << "nothing was claimed";
    client.read_until([&](const auto&) { return client.answered() == 4; }, 30s);
    ASSERT_EQ(client.answered(), 4U);
    hosts[0].continue_gateway();
    // Back, it writes its outcomes: each is a duplicate, dropped and counted.
    EXPECT_TRUE(wait_until([&] { return client.stat("duplicates_dropped") >= 2; }, 20s));
    client.read_all(1s, 1s);
    EXPECT_EQ(client.not_exactly_once(), "");
    for (const auto& [seq, list] : client.replies()) EXPECT_NE(list.at(0).by, stalled) << "job " << seq;
    EXPECT_EQ(client.stat("duplicates_dropped"), 2);
    // Its heartbeat says so too. (Whether its refresh saw the entries lost first, or its
    // finisher wrote them first, is a race: `lost` is not checked.)
    nlohmann::json beat;
    ASSERT_TRUE(wait_until(
        [&] {
            const std::string text = client.heartbeat(stalled);
            if (text.empty()) return false;
            beat = nlohmann::json::parse(text);
            return beat["duplicates_dropped"] == 2;
        },
        10s));
    EXPECT_EQ(beat["in_flight"], 0);
}

TEST(GatewayRecovery, AKilledHostsJobsFinishElsewhere) {
    testing::RedisServer redis;
    ScaleOutHosts hosts(settings_for(redis), 3);
    WireJobs client(redis, "t");
    for (int i = 0; i < 18; ++i) client.submit_json("sleep_report", "0.3");
    const std::string victim = wait_for_pending(client, hosts[1], 1);
    hosts[1].kill9();
    client.read_all(kRecovery + 10s);
    EXPECT_EQ(client.not_exactly_once(), "");
    for (const auto& [seq, list] : client.replies()) {
        for (const auto& r : list) EXPECT_EQ(r.status, 0) << "job " << seq << ": " << r.body;
    }
    // The survivors still serve.
    for (int i = 0; i < 6; ++i) client.submit_json("gcd", "[12,18]");
    client.read_all(20s);
    EXPECT_EQ(client.not_exactly_once(), "");
}

TEST(GatewayRecovery, SigtermDrainsRequeuesWhatIsLeftAndLeavesNoHeartbeat) {
    testing::RedisServer redis;
    ScaleOutHosts hosts(settings_for(redis, {"--drain-ms", "300"}), 2);
    WireJobs client(redis, "t");
    for (int i = 0; i < 4; ++i) client.submit_json("sleep_report", "2.0");
    const std::string leaving = wait_for_pending(client, hosts[0], 2);
    EXPECT_EQ(hosts[0].terminate_gateway(), 0);
    // Its two jobs did not finish within the drain: requeued at once, not after a lease.
    EXPECT_GE(client.stat("requeued"), 2);
    EXPECT_EQ(client.heartbeat(leaving), "");
    const auto names = client.consumers();
    EXPECT_EQ(std::find(names.begin(), names.end(), leaving), names.end()) << "an empty consumer leaves with it";
    client.read_all(30s);
    EXPECT_EQ(client.not_exactly_once(), "");
    for (const auto& [seq, list] : client.replies()) {
        EXPECT_EQ(list.at(0).status, 0) << list.at(0).body;
        EXPECT_NE(list.at(0).by, leaving);
    }
    EXPECT_EQ(client.stat("claims"), 0) << "requeued, not left to be claimed";
}

}  // namespace
}  // namespace warmpool
