// A Redis session when Redis loses data or goes away: a real redis-server, restarted with or
// without persistence or killed, and real hosts (warmpoold plus warmpool-gateway).
//
// What this proves: jobs a client had sent before Redis lost them (a restart without
// persistence) are sent again by the client and answered once each; with appendonly and
// appendfsync always, the client's check after the restart finds every job and sends none
// again; jobs running on gateways when Redis lost everything are answered once each even though
// they run twice; a job requeued before the restart is followed to its new entry, not sent
// again; a Redis that stays away fails the jobs in flight and new submits with a typed
// error within the client's limit, and the session serves again once Redis is back; a cancel
// writes with the settings the gateways publish. It says nothing of a failover (a replica's new
// run_id is handled as a restart's) nor of appendfsync everysec's lost second, which is the
// no-persistence case for the jobs it loses.
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "expect_job_error.hpp"
#include "redis_server.hpp"
#include "scale_out_hosts.hpp"
#include "warmpool/client.hpp"
#include "warmpool/redis/redis_layout.hpp"

namespace warmpool {
namespace {

using namespace std::chrono_literals;
using Pair = std::pair<std::int64_t, std::int64_t>;
using testing::GatewaySettings;
using testing::RedisServer;
using testing::ScaleOutHosts;
using testing::wait_until;

// A connection to the test's Redis that comes back after a restart.
class Probe {
public:
    explicit Probe(const RedisServer& server) : server_(server) {}

    long long integer(const std::vector<std::string_view>& command) {
        auto reply = command_again(command);
        if (!reply) return -1;
        return reply->value().is_nil() ? 0 : reply->value().as_integer().value_or(-1);
    }
    long long stat(std::string_view name) { return integer({"HGET", keys.stats(), name}); }
    long long stream_length() { return integer({"XLEN", keys.jobs()}); }
    long long pending() {
        auto reply = command_again({"XPENDING", keys.jobs(), redis_layout::kGroup});
        return reply && reply->value().is_array() ? reply->value()[0].integer() : -1;
    }
    std::string text(const std::vector<std::string_view>& command) {
        auto reply = command_again(command);
        return reply && reply->value().is_string() ? std::string(reply->text()) : std::string();
    }
    std::string run_id() {
        auto reply = command_again({"INFO", "server"});
        const std::string text = reply ? std::string(reply->text()) : std::string();
        const auto at = text.find("run_id:");
        return at == std::string::npos ? std::string() : text.substr(at + 7, 40);
    }

    redis_layout::Keys keys{"t"};

private:
    // Once more on a new connection if the old one broke (Redis restarted).
    Result<RedisReply> command_again(const std::vector<std::string_view>& command) {
        auto reply = connection().command(command);
        if (reply) return reply;
        redis_.reset();
        return connection().command(command);
    }
    RedisConnection& connection() {
        if (!redis_) {
            for (int i = 0; i < 100 && !redis_; ++i) {
                auto made = RedisConnection::connect(server_.address("t"), RedisCredentials{}, 1000);
                if (made) {
                    redis_.emplace(std::move(made.value()));
                } else {
                    std::this_thread::sleep_for(50ms);
                }
            }
            if (!redis_) throw std::runtime_error("cannot reach the test's Redis");
        }
        return *redis_;
    }

