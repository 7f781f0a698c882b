// Tests for JobStopper (job_stopper.hpp) over a real pool segment, a SessionTable with real
// session segments and a Dispatcher holding the jobs. The workers are real child processes that
// wait for signals, so what a stop sends is seen as they die; what a worker would write (its
// running job, a lane job it took) is written by hand.

#include "warmpool/daemon/job_stopper.hpp"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "unit_memory.hpp"
#include "warmpool/daemon/lanes.hpp"

namespace warmpool {
namespace {

using testing::UnitPoolMemory;

constexpr std::uint32_t kWorkers = 2;
constexpr std::uint32_t kSessions = 2;
constexpr SessionLayout kSessionLayout{kWorkers, 1u << 14, 1u << 12, 1u << 18};
constexpr std::int64_t kNow = 1'000'000'000;
constexpr std::int64_t kTimeout = 2'000'000'000;

// A process standing in for a worker: it waits for signals until one ends it. With
// `ignores_sigterm` it lives through SIGTERM, as a worker stuck in a job that blocks it may.
class StandIn {
public:
    explicit StandIn(bool ignores_sigterm = false) {
        pid_ = ::fork();
        if (pid_ == 0) {
            if (ignores_sigterm) ::signal(SIGTERM, SIG_IGN);
            sigset_t none;
            sigemptyset(&none);
            ::sigprocmask(SIG_SETMASK, &none, nullptr);
            for (;;) ::pause();
        }
        // Wait until it runs with its own dispositions, so a signal finds it as it means to be.
        ::usleep(20'000);
    }
    ~StandIn() {
        if (pid_ > 0 && status_ < 0) {
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, nullptr, 0);
        }
    }
    StandIn(const StandIn&) = delete;
    StandIn& operator=(const StandIn&) = delete;

    pid_t pid() const { return pid_; }
    // The signal that ended it, waiting for it to end; 0 if it is still alive after `ms`.
    int ended_by(int ms = 5000) {
        for (int waited = 0; status_ < 0 && waited <= ms; waited += 5) {
            int status = 0;
            if (::waitpid(pid_, &status, WNOHANG) == pid_) {
                status_ = status;
                break;
            }
            ::usleep(5000);
        }
        return status_ >= 0 && WIFSIGNALED(status_) ? WTERMSIG(status_) : 0;
    }

private:
    pid_t pid_ = -1;
    int status_ = -1;
};

struct JobStopperTest : ::testing::Test {
    JobStopperTest()
        : pool(kWorkers, kSessions, 1u << 14),
          sessions(kSessions, pool.memory, kSessionLayout, &totals),
          slots(kWorkers, 1),
          functions(config),
          dispatcher(config, pool.memory, kSessions),
          stopper(config, pool.memory, slots, dispatcher, counters) {
        config.kill_grace_s = 0.5;
        PeerCredentials peer;
        peer.uid = 1000;
        auto slot = sessions.open(peer, 0, 7, "unit");
        if (!slot) ADD_FAILURE() << slot.error().message();
    }
    void ready(unsigned slot, const StandIn& process) {
        slots[slot].pid = process.pid();
        slots[slot].ever_ready = true;
        pool.memory.reset_worker(slot);
        dispatcher.start_worker(slot);
    }
    // Job `id` queued (with a time limit, so it goes alone to a worker) and dispatched.
    void dispatch(std::uint64_t id, std::int64_t timeout_ns = kTimeout) {
        SessionSlot& s = sessions[0];
        PendingJob job;
        job.record.job_id = id;
        EXPECT_TRUE(set_function_name(job.record, "add"));
        job.payload = "[1,2]";
        job.record.payload_bytes = 5;
        job.record.session_generation = s.generation;
        job.record.attempt = 1;
        job.record.timeout_ns = timeout_ns;
        job.stats = &functions.stats("add", s.last_function);
        s.queue.push_back(std::move(job));
        EXPECT_TRUE(dispatcher.dispatch(kNow, sessions, slots.all(), functions, counters));
    }
    // The worker in `slot` started running its inbox job `seq` at `since`.
    void running(unsigned slot, std::uint64_t seq, std::int64_t since = kNow) {
        pool.memory.worker(slot).running_since_ns = since;
        pool.memory.worker(slot).running_seq = running_word_of_inbox_seq(seq);
    }

