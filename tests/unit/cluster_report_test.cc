// Tests for the cluster status report (client/src/cluster_report.hpp), assembled from readings
// made by hand as Redis would answer them: live and lapsed gateways, pending entries per consumer,
// the stream's group, the stats hash, and what others may have written there (heartbeats that
// are not JSON, fields of the wrong type, text that is not UTF-8).

#include "../../client/src/cluster_report.hpp"

#include <gtest/gtest.h>

#include <string>

namespace warmpool::detail {
namespace {

using nlohmann::json;

std::string heartbeat(const std::string& name, int total, int idle, int busy, int in_flight) {
    return json{{"name", name},
                {"host", "box-" + name},
                {"pool", "default"},
                {"pid", 123},
                {"started_ms", 1000},
                {"now_ms", 5000},
                {"lease_ms", 5000},
                {"capacity", 4},
                {"in_flight", in_flight},
                {"received", 10},
                {"finished", 8},
                {"claims", 2},
                {"requeued", 1},
                {"poisoned", 0},
                {"duplicates_dropped", 3},
                {"late_after_cancel", 0},
                {"lost", 1},
                {"redis_reconnects", 0},
                {"pool_reachable", true},
                {"workers", {{"total", total}, {"idle", idle}, {"busy", busy}, {"starting", 0}, {"slots", 4}}}}
        .dump();
}

ClusterReadings two_hosts_one_lapsed() {
    ClusterReadings r;
    r.cluster = "c1";
    r.endpoint = "redis://127.0.0.1:6379/c1";
    r.now_ms = 6000;
    r.gateways = {"b", "a"};
    r.heartbeats = {{"a", heartbeat("a", 2, 1, 1, 2)}};  // b's key has expired
    r.stream_length = 7;
    r.group = GroupReading{"gateways", 2, 5, "1-9", 9, 2};
    r.pending = {{"a", 2}, {"b", 3}};
    r.stats = {{"claims", "4"}, {"duplicates_dropped", "1"}};
    return r;
}

const json* gateway(const json& report, const std::string& name) {
    for (const auto& g : report["gateways"]) {
        if (g["name"] == name) return &g;
    }
    return nullptr;
}

TEST(ClusterReport, LiveGatewaysCarryTheirHeartbeatAndLapsedOnesTheirPendingEntries) {
    const json report = cluster_report(two_hosts_one_lapsed());
    EXPECT_EQ(report["cluster"], "c1");
    EXPECT_EQ(report["endpoint"], "redis://127.0.0.1:6379/c1");
    ASSERT_EQ(report["gateways"].size(), 2U);
    EXPECT_EQ(report["gateways"][0]["name"], "a") << "sorted by name, whatever order SMEMBERS gave";

    const json& a = *gateway(report, "a");
    EXPECT_EQ(a["state"], "live");
    EXPECT_EQ(a["listed"], true);
    EXPECT_EQ(a["pending"], 2);
    EXPECT_EQ(a["host"], "box-a");
    EXPECT_EQ(a["pool"], "default");
    EXPECT_EQ(a["pid"], 123);
    EXPECT_EQ(a["heartbeat_ms"], 5000);
    EXPECT_EQ(a["capacity"], 4U);
    EXPECT_EQ(a["in_flight"], 2U);
    EXPECT_EQ(a["pool_reachable"], true);
    EXPECT_EQ(a["workers"], json::parse(R"({"total":2,"idle":1,"busy":1,"starting":0,"slots":4})"));
    EXPECT_EQ(a["jobs"]["received"], 10U);
    EXPECT_EQ(a["jobs"]["claims"], 2U);
    EXPECT_EQ(a["jobs"]["duplicates_dropped"], 3U);
    EXPECT_EQ(a["jobs"]["lost"], 1U);

    const json& b = *gateway(report, "b");
    EXPECT_EQ(b["state"], "lapsed");
    EXPECT_EQ(b["pending"], 3);
    EXPECT_FALSE(b.contains("workers")) << "a lapsed gateway has no figures to show";
    EXPECT_FALSE(b.contains("heartbeat_error"));
}

TEST(ClusterReport, TotalsCountLiveWorkersAndEveryPendingEntry) {
    ClusterReadings r = two_hosts_one_lapsed();
    r.gateways.push_back("c");
    r.heartbeats["c"] = heartbeat("c", 3, 0, 3, 4);
    const json totals = cluster_report(r)["totals"];
    EXPECT_EQ(totals["gateways"], 3U);
    EXPECT_EQ(totals["live"], 2U);
    EXPECT_EQ(totals["lapsed"], 1U);
    EXPECT_EQ(totals["workers"], json::parse(R"({"total":5,"idle":1,"busy":4,"starting":0,"slots":8})"));
    EXPECT_EQ(totals["capacity"], 8U);
    EXPECT_EQ(totals["in_flight"], 6U);
    EXPECT_EQ(totals["pending"], 5);
}

TEST(ClusterReport, StreamAndGroup) {
    const json report = cluster_report(two_hosts_one_lapsed());
    EXPECT_EQ(report["stream"]["length"], 7);
    EXPECT_EQ(report["stream"]["group"],
              json::parse(R"({"name":"gateways","consumers":2,"pending":5,"last_delivered_id":"1-9",
                              "entries_read":9,"lag":2})"));

    ClusterReadings unknown_lag = two_hosts_one_lapsed();
    unknown_lag.group->lag.reset();
    unknown_lag.group->entries_read.reset();
    const json group = cluster_report(unknown_lag)["stream"]["group"];
    EXPECT_TRUE(group["lag"].is_null()) << "Redis could not tell the lag: null, not 0";
    EXPECT_TRUE(group["entries_read"].is_null());

    ClusterReadings no_stream;
    no_stream.cluster = "empty";
    const json empty = cluster_report(no_stream);
    EXPECT_EQ(empty["stream"]["length"], 0);
    EXPECT_TRUE(empty["stream"]["group"].is_null());
    EXPECT_TRUE(empty["gateways"].empty());
    EXPECT_EQ(empty["totals"]["pending"], 0);
}

TEST(ClusterReport, EveryKnownCounterIsThereEvenWithoutAStatsHash) {
    ClusterReadings r = two_hosts_one_lapsed();
    r.stats.clear();
    const json counters = cluster_report(r)["counters"];
    for (const char* name : {"claims", "duplicates_dropped", "late_after_cancel", "requeued", "poisoned",
                             "deleted_entries", "consumers_removed"}) {
        ASSERT_TRUE(counters.contains(name)) << name;
        EXPECT_EQ(counters[name], 0) << name;
    }
    EXPECT_EQ(counters.size(), 7U);

    r.stats = {{"claims", "4"}, {"duplicates_dropped", "garbage"}, {"late_after_cancel", "-3"}, {"new_counter", "5"}};
    const json read = cluster_report(r)["counters"];
    EXPECT_EQ(read["claims"], 4);
    EXPECT_EQ(read["duplicates_dropped"], 0) << "a value that is not a count is left out";
    EXPECT_EQ(read["late_after_cancel"], 0);
    EXPECT_EQ(read["new_counter"], 5) << "a counter added later is shown as it is";
}

TEST(ClusterReport, AHeartbeatThatIsNotJsonCostsItsGatewayOnlyItsFigures) {
    ClusterReadings r = two_hosts_one_lapsed();
    r.heartbeats["b"] = "{not json";
    r.gateways.push_back("c");
    r.heartbeats["c"] = "[1, 2, 3]";
    json report;
    ASSERT_NO_THROW(report = cluster_report(r));
    const json& b = *gateway(report, "b");
    EXPECT_EQ(b["state"], "live") << "its key exists: it is alive, whatever it wrote";
    EXPECT_EQ(b["heartbeat_error"], "not JSON");
    EXPECT_FALSE(b.contains("workers"));
    EXPECT_EQ(gateway(report, "c")->at("heartbeat_error"), "not a JSON object");
    EXPECT_EQ(report["totals"]["live"], 3U);
    EXPECT_EQ(report["totals"]["workers"]["total"], 2U) << "only a's workers are known";
}

TEST(ClusterReport, FieldsOfTheWrongTypeReadAsZeroOrEmpty) {
    ClusterReadings r = two_hosts_one_lapsed();
    r.heartbeats["b"] = R"({"host": 7, "pool": ["x"], "pid": "12", "capacity": -4, "in_flight": 2.9,
                            "pool_reachable": "yes", "workers": "many", "received": null,
                            "finished": 1e300, "lost": true})";
    json report;
    ASSERT_NO_THROW(report = cluster_report(r));
    const json& b = *gateway(report, "b");
    EXPECT_EQ(b["host"], "");
    EXPECT_EQ(b["pool"], "");
    EXPECT_EQ(b["pid"], 0);
    EXPECT_EQ(b["capacity"], 0U);
    EXPECT_EQ(b["in_flight"], 2U);
    EXPECT_EQ(b["pool_reachable"], false);
    EXPECT_EQ(b["workers"]["total"], 0U);
    EXPECT_EQ(b["jobs"]["received"], 0U);
    EXPECT_EQ(b["jobs"]["finished"], 0U);
    EXPECT_EQ(b["jobs"]["lost"], 0U);
}

