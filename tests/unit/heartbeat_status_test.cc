// heartbeat_json: the gateway's status in its heartbeat key carries every field the scale-out
// status reads, with the workers taken from the local pool's status.
#include "heartbeat_status.hpp"

#include <gtest/gtest.h>

namespace warmpool {
namespace {

HeartbeatFacts facts() {
    return HeartbeatFacts{"h:p:7:1000", "h", "p", 7, 1000, 2000, 5000, 4, 2, 4};
}

TEST(HeartbeatStatus, CarriesEveryFieldWithThePoolsWorkers) {
    GatewayCounters c;
    c.received = 10;
    c.finished = 8;
    c.claims = 1;
    c.requeued = 2;
    c.poisoned = 1;
    c.duplicates_dropped = 3;
    c.late_after_cancel = 4;
    c.lost = 5;
    c.redis_reconnects = 6;
    const nlohmann::json pool = {{"workers", {{"configured", 2}, {"live", 2}, {"ready", 2}, {"busy", 1}, {"starting", 0}}}};
    const nlohmann::json j = heartbeat_json(facts(), c, pool);
    for (const char* key : {"name", "host", "pool", "pid", "started_ms", "now_ms", "lease_ms", "capacity", "in_flight",
                            "received", "finished", "claims", "requeued", "poisoned", "duplicates_dropped",
                            "late_after_cancel", "lost", "redis_reconnects", "done_ttl_ms", "reply_cap",
                            "reply_ttl_s", "pool_reachable", "workers"}) {
        EXPECT_TRUE(j.contains(key)) << key;
    }
    EXPECT_EQ(j["name"], "h:p:7:1000");
    EXPECT_EQ(j["in_flight"], 2);
    EXPECT_EQ(j["received"], 10);
    EXPECT_EQ(j["duplicates_dropped"], 3);
    EXPECT_EQ(j["redis_reconnects"], 6);
    EXPECT_EQ(j["pool_reachable"], true);
    EXPECT_EQ(j["done_ttl_ms"], redis_layout::kDefaultDoneTtlMs);
    HeartbeatFacts tuned = facts();
    tuned.done_ttl_ms = 60'000;
    tuned.reply_cap = 20;
    tuned.reply_ttl_s = 3;
    const nlohmann::json t = heartbeat_json(tuned, c, pool);
    EXPECT_EQ(t["done_ttl_ms"], 60'000);
    EXPECT_EQ(t["reply_cap"], 20);
    EXPECT_EQ(t["reply_ttl_s"], 3);
    EXPECT_EQ(j["workers"], (nlohmann::json{{"total", 2}, {"idle", 1}, {"busy", 1}, {"starting", 0}, {"slots", 4}}));
}

TEST(HeartbeatStatus, AnUnreachablePoolIsSaidSo) {
    GatewayCounters c;
    const nlohmann::json j = heartbeat_json(facts(), c, std::nullopt);
    EXPECT_EQ(j["pool_reachable"], false);
    EXPECT_EQ(j["workers"]["total"], 0);
    EXPECT_EQ(j["workers"]["slots"], 4);
    const nlohmann::json odd = heartbeat_json(facts(), c, nlohmann::json{{"workers", "nonsense"}});
    EXPECT_EQ(odd["workers"]["busy"], 0);
}

}  // namespace
}  // namespace warmpool
