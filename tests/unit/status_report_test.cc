// Tests for the status report (status_report.hpp): the JSON and the two metrics texts (Prometheus
// text format and OpenMetrics) made from a StatusSnapshot built by hand, with exact figures.

#include "warmpool/daemon/status_report.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "warmpool/error_kind.hpp"

namespace warmpool {
namespace {

using nlohmann::json;

StatusSnapshot::WorkerRow worker(unsigned slot, pid_t pid, std::string state, bool running) {
    StatusSnapshot::WorkerRow w;
    w.slot = slot;
    w.pid = pid;
    w.state = std::move(state);
    w.running = running;
    return w;
}

StatusSnapshot::SessionRow session(unsigned slot, std::string client, bool closing) {
    StatusSnapshot::SessionRow s;
    s.slot = slot;
    s.pid = static_cast<pid_t>(500 + slot);
    s.uid = 1000 + slot;
    s.client = std::move(client);
    s.closing = closing;
    return s;
}

StatusSnapshot snapshot() {
    StatusSnapshot snap;
    snap.pool = "web";
    snap.pid = 4321;
    snap.state = "running";
    snap.started_at = "2026-01-02T03:04:05Z";
    snap.uptime_seconds = 12.5;
    snap.job_library = "/lib/jobs.so";
    snap.workers_configured = 4;
    snap.scaling.mode = "dynamic";
    snap.scaling.target = 5;
    snap.scaling.max_workers = 8;
    snap.scaling.admin_target = 5;
    snap.scaling.reason = "scaled by admin to 5";

    auto idle = worker(0, 101, "idle", false);
    idle.jobs_done = 17;
    idle.queued = 0;
    idle.rss_bytes = 1 << 20;
    idle.init_seconds = 0.25;
    idle.uptime_seconds = 10;
    idle.previous_exit = "killed by signal 9 (SIGKILL)";
    auto busy = worker(1, 102, "busy", true);
    busy.current_function = "add";
    busy.by_lane = true;
    busy.busy_seconds = 1.5;
    busy.queued = 3;
    auto starting = worker(2, 103, "starting", false);
    auto retiring = worker(3, 104, "retiring", true);  // running its last job: busy, not ready
    retiring.replacing = "max_jobs";
    snap.workers = {idle, busy, starting, retiring};

    snap.counters.submitted = 100;
    snap.counters.completed = 80;
    snap.counters.add_failure(ErrorKind::handler_error, 5);
    snap.counters.add_failure(ErrorKind::timeout, 2);
    snap.counters.add_failure(ErrorKind::permission, 1);
    snap.counters.dropped = 4;
    snap.counters.direct = 30;
    snap.counters.retried = 6;
    snap.counters.worker_exits = 7;
    snap.counters.worker_crashes = 3;
    snap.counters.failed_inits = 1;
    snap.counters.recycled = 2;
    snap.counters.timeouts = 2;
    snap.counters.reloads = 1;
    snap.queued = 9;
    snap.queued_by_level[priority_level(0)] = 7;
    snap.queued_by_level[priority_level(kPriorityMax)] = 2;
    snap.most_queued = 40;
    snap.in_flight = 8;
    snap.consecutive_failed_inits = 1;
    snap.respawn_in_seconds = 0.5;
    snap.reloading = true;
    snap.last_exits = {{0, "killed by signal 9 (SIGKILL)"}};
    snap.queue_capacity = 1000;
    snap.session_queue_capacity = 100;
    snap.session_queue_bytes = 4096;

    auto first = session(0, "app", false);
    first.submitted = 60;
    first.queued = 9;
    first.in_flight = 5;
    first.connected_seconds = 3;
    first.completed = 51;
    snap.sessions = {first, session(2, "batch", true)};
    snap.max_sessions = 64;

    snap.workers[1].busy_last_minute = 0.25;
    snap.workers[1].busy_since_start = 0.5;
    StatusSnapshot::FunctionLatency add;
    add.name = "add";
    for (int i = 0; i < 99; ++i) add.run_since_start.add(2000);  // 2 µs
    add.run_since_start.add(3'000'000'000);                       // 3 s
    add.run_last_minute.add(2000);
    add.queue_since_start.add(500);
    StatusSnapshot::FunctionLatency other;
    other.name = "quo\"te";
    other.run_since_start.add(70'000'000'000);  // beyond the last finite Prometheus bound
    snap.latency = {add, other};
    return snap;
}

TEST(StatusReport, JsonScaling) {
    const json status = json::parse(status_json(snapshot()));
    const json& scaling = status["scaling"];
    EXPECT_EQ(scaling["mode"], "dynamic");
    EXPECT_EQ(scaling["target"], 5);
    EXPECT_EQ(scaling["min_workers"], 0);
    EXPECT_EQ(scaling["max_workers"], 8);
    EXPECT_EQ(scaling["admin_target"], 5);
    EXPECT_EQ(scaling["reason"], "scaled by admin to 5");
    StatusSnapshot unset = snapshot();
    unset.scaling.admin_target.reset();
    EXPECT_TRUE(json::parse(status_json(unset))["scaling"]["admin_target"].is_null());
}

TEST(StatusReport, JsonWorkers) {
    const json status = json::parse(status_json(snapshot()));
    const json& workers = status["workers"];
    EXPECT_EQ(workers["configured"], 4);
    EXPECT_EQ(workers["live"], 4);
    EXPECT_EQ(workers["ready"], 2);     // idle and busy
    EXPECT_EQ(workers["busy"], 2);      // running: the busy one and the retiring one
    EXPECT_EQ(workers["starting"], 1);
    ASSERT_EQ(workers["rows"].size(), 4u);
    const json& idle = workers["rows"][0];
    EXPECT_EQ(idle["slot"], 0);
    EXPECT_EQ(idle["pid"], 101);
    EXPECT_EQ(idle["state"], "idle");
    EXPECT_EQ(idle["jobs_done"], 17);
    EXPECT_EQ(idle["rss_bytes"], 1 << 20);
    EXPECT_EQ(idle["init_seconds"], 0.25);
    EXPECT_EQ(idle["previous_exit"], "killed by signal 9 (SIGKILL)");
    EXPECT_TRUE(idle["current_function"].is_null());
    EXPECT_FALSE(idle.contains("by_lane"));
    EXPECT_FALSE(idle.contains("busy_seconds"));
    EXPECT_FALSE(idle.contains("replacing"));
    const json& busy = workers["rows"][1];
    EXPECT_EQ(busy["current_function"], "add");
    EXPECT_EQ(busy["by_lane"], true);
    EXPECT_EQ(busy["busy_seconds"], 1.5);
    EXPECT_EQ(busy["queued"], 3);
    EXPECT_FALSE(busy.contains("previous_exit"));
    EXPECT_EQ(workers["rows"][3]["replacing"], "max_jobs");
}

TEST(StatusReport, JsonJobsAndFailures) {
    const json status = json::parse(status_json(snapshot()));
    const json& jobs = status["jobs"];
    EXPECT_EQ(jobs["submitted"], 100);
    EXPECT_EQ(jobs["completed"], 80);
    EXPECT_EQ(jobs["failed"], 8);
    EXPECT_EQ(jobs["dropped"], 4);
    EXPECT_EQ(jobs["queued"], 9);
    EXPECT_EQ(jobs["in_flight"], 8);
    EXPECT_EQ(jobs["direct"], 30);
    const json& by_kind = jobs["failed_by_kind"];
    EXPECT_EQ(by_kind.size(), std::size(kAllErrorKinds));
    for (ErrorKind kind : kAllErrorKinds) ASSERT_TRUE(by_kind.contains(std::string(to_string(kind))));
    EXPECT_EQ(by_kind["handler_error"], 5);
    EXPECT_EQ(by_kind["timeout"], 2);
    EXPECT_EQ(by_kind["permission"], 1);
    EXPECT_EQ(by_kind["worker_crashed"], 0);
}

TEST(StatusReport, JsonPoolSupervisionQueueAndSessions) {
    const json status = json::parse(status_json(snapshot()));
    EXPECT_EQ(status["pool"], "web");
    EXPECT_EQ(status["pid"], 4321);
    EXPECT_EQ(status["state"], "running");
    EXPECT_EQ(status["started_at"], "2026-01-02T03:04:05Z");
    EXPECT_EQ(status["uptime_seconds"], 12.5);
    EXPECT_EQ(status["job_library"], "/lib/jobs.so");

    const json& sup = status["supervision"];
    EXPECT_EQ(sup["worker_exits"], 7);
    EXPECT_EQ(sup["worker_crashes"], 3);
    EXPECT_EQ(sup["failed_inits"], 1);
    EXPECT_EQ(sup["consecutive_failed_inits"], 1);
    EXPECT_EQ(sup["respawn_in_seconds"], 0.5);
    EXPECT_EQ(sup["recycled"], 2);
    EXPECT_EQ(sup["retried"], 6);
    EXPECT_EQ(sup["timeouts"], 2);
    EXPECT_EQ(sup["reloads"], 1);
    EXPECT_EQ(sup["reloading"], true);
    ASSERT_EQ(sup["last_exits"].size(), 1u);
    EXPECT_EQ(sup["last_exits"][0]["slot"], 0);
    EXPECT_EQ(sup["last_exits"][0]["how"], "killed by signal 9 (SIGKILL)");

    const json& queue = status["queue"];
    EXPECT_EQ(queue["depth"], 9);
    EXPECT_EQ(queue["by_priority"], json({{"7", 2}, {"0", 7}}));
    EXPECT_EQ(queue["max"], 40);
    EXPECT_EQ(queue["capacity"], 1000);
    EXPECT_EQ(queue["session_capacity"], 100);
    EXPECT_EQ(queue["session_bytes"], 4096);

    const json& sessions = status["sessions"];
    EXPECT_EQ(sessions["active"], 2);
    EXPECT_EQ(sessions["max"], 64);
    ASSERT_EQ(sessions["rows"].size(), 2u);
    const json& app = sessions["rows"][0];
    EXPECT_EQ(app["slot"], 0);
    EXPECT_EQ(app["pid"], 500);
    EXPECT_EQ(app["uid"], 1000);
    EXPECT_EQ(app["client"], "app");
    EXPECT_EQ(app["state"], "active");
    EXPECT_EQ(app["submitted"], 60);
    EXPECT_EQ(app["queued"], 9);
    EXPECT_EQ(app["in_flight"], 5);
    EXPECT_EQ(app["connected_seconds"], 3);
    EXPECT_EQ(sessions["rows"][1]["state"], "closing");
    EXPECT_EQ(sessions["rows"][1]["slot"], 2);
}

TEST(StatusReport, EmptySnapshot) {
    StatusSnapshot snap;
    snap.pool = "p";
    snap.state = "starting";
    const json status = json::parse(status_json(snap));
    EXPECT_EQ(status["workers"]["live"], 0);
    EXPECT_EQ(status["workers"]["ready"], 0);
    EXPECT_TRUE(status["workers"]["rows"].empty());
    EXPECT_EQ(status["jobs"]["failed"], 0);
    EXPECT_EQ(status["sessions"]["active"], 0);
    EXPECT_TRUE(status["sessions"]["rows"].is_array());
    EXPECT_TRUE(status["supervision"]["last_exits"].is_array());
    for (MetricsFormat format : {MetricsFormat::prometheus, MetricsFormat::openmetrics}) {
        const std::string prom = status_metrics(snap, format);
        EXPECT_NE(prom.find("warmpool_up{pool=\"p\"} 0\n"), std::string::npos) << prom;
        EXPECT_NE(prom.find("warmpool_workers_live{pool=\"p\"} 0\n"), std::string::npos);
        EXPECT_NE(prom.find("warmpool_workers{pool=\"p\",state=\"idle\"} 0\n"), std::string::npos);
        EXPECT_EQ(prom.find("slot=\""), std::string::npos) << "no worker, no per-worker series";
    }
}

TEST(StatusReport, InvalidUtf8NeverMakesTheReportFail) {
    StatusSnapshot snap = snapshot();
    snap.sessions[0].client = "bad \xff\xfe name";
    snap.workers[1].current_function = std::string("f\xc3");
    snap.last_exits[0].how = "\x80";
    std::string text;
    ASSERT_NO_THROW(text = status_json(snap));
    json status;
    ASSERT_NO_THROW(status = json::parse(text));
    const std::string client = status["sessions"]["rows"][0]["client"];
    EXPECT_EQ(client.rfind("bad ", 0), 0u);
    EXPECT_NE(client.find("\xef\xbf\xbd"), std::string::npos);  // U+FFFD in place of the bad bytes
    EXPECT_NE(client.find(" name"), std::string::npos);
}

// The value on the line "NAME{LABELS} VALUE", or "" if there is none.
std::string prometheus_value(const std::string& text, const std::string& series) {
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind(series + " ", 0) == 0) return line.substr(series.size() + 1);
    }
    return "";
}

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> lines;
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) lines.push_back(line);
    return lines;
}

