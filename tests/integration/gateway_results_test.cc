// warmpool-gateway with real hosts (warmpoold + gateway processes) and a real redis-server: jobs
// XADDed to the stream get exactly one right reply, from any host; what cannot be run is
// answered with its typed error; hostile entries are answered bad_request or dropped and counted
// while the gateways keep serving; the heartbeat says what the spec says it says.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <cstring>
#include <set>
#include <string>

#include "redis_server.hpp"
#include "scale_out_hosts.hpp"
#include "warmpool/client.hpp"
#include "warmpool/common/shm_layout.hpp"
#include "warmpool/error_kind.hpp"
#include "wire_jobs.hpp"

namespace warmpool {
namespace {

using namespace std::chrono_literals;
using testing::gateway_settings;
using testing::GatewaySettings;
using testing::ScaleOutHosts;
using testing::wait_until;
using testing::WireJob;
using testing::WireJobs;

constexpr std::uint32_t kJson = kJobJson;

// The gateway pid a reply's "by" names ("<host>:<pool>:<pid>:<start ms>").
std::string gateway_pid_of(const std::string& by) {
    const auto end = by.rfind(':');
    const auto start = by.rfind(':', end - 1);
    return by.substr(start + 1, end - start - 1);
}

std::int64_t brute_gcd(std::int64_t a, std::int64_t b) { return b == 0 ? a : brute_gcd(b, a % b); }

TEST(GatewayResults, RightResultsThroughThreeHostsSpreadOverAllOfThem) {
    testing::RedisServer redis;
    ScaleOutHosts hosts(gateway_settings(redis), 3);
    WireJobs client(redis, "t");
    ASSERT_TRUE(client.wait_serving({hosts[0].gateway_pid(), hosts[1].gateway_pid(), hosts[2].gateway_pid()}, 20s));
    // Sleeping jobs so every host gets some: each has two workers and reads only what fits.
    for (int i = 0; i < 18; ++i) client.submit_json("sleep_report", "0.2");
    std::map<std::uint64_t, std::int64_t> expected;
    for (int i = 1; i <= 30; ++i) {
        const std::int64_t a = 1000 + 7 * i, b = 91 * i;
        expected[client.submit_json("gcd", "[" + std::to_string(a) + "," + std::to_string(b) + "]")] = brute_gcd(a, b);
    }
    const auto& replies = client.read_all(30s);
    ASSERT_EQ(client.answered(), client.submitted());
    std::set<std::string> gateways;
    for (const auto& [seq, list] : replies) {
        ASSERT_EQ(list.size(), 1U) << "job " << seq << " got " << list.size() << " replies";
        const auto& r = list[0];
        ASSERT_EQ(r.status, 0) << r.body;
        EXPECT_EQ(r.flags & kJson, kJson) << "a JSON job's result is JSON";
        if (expected.contains(seq)) {
            EXPECT_EQ(nlohmann::json::parse(r.body).get<std::int64_t>(), expected[seq]);
        }
        gateways.insert(gateway_pid_of(r.by));
    }
    std::set<std::string> pids;
    for (std::size_t i = 0; i < hosts.size(); ++i) pids.insert(std::to_string(hosts[i].gateway_pid()));
    EXPECT_EQ(gateways, pids) << "every host served some of the jobs";
    auto length = client.redis().command({"XLEN", client.keys().jobs()});
    ASSERT_TRUE(length);
    EXPECT_EQ(length->value().integer(), 0) << "finished entries are deleted";
}

TEST(GatewayResults, WhatCannotRunIsAnsweredWithItsTypedError) {
    testing::RedisServer redis;
    ScaleOutHosts hosts(gateway_settings(redis), 1);
    WireJobs client(redis, "t");
    const auto unknown = client.submit_json("no_such_function", "1");
    const auto failing = client.submit_json("fail", "\"boom\"");
    WireJob late{"gcd", "[4,6]"};
    late.deadline_ms = 1'000;  // 1970: passed long ago
    const auto expired = client.submit(late);
    WireJob pickled{"gcd", "not a pickle"};
    pickled.flags = 8;  // kJobPickle, and this gateway was not told to trust pickle
    const auto pickle = client.submit(pickled);
    WireJob slow{"sleep_report", "5"};
    slow.timeout_ms = 200;
    const auto timed_out = client.submit(slow);
    client.read_all(20s);
    ASSERT_EQ(client.not_exactly_once(), "");
    const auto& r = client.replies();
    EXPECT_EQ(r.at(unknown)[0].status, static_cast<int>(ErrorKind::unknown_function)) << r.at(unknown)[0].body;
    EXPECT_EQ(r.at(failing)[0].status, static_cast<int>(ErrorKind::handler_error));
    EXPECT_NE(r.at(failing)[0].body.find("boom"), std::string::npos);
    EXPECT_EQ(r.at(expired)[0].status, static_cast<int>(ErrorKind::deadline_exceeded));
    EXPECT_EQ(r.at(pickle)[0].status, static_cast<int>(ErrorKind::permission));
    EXPECT_EQ(r.at(timed_out)[0].status, static_cast<int>(ErrorKind::timeout));
}

TEST(GatewayResults, HostileEntriesAreAnsweredOrDroppedAndCountedWhileTheGatewayServes) {
    testing::RedisServer redis;
    ScaleOutHosts hosts(gateway_settings(redis), 2);
    WireJobs client(redis, "t");
    const std::string c = client.client();
    auto entry = [&](std::uint64_t seq) {
        return std::vector<std::pair<std::string, std::string>>{
            {"job", c + "-" + std::to_string(seq)}, {"client", c}, {"fn", "gcd"}, {"flags", "1"},
            {"fp", "0"}, {"arg", "[4,6]"}, {"timeout_ms", "0"}, {"deadline_ms", "0"}, {"prio", "0"}, {"attempts", "0"}};
    };
    auto set = [](auto fields, const std::string& name, const std::string& value) {
        for (auto& [k, v] : fields) {
            if (k == name) v = value;
        }
        return fields;
    };
    // Answerable: sound client and job id, something else wrong.
    std::vector<std::uint64_t> bad_requests;
    for (const auto& [name, value] : std::vector<std::pair<std::string, std::string>>{
             {"timeout_ms", "99999999999999999999999"}, {"prio", "100"}, {"flags", "4"}, {"fp", "-1"},
             {"attempts", "1e9"}, {"fn", std::string(300, 'x')}, {"deadline_ms", "soon"}}) {
        const auto seq = client.next_seq();
        client.add(set(entry(seq), name, value));
        bad_requests.push_back(seq);
    }
    // Unanswerable: no client to answer, or a job id that is not the client's.
    client.add(set(entry(999), "client", "../../../etc/x"));
    client.add(set(entry(999), "client", "0123456789ABCDEF"));
    client.add(set(entry(999), "job", "0000000000000000-1"));
    client.add({{"garbage", "only"}});
    // And good jobs around them.
    const auto good = client.submit_json("gcd", "[12,18]");
    client.read_all(20s);
    EXPECT_EQ(client.not_exactly_once(), "");
    for (auto seq : bad_requests) {
        ASSERT_TRUE(client.replies().contains(seq)) << seq;
        EXPECT_EQ(client.replies().at(seq)[0].status, static_cast<int>(ErrorKind::bad_request)) << seq;
    }
    EXPECT_EQ(client.replies().at(good)[0].body, "6");
    EXPECT_TRUE(wait_until([&] { return client.stat("dropped_entries") == 4; }, 10s)) << client.stat("dropped_entries");
    auto length = client.redis().command({"XLEN", client.keys().jobs()});
    ASSERT_TRUE(length);
    EXPECT_EQ(length->value().integer(), 0) << "every entry, good or bad, is removed";
    for (std::size_t i = 0; i < hosts.size(); ++i) EXPECT_TRUE(hosts[i].gateway_running()) << "the gateways serve on";
    EXPECT_EQ(client.submit_json("gcd", "[9,6]"), good + 1);
    client.read_all(20s);
    EXPECT_EQ(client.replies().at(good + 1)[0].body, "3");
}

TEST(GatewayResults, TheHeartbeatCarriesTheGatewaysStatus) {
    testing::RedisServer redis;
    ScaleOutHosts hosts(gateway_settings(redis), 1);
    WireJobs client(redis, "t");
    client.submit_json("gcd", "[12,18]");
    client.read_all(20s);
    std::string consumer;
    ASSERT_TRUE(wait_until([&] { return !(consumer = client.consumer_of(hosts[0].gateway_pid())).empty(); }, 10s));
    nlohmann::json beat;
    ASSERT_TRUE(wait_until(
        [&] {
            const std::string text = client.heartbeat(consumer);
            if (text.empty()) return false;
            beat = nlohmann::json::parse(text);
            return beat["finished"] == 1 && beat["workers"]["total"] == 2;
        },
        10s))
        << beat.dump();
    EXPECT_EQ(beat["name"], consumer);
    EXPECT_EQ(beat["pool"], hosts[0].pool().name());
    EXPECT_EQ(beat["pid"], hosts[0].gateway_pid());
    EXPECT_EQ(beat["lease_ms"], 1000);
    EXPECT_EQ(beat["capacity"], hosts[0].pool().connect().worker_slots()) << "the pool's worker slots by default";
    EXPECT_EQ(beat["received"], 1);
    EXPECT_EQ(beat["in_flight"], 0);
    EXPECT_EQ(beat["pool_reachable"], true);
    EXPECT_EQ(beat["workers"]["slots"], beat["capacity"]);
    for (const char* key : {"host", "started_ms", "now_ms", "claims", "requeued", "poisoned", "duplicates_dropped",
                            "late_after_cancel", "lost", "redis_reconnects"}) {
        EXPECT_TRUE(beat.contains(key)) << key;
    }
    auto ttl = client.redis().command({"PTTL", client.keys().gateway(consumer)});
    ASSERT_TRUE(ttl);
    EXPECT_GT(ttl->value().integer(), 0);
    EXPECT_LE(ttl->value().integer(), 1000) << "it lapses a lease after the gateway stops";
}

// A batch record (what map() sends) is forwarded as it came and answered with the batch's results.
TEST(GatewayResults, ABatchRecordIsForwardedAsIs) {
    testing::RedisServer redis;
    ScaleOutHosts hosts(gateway_settings(redis), 1);
    WireJobs client(redis, "t");
    const std::vector<std::string> items = {"[12,18]", "[7,21]", "[100,75]"};
    std::string batch(sizeof(BatchHeader), '\0');
    const BatchHeader header{static_cast<std::uint32_t>(items.size()), 0};
    std::memcpy(batch.data(), &header, sizeof header);
    for (const auto& item : items) {
        const auto length = static_cast<std::uint32_t>(item.size());
        batch.append(reinterpret_cast<const char*>(&length), sizeof length);
        batch += item;
    }
    WireJob job{"gcd", batch};
    job.flags = kJobJson | kJobBatch;
    const auto seq = client.submit(job);
    client.read_all(20s);
    ASSERT_EQ(client.not_exactly_once(), "");
    const auto& reply = client.replies().at(seq)[0];
    ASSERT_EQ(reply.status, 0) << reply.body;
    std::vector<std::string> results(items.size());
    ASSERT_TRUE(Client::read_batch(reply.body, items.size(), [&](std::size_t i, std::uint16_t status, std::string_view bytes) {
        EXPECT_EQ(status, 0);
        results[i] = std::string(bytes);
    }));
    EXPECT_EQ(results, (std::vector<std::string>{"6", "7", "25"}));
}

TEST(GatewayResults, AGatewayAuthenticatesWithAPasswordFileAndStopsOnAWrongOne) {
    testing::RedisServerOptions options;
    options.password = "s3cret";
    testing::RedisServer redis(options);
    testing::ScratchDir dir("warmpool-gateway-auth");
    GatewaySettings good = gateway_settings(redis);
    good.extra_args = {"--redis-password-file", dir.write("good", "s3cret\n")};
    ScaleOutHosts hosts(good, 1);
    WireJobs client(redis, "t", "s3cret");
    client.submit_json("gcd", "[12,18]");
    client.read_all(20s);
    EXPECT_EQ(client.not_exactly_once(), "");

    GatewaySettings wrong = gateway_settings(redis);
    wrong.extra_args = {"--redis-password-file", dir.write("wrong", "guess\n")};
    ScaleOutHosts refused(wrong, 1);
    EXPECT_EQ(refused[0].wait_gateway_exit(20s), 1) << "refused credentials do not get better by retrying";
    EXPECT_NE(refused[0].gateway_log().find("refused the credentials"), std::string::npos) << refused[0].gateway_log();
    EXPECT_EQ(refused[0].gateway_log().find("guess"), std::string::npos) << "the password is never logged";
}

TEST(GatewayResults, UsageErrorsExit64BeforeAnythingIsTouched) {
    const std::string gateway = testing::gateway_path();
    for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
             {"--pool", "p", "--endpoint", "http://127.0.0.1/t"},
             {"--pool", "p", "--endpoint", "redis://user:secret@127.0.0.1/t"},
             {"--pool", "p", "--endpoint", "redis://127.0.0.1/t", "--lease-ms", "10"},
             {"--pool", "p", "--endpoint", "redis://127.0.0.1/t", "--no-such-option"},
             {"--endpoint", "redis://127.0.0.1/t"}}) {
        std::vector<std::string> argv{gateway};
        argv.insert(argv.end(), args.begin(), args.end());
        const auto r = testing::run_command(argv);
        EXPECT_EQ(r.exit_code, 64) << testing::describe(r);
        EXPECT_EQ(r.err.find("secret"), std::string::npos) << "a password in an endpoint is not echoed";
    }
    const auto no_pool = testing::run_command({gateway, "--pool", "nowhere-to-be-found", "--runtime-dir", "/nonexistent",
                                               "--endpoint", "redis://127.0.0.1:1/t"});
    EXPECT_EQ(no_pool.exit_code, 1) << testing::describe(no_pool);
}

}  // namespace
}  // namespace warmpool
