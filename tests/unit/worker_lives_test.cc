// Tests for WorkerLives (worker_lives.hpp) over a real pool segment, a SessionTable, a Dispatcher,
// JobIntake, Lanes and a DescriptorBroker, with no daemon. What each call returns for the pool's
// life cycle is the point: a failed initialisation while starting stops the pool (exit 2, or 64
// for a configuration error), a crash while running is replaced, a reload's new worker that fails
// abandons the reload. The workers are real child processes: stand-ins that exit or wait for a
// signal, with what a worker would write in its record written by hand; and, for the spawn, real
// workers forked over the example job library.

#include "warmpool/daemon/worker_lives.hpp"

#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <memory>
#include <string>
#include <vector>

#include "unit_memory.hpp"
#include "warmpool/common/clock.hpp"

#ifndef WARMPOOL_EXAMPLE_JOBS_PATH
#error "WARMPOOL_EXAMPLE_JOBS_PATH must name the built warmpool_example_jobs module"
#endif

namespace warmpool {
namespace {

using testing::UnitPoolMemory;
using Kind = WorkerLives::Event::Kind;

constexpr unsigned kWorkerSlots = 2;  // config.workers 1: a member and its replacement
constexpr unsigned kSessions = 2;
constexpr SessionLayout kSessionLayout{kWorkerSlots, 1u << 14, 1u << 12, 1u << 18};

// A child process standing in for a worker: it exits with `exit_code` at once, or, with none,
// waits for a signal to end it.
pid_t stand_in(int exit_code = -1) {
    const pid_t pid = ::fork();
    if (pid == 0) {
        if (exit_code >= 0) ::_exit(exit_code);
        sigset_t none;
        sigemptyset(&none);
        ::sigprocmask(SIG_SETMASK, &none, nullptr);
        for (;;) ::pause();
    }
    return pid;
}

// The supervisor's side of the broker's one call up: the settings a worker declares.
struct DeclaredSettings final : DescriptorBroker::Peers {
    void read_client(int) override { ADD_FAILURE() << "no client connection in these tests"; }
    void declared_functions(unsigned slot, const protocol::FunctionSettings&) override { declared_by.push_back(slot); }
    std::vector<unsigned> declared_by;
};

struct WorkerLivesTest : ::testing::Test {
    WorkerLivesTest()
        : pool(kWorkerSlots, kSessions, 1u << 14),
          sessions(kSessions, pool.memory, kSessionLayout, &totals),
          functions(config),
          dispatcher(config, pool.memory, kSessions),
          intake(config, sessions, functions, counters, totals),
          epoll(::epoll_create1(EPOLL_CLOEXEC)),
          doorbell(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)),
          made_slots(std::make_unique<WorkerSlots>(kWorkerSlots, 1)),
          slots(*made_slots),
          broker(epoll.get(), slots, sessions, functions, peers) {
        config.name = "unit";
        config.workers = 1;
        config.jobs_library = WARMPOOL_EXAMPLE_JOBS_PATH;
        if (auto st = lanes.create("unit", kWorkerSlots); !st) ADD_FAILURE() << st.error().message();
        lives = std::make_unique<WorkerLives>(
            std::move(made_slots), config, life, pool.memory, doorbell.get(),
            WorkerLives::Units{dispatcher, intake, broker, lanes, sessions, counters});
    }

    // The stand-in `pid` as the worker in `slot`, of configuration `generation`: ready (as if it
    // had stored ready itself) or still initialising.
    void occupy(unsigned slot, pid_t pid, bool ready, std::uint64_t generation = 1) {
        pool.memory.reset_worker(slot);
        dispatcher.start_worker(slot);
        lanes.start_worker(slot);
        WorkerSlot& w = slots.renew(slot, config, generation);
        w.pid = pid;
        w.ever_ready = ready;
        w.started_ns = monotonic_ns();
        WorkerRecord& rec = pool.memory.worker(slot);
        rec.pid = pid;
        rec.state = static_cast<std::uint32_t>(ready ? WorkerState::ready : WorkerState::starting);
        rec.lanes_until_jobs = ~std::uint64_t{0};
    }
    // The event of the next worker death reaped, waiting for one.
    WorkerLives::Event next_death() {
        for (int waited = 0; waited < 5000; waited += 5) {
            if (auto event = lives->reap_one()) return *event;
            ::usleep(5000);
        }
        ADD_FAILURE() << "no worker died";
        return {};
    }
    // Waits until the worker in `slot` stored ready (or gave up); true if it is ready.
    bool wait_ready(unsigned slot) {
        for (int waited = 0; waited < 20'000; waited += 5) {
            const auto state = static_cast<WorkerState>(pool.memory.worker(slot).state.load());
            if (state == WorkerState::ready) return true;
            if (state != WorkerState::starting) return false;
            ::usleep(5000);
        }
        return false;
    }
    WorkerState state(unsigned slot) const { return static_cast<WorkerState>(pool.memory.worker(slot).state.load()); }

