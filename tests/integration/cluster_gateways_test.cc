// A cluster's status (warmpool::cluster_status, `warmpool status --endpoint`, `warmpool top
// --endpoint`, its metrics) with real hosts (warmpoold + warmpool-gateway) and a real
// redis-server: two hosts show live with their pools' workers; a gateway killed with -9 while it holds jobs shows lapsed once its lease
// has run out, with the entries still pending on it; the metrics pass both parsers and promtool.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "parsed_metrics.hpp"
#include "redis_server.hpp"
#include "scale_out_hosts.hpp"
#include "test_pool.hpp"
#include "warmpool/cluster_status.hpp"
#include "wire_jobs.hpp"

namespace warmpool {
namespace {

using nlohmann::json;
using testing::CommandResult;
using testing::describe;
using testing::parse_metrics;
using testing::sample_value;
using namespace std::chrono_literals;

// The report's entry for the gateway `name`, or null.
json gateway_in(const json& report, const std::string& name) {
    for (const auto& g : report["gateways"]) {
        if (g["name"] == name) return g;
    }
    return nullptr;
}

// The line of `text` that starts with `prefix`, or "".
std::string line_starting(const std::string& text, const std::string& prefix) {
    std::size_t at = text.rfind("\n" + prefix);
    if (at == std::string::npos) return {};
    at += 1;
    return text.substr(at, text.find('\n', at) - at);
}

TEST(ClusterGateways, LiveHostsThenAKilledGatewayShowsLapsedWithTheEntriesPendingOnIt) {
    testing::RedisServer redis;
    // Each takes two jobs, so the other cannot claim the dead one's at once.
    testing::ScaleOutHosts hosts(testing::gateway_settings(redis, 2), 2, 2);
    testing::WireJobs client(redis, "t");
    const std::string endpoint = redis.endpoint("t");

    std::string names[2];
    ASSERT_TRUE(testing::wait_until(
        [&] {
            for (int i = 0; i < 2; ++i) names[i] = client.consumer_of(hosts[i].gateway_pid());
            return !names[0].empty() && !names[1].empty();
        },
        20s))
        << hosts.logs();

    // Both live, each with its pool's two workers.
    json report;
    const bool both_live = testing::wait_until(
        [&] {
            report = json::parse(cluster_status(endpoint));
            for (const auto& name : names) {
                const json g = gateway_in(report, name);
                if (g.is_null() || g["state"] != "live" || g["workers"]["total"] != 2) return false;
            }
            return true;
        },
        20s);
    ASSERT_TRUE(both_live) << report.dump(2) << hosts.logs();
    for (int i = 0; i < 2; ++i) {
        const json g = gateway_in(report, names[i]);
        EXPECT_EQ(g["pool"], hosts[i].pool().name());
        EXPECT_EQ(g["pid"], hosts[i].gateway_pid());
        EXPECT_EQ(g["capacity"], 2);
        EXPECT_EQ(g["pool_reachable"], true);
    }
    EXPECT_EQ(report["totals"]["live"], 2);
    EXPECT_EQ(report["totals"]["workers"]["total"], 4);

    // Four long jobs: two on each gateway, which then has no room for more.
    for (int i = 0; i < 4; ++i) client.submit_json("sleep_report", "20");
    ASSERT_TRUE(testing::wait_until(
        [&] {
            report = json::parse(cluster_status(endpoint));
            return gateway_in(report, names[0])["pending"] == 2 && gateway_in(report, names[1])["pending"] == 2 &&
                   gateway_in(report, names[1])["workers"]["busy"] == 2;
        },
        20s))
        << report.dump(2) << hosts.logs();
    CommandResult text = testing::run_command({testing::warmpool_cli_path(), "status", "--endpoint", endpoint});
    ASSERT_EQ(text.exit_code, 0) << describe(text);
    for (int i = 0; i < 2; ++i) {
        const std::string line = line_starting(text.out, names[i] + " ");
        EXPECT_NE(line.find(" live "), std::string::npos) << text.out;
        EXPECT_NE(line.find(" " + hosts[i].pool().name() + " "), std::string::npos) << text.out;
    }
    // top shows the same gateways, under its title; -p takes the endpoint as --endpoint does.
    for (const std::vector<std::string>& where :
         {std::vector<std::string>{"--endpoint", endpoint}, std::vector<std::string>{"-p", endpoint}}) {
        std::vector<std::string> argv = {testing::warmpool_cli_path()};
        argv.insert(argv.end(), where.begin(), where.end());
        argv.insert(argv.end(), {"top", "--once"});
        CommandResult top = testing::run_command(argv);
        ASSERT_EQ(top.exit_code, 0) << describe(top);
        EXPECT_TRUE(top.out.starts_with("warmpool top - cluster t, read at ")) << top.out;
        EXPECT_TRUE(testing::contains(top.out, "2 gateways, 2 live, 0 lapsed")) << top.out;
        for (int i = 0; i < 2; ++i) {
            const std::string line = line_starting(top.out, names[i] + " ");
            EXPECT_NE(line.find(" live "), std::string::npos) << top.out;
            EXPECT_NE(line.find(" " + hosts[i].pool().name() + " "), std::string::npos) << top.out;
        }
    }
    // Without a terminal, frame after frame: the cluster read again for each.
    CommandResult frames =
        testing::run_command({testing::warmpool_cli_path(), "--endpoint", endpoint, "top", "--frames", "2"});
    ASSERT_EQ(frames.exit_code, 0) << describe(frames);
    std::size_t titles = 0;
    for (std::size_t at = 0; (at = frames.out.find("warmpool top - cluster t, read at ", at)) != std::string::npos; ++at)
        ++titles;
    EXPECT_EQ(titles, 2U) << frames.out;
    EXPECT_NE(line_starting(frames.out, names[1] + " ").find(" live "), std::string::npos) << frames.out;

    // Killed: its heartbeat lapses after the lease; its two entries stay pending on it, since
    // the other gateway is full.
    hosts[0].kill9_gateway();
    ASSERT_TRUE(testing::wait_until(
        [&] {
            report = json::parse(cluster_status(endpoint));
            return gateway_in(report, names[0])["state"] == "lapsed";
        },
        20s))
        << report.dump(2);
    const json dead = gateway_in(report, names[0]);
    EXPECT_EQ(dead["pending"], 2) << report.dump(2);
    EXPECT_FALSE(dead.contains("workers"));
    const json alive = gateway_in(report, names[1]);
    EXPECT_EQ(alive["state"], "live");
    EXPECT_EQ(alive["in_flight"], 2);
    EXPECT_EQ(report["totals"]["live"], 1);
    EXPECT_EQ(report["totals"]["lapsed"], 1);
    EXPECT_EQ(report["totals"]["pending"], 4);

    text = testing::run_command({testing::warmpool_cli_path(), "status", "--endpoint", endpoint});
    ASSERT_EQ(text.exit_code, 0) << describe(text);
    const std::string dead_line = line_starting(text.out, names[0] + " ");
    EXPECT_NE(dead_line.find(" lapsed "), std::string::npos) << text.out;
    EXPECT_TRUE(testing::contains(text.out, "1 live, 1 lapsed")) << text.out;

    CommandResult prometheus =
        testing::run_command({testing::warmpool_cli_path(), "status", "--endpoint", endpoint, "--prometheus"});
    ASSERT_EQ(prometheus.exit_code, 0) << describe(prometheus);
    const json families = parse_metrics("prometheus", prometheus.out);
    EXPECT_EQ(sample_value(families, "warmpool_cluster_gateway_up", {{"cluster", "t"}, {"gateway", names[0]}}), 0);
    EXPECT_EQ(sample_value(families, "warmpool_cluster_pending", {{"cluster", "t"}, {"gateway", names[0]}}), 2);
    EXPECT_EQ(sample_value(families, "warmpool_cluster_workers",
                           {{"cluster", "t"}, {"gateway", names[1]}, {"state", "busy"}}),
              2);
    EXPECT_EQ(sample_value(families, "warmpool_cluster_hosts", {{"cluster", "t"}, {"state", "lapsed"}}), 1);
    CommandResult lint = testing::run_command({"/usr/bin/promtool", "check", "metrics"}, prometheus.out);
    EXPECT_EQ(lint.exit_code, 0) << describe(lint);
    EXPECT_EQ(lint.out + lint.err, "") << prometheus.out;
    CommandResult open =
        testing::run_command({testing::warmpool_cli_path(), "status", "--endpoint", endpoint, "--openmetrics"});
    ASSERT_EQ(open.exit_code, 0) << describe(open);
    EXPECT_EQ(parse_metrics("openmetrics", open.out).size(), families.size());

    // Not the graceful stop, which would wait for the sleeping jobs.
    for (std::size_t i = 0; i < hosts.size(); ++i) hosts[i].kill9();
}

}  // namespace
}  // namespace warmpool
