// PoolEndpoints: pool_endpoints.hpp.
#include "warmpool/daemon/pool_endpoints.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <utility>

#include "epoll_tags.hpp"
#include "warmpool/common/runtime_paths.hpp"

namespace warmpool {

using namespace epoll_tag;

// The runtime directory holds the lock and the sockets, which the daemon creates and removes:
// whoever controls the directory controls those names.
Status check_runtime_dir(const std::string& dir, uid_t uid) {
    if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
        return errno_error("create runtime directory " + dir);
    }
    struct stat st{};
    if (::lstat(dir.c_str(), &st) != 0) return errno_error("runtime directory " + dir);
    if (S_ISLNK(st.st_mode)) {
        return make_error(SysError::Code::permission,
                          "runtime directory " + dir + " is a symlink; refusing to follow it");
    }
    if (!S_ISDIR(st.st_mode)) {
        return make_error(SysError::Code::permission, "runtime directory " + dir + " is not a directory");
    }
    if (st.st_uid != uid && st.st_uid != 0) {
        return make_error(SysError::Code::permission, "runtime directory " + dir + " belongs to uid " +
                                                          std::to_string(st.st_uid) + ", not to us (uid " +
                                                          std::to_string(uid) + ") or root");
    }
    if (st.st_uid != uid && (st.st_mode & (S_IWGRP | S_IWOTH)) != 0 && (st.st_mode & S_ISVTX) == 0) {
        return make_error(SysError::Code::permission,
                          "runtime directory " + dir + " is writable by others and not sticky");
    }
    return {};
}

PoolEndpoints::~PoolEndpoints() {
    if (lock_) remove_sockets();
}

Status PoolEndpoints::open(const std::string& runtime_dir, const std::string& name, std::int64_t tick_ms) {
    const auto paths = PoolPaths::in(runtime_dir, name);
    if (auto st = take_lock(paths.lock_file, name); !st) return st;
    // Only the lock holder may name (and so, at exit, remove) the pool's sockets. Whatever
    // carries those names belongs to a dead predecessor.
    control_path_ = paths.control_socket;
    status_path_ = paths.status_socket;
    bool leftovers = false;
    for (const auto& path : {control_path_, status_path_}) {
        if (::unlink(path.c_str()) == 0) leftovers = true;
    }
    // (Its shared memory went with its last process: nothing of it has a name.)
    if (leftovers) spdlog::warn("removed leftovers of a previous '{}' daemon that did not stop cleanly", name);
    return create_event_sources(tick_ms);
}

Status PoolEndpoints::take_lock(const std::string& lock_file, const std::string& name) {
    // O_NOFOLLOW: a symlink planted in place of the lock file is refused, never written through.
    UniqueFd lock(::open(lock_file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644));
    if (!lock) {
        if (errno == ELOOP) {
            return make_error(SysError::Code::permission, "lock file " + lock_file + " is a symlink; refusing to follow it");
        }
        return errno_error("open " + lock_file);
    }
    struct stat st{};
    if (::fstat(lock.get(), &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != ::geteuid()) {
        return make_error(SysError::Code::permission, "lock file " + lock_file + " is not a file of ours");
    }
    // flock() dies with the process, so a kill -9'ed predecessor never leaves the pool locked.
    if (::flock(lock.get(), LOCK_EX | LOCK_NB) != 0) {
        if (errno == EWOULDBLOCK) {
            char pid[32] = {};
            [[maybe_unused]] ssize_t n = ::pread(lock.get(), pid, sizeof pid - 1, 0);
            return make_error(SysError::Code::exists, "pool '" + name + "' is already running (pid " + pid + ")");
        }
        return errno_error("lock " + lock_file);
    }
    std::string pid = std::to_string(getpid()) + "\n";
    if (::ftruncate(lock.get(), 0) != 0 ||
        ::pwrite(lock.get(), pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size())) {
        return errno_error("write " + lock_file);
    }
    lock_ = std::move(lock);
    return {};
}

Status PoolEndpoints::create_event_sources(std::int64_t tick_ms) {
    epoll_.reset(::epoll_create1(EPOLL_CLOEXEC));
    if (!epoll_) return errno_error("epoll_create1");

    // Signals become events: block them, then read them from a signalfd in the loop.
    sigset_t mask;
    sigemptyset(&mask);
    for (int sig : {SIGTERM, SIGINT, SIGHUP, SIGCHLD, SIGQUIT}) sigaddset(&mask, sig);
    if (::sigprocmask(SIG_BLOCK, &mask, nullptr) != 0) return errno_error("sigprocmask");
    ::signal(SIGPIPE, SIG_IGN);
    signals_.reset(::signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC));
    if (!signals_) return errno_error("signalfd");

    timer_.reset(::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC));
    if (!timer_) return errno_error("timerfd_create");
    itimerspec tick{};
    tick.it_interval.tv_sec = tick_ms / 1000;
    tick.it_interval.tv_nsec = (tick_ms % 1000) * 1'000'000;
    tick.it_value = tick.it_interval;
    if (::timerfd_settime(timer_.get(), 0, &tick, nullptr) != 0) return errno_error("timerfd_settime");

    // Close-on-exec matters not (workers never exec); fork_worker() hands it to each worker.
    doorbell_.reset(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
    if (!doorbell_) return errno_error("eventfd");

    for (auto [fd, tag] : {std::pair{signals_.get(), kSignal}, std::pair{timer_.get(), kTimer},
                           std::pair{doorbell_.get(), kDoorbell}}) {
        epoll_event ev{EPOLLIN, {.u64 = tagged(tag)}};
        if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev) != 0) return errno_error("epoll_ctl");
    }
    return {};
}

void PoolEndpoints::remove_sockets() {
    if (sockets_removed_) return;
    if (!control_path_.empty()) ::unlink(control_path_.c_str());
    if (!status_path_.empty()) ::unlink(status_path_.c_str());
    sockets_removed_ = true;
}

std::vector<int> PoolEndpoints::take_signals() {
    std::vector<int> delivered;
    signalfd_siginfo info;
    while (::read(signals_.get(), &info, sizeof info) == sizeof info) {
        delivered.push_back(static_cast<int>(info.ssi_signo));
    }
    return delivered;
}

void PoolEndpoints::take_timer() {
    std::uint64_t expirations;
    [[maybe_unused]] ssize_t r = ::read(timer_.get(), &expirations, sizeof expirations);
}

void PoolEndpoints::take_doorbell(int fd) {
    std::uint64_t count;
    [[maybe_unused]] ssize_t r = ::read(fd, &count, sizeof count);
}

}  // namespace warmpool
