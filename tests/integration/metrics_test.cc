// Metrics for Prometheus from real warmpoold processes: the status socket's two texts (the
// Prometheus text format and OpenMetrics), each read by the parser of python3-prometheus-client
// made for it (tests/support/parse_metrics.py); and `warmpool metrics`, the HTTP endpoint,
// scraped over real TCP connections on the loopback: counters that move, content negotiation,
// 404 and 405, clients that send nothing or too much, a pool that is gone (503), SIGTERM.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "child_process.hpp"
#include "parsed_metrics.hpp"
#include "scratch_dir.hpp"
#include "test_pool.hpp"
#include "warmpool/common/status_query.hpp"
#include "warmpool/common/unique_fd.hpp"

namespace warmpool {
namespace {

using nlohmann::json;
using testing::CommandResult;
using testing::parse_metrics;
using testing::sample_value;
using testing::TestPool;
using namespace std::chrono_literals;

std::map<std::string, json> by_name(const json& families) {
    std::map<std::string, json> named;
    for (const json& f : families) named[f["name"].get<std::string>()] = f;
    return named;
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

    // Queue wait and run time by function: histograms, the same in both.
    for (const auto* families : {&classic_families, &open_families}) {
        for (const char* name : {"warmpool_job_run_seconds", "warmpool_job_queue_wait_seconds"}) {
            ASSERT_TRUE(families->count(name)) << name << "\n" << open;
            EXPECT_EQ(families->at(name)["type"], "histogram") << name;
        }
    }
    const json gcd = {{"pool", pool.name()}, {"function", "gcd"}};
    json gcd_all = gcd;
    gcd_all["le"] = "+Inf";
    for (const json* parsed : {&from_classic, &from_open}) {
        EXPECT_EQ(sample_value(*parsed, "warmpool_job_run_seconds_count", gcd), 3);
        EXPECT_EQ(sample_value(*parsed, "warmpool_job_queue_wait_seconds_count", gcd), 3);
        EXPECT_EQ(sample_value(*parsed, "warmpool_job_run_seconds_bucket", gcd_all), 3);
        EXPECT_GT(sample_value(*parsed, "warmpool_job_run_seconds_sum", gcd), 0);
        EXPECT_EQ(sample_value(*parsed, "warmpool_job_run_seconds_count", {{"pool", pool.name()}, {"function", "fail"}}), 1);
    }

    // The command line prints either.
    CommandResult cli = pool.cli({"status", "--openmetrics"});
    EXPECT_EQ(cli.exit_code, 0) << cli.err;
    EXPECT_EQ(sample_value(parse_metrics("openmetrics", cli.out), "warmpool_jobs_submitted_total", pool_label), 4);
    cli = pool.cli({"status", "--prometheus"});
    EXPECT_EQ(cli.exit_code, 0) << cli.err;
    EXPECT_EQ(sample_value(parse_metrics("prometheus", cli.out), "warmpool_jobs_submitted_total", pool_label), 4);
}

// --- warmpool metrics: the HTTP endpoint --------------------------------------------------

// Prometheus' Accept header (2.x): OpenMetrics first, the text format after.
const char* const kPrometheusAccept =
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,"
    "text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

UniqueFd connect_loopback(std::uint16_t port) {
    UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (!fd || ::connect(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) return {};
    return fd;
}

// A port nobody listens on now (the system's choice for a socket bound and closed at once).
std::uint16_t unused_port() {
    UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&address), length) != 0 ||
        ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&address), &length) != 0) {
        return 0;
    }
    return ntohs(address.sin_port);
}

struct HttpReply {
    int status = 0;  // 0: no whole answer
    std::string head;
    std::string body;

    std::string header(const std::string& name) const {
        const std::string key = "\r\n" + name + ": ";
        const std::size_t at = head.find(key);
        if (at == std::string::npos) return "";
        const std::size_t start = at + key.size();
        return head.substr(start, head.find("\r\n", start) - start);
    }
};

// Sends `request` on a new connection and reads until the server closes it (or `timeout`).
HttpReply http_exchange(std::uint16_t port, const std::string& request, std::chrono::milliseconds timeout = 5s) {
    HttpReply reply;
    UniqueFd fd = connect_loopback(port);
    if (!fd) return reply;
    if (::send(fd.get(), request.data(), request.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(request.size())) {
        return reply;
    }
    std::string received;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        pollfd p{fd.get(), POLLIN, 0};
        if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0) return reply;
        char buf[65536];
        const ssize_t n = ::recv(fd.get(), buf, sizeof buf, 0);
        if (n < 0) return reply;
        if (n == 0) break;
        received.append(buf, static_cast<std::size_t>(n));
    }
    const std::size_t end = received.find("\r\n\r\n");
    if (end == std::string::npos || received.rfind("HTTP/1.1 ", 0) != 0) return reply;
    reply.head = received.substr(0, end + 2);
    reply.body = received.substr(end + 4);
    reply.status = std::stoi(received.substr(9, 3));
    return reply;
}