    const RedisServer& server_;
    std::optional<RedisConnection> redis_;
};

std::string pair_json(int i) { return "[" + std::to_string(6 * i) + ", " + std::to_string(4 * i) + "]"; }

// Every future resolves once, with gcd(6i, 4i) = 2i.
void expect_gcds(std::vector<RawFuture>& futures, std::chrono::seconds wait) {
    for (std::size_t i = 0; i < futures.size(); ++i) {
        ASSERT_TRUE(futures[i].wait_for(wait)) << "job " << i + 1 << " never got its reply";
        EXPECT_EQ(futures[i].status(), 0) << futures[i].reply();
        EXPECT_EQ(futures[i].get(), std::to_string(2 * (i + 1))) << i;
    }
}

TEST(RedisRecoveryTest, JobsLostWithARedisWithoutPersistenceAreSentAgainAndAnsweredOnce) {
    RedisServer redis;  // no persistence: a restart comes back empty
    Probe probe(redis);
    Client client = Client::connect(redis.endpoint("t"));
    std::vector<RawFuture> futures;
    for (int i = 1; i <= 20; ++i) futures.push_back(client.submit_json("gcd", pair_json(i)));
    ASSERT_EQ(probe.stream_length(), 20) << "no gateway yet: every entry waits unread";
    const std::string before = probe.run_id();
    redis.restart();
    ASSERT_NE(probe.run_id(), before);
    // The client notices the new server and adds its 20 entries again, counted.
    ASSERT_TRUE(wait_until([&] { return probe.stream_length() == 20 && probe.stat(redis_layout::stat::resent) == 20; },
                           30s))
        << "stream " << probe.stream_length() << ", resent " << probe.stat(redis_layout::stat::resent);
    // Gateways come up only now: they serve what the client sent again.
    ScaleOutHosts hosts(gateway_settings(redis), 2);
    expect_gcds(futures, 60s);
    EXPECT_EQ(probe.stat(redis_layout::stat::duplicates_dropped), 0);
    // Served on: the session works as before.
    EXPECT_EQ(client.submit_json("gcd", "[35, 21]").get(), "7");
}

TEST(RedisRecoveryTest, JobsRunningWhenRedisLostEverythingAreAnsweredOnceEach) {
    RedisServer redis;
    Probe probe(redis);
    GatewaySettings settings = gateway_settings(redis);
    settings.capacity = 2;  // two sleeping jobs fill a host: it reads no more
    ScaleOutHosts hosts(settings, 2);
    ASSERT_TRUE(wait_until([&] { return probe.integer({"SCARD", probe.keys.gateways()}) == 2; }, 30s));
    Client client = Client::connect(redis.endpoint("t"));
    std::vector<RawFuture> running;
    for (int i = 0; i < 4; ++i) running.push_back(client.submit_json("sleep_report", "1.0"));
    ASSERT_TRUE(wait_until([&] { return probe.pending() == 4; }, 20s));
    // Both hosts full, their gateways stopped: what is sent now waits unread when Redis goes.
    hosts[0].stop_gateway();
    hosts[1].stop_gateway();
    std::vector<RawFuture> queued;
    for (int i = 1; i <= 10; ++i) queued.push_back(client.submit_json("gcd", pair_json(i)));
    redis.restart();
    hosts[0].continue_gateway();
    hosts[1].continue_gateway();
    // The running jobs finish into the new Redis (their gateways write the outcome once it is
    // back) or, sent again by the client, run a second time; either way one reply each.
    for (auto& f : running) {
        ASSERT_TRUE(f.wait_for(60s)) << hosts.logs();
        EXPECT_EQ(f.status(), 0) << f.reply();
        EXPECT_NE(std::string(f.reply()).find("slept"), std::string::npos) << f.reply();
    }
    expect_gcds(queued, 60s);
    EXPECT_GE(probe.stat(redis_layout::stat::resent), 10) << "the queued ones at least were lost";
}

TEST(RedisRecoveryTest, ARestartThatKeptEverythingNeedsNoResend) {
    RedisServer redis(testing::RedisServerOptions{.append_only = true});  // appendfsync always
    Probe probe(redis);
    ScaleOutHosts hosts(gateway_settings(redis), 1);
    ASSERT_TRUE(wait_until([&] { return probe.integer({"SCARD", probe.keys.gateways()}) == 1; }, 30s));
    Client client = Client::connect(redis.endpoint("t"));
    std::vector<RawFuture> running;
    for (int i = 0; i < 2; ++i) running.push_back(client.submit_json("sleep_report", "1.0"));
    std::vector<RawFuture> futures;
    for (int i = 1; i <= 10; ++i) futures.push_back(client.submit_json("gcd", pair_json(i)));
    ASSERT_TRUE(wait_until([&] { return probe.pending() >= 2; }, 20s));
    const std::string before = probe.run_id();
    redis.restart();
    ASSERT_NE(probe.run_id(), before) << "a new server, so the client checks its jobs";
    for (auto& f : running) {
        ASSERT_TRUE(f.wait_for(60s)) << hosts.logs();
        EXPECT_EQ(f.status(), 0) << f.reply();
    }
    expect_gcds(futures, 60s);
    // The check after the restart found every job (its entry or its fence) and sent none again;
    // a check that had failed would have sent them again, and a gateway's second outcome would
    // have been dropped.
    EXPECT_EQ(probe.stat(redis_layout::stat::resent), 0);
    EXPECT_EQ(probe.stat(redis_layout::stat::duplicates_dropped), 0);
}

// True once a client's reader has read for longer than one BLOCK on the server now running: it
// has passed the read after its reconnection, and so the check of its jobs that follows it.
bool reader_checked(Probe& probe) {
    auto lines = probe.text({"CLIENT", "LIST"});
    std::size_t at = 0;
    while ((at = lines.find("age=", at)) != std::string::npos) {
        const std::size_t end = lines.find('\n', at);
        const std::string line = lines.substr(at, end == std::string::npos ? std::string::npos : end - at);
        at += 4;
        if (line.find("cmd=xread ") != std::string::npos && std::stol(line.substr(4)) >= 2) return true;
    }
    return false;
}

TEST(RedisRecoveryTest, ARequeuedJobIsFoundWhereItWentAndNotSentAgain) {
    RedisServer redis(testing::RedisServerOptions{.append_only = true});
    Probe probe(redis);
    Client client = Client::connect(redis.endpoint("t"));
    RawFuture future = client.submit_json("gcd", "[12, 18]");
    // A gateway read it and its worker crashed: the requeue script moved it to a new entry.
    RedisConnection gateway = redis.connect();
    ASSERT_TRUE(gateway.command({"XGROUP", "CREATE", probe.keys.jobs(), redis_layout::kGroup, "0", "MKSTREAM"}));
    auto read = gateway.command(
        {"XREADGROUP", "GROUP", redis_layout::kGroup, "host-x", "COUNT", "1", "STREAMS", probe.keys.jobs(), ">"});
    ASSERT_TRUE(read && read->value().is_array());
    const std::string entry(read->value()[0][1][0][0].text());
    const std::string job(read->value()[0][1][0][1][1].text());
    auto moved = gateway.run(RedisScript{redis_layout::kRequeueScript},
                             {probe.keys.jobs(), probe.keys.done(job), probe.keys.stats(), probe.keys.requeued(job)},
                             {redis_layout::kGroup, entry, "1", "worker_crashed: killed by signal 9", "60000"});
    ASSERT_TRUE(moved && moved->value().is_string());
    redis.restart();  // a new run_id: the client checks its job, at the entry it knows no more
    ASSERT_TRUE(wait_until([&] { return reader_checked(probe); }, 30s));
    EXPECT_EQ(probe.stat(redis_layout::stat::resent), 0) << "followed to its requeued entry";
    EXPECT_EQ(probe.stream_length(), 1);
    ScaleOutHosts hosts(gateway_settings(redis), 1);
    ASSERT_TRUE(future.wait_for(60s)) << hosts.logs();
    EXPECT_EQ(future.get(), "6");
    EXPECT_EQ(probe.stat(redis_layout::stat::duplicates_dropped), 0);
}

TEST(RedisRecoveryTest, ARedisThatStaysAwayFailsTheJobsInFlightWithinTheLimit) {
    RedisServer redis;
    ClientOptions options;
    options.redis_unreachable_ms = 1500;
    Client client = Client::connect(redis.endpoint("t"), options);
    std::vector<RawFuture> futures;
    for (int i = 1; i <= 3; ++i) futures.push_back(client.submit_json("gcd", pair_json(i)));
    redis.kill9();
    // The limit, and a margin for a reconnection attempt under load.
    for (auto& f : futures) {
        ASSERT_TRUE(f.wait_for(1500ms + 15s)) << "a future waits on with Redis gone";
        EXPECT_EQ(f.status(), static_cast<std::uint16_t>(ErrorKind::shutting_down));
        const std::string why(f.reply());
        EXPECT_NE(why.find("Redis at " + redis.endpoint("t") + " was unreachable for 1.5 s"), std::string::npos) << why;
        EXPECT_NE(why.find("outcome is unknown"), std::string::npos) << why;
    }
    const JobError refused = testing::expect_job_error([&] { client.submit_json("gcd", "[12, 18]"); });
    EXPECT_EQ(refused.kind(), ErrorKind::shutting_down);
    EXPECT_NE(refused.message().find("was unreachable for 1.5 s"), std::string::npos) << refused.message();

    // Redis back (empty), and a host: the same session serves new jobs again.
    redis.restart();
    ScaleOutHosts hosts(gateway_settings(redis), 1);
    std::optional<RawFuture> again;
    ASSERT_TRUE(wait_until(
        [&] {
            try {
                again = client.submit_json("gcd", "[12, 18]");
                return true;
            } catch (const JobError&) {
                return false;
            }
        },
        30s));
    ASSERT_TRUE(again->wait_for(60s)) << hosts.logs();
    EXPECT_EQ(again->get(), "6");
}

TEST(RedisRecoveryTest, ACancelWritesWithTheSettingsTheGatewaysPublish) {
    RedisServer redis;
    Probe probe(redis);
    GatewaySettings settings = gateway_settings(redis, 0, {"--done-ttl-ms", "60000", "--reply-ttl", "3", "--reply-cap", "20"});
    settings.capacity = 1;  // one job at a time: a second one waits in the stream
    ScaleOutHosts hosts(settings, 1);
    // The heartbeat is written before the gateway joins the set.
    ASSERT_TRUE(wait_until([&] { return probe.integer({"SCARD", probe.keys.gateways()}) == 1; }, 30s));
    Client client = Client::connect(redis.endpoint("t"));
    CallOptions short_run;
    short_run.timeout = 3s;
    RawFuture blocker = client.submit_json("hang", "0", short_run);
    ASSERT_TRUE(wait_until([&] { return probe.pending() == 1; }, 20s));
    RawFuture queued = client.submit_json("gcd", "[12, 18]");
    queued.cancel();
    EXPECT_EQ(testing::expect_job_error([&] { queued.get(); }).kind(), ErrorKind::cancelled);
    // The client's fence lives as long as the gateways' (not the default day).
    const std::string job_prefix = probe.keys.done("*");
    auto connection = RedisConnection::connect(redis.address("t"), RedisCredentials{}, 1000);
    ASSERT_TRUE(connection);
    auto fences = connection->command({"KEYS", job_prefix});
    ASSERT_TRUE(fences && fences->value().size() == 1);
    const std::string fence(fences->value()[0].text());
    const long long fence_ttl = probe.integer({"PTTL", fence});
    EXPECT_GT(fence_ttl, 0);
    EXPECT_LE(fence_ttl, 60000);
    // The reply stream's time to live is the gateways' too, refreshed by the reader.
    auto streams = connection->command({"KEYS", probe.keys.reply("*")});
    ASSERT_TRUE(streams && streams->value().size() == 1);
    const long long reply_ttl = probe.integer({"TTL", streams->value()[0].text()});
    EXPECT_GT(reply_ttl, 0);
    EXPECT_LE(reply_ttl, 3);
    EXPECT_EQ(testing::expect_job_error([&] { blocker.get(); }).kind(), ErrorKind::timeout);
}

}  // namespace
}  // namespace warmpool
