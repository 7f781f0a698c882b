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

static std::string hex(std::uint64_t value) {
    char buf[17];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(value));
    return buf;
}

std::string pool_segment_name(uid_t uid, std::string_view pool) {
    return "warmpool." + std::to_string(uid) + "." + std::string(pool);
}

std::string lane_board_name(uid_t uid, std::string_view pool) { return pool_segment_name(uid, pool) + ".lanes"; }

std::string session_segment_name(uid_t uid, std::string_view pool, std::uint32_t slot,
                                 std::uint64_t generation) {
    return pool_segment_name(uid, pool) + ".s" + std::to_string(slot) + "." + hex(generation);
}

std::string blob_prefix(uid_t uid, std::string_view pool, std::uint64_t session_generation) {
    return pool_segment_name(uid, pool) + ".b" + hex(session_generation) + ".";
}

std::string blob_name(uid_t uid, std::string_view pool, std::uint64_t session_generation,
                      char direction, std::uint64_t id) {
    return blob_prefix(uid, pool, session_generation) + direction + std::to_string(id);
}

std::string result_blob_prefix(uid_t uid, std::string_view pool, std::uint64_t session_generation,
                               pid_t worker_pid) {
    // The trailing dot keeps pid 12 from sweeping pid 123's objects.
    return blob_prefix(uid, pool, session_generation) + "r" + std::to_string(worker_pid) + ".";
}

std::string result_blob_name(uid_t uid, std::string_view pool, std::uint64_t session_generation,
                             pid_t worker_pid, std::uint64_t object) {
    return result_blob_prefix(uid, pool, session_generation, worker_pid) + std::to_string(object);
}

}  // namespace warmpool
