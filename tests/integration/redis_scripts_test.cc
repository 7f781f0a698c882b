// The scale-out scripts (warmpool/redis/redis_layout.hpp) against a real redis-server: the
// fencing that makes a job's first outcome its only reply, the refresh that keeps a live
// gateway's entries from being claimed, the requeue after a crashed delivery, and the sweep of
// dead consumers (checked against gateway_policy::consumer_removable, the rule it applies).
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <thread>
#include <vector>

#include "gateway_policy.hpp"

#include "redis_server.hpp"
#include "warmpool/redis/redis_connection.hpp"
#include "warmpool/redis/redis_layout.hpp"

namespace warmpool {
namespace {

namespace layout = redis_layout;

const RedisScript kFinish{layout::kFinishScript};
const RedisScript kRefresh{layout::kRefreshScript};
const RedisScript kRequeue{layout::kRequeueScript};
const RedisScript kSweep{layout::kSweepScript};

class RedisScripts : public ::testing::Test {
protected:
    RedisScripts() : redis_(server_.connect()), keys_("t") {
        auto group = redis_.command({"XGROUP", "CREATE", keys_.jobs(), layout::kGroup, "0", "MKSTREAM"});
        EXPECT_TRUE(group && !group->is_error());
    }

    std::string add_job(const std::string& job) {
        auto id = redis_.command({"XADD", keys_.jobs(), "*", "job", job, "client", kClient, "fn", "gcd"});
        EXPECT_TRUE(id && id->value().is_string());
        return std::string(id->text());
    }
    // Reads up to `count` new entries as `consumer`; returns their ids.
    std::vector<std::string> read(const std::string& consumer, int count) {
        const std::string n = std::to_string(count);
        auto reply = redis_.command(
            {"XREADGROUP", "GROUP", layout::kGroup, consumer, "COUNT", n, "STREAMS", keys_.jobs(), ">"});
        std::vector<std::string> ids;
        if (!reply || reply->value().is_nil()) return ids;
        const RedisValue entries = reply->value()[0][1];
        for (std::size_t i = 0; i < entries.size(); ++i) ids.emplace_back(entries[i][0].text());
        return ids;
    }
    // Runs the finish script for `job` as `finisher`; returns {won, holder}.
    std::pair<bool, std::string> finish(const std::string& job, const std::string& entry, const std::string& finisher,
                                        const std::string& status = "0", const std::string& body = "result") {
        auto reply = redis_.run(kFinish, {keys_.done(job), keys_.reply(kClient), keys_.jobs(), keys_.stats()},
                                {layout::kGroup, entry, "60000", "1000", "60", "7", status, "0", body, finisher});
        EXPECT_TRUE(reply && !reply->is_error()) << (reply ? std::string(reply->text()) : reply.error().message());
        return {reply->value()[0].integer() == 1, std::string(reply->value()[1].text())};
    }
    long long stat(std::string_view name) {
        auto reply = redis_.command({"HGET", keys_.stats(), name});
        return reply ? reply->value().as_integer().value_or(0) : -1;
    }
    long long integer(const std::vector<std::string_view>& command) {
        auto reply = redis_.command(command);
        return reply ? reply->value().integer() : -1;
    }