std::string prometheus(const StatusSnapshot& snap) { return status_metrics(snap, MetricsFormat::prometheus); }
std::string openmetrics(const StatusSnapshot& snap) { return status_metrics(snap, MetricsFormat::openmetrics); }

TEST(StatusReport, PrometheusValues) {
    const std::string prom = prometheus(snapshot());
    const std::string pool = "{pool=\"web\"}";
    EXPECT_EQ(prometheus_value(prom, "warmpool_up" + pool), "1");
    EXPECT_EQ(prometheus_value(prom, "warmpool_uptime_seconds" + pool), "12.5");
    EXPECT_EQ(prometheus_value(prom, "warmpool_reloading" + pool), "1");
    EXPECT_EQ(prometheus_value(prom, "warmpool_reloads_total" + pool), "1");
    EXPECT_EQ(prometheus_value(prom, "warmpool_workers_configured" + pool), "4");
    EXPECT_EQ(prometheus_value(prom, "warmpool_workers_target" + pool), "5");
    EXPECT_EQ(prometheus_value(prom, "warmpool_workers_live" + pool), "4");
    EXPECT_EQ(prometheus_value(prom, "warmpool_workers_busy" + pool), "2");
    EXPECT_EQ(prometheus_value(prom, "warmpool_worker_exits_total" + pool), "7");
    EXPECT_EQ(prometheus_value(prom, "warmpool_worker_crashes_total" + pool), "3");
    EXPECT_EQ(prometheus_value(prom, "warmpool_worker_failed_inits_total" + pool), "1");
    EXPECT_EQ(prometheus_value(prom, "warmpool_worker_consecutive_failed_inits" + pool), "1");
    EXPECT_EQ(prometheus_value(prom, "warmpool_worker_respawn_delay_seconds" + pool), "0.5");
    EXPECT_EQ(prometheus_value(prom, "warmpool_worker_recycles_total" + pool), "2");
    EXPECT_EQ(prometheus_value(prom, "warmpool_jobs_submitted_total" + pool), "100");
    EXPECT_EQ(prometheus_value(prom, "warmpool_jobs_completed_total" + pool), "80");
    EXPECT_EQ(prometheus_value(prom, "warmpool_jobs_dropped_total" + pool), "4");
    EXPECT_EQ(prometheus_value(prom, "warmpool_jobs_retried_total" + pool), "6");
    EXPECT_EQ(prometheus_value(prom, "warmpool_jobs_timed_out_total" + pool), "2");
    EXPECT_EQ(prometheus_value(prom, "warmpool_jobs_direct_total" + pool), "30");
    EXPECT_EQ(prometheus_value(prom, "warmpool_jobs_in_flight" + pool), "8");
    EXPECT_EQ(prometheus_value(prom, "warmpool_queue_depth" + pool), "9");
    EXPECT_EQ(prometheus_value(prom, "warmpool_queue_depth_by_priority{pool=\"web\",priority=\"7\"}"), "2");
    EXPECT_EQ(prometheus_value(prom, "warmpool_queue_depth_by_priority{pool=\"web\",priority=\"0\"}"), "7");
    EXPECT_EQ(prometheus_value(prom, "warmpool_queue_depth_by_priority{pool=\"web\",priority=\"-8\"}"), "0");
    EXPECT_EQ(prometheus_value(prom, "warmpool_queue_max_depth" + pool), "40");
    EXPECT_EQ(prometheus_value(prom, "warmpool_queue_capacity" + pool), "1000");
    EXPECT_EQ(prometheus_value(prom, "warmpool_session_queue_capacity" + pool), "100");
    EXPECT_EQ(prometheus_value(prom, "warmpool_session_queue_capacity_bytes" + pool), "4096");
    EXPECT_EQ(prometheus_value(prom, "warmpool_sessions_active" + pool), "2");
    EXPECT_EQ(prometheus_value(prom, "warmpool_sessions_max" + pool), "64");
    for (ErrorKind kind : kAllErrorKinds) {
        const std::string series =
            "warmpool_jobs_failed_total{pool=\"web\",kind=\"" + std::string(to_string(kind)) + "\"}";
        EXPECT_NE(prometheus_value(prom, series), "") << series;
    }
    EXPECT_EQ(prometheus_value(prom, "warmpool_jobs_failed_total{pool=\"web\",kind=\"handler_error\"}"), "5");
    EXPECT_EQ(prometheus_value(prom, "warmpool_jobs_failed_total{pool=\"web\",kind=\"timeout\"}"), "2");
    EXPECT_EQ(prometheus_value(prom, "warmpool_jobs_failed_total{pool=\"web\",kind=\"worker_crashed\"}"), "0");
    // In this format a counter's HELP and TYPE lines name it as its samples do, with "_total".
    EXPECT_NE(prom.find("# TYPE warmpool_jobs_submitted_total counter\n"), std::string::npos);
    EXPECT_NE(prom.find("# TYPE warmpool_queue_depth gauge\n"), std::string::npos);
    EXPECT_NE(prom.find("# HELP warmpool_jobs_failed_total "), std::string::npos);
    EXPECT_EQ(prom.find("# UNIT"), std::string::npos);
    EXPECT_EQ(prom.find("# EOF"), std::string::npos);

    StatusSnapshot stopping = snapshot();
    stopping.state = "stopping";
    EXPECT_EQ(prometheus_value(prometheus(stopping), "warmpool_up" + pool), "0");
}

