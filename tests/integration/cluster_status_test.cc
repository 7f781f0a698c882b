// A scale-out cluster's status read from a real redis-server (warmpool/cluster_status.hpp):
// keys laid out as gateways write them (heartbeats, the gateways set, the consumer group's
// pending entries, the stats hash), read through the library (cluster_status, pool_status), the
// CLI's text, JSON and metrics views (`warmpool status --endpoint`), and `warmpool metrics
// --endpoint` over HTTP; the metrics texts through python3-prometheus-client's parsers and
// promtool. Credentials and an unreachable Redis. cluster_gateways_test runs real gateways.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "child_process.hpp"
#include "parsed_metrics.hpp"
#include "redis_server.hpp"
#include "scratch_dir.hpp"
#include "test_pool.hpp"
#include "warmpool/client.hpp"
#include "warmpool/cluster_status.hpp"
#include "warmpool/redis/redis_layout.hpp"

namespace warmpool {
namespace {

using nlohmann::json;
using testing::CommandResult;
using testing::describe;
using testing::parse_metrics;
using testing::sample_value;
using namespace std::chrono_literals;

namespace layout = redis_layout;
const std::string kGroup(layout::kGroup);

void expect_promtool_quiet(const std::string& text) {
    CommandResult lint = testing::run_command({"/usr/bin/promtool", "check", "metrics"}, text);
    EXPECT_EQ(lint.exit_code, 0) << describe(lint) << "\n(promtool comes with Debian's prometheus package)";
    EXPECT_EQ(lint.out + lint.err, "") << text;
}

// GET `url` (python3's urllib): the body on stdout; for an HTTP error, exit 1 and its code on stderr.
CommandResult scrape(const std::string& url) {
    return testing::run_command(
        {WARMPOOL_PYTHON, "-c",
         "import sys, urllib.request\n"
         "try:\n"
         "    sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=10).read().decode())\n"
         "except urllib.error.HTTPError as e:\n"
         "    print(e.code, file=sys.stderr)\n"
         "    sys.exit(1)\n",
         url});
}

// A loopback port nobody listens on now (bound and closed at once).
int unused_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    const bool bound = ::bind(fd, reinterpret_cast<const sockaddr*>(&address), length) == 0 &&
                       ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0;
    ::close(fd);
    return bound ? ntohs(address.sin_port) : 0;
}

const json* gateway_named(const json& report, const std::string& name) {
    for (const auto& g : report["gateways"]) {
        if (g["name"] == name) return &g;
    }
    return nullptr;
}

// A cluster laid out by hand as two gateways leave it: "host-a" with a current heartbeat and one
// entry pending, "host-b" whose heartbeat has lapsed with two entries pending, one entry no one
// has read, and some counters.
class HandMadeCluster : public ::testing::Test {
protected:
    HandMadeCluster() : redis_(server_.connect()), keys_(kCluster) {}

    void SetUp() override {
        command({"XGROUP", "CREATE", keys_.jobs(), kGroup, "0", "MKSTREAM"});
        for (int i = 0; i < 4; ++i)
            command({"XADD", keys_.jobs(), "*", "job", "0123456789abcdef-" + std::to_string(i)});
        command({"XREADGROUP", "GROUP", kGroup, "host-a", "COUNT", "1", "STREAMS", keys_.jobs(), ">"});
        command({"XREADGROUP", "GROUP", kGroup, "host-b", "COUNT", "2", "STREAMS", keys_.jobs(), ">"});
        command({"SADD", keys_.gateways(), "host-a", "host-b"});
        const json heartbeat = {{"name", "host-a"}, {"host", "box-a"}, {"pool", "web"}, {"pid", 42},
                                {"started_ms", 1}, {"now_ms", 2}, {"lease_ms", 5000}, {"capacity", 4},
                                {"in_flight", 1}, {"received", 9}, {"finished", 8}, {"claims", 1},
                                {"requeued", 0}, {"poisoned", 0}, {"duplicates_dropped", 2},
                                {"late_after_cancel", 0}, {"lost", 0}, {"redis_reconnects", 0},
                                {"pool_reachable", true},
                                {"workers", {{"total", 2}, {"idle", 1}, {"busy", 1}, {"starting", 0}, {"slots", 4}}}};
        command({"SET", keys_.gateway("host-a"), heartbeat.dump(), "PX", "600000"});
        command({"HSET", keys_.stats(), "claims", "3", "duplicates_dropped", "2"});
    }

