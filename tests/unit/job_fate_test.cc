// Tests for decide_job_fate (job_fate.hpp): what becomes of each job a dying worker held, with
// the precedence of the facts (finished, never started, reply out, client gone, stopped on
// purpose, pool stopping, retries and the poison threshold) and the parts of the failure
// message a user relies on (the worker's pid, how it died, attempt counts, quarantine).

#include "warmpool/daemon/job_fate.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <string>

namespace warmpool {
namespace {

using Kind = JobFate::Kind;

constexpr const char* kSegv = "killed by signal 11 (SIGSEGV)";

// The job a worker (pid 4242) was running when it crashed; its client is still connected.
DeathFacts crashed_while_running() {
    DeathFacts f;
    f.running = true;
    f.session_live = true;
    f.how = kSegv;
    f.pid = 4242;
    f.attempt = 1;
    f.retries = 0;
    f.poison_threshold = 3;
    return f;
}

::testing::AssertionResult Contains(const std::string& text, const std::string& part) {
    if (text.find(part) != std::string::npos) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure()
           << "\"" << text << "\" does not contain \"" << part << "\"";
}

TEST(JobFate, FinishedBeforeDeathIsFinishedWhateverElseIsTrue) {
    // Every combination of the other facts, including ones that would otherwise fail, retry or
    // drop the job: a job the worker marked done has its reply out and is counted once.
    for (unsigned bits = 0; bits < 64; ++bits) {
        DeathFacts f = crashed_while_running();
        f.finished = true;
        f.running = bits & 1;
        f.reply_published = bits & 2;
        f.session_live = bits & 4;
        f.pool_stopping = bits & 8;
        f.stopped_on_purpose = bits & 16;
        if (bits & 32) {
            f.retries = 5;
            f.attempt = 3;  // at the poison threshold
        }
        EXPECT_EQ(decide_job_fate(f).kind, Kind::finished) << "facts " << bits;
    }
}

TEST(JobFate, QueuedJobThatNeverStartedGoesBackToItsLiveClientsQueue) {
    DeathFacts f = crashed_while_running();
    f.running = false;
    EXPECT_EQ(decide_job_fate(f).kind, Kind::requeue);

    // It did not crash anything: neither the pool stopping, the poison threshold nor a lack
    // of retries turns it into a failure.
    f.pool_stopping = true;
    f.attempt = 7;
    f.poison_threshold = 3;
    f.retries = 0;
    EXPECT_EQ(decide_job_fate(f).kind, Kind::requeue);
}

TEST(JobFate, QueuedJobOfAGoneClientIsDropped) {
    DeathFacts f = crashed_while_running();
    f.running = false;
    f.session_live = false;
    EXPECT_EQ(decide_job_fate(f).kind, Kind::drop);
    f.retries = 3;
    f.pool_stopping = true;
    EXPECT_EQ(decide_job_fate(f).kind, Kind::drop);
}

TEST(JobFate, ReplyPublishedJustBeforeDeathCountsAsFinished) {
    DeathFacts f = crashed_while_running();
    f.reply_published = true;
    EXPECT_EQ(decide_job_fate(f).kind, Kind::finished);

    // The client has its answer: no timeout error, shutdown error, quarantine or retry on top.
    f.stopped_on_purpose = true;
    f.purpose_kind = ErrorKind::timeout;
    f.purpose_message = "job exceeded its 1 s timeout";
    EXPECT_EQ(decide_job_fate(f).kind, Kind::finished);
    f.stopped_on_purpose = false;
    f.pool_stopping = true;
    EXPECT_EQ(decide_job_fate(f).kind, Kind::finished);
    f.pool_stopping = false;
    f.retries = 5;
    f.attempt = 3;
    EXPECT_EQ(decide_job_fate(f).kind, Kind::finished);
}

TEST(JobFate, RunningJobOfAGoneClientIsDroppedNeverRetriedOrFailed) {
    DeathFacts f = crashed_while_running();
    f.session_live = false;
    f.retries = 3;
    EXPECT_EQ(decide_job_fate(f).kind, Kind::drop) << "no retry for a client that left";
    f.stopped_on_purpose = true;
    f.purpose_kind = ErrorKind::cancelled;
    EXPECT_EQ(decide_job_fate(f).kind, Kind::drop);
    f.pool_stopping = true;
    EXPECT_EQ(decide_job_fate(f).kind, Kind::drop);
}

TEST(JobFate, TimeoutKillFailsWithTimeoutAndTheSupervisorsMessage) {
    DeathFacts f = crashed_while_running();
    f.how = "killed by signal 9 (SIGKILL)";
    f.stopped_on_purpose = true;
    f.purpose_kind = ErrorKind::timeout;
    f.purpose_message = "the job ran longer than its 2.5 s timeout";
    f.retries = 4;  // a timeout is not a crash: no retry
    const JobFate fate = decide_job_fate(f);
    EXPECT_EQ(fate.kind, Kind::fail);
    EXPECT_EQ(fate.error, ErrorKind::timeout);
    EXPECT_EQ(fate.message, "the job ran longer than its 2.5 s timeout");
}

TEST(JobFate, CancelKillFailsWithCancelledAndTheSupervisorsMessage) {
    DeathFacts f = crashed_while_running();
    f.how = "killed by signal 9 (SIGKILL)";
    f.stopped_on_purpose = true;
    f.purpose_kind = ErrorKind::cancelled;
    f.purpose_message = "cancelled by the client";
    f.retries = 4;
    const JobFate fate = decide_job_fate(f);
    EXPECT_EQ(fate.kind, Kind::fail);
    EXPECT_EQ(fate.error, ErrorKind::cancelled);
    EXPECT_EQ(fate.message, "cancelled by the client");
}

TEST(JobFate, StoppedOnPurposeTakesPrecedenceOverPoolStoppingAndPoison) {
    DeathFacts f = crashed_while_running();
    f.stopped_on_purpose = true;
    f.purpose_kind = ErrorKind::timeout;
    f.purpose_message = "timed out";
    f.pool_stopping = true;
    f.attempt = 5;
    f.poison_threshold = 3;
    const JobFate fate = decide_job_fate(f);
    EXPECT_EQ(fate.kind, Kind::fail);
    EXPECT_EQ(fate.error, ErrorKind::timeout);
    EXPECT_EQ(fate.message, "timed out");
}

TEST(JobFate, CrashWhileThePoolStopsFailsWithShuttingDownNamingTheCrash) {
    DeathFacts f = crashed_while_running();
    f.pool_stopping = true;
    f.retries = 3;  // retries left, but the pool is going away
    const JobFate fate = decide_job_fate(f);
    EXPECT_EQ(fate.kind, Kind::fail);
    EXPECT_EQ(fate.error, ErrorKind::shutting_down);
    EXPECT_TRUE(Contains(fate.message, "stopped"));
    EXPECT_TRUE(Contains(fate.message, "4242"));
    EXPECT_TRUE(Contains(fate.message, kSegv));

    f.attempt = 3;  // at the poison threshold: still a shutdown, not a quarantine
    const JobFate at_threshold = decide_job_fate(f);
    EXPECT_EQ(at_threshold.error, ErrorKind::shutting_down);
    EXPECT_FALSE(Contains(at_threshold.message, "quarantine"));
}

TEST(JobFate, CrashWithRetriesLeftIsRetried) {
    DeathFacts f = crashed_while_running();
    f.retries = 2;
    f.poison_threshold = 10;
    f.attempt = 1;
    EXPECT_EQ(decide_job_fate(f).kind, Kind::retry);
    f.attempt = 2;
    EXPECT_EQ(decide_job_fate(f).kind, Kind::retry);
}

TEST(JobFate, CrashOnTheLastAttemptFailsNamingAttemptKOfN) {
    DeathFacts f = crashed_while_running();
    f.retries = 2;
    f.poison_threshold = 10;
    f.attempt = 3;
    const JobFate fate = decide_job_fate(f);
    EXPECT_EQ(fate.kind, Kind::fail);
    EXPECT_EQ(fate.error, ErrorKind::worker_crashed);
    EXPECT_TRUE(Contains(fate.message, "attempt 3 of 3"));
    EXPECT_TRUE(Contains(fate.message, "4242"));
    EXPECT_TRUE(Contains(fate.message, kSegv));
    EXPECT_FALSE(Contains(fate.message, "quarantine"));

    f.retries = 1;
    f.attempt = 2;
    f.how = "exited with status 3";
    const JobFate one_retry = decide_job_fate(f);
    EXPECT_EQ(one_retry.kind, Kind::fail);
    EXPECT_TRUE(Contains(one_retry.message, "attempt 2 of 2"));
    EXPECT_TRUE(Contains(one_retry.message, "exited with status 3"));
}

TEST(JobFate, PoisonThresholdQuarantinesEvenWithRetriesLeft) {
    DeathFacts f = crashed_while_running();
    f.retries = 5;
    f.poison_threshold = 3;
    f.attempt = 2;
    EXPECT_EQ(decide_job_fate(f).kind, Kind::retry) << "below the threshold";
    f.attempt = 3;
    const JobFate fate = decide_job_fate(f);
    EXPECT_EQ(fate.kind, Kind::fail);
    EXPECT_EQ(fate.error, ErrorKind::worker_crashed);
    EXPECT_TRUE(Contains(fate.message, "quarantined"));
    EXPECT_TRUE(Contains(fate.message, "crashed 3 workers"));
    EXPECT_TRUE(Contains(fate.message, "poison_threshold 3"));
    EXPECT_TRUE(Contains(fate.message, "4242"));
    EXPECT_TRUE(Contains(fate.message, kSegv));
    EXPECT_FALSE(Contains(fate.message, "of 6"))
        << "the retries it would have had are not the reason";
}

TEST(JobFate, AttemptBeyondTheThresholdIsQuarantinedToo) {
    // The threshold can be lowered by a reload while a job is on a later attempt.
    DeathFacts f = crashed_while_running();
    f.retries = 10;
    f.poison_threshold = 2;
    f.attempt = 4;
    const JobFate fate = decide_job_fate(f);
    EXPECT_EQ(fate.kind, Kind::fail);
    EXPECT_TRUE(Contains(fate.message, "crashed 4 workers"));
    EXPECT_TRUE(Contains(fate.message, "poison_threshold 2"));
}

TEST(JobFate, ThresholdOfOneNeverRetries) {
    DeathFacts f = crashed_while_running();
    f.retries = 3;
    f.poison_threshold = 1;
    const JobFate fate = decide_job_fate(f);
    EXPECT_EQ(fate.kind, Kind::fail);
    EXPECT_EQ(fate.error, ErrorKind::worker_crashed);
    EXPECT_TRUE(Contains(fate.message, "quarantined"));
}

TEST(JobFate, NoRetriesGivesAPlainCrashNamingThePidAndHowItDied) {
    DeathFacts f = crashed_while_running();
    const JobFate fate = decide_job_fate(f);
    EXPECT_EQ(fate.kind, Kind::fail);
    EXPECT_EQ(fate.error, ErrorKind::worker_crashed);
    EXPECT_TRUE(Contains(fate.message, "worker 4242"));
    EXPECT_TRUE(Contains(fate.message, kSegv));
    EXPECT_FALSE(Contains(fate.message, "attempt")) << "one attempt was all there ever was";
    EXPECT_FALSE(Contains(fate.message, "quarantine"));

    f.pid = 77;
    f.how = "killed by signal 6 (SIGABRT), core dumped";
    const JobFate abort = decide_job_fate(f);
    EXPECT_TRUE(Contains(abort.message, "worker 77"));
    EXPECT_TRUE(Contains(abort.message, "killed by signal 6 (SIGABRT), core dumped"));
}

// Runs a job that crashes every worker it reaches until it is no longer retried.
std::uint32_t runs_of_a_job_that_always_crashes(std::uint32_t retries,
                                                std::uint32_t poison_threshold, JobFate& last) {
    DeathFacts f = crashed_while_running();
    f.retries = retries;
    f.poison_threshold = poison_threshold;
    for (f.attempt = 1; f.attempt <= 1000; ++f.attempt) {
        last = decide_job_fate(f);
        if (last.kind != Kind::retry) return f.attempt;
    }
    return 0;
}

TEST(JobFate, AJobCrashingEveryWorkerRunsAtMostRetriesPlusOneAndAtMostThresholdTimes) {
    for (std::uint32_t retries = 0; retries <= 6; ++retries) {
        for (std::uint32_t threshold = 1; threshold <= 6; ++threshold) {
            JobFate last;
            const std::uint32_t runs = runs_of_a_job_that_always_crashes(retries, threshold, last);
            EXPECT_EQ(runs, std::min(retries + 1, threshold))
                << "retries " << retries << ", poison_threshold " << threshold;
            EXPECT_EQ(last.kind, Kind::fail);
            EXPECT_EQ(last.error, ErrorKind::worker_crashed);
        }
    }
}

TEST(JobFate, RetriesAtTheConfiguredMaximumStillCountCorrectly) {
    DeathFacts f = crashed_while_running();
    f.retries = 100;  // the largest a configuration accepts
    f.poison_threshold = 1000;
    f.attempt = 100;
    EXPECT_EQ(decide_job_fate(f).kind, Kind::retry);
    f.attempt = 101;
    const JobFate fate = decide_job_fate(f);
    EXPECT_EQ(fate.kind, Kind::fail);
    EXPECT_TRUE(Contains(fate.message, "attempt 101 of 101"));
}

}  // namespace
}  // namespace warmpool
