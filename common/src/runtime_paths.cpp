#include "warmpool/common/runtime_paths.hpp"

#include <unistd.h>

#include <cstdlib>

namespace warmpool {

std::string default_runtime_dir() {
    if (const char* dir = std::getenv("WARMPOOL_RUNTIME_DIR"); dir != nullptr && *dir != '\0') {
        return dir;
    }
    if (const char* xdg = std::getenv("XDG_RUNTIME_DIR"); xdg != nullptr && *xdg != '\0') {
        return std::string(xdg) + "/warmpool";
    }
    return "/tmp/warmpool-" + std::to_string(getuid());
}

PoolPaths PoolPaths::in(const std::string& runtime_dir, std::string_view pool) {
    std::string base = runtime_dir + "/" + std::string(pool);
    return PoolPaths{base + ".sock", base + ".status", base + ".lock"};
}

}  // namespace warmpool
