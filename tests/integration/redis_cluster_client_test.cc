// warmpool::Client on a scale-out cluster: a real redis-server and real hosts (warmpoold plus
// warmpool-gateway, tests/support/scale_out_hosts.hpp). Results of submit, call, map, map_json
// and submit_json; typed errors; a cancel before the job started and a forced cancel of a
// running one, each the job's one outcome; the completion queue an executor uses; the CLI's
// --endpoint; and a client killed mid-stream, whose reply stream stays bounded and expires
// while the other clients are served.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "expect_job_error.hpp"
#include "redis_server.hpp"
#include "scale_out_hosts.hpp"
#include "scratch_dir.hpp"
#include "warmpool/client.hpp"
#include "warmpool/redis/redis_layout.hpp"

namespace warmpool {
namespace {

using namespace std::chrono_literals;
using Pair = std::pair<std::int64_t, std::int64_t>;
using testing::expect_job_error;
using testing::ScaleOutHosts;
using testing::wait_until;

std::int64_t gcd_of(std::int64_t a, std::int64_t b) { return b == 0 ? a : gcd_of(b, a % b); }

long long integer(RedisConnection& redis, const std::vector<std::string_view>& command) {
    auto reply = redis.command(command);
    return reply ? reply->value().as_integer().value_or(-1) : -1;
}

std::vector<std::string> keys_like(RedisConnection& redis, const std::string& pattern) {
    std::vector<std::string> out;
    auto reply = redis.command({"KEYS", pattern});
    if (reply) {
        for (std::size_t i = 0; i < reply->value().size(); ++i) out.emplace_back(reply->value()[i].text());
    }
    return out;
}

// A cluster "t" of `hosts` hosts with `workers` workers each, its gateways' heartbeats in Redis
// (so that a client sees their capacity) before it is used.
struct Cluster {
    explicit Cluster(unsigned hosts, unsigned workers = 2, unsigned capacity = 0, std::vector<std::string> extra = {},
                     testing::RedisServerOptions redis_options = {})
        : server(std::move(redis_options)),
          hosts_(testing::gateway_settings(server, capacity, std::move(extra)), hosts, workers),
          redis(server.connect()) {
        const bool up = wait_until([&] { return keys_like(redis, keys.gateway("*")).size() == hosts; }, 30s);
        if (!up) ADD_FAILURE() << "the gateways did not come up:\n" << hosts_.logs();
    }
    Client client() const { return Client::connect(server.endpoint("t")); }
    long long stat(std::string_view name) {
        auto reply = redis.command({"HGET", keys.stats(), name});
        return reply && !reply->value().is_nil() ? reply->value().as_integer().value_or(-1) : 0;
    }
    long long pending() {
        auto reply = redis.command({"XPENDING", keys.jobs(), redis_layout::kGroup});
        return reply ? reply->value()[0].integer() : -1;
    }

