#include "warmpool/daemon/pool_config.hpp"

#include <unistd.h>

#include <algorithm>
#include <bit>
#include <thread>

#include "warmpool/common/runtime_paths.hpp"
#include "warmpool/common/shm_layout.hpp"
#include "warmpool/daemon/logging.hpp"

namespace warmpool {

namespace {

SysError invalid(const std::string& what) { return make_error(SysError::Code::invalid, what); }

bool ring_ok(std::uint64_t bytes) {
    return std::has_single_bit(bytes) && bytes >= 4096 && bytes <= (1ull << 30);
}

}  // namespace

Status PoolConfig::finalise() {
    if (!valid_pool_name(name)) {
        return invalid("pool name '" + name + "' must be 1-64 characters of [A-Za-z0-9_-]");
    }
    if (workers == 0) workers = std::max(1u, std::thread::hardware_concurrency());
    if (workers > 1024) return invalid("workers must be at most 1024");
    if (runtime_dir.empty()) runtime_dir = default_runtime_dir();
    if (!valid_log_level(log_level)) return invalid("unknown log level '" + log_level + "'");
    if (max_sessions == 0 || max_sessions > 4096) return invalid("max_sessions must be 1..4096");
    if (prefetch == 0 || prefetch > 1024) return invalid("prefetch must be 1..1024");
    if (queue_capacity == 0) return invalid("queue_capacity must be positive");
    for (auto bytes : {submit_ring_bytes, control_ring_bytes, reply_ring_bytes, inbox_ring_bytes}) {
        if (!ring_ok(bytes)) return invalid("ring sizes must be powers of two from 4 KiB to 1 GiB");
    }
    const std::uint64_t smallest =
        std::min<std::uint64_t>({submit_ring_bytes, reply_ring_bytes, inbox_ring_bytes});
    if (inline_max < 64 || inline_max + sizeof(JobRecord) > smallest / 4) {
        return invalid("inline_max must be at least 64 and at most a quarter of the job rings");
    }
    if ((socket_mode & ~0770u) != 0) {
        return invalid("socket_mode may grant only owner and group access (at most 0770)");
    }
    if (!(grace_period_s >= 0 && grace_period_s <= 86400)) {  // written so that NaN fails too
        return invalid("grace_period out of range");
    }
    return {};
}

}  // namespace warmpool
