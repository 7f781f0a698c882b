#include "warmpool/daemon/pool_config.hpp"

#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <thread>

#include "warmpool/common/runtime_paths.hpp"
#include "warmpool/common/shm_layout.hpp"
#include "warmpool/common/utf8.hpp"
#include "warmpool/daemon/logging.hpp"

namespace warmpool {

namespace {

SysError invalid(const std::string& what) { return make_error(SysError::Code::invalid, what); }

constexpr double kMaxTimeout = 365 * 86400.0;   // a year: beyond it is surely a mistake
constexpr std::uint64_t kMinMaxRss = 1u << 20;  // below it a worker would recycle every job

bool ring_ok(std::uint64_t bytes) {
    return std::has_single_bit(bytes) && bytes >= 4096 && bytes <= (1ull << 30);
}

}  // namespace

Status PoolConfig::finalise_scaling() {
    const auto n = [](unsigned value) { return std::to_string(value); };
    if (scaling_mode != "static" && scaling_mode != "dynamic" && scaling_mode != "ondemand") {
        return invalid("scaling.mode must be \"static\", \"dynamic\" or \"ondemand\", not '" +
                       valid_utf8(scaling_mode) + "'");
    }
    if (max_workers == 0) max_workers = workers;
    if (max_workers > 1024) return invalid("scaling.max_workers must be at most 1024");
    if (scaling_mode == "static" && max_workers < workers) {
        return invalid("scaling.max_workers " + n(max_workers) + " is less than workers " + n(workers) +
                       " (in static mode it is the most `warmpool scale` may ask for)");
    }
    if (min_workers > max_workers) {
        return invalid("scaling.min_workers " + n(min_workers) + " is more than scaling.max_workers " + n(max_workers));
    }
    if (scaling_mode == "ondemand" && min_workers != 0) {
        return invalid("scaling.min_workers must be 0 with mode \"ondemand\", which starts no worker before a job "
                       "comes (for a floor, use mode \"dynamic\")");
    }
    if (min_spare > max_spare) {
        return invalid("scaling.min_spare " + n(min_spare) + " is more than scaling.max_spare " + n(max_spare));
    }
    if (scaling_mode == "dynamic" && min_spare > max_workers) {
        return invalid("scaling.min_spare " + n(min_spare) + " is more than scaling.max_workers " + n(max_workers));
    }
    if (spawn_rate == 0 || spawn_rate > 1024) return invalid("scaling.spawn_rate must be 1 to 1024 workers a second");
    if (!(idle_timeout_s >= 0.01 && idle_timeout_s <= 86400)) {
        return invalid("scaling.idle_timeout must be 0.01 to 86400 seconds");
    }
    return {};
}

Status PoolConfig::finalise() {
    if (!valid_pool_name(name)) {
        return invalid("pool name '" + name + "' must be 1-64 characters of [A-Za-z0-9_-]");
    }
    if (workers == 0) workers = std::max(1u, std::thread::hardware_concurrency());
    if (workers > 1024) return invalid("workers must be at most 1024");
    if (auto st = finalise_scaling(); !st) return st;
    if (runtime_dir.empty()) runtime_dir = default_runtime_dir();
    if (!valid_log_level(log_level)) return invalid("unknown log level '" + log_level + "'");
    if (cpu_affinity != "none" && cpu_affinity != "spread") {
        return invalid("cpu_affinity must be \"none\" or \"spread\", not '" + cpu_affinity + "'");
    }
    if (max_sessions == 0 || max_sessions > 4096) return invalid("max_sessions must be 1..4096");
    if (prefetch == 0 || prefetch > 1024) return invalid("prefetch must be 1..1024");
    if (queue_capacity == 0) return invalid("queue_capacity must be positive");
    if (max_sessions_per_user > 4096) return invalid("max_sessions_per_user must be 0 (half of max_sessions) to 4096");
    if (session_queue_capacity == 0) return invalid("session_queue_capacity must be positive");
    if (session_queue_bytes < inline_max) return invalid("session_queue_bytes must be at least inline_max");
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
    if (!(default_timeout_s >= 0 && default_timeout_s <= kMaxTimeout)) {
        return invalid("default_timeout must be 0 (none) to 31536000 seconds");
    }
    if (!(kill_grace_s >= 0 && kill_grace_s <= 3600)) {
        return invalid("kill_grace must be 0 to 3600 seconds");
    }
    if (poison_threshold == 0) return invalid("poison_threshold must be at least 1");
    if (!(max_jobs_jitter >= 0 && max_jobs_jitter <= 0.5)) {
        return invalid("max_jobs_jitter must be 0 to 0.5");
    }
    if (max_rss_bytes != 0 && max_rss_bytes < kMinMaxRss) {
        return invalid("max_rss must be 0 (never) or at least 1 MiB");
    }
    // Every setting can be written in a config file (--print-config), and a file's text is UTF-8:
    // what the command line or the environment gave that a file could not hold is refused.
    const auto not_utf8 = [](const char* key, const std::string& text) {
        return invalid(std::string(key) + " '" + valid_utf8(text) + "' is not UTF-8 text");
    };
    if (!is_valid_utf8(jobs_library)) return not_utf8("jobs", jobs_library);
    if (!is_valid_utf8(runtime_dir)) return not_utf8("runtime_dir", runtime_dir);
    if (!is_valid_utf8(group)) return not_utf8("access.group", group);
    for (const auto& user : allow_users) {
        if (!is_valid_utf8(user)) return not_utf8("access.allow_users", user);
    }
    for (const auto& g : allow_groups) {
        if (!is_valid_utf8(g)) return not_utf8("access.allow_groups", g);
    }
    if (!python_modules.empty() || !python_path.empty()) python = true;
    for (const auto& module : python_modules) {
        if (module.empty() || module.find('\0') != std::string::npos || !is_valid_utf8(module)) {
            return invalid("python.modules: module name '" + valid_utf8(module) + "' must be non-empty UTF-8 text");
        }
    }
    for (const auto& dir : python_path) {
        if (dir.empty() || dir.find('\0') != std::string::npos || !is_valid_utf8(dir)) {
            return invalid("python.path: directory '" + valid_utf8(dir) + "' must be non-empty UTF-8 text");
        }
    }
    if (python_pickle != "owner" && python_pickle != "allowed" && python_pickle != "never") {
        return invalid("python.pickle must be \"owner\", \"allowed\" or \"never\", not '" +
                       valid_utf8(python_pickle) + "'");
    }
    for (const auto& [function, settings] : functions) {
        if (function.empty() || function.size() > kFunctionNameMax ||
            function.find('\0') != std::string::npos || !is_valid_utf8(function)) {
            return invalid("function name '" + valid_utf8(function) + "' must be 1 to " +
                           std::to_string(kFunctionNameMax) + " bytes of UTF-8 text");
        }
        // Negative means "the pool's default"; NaN and infinity are refused.
        if (!(std::isfinite(settings.timeout_s) && settings.timeout_s <= kMaxTimeout)) {
            return invalid("timeout of function '" + function +
                           "' must be 0 (none) to 31536000 seconds");
        }
        if (settings.retries > 100) {
            return invalid("retries of function '" + function + "' must be at most 100");
        }
    }
    return {};
}

}  // namespace warmpool