    // Runs the sweep script as `caller` over `candidates`; returns the names removed, sorted.
    std::vector<std::string> sweep(long long lease_ms, const std::string& caller,
                                   const std::vector<std::string>& candidates) {
        const std::string jobs = keys_.jobs(), gateways = keys_.gateways(), stats = keys_.stats();
        const std::string lease = std::to_string(lease_ms);
        std::vector<std::string> heartbeats;
        for (const std::string& name : candidates) heartbeats.push_back(keys_.gateway(name));
        std::vector<std::string_view> keys{jobs, gateways, stats};
        std::vector<std::string_view> args{layout::kGroup, lease, caller};
        keys.insert(keys.end(), heartbeats.begin(), heartbeats.end());
        args.insert(args.end(), candidates.begin(), candidates.end());
        auto reply = redis_.run(kSweep, keys, args);
        std::vector<std::string> removed;
        EXPECT_TRUE(reply && !reply->is_error()) << (reply ? std::string(reply->text()) : reply.error().message());
        if (!reply || reply->is_error()) return removed;
        for (std::size_t i = 0; i < reply->value().size(); ++i) removed.emplace_back(reply->value()[i].text());
        std::sort(removed.begin(), removed.end());
        return removed;
    }
    // A consumer of the group, listed in the gateways set as a gateway's is.
    void add_consumer(const std::string& name) {
        auto made = redis_.command({"XGROUP", "CREATECONSUMER", keys_.jobs(), layout::kGroup, name});
        EXPECT_TRUE(made && !made->is_error());
        EXPECT_TRUE(redis_.command({"SADD", keys_.gateways(), name}));
    }
    void set_heartbeat(const std::string& name) {
        EXPECT_TRUE(redis_.command({"SET", keys_.gateway(name), "{}", "PX", "600000"}));
    }
    // The facts the sweep decides on, as XINFO CONSUMERS and EXISTS report them now.
    gateway_policy::ConsumerFacts facts_of(const std::string& name, const std::string& caller) {
        gateway_policy::ConsumerFacts facts;
        facts.is_self = name == caller;
        facts.heartbeat_alive = integer({"EXISTS", keys_.gateway(name)}) == 1;
        auto consumers = redis_.command({"XINFO", "CONSUMERS", keys_.jobs(), layout::kGroup});
        EXPECT_TRUE(consumers && !consumers->is_error());
        for (std::size_t i = 0; consumers && i < consumers->value().size(); ++i) {
            const RedisValue row = consumers->value()[i];
            if (row[1].text() != name) continue;
            for (std::size_t k = 0; k + 1 < row.size(); k += 2) {
                if (row[k].text() == "pending") facts.pending = row[k + 1].integer();
                if (row[k].text() == "idle") facts.idle_ms = row[k + 1].integer();
            }
        }
        return facts;
    }
    bool is_consumer(const std::string& name) {
        auto consumers = redis_.command({"XINFO", "CONSUMERS", keys_.jobs(), layout::kGroup});
        for (std::size_t i = 0; consumers && i < consumers->value().size(); ++i) {
            if (consumers->value()[i][1].text() == name) return true;
        }
        return false;
    }
    // Long enough for every consumer made so far to be idle past kShortLease.
    static void age() { std::this_thread::sleep_for(std::chrono::milliseconds(3 * kShortLease)); }

