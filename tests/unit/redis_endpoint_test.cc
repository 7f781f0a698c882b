// Redis endpoints and credentials: what parses, what is refused and why, and where a password
// may come from (never the endpoint).
#include "warmpool/redis/redis_endpoint.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>

#include "scratch_dir.hpp"

namespace warmpool {
namespace {

class RedisEnvironment : public ::testing::Test {
protected:
    void SetUp() override {
        for (const char* name : kNames) unsetenv(name);
    }
    void TearDown() override {
        for (const char* name : kNames) unsetenv(name);
    }
    static constexpr const char* kNames[] = {"WARMPOOL_REDIS_USER", "WARMPOOL_REDIS_PASSWORD",
                                             "WARMPOOL_REDIS_PASSWORD_FILE"};
};

TEST(RedisEndpoint, ParsesHostPortAndCluster) {
    auto endpoint = parse_redis_endpoint("redis://127.0.0.1:6390/render");
    ASSERT_TRUE(endpoint) << endpoint.error().message();
    EXPECT_EQ(endpoint->host, "127.0.0.1");
    EXPECT_EQ(endpoint->port, 6390);
    EXPECT_EQ(endpoint->cluster, "render");
    EXPECT_EQ(endpoint->user, "");
    EXPECT_EQ(endpoint->text(), "redis://127.0.0.1:6390/render");
}

TEST(RedisEndpoint, DefaultsThePortAndTakesAUser) {
    auto endpoint = parse_redis_endpoint("redis://alice@queue.example_1/jobs-2");
    ASSERT_TRUE(endpoint) << endpoint.error().message();
    EXPECT_EQ(endpoint->host, "queue.example_1");
    EXPECT_EQ(endpoint->port, kRedisDefaultPort);
    EXPECT_EQ(endpoint->user, "alice");
    EXPECT_EQ(endpoint->text(), "redis://alice@queue.example_1:6379/jobs-2");
}

TEST(RedisEndpoint, RefusesAPasswordInTheEndpoint) {
    auto endpoint = parse_redis_endpoint("redis://alice:secret@localhost:6379/jobs");
    ASSERT_FALSE(endpoint);
    EXPECT_NE(endpoint.error().message().find("password does not go in the endpoint"), std::string::npos);
    EXPECT_EQ(endpoint.error().message().find("secret"), std::string::npos) << "the password is never echoed";
}

TEST(RedisEndpoint, RefusesMalformedOnes) {
    for (const char* bad : {"redis:/x:1/p", "http://localhost/p", "redis://localhost:6379", "redis://localhost:0/p",
                            "redis://localhost:65536/p", "redis://localhost:12a/p", "redis://:6379/p",
                            "redis://local host:6379/p", "redis://localhost:6379/", "redis://localhost:6379/a/b",
                            "redis://localhost:6379/caf\xc3\xa9", "redis://@localhost/p"}) {
        EXPECT_FALSE(parse_redis_endpoint(bad)) << bad;
    }
    EXPECT_TRUE(is_redis_endpoint("redis://x/y"));
    EXPECT_FALSE(is_redis_endpoint("default"));
}

TEST_F(RedisEnvironment, NoPasswordMeansNoAuth) {
    auto credentials = resolve_redis_credentials(parse_redis_endpoint("redis://h/p").value());
    ASSERT_TRUE(credentials);
    EXPECT_EQ(credentials->user, "");
    EXPECT_EQ(credentials->password, "");
}

TEST_F(RedisEnvironment, PasswordFromTheEnvironmentAndUserFromEither) {
    setenv("WARMPOOL_REDIS_PASSWORD", "pw1", 1);
    setenv("WARMPOOL_REDIS_USER", "bob", 1);
    auto from_env = resolve_redis_credentials(parse_redis_endpoint("redis://h/p").value());
    ASSERT_TRUE(from_env);
    EXPECT_EQ(from_env->user, "bob");
    EXPECT_EQ(from_env->password, "pw1");
    auto from_endpoint = resolve_redis_credentials(parse_redis_endpoint("redis://carol@h/p").value());
    ASSERT_TRUE(from_endpoint);
    EXPECT_EQ(from_endpoint->user, "carol");
}

TEST_F(RedisEnvironment, APasswordFileWinsAndLosesItsNewline) {
    testing::ScratchDir dir;
    const std::string file = dir.path("password");
    std::ofstream(file) << "s3cret\n";
    setenv("WARMPOOL_REDIS_PASSWORD", "from-env", 1);
    setenv("WARMPOOL_REDIS_PASSWORD_FILE", file.c_str(), 1);
    auto credentials = resolve_redis_credentials(parse_redis_endpoint("redis://h/p").value());
    ASSERT_TRUE(credentials);
    EXPECT_EQ(credentials->password, "s3cret");
    auto explicit_file = resolve_redis_credentials(parse_redis_endpoint("redis://h/p").value(), file);
    ASSERT_TRUE(explicit_file);
    EXPECT_EQ(explicit_file->password, "s3cret");
}

TEST_F(RedisEnvironment, AnUnreadableOrEmptyPasswordFileIsAnError) {
    testing::ScratchDir dir;
    EXPECT_FALSE(resolve_redis_credentials(parse_redis_endpoint("redis://h/p").value(), dir.path("missing")));
    const std::string empty = dir.path("empty");
    std::ofstream(empty) << "\n";
    EXPECT_FALSE(resolve_redis_credentials(parse_redis_endpoint("redis://h/p").value(), empty));
}

TEST_F(RedisEnvironment, AUserWithoutAPasswordIsAnError) {
    auto credentials = resolve_redis_credentials(parse_redis_endpoint("redis://dave@h/p").value());
    ASSERT_FALSE(credentials);
    EXPECT_NE(credentials.error().message().find("needs a password"), std::string::npos);
}

}  // namespace
}  // namespace warmpool