TEST(StatusReport, WorkersByStateAndPerWorkerSeries) {
    StatusSnapshot snap = snapshot();
    snap.workers.push_back(worker(5, 106, "idle", false));
    snap.workers.back().rss_bytes = 3 << 20;
    const std::string prom = prometheus(snap);
    EXPECT_EQ(prometheus_value(prom, "warmpool_workers{pool=\"web\",state=\"starting\"}"), "1");
    EXPECT_EQ(prometheus_value(prom, "warmpool_workers{pool=\"web\",state=\"idle\"}"), "2");
    EXPECT_EQ(prometheus_value(prom, "warmpool_workers{pool=\"web\",state=\"busy\"}"), "1");
    EXPECT_EQ(prometheus_value(prom, "warmpool_workers{pool=\"web\",state=\"retiring\"}"), "1");
    EXPECT_EQ(prometheus_value(prom, "warmpool_worker_jobs_done_total{pool=\"web\",slot=\"0\"}"), "17");
    EXPECT_EQ(prometheus_value(prom, "warmpool_worker_queued_jobs{pool=\"web\",slot=\"1\"}"), "3");
    EXPECT_EQ(prometheus_value(prom, "warmpool_worker_rss_bytes{pool=\"web\",slot=\"0\"}"), "1048576");
    EXPECT_EQ(prometheus_value(prom, "warmpool_worker_rss_bytes{pool=\"web\",slot=\"5\"}"), "3145728");
    EXPECT_EQ(prometheus_value(prom, "warmpool_worker_init_seconds{pool=\"web\",slot=\"0\"}"), "0.25");
    EXPECT_EQ(prometheus_value(prom, "warmpool_worker_uptime_seconds{pool=\"web\",slot=\"0\"}"), "10");
    EXPECT_EQ(prometheus_value(prom, "warmpool_worker_rss_bytes{pool=\"web\",slot=\"4\"}"), "") << "no such slot";
}

