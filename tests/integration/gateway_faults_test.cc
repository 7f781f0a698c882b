// warmpool-gateway and the faults that are not a host's: a job that kills every worker it
// reaches (poison), a Redis restart, a client's cancel.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "redis_server.hpp"
#include "scale_out_hosts.hpp"
#include "warmpool/error_kind.hpp"
#include "warmpool/redis/redis_layout.hpp"
#include "wire_jobs.hpp"

namespace warmpool {
namespace {

using namespace std::chrono_literals;
using testing::gateway_settings;
using testing::ScaleOutHosts;
using testing::wait_until;
using testing::WireJobs;

TEST(GatewayFaults, AJobThatKillsEveryWorkerEndsAsPoisonAndThePoolsServeOn) {
    testing::RedisServer redis;
    ScaleOutHosts hosts(gateway_settings(redis), 3);
    WireJobs client(redis, "t");
    const auto poison = client.submit_json("crash", "1");
    client.read_until([&](const auto& r) { return r.contains(poison); }, 60s);
    ASSERT_TRUE(client.replies().contains(poison));
    const auto& reply = client.replies().at(poison)[0];
    EXPECT_EQ(reply.status, static_cast<int>(ErrorKind::poison)) << reply.body;
    EXPECT_NE(reply.body.find("delivered 3 times"), std::string::npos) << reply.body;
    EXPECT_NE(reply.body.find("worker_crashed"), std::string::npos) << reply.body;
    EXPECT_EQ(client.stat("requeued"), 2) << "two deliveries went back to the stream, the third ended it";
    EXPECT_TRUE(wait_until([&] { return client.stat("poisoned") == 1; }, 10s));
    for (int i = 0; i < 12; ++i) client.submit_json("gcd", "[12,18]");
    client.read_all(30s);
    EXPECT_EQ(client.not_exactly_once(), "");
    for (std::uint64_t seq = poison + 1; seq <= client.submitted(); ++seq) {
        EXPECT_EQ(client.replies().at(seq)[0].body, "6");
    }
}

// What this proves: with Redis persisting every write (appendonly, appendfsync always), a Redis
// killed and restarted while gateways hold running jobs loses nothing of the job stream, the
// group's pending entries or the fencing keys; each gateway reconnects (with back-off), keeps
// its local jobs running through the outage, writes their outcomes once Redis is back (loading
// the scripts again), and reads on; so every job submitted before the crash, and after it, gets
// exactly one reply. It says nothing of a Redis without persistence (the stream itself is then
// lost) or with appendfsync everysec (the last second of writes may be lost).
TEST(GatewayFaults, JobsKeepExactlyOneReplyAcrossARedisRestart) {
    testing::RedisServerOptions options;
    options.append_only = true;
    testing::RedisServer redis(options);
    ScaleOutHosts hosts(gateway_settings(redis), 2);
    WireJobs client(redis, "t");
    // Both gateways are connected before Redis goes (else one first connects after the restart,
    // with nothing to reconnect).
    ASSERT_TRUE(client.wait_serving({hosts[0].gateway_pid(), hosts[1].gateway_pid()}, 20s));
    for (int i = 0; i < 4; ++i) client.submit_json("sleep_report", "1.0");
    for (int i = 0; i < 4; ++i) client.submit_json("gcd", "[12,18]");
    // Both gateways hold running jobs when Redis goes.
    ASSERT_TRUE(wait_until(
        [&] {
            auto pending = client.redis().command({"XPENDING", client.keys().jobs(), redis_layout::kGroup});
            return pending && pending->value()[0].integer() >= 4;
        },
        20s));
    redis.kill9();
    std::this_thread::sleep_for(1500ms);  // the sleeping jobs end while Redis is down
    redis.restart();
    client.reconnect();
    for (int i = 0; i < 4; ++i) client.submit_json("gcd", "[20,8]");
    client.read_all(30s, 1s);
    EXPECT_EQ(client.not_exactly_once(), "");
    for (const auto& [seq, list] : client.replies()) EXPECT_EQ(list.at(0).status, 0) << list.at(0).body;
    // Both gateways noticed and reconnected; none claimed the other's entries (each waits out the
    // others' back-off after reconnecting, and they refresh their entries meanwhile).
    EXPECT_EQ(client.stat("claims"), 0);
    for (std::size_t i = 0; i < hosts.size(); ++i) {
        std::string consumer;
        ASSERT_TRUE(wait_until([&] { return !(consumer = client.consumer_of(hosts[i].gateway_pid())).empty(); }, 10s));
        nlohmann::json beat;
        EXPECT_TRUE(wait_until(
            [&] {
                const std::string text = client.heartbeat(consumer);
                if (text.empty()) return false;
                beat = nlohmann::json::parse(text);
                return beat["redis_reconnects"].get<int>() >= 1;
            },
            10s))
            << beat.dump();
    }
}

// A Redis without persistence comes back empty: the stream, the group and every job in them are
// gone (the clients' futures of those never resolve; nothing can answer them). The gateways make
// the group again and serve the jobs submitted after.
TEST(GatewayFaults, AfterARedisRestartThatLostEverythingTheGatewaysServeNewJobs) {
    testing::RedisServer redis;
    ScaleOutHosts hosts(gateway_settings(redis), 2);
    WireJobs client(redis, "t");
    client.submit_json("gcd", "[12,18]");
    client.read_all(20s);
    ASSERT_EQ(client.not_exactly_once(), "");
    redis.restart();
    client.reconnect();
    const auto after = client.submit_json("gcd", "[20,8]");
    client.read_until([&](const auto& r) { return r.contains(after); }, 30s);
    ASSERT_TRUE(client.replies().contains(after)) << "no gateway made the group again";
    EXPECT_EQ(client.replies().at(after)[0].body, "4");
}

TEST(GatewayFaults, AClientsCancelStopsTheRunningJobAndItsLateOutcomeIsDropped) {
    testing::RedisServer redis;
    ScaleOutHosts hosts(gateway_settings(redis), 1);
    WireJobs client(redis, "t");
    const auto seq = client.submit_json("hang", "1");
    // The entry is taken (it runs) before the client cancels it.
    std::string consumer;
    ASSERT_TRUE(wait_until(
        [&] {
            if (consumer.empty()) consumer = client.consumer_of(hosts[0].gateway_pid());
            return !consumer.empty() && client.pending_on(consumer) == 1;
        },
        20s));
    auto entry = client.redis().command({"XRANGE", client.keys().jobs(), "-", "+"});
    ASSERT_TRUE(entry && entry->value().size() == 1);
    const std::string entry_id(entry->value()[0][0].text());
    // The client's cancel: the finish script as finisher "client", then the cancels stream.
    const RedisScript finish{redis_layout::kFinishScript};
    const std::string job = client.job_id(seq);
    auto won = client.redis().run(
        finish, {client.keys().done(job), client.keys().reply(client.client()), client.keys().jobs(), client.keys().stats()},
        {redis_layout::kGroup, entry_id, "60000", "1000", "60", std::to_string(seq),
         std::to_string(static_cast<int>(ErrorKind::cancelled)), "0", "cancelled", redis_layout::kClientFinisher});
    ASSERT_TRUE(won && won->value()[0].integer() == 1);
    auto added = client.redis().command({"XADD", client.keys().cancels(), "MAXLEN", "~", "10000", "*", "job", job, "force", "1"});
    ASSERT_TRUE(added && !added->is_error());
    // The gateway stops the hanging job; its cancelled outcome meets the fence.
    EXPECT_TRUE(wait_until([&] { return client.stat("late_after_cancel") == 1; }, 20s));
    client.read_all(1s, 500ms);
    EXPECT_EQ(client.not_exactly_once(), "");
    EXPECT_EQ(client.replies().at(seq)[0].by, "client");
    // The worker it held is free again: a new job runs.
    client.submit_json("gcd", "[12,18]");
    client.read_all(20s);
    EXPECT_EQ(client.replies().at(seq + 1)[0].body, "6");
}

}  // namespace
}  // namespace warmpool