    PoolConfig config;
    PoolLifecycle life;
    UnitPoolMemory pool;
    QueueTotals totals;
    SessionTable sessions;
    FunctionCatalog functions;
    Dispatcher dispatcher;
    PoolCounters counters;
    JobIntake intake;
    Lanes lanes;
    UniqueFd epoll;
    UniqueFd doorbell;
    DeclaredSettings peers;
    std::unique_ptr<WorkerSlots> made_slots;
    WorkerSlots& slots;  // lives' own, lent to the broker as the supervisor does
    DescriptorBroker broker;
    std::unique_ptr<WorkerLives> lives;
};

TEST(DescribeWaitStatus, SaysHowAWorkerEnded) {
    EXPECT_EQ(describe_wait_status(kWorkerExitInitFailed << 8), "exited: initialisation failed");
    EXPECT_EQ(describe_wait_status(kWorkerExitBadConfig << 8),
              "exited: the configuration names a function it does not have");
    EXPECT_EQ(describe_wait_status(kWorkerExitOutOfMemory << 8), "ran out of memory (MemoryError)");
    EXPECT_EQ(describe_wait_status(3 << 8), "exited with status 3");
    EXPECT_EQ(describe_wait_status(SIGKILL), "killed by signal 9 (SIGKILL)");
}

TEST_F(WorkerLivesTest, AFailedInitialisationWhileStartingStopsThePoolWithExit2) {
    occupy(0, stand_in(kWorkerExitInitFailed), /*ready=*/false);
    const WorkerLives::Event event = next_death();
    EXPECT_EQ(event.kind, Kind::init_failed);
    EXPECT_EQ(event.exit_code, 2);
    EXPECT_EQ(event.how, "exited: initialisation failed");
    EXPECT_EQ(counters.worker_exits, 1u);
    EXPECT_EQ(counters.failed_inits, 1u);
    EXPECT_EQ(counters.worker_crashes, 0u);
    EXPECT_FALSE(lives->slots()[0].live());
    EXPECT_EQ(lives->slots().last_exit(0), "exited: initialisation failed");
    EXPECT_EQ(state(0), WorkerState::empty);
    EXPECT_FALSE(lives->reap_one().has_value()) << "nothing more to reap";
}

TEST_F(WorkerLivesTest, AConfigurationErrorWhileStartingStopsThePoolWithExit64) {
    occupy(0, stand_in(kWorkerExitBadConfig), /*ready=*/false);
    const WorkerLives::Event event = next_death();
    EXPECT_EQ(event.kind, Kind::init_failed);
    EXPECT_EQ(event.exit_code, 64);
}

TEST_F(WorkerLivesTest, ACrashWhileRunningIsReplacedWithoutTellingTheLifeCycle) {
    life.state = PoolState::running;
    const pid_t crashing = stand_in();
    occupy(0, crashing, /*ready=*/true);
    occupy(1, stand_in(), /*ready=*/true);  // serves on: no worker is missing, none is forked
    ::kill(crashing, SIGKILL);
    const WorkerLives::Event event = next_death();
    EXPECT_EQ(event.kind, Kind::none);
    EXPECT_EQ(counters.worker_crashes, 1u);
    EXPECT_EQ(counters.failed_inits, 0u);
    EXPECT_EQ(lives->slots().last_exit(0).rfind("killed by signal 9 (SIGKILL)", 0), 0u) << lives->slots().last_exit(0);
    EXPECT_EQ(lives->slots().respawn().consecutive_failed_inits(), 0u);
    EXPECT_FALSE(lives->slots()[0].live());
    EXPECT_TRUE(lives->slots()[1].live());
}

TEST_F(WorkerLivesTest, AFailedInitialisationWhileRunningBacksOff) {
    life.state = PoolState::running;
    occupy(0, stand_in(kWorkerExitInitFailed), /*ready=*/false);
    const std::int64_t before = monotonic_ns();
    const WorkerLives::Event event = next_death();
    EXPECT_EQ(event.kind, Kind::none) << "the pool runs on";
    EXPECT_EQ(counters.failed_inits, 1u);
    EXPECT_EQ(lives->slots().respawn().consecutive_failed_inits(), 1u);
    EXPECT_GE(lives->slots().next_spawn_ns, before + RespawnPolicy::kFirstDelayNs);
    EXPECT_FALSE(lives->slots()[0].live()) << "no replacement before the back-off ends";
    EXPECT_FALSE(lives->slots()[1].live());
}

TEST_F(WorkerLivesTest, AReloadsNewWorkerThatFailsAbandonsTheReload) {
    life.state = PoolState::running;
    life.previous_config = config;
    life.config_generation = 2;
    occupy(0, stand_in(), /*ready=*/true, /*generation=*/1);
    slots[0].replace = ReplaceReason::reload;
    occupy(1, stand_in(kWorkerExitInitFailed), /*ready=*/false, /*generation=*/2);
    const WorkerLives::Event event = next_death();
    EXPECT_EQ(event.kind, Kind::reload_failed);
    EXPECT_EQ(event.how, "exited: initialisation failed");
    EXPECT_EQ(counters.failed_inits, 1u);
    EXPECT_TRUE(lives->slots()[0].live());

    lives->keep_previous_workers();
    EXPECT_EQ(lives->slots()[0].replace, ReplaceReason::none) << "the old worker is a member again";
}

TEST_F(WorkerLivesTest, AnOldWorkerDyingDuringAReloadDoesNotAbandonIt) {
    life.state = PoolState::running;
    life.previous_config = config;
    life.config_generation = 2;
    occupy(0, stand_in(kWorkerExitInitFailed), /*ready=*/false, /*generation=*/1);
    occupy(1, stand_in(), /*ready=*/false, /*generation=*/2);
    const WorkerLives::Event event = next_death();
    EXPECT_EQ(event.kind, Kind::none);
    EXPECT_TRUE(lives->slots()[1].live());
}

TEST_F(WorkerLivesTest, TheLastWorkerReadyWhileStartingMakesThePoolReady) {
    const pid_t pid = stand_in();
    occupy(0, pid, /*ready=*/false);
    EXPECT_EQ(lives->note_if_ready(0, monotonic_ns()).kind, Kind::none) << "still initialising";
    pool.memory.worker(0).state = static_cast<std::uint32_t>(WorkerState::ready);  // as the worker would
    EXPECT_EQ(lives->note_if_ready(0, monotonic_ns()).kind, Kind::pool_ready);
    EXPECT_TRUE(lives->slots()[0].ever_ready);
    EXPECT_EQ(lives->note_if_ready(0, monotonic_ns()).kind, Kind::none) << "noticed once";
}

TEST_F(WorkerLivesTest, AReadyReplacementRetiresTheWorkerItReplaces) {
    life.state = PoolState::running;
    occupy(0, stand_in(), /*ready=*/true);
    slots[0].replace = ReplaceReason::max_jobs;
    occupy(1, stand_in(), /*ready=*/false);
    EXPECT_EQ(lives->maintain_workers().kind, Kind::none);
    EXPECT_FALSE(lives->slots()[0].retiring) << "needed until its replacement is ready";
    EXPECT_EQ(pool.memory.worker(0).lanes_until_jobs.load(), 0u) << "no lane jobs while it is replaced";
    pool.memory.worker(1).state = static_cast<std::uint32_t>(WorkerState::ready);
    EXPECT_EQ(lives->note_if_ready(1, monotonic_ns()).kind, Kind::none);
    EXPECT_TRUE(lives->slots()[0].retiring);
    EXPECT_EQ(state(0), WorkerState::exiting);
    EXPECT_EQ(state(1), WorkerState::ready);
}

TEST_F(WorkerLivesTest, AWorkerPastMaxJobsIsReplaced) {
    life.state = PoolState::running;
    occupy(0, stand_in(), /*ready=*/true);
    slots[0].recycle_after = 3;
    pool.memory.worker(0).jobs_done = 2;
    EXPECT_EQ(lives->check_recycling(0).kind, Kind::none);
    EXPECT_EQ(lives->slots()[0].replace, ReplaceReason::none);
    slots.next_spawn_ns = monotonic_ns() + 3'600'000'000'000;  // no replacement forked here
    pool.memory.worker(0).jobs_done = 3;
    EXPECT_EQ(lives->check_recycling(0).kind, Kind::none);
    EXPECT_EQ(lives->slots()[0].replace, ReplaceReason::max_jobs);
    EXPECT_EQ(counters.recycled, 1u);
    EXPECT_FALSE(lives->slots()[0].retiring) << "it serves until its replacement is ready";
    EXPECT_EQ(pool.memory.worker(0).lanes_until_jobs.load(), 0u);
}

TEST_F(WorkerLivesTest, AReloadCompletesOnceItsWorkersServe) {
    life.state = PoolState::running;
    life.previous_config = config;
    life.config_generation = 2;
    occupy(0, stand_in(), /*ready=*/true, /*generation=*/1);
    lives->replace_members_for_reload();
    EXPECT_EQ(lives->slots()[0].replace, ReplaceReason::reload);
    occupy(1, stand_in(), /*ready=*/true, /*generation=*/2);
    EXPECT_EQ(lives->maintain_workers().kind, Kind::reload_complete);
    EXPECT_TRUE(lives->slots()[0].retiring);
    EXPECT_EQ(state(0), WorkerState::exiting);
}

TEST_F(WorkerLivesTest, NothingIsMaintainedUnlessThePoolRuns) {
    occupy(0, stand_in(), /*ready=*/true);
    slots[0].replace = ReplaceReason::max_jobs;
    occupy(1, stand_in(), /*ready=*/true);
    EXPECT_EQ(lives->maintain_workers().kind, Kind::none);
    EXPECT_FALSE(lives->slots()[0].retiring) << "starting";
    life.state = PoolState::stopping;
    EXPECT_EQ(lives->maintain_workers().kind, Kind::none);
    EXPECT_FALSE(lives->slots()[0].retiring) << "stopping";
}

TEST_F(WorkerLivesTest, LiveWorkersAreKilledWhenItGoes) {
    const pid_t pid = stand_in();
    occupy(0, pid, /*ready=*/true);
    lives.reset();
    EXPECT_EQ(::kill(pid, 0), -1) << "killed and reaped";
    EXPECT_EQ(errno, ESRCH);
}

// Real workers: forked over the example job library, they initialise, declare their functions
// and store ready themselves.
TEST_F(WorkerLivesTest, ASpawnedWorkerBecomesReadyAndThePoolWithIt) {
    ASSERT_TRUE(lives->spawn(0));
    const WorkerSlot& w = lives->slots()[0];
    ASSERT_TRUE(w.live());
    EXPECT_EQ(pool.memory.worker(0).pid.load(), w.pid);
    EXPECT_EQ(w.config_generation, life.config_generation);
    ASSERT_TRUE(wait_ready(0));
    EXPECT_EQ(lives->note_if_ready(0, monotonic_ns()).kind, Kind::pool_ready);
    EXPECT_EQ(peers.declared_by, std::vector<unsigned>{0}) << "its declarations read before it is given jobs";
}

TEST_F(WorkerLivesTest, ASpawnedWorkerWhoseLibraryDoesNotLoadStopsThePool) {
    config.jobs_library = "/nonexistent/warmpool_jobs.so";
    ASSERT_TRUE(lives->spawn(0));
    const WorkerLives::Event event = next_death();
    EXPECT_EQ(event.kind, Kind::init_failed);
    EXPECT_EQ(event.exit_code, 2);
}

TEST_F(WorkerLivesTest, ASpawnedWorkerLackingAConfiguredFunctionStopsThePoolWithExit64) {
    config.functions["no_such_function"] = FunctionConfig{};
    ASSERT_TRUE(lives->spawn(0));
    const WorkerLives::Event event = next_death();
    EXPECT_EQ(event.kind, Kind::init_failed);
    EXPECT_EQ(event.exit_code, 64);
}

TEST_F(WorkerLivesTest, ASpawnedWorkerToldToStopWhileRunningRetiresCleanly) {
    life.state = PoolState::running;
    ASSERT_TRUE(lives->spawn(0));
    ASSERT_TRUE(wait_ready(0));
    EXPECT_EQ(lives->note_if_ready(0, monotonic_ns()).kind, Kind::none) << "the pool already runs";
    // A reload lowering `workers` to none would retire it; here the test orders it out itself.
    pool.memory.worker(0).state = static_cast<std::uint32_t>(WorkerState::exiting);
    pool.memory.worker(0).inbox_wake.notify_futex();
    slots.next_spawn_ns = monotonic_ns() + 3'600'000'000'000;  // no replacement forked here
    const WorkerLives::Event event = next_death();
    EXPECT_EQ(event.kind, Kind::none);
    EXPECT_EQ(lives->slots().last_exit(0), "exited with status 0");
    EXPECT_EQ(counters.worker_exits, 1u);
    EXPECT_EQ(counters.worker_crashes, 0u);
    EXPECT_EQ(counters.failed_inits, 0u);
}

}  // namespace
}  // namespace warmpool
