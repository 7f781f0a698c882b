// Where a pool's files live: the runtime directory and the socket and lock file names in it.
#pragma once

#include <string>
#include <string_view>

namespace warmpool {

// $WARMPOOL_RUNTIME_DIR, else $XDG_RUNTIME_DIR/warmpool, else /tmp/warmpool-$UID.
std::string default_runtime_dir();

struct PoolPaths {
    std::string control_socket;  // <dir>/<pool>.sock      clients, admin commands
    std::string status_socket;   // <dir>/<pool>.status    monitoring (read-only)
    std::string lock_file;       // <dir>/<pool>.lock      held (flock) by the live supervisor

    static PoolPaths in(const std::string& runtime_dir, std::string_view pool);
};

}  // namespace warmpool