// OpenMetrics names a counter's family without "_total" (its samples keep it), has UNIT lines
// for the families whose name ends in a unit, and ends with "# EOF".
TEST(StatusReport, OpenMetricsNamesFamiliesWithoutTotalAndEndsWithEof) {
    const std::string om = openmetrics(snapshot());
    EXPECT_NE(om.find("# HELP warmpool_jobs_submitted Jobs accepted from clients\n"
                      "# TYPE warmpool_jobs_submitted counter\n"
                      "warmpool_jobs_submitted_total{pool=\"web\"} 100\n"),
              std::string::npos)
        << om;
    EXPECT_EQ(om.find("# TYPE warmpool_jobs_submitted_total"), std::string::npos);
    EXPECT_NE(om.find("# TYPE warmpool_uptime_seconds gauge\n# UNIT warmpool_uptime_seconds seconds\n"),
              std::string::npos);
    EXPECT_NE(om.find("# UNIT warmpool_worker_rss_bytes bytes\n"), std::string::npos);
    ASSERT_GE(om.size(), 6u);
    EXPECT_EQ(om.substr(om.size() - 6), "# EOF\n");
    EXPECT_EQ(om.find("# EOF"), om.size() - 6) << "one # EOF, at the end";
    EXPECT_EQ(om.find("\n\n"), std::string::npos) << "OpenMetrics allows no blank line";
}

