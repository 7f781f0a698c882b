// Tests for the client's half of the scale-out wire format (client/src/redis_job_entry.hpp): the
// fields of a job entry and what it refuses to send, reply entries read back (and what is not
// one), deadlines moved to the wall clock, the cluster's worker slots from heartbeats, the
// reconnect back-off and the in-flight cap.
#include "../../client/src/redis_job_entry.hpp"

#include <gtest/gtest.h>

#include <map>
#include <set>

#include "warmpool/error_kind.hpp"
#include "warmpool/job_error.hpp"
#include "warmpool/redis/redis_connection.hpp"
#include "warmpool/redis/redis_layout.hpp"

namespace warmpool::detail {
namespace {

using namespace std::chrono_literals;

std::map<std::string, std::string> as_map(const std::vector<std::string>& fields) {
    std::map<std::string, std::string> out;
    for (std::size_t i = 0; i + 1 < fields.size(); i += 2) out[fields[i]] = fields[i + 1];
    return out;
}

ErrorKind refusal(const std::function<void()>& f) {
    try {
        f();
    } catch (const JobError& e) {
        return e.kind();
    }
    return ErrorKind{};
}

TEST(RedisJobEntryTest, ClientIdsAreSixteenHexDigitsAndDiffer) {
    std::set<std::string> seen;
    for (int i = 0; i < 100; ++i) {
        const std::string id = new_client_id();
        EXPECT_TRUE(redis_layout::valid_client_id(id)) << id;
        seen.insert(id);
    }
    EXPECT_EQ(seen.size(), 100u);
}

TEST(RedisJobEntryTest, AJobEntryCarriesEveryFieldOfTheLayout) {
    CallOptions options;
    options.timeout = 1500ms;
    options.priority = -3;
    const auto fields = job_entry_fields("0123456789abcdef", 42, "gcd", 0x11, 77, std::string("a\0b", 3), options,
                                         123456);
    ASSERT_EQ(fields.size() % 2, 0u);
    auto f = as_map(fields);
    namespace jf = redis_layout::job_field;
    EXPECT_EQ(fields[0], jf::job);  // the job id is first: the session fills in its seq there
    EXPECT_EQ(f[std::string(jf::job)], "0123456789abcdef-42");
    EXPECT_EQ(f[std::string(jf::client)], "0123456789abcdef");
    EXPECT_EQ(f[std::string(jf::function)], "gcd");
    EXPECT_EQ(f[std::string(jf::flags)], "17");
    EXPECT_EQ(f[std::string(jf::fingerprint)], "77");
    EXPECT_EQ(f[std::string(jf::payload)], std::string("a\0b", 3));
    EXPECT_EQ(f[std::string(jf::timeout_ms)], "1500");
    EXPECT_EQ(f[std::string(jf::deadline_ms)], "123456");
    EXPECT_EQ(f[std::string(jf::priority)], "-3");
    EXPECT_EQ(f[std::string(jf::attempts)], "0");

    const auto none = as_map(job_entry_fields("0123456789abcdef", 1, "gcd", 0, 0, "", {}, std::nullopt));
    EXPECT_EQ(none.at(std::string(jf::deadline_ms)), "0");
    EXPECT_EQ(none.at(std::string(jf::timeout_ms)), "0");
}

TEST(RedisJobEntryTest, WhatNoGatewayWouldTakeIsRefusedBeforeSending) {
    CallOptions bad_priority;
    bad_priority.priority = 8;
    EXPECT_EQ(refusal([&] { job_entry_fields("0123456789abcdef", 1, "gcd", 0, 0, "", bad_priority, {}); }),
              ErrorKind::bad_request);
    EXPECT_EQ(refusal([&] { job_entry_fields("0123456789abcdef", 1, "", 0, 0, "", {}, {}); }), ErrorKind::bad_request);
    EXPECT_EQ(refusal([&] { job_entry_fields("0123456789abcdef", 1, std::string(48, 'f'), 0, 0, "", {}, {}); }),
              ErrorKind::bad_request);
    const std::string too_large(kRedisPayloadMax + 1, 'x');
    EXPECT_EQ(refusal([&] { job_entry_fields("0123456789abcdef", 1, "gcd", 0, 0, too_large, {}, {}); }),
              ErrorKind::bad_request);
    const std::string largest(kRedisPayloadMax, 'x');
    EXPECT_EQ(refusal([&] { job_entry_fields("0123456789abcdef", 1, "gcd", 0, 0, largest, {}, {}); }), ErrorKind{});
}

TEST(RedisJobEntryTest, ReplyEntriesAreReadBackAndOthersSkipped) {
    using Fields = std::vector<std::pair<std::string_view, std::string_view>>;
    auto reply = parse_reply_entry(Fields{{"seq", "9"}, {"status", "0"}, {"flags", "3"}, {"body", "ok"}, {"by", "g"}});
    ASSERT_TRUE(reply);
    EXPECT_EQ(reply->seq, 9u);
    EXPECT_EQ(reply->status, 0);
    EXPECT_EQ(reply->flags, 3u);
    EXPECT_EQ(reply->body, "ok");

    EXPECT_FALSE(parse_reply_entry(Fields{{"wake", "1"}}));
    EXPECT_FALSE(parse_reply_entry(Fields{{"seq", "x"}, {"status", "0"}, {"flags", "0"}, {"body", ""}}));
    EXPECT_FALSE(parse_reply_entry(Fields{{"seq", "0"}, {"status", "0"}, {"flags", "0"}, {"body", ""}}));
    EXPECT_FALSE(parse_reply_entry(Fields{{"seq", "1"}, {"status", "0"}, {"body", ""}}));

    // A status this client does not know still resolves the job, as an error that says so.
    auto odd = parse_reply_entry(Fields{{"seq", "2"}, {"status", "999"}, {"flags", "0"}, {"body", "why"}});
    ASSERT_TRUE(odd);
    EXPECT_EQ(odd->status, static_cast<std::uint16_t>(ErrorKind::bad_request));
    EXPECT_NE(odd->body.find("999"), std::string::npos);
    EXPECT_NE(odd->body.find("why"), std::string::npos);
}

TEST(RedisJobEntryTest, DeadlinesMoveToTheWallClock) {
    const auto steady_now = std::chrono::steady_clock::time_point(100s);
    const auto system_now = std::chrono::system_clock::time_point(1'700'000'000s);
    EXPECT_EQ(deadline_unix_ms(steady_now + 2500ms, steady_now, system_now), 1'700'000'002'500);
    EXPECT_EQ(deadline_unix_ms(steady_now - 1s, steady_now, system_now), 1'699'999'999'000);  // past: still sent
    EXPECT_EQ(deadline_unix_ms(steady_now, steady_now, std::chrono::system_clock::time_point{}), 1);  // never 0
}

TEST(RedisJobEntryTest, WorkerSlotsAreTheLiveGatewaysCapacity) {
    EXPECT_EQ(cluster_worker_slots({}), 2u);
    EXPECT_EQ(cluster_worker_slots({R"({"capacity": 4})", R"({"capacity": 8, "name": "b"})"}), 12u);
    EXPECT_EQ(cluster_worker_slots({R"({"capacity": 1})"}), 2u);
    EXPECT_EQ(cluster_worker_slots({"not json", R"({"capacity": -3})", R"({"capacity": "9"})", R"([1])",
                                    R"({"capacity": 6})"}),
              6u);
}

TEST(RedisJobEntryTest, BackOffDoublesFromATenthOfASecondToTwoSeconds) {
    std::vector<int> steps;
    int ms = 0;
    for (int i = 0; i < 7; ++i) steps.push_back(ms = static_cast<int>(next_redis_backoff_ms(ms)));
    EXPECT_EQ(steps, (std::vector<int>{100, 200, 400, 800, 1600, 2000, 2000}));
}

TEST(RedisJobEntryTest, TheInFlightCapGrowsWithTheClusterWithinBounds) {
    EXPECT_EQ(in_flight_cap(2), 1024u);
    EXPECT_EQ(in_flight_cap(64), 4096u);
    EXPECT_EQ(in_flight_cap(100000), 65536u);
}

TEST(RedisJobEntryTest, ReplySettingsAreTheGatewaysLargestOrTheDefaults) {
    const ReplySettings none = cluster_reply_settings({});
    EXPECT_EQ(none.done_ttl_ms, redis_layout::kDefaultDoneTtlMs);
    EXPECT_EQ(none.reply_cap, redis_layout::kDefaultReplyCap);
    EXPECT_EQ(none.reply_ttl_s, redis_layout::kDefaultReplyTtlS);
    const ReplySettings two = cluster_reply_settings({R"({"done_ttl_ms": 60000, "reply_cap": 20, "reply_ttl_s": 3})",
                                                      R"({"done_ttl_ms": 5000, "reply_cap": 50, "reply_ttl_s": 2})"});
    EXPECT_EQ(two.done_ttl_ms, 60000);
    EXPECT_EQ(two.reply_cap, 50);
    EXPECT_EQ(two.reply_ttl_s, 3);
    // An older gateway's heartbeat (no settings) or a nonsense value leaves a setting to the default.
    const ReplySettings odd = cluster_reply_settings({"not json", R"({"capacity": 4})",
                                                      R"({"done_ttl_ms": "9", "reply_cap": -1, "reply_ttl_s": 7})"});
    EXPECT_EQ(odd.done_ttl_ms, redis_layout::kDefaultDoneTtlMs);
    EXPECT_EQ(odd.reply_cap, redis_layout::kDefaultReplyCap);
    EXPECT_EQ(odd.reply_ttl_s, 7);
}

}  // namespace
}  // namespace warmpool::detail
