// Gateways and hosts killed, stalled and replaced at random while jobs flow: afterwards every job
// has exactly one reply, and the right one.
//
// The normal suite runs one short round (a few seconds). WARMPOOL_GATEWAY_CHAOS_SECONDS=N (at
// most 1800) runs for N seconds; WARMPOOL_GATEWAY_CHAOS_SEED=S repeats a run's choices.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <random>
#include <string>

#include "redis_server.hpp"
#include "scale_out_hosts.hpp"
#include "wire_jobs.hpp"

namespace warmpool {
namespace {

using namespace std::chrono_literals;
using testing::ScaleOutHosts;
using testing::WireJobs;

constexpr long kMaxSeconds = 1800;

TEST(GatewayChaos, EveryJobGetsExactlyOneRightReplyWhileGatewaysAndHostsFail) {
    const char* seconds_env = std::getenv("WARMPOOL_GATEWAY_CHAOS_SECONDS");
    const long seconds = std::clamp(seconds_env != nullptr ? std::strtol(seconds_env, nullptr, 10) : 4L, 1L, kMaxSeconds);
    const char* seed_env = std::getenv("WARMPOOL_GATEWAY_CHAOS_SEED");
    const std::uint64_t seed = seed_env != nullptr ? std::strtoull(seed_env, nullptr, 10) : std::random_device{}();
    std::printf("gateway chaos: %ld s, seed %llu\n", seconds, static_cast<unsigned long long>(seed));
    std::mt19937_64 random(seed);
    auto chance = [&](int percent) { return static_cast<int>(random() % 100) < percent; };

    testing::RedisServer redis;
    ScaleOutHosts hosts(testing::gateway_settings(redis, 2), 3);
    WireJobs client(redis, "t");
    std::map<std::uint64_t, std::string> expected;  // seq -> the result's JSON ("" for sleeps)
    std::vector<bool> dead(hosts.size(), false);
    unsigned kills = 0, stalls = 0, host_kills = 0;

    const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
    while (std::chrono::steady_clock::now() < end) {
        for (int i = 0; i < 8; ++i) {
            if (chance(50)) {
                const std::int64_t a = static_cast<std::int64_t>(random() % 1000) + 1, b = static_cast<std::int64_t>(random() % 1000) + 1;
                std::int64_t x = a, y = b;
                while (y != 0) x = std::exchange(y, x % y);
                expected[client.submit_json("gcd", "[" + std::to_string(a) + "," + std::to_string(b) + "]")] = std::to_string(x);
            } else {
                expected[client.submit_json("sleep_report", "0." + std::to_string(random() % 4))] = "";
            }
        }
        const std::size_t victim = random() % hosts.size();
        if (!dead[victim]) {
            auto& host = hosts[victim];
            if (chance(30)) {
                host.kill9_gateway();  // and back, as a new consumer
                host.start_gateway();
                ++kills;
            } else if (chance(30)) {
                host.stop_gateway();
                std::this_thread::sleep_for(std::chrono::milliseconds(500 + random() % 1500));
                host.continue_gateway();
                ++stalls;
            } else if (chance(10) && host_kills == 0) {
                host.kill9();  // the whole host, replaced by a new one
                dead[victim] = true;
                hosts.add();
                dead.push_back(false);
                ++host_kills;
            }
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(200 + random() % 600));
    }
    client.read_all(60s, 2s);
    std::printf("gateway chaos: %llu jobs, %u gateway kills, %u stalls, %u host kills; claims %lld, "
                "duplicates dropped %lld, requeued %lld\nrepeat: WARMPOOL_GATEWAY_CHAOS_SECONDS=%ld "
                "WARMPOOL_GATEWAY_CHAOS_SEED=%llu\n",
                static_cast<unsigned long long>(client.submitted()), kills, stalls, host_kills, client.stat("claims"),
                client.stat("duplicates_dropped"), client.stat("requeued"), seconds, static_cast<unsigned long long>(seed));
    EXPECT_EQ(client.not_exactly_once(), "") << "jobs with other than one reply (seq:count)";
    for (const auto& [seq, list] : client.replies()) {
        ASSERT_FALSE(list.empty());
        EXPECT_EQ(list[0].status, 0) << "job " << seq << ": " << list[0].body;
        if (!expected[seq].empty()) {
            EXPECT_EQ(list[0].body, expected[seq]) << "job " << seq;
        }
    }
}

}  // namespace
}  // namespace warmpool