TEST(ClusterReport, AConsumerWithPendingEntriesButNotInTheSetIsShownAsUnlisted) {
    ClusterReadings r = two_hosts_one_lapsed();
    r.pending.emplace_back("ghost", 4);
    const json report = cluster_report(r);
    const json* ghost = gateway(report, "ghost");
    ASSERT_NE(ghost, nullptr);
    EXPECT_EQ(ghost->at("listed"), false);
    EXPECT_EQ(ghost->at("state"), "lapsed");
    EXPECT_EQ(ghost->at("pending"), 4);
    EXPECT_EQ(report["totals"]["pending"], 9);

    EXPECT_EQ(gateway_names({"b", "a"}, {{"ghost", 4}, {"a", 1}}), (std::vector<std::string>{"a", "b", "ghost"}));
}

TEST(ClusterReport, TextThatIsNotUtf8IsMadeValidSoTheReportAlwaysDumps) {
    ClusterReadings r = two_hosts_one_lapsed();
    const std::string bad = std::string("gw\xff\xfe", 4);
    r.gateways.push_back(bad);
    r.heartbeats[bad] = json{{"host", "h"}}.dump();
    r.heartbeats["a"] = std::string(R"({"host": "caf)") + "\xe9" + R"("})";  // Latin-1, not JSON text
    r.stats.emplace_back(std::string("odd\xc3", 4), "1");
    const json report = cluster_report(r);
    EXPECT_NO_THROW(static_cast<void>(report.dump()));
    EXPECT_EQ(report["gateways"].size(), 3U);
}

}  // namespace
}  // namespace warmpool::detail
