// Readiness: the pool reports ready (log, status, and READY=1 to systemd's notify socket) only
// after every worker finished its initialisation, and no job runs on an uninitialised worker.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>

#include "jobs/example_types.hpp"
#include "test_pool.hpp"
#include "warmpool/common/clock.hpp"
#include "warmpool/common/unique_fd.hpp"

namespace warmpool {
namespace {

using namespace std::chrono_literals;
using testing::TestPool;

// A datagram socket standing in for systemd's notify socket.
struct NotifySocket {
    UniqueFd fd{::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)};
    std::string path = "/tmp/warmpool-notify-" + std::to_string(getpid());

    NotifySocket() {
        ::unlink(path.c_str());
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
        if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) throw std::runtime_error("bind");
    }
    ~NotifySocket() { ::unlink(path.c_str()); }

    // Waits for a datagram containing `needle`; returns the monotonic time it arrived, or -1.
    std::int64_t wait_for(const std::string& needle, std::chrono::milliseconds timeout) {
        const std::int64_t deadline = monotonic_ns() + timeout.count() * 1'000'000;
        while (monotonic_ns() < deadline) {
            timeval tv{0, 100'000};
            ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
            char buf[4096];
            ssize_t n = ::recv(fd.get(), buf, sizeof buf, 0);
            if (n > 0 && std::string(buf, static_cast<std::size_t>(n)).find(needle) != std::string::npos) {
                return monotonic_ns();
            }
        }
        return -1;
    }
};

TEST(ReadinessTest, ReadyIsSentOnlyAfterEveryWorkerInitialised) {
    NotifySocket notify;
    TestPool::Options options;
    options.wait_ready = false;
    options.env = {{"NOTIFY_SOCKET", notify.path}, {"WARMPOOL_EXAMPLE_INIT_SECONDS", "0.6"}};
    const std::int64_t started = monotonic_ns();
    TestPool pool(options);
    const std::int64_t ready_at = notify.wait_for("READY=1", 20s);
    ASSERT_GT(ready_at, 0) << pool.log();
    EXPECT_GE(ready_at - started, 600'000'000) << "READY=1 came before the 0.6 s initialisation ended";
    auto status = pool.status();
    EXPECT_EQ(status["state"], "running");
    EXPECT_EQ(status["workers"]["ready"], 2);
    for (const auto& row : status["workers"]["rows"]) EXPECT_GE(row["init_seconds"].get<double>(), 0.6);

    pool.signal(SIGTERM);
    EXPECT_GT(notify.wait_for("STOPPING=1", 20s), 0);
    EXPECT_EQ(pool.wait_exit(20s), 0);
}

TEST(ReadinessTest, JobsSubmittedDuringInitialisationWaitForIt) {
    TestPool::Options options;
    options.wait_ready = false;
    options.env = {{"WARMPOOL_EXAMPLE_INIT_SECONDS", "0.8"}};
    TestPool pool(options);
    // Connect as soon as the socket exists, while the workers are still initialising.
    ASSERT_TRUE(testing::wait_until([&] { return access(pool.control_socket().c_str(), F_OK) == 0; }, 10s));
    Client client = pool.connect();
    EXPECT_EQ(pool.status()["state"], "starting");
    auto info = client.call<examples::WorkerInfo>("worker_info", std::int64_t{0});
    EXPECT_EQ(info.inits, 1) << "the job ran on a worker whose initialisation had finished";
}

TEST(ReadinessTest, BrokenInitialisationStopsTheDaemonWithAClearError) {
    TestPool::Options options;
    options.wait_ready = false;
    options.env = {{"WARMPOOL_EXAMPLE_INIT_FAIL", "1"}};
    TestPool pool(options);
    EXPECT_EQ(pool.wait_exit(20s), 2);
    EXPECT_NE(pool.log().find("example init failure requested"), std::string::npos) << pool.log();
    EXPECT_NE(pool.log().find("giving up instead of forking again"), std::string::npos);
    EXPECT_TRUE(pool.leftover_shm().empty());
}

TEST(ReadinessTest, MissingJobLibraryIsAClearStartupError) {
    TestPool::Options options;
    options.wait_ready = false;
    options.jobs_library = "/nonexistent/jobs.so";
    TestPool pool(options);
    // A configuration error: 64 (EX_USAGE), which the service unit does not restart.
    EXPECT_EQ(pool.wait_exit(20s), 64);
    EXPECT_NE(pool.log().find("cannot load job library /nonexistent/jobs.so"), std::string::npos) << pool.log();
}

}  // namespace
}  // namespace warmpool