    void command(const std::vector<std::string>& args) {
        std::vector<std::string_view> views(args.begin(), args.end());
        auto reply = redis_.command(views);
        ASSERT_TRUE(reply) << reply.error().message();
        ASSERT_FALSE(reply->is_error()) << args[0] << ": " << reply->text();
    }

    std::string endpoint() const { return server_.endpoint(kCluster); }

    CommandResult cli(const std::vector<std::string>& args, const std::map<std::string, std::string>& env = {}) const {
        std::vector<std::string> argv = {testing::warmpool_cli_path()};
        argv.insert(argv.end(), args.begin(), args.end());
        return testing::run_command(argv, {}, env);
    }

    static constexpr const char* kCluster = "c1";
    testing::RedisServer server_;
    RedisConnection redis_;
    layout::Keys keys_;
};

TEST_F(HandMadeCluster, TheLibraryReportsLiveAndLapsedGatewaysTheirPendingEntriesAndTheCounters) {
    const json report = json::parse(cluster_status(endpoint()));
    EXPECT_EQ(report["cluster"], kCluster);
    ASSERT_EQ(report["gateways"].size(), 2U) << report.dump(2);
    const json& a = *gateway_named(report, "host-a");
    EXPECT_EQ(a["state"], "live");
    EXPECT_EQ(a["host"], "box-a");
    EXPECT_EQ(a["pending"], 1);
    EXPECT_EQ(a["workers"]["busy"], 1);
    const json& b = *gateway_named(report, "host-b");
    EXPECT_EQ(b["state"], "lapsed");
    EXPECT_EQ(b["pending"], 2);

    EXPECT_EQ(report["stream"]["length"], 4);
    EXPECT_EQ(report["stream"]["group"]["pending"], 3);
    EXPECT_EQ(report["stream"]["group"]["lag"], 1) << "one entry no gateway has read";
    EXPECT_EQ(report["stream"]["group"]["entries_read"], 3);
    EXPECT_EQ(report["counters"]["claims"], 3);
    EXPECT_EQ(report["counters"]["requeued"], 0);
    EXPECT_EQ(report["totals"]["live"], 1);
    EXPECT_EQ(report["totals"]["lapsed"], 1);
    EXPECT_EQ(report["totals"]["pending"], 3);

    // pool_status() answers the same for an endpoint given as the pool, as Client::status does.
    const json through_pool_status = json::parse(pool_status(endpoint()));
    EXPECT_EQ(through_pool_status["gateways"], report["gateways"]);
}

TEST_F(HandMadeCluster, AGarbageHeartbeatAndAConsumerOutsideTheSetAreShownNotFatal) {
    command({"SET", keys_.gateway("host-b"), "\x01garbage{", "PX", "600000"});
    command({"XREADGROUP", "GROUP", kGroup, "stray", "COUNT", "1", "STREAMS", keys_.jobs(), ">"});
    const json report = json::parse(cluster_status(endpoint()));
    EXPECT_EQ(gateway_named(report, "host-b")->at("heartbeat_error"), "not JSON");
    ASSERT_NE(gateway_named(report, "stray"), nullptr) << report.dump(2);
    EXPECT_EQ(gateway_named(report, "stray")->at("listed"), false);
    EXPECT_EQ(gateway_named(report, "stray")->at("pending"), 1);

    CommandResult text = cli({"status", "--endpoint", endpoint()});
    EXPECT_EQ(text.exit_code, 0) << describe(text);
    EXPECT_TRUE(testing::contains(text.out, "unreadable heartbeat (not JSON)")) << text.out;
}

TEST_F(HandMadeCluster, AnEmptyClusterIsNoError) {
    const json report = json::parse(cluster_status(server_.endpoint("nothing-here")));
    EXPECT_TRUE(report["gateways"].empty());
    EXPECT_EQ(report["stream"]["length"], 0);
    EXPECT_TRUE(report["stream"]["group"].is_null());
    EXPECT_EQ(report["counters"]["claims"], 0);
    CommandResult text = cli({"status", "--endpoint", server_.endpoint("nothing-here")});
    EXPECT_EQ(text.exit_code, 0) << describe(text);
    EXPECT_TRUE(testing::contains(text.out, "(no gateways)")) << text.out;
    CommandResult metrics = cli({"status", "--endpoint", server_.endpoint("nothing-here"), "--prometheus"});
    EXPECT_EQ(metrics.exit_code, 0) << describe(metrics);
    expect_promtool_quiet(metrics.out);
}

TEST_F(HandMadeCluster, TheCliShowsTextJsonAndBothMetricsFormats) {
    CommandResult text = cli({"status", "--endpoint", endpoint()});
    ASSERT_EQ(text.exit_code, 0) << describe(text);
    EXPECT_TRUE(testing::contains(text.out, "2 gateways, 1 live, 1 lapsed")) << text.out;
    EXPECT_TRUE(testing::contains(text.out, "\nhost-a   box-a  web   live    1     1     2      1          1        1"))
        << text.out;
    EXPECT_TRUE(testing::contains(text.out, "\nhost-b   -      -     lapsed  -     -     -      -          2"))
        << text.out;

    // --pool takes an endpoint too, and so does $WARMPOOL_POOL.
    CommandResult json_out = cli({"--pool", endpoint(), "status", "--json"});
    ASSERT_EQ(json_out.exit_code, 0) << describe(json_out);
    EXPECT_EQ(json::parse(json_out.out)["totals"]["lapsed"], 1);
    CommandResult from_env = cli({"status", "--json"}, {{"WARMPOOL_POOL", endpoint()}});
    ASSERT_EQ(from_env.exit_code, 0) << describe(from_env);
    EXPECT_EQ(json::parse(from_env.out)["cluster"], kCluster);

    CommandResult prometheus = cli({"status", "--endpoint", endpoint(), "--prometheus"});
    ASSERT_EQ(prometheus.exit_code, 0) << describe(prometheus);
    const json families = parse_metrics("prometheus", prometheus.out);
    EXPECT_EQ(sample_value(families, "warmpool_cluster_pending", {{"cluster", kCluster}, {"gateway", "host-b"}}), 2);
    EXPECT_EQ(sample_value(families, "warmpool_cluster_gateway_up", {{"cluster", kCluster}, {"gateway", "host-b"}}), 0);
    EXPECT_EQ(sample_value(families, "warmpool_cluster_workers",
                           {{"cluster", kCluster}, {"gateway", "host-a"}, {"state", "idle"}}),
              1);
    EXPECT_EQ(sample_value(families, "warmpool_cluster_claims_total", {{"cluster", kCluster}}), 3);
    expect_promtool_quiet(prometheus.out);

    CommandResult open = cli({"status", "--endpoint", endpoint(), "--openmetrics"});
    ASSERT_EQ(open.exit_code, 0) << describe(open);
    EXPECT_EQ(parse_metrics("openmetrics", open.out), families) << "the two formats say the same";
}

// `warmpool metrics --endpoint`: each scrape reads Redis afresh; 503 while Redis is down.
TEST_F(HandMadeCluster, TheMetricsEndpointServesTheClusterOverHttp) {
    std::optional<testing::Child> sidecar;
    std::string url;
    // A port free when chosen; another if someone took it before the sidecar could listen.
    for (int attempt = 0; attempt < 5 && !sidecar; ++attempt) {
        const std::string listen = "127.0.0.1:" + std::to_string(unused_port());
        url = "http://" + listen + "/metrics";
        std::vector<std::string> argv = {testing::warmpool_cli_path(), "metrics", "--endpoint", endpoint(),
                                         "--listen", listen};
        sidecar.emplace(testing::Child::start([&] {
            std::vector<char*> args;
            for (auto& a : argv) args.push_back(a.data());
            args.push_back(nullptr);
            ::execv(args[0], args.data());
            return 127;
        }));
        if (!testing::wait_until([&] { return scrape(url).exit_code == 0 || sidecar->wait(0ms).has_value(); }, 10s) ||
            sidecar->wait(0ms).has_value()) {
            sidecar.reset();
        }
    }
    ASSERT_TRUE(sidecar) << "warmpool metrics --endpoint did not serve";
    CommandResult first = scrape(url);
    ASSERT_EQ(first.exit_code, 0) << describe(first);
    const json families = parse_metrics("prometheus", first.out);
    EXPECT_EQ(sample_value(families, "warmpool_cluster_pending", {{"cluster", kCluster}, {"gateway", "host-a"}}), 1);

    command({"HINCRBY", keys_.stats(), "claims", "4"});
    EXPECT_EQ(sample_value(parse_metrics("prometheus", scrape(url).out), "warmpool_cluster_claims_total",
                           {{"cluster", kCluster}}),
              7)
        << "read afresh";

    server_.kill9();
    CommandResult down = scrape(url);
    EXPECT_TRUE(testing::contains(down.out + down.err, "503")) << describe(down);
    ::kill(sidecar->pid(), SIGTERM);
    EXPECT_EQ(sidecar->exit_code(10s), 0);
}

TEST(ClusterStatusAccess, APasswordFromAFileAndNoneOrAWrongOneRefused) {
    testing::RedisServer server(testing::RedisServerOptions{.password = "s3cret"});
    testing::ScratchDir dir("warmpool-cluster-password");
    const std::string good = dir.path("good"), bad = dir.path("bad");
    std::ofstream(good) << "s3cret\n";
    std::ofstream(bad) << "nope\n";
    const std::string endpoint = server.endpoint("c1");

    EXPECT_NO_THROW(static_cast<void>(cluster_status(endpoint, good)));
    EXPECT_THROW(static_cast<void>(cluster_status(endpoint, bad)), ConnectError);
    EXPECT_THROW(static_cast<void>(cluster_status(endpoint)), ConnectError);
    EXPECT_THROW(static_cast<void>(cluster_status(endpoint, dir.path("missing"))), ConnectError);

    const std::string cli = testing::warmpool_cli_path();
    CommandResult with_file =
        testing::run_command({cli, "status", "--endpoint", endpoint, "--redis-password-file", good});
    EXPECT_EQ(with_file.exit_code, 0) << describe(with_file);
    CommandResult from_env = testing::run_command({cli, "status", "--endpoint", endpoint}, {},
                                                  {{"WARMPOOL_REDIS_PASSWORD_FILE", good}});
    EXPECT_EQ(from_env.exit_code, 0) << describe(from_env);
    CommandResult refused = testing::run_command({cli, "status", "--endpoint", endpoint});
    EXPECT_EQ(refused.exit_code, 2) << describe(refused);
    EXPECT_TRUE(testing::contains(refused.err, "NOAUTH")) << refused.err;
}

// The commands for one pool's supervisor refuse an endpoint rather than act on a local pool.
TEST(ClusterStatusAccess, CommandsForOnePoolRefuseAnEndpoint) {
    for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
             {"stop"}, {"reload"}, {"scale", "3"}, {"functions"}, {"wait-ready"}}) {
        std::vector<std::string> argv = {testing::warmpool_cli_path(), "--endpoint", "redis://127.0.0.1:1/c1"};
        argv.insert(argv.end(), args.begin(), args.end());
        CommandResult r = testing::run_command(argv);
        EXPECT_EQ(r.exit_code, 64) << args[0] << ": " << describe(r);
        EXPECT_TRUE(testing::contains(r.err, "acts on a local pool and does not take --endpoint")) << r.err;
    }
}

TEST(ClusterStatusAccess, AnUnreachableRedisOrAMalformedEndpointIsExit2) {
    std::string endpoint;
    {
        testing::RedisServer server;
        endpoint = server.endpoint("c1");
    }  // gone: nothing listens on its port now
    EXPECT_THROW(static_cast<void>(cluster_status(endpoint, {}, 1000)), ConnectError);
    CommandResult gone = testing::run_command({testing::warmpool_cli_path(), "status", "--endpoint", endpoint});
    EXPECT_EQ(gone.exit_code, 2) << describe(gone);
    CommandResult top = testing::run_command({testing::warmpool_cli_path(), "--endpoint", endpoint, "top", "--once"});
    EXPECT_EQ(top.exit_code, 2) << describe(top);
    EXPECT_TRUE(testing::contains(top.err, "cannot read the cluster's status")) << top.err;
    CommandResult malformed = testing::run_command({testing::warmpool_cli_path(), "status", "--endpoint", "redis://x"});
    EXPECT_EQ(malformed.exit_code, 2) << describe(malformed);
    EXPECT_TRUE(testing::contains(malformed.err, "CLUSTER")) << malformed.err;
}

}  // namespace
}  // namespace warmpool
