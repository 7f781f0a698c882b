#include "warmpool/common/utf8.hpp"

#include <gtest/gtest.h>

namespace warmpool {
namespace {

const std::string kFffd = "\xef\xbf\xbd";

TEST(Utf8, WellFormedTextIsKept) {
    for (const char* text : {"", "gcd", "caf\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "\xf4\x8f\xbf\xbf"}) {
        EXPECT_TRUE(is_valid_utf8(text)) << text;
        EXPECT_EQ(valid_utf8(text), text);
    }
}

TEST(Utf8, IllFormedPartsBecomeReplacementCharacters) {
    EXPECT_EQ(valid_utf8("a\xff" "b"), "a" + kFffd + "b");
    EXPECT_EQ(valid_utf8("\xc0\xaf"), kFffd + kFffd);                  // overlong '/'
    EXPECT_EQ(valid_utf8("\xe0\x80\xaf"), kFffd + kFffd + kFffd);      // overlong, three bytes
    EXPECT_EQ(valid_utf8("\xed\xa0\x80"), kFffd + kFffd + kFffd);      // a surrogate
    EXPECT_EQ(valid_utf8("\xf4\x90\x80\x80"), kFffd + kFffd + kFffd + kFffd);  // above U+10FFFF
    EXPECT_EQ(valid_utf8("\xe2\x82"), kFffd);                          // cut short: one subpart
    EXPECT_EQ(valid_utf8("\xe2\x82x"), kFffd + "x");
    EXPECT_EQ(valid_utf8("\xc3("), kFffd + "(");
    for (const char* text : {"\x80", "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xe2\x82", "\xf0\x9f\x98"}) {
        EXPECT_FALSE(is_valid_utf8(text)) << text;
        EXPECT_TRUE(is_valid_utf8(valid_utf8(text)));
    }
}

TEST(Utf8, CuttingNeverSplitsACharacter) {
    std::string euros;
    for (int i = 0; i < 22; ++i) euros += "\xe2\x82\xac";
    const std::string cut = valid_utf8(euros, 64);
    EXPECT_EQ(cut.size(), 63u);
    EXPECT_TRUE(is_valid_utf8(cut));
    EXPECT_EQ(valid_utf8("abc", 2), "ab");
    EXPECT_EQ(valid_utf8("a\xff", 3), "a");  // the replacement would not fit
    EXPECT_EQ(valid_utf8("a\xff", 4), "a" + kFffd);
    EXPECT_EQ(valid_utf8("abc", 0), "");
}

TEST(Utf8, EveryTwoByteInputComesOutValid) {
    for (int a = 0; a < 256; ++a) {
        for (int b = 0; b < 256; ++b) {
            const char bytes[2] = {static_cast<char>(a), static_cast<char>(b)};
            const std::string text(bytes, 2);
            const std::string out = valid_utf8(text);
            ASSERT_TRUE(is_valid_utf8(out)) << a << " " << b;
            if (is_valid_utf8(text)) {
                ASSERT_EQ(out, text);
            }
        }
    }
}

}  // namespace
}  // namespace warmpool