HttpReply http_get(std::uint16_t port, const std::string& path, const std::string& accept = "") {
    return http_exchange(port, "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" +
                                   (accept.empty() ? "" : "Accept: " + accept + "\r\n") + "\r\n");
}

std::string read_file(const std::string& path) {
    std::ifstream in(path);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

// `warmpool metrics --listen 127.0.0.1:PORT` for `pool`, its stdout and stderr in files; killed
// (by its pid) at the end of the test if it still runs.
class MetricsSidecar {
public:
    explicit MetricsSidecar(const TestPool& pool) {
        // The port is free when chosen; should another process take it before the sidecar
        // binds, the sidecar exits (71) and another port is tried.
        for (int attempt = 0; attempt < 5 && !child_; ++attempt) {
            port_ = unused_port();
            std::vector<std::string> argv = {testing::warmpool_cli_path(),
                                             "metrics",
                                             "--listen",
                                             "127.0.0.1:" + std::to_string(port_),
                                             "--pool",
                                             pool.name(),
                                             "--runtime-dir",
                                             pool.runtime_dir()};
            child_.emplace(testing::Child::start([&] { return exec(argv); }));
            const bool listening = testing::wait_until(
                [&] { return connect_loopback(port_).valid() || child_->wait(0ms).has_value(); }, 10s);
            if (!listening || !connect_loopback(port_)) child_.reset();
        }
        if (!child_) throw std::runtime_error("warmpool metrics did not listen; its stderr:\n" + err());
    }

    std::uint16_t port() const { return port_; }
    std::string out() const { return read_file(dir_.dir() + "/stdout"); }
    std::string err() const { return read_file(dir_.dir() + "/stderr"); }
    // Its exit code after `sig`; -1 if it has not exited within 10 s.
    int stop(int sig) {
        ::kill(child_->pid(), sig);
        return child_->exit_code(10s);
    }

private:
    int exec(const std::vector<std::string>& argv) const {
        const int out = ::open((dir_.dir() + "/stdout").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        const int err = ::open((dir_.dir() + "/stderr").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        ::dup2(out, 1);
        ::dup2(err, 2);
        std::vector<char*> args;
        for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
        args.push_back(nullptr);
        ::execv(args[0], args.data());
        return 127;
    }

    testing::ScratchDir dir_{"warmpool-metrics"};
    std::uint16_t port_ = 0;
    std::optional<testing::Child> child_;
};

TEST(MetricsEndpoint, ScrapesFollowTheCountersAndPassBothParsers) {
    TestPool pool(TestPool::Options{.workers = 2});
    MetricsSidecar sidecar(pool);
    const json pool_label = {{"pool", pool.name()}};

    HttpReply first = http_get(sidecar.port(), "/metrics");
    ASSERT_EQ(first.status, 200) << first.head << first.body;
    EXPECT_EQ(first.header("Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
    EXPECT_EQ(first.header("Content-Length"), std::to_string(first.body.size()));
    EXPECT_EQ(first.header("Connection"), "close");
    const json before = parse_metrics("prometheus", first.body);
    const double submitted = sample_value(before, "warmpool_jobs_submitted_total", pool_label);
    const double completed = sample_value(before, "warmpool_jobs_completed_total", pool_label);
    ASSERT_GE(submitted, 0);

    run_some_jobs(pool);  // 3 results, 1 handler_error
    HttpReply second = http_get(sidecar.port(), "/metrics");
    ASSERT_EQ(second.status, 200);
    const json after = parse_metrics("prometheus", second.body);
    EXPECT_EQ(sample_value(after, "warmpool_jobs_submitted_total", pool_label), submitted + 4);
    EXPECT_EQ(sample_value(after, "warmpool_jobs_completed_total", pool_label), completed + 3);
    EXPECT_EQ(sample_value(after, "warmpool_jobs_failed_total", {{"pool", pool.name()}, {"kind", "handler_error"}}), 1);
    EXPECT_EQ(sample_value(after, "warmpool_workers", {{"pool", pool.name()}, {"state", "idle"}}) +
                  sample_value(after, "warmpool_workers", {{"pool", pool.name()}, {"state", "busy"}}),
              2);

    // Prometheus asks for OpenMetrics first, and gets it.
    HttpReply open = http_get(sidecar.port(), "/metrics", kPrometheusAccept);
    ASSERT_EQ(open.status, 200);
    EXPECT_EQ(open.header("Content-Type"), "application/openmetrics-text; version=1.0.0; charset=utf-8");
    ASSERT_GE(open.body.size(), 6u);
    EXPECT_EQ(open.body.substr(open.body.size() - 6), "# EOF\n");
    const json from_open = parse_metrics("openmetrics", open.body);
    EXPECT_EQ(sample_value(from_open, "warmpool_jobs_submitted_total", pool_label), submitted + 4);
    EXPECT_EQ(by_name(from_open).at("warmpool_jobs_submitted")["type"], "counter");

    // HEAD: the length of the answer, no body.
    HttpReply head = http_exchange(sidecar.port(), "HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
    EXPECT_EQ(head.status, 200);
    EXPECT_EQ(head.body, "");
    EXPECT_GT(std::stoul(head.header("Content-Length")), 1000u);

    EXPECT_EQ(sidecar.stop(SIGTERM), 0);
    EXPECT_EQ(sidecar.out(), "");
    EXPECT_EQ(sidecar.err(), "");
}

TEST(MetricsEndpoint, OtherPathsAndMethodsAndBadRequests) {
    TestPool pool(TestPool::Options{.workers = 1});
    MetricsSidecar sidecar(pool);
    EXPECT_EQ(http_get(sidecar.port(), "/").status, 404);
    EXPECT_EQ(http_get(sidecar.port(), "/metrics/x").status, 404);
    HttpReply post = http_exchange(sidecar.port(), "POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
    EXPECT_EQ(post.status, 405);
    EXPECT_EQ(post.header("Allow"), "GET, HEAD");
    EXPECT_EQ(http_exchange(sidecar.port(), "GET /metrics\r\n\r\n").status, 400);
    EXPECT_EQ(http_exchange(sidecar.port(), "GET /metrics HTTP/1.1\r\nX: " + std::string(20000, 'a')).status, 431);
    EXPECT_EQ(http_get(sidecar.port(), "/metrics").status, 200);
    EXPECT_EQ(sidecar.stop(SIGINT), 0);
    EXPECT_EQ(sidecar.out(), "");
}

// Clients that connect and send nothing, or half a request, hold no one up: the next scrape is
// answered while they still wait, even when there are more of them than connections it keeps.
TEST(MetricsEndpoint, SilentClientsDoNotHoldUpTheNextScrape) {
    TestPool pool(TestPool::Options{.workers = 1});
    MetricsSidecar sidecar(pool);
    UniqueFd silent = connect_loopback(sidecar.port());
    ASSERT_TRUE(silent);
    UniqueFd half = connect_loopback(sidecar.port());
    ASSERT_TRUE(half);
    ASSERT_EQ(::send(half.get(), "GET /metr", 9, MSG_NOSIGNAL), 9);
    EXPECT_EQ(http_get(sidecar.port(), "/metrics").status, 200);

    std::vector<UniqueFd> crowd;
    for (int i = 0; i < 40; ++i) crowd.push_back(connect_loopback(sidecar.port()));
    EXPECT_EQ(http_get(sidecar.port(), "/metrics").status, 200);
    EXPECT_EQ(http_get(sidecar.port(), "/metrics").status, 200);
    EXPECT_EQ(sidecar.stop(SIGTERM), 0);
}

// With the pool gone the endpoint answers 503, so Prometheus records the target down; it says
// so on stderr once, and serves again when a pool of that name is back.
TEST(MetricsEndpoint, AStoppedPoolIs503) {
    TestPool pool(TestPool::Options{.workers = 1});  // its directory outlives it, for the successor
    const std::string name = pool.name();
    MetricsSidecar sidecar(pool);
    ASSERT_EQ(http_get(sidecar.port(), "/metrics").status, 200);

    pool.signal(SIGTERM);
    ASSERT_EQ(pool.wait_exit(), 0);
    HttpReply gone = http_get(sidecar.port(), "/metrics");
    EXPECT_EQ(gone.status, 503) << gone.head << gone.body;
    EXPECT_EQ(gone.header("Content-Type"), "text/plain; charset=utf-8");
    EXPECT_EQ(http_get(sidecar.port(), "/metrics").status, 503);
    const std::string err = sidecar.err();
    EXPECT_NE(err.find("pool '" + name + "' is unreachable"), std::string::npos) << err;
    EXPECT_EQ(err.find("unreachable"), err.rfind("unreachable")) << "said once: " << err;

    TestPool successor(TestPool::Options{.workers = 1, .name = name, .runtime_dir = pool.runtime_dir()});
    EXPECT_EQ(http_get(sidecar.port(), "/metrics").status, 200);
    EXPECT_EQ(sidecar.stop(SIGTERM), 0);
    EXPECT_EQ(sidecar.out(), "");
}

TEST(MetricsEndpoint, ABadOrTakenListenAddressIsAnError) {
    TestPool pool(TestPool::Options{.workers = 1});
    testing::CommandResult bad = pool.cli({"metrics", "--listen", "localhost:9464"});
    EXPECT_EQ(bad.exit_code, 64) << bad.err;
    EXPECT_NE(bad.err.find("numeric"), std::string::npos) << bad.err;
    MetricsSidecar sidecar(pool);
    testing::CommandResult taken = pool.cli({"metrics", "--listen", "127.0.0.1:" + std::to_string(sidecar.port())});
    EXPECT_EQ(taken.exit_code, 71) << taken.err;
    EXPECT_NE(taken.err.find("cannot listen"), std::string::npos) << taken.err;
    EXPECT_EQ(taken.out, "");
}

}  // namespace
}  // namespace warmpool
