// What the supervisor tells its service manager: service_notifier.hpp.
#include "warmpool/daemon/service_notifier.hpp"

#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>
#include <utility>

#include "warmpool/common/clock.hpp"

namespace warmpool {

namespace {

// A decimal number that is all of `text`, or nullopt.
std::optional<std::uint64_t> parse_number(const char* text) {
    if (text == nullptr || *text < '0' || *text > '9') return std::nullopt;
    errno = 0;
    char* end = nullptr;
    const unsigned long long value = std::strtoull(text, &end, 10);
    if (errno != 0 || *end != '\0') return std::nullopt;
    return value;
}

std::string env_text(const char* name) {
    const char* value = std::getenv(name);
    return value != nullptr ? value : "";
}

// Where the environment the kernel wrote at exec lies: /proc/self/stat's env_start and env_end
// (fields 50 and 51). {0, 0} if it cannot be read.
std::pair<std::uintptr_t, std::uintptr_t> exec_environment_block() {
    std::ifstream stat("/proc/self/stat");
    std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
    const auto name_end = text.rfind(')');
    if (name_end == std::string::npos) return {0, 0};
    std::istringstream fields(text.substr(name_end + 1));
    std::string field;
    std::uintptr_t start = 0, end = 0;
    for (int number = 3; fields >> field; ++number) {  // field 3 (the state) follows the name
        if (number == 50) start = std::strtoull(field.c_str(), nullptr, 10);
        if (number == 51) end = std::strtoull(field.c_str(), nullptr, 10);
    }
    return {start, end};
}

// Takes `name` out of the environment. unsetenv() alone leaves its text in the block the kernel
// wrote at exec, which /proc/PID/environ shows, for this process and every process forked from
// it: that text is overwritten with NULs too. (A value set later by setenv() lives in the heap,
// where glibc may keep it for reuse: it is left alone, and /proc does not show it anyway.)
void erase_from_environment(const char* name, std::pair<std::uintptr_t, std::uintptr_t> block) {
    char* value = std::getenv(name);
    if (value == nullptr) return;
    char* entry = value - std::strlen(name) - 1;  // "NAME=value"
    const std::size_t length = std::strlen(entry);
    ::unsetenv(name);
    const auto at = reinterpret_cast<std::uintptr_t>(entry);
    if (at >= block.first && at + length <= block.second) std::memset(entry, 0, length);
}

}  // namespace

std::int64_t watchdog_interval_ns(const char* watchdog_usec, const char* watchdog_pid, pid_t self) {
    const auto usec = parse_number(watchdog_usec);
    if (!usec || *usec == 0 || *usec > static_cast<std::uint64_t>(INT64_MAX / 1000)) return 0;
    if (watchdog_pid != nullptr) {
        const auto pid = parse_number(watchdog_pid);
        if (!pid || *pid != static_cast<std::uint64_t>(self)) return 0;
    }
    return static_cast<std::int64_t>(*usec) * 1000;
}

std::int64_t next_ping_due_ns(std::int64_t last_ping_ns, std::int64_t interval_ns) {
    return last_ping_ns + interval_ns / 2;
}

std::int64_t housekeeping_tick_ms(std::int64_t default_ms, std::int64_t watchdog_interval_ns) {
    if (watchdog_interval_ns <= 0) return default_ms;
    return std::clamp<std::int64_t>(watchdog_interval_ns / 4 / 1'000'000, 1, default_ms);
}

double jobs_per_second(const ServiceFigures& before, const ServiceFigures& now, std::int64_t elapsed_ns) {
    const std::uint64_t finished_before = before.completed + before.failed;
    const std::uint64_t finished_now = now.completed + now.failed;
    if (elapsed_ns <= 0 || finished_now < finished_before) return 0;
    return static_cast<double>(finished_now - finished_before) * 1e9 / static_cast<double>(elapsed_ns);
}

std::string status_text(const ServiceFigures& f, double rate) {
    char rate_text[32];
    // Few digits, so that an idle pool's line stays the same and is not sent again.
    std::snprintf(rate_text, sizeof rate_text, rate >= 100 || rate == 0 ? "%.0f" : "%.1f", rate);
    return fmt::format("{}: {}/{} workers live, {} busy; {} queued; {} completed, {} failed; {} jobs/s", f.state,
                       f.workers_live, f.workers_configured, f.workers_busy, f.queued, f.completed, f.failed,
                       rate_text);
}

ServiceNotifier ServiceNotifier::from_environment() {
    ServiceNotifier notifier;
    const std::string address = env_text("NOTIFY_SOCKET");
    const std::int64_t watchdog =
        warmpool::watchdog_interval_ns(std::getenv("WATCHDOG_USEC"), std::getenv("WATCHDOG_PID"), ::getpid());
    const auto block = exec_environment_block();
    for (const char* name : {"NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"}) erase_from_environment(name, block);
    // A path or an abstract name; anything else (e.g. vsock:) is not for a pool's supervisor.
    if (address.size() < 2 || (address[0] != '/' && address[0] != '@') ||
        address.size() >= sizeof(sockaddr_un::sun_path)) {
        if (!address.empty()) spdlog::warn("NOTIFY_SOCKET={} is not a Unix socket address; not notifying", address);
        return notifier;
    }
    notifier.socket_.reset(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!notifier.socket_) {
        spdlog::warn("cannot make a socket to notify {}: {}", address, std::strerror(errno));
        return notifier;
    }
    notifier.address_ = address;
    notifier.watchdog_ns_ = watchdog;
    if (watchdog > 0) {
        spdlog::info("systemd watchdog: {:.3f} s; pinging every {:.3f} s from the loop", static_cast<double>(watchdog) / 1e9,
                     static_cast<double>(watchdog) / 2e9);
    }
    return notifier;
}

void ServiceNotifier::status(std::string_view text) {
    if (!enabled()) return;
    last_status_ = text;
    send("STATUS=" + std::string(text));
}

void ServiceNotifier::ready(std::string_view text, bool with_main_pid) {
    if (!enabled()) return;
    last_status_ = text;
    std::string message = "READY=1\nSTATUS=" + std::string(text);
    if (with_main_pid) message += "\nMAINPID=" + std::to_string(::getpid());
    send(message);
}

void ServiceNotifier::reloading() {
    if (!enabled()) return;
    last_status_ = "reloading";
    // CLOCK_MONOTONIC, as systemd compares it with its own reading when the reload began.
    send("RELOADING=1\nMONOTONIC_USEC=" + std::to_string(monotonic_ns() / 1000) + "\nSTATUS=reloading");
}

void ServiceNotifier::stopping(std::string_view text) {
    if (!enabled()) return;
    last_status_ = text;
    send("STOPPING=1\nSTATUS=" + std::string(text));
}

void ServiceNotifier::ping(std::int64_t now_ns) {
    last_ping_ns_ = now_ns;
    send("WATCHDOG=1");
}

void ServiceNotifier::send_figures(std::int64_t now_ns, const ServiceFigures& figures) {
    const double rate = last_figures_ ? jobs_per_second(*last_figures_, figures, now_ns - last_status_ns_) : 0;
    last_figures_ = figures;
    last_status_ns_ = now_ns;
    const std::string text = status_text(figures, rate);
    if (text != last_status_) status(text);
}

void ServiceNotifier::send(std::string_view message) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, address_.data(), address_.size());
    socklen_t length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + address_.size());
    if (address_[0] == '@') {
        addr.sun_path[0] = '\0';  // abstract: no terminating NUL counted
    } else {
        ++length;
    }
    // Non-blocking: a service manager that does not read must not stall the loop. A lost
    // message is logged; the next status or ping follows.
    if (::sendto(socket_.get(), message.data(), message.size(), MSG_NOSIGNAL, reinterpret_cast<const sockaddr*>(&addr),
                 length) < 0) {
        spdlog::debug("notify {}: {}", address_, std::strerror(errno));
    }
}

}  // namespace warmpool