// One snapshot gives the same samples in both formats; only the metadata lines differ.
TEST(StatusReport, BothFormatsHaveTheSameSamples) {
    auto samples = [](const std::string& text) {
        std::vector<std::string> lines;
        for (const std::string& line : lines_of(text)) {
            if (line.rfind("#", 0) != 0) lines.push_back(line);
        }
        return lines;
    };
    const StatusSnapshot snap = snapshot();
    const std::vector<std::string> classic = samples(prometheus(snap));
    EXPECT_EQ(classic, samples(openmetrics(snap)));
    EXPECT_GT(classic.size(), 40u);
}

// Every family has one HELP and one TYPE line before its samples; every sample belongs to the
// family last described (its name, or with "_total" for a counter in OpenMetrics); no name twice.
TEST(StatusReport, EveryFamilyIsDescribedOnceAndItsSamplesFollowIt) {
    for (MetricsFormat format : {MetricsFormat::prometheus, MetricsFormat::openmetrics}) {
        std::set<std::string> described;
        std::string family, type;
        int samples_of_family = 0;
        for (const std::string& line : lines_of(status_metrics(snapshot(), format))) {
            if (line == "# EOF") continue;
            if (line.rfind("# HELP ", 0) == 0) {
                EXPECT_TRUE(family.empty() || samples_of_family > 0) << family << " has no sample";
                family = line.substr(7, line.find(' ', 7) - 7);
                EXPECT_TRUE(described.insert(family).second) << family << " described twice";
                samples_of_family = 0;
                continue;
            }
            if (line.rfind("# TYPE ", 0) == 0) {
                EXPECT_EQ(line.substr(7, family.size() + 1), family + " ") << line;
                type = line.substr(8 + family.size());
                EXPECT_TRUE(type == "counter" || type == "gauge" || type == "histogram") << line;
                continue;
            }
            if (line.rfind("# UNIT ", 0) == 0) continue;
            const std::string name = line.substr(0, line.find('{'));
            if (type == "histogram") {
                const std::string suffix = name.substr(family.size());
                EXPECT_EQ(name.substr(0, family.size()), family) << line;
                EXPECT_TRUE(suffix == "_bucket" || suffix == "_sum" || suffix == "_count") << line;
                ++samples_of_family;
                continue;
            }
            const std::string expected =
                format == MetricsFormat::openmetrics && type == "counter" ? family + "_total" : family;
            EXPECT_EQ(name, expected) << line;
            if (type == "counter") {
                EXPECT_EQ(name.substr(name.size() - 6), "_total") << line;
            }
            ++samples_of_family;
        }
    }
}

