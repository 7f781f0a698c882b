// The configuration checks that look at more than one key: the Python settings, and the
// [scaling] limits, which must agree with each other and with the mode.
#include <gtest/gtest.h>

#include <string>

#include "warmpool/daemon/config_file.hpp"

namespace warmpool {
namespace {

TEST(ConfigFile, PythonSettingsAreCheckedAndAModuleOrPathImpliesPython) {
    PoolConfig c;
    ASSERT_TRUE(apply_overrides({{"python.modules", "my_module"}}, c).ok());
    ASSERT_TRUE(c.finalise().ok());
    EXPECT_TRUE(c.python);
    PoolConfig p;
    ASSERT_TRUE(apply_overrides({{"python.path", "/opt/jobs"}}, p).ok());
    ASSERT_TRUE(p.finalise().ok());
    EXPECT_TRUE(p.python);
    PoolConfig flag;
    ASSERT_TRUE(apply_overrides({{"python.enabled", "true"}}, flag).ok());
    EXPECT_TRUE(flag.python);
    EXPECT_FALSE(apply_overrides({{"python.enabled", "yes"}}, flag).ok());

    PoolConfig bad;
    bad.python_pickle = "sometimes";
    EXPECT_FALSE(bad.finalise().ok());
    PoolConfig empty;
    empty.python_modules = {""};
    EXPECT_FALSE(empty.finalise().ok());
    PoolConfig not_utf8;
    not_utf8.python_path = {"/opt/\xff"};
    EXPECT_FALSE(not_utf8.finalise().ok());
    // --print-config writes them so that they read back.
    PoolConfig printed;
    ASSERT_TRUE(apply_config_text(format_config(c), "printed", printed).ok());
    EXPECT_EQ(printed.python_modules, c.python_modules);
    EXPECT_TRUE(printed.python);
}

}  // namespace
}  // namespace warmpool

namespace warmpool {
namespace {

TEST(ConfigFile, ScalingSettingsThatContradictEachOtherAreNamedWithTheirLine) {
    PoolConfig c;
    auto st = apply_config_text("[scaling]\nmax_spare = 1\nmin_spare = 3\n", "pool.toml", c);
    ASSERT_FALSE(st.ok());
    EXPECT_EQ(st.error().context, "pool.toml:3: 'scaling.min_spare' 3 is more than 'scaling.max_spare' 1");
    st = apply_config_text("[scaling]\nmin_workers = 3\nmax_workers = 2\n", "pool.toml", c);
    ASSERT_FALSE(st.ok());
    EXPECT_EQ(st.error().context, "pool.toml:3: 'scaling.max_workers' 2 is less than 'scaling.min_workers' 3");
    // max_workers 0 means `workers`: checked once everything is applied.
    EXPECT_TRUE(apply_config_text("[scaling]\nmin_workers = 3\nmax_workers = 0\n", "pool.toml", c).ok());
    st = apply_config_text("[scaling]\nmode = \"elastic\"\n", "pool.toml", c);
    ASSERT_FALSE(st.ok());
    EXPECT_NE(st.error().context.find("is not one of static, dynamic, ondemand"), std::string::npos)
        << st.error().context;
}

TEST(ConfigFile, ScalingCombinationsAreCheckedOnTheWholeConfiguration) {
    const auto why = [](std::vector<Override> overrides) {
        PoolConfig c;
        c.workers = 2;
        if (auto st = apply_overrides(overrides, c); !st) return st.error().context;
        auto st = c.finalise();
        return st ? std::string() : st.error().context;
    };
    EXPECT_EQ(why({{"scaling.mode", "dynamic"}, {"scaling.min_workers", "3"}}),
              "scaling.min_workers 3 is more than scaling.max_workers 2");
    EXPECT_NE(why({{"scaling.mode", "ondemand"}, {"scaling.min_workers", "1"}}).find("must be 0 with mode"),
              std::string::npos);
    EXPECT_NE(why({{"scaling.max_workers", "1"}}).find("less than workers 2"), std::string::npos);
    EXPECT_NE(why({{"scaling.spawn_rate", "0"}}).find("spawn_rate"), std::string::npos);
    EXPECT_NE(why({{"scaling.idle_timeout", "0"}}).find("idle_timeout"), std::string::npos);
    EXPECT_NE(why({{"scaling.mode", "dynamic"}, {"scaling.max_workers", "2"}, {"scaling.min_spare", "3"},
                   {"scaling.max_spare", "3"}}).find("min_spare 3 is more than scaling.max_workers 2"),
              std::string::npos);
    EXPECT_EQ(why({{"scaling.mode", "ondemand"}, {"scaling.max_workers", "8"}}), "");
}

}  // namespace
}  // namespace warmpool
