// Tests for the metrics text (common/metrics_text.hpp): escaping, and MetricsTextWriter's exact
// lines in both formats. The texts' syntax is checked by real parsers in integration/metrics_test
// and integration/cluster_status_test.

#include "warmpool/common/metrics_text.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>

namespace warmpool {
namespace {

TEST(MetricsText, EscapesBackslashAndNewlineAlwaysAndQuotesWhenAsked) {
    EXPECT_EQ(metrics_escaped("a\\b\nc\"d", false), "a\\\\b\\nc\"d");
    EXPECT_EQ(metrics_escaped("a\\b\nc\"d", true), "a\\\\b\\nc\\\"d");
    EXPECT_EQ(metrics_escaped("", true), "");
}

// A gauge, a counter with labels and a histogram, written in one format.
std::string families(bool openmetrics, MetricsTextWriter::EmptyFamilies empty = MetricsTextWriter::EmptyFamilies::written) {
    MetricsTextWriter m(openmetrics, {"pool", "p\"1"}, empty);
    m.family("wp_up", "gauge", "1 while \"up\"\\ok");
    m.sample(std::uint64_t{1});
    m.family("wp_jobs", "counter", "Jobs, by kind");
    m.sample(7LL, {{"kind", "a\nb"}});
    m.sample(std::uint64_t{18446744073709551615u}, {{"kind", "b"}, {"x", "y"}});
    m.family("wp_none", "gauge", "No samples");
    m.family("wp_wait_seconds", "histogram", "Waits", "seconds");
    m.sample("_bucket", "3", {{"le", "+Inf"}});
    m.sample("_sum", MetricsTextWriter::number(0.25), {});
    m.family("wp_ratio", "gauge", "A ratio");
    m.sample(1.0 / 3.0);
    return std::move(m).finish();
}

TEST(MetricsText, PrometheusNamesCountersWithTotalAndHasNoUnitNorEof) {
    EXPECT_EQ(families(false),
              "# HELP wp_up 1 while \"up\"\\\\ok\n"
              "# TYPE wp_up gauge\n"
              "wp_up{pool=\"p\\\"1\"} 1\n"
              "# HELP wp_jobs_total Jobs, by kind\n"
              "# TYPE wp_jobs_total counter\n"
              "wp_jobs_total{pool=\"p\\\"1\",kind=\"a\\nb\"} 7\n"
              "wp_jobs_total{pool=\"p\\\"1\",kind=\"b\",x=\"y\"} 18446744073709551615\n"
              "# HELP wp_none No samples\n"
              "# TYPE wp_none gauge\n"
              "# HELP wp_wait_seconds Waits\n"
              "# TYPE wp_wait_seconds histogram\n"
              "wp_wait_seconds_bucket{pool=\"p\\\"1\",le=\"+Inf\"} 3\n"
              "wp_wait_seconds_sum{pool=\"p\\\"1\"} 0.25\n"
              "# HELP wp_ratio A ratio\n"
              "# TYPE wp_ratio gauge\n"
              "wp_ratio{pool=\"p\\\"1\"} 0.3333333333333333\n");
}

TEST(MetricsText, OpenMetricsNamesCountersWithoutTotalHasUnitsEscapesHelpAndEnds) {
    EXPECT_EQ(families(true),
              "# HELP wp_up 1 while \\\"up\\\"\\\\ok\n"
              "# TYPE wp_up gauge\n"
              "wp_up{pool=\"p\\\"1\"} 1\n"
              "# HELP wp_jobs Jobs, by kind\n"
              "# TYPE wp_jobs counter\n"
              "wp_jobs_total{pool=\"p\\\"1\",kind=\"a\\nb\"} 7\n"
              "wp_jobs_total{pool=\"p\\\"1\",kind=\"b\",x=\"y\"} 18446744073709551615\n"
              "# HELP wp_none No samples\n"
              "# TYPE wp_none gauge\n"
              "# HELP wp_wait_seconds Waits\n"
              "# TYPE wp_wait_seconds histogram\n"
              "# UNIT wp_wait_seconds seconds\n"
              "wp_wait_seconds_bucket{pool=\"p\\\"1\",le=\"+Inf\"} 3\n"
              "wp_wait_seconds_sum{pool=\"p\\\"1\"} 0.25\n"
              "# HELP wp_ratio A ratio\n"
              "# TYPE wp_ratio gauge\n"
              "wp_ratio{pool=\"p\\\"1\"} 0.3333333333333333\n"
              "# EOF\n");
}

TEST(MetricsText, FamiliesWithoutSamplesCanBeLeftOut) {
    const std::string text = families(false, MetricsTextWriter::EmptyFamilies::left_out);
    EXPECT_EQ(text.find("wp_none"), std::string::npos) << text;
    EXPECT_NE(text.find("# HELP wp_wait_seconds Waits\n# TYPE wp_wait_seconds histogram\nwp_wait_seconds_bucket"),
              std::string::npos)
        << text;
    MetricsTextWriter nothing(true, {"cluster", "c"}, MetricsTextWriter::EmptyFamilies::left_out);
    nothing.family("wp_x", "counter", "Never sampled");
    EXPECT_EQ(std::move(nothing).finish(), "# EOF\n");
}

TEST(MetricsText, NumbersReadBackExactlyAndNonFiniteOnesAreSpelledOut) {
    EXPECT_EQ(MetricsTextWriter::number(0.1), "0.1");
    EXPECT_EQ(MetricsTextWriter::number(1e-9), "1e-09");
    EXPECT_EQ(MetricsTextWriter::number(3.0), "3");
    EXPECT_EQ(MetricsTextWriter::number(std::numeric_limits<double>::quiet_NaN()), "NaN");
    EXPECT_EQ(MetricsTextWriter::number(std::numeric_limits<double>::infinity()), "+Inf");
    EXPECT_EQ(MetricsTextWriter::number(-std::numeric_limits<double>::infinity()), "-Inf");
}

}  // namespace
}  // namespace warmpool
