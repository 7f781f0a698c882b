#include "warmpool/common/shm_layout.hpp"

#include <cstdio>

namespace warmpool {

bool valid_pool_name(std::string_view name) {
    if (name.empty() || name.size() > 64) return false;
    for (char c : name) {
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '-';
        if (!ok) return false;
    }
    return true;
}

std::string segment_label(std::string_view pool, std::string_view what) {
    return "warmpool." + std::string(pool) + "." + std::string(what);
}

}  // namespace warmpool
