// What a real warmpoold tells its service manager over NOTIFY_SOCKET (sd_notify(3)): READY=1
// once its workers are ready, WATCHDOG=1 pings from its loop (none while the loop is stopped),
// STATUS= lines with live figures, RELOADING=1 then READY=1 around a reload, STOPPING=1; and that
// none of the service manager's variables reach the workers.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "test_pool.hpp"
#include "warmpool/client.hpp"
#include "warmpool/common/unique_fd.hpp"

namespace warmpool {
namespace {

using testing::contains;
using testing::TestPool;
using testing::wait_until;
using namespace std::chrono_literals;

constexpr const char* kWatchdogUsec = "200000";
constexpr auto kWatchdogInterval = 200ms;

// The service manager's end: a datagram socket bound in a directory of its own.
class NotifySocket {
public:
    NotifySocket() {
        char tmpl[] = "/tmp/warmpool-notify-XXXXXX";
        if (::mkdtemp(tmpl) == nullptr) throw std::runtime_error("mkdtemp failed");
        dir_ = tmpl;
        path_ = dir_ + "/notify";
        fd_.reset(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        std::strncpy(addr.sun_path, path_.c_str(), sizeof addr.sun_path - 1);
        if (::bind(fd_.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
            throw std::runtime_error("bind " + path_ + ": " + std::strerror(errno));
        }
    }
    ~NotifySocket() {
        ::unlink(path_.c_str());
        ::rmdir(dir_.c_str());
    }

    const std::string& path() const { return path_; }

    // Every datagram that has arrived since the last call, appended to the log too.
    std::vector<std::string> take() {
        std::vector<std::string> messages;
        char buf[4096];
        for (;;) {
            const ssize_t n = ::recv(fd_.get(), buf, sizeof buf, 0);
            if (n < 0) break;
            messages.emplace_back(buf, static_cast<std::size_t>(n));
            log_.push_back(messages.back());
        }
        return messages;
    }
    // Every datagram received so far, in order.
    const std::vector<std::string>& log() {
        take();
        return log_;
    }
    // Index in the log of the first message from `from` on that has a line `line`, or -1.
    long find(const std::string& line, std::size_t from = 0) {
        const auto& all = log();
        for (std::size_t i = from; i < all.size(); ++i) {
            if (("\n" + all[i] + "\n").find("\n" + line + "\n") != std::string::npos) return static_cast<long>(i);
        }
        return -1;
    }
    bool wait_for(const std::string& line, std::size_t from = 0, std::chrono::milliseconds timeout = 30s) {
        return wait_until([&] { return find(line, from) >= 0; }, timeout);
    }
    std::string describe() {
        std::string text;
        for (const auto& m : log()) text += "[" + m + "]\n";
        return text;
    }

private:
    std::string dir_;
    std::string path_;
    UniqueFd fd_;
    std::vector<std::string> log_;
};

TestPool::Options notified(const NotifySocket& socket) {
    TestPool::Options options;
    options.env = {{"NOTIFY_SOCKET", socket.path()}, {"WATCHDOG_USEC", kWatchdogUsec}};
    return options;
}

std::vector<std::string> environment_of(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/environ", std::ios::binary);
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::vector<std::string> entries;
    std::size_t at = 0;
    while (at < text.size()) {
        const std::size_t end = text.find('\0', at);
        entries.push_back(text.substr(at, end == std::string::npos ? std::string::npos : end - at));
        if (end == std::string::npos) break;
        at = end + 1;
    }
    return entries;
}

char process_state(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const auto name_end = text.rfind(')');
    return name_end == std::string::npos || name_end + 2 >= text.size() ? '?' : text[name_end + 2];
}

std::size_t count_of(const std::vector<std::string>& messages, const std::string& message) {
    std::size_t n = 0;
    for (const auto& m : messages) n += m == message;
    return n;
}

TEST(NotifyTest, ReadyAfterWorkersStatusFiguresReloadAndStop) {
    NotifySocket socket;
    TestPool::Options options = notified(socket);
    options.workers = 2;
    options.wait_ready = false;
    // Slow initialisation: a READY=1 sent before the workers are ready would be seen as such.
    options.env["WARMPOOL_EXAMPLE_INIT_SECONDS"] = "0.5";
    TestPool pool(options);

    ASSERT_TRUE(socket.wait_for("READY=1")) << socket.describe() << pool.log();
    const auto ready_status = pool.status();
    EXPECT_EQ(ready_status["state"], "running");
    EXPECT_EQ(ready_status["workers"]["ready"], 2);
    const long ready = socket.find("READY=1");
    EXPECT_EQ(socket.log()[static_cast<std::size_t>(ready)],
              "READY=1\nSTATUS=2 workers ready\nMAINPID=" + std::to_string(pool.pid()));
    EXPECT_GE(socket.find("STATUS=starting 2 workers"), 0) << socket.describe();
    EXPECT_LT(socket.find("STATUS=starting 2 workers"), ready);

    // The status line follows the pool's figures.
    Client client = pool.connect();
    for (int i = 0; i < 25; ++i) EXPECT_EQ(client.call<std::int64_t>("gcd", std::pair<std::int64_t, std::int64_t>{12, 18}), 6);
    ASSERT_TRUE(wait_until(
        [&] {
            for (const auto& m : socket.log()) {
                if (contains(m, "STATUS=running: 2/2 workers live, 0 busy; 0 queued; 25 completed, 0 failed;")) {
                    return true;
                }
            }
            return false;
        },
        30s))
        << socket.describe();

    // Reload: RELOADING=1 (with the monotonic time systemd asks for), then READY=1.
    const std::size_t before_reload = socket.log().size();
    pool.signal(SIGHUP);
    ASSERT_TRUE(socket.wait_for("RELOADING=1", before_reload)) << socket.describe() << pool.log();
    const long reloading = socket.find("RELOADING=1", before_reload);
    EXPECT_TRUE(contains(socket.log()[static_cast<std::size_t>(reloading)], "\nMONOTONIC_USEC="));
    ASSERT_TRUE(socket.wait_for("READY=1", static_cast<std::size_t>(reloading))) << socket.describe() << pool.log();
    EXPECT_EQ(socket.find("READY=1", before_reload), socket.find("READY=1", static_cast<std::size_t>(reloading)));

    // Stop: STOPPING=1, and the last word says it stopped.
    const std::size_t before_stop = socket.log().size();
    pool.signal(SIGTERM);
    EXPECT_EQ(pool.wait_exit(), 0);
    EXPECT_GE(socket.find("STOPPING=1", before_stop), 0) << socket.describe();
    EXPECT_EQ(socket.log().back(), "STOPPING=1\nSTATUS=stopped");
}

TEST(NotifyTest, WatchdogPingsComeFromTheLoopAndStopWhileItIsStopped) {
    NotifySocket socket;
    TestPool pool(notified(socket));
    ASSERT_TRUE(socket.wait_for("READY=1")) << socket.describe();
    ASSERT_TRUE(wait_until([&] { return count_of(socket.log(), "WATCHDOG=1") >= 5; }, 30s)) << socket.describe();

    // Stopped, the supervisor's loop sends nothing, however long: three whole intervals here.
    pool.signal(SIGSTOP);
    ASSERT_TRUE(wait_until([&] { return process_state(pool.pid()) == 'T'; }, 10s));
    socket.take();
    std::this_thread::sleep_for(3 * kWatchdogInterval);
    const auto while_stopped = socket.take();
    pool.signal(SIGCONT);
    EXPECT_EQ(count_of(while_stopped, "WATCHDOG=1"), 0u) << socket.describe();

    // Resumed, it pings again.
    EXPECT_TRUE(wait_until([&] { return count_of(socket.take(), "WATCHDOG=1") > 0; }, 10s)) << socket.describe();
}

TEST(NotifyTest, NoWorkerInheritsTheServiceManagersVariables) {
    NotifySocket socket;
    TestPool::Options options = notified(socket);
    options.env["WATCHDOG_PID"] = "1";  // not the daemon's: its watchdog is off, yet the variable goes
    options.env["WARMPOOL_NOTIFY_TEST_KEPT"] = "1";
    TestPool pool(options);
    ASSERT_TRUE(socket.wait_for("READY=1")) << socket.describe();
    const auto workers = pool.ready_worker_pids();
    ASSERT_EQ(workers.size(), 2u);
    std::vector<pid_t> processes(workers.begin(), workers.end());
    processes.push_back(pool.pid());  // the supervisor's own /proc shows none either
    for (const pid_t pid : processes) {
        const auto environment = environment_of(pid);
        EXPECT_FALSE(environment.empty()) << pid;
        bool kept = false;
        for (const auto& entry : environment) {
            EXPECT_NE(entry.rfind("NOTIFY_SOCKET=", 0), 0u) << pid << ": " << entry;
            EXPECT_NE(entry.rfind("WATCHDOG_USEC=", 0), 0u) << pid << ": " << entry;
            EXPECT_NE(entry.rfind("WATCHDOG_PID=", 0), 0u) << pid << ": " << entry;
            kept |= entry == "WARMPOOL_NOTIFY_TEST_KEPT=1";
        }
        EXPECT_TRUE(kept) << "the rest of the environment is kept: " << pid;
    }
    EXPECT_EQ(count_of(socket.log(), "WATCHDOG=1"), 0u) << "WATCHDOG_PID names another process";
}

}  // namespace
}  // namespace warmpool