// The pool's name is restricted where it is configured; escaped all the same. Text chosen by
// clients (function and client names) never becomes a label.
TEST(StatusReport, LabelValuesAreEscapedAndClientTextIsNoLabel) {
    StatusSnapshot snap = snapshot();
    snap.pool = "a\"b\\c\nd";
    snap.workers[1].current_function = "evil\"} 1\nwarmpool_up{x=\"";
    snap.sessions[0].client = "client_name_here";
    for (MetricsFormat format : {MetricsFormat::prometheus, MetricsFormat::openmetrics}) {
        const std::string text = status_metrics(snap, format);
        EXPECT_EQ(prometheus_value(text, "warmpool_up{pool=\"a\\\"b\\\\c\\nd\"}"), "1") << text;
        EXPECT_EQ(text.find("evil"), std::string::npos);
        EXPECT_EQ(text.find("client_name_here"), std::string::npos);
        for (const std::string& line : lines_of(text)) {
            EXPECT_TRUE(line.rfind("warmpool_", 0) == 0 || line.rfind("# ", 0) == 0) << line;
        }
    }
}

// Latency by function in the JSON: percentiles from the buckets (never below the true value,
// at most 25 % above), the busy shares by worker, completed jobs by session.
TEST(StatusReport, JsonLatencyBusySharesAndCompletedJobs) {
    const json j = json::parse(status_json(snapshot()));
    EXPECT_EQ(j["latency"]["window_seconds"], 60);
    ASSERT_EQ(j["latency"]["functions"].size(), 2u);
    const json& add = j["latency"]["functions"][0];
    EXPECT_EQ(add["function"], "add");
    const json& run = add["run_time"]["since_start"];
    EXPECT_EQ(run["count"], 100);
    EXPECT_GE(run["p50"].get<double>(), 2e-6);
    EXPECT_LE(run["p50"].get<double>(), 2.5e-6);
    EXPECT_EQ(run["p90"], run["p50"]);
    EXPECT_EQ(run["p99"], run["p50"]);
    EXPECT_GE(run["max"].get<double>(), 3.0);
    EXPECT_LE(run["max"].get<double>(), 3.75);
    EXPECT_NEAR(run["sum"].get<double>(), 3.000198, 1e-9);
    EXPECT_EQ(add["run_time"]["last_minute"]["count"], 1);
    EXPECT_EQ(add["queue_wait"]["since_start"]["count"], 1);
    EXPECT_EQ(add["queue_wait"]["last_minute"]["count"], 0);
    EXPECT_EQ(add["queue_wait"]["last_minute"]["p99"], 0.0);
    EXPECT_EQ(j["workers"]["rows"][1]["busy_fraction"]["last_minute"], 0.25);
    EXPECT_EQ(j["workers"]["rows"][1]["busy_fraction"]["since_start"], 0.5);
    EXPECT_EQ(j["sessions"]["rows"][0]["completed"], 51);
}

