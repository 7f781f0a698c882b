// The scaling policy (scaling_policy.hpp): a pure function, driven here by a simulated pool and a
// simulated clock.
#include "warmpool/daemon/scaling_policy.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>

namespace warmpool {
namespace {

constexpr std::int64_t kMs = 1'000'000;
constexpr std::int64_t kSecond = 1000 * kMs;

ScalingLimits dynamic_limits() {
    ScalingLimits l;
    l.mode = ScalingMode::dynamic;
    l.min_workers = 1;
    l.max_workers = 6;
    l.min_spare = 1;
    l.max_spare = 2;
    l.spawn_rate = 32;
    l.idle_timeout_ns = 300 * kMs;
    return l;
}

ScalingLimits ondemand_limits() {
    ScalingLimits l;
    l.mode = ScalingMode::ondemand;
    l.max_workers = 4;
    l.spawn_rate = 32;
    l.idle_timeout_ns = 300 * kMs;
    return l;
}

ScalingPicture idle_pool(std::vector<std::int64_t> idle_since, std::int64_t now) {
    ScalingPicture p;
    p.now_ns = now;
    for (unsigned slot = 0; slot < idle_since.size(); ++slot) p.idle.push_back({slot, idle_since[slot]});
    return p;
}

TEST(ScalingPolicyTest, ModesAreNamedAsInTheConfiguration) {
    EXPECT_EQ(to_string(ScalingMode::fixed), "static");
    EXPECT_EQ(scaling_mode_named("dynamic"), ScalingMode::dynamic);
    EXPECT_EQ(scaling_mode_named("ondemand"), ScalingMode::ondemand);
    EXPECT_EQ(scaling_mode_named("static"), ScalingMode::fixed);
    EXPECT_FALSE(scaling_mode_named("on-demand"));
}

TEST(ScalingPolicyTest, LimitsComeFromTheConfiguration) {
    PoolConfig config;
    config.workers = 3;
    ASSERT_TRUE(config.finalise());
    ScalingLimits l = scaling_limits(config);
    EXPECT_EQ(l.mode, ScalingMode::fixed);
    EXPECT_EQ(l.workers, 3u);
    EXPECT_EQ(l.max_workers, 3u);  // 0: workers
    EXPECT_EQ(config.worker_slots(), 6u);

    config.scaling_mode = "ondemand";
    config.max_workers = 8;
    config.idle_timeout_s = 0.3;
    ASSERT_TRUE(config.finalise());
    l = scaling_limits(config);
    EXPECT_EQ(l.mode, ScalingMode::ondemand);
    EXPECT_EQ(l.max_workers, 8u);
    EXPECT_EQ(l.idle_timeout_ns, 300 * kMs);
    EXPECT_EQ(config.worker_slots(), 16u);  // slots follow max_workers, not the workers at start
}

TEST(ScalingPolicyTest, InitialWorkers) {
    ScalingLimits fixed;
    fixed.workers = 4;
    fixed.max_workers = 4;
    EXPECT_EQ(initial_workers(fixed), 4u);
    ScalingLimits d = dynamic_limits();
    EXPECT_EQ(initial_workers(d), 1u);
    d.min_workers = 0;
    d.min_spare = 3;
    EXPECT_EQ(initial_workers(d), 3u);
    EXPECT_EQ(initial_workers(ondemand_limits()), 0u);
}

TEST(ScalingPolicyTest, ScaleTargetsOutsideTheLimitsAreRefused) {
    ScalingLimits fixed;
    fixed.workers = 2;
    fixed.max_workers = 8;
    EXPECT_EQ(scale_refusal(fixed, 8), "");
    EXPECT_NE(scale_refusal(fixed, 9).find("1 to 8"), std::string::npos);
    EXPECT_NE(scale_refusal(fixed, 0), "");  // a static pool keeps at least one
    EXPECT_EQ(scale_refusal(ondemand_limits(), 0), "");
    EXPECT_NE(scale_refusal(ondemand_limits(), 5), "");
}

TEST(ScalingPolicyTest, StaticKeepsItsCount) {
    ScalingLimits l;
    l.workers = 3;
    l.max_workers = 6;
    ScalingPicture p = idle_pool({0, 0}, kSecond);
    ScalingDecision d = decide_scaling(l, p);
    EXPECT_EQ(d.start, 1u);
    EXPECT_EQ(d.target, 3u);
    EXPECT_EQ(d.reason, "workers 3");
    p = idle_pool({0, 0, 0}, kSecond);
    d = decide_scaling(l, p);
    EXPECT_FALSE(d.changes());
    EXPECT_EQ(d.target, 3u);
}

TEST(ScalingPolicyTest, AdminTargetInStaticRetiresTheIdlestAndNeverABusyWorker) {
    ScalingLimits l;
    l.workers = 4;
    l.max_workers = 8;
    ScalingPicture p;
    p.now_ns = 10 * kSecond;
    p.busy = 2;                                              // slots 0 and 1, say
    p.idle = {{2, 9 * kSecond}, {3, 5 * kSecond}};           // slot 3 idle the longest
    p.admin_target = 3;
    ScalingDecision d = decide_scaling(l, p);
    ASSERT_EQ(d.retire, std::vector<unsigned>{3});
    EXPECT_EQ(d.target, 3u);
    EXPECT_EQ(d.reason, "scaled by admin to 3: retired worker 3");

    // To 1: both idle ones go; the busy ones stay until they are idle.
    p.admin_target = 1;
    d = decide_scaling(l, p);
    EXPECT_EQ(d.retire, (std::vector<unsigned>{3, 2}));
    EXPECT_EQ(d.target, 2u);
    EXPECT_EQ(d.reason, "scaled by admin to 1: retired workers 3, 2: 1 more to retire once idle");

    // Nobody retires while a member is still starting (it could not retire before that).
    p.starting = 1;
    p.admin_target = 3;
    EXPECT_TRUE(decide_scaling(l, p).retire.empty());
    p.starting = 0;
    p.admin_target = 1;

    // Everyone busy: nobody retires.
    p.busy = 4;
    p.idle.clear();
    d = decide_scaling(l, p);
    EXPECT_TRUE(d.retire.empty());
    EXPECT_EQ(d.target, 4u);

    // Up: starts the difference.
    p.admin_target = 7;
    d = decide_scaling(l, p);
    EXPECT_EQ(d.start, 3u);
    EXPECT_EQ(d.target, 7u);
    EXPECT_EQ(d.reason, "scaled by admin to 7");
}

TEST(ScalingPolicyTest, DynamicKeepsMinSpareIdle) {
    ScalingLimits l = dynamic_limits();
    l.min_spare = 2;
    l.max_spare = 3;
    ScalingPicture p;
    p.now_ns = kSecond;
    p.busy = 3;
    p.idle = {{3, 0}};
    ScalingDecision d = decide_scaling(l, p);
    EXPECT_EQ(d.start, 1u);
    EXPECT_EQ(d.target, 5u);
    EXPECT_EQ(d.reason, "min_spare 2: 1 idle of 4");
    // One already starting counts as a spare.
    p.starting = 1;
    d = decide_scaling(l, p);
    EXPECT_EQ(d.start, 0u);
}

TEST(ScalingPolicyTest, DynamicStopsAtMaxWorkers) {
    ScalingLimits l = dynamic_limits();
    ScalingPicture p;
    p.now_ns = kSecond;
    p.busy = 6;
    p.queued_jobs = 100;
    ScalingDecision d = decide_scaling(l, p);
    EXPECT_EQ(d.start, 0u);
    EXPECT_EQ(d.target, 6u);
    EXPECT_NE(d.reason.find("at max_workers 6"), std::string::npos) << d.reason;
}

TEST(ScalingPolicyTest, SpawnRateBoundsStartsPerSecond) {
    ScalingLimits l = ondemand_limits();
    l.max_workers = 20;
    l.spawn_rate = 3;
    ScalingPicture p;
    p.now_ns = kSecond;
    p.queued_jobs = 10;
    ScalingDecision d = decide_scaling(l, p);
    EXPECT_EQ(d.start, 3u);
    EXPECT_NE(d.reason.find("spawn_rate 3/s"), std::string::npos) << d.reason;
    p.started_last_second = 2;
    EXPECT_EQ(decide_scaling(l, p).start, 1u);
    p.started_last_second = 3;
    EXPECT_EQ(decide_scaling(l, p).start, 0u);
}

TEST(ScalingPolicyTest, DynamicRetiresSurplusIdleOnlyAfterIdleTimeout) {
    ScalingLimits l = dynamic_limits();  // min 1, max_spare 2, idle_timeout 300 ms
    // Four idle workers after a burst; slot 1 idle the longest.
    ScalingPicture p = idle_pool({1000 * kMs, 900 * kMs, 1000 * kMs, 1100 * kMs}, 1100 * kMs);
    EXPECT_FALSE(decide_scaling(l, p).changes());  // nobody idle long enough yet
    p.now_ns = 1250 * kMs;
    ScalingDecision d = decide_scaling(l, p);
    EXPECT_EQ(d.retire, std::vector<unsigned>{1});
    p.now_ns = 1400 * kMs;
    d = decide_scaling(l, p);
    EXPECT_EQ(d.retire, (std::vector<unsigned>{1, 0}));  // two beyond max_spare 2
    EXPECT_EQ(d.target, 2u);
    EXPECT_EQ(d.reason, "max_spare 2: 4 idle of 4; retired workers 1, 0");
}

TEST(ScalingPolicyTest, DynamicNeverGoesBelowItsFloor) {
    ScalingLimits l = dynamic_limits();
    l.min_workers = 3;
    l.max_spare = 0;
    l.min_spare = 0;
    ScalingPicture p = idle_pool({0, 0, 0, 0}, 10 * kSecond);
    ScalingDecision d = decide_scaling(l, p);
    EXPECT_EQ(d.retire.size(), 1u);
    EXPECT_EQ(d.target, 3u);
    // An admin target is the floor instead.
    p.admin_target = 4;
    EXPECT_FALSE(decide_scaling(l, p).changes());
    p.admin_target = 6;
    d = decide_scaling(l, p);
    EXPECT_EQ(d.start, 2u);
    EXPECT_EQ(d.reason, "scaled by admin to 6");
}

TEST(ScalingPolicyTest, OndemandStartsAWorkerForTheFirstJobOfAColdPool) {
    ScalingLimits l = ondemand_limits();
    ScalingPicture p;
    p.now_ns = kSecond;
    EXPECT_FALSE(decide_scaling(l, p).changes());  // no job, no worker
    EXPECT_EQ(decide_scaling(l, p).target, 0u);
    p.queued_jobs = 1;
    ScalingDecision d = decide_scaling(l, p);
    EXPECT_EQ(d.start, 1u);
    EXPECT_EQ(d.reason, "1 jobs queued, none of 0 workers idle");
    // The one starting covers the job: no second worker for it.
    p.starting = 1;
    EXPECT_EQ(decide_scaling(l, p).start, 0u);
    // Jobs wait while an idle worker is about to take them: nothing to start.
    p.starting = 0;
    p.idle = {{0, kSecond}};
    p.queued_jobs = 5;
    EXPECT_FALSE(decide_scaling(l, p).changes());
}

TEST(ScalingPolicyTest, OndemandRetiresIdleWorkersAfterIdleTimeout) {
    ScalingLimits l = ondemand_limits();
    ScalingPicture p = idle_pool({1000 * kMs, 1200 * kMs}, 1299 * kMs);
    p.busy = 1;
    EXPECT_FALSE(decide_scaling(l, p).changes());
    p.now_ns = 1300 * kMs;
    ScalingDecision d = decide_scaling(l, p);
    EXPECT_EQ(d.retire, std::vector<unsigned>{0});
    EXPECT_EQ(d.reason, "idle_timeout 0.3 s: retired worker 0");
    EXPECT_EQ(d.target, 2u);  // the busy one stays
    // With jobs queued, nobody retires: an idle worker is about to be given one.
    p.now_ns = 5 * kSecond;
    p.queued_jobs = 1;
    EXPECT_TRUE(decide_scaling(l, p).retire.empty());
}

// A simulated pool over a simulated clock: workers take 50 ms to start, a burst of jobs comes and
// goes, and the policy decides every 200 ms (the supervisor's tick). The pool grows to
// max_workers during the burst and shrinks back to its floor after it.
TEST(ScalingPolicyTest, BurstScalesUpToMaxAndBackDown) {
    struct Worker {
        std::int64_t ready_at = 0;
        std::int64_t idle_since = 0;
        bool busy = false;
    };
    ScalingLimits l = dynamic_limits();  // 1..6, spares 1..2, idle 300 ms
    std::map<unsigned, Worker> workers;
    unsigned next_slot = 0;
    for (unsigned i = 0; i < initial_workers(l); ++i) workers[next_slot++] = {0, 0, false};
    std::vector<std::int64_t> starts;
    unsigned most = 0;
    for (std::int64_t now = 0; now <= 10 * kSecond; now += 200 * kMs) {
        const bool burst = now >= kSecond && now < 3 * kSecond;
        ScalingPicture p;
        p.now_ns = now;
        for (auto& [slot, w] : workers) {
            if (now < w.ready_at) {
                ++p.starting;
                continue;
            }
            w.busy = burst;
            if (w.busy) {
                w.idle_since = now;
                ++p.busy;
            } else {
                p.idle.push_back({slot, w.idle_since});
            }
        }
        p.queued_jobs = burst ? 50 : 0;
        std::erase_if(starts, [&](std::int64_t t) { return now - t >= kSecond; });
        p.started_last_second = static_cast<unsigned>(starts.size());
        const ScalingDecision d = decide_scaling(l, p);
        for (unsigned slot : d.retire) {
            ASSERT_FALSE(workers.at(slot).busy) << "a busy worker was chosen to retire";
            workers.erase(slot);
        }
        for (unsigned i = 0; i < d.start; ++i) {
            workers[next_slot++] = {now + 50 * kMs, now + 50 * kMs, false};
            starts.push_back(now);
        }
        ASSERT_EQ(workers.size(), d.target);
        ASSERT_LE(workers.size(), l.max_workers);
        most = std::max<unsigned>(most, static_cast<unsigned>(workers.size()));
    }
    EXPECT_EQ(most, l.max_workers);
    // After the burst: max_spare 2 idle workers are kept (min_workers 1 is below that).
    EXPECT_EQ(workers.size(), 2u);
    l.max_spare = 1;
    l.min_spare = 0;
    ScalingPicture p = idle_pool({0, 0}, 20 * kSecond);
    EXPECT_EQ(decide_scaling(l, p).target, 1u);  // down to min_workers
}

}  // namespace
}  // namespace warmpool
