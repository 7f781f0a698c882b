// parse_job_entry: a job stream entry from anyone who can write the stream is parsed only if
// every field is sound; otherwise the reason is typed, and whether it can be answered at all
// (a sound client and job id) is said.
#include "job_entry.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace warmpool {
namespace {

const std::string kClient = "0123456789abcdef";

std::vector<std::pair<std::string, std::string>> good_fields() {
    return {{"job", kClient + "-42"}, {"client", kClient}, {"fn", "gcd"},         {"flags", "1"},
            {"fp", "0"},              {"arg", "[12,18]"},  {"timeout_ms", "1500"}, {"deadline_ms", "0"},
            {"prio", "-3"},           {"attempts", "2"},   {"last_failure", "worker_crashed: signal 6"}};
}

std::variant<JobEntry, EntryRejection> parse(const std::vector<std::pair<std::string, std::string>>& fields,
                                             const EntryLimits& limits = {}) {
    std::vector<EntryField> views;
    for (const auto& [k, v] : fields) views.emplace_back(k, v);
    return parse_job_entry("1700000000000-0", views, limits);
}

std::vector<std::pair<std::string, std::string>> with(std::string name, std::string value) {
    auto fields = good_fields();
    for (auto& [k, v] : fields) {
        if (k == name) v = value;
    }
    return fields;
}

std::vector<std::pair<std::string, std::string>> without(const std::string& name) {
    auto fields = good_fields();
    std::erase_if(fields, [&](const auto& f) { return f.first == name; });
    return fields;
}

EntryRejection rejected(const std::variant<JobEntry, EntryRejection>& parsed) {
    EXPECT_TRUE(std::holds_alternative<EntryRejection>(parsed));
    return std::holds_alternative<EntryRejection>(parsed) ? std::get<EntryRejection>(parsed) : EntryRejection{};
}

TEST(JobEntry, ASoundEntryIsParsed) {
    const auto parsed = parse(good_fields());
    ASSERT_TRUE(std::holds_alternative<JobEntry>(parsed)) << std::get<EntryRejection>(parsed).message;
    const JobEntry& e = std::get<JobEntry>(parsed);
    EXPECT_EQ(e.entry_id, "1700000000000-0");
    EXPECT_EQ(e.job, kClient + "-42");
    EXPECT_EQ(e.client, kClient);
    EXPECT_EQ(e.seq, 42U);
    EXPECT_EQ(e.function, "gcd");
    EXPECT_EQ(e.flags, 1U);
    EXPECT_EQ(e.payload, "[12,18]");
    EXPECT_EQ(e.timeout_ms, 1500);
    EXPECT_EQ(e.priority, -3);
    EXPECT_EQ(e.attempts, 2U);
    EXPECT_EQ(e.last_failure, "worker_crashed: signal 6");
}

TEST(JobEntry, OptionalFieldsDefaultAndUnknownFieldsAreIgnored) {
    auto fields = without("timeout_ms");
    std::erase_if(fields, [](const auto& f) { return f.first == "prio" || f.first == "attempts" || f.first == "deadline_ms"; });
    fields.emplace_back("from_a_newer_client", "whatever");
    const auto parsed = parse(fields);
    ASSERT_TRUE(std::holds_alternative<JobEntry>(parsed));
    EXPECT_EQ(std::get<JobEntry>(parsed).timeout_ms, 0);
    EXPECT_EQ(std::get<JobEntry>(parsed).attempts, 0U);
}

TEST(JobEntry, AnEntryWithABadClientCannotBeAnswered) {
    for (const std::string& bad : std::vector<std::string>{"", "0123456789ABCDEF", "0123456789abcde", "0123456789abcdef0", "../../etc/passw",
                                  "0123456789abcdeg", std::string("0123456789abcd\0f", 16)}) {
        auto fields = with("client", bad);
        const auto r = rejected(parse(fields));
        EXPECT_EQ(r.problem, EntryProblem::bad_client) << bad;
        EXPECT_FALSE(r.answerable);
    }
    EXPECT_EQ(rejected(parse(without("client"))).problem, EntryProblem::bad_client);
}

TEST(JobEntry, AJobIdThatIsNotTheClientsCannotBeAnswered) {
    for (const std::string& bad : std::vector<std::string>{"", kClient, kClient + "-", kClient + "-0", kClient + "-x", kClient + "--1",
                                  kClient + "-+1", kClient + "-1 ", "fedcba9876543210-1", kClient + "-99999999999999999999999"}) {
        const auto r = rejected(parse(with("job", bad)));
        EXPECT_EQ(r.problem, EntryProblem::bad_job_id) << bad;
        EXPECT_FALSE(r.answerable) << bad;
    }
}

TEST(JobEntry, OtherFaultsAreAnsweredAsTheirClientsJob) {
    const struct {
        std::vector<std::pair<std::string, std::string>> fields;
        EntryProblem problem;
    } cases[] = {
        {without("fn"), EntryProblem::missing_field},
        {without("arg"), EntryProblem::missing_field},
        {without("flags"), EntryProblem::missing_field},
        {with("fn", ""), EntryProblem::oversized},
        {with("fn", std::string(48, 'f')), EntryProblem::oversized},
        {with("flags", "4"), EntryProblem::unknown_flags},       // kJobBlob: a reference into our memory
        {with("flags", "9"), EntryProblem::unknown_flags},       // JSON and pickle at once
        {with("flags", "1024"), EntryProblem::unknown_flags},
        {with("flags", "-1"), EntryProblem::bad_number},
        {with("flags", "0x1"), EntryProblem::bad_number},
        {with("flags", "4294967296"), EntryProblem::bad_number},
        {with("fp", "18446744073709551616"), EntryProblem::bad_number},
        {with("timeout_ms", "-5"), EntryProblem::bad_number},
        {with("timeout_ms", "1e3"), EntryProblem::bad_number},
        {with("timeout_ms", "99999999999999999"), EntryProblem::out_of_range},
        {with("deadline_ms", "9223372036854775807"), EntryProblem::out_of_range},
        {with("deadline_ms", "99999999999999999999999"), EntryProblem::bad_number},
        {with("prio", "8"), EntryProblem::out_of_range},
        {with("prio", "-9"), EntryProblem::out_of_range},
        {with("prio", " 1"), EntryProblem::bad_number},
        {with("attempts", "1000001"), EntryProblem::out_of_range},
        {with("attempts", "-1"), EntryProblem::bad_number},
        {with("last_failure", std::string(5000, 'x')), EntryProblem::oversized},
    };
    for (const auto& c : cases) {
        const auto r = rejected(parse(c.fields));
        EXPECT_EQ(r.problem, c.problem) << r.message;
        EXPECT_TRUE(r.answerable) << r.message;
        EXPECT_EQ(r.client, kClient);
        EXPECT_EQ(r.seq, 42U);
        EXPECT_EQ(r.job, kClient + "-42");
        EXPECT_FALSE(r.message.empty());
    }
}

TEST(JobEntry, ARepeatedFieldIsRefused) {
    auto fields = good_fields();
    fields.emplace_back("fn", "crash");
    const auto r = rejected(parse(fields));
    EXPECT_EQ(r.problem, EntryProblem::repeated_field);
    EXPECT_TRUE(r.answerable);
}

TEST(JobEntry, AnArgumentBeyondTheLimitIsRefused) {
    EntryLimits limits;
    limits.max_payload_bytes = 16;
    EXPECT_TRUE(std::holds_alternative<JobEntry>(parse(with("arg", std::string(16, 'a')), limits)));
    EXPECT_EQ(rejected(parse(with("arg", std::string(17, 'a')), limits)).problem, EntryProblem::oversized);
}

TEST(JobEntry, BatchAndPickleFlagsAreKept) {
    const auto batch = parse(with("flags", "3"));
    ASSERT_TRUE(std::holds_alternative<JobEntry>(batch));
    EXPECT_EQ(std::get<JobEntry>(batch).flags, 3U);
    const auto pickle = parse(with("flags", "8"));
    ASSERT_TRUE(std::holds_alternative<JobEntry>(pickle));
    EXPECT_EQ(std::get<JobEntry>(pickle).flags, 8U);
}

}  // namespace
}  // namespace warmpool
