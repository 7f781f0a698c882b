// ServiceNotifier: what the supervisor tells its service manager (systemd's notification
// protocol, sd_notify(3)): READY=1, RELOADING=1, STOPPING=1, a STATUS= line with live figures,
// and WATCHDOG=1 pings.
//
// It owns the notification socket's address, a datagram socket to send on, the watchdog
// interval, and when it last pinged and last sent a status. The Supervisor holds the one
// ServiceNotifier and alone calls it, from its loop's thread; it writes nothing in shared memory.
//
// The environment is read once, when the notifier is made from it (the supervisor's
// construction, before anything forks), and NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID are
// then removed from the process's environment, their text in the block written at exec
// overwritten too (/proc/PID/environ shows that block): no worker, nor any process forked later
// however it is forked, inherits them, so none can pose as the service or feed its watchdog. The
// notifier keeps what it needs and sends the datagrams itself (sd_notify would read the
// environment again).
//
// The watchdog is fed from the loop only: tick() is called from the housekeeping timer's
// handler, so a loop that hangs stops the pings and systemd acts (WatchdogSec=). The decisions
// (is the watchdog on, when is a ping due, how often must the loop tick, what the status says)
// are the pure functions below.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "warmpool/common/unique_fd.hpp"

namespace warmpool {

// The watchdog interval in ns from WATCHDOG_USEC and WATCHDOG_PID (null when unset), as
// sd_watchdog_enabled(3) reads them: on only if WATCHDOG_USEC is a positive number and
// WATCHDOG_PID is unset or is `self`. 0: no watchdog.
std::int64_t watchdog_interval_ns(const char* watchdog_usec, const char* watchdog_pid, pid_t self);

// A ping is due half an interval after the last one.
std::int64_t next_ping_due_ns(std::int64_t last_ping_ns, std::int64_t interval_ns);

// The housekeeping timer's period: `default_ms`, or a quarter of the watchdog interval if that
// is shorter (at least 1 ms), so that a ping due between two ticks goes out at most a quarter
// interval late: pings then come at most three quarters of an interval apart.
std::int64_t housekeeping_tick_ms(std::int64_t default_ms, std::int64_t watchdog_interval_ns);

// What the STATUS= line shows.
struct ServiceFigures {
    std::string state;  // starting, running, reloading, stopping
    unsigned workers_configured = 0;
    unsigned workers_live = 0;
    unsigned workers_busy = 0;
    std::uint64_t queued = 0;
    std::uint64_t completed = 0;  // jobs that returned a result
    std::uint64_t failed = 0;     // jobs that ended in an error
};

// Jobs finished (completed or failed) per second between two readings `elapsed_ns` apart.
double jobs_per_second(const ServiceFigures& before, const ServiceFigures& now, std::int64_t elapsed_ns);

// "running: 4/4 workers live, 1 busy; 0 queued; 1234 completed, 2 failed; 56.7 jobs/s"
std::string status_text(const ServiceFigures& figures, double jobs_per_second);

class ServiceNotifier {
public:
    // Status lines go out at most this often, and only when their text changed.
    static constexpr std::int64_t kStatusIntervalNs = 1'000'000'000;

    // Takes NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID from the environment and removes them
    // from it. Without NOTIFY_SOCKET every call below does nothing.
    static ServiceNotifier from_environment();
    ServiceNotifier() = default;

    bool enabled() const { return socket_.get() >= 0; }
    std::int64_t watchdog_interval_ns() const { return watchdog_ns_; }

    void status(std::string_view text);
    // READY=1 with a status line (after start: also MAINPID=).
    void ready(std::string_view status_text, bool with_main_pid);
    // RELOADING=1 with MONOTONIC_USEC= (what Type=notify-reload asks for).
    void reloading();
    void stopping(std::string_view status_text);

    // From the loop's housekeeping: pings the watchdog if a ping is due, and sends the status
    // line if a second has passed and its text changed. `figures` is called only then.
    template <class Figures>
    void tick(std::int64_t now_ns, const Figures& figures) {
        if (!enabled()) return;
        if (watchdog_ns_ > 0 && now_ns >= next_ping_due_ns(last_ping_ns_, watchdog_ns_)) ping(now_ns);
        if (now_ns - last_status_ns_ >= kStatusIntervalNs) send_figures(now_ns, figures());
    }

private:
    void ping(std::int64_t now_ns);
    void send_figures(std::int64_t now_ns, const ServiceFigures& figures);
    void send(std::string_view message);

    UniqueFd socket_;
    std::string address_;  // NOTIFY_SOCKET: a path, or "@name" in the abstract namespace
    std::int64_t watchdog_ns_ = 0;
    std::int64_t last_ping_ns_ = 0;
    std::int64_t last_status_ns_ = 0;
    std::optional<ServiceFigures> last_figures_;  // as of the last status line, for the rate
    std::string last_status_;
};

}  // namespace warmpool
