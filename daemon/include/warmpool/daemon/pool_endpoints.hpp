// PoolEndpoints: the pool's names in its runtime directory, and the descriptors the
// supervisor's loop waits on besides its connections.
//
// It owns the lock file (flock'ed for the pool's whole life: only its holder may name, and so
// remove, the pool's sockets), the paths of the control and status sockets (ConnectionTable
// creates the sockets; they are removed here, at stop or when the supervisor ends), the epoll
// set, the signalfd, the housekeeping timerfd and the eventfd the workers ring. It writes nothing
// in shared memory. The supervisor's one thread only.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "warmpool/common/sys_result.hpp"
#include "warmpool/common/unique_fd.hpp"

namespace warmpool {

// Whether `dir` is safe to create the pool's names in for a daemon running as `uid`: a real
// directory (not a symlink another user could point elsewhere), owned by `uid` or root, and
// writable by nobody else unless it is sticky. Creates it (0755) if it is missing.
Status check_runtime_dir(const std::string& dir, uid_t uid);

class PoolEndpoints {
public:
    PoolEndpoints() = default;
    PoolEndpoints(const PoolEndpoints&) = delete;
    PoolEndpoints& operator=(const PoolEndpoints&) = delete;
    ~PoolEndpoints();  // removes the socket names, unless remove_sockets() did

    // Takes the lock of pool `name` in `runtime_dir` (an error if a live daemon holds it),
    // removes the socket names a dead predecessor left, and creates the event sources, with
    // SIGTERM, SIGINT, SIGQUIT, SIGHUP and SIGCHLD blocked and read from the signalfd instead.
    Status open(const std::string& runtime_dir, const std::string& name, std::int64_t tick_ms);

    const std::string& control_path() const { return control_path_; }
    const std::string& status_path() const { return status_path_; }
    int epoll() const { return epoll_.get(); }
    int doorbell() const { return doorbell_.get(); }
    // New clients can no longer find the pool; a successor may start at once.
    void remove_sockets();

    // The signals delivered since the last call, in order.
    std::vector<int> take_signals();
    // Clears the timer's expirations and the doorbell `fd`'s count (the workers' or a session's).
    void take_timer();
    static void take_doorbell(int fd);

private:
    Status take_lock(const std::string& lock_file, const std::string& name);
    Status create_event_sources(std::int64_t tick_ms);

    std::string control_path_;
    std::string status_path_;
    UniqueFd lock_;
    UniqueFd epoll_;
    UniqueFd signals_;
    UniqueFd timer_;
    UniqueFd doorbell_;
    bool sockets_removed_ = false;
};

}  // namespace warmpool
