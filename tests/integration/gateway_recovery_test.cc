// warmpool-gateway when hosts fail: a gateway killed (-9) or stalled (SIGSTOP) while it holds
// jobs, a whole host killed, a gateway stopped with SIGTERM. Every job gets exactly one reply;
// a lapsed gateway's entries are claimed and finished by the others after the lease; a stalled
// gateway's late outcomes are dropped and counted; consumers that are gone are removed.
#include <gtest/gtest.h>

#include <signal.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <string>

#include "redis_server.hpp"
#include "scale_out_hosts.hpp"
#include "wire_jobs.hpp"

namespace warmpool {
namespace {

using namespace std::chrono_literals;
using testing::gateway_settings;
using testing::ScaleOutHosts;
using testing::wait_until;
using testing::WireJobs;

// Claims happen a lease after the last refresh, at the claimer's next round (a fifth of a lease);
// the margin covers a loaded machine.
constexpr auto kRecovery = std::chrono::milliseconds(testing::kGatewayLeaseMs) + 20s;
// As many jobs as workers: what a host holds is what it runs.
constexpr unsigned kCapacity = 2;

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
    ScaleOutHosts hosts(gateway_settings(redis, kCapacity), 3);
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
    ScaleOutHosts hosts(gateway_settings(redis, kCapacity), 2);
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
    ScaleOutHosts hosts(gateway_settings(redis, kCapacity), 3);
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
    ScaleOutHosts hosts(gateway_settings(redis, kCapacity, {"--drain-ms", "300"}), 2);
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

// The local pool dies under its gateway: not the jobs' fault. The gateway requeues them for the
// other hosts at once and exits 1 (its unit restarts it with the pool).
TEST(GatewayRecovery, AGatewayWhosePoolDiesRequeuesItsJobsAndExits) {
    testing::RedisServer redis;
    ScaleOutHosts hosts(gateway_settings(redis, kCapacity), 2);
    WireJobs client(redis, "t");
    for (int i = 0; i < 4; ++i) client.submit_json("sleep_report", "1.5");
    const std::string orphan = wait_for_pending(client, hosts[0], 2);
    hosts[0].pool().signal(SIGKILL);
    EXPECT_EQ(hosts[0].wait_gateway_exit(20s), 1);
    EXPECT_EQ(client.stat("requeued"), 2);
    EXPECT_EQ(client.heartbeat(orphan), "");
    client.read_all(30s);
    EXPECT_EQ(client.not_exactly_once(), "");
    for (const auto& [seq, list] : client.replies()) EXPECT_EQ(list.at(0).status, 0) << list.at(0).body;
    EXPECT_EQ(client.stat("claims"), 0) << "requeued, not left to be claimed";
}

// A consumer that read entries and vanished (no heartbeat ever): its entries are claimed; one
// deleted meanwhile cannot be answered and is counted; then the consumer itself is removed.
TEST(GatewayRecovery, AVanishedConsumersEntriesAreClaimedAndTheConsumerRemoved) {
    testing::RedisServer redis;
    WireJobs client(redis, "t");
    auto group = client.redis().command({"XGROUP", "CREATE", client.keys().jobs(), "gateways", "0", "MKSTREAM"});
    ASSERT_TRUE(group && !group->is_error());
    client.submit_json("gcd", "[12,18]");
    client.submit_json("gcd", "[20,8]");
    auto taken = client.redis().command(
        {"XREADGROUP", "GROUP", "gateways", "ghost", "COUNT", "2", "STREAMS", client.keys().jobs(), ">"});
    ASSERT_TRUE(taken && taken->value()[0][1].size() == 2);
    const std::string gone(taken->value()[0][1][1][0].text());
    auto deleted = client.redis().command({"XDEL", client.keys().jobs(), gone});
    ASSERT_TRUE(deleted && deleted->value().integer() == 1);

    ScaleOutHosts hosts(gateway_settings(redis, kCapacity), 1);
    client.read_until([&](const auto& r) { return r.contains(1); }, kRecovery);
    EXPECT_EQ(client.replies().at(1).at(0).body, "6");
    EXPECT_TRUE(wait_until([&] { return client.stat("deleted_entries") == 1; }, kRecovery));
    EXPECT_EQ(client.stat("claims"), 1);
    EXPECT_TRUE(wait_until(
        [&] {
            const auto names = client.consumers();
            return std::find(names.begin(), names.end(), "ghost") == names.end();
        },
        kRecovery));
    EXPECT_EQ(client.stat("consumers_removed"), 1);
    client.read_all(1s, 500ms);
    EXPECT_FALSE(client.replies().contains(2)) << "a deleted entry has no one to answer it";
}

}  // namespace
}  // namespace warmpool
