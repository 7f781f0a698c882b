// Tests for WorkerSlots (worker_slots.hpp): plan_slots(), the pure decision of what to start,
// replace and retire so that `workers` members keep serving, and the slot bookkeeping (renew's
// recycling point and CPU, find, ready_workers). No process is forked: slots are filled in by hand.

#include "warmpool/daemon/worker_slots.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <vector>

#include "warmpool/daemon/cpu_placement.hpp"

namespace warmpool {
namespace {

using Slots = std::vector<WorkerSlot>;
using List = std::vector<unsigned>;

WorkerSlot member(pid_t pid, bool ready) {
    WorkerSlot w;
    w.pid = pid;
    w.ever_ready = ready;
    return w;
}
WorkerSlot replaced(pid_t pid, bool ready, ReplaceReason why) {
    WorkerSlot w = member(pid, ready);
    w.replace = why;
    return w;
}
WorkerSlot retiring(pid_t pid) {
    WorkerSlot w = member(pid, true);
    w.retiring = true;
    return w;
}

TEST(PlanSlots, FillsEmptySlotsUpToWorkers) {
    Slots slots(4);
    const SlotPlan plan = plan_slots(slots, 2, false);
    EXPECT_EQ(plan.spawn, (List{0, 1}));
    EXPECT_TRUE(plan.scale_down.empty());
    EXPECT_TRUE(plan.retire.empty());
    EXPECT_FALSE(plan.reload_complete);
}

TEST(PlanSlots, StartingWorkersAreMembers) {
    // Started and not ready yet: they count towards `workers`, so nothing more is spawned.
    Slots slots(4);
    slots[0] = member(100, false);
    slots[1] = member(101, true);
    const SlotPlan plan = plan_slots(slots, 2, false);
    EXPECT_TRUE(plan.spawn.empty());
    EXPECT_TRUE(plan.scale_down.empty());
    EXPECT_TRUE(plan.retire.empty());
}

TEST(PlanSlots, SpawnsOnlyIntoEmptySlots) {
    // A retiring worker's slot is not empty, nor a replaced one's: only slot 3 is free.
    Slots slots(4);
    slots[0] = retiring(100);
    slots[1] = replaced(101, true, ReplaceReason::max_jobs);
    slots[2] = member(102, true);
    const SlotPlan plan = plan_slots(slots, 2, false);
    EXPECT_EQ(plan.spawn, (List{3}));
    // Only one ready member and the replaced worker: it is still needed.
    EXPECT_TRUE(plan.retire.empty());
}

TEST(PlanSlots, NoEmptySlotMeansNoSpawn) {
    Slots slots(2);
    slots[0] = retiring(100);
    slots[1] = retiring(101);
    const SlotPlan plan = plan_slots(slots, 2, false);
    EXPECT_TRUE(plan.spawn.empty());
    EXPECT_TRUE(plan.retire.empty());
}

TEST(PlanSlots, ScalesDownTheNewestMembers) {
    Slots slots(6);
    slots[0] = member(100, true);
    slots[1] = member(101, true);
    slots[2] = member(102, true);
    slots[4] = member(104, true);
    const SlotPlan plan = plan_slots(slots, 2, false);
    EXPECT_EQ(plan.scale_down, (List{4, 2}));
    // Two ready members remain: both scaled-down workers may go at once.
    EXPECT_EQ(plan.retire, (List{2, 4}));
    EXPECT_TRUE(plan.spawn.empty());
}

TEST(PlanSlots, ScaledDownWorkersServeUntilEnoughAreReady) {
    // Three members, one wanted, only the newest is ready: slots 1 and 2 are scaled down, and
    // slot 2 (ready) keeps serving because slot 0 (the member kept) is not ready yet.
    Slots slots(6);
    slots[0] = member(100, false);
    slots[1] = member(101, false);
    slots[2] = member(102, true);
    SlotPlan plan = plan_slots(slots, 1, false);
    EXPECT_EQ(plan.scale_down, (List{2, 1}));
    // ready members 0, replacing 2: retiring slot 1 leaves 0 + 1 >= 1 serving; slot 2 must stay.
    EXPECT_EQ(plan.retire, (List{1}));
    EXPECT_TRUE(plan.spawn.empty());

    // Next look: slot 1 retiring, slot 2 being replaced, slot 0 still starting: nothing changes.
    slots[1].retiring = true;
    slots[2].replace = ReplaceReason::scaled_down;
    plan = plan_slots(slots, 1, false);
    EXPECT_TRUE(plan.scale_down.empty());
    EXPECT_TRUE(plan.retire.empty());
    EXPECT_TRUE(plan.spawn.empty());

    // Slot 0 is ready: slot 2 may go.
    slots[0].ever_ready = true;
    plan = plan_slots(slots, 1, false);
    EXPECT_EQ(plan.retire, (List{2}));
}

TEST(PlanSlots, ReplacedWorkerRetiresOnlyOnceItsReplacementIsReady) {
    Slots slots(4);
    slots[0] = replaced(100, true, ReplaceReason::max_jobs);
    slots[1] = member(101, true);
    SlotPlan plan = plan_slots(slots, 2, false);
    EXPECT_EQ(plan.spawn, (List{2}));  // its replacement
    EXPECT_TRUE(plan.retire.empty());

    slots[2] = member(102, false);  // started, not ready
    plan = plan_slots(slots, 2, false);
    EXPECT_TRUE(plan.spawn.empty());
    EXPECT_TRUE(plan.retire.empty());

    slots[2].ever_ready = true;
    plan = plan_slots(slots, 2, false);
    EXPECT_EQ(plan.retire, (List{0}));
    EXPECT_TRUE(plan.spawn.empty());
    EXPECT_TRUE(plan.scale_down.empty());
}

TEST(PlanSlots, ReplacedWorkersRetireOneByOneAsCapacityAllows) {
    // Both old workers replaced, one new one ready: one old worker may go, the other serves on.
    Slots slots(4);
    slots[0] = replaced(100, true, ReplaceReason::reload);
    slots[1] = replaced(101, true, ReplaceReason::reload);
    slots[2] = member(102, true);
    slots[3] = member(103, false);
    SlotPlan plan = plan_slots(slots, 2, true);
    EXPECT_EQ(plan.retire, (List{0}));
    EXPECT_FALSE(plan.reload_complete);
    EXPECT_TRUE(plan.spawn.empty());

    slots[0].retiring = true;
    plan = plan_slots(slots, 2, true);
    EXPECT_TRUE(plan.retire.empty());
    EXPECT_FALSE(plan.reload_complete);

    slots[3].ever_ready = true;
    plan = plan_slots(slots, 2, true);
    EXPECT_EQ(plan.retire, (List{1}));
    EXPECT_TRUE(plan.reload_complete);  // the last old worker retires in this very plan
}

TEST(PlanSlots, ReloadCompleteNeedsReadyMembersAndNoReplacedWorker) {
    Slots slots(4);
    slots[0] = retiring(100);
    slots[1] = retiring(101);
    slots[2] = member(102, true);
    slots[3] = member(103, true);
    EXPECT_TRUE(plan_slots(slots, 2, true).reload_complete);
    EXPECT_FALSE(plan_slots(slots, 2, false).reload_complete);  // not reloading

    slots[3].ever_ready = false;  // a new worker still starting
    EXPECT_FALSE(plan_slots(slots, 2, true).reload_complete);

    // Fewer members than wanted (one died): spawn, and not complete until it is ready.
    slots[3] = WorkerSlot{};
    const SlotPlan plan = plan_slots(slots, 2, true);
    EXPECT_EQ(plan.spawn, (List{3}));
    EXPECT_FALSE(plan.reload_complete);
}

TEST(PlanSlots, ReloadStartsNewWorkersBesideTheReplacedOnes) {
    // All members marked for reload: as many new ones are spawned, the old keep serving.
    Slots slots(4);
    slots[0] = replaced(100, true, ReplaceReason::reload);
    slots[1] = replaced(101, true, ReplaceReason::reload);
    const SlotPlan plan = plan_slots(slots, 2, true);
    EXPECT_EQ(plan.spawn, (List{2, 3}));
    EXPECT_TRUE(plan.retire.empty());
    EXPECT_FALSE(plan.reload_complete);
}

TEST(PlanSlots, ZeroWorkersScalesEveryMemberDown) {
    Slots slots(2);
    slots[0] = member(100, true);
    slots[1] = member(101, false);
    const SlotPlan plan = plan_slots(slots, 0, false);
    EXPECT_EQ(plan.scale_down, (List{1, 0}));
    EXPECT_EQ(plan.retire, (List{0, 1}));
    EXPECT_TRUE(plan.spawn.empty());
}

// A replaced worker that never became ready serves nobody, so it is no capacity: a ready replaced
// worker must not retire on its account. After a reload with workers = 2 (slot 0 ready, slot 1
// still starting, both marked for reload) and one new worker ready (slot 2), slot 0 keeps
// serving; slot 1 goes at once.
TEST(PlanSlots, NeverReadyReplacedWorkerIsNotCapacity) {
    Slots slots(4);
    slots[0] = replaced(100, true, ReplaceReason::reload);
    slots[1] = replaced(101, false, ReplaceReason::reload);
    slots[2] = member(102, true);
    slots[3] = member(103, false);
    SlotPlan plan = plan_slots(slots, 2, true);
    EXPECT_TRUE(std::find(plan.retire.begin(), plan.retire.end(), 0u) == plan.retire.end())
        << "the one ready old worker retires while only one new worker is ready";
    EXPECT_EQ(plan.retire, (List{1}));

    // The same with a scale-down: one worker wanted, the only ready one is scaled down and retired
    // although the member kept (slot 0) and the other scaled-down worker (slot 2) are starting.
    Slots scaled(4);
    scaled[0] = member(200, false);
    scaled[1] = member(201, true);
    scaled[2] = member(202, false);
    plan = plan_slots(scaled, 1, false);
    EXPECT_EQ(plan.scale_down, (List{2, 1}));
    EXPECT_TRUE(std::find(plan.retire.begin(), plan.retire.end(), 1u) == plan.retire.end())
        << "the only ready worker retires, leaving none that serves";
}

TEST(WorkerSlot, Roles) {
    EXPECT_FALSE(WorkerSlot{}.live());
    EXPECT_FALSE(WorkerSlot{}.member());
    EXPECT_TRUE(member(5, false).member());
    EXPECT_TRUE(member(5, false).takes_jobs());
    WorkerSlot r = replaced(5, true, ReplaceReason::max_rss);
    EXPECT_FALSE(r.member());
    EXPECT_TRUE(r.being_replaced());
    EXPECT_TRUE(r.takes_jobs());
    EXPECT_FALSE(retiring(5).takes_jobs());
    EXPECT_FALSE(retiring(5).being_replaced());
    WorkerSlot stopped = member(5, true);
    stopped.stop.running = 3;
    EXPECT_FALSE(stopped.takes_jobs());
    EXPECT_TRUE(stopped.member());
}

TEST(WorkerSlots, FindAndReadyWorkers) {
    WorkerSlots slots(4, 1);
    EXPECT_EQ(slots.size(), 4u);
    EXPECT_FALSE(slots.any_live());
    EXPECT_EQ(slots.ready_workers(), 0u);
    slots[1] = member(201, true);
    slots[2] = retiring(202);  // live and ready, though not a member
    slots[3] = member(203, false);
    EXPECT_TRUE(slots.any_live());
    EXPECT_EQ(slots.find(201), 1);
    EXPECT_EQ(slots.find(202), 2);
    EXPECT_EQ(slots.find(203), 3);
    EXPECT_EQ(slots.find(999), -1);
    EXPECT_EQ(slots.find(0), -1) << "slot 0 is empty: its pid 0 is nobody's";
    EXPECT_EQ(slots.ready_workers(), 2u);
    slots[3].ever_ready = true;
    EXPECT_EQ(slots.ready_workers(), 3u);
}

TEST(WorkerSlots, RecordsHowEachSlotsWorkerEnded) {
    WorkerSlots slots(2, 1);
    EXPECT_EQ(slots.last_exit(0), "");
    slots.record_exit(1, "killed by signal 9 (SIGKILL)");
    EXPECT_EQ(slots.last_exit(1), "killed by signal 9 (SIGKILL)");
    EXPECT_EQ(slots.last_exit(0), "");
    slots.renew(1, PoolConfig{}, 1);
    EXPECT_EQ(slots.last_exit(1), "killed by signal 9 (SIGKILL)");  // kept past the next worker's start
}

TEST(WorkerSlots, RenewStartsAFreshSlot) {
    WorkerSlots slots(2, 7);
    slots[0] = retiring(300);
    slots[0].replace = ReplaceReason::reload;
    slots[0].cpu = 1;
    slots[0].stop.running = 9;
    PoolConfig config;
    WorkerSlot& w = slots.renew(0, config, 42);
    EXPECT_EQ(&w, &slots[0]);
    EXPECT_EQ(w.pid, 0);
    EXPECT_FALSE(w.ever_ready);
    EXPECT_FALSE(w.retiring);
    EXPECT_EQ(w.replace, ReplaceReason::none);
    EXPECT_FALSE(w.stop.given());
    EXPECT_EQ(w.config_generation, 42u);
    EXPECT_EQ(w.recycle_after, 0u);  // max_jobs 0: never recycled
    EXPECT_EQ(w.cpu, -1);            // cpu_affinity "none"
}

TEST(WorkerSlots, RecyclingPointIsJitteredWithinBounds) {
    WorkerSlots slots(1, 12345);
    PoolConfig config;
    config.max_jobs = 1000;
    config.max_jobs_jitter = 0.1;
    std::set<std::uint64_t> seen;
    std::uint64_t lowest = ~std::uint64_t{0}, highest = 0;
    for (int i = 0; i < 2000; ++i) {
        const std::uint64_t n = slots.renew(0, config, 1).recycle_after;
        ASSERT_GE(n, 900u);
        ASSERT_LE(n, 1100u);
        lowest = std::min(lowest, n);
        highest = std::max(highest, n);
        seen.insert(n);
    }
    // Jittered for real, over most of the range, so workers started together spread out.
    EXPECT_GT(seen.size(), 50u);
    EXPECT_LT(lowest, 920u);
    EXPECT_GT(highest, 1080u);
}

TEST(WorkerSlots, RecyclingPointWithoutJitterIsMaxJobs) {
    WorkerSlots slots(1, 1);
    PoolConfig config;
    config.max_jobs = 37;
    config.max_jobs_jitter = 0;
    for (int i = 0; i < 10; ++i) EXPECT_EQ(slots.renew(0, config, 1).recycle_after, 37u);
}

TEST(WorkerSlots, RecyclingPointIsNeverZeroWhenMaxJobsIsSet) {
    WorkerSlots slots(1, 99);
    PoolConfig config;
    config.max_jobs = 1;
    config.max_jobs_jitter = 0.9;  // 1 * (1 - 0.9) rounds down to 0: must still be 1
    for (int i = 0; i < 500; ++i) {
        const std::uint64_t n = slots.renew(0, config, 1).recycle_after;
        ASSERT_GE(n, 1u);
        ASSERT_LE(n, 1u);  // 1 * 1.9 rounds down to 1 as well
    }
}

TEST(WorkerSlots, SameSeedSameRecyclingPoints) {
    PoolConfig config;
    config.max_jobs = 100000;
    config.max_jobs_jitter = 0.5;
    WorkerSlots a(1, 5), b(1, 5), c(1, 6);
    std::vector<std::uint64_t> from_a, from_b, from_c;
    for (int i = 0; i < 20; ++i) {
        from_a.push_back(a.renew(0, config, 1).recycle_after);
        from_b.push_back(b.renew(0, config, 1).recycle_after);
        from_c.push_back(c.renew(0, config, 1).recycle_after);
    }
    EXPECT_EQ(from_a, from_b);
    EXPECT_NE(from_a, from_c);
}

TEST(WorkerSlots, SpreadPicksTheCpuFewestMembersUse) {
    const std::vector<int> cpus = allowed_cpus();
    ASSERT_FALSE(cpus.empty());
    WorkerSlots slots(4, 1);
    PoolConfig config;
    config.cpu_affinity = "spread";
    WorkerSlot& first = slots.renew(0, config, 1);
    EXPECT_EQ(first.cpu, cpus[0]);
    first.pid = 100;  // now a member on cpus[0]
    const int second = slots.renew(1, config, 1).cpu;
    EXPECT_EQ(second, cpus.size() > 1 ? cpus[1] : cpus[0]);
    // A retiring worker's CPU does not count: its slot will be free soon.
    slots[0].retiring = true;
    EXPECT_EQ(slots.renew(2, config, 1).cpu, cpus[0]);
}

}  // namespace
}  // namespace warmpool
