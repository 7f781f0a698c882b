// Metrics for Prometheus from real warmpoold processes: the status socket's two texts (the
// Prometheus text format and OpenMetrics), each read by the parser of python3-prometheus-client
// made for it (tests/support/parse_metrics.py).
#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "test_pool.hpp"
#include "warmpool/common/status_query.hpp"

namespace warmpool {
namespace {

using nlohmann::json;
using testing::CommandResult;
using testing::TestPool;

// What the parser for `format` ("prometheus" or "openmetrics") makes of `text`: its families as
// parse_metrics.py prints them. A text the parser refuses fails the test with the parser's words.
json parse_metrics(const std::string& format, const std::string& text) {
    CommandResult r = testing::run_command({WARMPOOL_PYTHON, WARMPOOL_PARSE_METRICS, format}, text);
    EXPECT_EQ(r.exit_code, 0) << r.err << "\nthe text:\n" << text;
    if (r.exit_code != 0) return json::array();
    return json::parse(r.out);
}

std::map<std::string, json> by_name(const json& families) {
    std::map<std::string, json> named;
    for (const json& f : families) named[f["name"].get<std::string>()] = f;
    return named;
}

// The value of the sample `sample` with `labels` in the parsed families, or -1.
double sample_value(const json& families, const std::string& sample, const json& labels) {
    for (const json& f : families) {
        for (const json& s : f["samples"]) {
            if (s["name"] == sample && s["labels"] == labels) return s["value"].get<double>();
        }
    }
    return -1;
}

std::string status_text(const TestPool& pool, const std::string& request) {
    auto answer = query_status(pool.status_socket(), request, 5000);
    EXPECT_TRUE(answer) << answer.error().message();
    return answer ? answer.value() : "";
}

void run_some_jobs(const TestPool& pool) {
    for (int i = 0; i < 3; ++i) ASSERT_EQ(pool.cli({"call", "gcd", "[12, 18]"}).exit_code, 0);
    ASSERT_EQ(pool.cli({"call", "fail", "\"counted\""}).exit_code, 1);
}

// Each text is read by the parser of its own format, and the two parsers make the same families
// (names, types, series) of them: a counter's family is named without "_total" in both.
TEST(Metrics, TheStatusSocketsTwoFormatsPassTheirParsersAndAgree) {
    TestPool pool(TestPool::Options{.workers = 2});
    run_some_jobs(pool);
    ASSERT_TRUE(testing::wait_until([&] { return pool.status()["jobs"]["in_flight"] == 0; }, std::chrono::seconds(10)));

    const std::string classic = status_text(pool, "prometheus");
    const std::string open = status_text(pool, "openmetrics");
    // "metrics" is the other name of "prometheus": the same text, up to the figures that move.
    const std::string metrics = status_text(pool, "metrics");
    EXPECT_EQ(metrics.substr(0, metrics.find('\n')), classic.substr(0, classic.find('\n')));
    const json from_classic = parse_metrics("prometheus", classic);
    const json from_open = parse_metrics("openmetrics", open);
    ASSERT_FALSE(from_classic.empty());
    ASSERT_FALSE(from_open.empty());

    const auto classic_families = by_name(from_classic);
    const auto open_families = by_name(from_open);
    std::set<std::string> classic_names, open_names;
    for (const auto& [name, f] : classic_families) classic_names.insert(name);
    for (const auto& [name, f] : open_families) open_names.insert(name);
    EXPECT_EQ(classic_names, open_names);
    for (const auto& [name, f] : classic_families) {
        if (!open_families.count(name)) continue;
        const json& o = open_families.at(name);
        EXPECT_EQ(f["type"], o["type"]) << name;
        std::set<std::string> classic_series, open_series;
        for (const json& s : f["samples"]) classic_series.insert(s["name"].get<std::string>() + s["labels"].dump());
        for (const json& s : o["samples"]) open_series.insert(s["name"].get<std::string>() + s["labels"].dump());
        EXPECT_EQ(classic_series, open_series) << name;
        if (f["type"] == "counter") {
            EXPECT_EQ(f["samples"], o["samples"]) << name;  // the pool is at rest: counters hold still
        }
    }

    const json pool_label = {{"pool", pool.name()}};
    ASSERT_TRUE(classic_families.count("warmpool_jobs_submitted")) << classic;
    EXPECT_EQ(classic_families.at("warmpool_jobs_submitted")["type"], "counter");
    EXPECT_EQ(sample_value(from_classic, "warmpool_jobs_submitted_total", pool_label), 4);
    EXPECT_EQ(sample_value(from_open, "warmpool_jobs_submitted_total", pool_label), 4);
    EXPECT_EQ(sample_value(from_open, "warmpool_jobs_completed_total", pool_label), 3);
    EXPECT_EQ(sample_value(from_open, "warmpool_jobs_failed_total", {{"pool", pool.name()}, {"kind", "handler_error"}}),
              1);
    EXPECT_EQ(sample_value(from_open, "warmpool_up", pool_label), 1);
    ASSERT_GE(open.size(), 6u);
    EXPECT_EQ(open.substr(open.size() - 6), "# EOF\n");
}

}  // namespace
}  // namespace warmpool
