// Tests for the views of a cluster's status (client/cli/cluster_view.hpp): the text of
// `warmpool status --endpoint`, the frame of `warmpool top --endpoint`, and the Prometheus and
// OpenMetrics texts, from reports assembled by cluster_report() out of hand-made readings, and
// from JSON made by hand with fields missing.
// The texts' syntax is checked by real parsers in integration/cluster_status_test.

#include "cluster_view.hpp"

#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <vector>

#include "../../client/src/cluster_report.hpp"

namespace warmpool {
namespace {

using nlohmann::json;

json report() {
    detail::ClusterReadings r;
    r.cluster = "c1";
    r.endpoint = "redis://127.0.0.1:6379/c1";
    r.gateways = {"alpha:default:11:1000", "beta:default:22:2000"};
    r.heartbeats["alpha:default:11:1000"] = json{{"host", "alpha"},
                                                 {"pool", "default"},
                                                 {"capacity", 4},
                                                 {"in_flight", 3},
                                                 {"received", 40},
                                                 {"finished", 37},
                                                 {"lost", 1},
                                                 {"claims", 2},
                                                 {"duplicates_dropped", 5},
                                                 {"redis_reconnects", 1},
                                                 {"pool_reachable", true},
                                                 {"workers", {{"total", 2}, {"idle", 0}, {"busy", 2}, {"slots", 4}}}}
                                                .dump();
    r.stream_length = 9;
    r.group = detail::GroupReading{"gateways", 2, 7, "5-0", 12, 2};
    r.pending = {{"alpha:default:11:1000", 3}, {"beta:default:22:2000", 4}};
    r.stats = {{"claims", "6"}, {"duplicates_dropped", "5"}};
    return detail::cluster_report(r);
}

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> lines;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    return lines;
}

// The line that starts with `prefix`, or "" if none does.
std::string line_starting(const std::string& text, const std::string& prefix) {
    for (const auto& line : lines_of(text)) {
        if (line.starts_with(prefix)) return line;
    }
    return {};
}

bool has_line(const std::string& text, const std::string& wanted) {
    for (const auto& line : lines_of(text)) {
        if (line == wanted) return true;
    }
    return false;
}

TEST(ClusterView, TextHasALinePerGatewayThenTotalsStreamAndCounters) {
    const std::string text = render_cluster_status(report());
    const auto lines = lines_of(text);
    ASSERT_GE(lines.size(), 7U) << text;
    EXPECT_EQ(lines[0], "cluster c1 at redis://127.0.0.1:6379/c1: 2 gateways, 1 live, 1 lapsed");
    EXPECT_EQ(lines[2],
              "GATEWAY                HOST   POOL     STATE   IDLE  BUSY  TOTAL  IN-FLIGHT  PENDING  CLAIMS  "
              "DUPLICATES  NOTE");
    EXPECT_EQ(lines[3],
              "alpha:default:11:1000  alpha  default  live    0     2     2      3          3        2       5");
    EXPECT_EQ(lines[4],
              "beta:default:22:2000   -      -        lapsed  -     -     -      -          4        -       -");
    EXPECT_EQ(line_starting(text, "totals"),
              "totals    workers 0 idle, 2 busy, 0 starting, 2 total (4 slots); 3 in flight of capacity 4; 7 pending");
    EXPECT_EQ(line_starting(text, "stream"),
              "stream    9 entries; group gateways: 2 consumers, 7 pending, lag 2, 12 read");
    EXPECT_EQ(line_starting(text, "counters"),
              "counters  claims 6, consumers_removed 0, deleted_entries 0, duplicates_dropped 5, late_after_cancel 0, "
              "poisoned 0, requeued 0");
}

TEST(ClusterView, TopFrameIsTheTextUnderATitleCutToTheTerminalsWidth) {
    json r = report();
    r["now_ms"] = 20'000LL * 86'400'000 + ((13 * 60 + 5) * 60 + 9) * 1000 + 999;
    const std::string frame = render_cluster_top(r);
    const std::string title = "warmpool top - cluster c1, read at 13:05:09 UTC\n\n";
    ASSERT_TRUE(frame.starts_with(title)) << frame;
    EXPECT_EQ(frame.substr(title.size()), render_cluster_status(r)) << "the same text as status";

    const std::string narrow = render_cluster_top(r, 40);
    EXPECT_EQ(lines_of(narrow).size(), lines_of(frame).size()) << narrow;
    for (const auto& line : lines_of(narrow)) EXPECT_LE(line.size(), 40U) << line;
    EXPECT_EQ(line_starting(narrow, "alpha"), "alpha:default:11:1000  alpha  default  ~");
    EXPECT_EQ(line_starting(narrow, "warmpool top"), "warmpool top - cluster c1, read at 13:0~");

    r.erase("now_ms");
    EXPECT_TRUE(render_cluster_top(r).starts_with("warmpool top - cluster c1, read at -\n")) << "no time, no error";
}

TEST(ClusterView, TextNotesWhatIsWrongWithAGateway) {
    json r = report();
    r["gateways"][0]["pool_reachable"] = false;
    r["gateways"][1] = {{"name", "gamma"}, {"state", "live"}, {"listed", false}, {"pending", 1},
                        {"heartbeat_error", "not JSON"}};
    const std::string text = render_cluster_status(r);
    EXPECT_TRUE(line_starting(text, "alpha").ends_with("its pool does not answer")) << text;
    EXPECT_TRUE(line_starting(text, "gamma").ends_with("not in the gateways set; unreadable heartbeat (not JSON)"))
        << text;
}

TEST(ClusterView, TextOfAnEmptyClusterAndOfMissingFields) {
    const std::string empty = render_cluster_status(json::parse(R"({"cluster": "c2", "gateways": [],
        "stream": {"length": 0, "group": null}, "counters": {}, "totals": {}})"));
    EXPECT_TRUE(has_line(empty, "(no gateways)")) << empty;
    EXPECT_EQ(line_starting(empty, "stream"), "stream    0 entries; no consumer group yet (no gateway has started)");
    EXPECT_EQ(line_starting(empty, "cluster"), "cluster c2 at -: - gateways, - live, - lapsed");
    EXPECT_NO_THROW(static_cast<void>(render_cluster_status(json::object())));
    EXPECT_NO_THROW(static_cast<void>(render_cluster_status(json::parse(R"({"gateways": [1, "x", {"workers": 3}]})"))));
}

TEST(ClusterView, ControlCharactersInNamesNeverReachTheTerminal) {
    json r = report();
    r["gateways"][0]["name"] = "evil\x1b[2J\n\u0085name";
    r["gateways"][0]["host"] = "h\tost";
    const std::string text = render_cluster_status(r);
    EXPECT_EQ(text.find('\x1b'), std::string::npos);
    EXPECT_EQ(text.find('\t'), std::string::npos);
    EXPECT_EQ(text.find("\u0085"), std::string::npos);
    EXPECT_NE(line_starting(text, "evil?[2J??name ").find(" h?ost "), std::string::npos) << text;
}

TEST(ClusterView, PrometheusSamples) {
    const std::string text = cluster_metrics(report(), metrics_http::Format::prometheus);
    const std::string alpha = "gateway=\"alpha:default:11:1000\"";
    const std::string beta = "gateway=\"beta:default:22:2000\"";
    for (const std::string& line : {
             std::string("warmpool_cluster_hosts{cluster=\"c1\",state=\"live\"} 1"),
             std::string("warmpool_cluster_hosts{cluster=\"c1\",state=\"lapsed\"} 1"),
             "warmpool_cluster_gateway_up{cluster=\"c1\"," + alpha + "} 1",
             "warmpool_cluster_gateway_up{cluster=\"c1\"," + beta + "} 0",
             "warmpool_cluster_pending{cluster=\"c1\"," + beta + "} 4",
             "warmpool_cluster_workers{cluster=\"c1\"," + alpha + ",state=\"busy\"} 2",
             "warmpool_cluster_workers{cluster=\"c1\"," + alpha + ",state=\"idle\"} 0",
             "warmpool_cluster_worker_slots{cluster=\"c1\"," + alpha + "} 4",
             "warmpool_cluster_capacity{cluster=\"c1\"," + alpha + "} 4",
             "warmpool_cluster_in_flight{cluster=\"c1\"," + alpha + "} 3",
             "warmpool_cluster_pool_reachable{cluster=\"c1\"," + alpha + "} 1",
             "warmpool_cluster_gateway_jobs_total{cluster=\"c1\"," + alpha + ",event=\"received\"} 40",
             "warmpool_cluster_gateway_jobs_total{cluster=\"c1\"," + alpha + ",event=\"lost\"} 1",
             "warmpool_cluster_gateway_redis_reconnects_total{cluster=\"c1\"," + alpha + "} 1",
             std::string("warmpool_cluster_stream_entries{cluster=\"c1\"} 9"),
             std::string("warmpool_cluster_stream_lag{cluster=\"c1\"} 2"),
             std::string("warmpool_cluster_stream_pending{cluster=\"c1\"} 7"),
             std::string("warmpool_cluster_claims_total{cluster=\"c1\"} 6"),
             std::string("warmpool_cluster_duplicates_dropped_total{cluster=\"c1\"} 5"),
             std::string("warmpool_cluster_consumers_removed_total{cluster=\"c1\"} 0"),
             std::string("# TYPE warmpool_cluster_claims_total counter"),
             std::string("# TYPE warmpool_cluster_workers gauge"),
         }) {
        EXPECT_TRUE(has_line(text, line)) << "missing: " << line << "\n" << text;
    }
    EXPECT_EQ(text.find("warmpool_cluster_workers{cluster=\"c1\"," + beta), std::string::npos)
        << "a lapsed gateway's workers are unknown, not 0";
    EXPECT_EQ(text.find("# EOF"), std::string::npos);
}

TEST(ClusterView, OpenMetricsNamesCountersWithoutTotalAndEnds) {
    const std::string text = cluster_metrics(report(), metrics_http::Format::openmetrics);
    EXPECT_TRUE(has_line(text, "# TYPE warmpool_cluster_claims counter")) << text;
    EXPECT_TRUE(has_line(text, "warmpool_cluster_claims_total{cluster=\"c1\"} 6")) << text;
    EXPECT_TRUE(text.ends_with("# EOF\n"));
}

TEST(ClusterView, FamiliesWithoutSamplesAreLeftOutAndLabelsEscaped) {
    json r = report();
    r["stream"]["group"]["lag"] = nullptr;
    r["gateways"][1]["name"] = "quote\"back\\slash\nline";
    const std::string text = cluster_metrics(r, metrics_http::Format::prometheus);
    EXPECT_EQ(text.find("warmpool_cluster_stream_lag"), std::string::npos) << "no lag known: no family\n" << text;
    EXPECT_TRUE(has_line(text, R"(warmpool_cluster_pending{cluster="c1",gateway="quote\"back\\slash\nline"} 4)"))
        << text;

    const std::string empty = cluster_metrics(json::object(), metrics_http::Format::prometheus);
    EXPECT_EQ(empty.find("warmpool_cluster_workers"), std::string::npos) << empty;
    EXPECT_EQ(empty.find("# HELP"), std::string::npos) << "nothing known, nothing said\n" << empty;
}

}  // namespace
}  // namespace warmpool
