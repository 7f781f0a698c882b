// Tests for PoolConfig::finalise (pool_config.hpp): the defaults are a valid pool, machine
// defaults are filled in, and every out-of-range setting is refused with an `invalid` error.

#include "warmpool/daemon/pool_config.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <thread>

#include "warmpool/common/shm_layout.hpp"

namespace warmpool {
namespace {

// A default config changed by `edit`, finalised.
Status finalise_with(const std::function<void(PoolConfig&)>& edit) {
    PoolConfig config;
    edit(config);
    return config.finalise();
}

void expect_invalid(const std::function<void(PoolConfig&)>& edit, const std::string& what) {
    const Status status = finalise_with(edit);
    ASSERT_FALSE(status.ok()) << what << " was accepted";
    EXPECT_EQ(status.error().code, SysError::Code::invalid) << what;
    EXPECT_FALSE(status.error().context.empty()) << what << ": the error says nothing";
}

TEST(PoolConfig, DefaultsFinaliseAndAreSane) {
    PoolConfig config;
    const Status status = config.finalise();
    ASSERT_TRUE(status.ok()) << status.error().message();
    EXPECT_EQ(config.name, "default");
    EXPECT_GE(config.workers, 1u);
    EXPECT_EQ(config.worker_slots(), config.workers * 2);
    EXPECT_FALSE(config.runtime_dir.empty()) << "filled with default_runtime_dir()";
    EXPECT_EQ(config.socket_mode, 0660u);
    EXPECT_EQ(config.log_level, "info");
    // Finalising twice changes nothing.
    const unsigned workers = config.workers;
    const std::string dir = config.runtime_dir;
    ASSERT_TRUE(config.finalise().ok());
    EXPECT_EQ(config.workers, workers);
    EXPECT_EQ(config.runtime_dir, dir);
}

TEST(PoolConfig, ZeroWorkersMeansOnePerCore) {
    PoolConfig config;
    config.workers = 0;
    ASSERT_TRUE(config.finalise().ok());
    EXPECT_EQ(config.workers, std::max(1u, std::thread::hardware_concurrency()));

    PoolConfig explicit_workers;
    explicit_workers.workers = 3;
    ASSERT_TRUE(explicit_workers.finalise().ok());
    EXPECT_EQ(explicit_workers.workers, 3u);
    EXPECT_EQ(explicit_workers.worker_slots(), 6u);
}

TEST(PoolConfig, ExplicitRuntimeDirIsKept) {
    PoolConfig config;
    config.runtime_dir = "/some/where";
    ASSERT_TRUE(config.finalise().ok());
    EXPECT_EQ(config.runtime_dir, "/some/where");
}

TEST(PoolConfig, InvalidNamesAreRefused) {
    for (const std::string& name :
         {std::string(), std::string("a/b"), std::string("a.b"), std::string("a b"),
          std::string("../x"), std::string("caf\xc3\xa9"), std::string("a\0b", 3),
          std::string(65, 'n')}) {
        expect_invalid([&](PoolConfig& c) { c.name = name; }, "name '" + name + "'");
    }
    for (const std::string& name :
         {std::string("a"), std::string("My_Pool-2"), std::string(64, 'n')}) {
        EXPECT_TRUE(finalise_with([&](PoolConfig& c) { c.name = name; }).ok()) << name;
    }
}

TEST(PoolConfig, RingSizesMustBePowersOfTwoFrom4KiBTo1GiB) {
    using Field = std::uint64_t PoolConfig::*;
    for (Field field : {&PoolConfig::submit_ring_bytes, &PoolConfig::control_ring_bytes,
                        &PoolConfig::reply_ring_bytes, &PoolConfig::inbox_ring_bytes}) {
        for (std::uint64_t bytes : {std::uint64_t{0}, std::uint64_t{3000}, std::uint64_t{2048},
                                    std::uint64_t{(1u << 20) + 8}, std::uint64_t{3} << 20,
                                    std::uint64_t{1} << 31, ~std::uint64_t{0}}) {
            expect_invalid([&](PoolConfig& c) { c.*field = bytes; },
                           "ring of " + std::to_string(bytes) + " bytes");
        }
    }
    EXPECT_TRUE(finalise_with([](PoolConfig& c) { c.control_ring_bytes = 4096; }).ok());
    EXPECT_TRUE(finalise_with([](PoolConfig& c) {
                    c.submit_ring_bytes = c.reply_ring_bytes = c.inbox_ring_bytes = 1ull << 30;
                }).ok());
}

TEST(PoolConfig, InlineMaxMustFitAQuarterOfEveryJobRing) {
    // Default rings are 1 MiB: a quarter is 256 KiB, which must also hold the JobRecord.
    const std::uint32_t largest = (1u << 20) / 4 - sizeof(JobRecord);
    EXPECT_TRUE(finalise_with([&](PoolConfig& c) { c.inline_max = largest; }).ok());
    expect_invalid([&](PoolConfig& c) { c.inline_max = largest + 1; }, "inline_max just too big");
    expect_invalid([](PoolConfig& c) { c.inline_max = 0xffffffffu; }, "inline_max 4 GiB");
    expect_invalid([](PoolConfig& c) { c.inline_max = 63; }, "inline_max 63");
    EXPECT_TRUE(finalise_with([](PoolConfig& c) { c.inline_max = 64; }).ok());
    // The smallest job ring sets the limit, whichever it is.
    expect_invalid([](PoolConfig& c) { c.reply_ring_bytes = 64u << 10; }, "reply ring of 64 KiB");
    expect_invalid([](PoolConfig& c) { c.inbox_ring_bytes = 64u << 10; }, "inbox ring of 64 KiB");
    expect_invalid([](PoolConfig& c) { c.submit_ring_bytes = 64u << 10; }, "submit ring of 64 KiB");
    // The control ring carries no payloads and does not count.
    EXPECT_TRUE(finalise_with([](PoolConfig& c) { c.control_ring_bytes = 4096; }).ok());
}

TEST(PoolConfig, SocketModeMayNotGrantOthersAnything) {
    for (unsigned mode : {0666u, 0662u, 0664u, 0661u, 0777u, 0671u, 01660u, 04660u}) {
        expect_invalid([&](PoolConfig& c) { c.socket_mode = mode; },
                       "socket mode " + std::to_string(mode));
    }
    for (unsigned mode : {0600u, 0660u, 0770u, 0700u}) {
        EXPECT_TRUE(finalise_with([&](PoolConfig& c) { c.socket_mode = mode; }).ok()) << mode;
    }
}

TEST(PoolConfig, LogLevelMustBeKnown) {
    for (const char* level : {"verbose", "", "INFO", "infoo", "2"}) {
        expect_invalid([&](PoolConfig& c) { c.log_level = level; },
                       std::string("log level ") + level);
    }
    for (const char* level : {"trace", "debug", "info", "warn", "error", "critical", "off"}) {
        EXPECT_TRUE(finalise_with([&](PoolConfig& c) { c.log_level = level; }).ok()) << level;
    }
}

TEST(PoolConfig, CpuAffinityIsNoneOrSpread) {
    EXPECT_EQ(PoolConfig{}.cpu_affinity, "none");
    for (const char* value : {"", "Spread", "all", "0", "spread "}) {
        expect_invalid([&](PoolConfig& c) { c.cpu_affinity = value; },
                       std::string("cpu_affinity ") + value);
    }
    for (const char* value : {"none", "spread"}) {
        EXPECT_TRUE(finalise_with([&](PoolConfig& c) { c.cpu_affinity = value; }).ok()) << value;
    }
}

TEST(PoolConfig, OtherLimitsAreChecked) {
    expect_invalid([](PoolConfig& c) { c.workers = 1025; }, "1025 workers");
    EXPECT_TRUE(finalise_with([](PoolConfig& c) { c.workers = 1024; }).ok());
    expect_invalid([](PoolConfig& c) { c.max_sessions = 0; }, "0 sessions");
    expect_invalid([](PoolConfig& c) { c.max_sessions = 4097; }, "4097 sessions");
    expect_invalid([](PoolConfig& c) { c.prefetch = 0; }, "prefetch 0");
    expect_invalid([](PoolConfig& c) { c.prefetch = 1025; }, "prefetch 1025");
    expect_invalid([](PoolConfig& c) { c.queue_capacity = 0; }, "queue_capacity 0");
    expect_invalid([](PoolConfig& c) { c.session_queue_capacity = 0; }, "session_queue_capacity 0");
    expect_invalid([](PoolConfig& c) { c.session_queue_bytes = 1000; }, "session_queue_bytes below inline_max");
    expect_invalid([](PoolConfig& c) { c.max_sessions_per_user = 4097; }, "4097 sessions per user");
    expect_invalid([](PoolConfig& c) { c.grace_period_s = -1; }, "negative grace period");
    expect_invalid([](PoolConfig& c) { c.grace_period_s = 86401; }, "grace period over a day");
    // Regression: NaN (`--grace-period nan`) compared false both ways and was accepted.
    expect_invalid(
        [](PoolConfig& c) { c.grace_period_s = std::numeric_limits<double>::quiet_NaN(); },
        "grace period NaN");
    expect_invalid(
        [](PoolConfig& c) { c.grace_period_s = std::numeric_limits<double>::infinity(); },
        "infinite grace period");
    EXPECT_TRUE(finalise_with([](PoolConfig& c) { c.grace_period_s = 0; }).ok());
}

TEST(PoolConfig, SupervisionSettingsAreChecked) {
    const double nan = std::numeric_limits<double>::quiet_NaN();
    const double inf = std::numeric_limits<double>::infinity();
    for (double bad : {-1.0, -0.001, nan, inf, 365 * 86400.0 + 1}) {
        expect_invalid([&](PoolConfig& c) { c.default_timeout_s = bad; },
                       "default_timeout " + std::to_string(bad));
    }
    for (double bad : {-1.0, 3600.5, nan, inf}) {
        expect_invalid([&](PoolConfig& c) { c.kill_grace_s = bad; },
                       "kill_grace " + std::to_string(bad));
    }
    for (double bad : {-0.1, 0.51, 1.0, nan}) {
        expect_invalid([&](PoolConfig& c) { c.max_jobs_jitter = bad; },
                       "jitter " + std::to_string(bad));
    }
    expect_invalid([](PoolConfig& c) { c.poison_threshold = 0; }, "poison_threshold 0");
    expect_invalid([](PoolConfig& c) { c.max_rss_bytes = 4096; }, "max_rss of 4 KiB");
    EXPECT_TRUE(finalise_with([](PoolConfig& c) {
                    c.default_timeout_s = 0;
                    c.kill_grace_s = 0;
                    c.max_jobs_jitter = 0;
                    c.poison_threshold = 1;
                    c.max_rss_bytes = 0;
                    c.max_jobs = 0;
                }).ok());
    EXPECT_TRUE(finalise_with([](PoolConfig& c) {
                    c.default_timeout_s = 365 * 86400.0;
                    c.kill_grace_s = 3600;
                    c.max_jobs_jitter = 0.5;
                    c.max_rss_bytes = 1u << 20;
                    c.max_jobs = 1;
                }).ok());
}

TEST(PoolConfig, FunctionSettingsAreChecked) {
    expect_invalid([](PoolConfig& c) { c.functions[""] = {}; }, "an empty function name");
    expect_invalid([](PoolConfig& c) { c.functions[std::string(kFunctionNameMax + 1, 'f')] = {}; },
                   "a function name of 48 bytes");
    expect_invalid([](PoolConfig& c) { c.functions[std::string("a\0b", 3)] = {}; },
                   "a NUL in a name");
    expect_invalid(
        [](PoolConfig& c) {
            c.functions["f"].timeout_s = std::numeric_limits<double>::quiet_NaN();
        },
        "a NaN timeout");
    expect_invalid(
        [](PoolConfig& c) {
            c.functions["f"].timeout_s = -std::numeric_limits<double>::infinity();
        },
        "a timeout of -inf");
    expect_invalid([](PoolConfig& c) { c.functions["f"].retries = 101; }, "101 retries");
    EXPECT_TRUE(finalise_with([](PoolConfig& c) {
                    c.functions[std::string(kFunctionNameMax, 'f')] = {.timeout_s = 0,
                                                                       .retries = 100};
                    c.functions["g"] = {};  // timeout -1: the pool's default
                }).ok());
}

// --print-config writes every setting as a config file, which only holds UTF-8 text: what the
// command line (or the environment) gave that a file could not hold is refused.
TEST(PoolConfig, TextThatAConfigFileCannotHoldIsRefused) {
    expect_invalid([](PoolConfig& c) { c.jobs_library = "/opt/\xff/jobs.so"; }, "a Latin-1 path");
    expect_invalid([](PoolConfig& c) { c.runtime_dir = "/run/\xc3"; }, "a cut character");
    expect_invalid([](PoolConfig& c) { c.group = "gr\xe0\x80p"; }, "an overlong group name");
    expect_invalid([](PoolConfig& c) { c.allow_users = {"al", "b\xff."}; }, "a Latin-1 user");
    expect_invalid([](PoolConfig& c) { c.allow_groups = {"\xed\xa0\x80"}; }, "a surrogate");
    expect_invalid([](PoolConfig& c) { c.functions["f\xff"] = {}; }, "a Latin-1 function name");
    EXPECT_TRUE(finalise_with([](PoolConfig& c) {
                    c.jobs_library = "/opt/caf\xc3\xa9/jobs.so";
                    c.allow_users = {"jos\xc3\xa9"};
                    c.functions["m\xc3\xa9thode"] = {};
                }).ok());
}

TEST(PoolConfig, FunctionSettingsFallBackToThePoolDefault) {
    PoolConfig config;
    config.default_timeout_s = 7;
    config.functions["own"] = {.timeout_s = 2, .retries = 1};
    config.functions["none"] = {.timeout_s = 0, .retries = 0};
    config.functions["default"] = {.timeout_s = -1, .retries = 3};
    EXPECT_DOUBLE_EQ(config.function("own").timeout_s, 2);
    EXPECT_DOUBLE_EQ(config.function("none").timeout_s, 0) << "0: no limit, not the default";
    EXPECT_DOUBLE_EQ(config.function("default").timeout_s, 7);
    EXPECT_EQ(config.function("default").retries, 3u);
    EXPECT_DOUBLE_EQ(config.function("unlisted").timeout_s, 7);
    EXPECT_EQ(config.function("unlisted").retries, 0u);
}

}  // namespace
}  // namespace warmpool

namespace warmpool {
namespace {

TEST(PoolConfig, SharesOfSessionsAndQueue) {
    PoolConfig c;
    c.max_sessions = 64;
    EXPECT_EQ(c.sessions_per_user(), 32u);  // default: half
    c.max_sessions = 1;
    EXPECT_EQ(c.sessions_per_user(), 1u);  // at least one
    c.max_sessions = 8;
    c.max_sessions_per_user = 2;
    EXPECT_EQ(c.sessions_per_user(), 2u);
    c.max_sessions_per_user = 100;
    EXPECT_EQ(c.sessions_per_user(), 8u);  // never more than there are
    c.queue_capacity = 4096;
    EXPECT_EQ(c.guaranteed_queue_share(), 512u);
    c.queue_capacity = 3;
    EXPECT_EQ(c.guaranteed_queue_share(), 1u);
}

}  // namespace
}  // namespace warmpool
