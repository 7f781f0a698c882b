// Tests for ServiceNotifier (service_notifier.hpp): when the watchdog is on, when a ping is due,
// how often the loop must tick for it, the status line; and, over a real datagram socket, what
// the notifier sends and that it takes its variables out of the environment.

#include "warmpool/daemon/service_notifier.hpp"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "warmpool/common/unique_fd.hpp"

namespace warmpool {
namespace {

TEST(ServiceNotifierTest, WatchdogIsOnOnlyForAPositiveIntervalMeantForThisProcess) {
    EXPECT_EQ(watchdog_interval_ns("200000", nullptr, 42), 200'000'000);
    EXPECT_EQ(watchdog_interval_ns("200000", "42", 42), 200'000'000);
    EXPECT_EQ(watchdog_interval_ns("200000", "43", 42), 0);  // another process's watchdog
    EXPECT_EQ(watchdog_interval_ns("200000", "x", 42), 0);
    EXPECT_EQ(watchdog_interval_ns(nullptr, nullptr, 42), 0);
    EXPECT_EQ(watchdog_interval_ns("0", nullptr, 42), 0);
    EXPECT_EQ(watchdog_interval_ns("", nullptr, 42), 0);
    EXPECT_EQ(watchdog_interval_ns("-5", nullptr, 42), 0);
    EXPECT_EQ(watchdog_interval_ns("10s", nullptr, 42), 0);
    EXPECT_EQ(watchdog_interval_ns("99999999999999999999", nullptr, 42), 0);
}

TEST(ServiceNotifierTest, PingIsDueHalfAnIntervalAfterTheLast) {
    EXPECT_EQ(next_ping_due_ns(1'000'000'000, 30'000'000'000), 16'000'000'000);
    EXPECT_EQ(next_ping_due_ns(0, 100'000'000), 50'000'000);
}

TEST(ServiceNotifierTest, TickShortensToAQuarterOfAShortWatchdogInterval) {
    EXPECT_EQ(housekeeping_tick_ms(200, 0), 200);                 // no watchdog
    EXPECT_EQ(housekeeping_tick_ms(200, 30'000'000'000), 200);    // WatchdogSec=30
    EXPECT_EQ(housekeeping_tick_ms(200, 200'000'000), 50);        // 200 ms
    EXPECT_EQ(housekeeping_tick_ms(200, 100'000'000), 25);        // 100 ms
    EXPECT_EQ(housekeeping_tick_ms(200, 2'000'000), 1);           // never 0: that would stop the timer
    // Pings a tick late at worst are still three quarters of an interval apart at most.
    for (const std::int64_t interval : {2'000'000LL, 100'000'000LL, 1'000'000'000LL, 30'000'000'000LL}) {
        const std::int64_t tick_ns = housekeeping_tick_ms(200, interval) * 1'000'000;
        EXPECT_LE(next_ping_due_ns(0, interval) + tick_ns, interval * 3 / 4 + 1'000'000) << interval;
    }
}

TEST(ServiceNotifierTest, RateCountsFinishedJobsOverTheElapsedTime) {
    ServiceFigures before, now;
    before.completed = 100;
    before.failed = 5;
    now.completed = 190;
    now.failed = 15;
    EXPECT_DOUBLE_EQ(jobs_per_second(before, now, 2'000'000'000), 50.0);
    EXPECT_DOUBLE_EQ(jobs_per_second(before, now, 0), 0.0);
    EXPECT_DOUBLE_EQ(jobs_per_second(now, before, 1'000'000'000), 0.0);  // counters never go back
}

TEST(ServiceNotifierTest, StatusTextCarriesTheFigures) {
    ServiceFigures f;
    f.state = "running";
    f.workers_configured = 4;
    f.workers_live = 3;
    f.workers_busy = 1;
    f.queued = 7;
    f.completed = 1234;
    f.failed = 2;
    EXPECT_EQ(status_text(f, 56.74), "running: 3/4 workers live, 1 busy; 7 queued; 1234 completed, 2 failed; 56.7 jobs/s");
    EXPECT_EQ(status_text(f, 0), "running: 3/4 workers live, 1 busy; 7 queued; 1234 completed, 2 failed; 0 jobs/s");
    EXPECT_EQ(status_text(f, 12345.6),
              "running: 3/4 workers live, 1 busy; 7 queued; 1234 completed, 2 failed; 12346 jobs/s");
}

// A notification socket, as systemd binds one.
struct NotifySocket {
    UniqueFd fd;
    std::string path;

    NotifySocket() {
        path = "/tmp/warmpool-notify-test-" + std::to_string(::getpid());
        ::unlink(path.c_str());
        fd.reset(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
        if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
            ADD_FAILURE() << "bind " << path << ": " << std::strerror(errno);
        }
    }
    ~NotifySocket() { ::unlink(path.c_str()); }

    std::vector<std::string> take() {
        std::vector<std::string> messages;
        char buf[4096];
        for (;;) {
            const ssize_t n = ::recv(fd.get(), buf, sizeof buf, 0);
            if (n < 0) break;
            messages.emplace_back(buf, static_cast<std::size_t>(n));
        }
        return messages;
    }
};

TEST(ServiceNotifierTest, TakesItsVariablesOutOfTheEnvironmentAndSendsToTheSocket) {
    NotifySocket socket;
    ::setenv("NOTIFY_SOCKET", socket.path.c_str(), 1);
    ::setenv("WATCHDOG_USEC", "100000", 1);
    ::setenv("WATCHDOG_PID", std::to_string(::getpid()).c_str(), 1);
    ServiceNotifier notifier = ServiceNotifier::from_environment();
    EXPECT_EQ(std::getenv("NOTIFY_SOCKET"), nullptr);
    EXPECT_EQ(std::getenv("WATCHDOG_USEC"), nullptr);
    EXPECT_EQ(std::getenv("WATCHDOG_PID"), nullptr);
    ASSERT_TRUE(notifier.enabled());
    EXPECT_EQ(notifier.watchdog_interval_ns(), 100'000'000);

    notifier.ready("2 workers ready", true);
    notifier.reloading();
    notifier.stopping("stopping");
    auto messages = socket.take();
    ASSERT_EQ(messages.size(), 3u);
    EXPECT_EQ(messages[0], "READY=1\nSTATUS=2 workers ready\nMAINPID=" + std::to_string(::getpid()));
    EXPECT_EQ(messages[1].rfind("RELOADING=1\nMONOTONIC_USEC=", 0), 0u) << messages[1];
    EXPECT_EQ(messages[2], "STOPPING=1\nSTATUS=stopping");

    // A tick pings when a ping is due, and sends the status line once a second if it changed.
    ServiceFigures figures;
    figures.state = "running";
    figures.workers_configured = 2;
    figures.workers_live = 2;
    unsigned asked = 0;
    auto read_figures = [&] {
        ++asked;
        return figures;
    };
    const std::int64_t t0 = 10'000'000'000;
    notifier.tick(t0, read_figures);
    messages = socket.take();
    ASSERT_EQ(messages.size(), 2u);
    EXPECT_EQ(messages[0], "WATCHDOG=1");
    EXPECT_EQ(messages[1], "STATUS=running: 2/2 workers live, 0 busy; 0 queued; 0 completed, 0 failed; 0 jobs/s");
    notifier.tick(t0 + 10'000'000, read_figures);  // 10 ms later: nothing due
    EXPECT_TRUE(socket.take().empty());
    EXPECT_EQ(asked, 1u);
    notifier.tick(t0 + 50'000'000, read_figures);  // half the interval: a ping; the status is not due
    EXPECT_EQ(socket.take(), std::vector<std::string>{"WATCHDOG=1"});
    notifier.tick(t0 + 1'000'000'000, read_figures);  // a second: same figures, no status line
    EXPECT_EQ(socket.take(), std::vector<std::string>{"WATCHDOG=1"});
    EXPECT_EQ(asked, 2u);
    figures.completed = 30;
    figures.workers_busy = 1;
    notifier.tick(t0 + 2'000'000'000, read_figures);
    messages = socket.take();
    ASSERT_EQ(messages.size(), 2u);
    EXPECT_EQ(messages[1], "STATUS=running: 2/2 workers live, 1 busy; 0 queued; 30 completed, 0 failed; 30.0 jobs/s");
}

TEST(ServiceNotifierTest, WithoutNotifySocketNothingIsSentAndNoWatchdogKept) {
    ::unsetenv("NOTIFY_SOCKET");
    ::setenv("WATCHDOG_USEC", "100000", 1);
    ServiceNotifier notifier = ServiceNotifier::from_environment();
    EXPECT_FALSE(notifier.enabled());
    EXPECT_EQ(notifier.watchdog_interval_ns(), 0);
    EXPECT_EQ(std::getenv("WATCHDOG_USEC"), nullptr);
    unsigned asked = 0;
    notifier.tick(10'000'000'000, [&] {
        ++asked;
        return ServiceFigures{};
    });
    EXPECT_EQ(asked, 0u);
}

TEST(ServiceNotifierTest, AbstractSocketNamesAreReached) {
    const std::string name = "warmpool-notify-test-" + std::to_string(::getpid());
    UniqueFd fd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path + 1, name.data(), name.size());
    ASSERT_EQ(::bind(fd.get(), reinterpret_cast<const sockaddr*>(&addr),
                     static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size())),
              0);
    ::setenv("NOTIFY_SOCKET", ("@" + name).c_str(), 1);
    ServiceNotifier notifier = ServiceNotifier::from_environment();
    notifier.status("hello");
    char buf[64];
    const ssize_t n = ::recv(fd.get(), buf, sizeof buf, 0);
    ASSERT_GT(n, 0);
    EXPECT_EQ(std::string(buf, static_cast<std::size_t>(n)), "STATUS=hello");
}

}  // namespace
}  // namespace warmpool
