// Client::connect("redis://...") against a real redis-server: endpoints and credentials (AUTH
// with requirepass, an ACL user with a password from a file or the environment, a wrong
// password), what a Redis session refuses before it sends anything, its cap on jobs in flight,
// and a cancel before any gateway took the job. (With gateways serving the cluster:
// redis_cluster_test.)
#include <gtest/gtest.h>

#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "redis_server.hpp"
#include "scratch_dir.hpp"
#include "warmpool/client.hpp"
#include "warmpool/redis/redis_layout.hpp"

namespace warmpool {
namespace {

using namespace std::chrono_literals;
using testing::RedisServer;
using testing::RedisServerOptions;

// Sets an environment variable for one scope (the tests of this binary run one at a time).
class ScopedEnv {
public:
    ScopedEnv(const char* name, const std::string& value) : name_(name) { ::setenv(name, value.c_str(), 1); }
    ~ScopedEnv() { ::unsetenv(name_); }

private:
    const char* name_;
};

std::string connect_error(const std::string& endpoint, const ClientOptions& options = {}) {
    try {
        Client::connect(endpoint, options);
    } catch (const ConnectError& e) {
        return e.what();
    }
    return "(connected)";
}

ErrorKind job_error(const std::function<void()>& f) {
    try {
        f();
    } catch (const JobError& e) {
        return e.kind();
    }
    return ErrorKind{};
}

long long integer(RedisConnection& redis, const std::vector<std::string_view>& command) {
    auto reply = redis.command(command);
    return reply ? reply->value().as_integer().value_or(-1) : -1;
}

TEST(RedisClientTest, BadOrUnreachableEndpointsAreConnectErrors) {
    EXPECT_NE(connect_error("redis://127.0.0.1:6379").find("invalid Redis endpoint"), std::string::npos);
    EXPECT_NE(connect_error("redis://alice:secret@127.0.0.1/c").find("invalid Redis endpoint"), std::string::npos);
    // Nothing listens there once the server is gone.
    std::string endpoint;
    {
        RedisServer server;
        endpoint = server.endpoint("c");
    }
    const std::string refused = connect_error(endpoint);
    EXPECT_NE(refused.find("cannot connect to Redis"), std::string::npos) << refused;
}

TEST(RedisClientTest, TheSessionNamesTheClusterAndHasRoomForTwoWorkersAtLeast) {
    RedisServer server;
    Client client = Client::connect(server.endpoint("cl1"));
    EXPECT_EQ(client.pool_name(), "cl1");
    EXPECT_EQ(client.supervisor_pid(), 0);
    EXPECT_GE(client.worker_slots(), 2u);
    EXPECT_GE(client.inline_max(), 4096u);
}

TEST(RedisClientTest, RequirepassNeedsThePasswordFromTheEnvironment) {
    RedisServer server(RedisServerOptions{.password = "s3cret"});
    const std::string missing = connect_error(server.endpoint("c"));
    EXPECT_NE(missing.find("NOAUTH"), std::string::npos) << missing;
    {
        ScopedEnv env("WARMPOOL_REDIS_PASSWORD", "wrong");
        const std::string wrong = connect_error(server.endpoint("c"));
        EXPECT_NE(wrong.find("refused"), std::string::npos) << wrong;
    }
    ScopedEnv env("WARMPOOL_REDIS_PASSWORD", "s3cret");
    EXPECT_EQ(connect_error(server.endpoint("c")), "(connected)");
}

TEST(RedisClientTest, AnAclUserTakesItsPasswordFromAFileOrTheEnvironment) {
    RedisServer server(RedisServerOptions{.acl = {"alice on >pw-alice ~warmpool:* &* +@all"}});
    testing::ScratchDir dir("redis-client");
    const std::string file = dir.path("password");
    std::ofstream(file) << "pw-alice\n";
    const std::string endpoint = "redis://alice@127.0.0.1:" + std::to_string(server.port()) + "/c";

    ClientOptions from_file;
    from_file.redis_password_file = file;
    EXPECT_EQ(connect_error(endpoint, from_file), "(connected)");
    {
        ScopedEnv env("WARMPOOL_REDIS_PASSWORD_FILE", file);
        EXPECT_EQ(connect_error(endpoint), "(connected)");
    }
    {
        ScopedEnv env("WARMPOOL_REDIS_PASSWORD", "pw-alice");
        EXPECT_EQ(connect_error(endpoint), "(connected)");
    }
    ScopedEnv env("WARMPOOL_REDIS_PASSWORD", "pw-bob");
    const std::string wrong = connect_error(endpoint);
    EXPECT_NE(wrong.find("refused"), std::string::npos) << wrong;

    ClientOptions unreadable;
    unreadable.redis_password_file = dir.path("no-such-file");
    const std::string no_file = connect_error(endpoint, unreadable);
    EXPECT_NE(no_file.find("credentials"), std::string::npos) << no_file;
}

TEST(RedisClientTest, WhatNoGatewayWouldTakeIsRefusedBeforeAnythingIsSent) {
    RedisServer server;
    RedisConnection redis = server.connect();
    const redis_layout::Keys keys("c");
    Client client = Client::connect(server.endpoint("c"));
    EXPECT_EQ(job_error([&] { client.submit_json("echo", std::string(65u << 20, ' ')); }), ErrorKind::bad_request);
    CallOptions high;
    high.priority = 9;
    EXPECT_EQ(job_error([&] { client.submit_json("echo", "1", high); }), ErrorKind::bad_request);
    EXPECT_EQ(job_error([&] { client.submit_json(std::string(60, 'f'), "1"); }), ErrorKind::bad_request);
    EXPECT_EQ(integer(redis, {"XLEN", keys.jobs()}), 0);
}

TEST(RedisClientTest, AJobCancelledBeforeAnyGatewayTookItEndsCancelledOnceAndLeavesTheStream) {
    RedisServer server;
    RedisConnection redis = server.connect();
    const redis_layout::Keys keys("c");
    Client client = Client::connect(server.endpoint("c"));
    RawFuture kept = client.submit_json("echo", "1");
    RawFuture dropped = client.submit_json("echo", "2");
    EXPECT_EQ(integer(redis, {"XLEN", keys.jobs()}), 2);
    dropped.cancel();
    EXPECT_EQ(job_error([&] { dropped.get(); }), ErrorKind::cancelled);
    EXPECT_EQ(dropped.status(), static_cast<std::uint16_t>(ErrorKind::cancelled));
    dropped.cancel(true);  // ended: a second cancel sends nothing
    // Only the kept job is left for the gateways; the cancel went out to them too, once.
    EXPECT_EQ(integer(redis, {"XLEN", keys.jobs()}), 1);
    EXPECT_EQ(integer(redis, {"XLEN", keys.cancels()}), 1);
    // The client finished it: its fencing key names the client and the cancelled status.
    auto done = redis.command({"KEYS", keys.done("*")});
    ASSERT_TRUE(done && done->value().size() == 1);
    auto holder = redis.command({"GET", done->value()[0].text()});
    ASSERT_TRUE(holder);
    EXPECT_EQ(holder->text(), "client " + std::to_string(static_cast<int>(ErrorKind::cancelled)));
    EXPECT_FALSE(kept.wait_for(50ms));
}

TEST(RedisClientTest, TheCapOnJobsInFlightMakesTrySubmitOverloaded) {
    RedisServer server;
    Client client = Client::connect(server.endpoint("c"));
    std::vector<RawFuture> futures;
    // With no gateway nothing finishes: the cap (1024 for the smallest cluster) is reached.
    std::optional<ErrorKind> refused;
    CallOptions no_wait;
    no_wait.wait_if_full = false;
    for (int i = 0; i < 5000 && !refused; ++i) {
        try {
            futures.push_back(client.submit_json("echo", "1", no_wait));
        } catch (const JobError& e) {
            refused = e.kind();
        }
    }
    ASSERT_TRUE(refused);
    EXPECT_EQ(*refused, ErrorKind::overloaded);
    EXPECT_EQ(futures.size(), 1024u);
    CallOptions short_wait;
    short_wait.max_wait = 20ms;
    EXPECT_EQ(job_error([&] { client.submit_json("echo", "1", short_wait); }), ErrorKind::overloaded);
    // A cancel makes room: its reply arrives and the job leaves the count.
    futures.front().cancel();
    EXPECT_EQ(job_error([&] { futures.front().get(); }), ErrorKind::cancelled);
    EXPECT_NO_THROW(futures.push_back(client.submit_json("echo", "1", no_wait)));
}

}  // namespace
}  // namespace warmpool