    testing::RedisServer server;
    ScaleOutHosts hosts_;
    RedisConnection redis;
    redis_layout::Keys keys{"t"};
};

TEST(RedisClusterClientTest, ResultsComeBackRightThroughEveryPath) {
    Cluster cluster(2);
    Client client = cluster.client();
    EXPECT_EQ(client.pool_name(), "t");
    EXPECT_GE(client.worker_slots(), 4u) << "two gateways' capacity";

    EXPECT_EQ(client.call<std::int64_t>("gcd", Pair{12, 18}), 6);
    EXPECT_EQ(client.submit<std::int64_t>("gcd", Pair{35, 21}).get(), 7);
    EXPECT_EQ(client.submit_json("gcd", "[1071, 462]").get(), "21");

    std::vector<Pair> pairs;
    for (std::int64_t i = 1; i <= 3000; ++i) pairs.emplace_back(1000 + 7 * i, 91 * i);
    const auto gcds = client.map<std::int64_t>("gcd", pairs);
    ASSERT_EQ(gcds.size(), pairs.size());
    for (std::size_t i = 0; i < pairs.size(); ++i) ASSERT_EQ(gcds[i], gcd_of(pairs[i].first, pairs[i].second)) << i;

    std::vector<std::string> json;
    for (int i = 1; i <= 500; ++i) json.push_back("[" + std::to_string(6 * i) + ", " + std::to_string(4 * i) + "]");
    json.push_back("\"not a pair\"");
    const auto items = client.map_json("gcd", json, MapOptions{.chunk_size = 16});
    ASSERT_EQ(items.size(), json.size());
    for (int i = 1; i <= 500; ++i) ASSERT_TRUE(items[i - 1].ok && items[i - 1].value == std::to_string(2 * i)) << i;
    EXPECT_FALSE(items.back().ok);

    // What the reader has read is trimmed from the reply stream, and the stream is kept alive.
    const auto streams = keys_like(cluster.redis, cluster.keys.reply("*"));
    ASSERT_EQ(streams.size(), 1u);
    EXPECT_TRUE(wait_until([&] { return integer(cluster.redis, {"XLEN", streams[0]}) <= 1; }, 10s));
    EXPECT_GT(integer(cluster.redis, {"TTL", streams[0]}), 0);
    EXPECT_EQ(integer(cluster.redis, {"XLEN", cluster.keys.jobs()}), 0);
}

TEST(RedisClusterClientTest, FailuresAreTypedJobErrors) {
    Cluster cluster(1);
    Client client = cluster.client();
    auto failed = expect_job_error([&] { client.call<std::string>("fail", std::string("boom")); });
    EXPECT_EQ(failed.kind(), ErrorKind::handler_error);
    EXPECT_NE(failed.message().find("boom"), std::string::npos);
    EXPECT_EQ(expect_job_error([&] { client.call<std::int64_t>("no_such_function", 1); }).kind(),
              ErrorKind::unknown_function);
    EXPECT_EQ(expect_job_error([&] { client.call<std::int64_t>("gcd", std::string("12,18")); }).kind(),
              ErrorKind::type_mismatch);
    CallOptions short_run;
    short_run.timeout = 300ms;
    EXPECT_EQ(expect_job_error([&] { client.call<std::int64_t>("hang", std::int64_t{0}, short_run); }).kind(),
              ErrorKind::timeout);
    CallOptions too_late;
    too_late.deadline = std::chrono::steady_clock::now() - 1s;
    EXPECT_EQ(expect_job_error([&] { client.call<std::int64_t>("gcd", Pair{4, 6}, too_late); }).kind(),
              ErrorKind::deadline_exceeded);
    // wait_for gives up without resolving anything.
    auto slow = client.submit<std::int64_t>("hang", std::int64_t{0}, short_run);
    EXPECT_FALSE(slow.wait_for(20ms));
    EXPECT_EQ(expect_job_error([&] { slow.get(); }).kind(), ErrorKind::timeout);
}

TEST(RedisClusterClientTest, CancelsBeforeTheStartAndOfARunningJobAreEachTheJobsOneOutcome) {
    // One worker, room for one job: a second job waits in the stream.
    Cluster cluster(1, 1, 1);
    Client client = cluster.client();
    CallOptions three_seconds;
    three_seconds.timeout = 3s;
    auto blocker = client.submit<std::int64_t>("hang", std::int64_t{0}, three_seconds);
    ASSERT_TRUE(wait_until([&] { return cluster.pending() == 1; }, 20s));
    auto queued = client.submit<std::int64_t>("gcd", Pair{12, 18});
    queued.cancel();
    EXPECT_EQ(expect_job_error([&] { queued.get(); }).kind(), ErrorKind::cancelled);
    EXPECT_EQ(expect_job_error([&] { blocker.get(); }).kind(), ErrorKind::timeout);
    EXPECT_EQ(cluster.stat(redis_layout::stat::late_after_cancel), 0) << "the queued job never ran";

    // Forced, while it runs: the client's cancel is the outcome; the gateway's is dropped.
    auto running = client.submit<std::int64_t>("hang", std::int64_t{0});
    ASSERT_TRUE(wait_until([&] { return cluster.pending() == 1; }, 20s));
    std::this_thread::sleep_for(100ms);  // from the gateway into the local pool's worker
    running.cancel(true);
    EXPECT_EQ(expect_job_error([&] { running.get(); }).kind(), ErrorKind::cancelled);
    EXPECT_TRUE(wait_until([&] { return cluster.stat(redis_layout::stat::late_after_cancel) == 1; }, 20s))
        << cluster.hosts_.logs();
    // The host serves on (the stopped worker replaced).
    EXPECT_EQ(client.call<std::int64_t>("gcd", Pair{12, 18}), 6);
    EXPECT_EQ(cluster.stat(redis_layout::stat::duplicates_dropped), 0);
}

TEST(RedisClusterClientTest, WatchedJobsAreQueuedOnceEachAsTheyFinish) {
    Cluster cluster(2);
    Client client = cluster.client();
    std::vector<RawFuture> futures;
    std::set<std::uint64_t> ids;
    for (int i = 1; i <= 60; ++i) {
        futures.push_back(client.submit_json("gcd", "[" + std::to_string(3 * i) + ", 9]"));
        ids.insert(futures.back().id());
        client.watch(futures.back());
    }
    std::vector<std::uint64_t> done;
    const auto give_up = std::chrono::steady_clock::now() + 60s;
    while (done.size() < futures.size() && std::chrono::steady_clock::now() < give_up) {
        client.wait_completions(done, 1s);
    }
    ASSERT_EQ(done.size(), futures.size());
    EXPECT_EQ(std::set<std::uint64_t>(done.begin(), done.end()), ids);
    for (const auto& f : futures) EXPECT_TRUE(f.ready());
    // A watcher with nothing to wait for is woken by wake_completions().
    std::thread waker([&] {
        std::this_thread::sleep_for(50ms);
        client.wake_completions();
    });
    std::vector<std::uint64_t> none;
    EXPECT_EQ(client.wait_completions(none, -1ns), 0u);
    waker.join();
}

TEST(RedisClusterClientTest, TheCommandLineTakesAnEndpoint) {
    Cluster cluster(1);
    const std::string cli = testing::warmpool_cli_path();
    const std::string endpoint = cluster.server.endpoint("t");
    auto call = testing::run_command({cli, "--endpoint", endpoint, "call", "gcd", "[12, 18]"});
    EXPECT_EQ(call.exit_code, 0) << testing::describe(call);
    EXPECT_EQ(call.out, "6\n");
    auto map = testing::run_command({cli, "map", "gcd", "--endpoint", endpoint}, "[4, 6]\n[9, 12]\n");
    EXPECT_EQ(map.exit_code, 0) << testing::describe(map);
    EXPECT_EQ(map.out, "2\n3\n");
    auto stop = testing::run_command({cli, "--endpoint", endpoint, "stop"});
    EXPECT_NE(stop.exit_code, 0);
    EXPECT_NE(stop.err.find("local pool"), std::string::npos) << stop.err;
}

TEST(RedisClusterClientTest, AClientKilledMidStreamLeavesABoundedExpiringStreamAndOthersServed) {
    Cluster cluster(2, 2, 0, {"--reply-ttl", "3", "--reply-cap", "20"});
    testing::ScratchDir dir("redis-killed");
    {
        std::ofstream lines(dir.path("in"));
        for (int i = 0; i < 400; ++i) lines << "0.02\n";
    }
    const std::string cli = testing::warmpool_cli_path();
    const std::string endpoint = cluster.server.endpoint("t");
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        const std::string in = dir.path("in");
        if (std::freopen(in.c_str(), "r", stdin) == nullptr || std::freopen("/dev/null", "w", stdout) == nullptr) {
            ::_exit(97);
        }
        ::execl(cli.c_str(), cli.c_str(), "--endpoint", endpoint.c_str(), "map", "sleep_report", "--chunk", "2",
                "--no-progress", static_cast<char*>(nullptr));
        ::_exit(127);
    }
    // Killed once its replies flow.
    const bool flowing = wait_until([&] { return !keys_like(cluster.redis, cluster.keys.reply("*")).empty(); }, 30s);
    ::kill(child, SIGKILL);
    ::waitpid(child, nullptr, 0);
    ASSERT_TRUE(flowing) << cluster.hosts_.logs();
    {
        // The others are served meanwhile, and their own stream goes when they close.
        Client other = cluster.client();
        for (int i = 1; i <= 20; ++i) EXPECT_EQ(other.call<std::int64_t>("gcd", Pair{6 * i, 4 * i}), 2 * i);
    }
    // The dead client's batches finish into its stream, which stays short and then expires.
    ASSERT_TRUE(wait_until(
        [&] { return cluster.pending() == 0 && integer(cluster.redis, {"XLEN", cluster.keys.jobs()}) == 0; }, 60s));
    const auto streams = keys_like(cluster.redis, cluster.keys.reply("*"));
    ASSERT_EQ(streams.size(), 1u);
    EXPECT_LE(integer(cluster.redis, {"XLEN", streams[0]}), 20 + 100);  // MAXLEN ~ trims whole nodes
    const long long ttl = integer(cluster.redis, {"TTL", streams[0]});
    EXPECT_GT(ttl, 0);
    EXPECT_LE(ttl, 3);
    EXPECT_TRUE(wait_until([&] { return keys_like(cluster.redis, cluster.keys.reply("*")).empty(); }, 15s));
}

TEST(RedisClusterClientTest, FuturesSurviveARedisRestart) {
    Cluster cluster(1, 2, 0, {}, testing::RedisServerOptions{.append_only = true});
    Client client = cluster.client();
    EXPECT_EQ(client.call<std::int64_t>("gcd", Pair{12, 18}), 6);
    RawFuture slow = client.submit_json("sleep_report", "1.5");
    ASSERT_TRUE(wait_until([&] { return cluster.pending() == 1; }, 20s));
    cluster.server.restart();  // killed -9, then started on the same port from its append-only file
    // The gateway finishes the job once Redis is back; the reader reconnects and reads it.
    ASSERT_TRUE(slow.wait_for(60s)) << cluster.hosts_.logs();
    EXPECT_EQ(slow.status(), 0) << slow.reply();
    EXPECT_NE(std::string(slow.reply()).find("slept"), std::string::npos) << slow.reply();
    // The submitting connection comes back too.
    EXPECT_EQ(client.call<std::int64_t>("gcd", Pair{35, 21}), 7);
}

}  // namespace
}  // namespace warmpool
