// The decisions of a Redis session after Redis may have lost data (redis_reconcile.hpp): which
// reconnections count as another server, what becomes of each job in flight, and the message of
// a job failed because Redis stayed unreachable. (The shell that reads Redis and adds entries
// again: integration/redis_recovery_test, against a real redis-server.)
#include "../../client/src/redis_reconcile.hpp"

#include <gtest/gtest.h>

namespace warmpool::detail {
namespace {

TEST(RedisReconcileTest, TheRunIdIsReadFromInfoServer) {
    const std::string info =
        "# Server\r\nredis_version:7.0.15\r\nredis_mode:standalone\r\nrun_id:4c1bd4b0bd1f0e9ed2f5e6b0b1a3c8a0e2d7f911\r\n"
        "tcp_port:6379\r\n";
    EXPECT_EQ(run_id_from_info(info), "4c1bd4b0bd1f0e9ed2f5e6b0b1a3c8a0e2d7f911");
    EXPECT_EQ(run_id_from_info("run_id:abc\n"), "abc");
    EXPECT_EQ(run_id_from_info("# Server\r\nredis_version:7.0.15\r\n"), "");
    EXPECT_EQ(run_id_from_info(""), "");
    EXPECT_EQ(run_id_from_info("master_run_id:zzz\r\n"), "") << "only the field itself";
}

TEST(RedisReconcileTest, OnlyAnotherOrAnUnknownServerCountsAsAChange) {
    EXPECT_FALSE(server_changed("aaa", "aaa")) << "a reconnection to the same server lost nothing";
    EXPECT_TRUE(server_changed("aaa", "bbb")) << "a restart or a failover";
    EXPECT_TRUE(server_changed("aaa", "")) << "INFO refused: cannot tell, so check";
    EXPECT_TRUE(server_changed("", "aaa"));
    EXPECT_TRUE(server_changed("", ""));
}

TEST(RedisReconcileTest, AFinishedJobWaitsForItsReplyWhereverItsEntryIs) {
    const Decision d = reconcile_decision("1-0", EntryFacts{.done = true, .entry_present = false, .requeued_to = "2-0"});
    EXPECT_EQ(d.verdict, Verdict::keep);
    EXPECT_EQ(d.entry_id, "1-0");
}

TEST(RedisReconcileTest, AJobWhoseEntryIsThereWaitsForAGateway) {
    const Decision d = reconcile_decision("1-0", EntryFacts{.done = false, .entry_present = true, .requeued_to = {}});
    EXPECT_EQ(d.verdict, Verdict::keep);
    EXPECT_EQ(d.entry_id, "1-0");
    // A requeued key left from before (our entry was added again since) does not move it.
    const Decision stale = reconcile_decision("5-0", EntryFacts{.done = false, .entry_present = true, .requeued_to = "2-0"});
    EXPECT_EQ(stale.verdict, Verdict::keep);
    EXPECT_EQ(stale.entry_id, "5-0");
}

TEST(RedisReconcileTest, ARequeuedJobIsFollowedToItsNewEntry) {
    const Decision d = reconcile_decision("1-0", EntryFacts{.done = false, .entry_present = false, .requeued_to = "2-0"});
    EXPECT_EQ(d.verdict, Verdict::follow);
    EXPECT_EQ(d.entry_id, "2-0");
}

TEST(RedisReconcileTest, AJobWithNeitherFenceNorEntryIsSentAgain) {
    EXPECT_EQ(reconcile_decision("1-0", EntryFacts{}).verdict, Verdict::resend);
    // Looked at where its requeued key points and not there either: lost too.
    EXPECT_EQ(reconcile_decision("2-0", EntryFacts{.done = false, .entry_present = false, .requeued_to = "2-0"}).verdict,
              Verdict::resend);
    EXPECT_EQ(reconcile_decision("1-0", EntryFacts{.done = false, .entry_present = false, .requeued_to = ""}).verdict,
              Verdict::resend);
}

TEST(RedisReconcileTest, TheUnreachableMessageNamesRedisTheTimeAndTheUnknownOutcome) {
    EXPECT_EQ(unreachable_message("redis://127.0.0.1:6379/t", 30'000),
              "Redis at redis://127.0.0.1:6379/t was unreachable for 30 s; the job's outcome is unknown");
    EXPECT_EQ(unreachable_message("redis://h/c", 1500),
              "Redis at redis://h/c was unreachable for 1.5 s; the job's outcome is unknown");
}

}  // namespace
}  // namespace warmpool::detail
