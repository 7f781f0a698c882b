// Text a peer chooses, against a real warmpoold: client names that are cut mid-character or
// are not UTF-8 at all must never stop the status report (which is JSON) nor the supervisor,
// and the CLI must say clearly when a status reply is empty instead of aborting.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <poll.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>

#include "raw_session.hpp"
#include "test_pool.hpp"
#include "warmpool/client.hpp"
#include "warmpool/common/unix_socket.hpp"
#include "warmpool/common/utf8.hpp"

namespace warmpool {
namespace {

using testing::TestPool;
using Pair = std::pair<std::int64_t, std::int64_t>;
using namespace std::chrono_literals;

std::string euros(int n) {
    std::string s;
    for (int i = 0; i < n; ++i) s += "\xe2\x82\xac";  // U+20AC, three bytes
    return s;
}

class HostileTextTest : public ::testing::Test {
protected:
    void SetUp() override { pool_.emplace(TestPool::Options{.workers = 2}); }

    void expect_healthy() {
        ASSERT_TRUE(pool_->running());
        Client client = pool_->connect();
        EXPECT_EQ(client.call<std::int64_t>("gcd", Pair{12, 18}), 6);
        auto status = pool_->status();
        EXPECT_EQ(status["state"], "running");
        EXPECT_EQ(status["pid"].get<pid_t>(), pool_->pid());
    }

    std::vector<std::string> client_names() const {
        std::vector<std::string> names;
        const auto status = pool_->status();  // kept alive: the loop runs over a part of it
        for (const auto& row : status["sessions"]["rows"]) names.push_back(row["client"]);
        return names;
    }

    std::optional<TestPool> pool_;
};

TEST_F(HostileTextTest, ALongMultiByteNameIsCutAtACharacterBoundary) {
    // 22 euro signs are 66 bytes; the pool keeps at most 64 bytes of a name.
    ClientOptions options;
    options.runtime_dir = pool_->runtime_dir();
    options.client_name = euros(22);
    Client client = Client::connect(pool_->name(), options);
    EXPECT_EQ(client.call<std::int64_t>("gcd", Pair{12, 18}), 6);

    auto names = client_names();
    ASSERT_EQ(names.size(), 1u);
    EXPECT_EQ(names[0], euros(21));
    auto cli = pool_->cli({"status"});
    EXPECT_EQ(cli.exit_code, 0) << cli.err;
    auto json = pool_->cli({"status", "--json"});
    EXPECT_EQ(json.exit_code, 0) << json.err;
    expect_healthy();
}

TEST_F(HostileTextTest, ANameThatIsNotUtf8IsShownWithReplacementCharacters) {
    testing::RawSession raw(pool_->control_socket(), "bad\xff\xfe\xc3(name");
    auto names = client_names();
    ASSERT_EQ(names.size(), 1u);
    EXPECT_EQ(names[0], "bad\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd(name");
    auto prometheus = pool_->cli({"status", "--prometheus"});
    EXPECT_EQ(prometheus.exit_code, 0) << prometheus.err;
    expect_healthy();
}

TEST_F(HostileTextTest, ManyBadNamesAtOnceLeaveThePoolServing) {
    std::vector<std::unique_ptr<testing::RawSession>> raws;
    const char* names[] = {"\x80", "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xe2\x82", "\xf0\x9f\x98"};
    for (const char* name : names) raws.push_back(std::make_unique<testing::RawSession>(pool_->control_socket(), name));
    for (const auto& name : client_names()) EXPECT_TRUE(is_valid_utf8(name)) << name;
    expect_healthy();
}

// A status socket that reads the request and closes without an answer, where the CLI looks for a pool.
TEST(CliStatusReply, AnEmptyStatusReplyIsAClearErrorNotACrash) {
    char dir_template[] = "/tmp/warmpool-empty-status-XXXXXX";
    ASSERT_NE(::mkdtemp(dir_template), nullptr);
    const std::string dir = dir_template;
    const std::string pool = "mute";
    auto listener = listen_unix(dir + "/" + pool + ".status", 0600, static_cast<gid_t>(-1));
    ASSERT_TRUE(listener) << listener.error().message();
    std::atomic<bool> stop{false};
    std::thread server([&] {
        while (!stop) {
            pollfd p{listener.value().get(), POLLIN, 0};
            if (::poll(&p, 1, 50) <= 0) continue;
            UniqueFd conn(::accept4(listener.value().get(), nullptr, nullptr, SOCK_CLOEXEC));
            // Read the request, so that closing sends an orderly end of stream, not a reset.
            pollfd c{conn.get(), POLLIN, 0};
            char request[256];
            if (::poll(&c, 1, 2000) > 0) (void)::recv(conn.get(), request, sizeof request, 0);
        }
    });
    auto result = testing::run_command(
        {testing::warmpool_cli_path(), "--pool", pool, "--runtime-dir", dir, "status"}, {}, {}, 20s);
    stop = true;
    server.join();
    std::filesystem::remove_all(dir);
    EXPECT_NE(result.exit_code, 0);
    EXPECT_LT(result.exit_code, 128) << "the CLI was killed by a signal: " << result.err;
    EXPECT_NE(result.err.find("empty status reply"), std::string::npos) << result.err;
}

}  // namespace
}  // namespace warmpool
