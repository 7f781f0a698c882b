// Where a pool's files live: the runtime directory and the socket and lock file names in it.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace warmpool {

// $WARMPOOL_RUNTIME_DIR, else $XDG_RUNTIME_DIR/warmpool, else /tmp/warmpool-$UID.
std::string default_runtime_dir();

// Where the systemd unit's pools live (warmpoold@.service: --runtime-dir /run/warmpool).
inline constexpr const char* kSystemRuntimeDir = "/run/warmpool";

struct PoolPaths {
    std::string control_socket;  // <dir>/<pool>.sock      clients, admin commands
    std::string status_socket;   // <dir>/<pool>.status    monitoring (read-only)
    std::string lock_file;       // <dir>/<pool>.lock      held (flock) by the live supervisor

    static PoolPaths in(const std::string& runtime_dir, std::string_view pool);
};

// The runtime directory of pool `pool` when none is given: the first of `candidates` that has
// the pool's control or status socket, else the first candidate.
std::string locate_runtime_dir(std::string_view pool, const std::vector<std::string>& candidates);
// The candidates a command looks in when given no directory: $WARMPOOL_RUNTIME_DIR alone if it
// is set; else the user's own directory (default_runtime_dir()), then kSystemRuntimeDir.
std::vector<std::string> runtime_dir_candidates();

}  // namespace warmpool
