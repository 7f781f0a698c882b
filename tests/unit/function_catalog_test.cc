// Tests for FunctionCatalog (function_catalog.hpp): the one rule for a function's effective
// settings ([functions.NAME] over what its module declared over the pool's defaults), a job's
// run-time limit, whether any limits exist (the lanes' rule), the bounded run-time statistics
// with their per-session look-up cache, and what declare() takes from a worker.

#include "warmpool/daemon/function_catalog.hpp"

#include <gtest/gtest.h>

#include <limits>
#include <set>
#include <string>
#include <vector>

namespace warmpool {
namespace {

protocol::FunctionSettings declared(std::vector<protocol::FunctionSetting> functions) {
    protocol::FunctionSettings s;
    s.functions = std::move(functions);
    return s;
}

JobRecord record(std::string_view function, std::int64_t timeout_ns = 0) {
    JobRecord r{};
    EXPECT_TRUE(set_function_name(r, function));
    r.timeout_ns = timeout_ns;
    return r;
}

TEST(FunctionCatalog, DefaultsWithoutSectionOrDeclaration) {
    PoolConfig config;
    config.default_timeout_s = 2.5;
    const FunctionCatalog catalog(config);
    const FunctionConfig f = catalog.settings("anything");
    EXPECT_EQ(f.timeout_s, 2.5);
    EXPECT_EQ(f.retries, 0u);
}

TEST(FunctionCatalog, SectionWinsOverDeclarationWhichWinsOverDefaults) {
    PoolConfig config;
    config.default_timeout_s = 9;
    config.functions["configured"] = FunctionConfig{3, 1};
    config.functions["configured_default"] = FunctionConfig{-1, 2};  // its timeout: the pool's
    FunctionCatalog catalog(config);
    bool changed = false;
    ASSERT_EQ(catalog.declare(1,
                              declared({{"configured", 7, 5},
                                        {"configured_default", 8, 6},
                                        {"declared", 4, 3},
                                        {"declared_default", -1, 4},
                                        {"declared_negative", -20, 0}}),
                              changed),
              "");
    EXPECT_TRUE(changed);

    EXPECT_EQ(catalog.settings("configured"), (FunctionConfig{3, 1}));
    EXPECT_EQ(catalog.settings("configured_default"), (FunctionConfig{9, 2}));
    EXPECT_EQ(catalog.settings("declared"), (FunctionConfig{4, 3}));
    // A declared negative timeout means "none declared": the pool's default_timeout_s.
    EXPECT_EQ(catalog.settings("declared_default"), (FunctionConfig{9, 4}));
    EXPECT_EQ(catalog.settings("declared_negative"), (FunctionConfig{9, 0}));
    EXPECT_EQ(catalog.settings("neither"), (FunctionConfig{9, 0}));
    // Stored as declared, negative timeouts as -1.
    ASSERT_EQ(catalog.declared().size(), 5u);
    EXPECT_EQ(catalog.declared().at("declared_negative").timeout_s, -1.0);
    EXPECT_EQ(catalog.declared().at("declared").timeout_s, 4.0);
}

TEST(FunctionCatalog, ReadsTheConfigurationItWasMadeWith) {
    // A reload changes the configuration in place: the catalog sees it at once.
    PoolConfig config;
    FunctionCatalog catalog(config);
    bool changed = false;
    ASSERT_EQ(catalog.declare(1, declared({{"f", -1, 0}}), changed), "");
    EXPECT_EQ(catalog.settings("f").timeout_s, 0.0);
    config.default_timeout_s = 11;
    EXPECT_EQ(catalog.settings("f").timeout_s, 11.0);
    config.functions["f"] = FunctionConfig{1, 0};
    EXPECT_EQ(catalog.settings("f").timeout_s, 1.0);
}

TEST(FunctionCatalog, TimeoutOfAJob) {
    PoolConfig config;
    config.functions["limited"] = FunctionConfig{1.5, 0};
    config.functions["unlimited"] = FunctionConfig{0, 0};
    FunctionCatalog catalog(config);
    bool changed = false;
    ASSERT_EQ(catalog.declare(1, declared({{"declared", 0.25, 0}}), changed), "");

    EXPECT_EQ(catalog.timeout_ns(record("limited")), 1'500'000'000);
    EXPECT_EQ(catalog.timeout_ns(record("declared")), 250'000'000);
    EXPECT_EQ(catalog.timeout_ns(record("unlimited")), 0);
    EXPECT_EQ(catalog.timeout_ns(record("unknown")), 0);
    // The record's own limit wins, longer or shorter than the function's.
    EXPECT_EQ(catalog.timeout_ns(record("limited", 7)), 7);
    EXPECT_EQ(catalog.timeout_ns(record("unlimited", 3'000'000'000)), 3'000'000'000);
    // A record's limit that is not positive means none of its own.
    EXPECT_EQ(catalog.timeout_ns(record("limited", -5)), 1'500'000'000);

    config.default_timeout_s = 2;
    EXPECT_EQ(catalog.timeout_ns(record("unknown")), 2'000'000'000);
    EXPECT_EQ(catalog.timeout_ns(record("unlimited")), 0);  // its section says none
}

TEST(FunctionCatalog, AnyLimits) {
    PoolConfig config;
    FunctionCatalog catalog(config);
    EXPECT_FALSE(catalog.any_limits());

    config.default_timeout_s = 1;
    EXPECT_TRUE(catalog.any_limits());
    config.default_timeout_s = 0;

    config.functions["f"] = FunctionConfig{0, 0};
    EXPECT_FALSE(catalog.any_limits());
    config.functions["f"] = FunctionConfig{0, 1};
    EXPECT_TRUE(catalog.any_limits());
    config.functions["f"] = FunctionConfig{0.5, 0};
    EXPECT_TRUE(catalog.any_limits());
    config.functions["f"] = FunctionConfig{-1, 0};  // the pool's default, 0: none
    EXPECT_FALSE(catalog.any_limits());

    bool changed = false;
    ASSERT_EQ(catalog.declare(1, declared({{"g", -1, 0}}), changed), "");
    EXPECT_FALSE(catalog.any_limits());
    ASSERT_EQ(catalog.declare(2, declared({{"g", 3, 0}}), changed), "");
    EXPECT_TRUE(catalog.any_limits());
    ASSERT_EQ(catalog.declare(3, declared({{"g", -1, 2}}), changed), "");
    EXPECT_TRUE(catalog.any_limits());
    // A section without limits overrides what the module declared.
    config.functions["g"] = FunctionConfig{0, 0};
    EXPECT_FALSE(catalog.any_limits());
}

TEST(FunctionCatalog, StatsPerFunctionAndTheLastLookup) {
    PoolConfig config;
    FunctionCatalog catalog(config);
    FunctionCatalog::LastLookup last;
    FunctionStats& a = catalog.stats("a", last);
    EXPECT_EQ(last.function, "a");
    EXPECT_EQ(last.stats, &a);
    EXPECT_EQ(&catalog.stats("a", last), &a);
    FunctionStats& b = catalog.stats("b", last);
    EXPECT_NE(&a, &b);
    EXPECT_EQ(last.function, "b");
    EXPECT_EQ(last.stats, &b);
    // Another session's cache finds the same entries.
    FunctionCatalog::LastLookup other;
    EXPECT_EQ(&catalog.stats("a", other), &a);

    // The cache is trusted for its own name: it is what a stream of calls of one function costs.
    FunctionStats elsewhere;
    FunctionCatalog::LastLookup planted{"a", &elsewhere};
    EXPECT_EQ(&catalog.stats("a", planted), &elsewhere);
    EXPECT_EQ(&catalog.stats("b", planted), &b);
}

TEST(FunctionCatalog, StatsAreBoundedAndTheRestShareOneEntry) {
    PoolConfig config;
    FunctionCatalog catalog(config);
    std::set<FunctionStats*> distinct;
    FunctionStats* first = nullptr;
    for (std::size_t i = 0; i < FunctionCatalog::kMaxTrackedFunctions; ++i) {
        FunctionCatalog::LastLookup last;
        FunctionStats* s = &catalog.stats("f" + std::to_string(i), last);
        if (i == 0) first = s;
        distinct.insert(s);
    }
    EXPECT_EQ(distinct.size(), FunctionCatalog::kMaxTrackedFunctions);

    FunctionCatalog::LastLookup last;
    FunctionStats& beyond1 = catalog.stats("beyond1", last);
    EXPECT_EQ(distinct.count(&beyond1), 0u);
    FunctionCatalog::LastLookup last2;
    FunctionStats& beyond2 = catalog.stats("beyond2", last2);
    EXPECT_EQ(&beyond1, &beyond2);  // the untracked entry
    beyond1.single.observe(123);
    EXPECT_EQ(beyond2.single.ns, 123);
    // Names seen before the bound keep their own entries.
    FunctionCatalog::LastLookup last3;
    EXPECT_EQ(&catalog.stats("f0", last3), first);

    // A job of an untracked function, or with no stats at all, is placed by the untracked entry.
    PendingJob job;
    job.stats = nullptr;
    EXPECT_EQ(&catalog.estimate(job), &beyond1.single);
    job.record.flags = kJobBatch;
    EXPECT_EQ(&catalog.estimate(job), &beyond1.batch);
}

TEST(FunctionCatalog, EstimateBySingleOrBatch) {
    PoolConfig config;
    FunctionCatalog catalog(config);
    FunctionCatalog::LastLookup last;
    PendingJob job;
    job.stats = &catalog.stats("f", last);
    job.stats->single.observe(10);
    job.stats->batch.observe(20'000);
    EXPECT_EQ(catalog.estimate(job).ns, 10);
    job.record.flags = kJobBatch | kJobJson;
    EXPECT_EQ(catalog.estimate(job).ns, 20'000);
}

TEST(FunctionCatalog, DeclareChangedFlag) {
    PoolConfig config;
    FunctionCatalog catalog(config);
    bool changed = true;
    EXPECT_EQ(catalog.declare(1, declared({}), changed), "");
    EXPECT_FALSE(changed);  // nothing before, nothing now

    EXPECT_EQ(catalog.declare(1, declared({{"f", 1, 0}}), changed), "");
    EXPECT_TRUE(changed);
    EXPECT_EQ(catalog.declare(1, declared({{"f", 1, 0}}), changed), "");
    EXPECT_FALSE(changed);  // the same again, from another worker of the same generation

    EXPECT_EQ(catalog.declare(1, declared({{"f", 1, 1}}), changed), "");
    EXPECT_TRUE(changed);
    EXPECT_EQ(catalog.settings("f").retries, 1u);

    EXPECT_EQ(catalog.declare(2, declared({{"f", 1, 1}}), changed), "");
    EXPECT_FALSE(changed);  // a reload's workers declaring the same: lanes need not be looked at again

    EXPECT_EQ(catalog.declare(3, declared({}), changed), "");
    EXPECT_TRUE(changed);  // the new generation declares nothing: the old settings go
    EXPECT_TRUE(catalog.declared().empty());
    EXPECT_EQ(catalog.settings("f").retries, 0u);
}

TEST(FunctionCatalog, DeclarationsOfAnOlderGenerationAreIgnored) {
    PoolConfig config;
    FunctionCatalog catalog(config);
    bool changed = false;
    ASSERT_EQ(catalog.declare(5, declared({{"f", 2, 0}}), changed), "");
    changed = true;
    EXPECT_EQ(catalog.declare(4, declared({{"f", 9, 9}, {"g", 1, 0}}), changed), "");
    EXPECT_FALSE(changed);
    ASSERT_EQ(catalog.declared().size(), 1u);
    EXPECT_EQ(catalog.settings("f"), (FunctionConfig{2, 0}));
    EXPECT_FALSE(catalog.declared().contains("g"));
}

TEST(FunctionCatalog, TooManySettingsAreRefused) {
    PoolConfig config;
    FunctionCatalog catalog(config);
    bool changed = false;
    ASSERT_EQ(catalog.declare(1, declared({{"kept", 1, 0}}), changed), "");
    std::vector<protocol::FunctionSetting> many;
    for (std::size_t i = 0; i <= protocol::kMaxFunctionSettings; ++i) many.push_back({"f" + std::to_string(i), 1, 0});
    changed = true;
    const std::string why = catalog.declare(2, declared(many), changed);
    EXPECT_NE(why.find(std::to_string(protocol::kMaxFunctionSettings + 1) + " function settings"), std::string::npos)
        << why;
    EXPECT_FALSE(changed);
    ASSERT_EQ(catalog.declared().size(), 1u);
    EXPECT_TRUE(catalog.declared().contains("kept"));

    many.pop_back();  // exactly the most allowed
    EXPECT_EQ(catalog.declare(2, declared(many), changed), "");
    EXPECT_TRUE(changed);
    EXPECT_EQ(catalog.declared().size(), protocol::kMaxFunctionSettings);
}

TEST(FunctionCatalog, BadSettingsRefuseTheWholeDeclaration) {
    PoolConfig config;
    FunctionCatalog catalog(config);
    bool changed = false;
    ASSERT_EQ(catalog.declare(1, declared({{"kept", 1, 0}}), changed), "");
    const std::vector<protocol::FunctionSetting> bad = {
        {"", 1, 0},
        {std::string(kFunctionNameMax + 1, 'x'), 1, 0},
        {std::string("a\0b", 3), 1, 0},
        {"caf\xc3", 1, 0},                                    // truncated UTF-8
        {"nan", std::numeric_limits<double>::quiet_NaN(), 0},
        {"inf", std::numeric_limits<double>::infinity(), 0},
        {"long", 365 * 86400.0 + 1, 0},
        {"retries", 1, 101},
    };
    for (const auto& b : bad) {
        SCOPED_TRACE(b.name);
        changed = true;
        const std::string why = catalog.declare(1, declared({{"good", 1, 0}, b}), changed);
        EXPECT_NE(why, "");
        EXPECT_NE(why.find("cannot be taken"), std::string::npos) << why;
        EXPECT_FALSE(changed);
        ASSERT_EQ(catalog.declared().size(), 1u);
        EXPECT_TRUE(catalog.declared().contains("kept"));
    }
    // The limits themselves are accepted.
    EXPECT_EQ(catalog.declare(1,
                              declared({{std::string(kFunctionNameMax, 'y'), 365 * 86400.0, 100},
                                        {"caf\xc3\xa9", -1, 0}}),
                              changed),
              "");
    EXPECT_TRUE(changed);
    EXPECT_EQ(catalog.declared().size(), 2u);
}

}  // namespace
}  // namespace warmpool
