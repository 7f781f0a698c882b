// Tests for PoolLifecycle (pool_lifecycle.hpp): the names of the states status reports, and what
// a reload may change while the pool runs.

#include "warmpool/daemon/pool_lifecycle.hpp"

#include <gtest/gtest.h>

#include <string>

namespace warmpool {
namespace {

TEST(PoolLifecycleTest, StatesAreNamedAsStatusReportsThem) {
    EXPECT_STREQ(to_string(PoolState::starting), "starting");
    EXPECT_STREQ(to_string(PoolState::running), "running");
    EXPECT_STREQ(to_string(PoolState::stopping), "stopping");
    EXPECT_STREQ(to_string(PoolState::done), "stopped");
}

TEST(PoolLifecycleTest, ReloadingWhileAPreviousConfigurationIsKept) {
    PoolLifecycle life;
    EXPECT_EQ(life.state, PoolState::starting);
    EXPECT_FALSE(life.reloading());
    EXPECT_TRUE(life.accepting_sessions());
    life.previous_config = PoolConfig{};
    EXPECT_TRUE(life.reloading());
    life.state = PoolState::stopping;
    EXPECT_FALSE(life.accepting_sessions());
}

TEST(PoolLifecycleTest, AReloadChangesWhatTheRunningPoolAllows) {
    PoolConfig running;
    running.workers = 4;
    PoolConfig next = running;
    next.workers = 3;
    next.jobs_library = "/opt/jobs/libnew.so";
    next.max_jobs = 1000;
    next.grace_period_s = 7.5;
    EXPECT_TRUE(settle_reloaded_config(next, running, 8).empty());
    EXPECT_EQ(next.workers, 3u);
    EXPECT_EQ(next.jobs_library, "/opt/jobs/libnew.so");
    EXPECT_EQ(next.max_jobs, 1000u);
    EXPECT_EQ(next.grace_period_s, 7.5);
}

TEST(PoolLifecycleTest, WhatTheMemoryAndSocketsWereBuiltFromIsKept) {
    PoolConfig running;
    running.name = "pool";
    running.runtime_dir = "/run/a";
    PoolConfig next = running;
    next.name = "other";
    next.runtime_dir = "/run/b";
    next.max_sessions = running.max_sessions + 1;
    next.submit_ring_bytes = running.submit_ring_bytes * 2;
    next.control_ring_bytes = running.control_ring_bytes * 2;
    next.reply_ring_bytes = running.reply_ring_bytes * 2;
    next.inbox_ring_bytes = running.inbox_ring_bytes * 2;
    next.inline_max = running.inline_max / 2;
    next.socket_mode = 0600;
    next.group = "staff";
    const auto warnings = settle_reloaded_config(next, running, 8);
    EXPECT_EQ(warnings.size(), 10u);
    for (const auto& w : warnings) EXPECT_NE(w.find("cannot change while the pool runs"), std::string::npos) << w;
    EXPECT_EQ(next.name, running.name);
    EXPECT_EQ(next.runtime_dir, running.runtime_dir);
    EXPECT_EQ(next.max_sessions, running.max_sessions);
    EXPECT_EQ(next.submit_ring_bytes, running.submit_ring_bytes);
    EXPECT_EQ(next.control_ring_bytes, running.control_ring_bytes);
    EXPECT_EQ(next.reply_ring_bytes, running.reply_ring_bytes);
    EXPECT_EQ(next.inbox_ring_bytes, running.inbox_ring_bytes);
    EXPECT_EQ(next.inline_max, running.inline_max);
    EXPECT_EQ(next.socket_mode, running.socket_mode);
    EXPECT_EQ(next.group, running.group);
}

// The old workers serve until the new ones are ready, so the new ones get at most half the slots.
TEST(PoolLifecycleTest, NoMoreWorkersThanHalfTheSlots) {
    PoolConfig running;
    running.workers = 4;
    PoolConfig next = running;
    next.workers = 5;
    const auto warnings = settle_reloaded_config(next, running, 8);
    ASSERT_EQ(warnings.size(), 1u);
    EXPECT_NE(warnings[0].find("workers = 5 needs a restart (at most 4"), std::string::npos) << warnings[0];
    EXPECT_EQ(next.workers, 4u);
}

// The slots were sized for max_workers at start: a reload may lower it, not raise it.
TEST(PoolLifecycleTest, NoMoreMaxWorkersThanHalfTheSlots) {
    PoolConfig running;
    running.scaling_mode = "dynamic";
    running.workers = 2;
    running.max_workers = 4;
    PoolConfig next = running;
    next.max_workers = 3;
    EXPECT_TRUE(settle_reloaded_config(next, running, 8).empty());
    next.max_workers = 6;
    next.min_workers = 5;
    const auto warnings = settle_reloaded_config(next, running, 8);
    ASSERT_EQ(warnings.size(), 1u);
    EXPECT_NE(warnings[0].find("max_workers = 6 needs a restart (at most 4"), std::string::npos) << warnings[0];
    EXPECT_EQ(next.max_workers, 4u);
    EXPECT_EQ(next.min_workers, 4u);
}

}  // namespace
}  // namespace warmpool