// The histograms: cumulative buckets at every other power of two from 1.024 µs, +Inf equal to
// _count, labelled by function (escaped); none at all without functions.
TEST(StatusReport, LatencyHistogramsByFunction) {
    for (MetricsFormat format : {MetricsFormat::prometheus, MetricsFormat::openmetrics}) {
        const std::string text = status_metrics(snapshot(), format);
        const std::string add = "{pool=\"web\",function=\"add\"";
        EXPECT_EQ(prometheus_value(text, "warmpool_job_run_seconds_bucket" + add + ",le=\"1.024e-06\"}"), "0") << text;
        EXPECT_EQ(prometheus_value(text, "warmpool_job_run_seconds_bucket" + add + ",le=\"4.096e-06\"}"), "99");
        EXPECT_EQ(prometheus_value(text, "warmpool_job_run_seconds_bucket" + add + ",le=\"4.294967296\"}"), "100");
        EXPECT_EQ(prometheus_value(text, "warmpool_job_run_seconds_bucket" + add + ",le=\"+Inf\"}"), "100");
        EXPECT_EQ(prometheus_value(text, "warmpool_job_run_seconds_count" + add + "}"), "100");
        EXPECT_EQ(prometheus_value(text, "warmpool_job_run_seconds_sum" + add + "}"), "3.000198");
        EXPECT_EQ(prometheus_value(text, "warmpool_job_queue_wait_seconds_count" + add + "}"), "1");
        const std::string other = "{pool=\"web\",function=\"quo\\\"te\"";
        EXPECT_EQ(prometheus_value(text, "warmpool_job_run_seconds_bucket" + other + ",le=\"68.719476736\"}"), "0");
        EXPECT_EQ(prometheus_value(text, "warmpool_job_run_seconds_bucket" + other + ",le=\"+Inf\"}"), "1");
        EXPECT_EQ(prometheus_value(text, "warmpool_worker_busy_ratio{pool=\"web\",slot=\"1\"}"), "0.25");
        EXPECT_NE(text.find("# TYPE warmpool_job_run_seconds histogram\n"), std::string::npos);
    }
    StatusSnapshot none = snapshot();
    none.latency.clear();
    EXPECT_EQ(status_metrics(none, MetricsFormat::prometheus).find("warmpool_job_run_seconds"), std::string::npos);
}

}  // namespace
}  // namespace warmpool