    PoolConfig config;
    UnitPoolMemory pool;
    QueueTotals totals;
    SessionTable sessions;
    WorkerSlots slots;
    FunctionCatalog functions;
    Dispatcher dispatcher;
    PoolCounters counters;
    JobStopper stopper;
};

TEST_F(JobStopperTest, NothingDueWithoutARunningJobWithALimit) {
    StandIn worker;
    ready(0, worker);
    EXPECT_EQ(stopper.next_due_ns(), -1);
    dispatch(1, 0);  // no time limit
    running(0, 0);
    EXPECT_EQ(stopper.next_due_ns(), -1);
    stopper.supervise(kNow + 100 * kTimeout);
    EXPECT_FALSE(slots[0].stop.given());
    EXPECT_EQ(worker.ended_by(50), 0);
}

TEST_F(JobStopperTest, AJobPastItsLimitIsStoppedWithSigterm) {
    StandIn worker;
    ready(0, worker);
    dispatch(1);
    EXPECT_EQ(stopper.next_due_ns(), -1) << "dispatched, not yet running";
    running(0, 0);
    const std::int64_t due = time_limit_passes_at(kNow, kTimeout);
    EXPECT_EQ(stopper.next_due_ns(), due);

    stopper.supervise(due - 1);
    EXPECT_FALSE(slots[0].stop.given());
    stopper.supervise(due);
    const StopOrder& stop = slots[0].stop;
    EXPECT_TRUE(stop.given());
    EXPECT_EQ(stop.running, running_word_of_inbox_seq(0));
    EXPECT_EQ(stop.kind, ErrorKind::timeout);
    EXPECT_NE(stop.message.find("time limit of 2.000 s"), std::string::npos) << stop.message;
    EXPECT_EQ(stop.kill_at_ns, due + 500'000'000);
    EXPECT_EQ(counters.timeouts, 1u);
    EXPECT_EQ(pool.memory.worker(0).lanes_until_jobs.load(), 0u) << "no lane job after this one";
    EXPECT_EQ(worker.ended_by(), SIGTERM);
    EXPECT_EQ(stopper.next_due_ns(), stop.kill_at_ns) << "the SIGKILL to follow";
}

TEST_F(JobStopperTest, SigkillFollowsAnIgnoredSigterm) {
    StandIn worker(/*ignores_sigterm=*/true);
    ready(0, worker);
    dispatch(1);
    running(0, 0);
    const std::int64_t due = time_limit_passes_at(kNow, kTimeout);
    stopper.supervise(due);
    EXPECT_EQ(worker.ended_by(100), 0) << "SIGTERM ignored";
    stopper.supervise(due + 400'000'000);
    EXPECT_EQ(worker.ended_by(50), 0) << "still within kill_grace";
    stopper.supervise(due + 500'000'000);
    EXPECT_EQ(worker.ended_by(), SIGKILL);
    EXPECT_EQ(slots[0].stop.kill_at_ns, StopOrder::kNoKillDue);
    EXPECT_EQ(stopper.next_due_ns(), -1);
    EXPECT_EQ(counters.timeouts, 1u);
}

TEST_F(JobStopperTest, AForcedCancelStopsTheRunningJobAlone) {
    StandIn worker;
    ready(0, worker);
    dispatch(1);
    EXPECT_TRUE(stopper.cancel_held(0, 1, kNow)) << "held, not yet running: it runs";
    EXPECT_FALSE(slots[0].stop.given());
    running(0, 0);
    EXPECT_FALSE(stopper.cancel_held(0, 2, kNow)) << "not held by any worker";
    EXPECT_FALSE(stopper.cancel_held(1, 1, kNow)) << "another session's job 1";
    EXPECT_TRUE(stopper.cancel_held(0, 1, kNow));
    EXPECT_EQ(slots[0].stop.kind, ErrorKind::cancelled);
    EXPECT_EQ(slots[0].stop.kill_at_ns, StopOrder::kNoKillDue);
    EXPECT_EQ(worker.ended_by(), SIGKILL);
    EXPECT_EQ(counters.timeouts, 0u);
}

// The order names the job the decision was about: once the worker has moved on, no signal.
TEST_F(JobStopperTest, NoStopOnceTheJobHasEnded) {
    StandIn worker;
    ready(0, worker);
    dispatch(1);
    running(0, 0);
    pool.memory.worker(0).running_seq = kNoRunningJob;  // it finished meanwhile
    EXPECT_TRUE(stopper.cancel_held(0, 1, kNow));
    EXPECT_FALSE(slots[0].stop.given());
    EXPECT_EQ(worker.ended_by(50), 0);
}

TEST_F(JobStopperTest, AForcedCancelOfALaneJobStopsItsWorker) {
    StandIn idle;
    StandIn worker;
    ready(0, idle);
    ready(1, worker);
    const SessionSlot& s = sessions[0];
    Lane& lane = s.memory.lane();
    lane.record.job_id = 5;
    WorkerRecord& rec = pool.memory.worker(1);
    rec.lane_session_slot = 0;
    rec.lane_generation = s.generation;
    rec.lane_ticket = 3;
    rec.lane_job_id = 5;
    rec.lane_progress = lane_progress(1, LaneStage::taken);
    rec.running_seq = kLaneRunningSeq;

    EXPECT_FALSE(stopper.cancel_lane_job(0, s.generation, lane, 6)) << "another job";
    EXPECT_FALSE(stopper.cancel_lane_job(0, s.generation + 1, lane, 5)) << "a former session of the slot";
    EXPECT_TRUE(stopper.cancel_lane_job(0, s.generation, lane, 5));
    const StopOrder& stop = slots[1].stop;
    EXPECT_EQ(stop.running, kLaneRunningSeq);
    EXPECT_EQ(stop.lane, (LaneJobKey{0, s.generation, 3}));
    EXPECT_EQ(stop.kind, ErrorKind::cancelled);
    EXPECT_EQ(rec.lanes_until_jobs.load(), 0u);
    EXPECT_EQ(worker.ended_by(), SIGKILL);
    EXPECT_EQ(idle.ended_by(50), 0);
    EXPECT_FALSE(slots[0].stop.given());
}

}  // namespace
}  // namespace warmpool
