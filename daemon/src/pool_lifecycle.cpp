// PoolLifecycle: pool_lifecycle.hpp.
#include "warmpool/daemon/pool_lifecycle.hpp"

#include <algorithm>

namespace warmpool {

const char* to_string(PoolState state) {
    switch (state) {
        case PoolState::starting: return "starting";
        case PoolState::running: return "running";
        case PoolState::stopping: return "stopping";
        case PoolState::done: return "stopped";
    }
    return "unknown";
}

std::vector<std::string> settle_reloaded_config(PoolConfig& next, const PoolConfig& running, unsigned worker_slots) {
    std::vector<std::string> warnings;
    auto keep = [&](auto PoolConfig::*field, const char* name) {
        if (next.*field != running.*field) {
            warnings.push_back(std::string("'") + name + "' cannot change while the pool runs; keeping the current value");
            next.*field = running.*field;
        }
    };
    keep(&PoolConfig::name, "name");
    keep(&PoolConfig::runtime_dir, "runtime_dir");
    keep(&PoolConfig::max_sessions, "max_sessions");
    keep(&PoolConfig::submit_ring_bytes, "submit_ring");
    keep(&PoolConfig::control_ring_bytes, "control_ring");
    keep(&PoolConfig::reply_ring_bytes, "reply_ring");
    keep(&PoolConfig::inbox_ring_bytes, "inbox_ring");
    keep(&PoolConfig::inline_max, "inline_max");
    keep(&PoolConfig::socket_mode, "socket_mode");
    keep(&PoolConfig::group, "group");
    const unsigned most = worker_slots / 2;
    if (next.workers > most) {
        warnings.push_back("workers = " + std::to_string(next.workers) + " needs a restart (at most " +
                           std::to_string(most) + " without one)");
        next.workers = most;
    }
    // The slots were sized for the most workers the pool could have at start (max_workers).
    if (next.max_workers > most) {
        warnings.push_back("max_workers = " + std::to_string(next.max_workers) + " needs a restart (at most " +
                           std::to_string(most) + " without one)");
        next.max_workers = most;
        next.min_workers = std::min(next.min_workers, most);
        next.min_spare = std::min(next.min_spare, most);
        next.max_spare = std::max(next.max_spare, next.min_spare);
    }
    return warnings;
}

}  // namespace warmpool
