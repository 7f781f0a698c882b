// Tests for did_you_mean (did_you_mean.hpp): which misspellings get which hint.

#include "warmpool/common/did_you_mean.hpp"

#include <gtest/gtest.h>

namespace warmpool {
namespace {

TEST(DidYouMean, SuggestsTheClosestNameOfAMisspelling) {
    const std::vector<std::string> known = {"workers", "max_sessions", "md5_chain", "--runtime-dir", "warn", "error"};
    EXPECT_EQ(did_you_mean("wokers", known), " (did you mean 'workers'?)");
    EXPECT_EQ(did_you_mean("max_sesions", known), " (did you mean 'max_sessions'?)");
    EXPECT_EQ(did_you_mean("md5_chian", known), " (did you mean 'md5_chain'?)");
    EXPECT_EQ(did_you_mean("--runtime-directory", known), "") << "6 edits: too far";
    EXPECT_EQ(did_you_mean("--runtime_dir", known), " (did you mean '--runtime-dir'?)");
    EXPECT_EQ(did_you_mean("wanr", known), " (did you mean 'warn'?)");
}

TEST(DidYouMean, NothingForAWordThatIsNoMisspelling) {
    const std::vector<std::string> known = {"trace", "debug", "info", "warn", "error", "critical", "off"};
    EXPECT_EQ(did_you_mean("verbos", known), "") << "'error' is 4 edits away: more than half of it";
    EXPECT_EQ(did_you_mean("x", known), "");
    EXPECT_EQ(did_you_mean("anything", {}), "");
}

}  // namespace
}  // namespace warmpool
