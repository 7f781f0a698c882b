// Runtime paths: runtime_paths.hpp.
#include "warmpool/common/runtime_paths.hpp"

#include <sys/stat.h>
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

std::string locate_runtime_dir(std::string_view pool, const std::vector<std::string>& candidates) {
    for (const auto& dir : candidates) {
        const PoolPaths paths = PoolPaths::in(dir, pool);
        struct stat st{};
        if (::stat(paths.control_socket.c_str(), &st) == 0 || ::stat(paths.status_socket.c_str(), &st) == 0) {
            return dir;
        }
    }
    return candidates.empty() ? default_runtime_dir() : candidates.front();
}

std::vector<std::string> runtime_dir_candidates() {
    if (const char* dir = std::getenv("WARMPOOL_RUNTIME_DIR"); dir != nullptr && *dir != '\0') return {dir};
    std::vector<std::string> dirs{default_runtime_dir()};
    if (dirs.front() != kSystemRuntimeDir) dirs.emplace_back(kSystemRuntimeDir);
    return dirs;
}

}  // namespace warmpool