    static constexpr long long kShortLease = 20;
    static constexpr long long kLongLease = 3'600'000;
    static constexpr const char* kClient = "0123456789abcdef";
    testing::RedisServer server_;
    RedisConnection redis_;
    layout::Keys keys_;
};

TEST_F(RedisScripts, OnlyTheFirstOutcomeOfAJobIsDelivered) {
    const std::string entry = add_job("0123456789abcdef-7");
    ASSERT_EQ(read("host-a", 1).size(), 1U);

    auto [won, holder] = finish("0123456789abcdef-7", entry, "host-a");
    EXPECT_TRUE(won);
    auto [won_again, holder_again] = finish("0123456789abcdef-7", entry, "host-b", "2", "late");
    EXPECT_FALSE(won_again);
    EXPECT_EQ(holder_again, "host-a 0");

    EXPECT_EQ(integer({"XLEN", keys_.reply(kClient)}), 1) << "one reply, however many finishers";
    auto reply = redis_.command({"XRANGE", keys_.reply(kClient), "-", "+"});
    ASSERT_TRUE(reply);
    const RedisValue fields = reply->value()[0][1];
    EXPECT_EQ(fields[1].text(), "7");
    EXPECT_EQ(fields[3].text(), "0");
    EXPECT_EQ(fields[7].text(), "result");
    EXPECT_EQ(fields[9].text(), "host-a");
    EXPECT_GT(integer({"TTL", keys_.reply(kClient)}), 0) << "a reply stream expires";
    EXPECT_EQ(stat(layout::stat::duplicates_dropped), 1);
    EXPECT_EQ(integer({"XLEN", keys_.jobs()}), 0) << "the finished entry is deleted";
    auto pending = redis_.command({"XPENDING", keys_.jobs(), layout::kGroup});
    ASSERT_TRUE(pending);
    EXPECT_EQ(pending->value()[0].integer(), 0) << "and acknowledged";
}

TEST_F(RedisScripts, AClientsCancelFencesOutTheLateResult) {
    const std::string entry = add_job("0123456789abcdef-8");
    auto [cancelled, unused] = finish("0123456789abcdef-8", entry, std::string(layout::kClientFinisher), "4", "");
    EXPECT_TRUE(cancelled);
    EXPECT_TRUE(read("host-a", 10).empty()) << "a cancelled entry is never delivered";
    auto [won, holder] = finish("0123456789abcdef-8", entry, "host-a");
    EXPECT_FALSE(won);
    EXPECT_EQ(holder, "client 4");
    EXPECT_EQ(stat(layout::stat::late_after_cancel), 1);
    EXPECT_EQ(stat(layout::stat::duplicates_dropped), 0);
}

TEST_F(RedisScripts, RefreshKeepsOnlyTheCallersOwnEntries) {
    const std::string mine = add_job("0123456789abcdef-1");
    const std::string theirs = add_job("0123456789abcdef-2");
    ASSERT_EQ(read("host-a", 2).size(), 2U);
    // host-b claims one of them (as after a lapse); host-a's refresh must not take it back.
    auto claimed = redis_.command({"XCLAIM", keys_.jobs(), layout::kGroup, "host-b", "0", theirs, "JUSTID"});
    ASSERT_TRUE(claimed && claimed->value().size() == 1);
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    auto lost = redis_.run(kRefresh, {keys_.jobs()}, {layout::kGroup, "host-a", mine, theirs});
    ASSERT_TRUE(lost && !lost->is_error()) << (lost ? std::string(lost->text()) : "");
    ASSERT_EQ(lost->value().size(), 1U);
    EXPECT_EQ(lost->value()[0].text(), theirs);

    auto detail = redis_.command({"XPENDING", keys_.jobs(), layout::kGroup, "-", "+", "10"});
    ASSERT_TRUE(detail && detail->value().size() == 2);
    for (std::size_t i = 0; i < 2; ++i) {
        const RedisValue row = detail->value()[i];
        if (row[0].text() == mine) {
            EXPECT_EQ(row[1].text(), "host-a");
            EXPECT_LT(row[2].integer(), 30) << "refreshed: idle time reset";
            EXPECT_EQ(row[3].integer(), 1) << "a refresh is not a delivery";
        } else {
            EXPECT_EQ(row[1].text(), "host-b");
        }
    }
}

TEST_F(RedisScripts, RequeueMovesACrashedDeliveryToANewEntry) {
    const std::string entry = add_job("0123456789abcdef-3");
    ASSERT_EQ(read("host-a", 1).size(), 1U);
    const std::string requeued_key = keys_.requeued("0123456789abcdef-3");
    auto moved = redis_.run(kRequeue, {keys_.jobs(), keys_.done("0123456789abcdef-3"), keys_.stats(), requeued_key},
                            {layout::kGroup, entry, "1", "worker_crashed: killed by signal 9", "60000"});
    ASSERT_TRUE(moved && moved->value().is_string()) << (moved ? std::string(moved->text()) : "");
    EXPECT_EQ(integer({"XLEN", keys_.jobs()}), 1);
    // Where the job went is kept, for as long as its fence would be.
    auto went = redis_.command({"GET", requeued_key});
    ASSERT_TRUE(went && went->value().is_string());
    EXPECT_EQ(went->text(), moved->text());
    EXPECT_GT(integer({"PTTL", requeued_key}), 0);
    EXPECT_LE(integer({"PTTL", requeued_key}), 60000);
    auto again = redis_.command(
        {"XREADGROUP", "GROUP", layout::kGroup, "host-b", "COUNT", "5", "STREAMS", keys_.jobs(), ">"});
    ASSERT_TRUE(again && !again->value().is_nil());
    const RedisValue fields = again->value()[0][1][0][1];
    std::string attempts, job, last_failure;
    for (std::size_t i = 0; i + 1 < fields.size(); i += 2) {
        if (fields[i].text() == "attempts") attempts = fields[i + 1].text();
        if (fields[i].text() == "job") job = fields[i + 1].text();
        if (fields[i].text() == "last_failure") last_failure = fields[i + 1].text();
    }
    EXPECT_EQ(attempts, "1");
    EXPECT_EQ(job, "0123456789abcdef-3");
    EXPECT_EQ(last_failure, "worker_crashed: killed by signal 9");
    EXPECT_EQ(stat(layout::stat::requeued), 1);

    // A finished job is not requeued.
    const std::string second = std::string(again->value()[0][1][0][0].text());
    finish("0123456789abcdef-3", "", "host-c");
    auto none = redis_.run(kRequeue, {keys_.jobs(), keys_.done("0123456789abcdef-3"), keys_.stats(), requeued_key},
                           {layout::kGroup, second, "2", "x", "60000"});
    ASSERT_TRUE(none);
    EXPECT_TRUE(none->value().is_nil());
    EXPECT_EQ(integer({"XLEN", keys_.jobs()}), 0);
}

TEST_F(RedisScripts, SweepRemovesADeadConsumer) {
    add_consumer("host-dead");
    add_consumer("host-a");
    age();
    EXPECT_EQ(sweep(kShortLease, "host-a", {"host-dead"}), std::vector<std::string>{"host-dead"});
    EXPECT_FALSE(is_consumer("host-dead"));
    EXPECT_EQ(integer({"SISMEMBER", keys_.gateways(), "host-dead"}), 0);
    EXPECT_EQ(stat(layout::stat::consumers_removed), 1);
    EXPECT_TRUE(is_consumer("host-a")) << "only the candidates are removed";
    EXPECT_TRUE(sweep(kShortLease, "host-a", {"host-dead"}).empty()) << "removed once, counted once";
    EXPECT_EQ(stat(layout::stat::consumers_removed), 1);
}

TEST_F(RedisScripts, SweepKeepsAConsumerWithPendingEntries) {
    add_consumer("host-b");
    add_job("0123456789abcdef-4");
    ASSERT_EQ(read("host-b", 1).size(), 1U);
    age();
    EXPECT_TRUE(sweep(kShortLease, "host-a", {"host-b"}).empty()) << "its entries must be claimed first";
    EXPECT_TRUE(is_consumer("host-b"));
    auto pending = redis_.command({"XPENDING", keys_.jobs(), layout::kGroup});
    ASSERT_TRUE(pending);
    EXPECT_EQ(pending->value()[0].integer(), 1) << "its entry is still pending";
    EXPECT_EQ(stat(layout::stat::consumers_removed), 0);
}

TEST_F(RedisScripts, SweepKeepsAConsumerWithALiveHeartbeat) {
    add_consumer("host-b");
    set_heartbeat("host-b");
    age();
    EXPECT_TRUE(sweep(kShortLease, "host-a", {"host-b"}).empty());
    EXPECT_TRUE(is_consumer("host-b"));
    EXPECT_EQ(integer({"SISMEMBER", keys_.gateways(), "host-b"}), 1);
}

TEST_F(RedisScripts, SweepKeepsAConsumerIdleForLessThanTheLease) {
    add_consumer("host-b");
    age();
    EXPECT_TRUE(sweep(kLongLease, "host-a", {"host-b"}).empty());
    EXPECT_TRUE(is_consumer("host-b"));
    EXPECT_EQ(sweep(kShortLease, "host-a", {"host-b"}), std::vector<std::string>{"host-b"})
        << "the same consumer, idle past a shorter lease";
}

TEST_F(RedisScripts, SweepKeepsTheCaller) {
    add_consumer("host-a");
    age();
    EXPECT_TRUE(sweep(kShortLease, "host-a", {"host-a"}).empty());
    EXPECT_TRUE(is_consumer("host-a"));
}

TEST_F(RedisScripts, SweepRefusesAKeyThatIsNotTheCandidatesHeartbeat) {
    add_consumer("host-b");
    age();
    auto reply = redis_.run(kSweep, {keys_.jobs(), keys_.gateways(), keys_.stats(), keys_.gateway("host-c")},
                            {layout::kGroup, "20", "host-a", "host-b"});
    ASSERT_TRUE(reply);
    EXPECT_TRUE(reply->is_error());
    EXPECT_TRUE(is_consumer("host-b"));
}

// Every combination of the facts, each consumer swept on its own, under a lease it has outlived
// and one it has not: the script removes exactly those consumer_removable names.
TEST_F(RedisScripts, SweepAgreesWithConsumerRemovable) {
    struct Case {
        std::string name;
        bool self, heartbeat, pending;
    };
    std::vector<Case> cases;
    for (int bits = 0; bits < 8; ++bits) {
        Case c{"host-" + std::to_string(bits), (bits & 1) != 0, (bits & 2) != 0, (bits & 4) != 0};
        add_consumer(c.name);
        if (c.heartbeat) set_heartbeat(c.name);
        if (c.pending) {
            add_job("0123456789abcdef-" + std::to_string(100 + bits));
            ASSERT_EQ(read(c.name, 1).size(), 1U);
        }
        cases.push_back(c);
    }
    age();
    int removable = 0;
    for (long long lease : {kLongLease, kShortLease}) {
        for (const Case& c : cases) {
            const std::string caller = c.self ? c.name : "host-x";
            const gateway_policy::ConsumerFacts facts = facts_of(c.name, caller);
            ASSERT_EQ(facts.pending, c.pending ? 1 : 0);
            ASSERT_EQ(facts.heartbeat_alive, c.heartbeat);
            const bool expected = gateway_policy::consumer_removable(facts, lease);
            removable += expected ? 1 : 0;
            const std::vector<std::string> removed = sweep(lease, caller, {c.name});
            EXPECT_EQ(removed.size() == 1, expected) << c.name << " under a lease of " << lease << " ms";
            EXPECT_EQ(is_consumer(c.name), !expected) << c.name;
        }
    }
    EXPECT_EQ(removable, 1) << "one case in sixteen is a dead consumer";
    EXPECT_EQ(stat(layout::stat::consumers_removed), 1);
}

TEST_F(RedisScripts, ScriptsSurviveARestartThatForgetsThem) {
    const std::string entry = add_job("0123456789abcdef-9");
    EXPECT_TRUE(finish("0123456789abcdef-9", entry, "host-a").first);
    auto flushed = redis_.command({"SCRIPT", "FLUSH"});
    ASSERT_TRUE(flushed && !flushed->is_error());
    EXPECT_FALSE(finish("0123456789abcdef-9", entry, "host-b").first) << "run() loads the script again";
}

}  // namespace
}  // namespace warmpool
