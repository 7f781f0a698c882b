// JSON arguments decode into a function's C++ types exactly or not at all: a value that does not
// fit its type is a DecodeError naming where it is and what is wrong, never a converted value.
#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "jobs/classic_workloads.hpp"
#include "warmpool/serialization.hpp"

namespace warmpool {
namespace {

using Pair = std::pair<std::int64_t, std::int64_t>;
using examples::Md5Args;

// The message a refused argument gets, or "accepted" if it decodes.
template <class T>
std::string refusal(std::string_view text) {
    try {
        (void)from_json_text<T>(text);
        return "accepted";
    } catch (const DecodeError& e) {
        return e.what();
    }
}

// A struct with conversions of its own, as job libraries write them.
struct Item {
    std::int64_t id = 0;
    std::string name;
    std::vector<double> weights;
    std::uint8_t level = 0;
    bool operator==(const Item&) const = default;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Item, id, name, weights, level)

enum class Color { red, green };
NLOHMANN_JSON_SERIALIZE_ENUM(Color, {{Color::red, "red"}, {Color::green, "green"}})

TEST(JsonArguments, FittingValuesDecode) {
    EXPECT_EQ(from_json_text<Pair>("[12, 18]"), (Pair{12, 18}));
    EXPECT_EQ(from_json_text<std::int64_t>("9223372036854775807"),
              std::numeric_limits<std::int64_t>::max());
    EXPECT_EQ(from_json_text<std::int64_t>("-9223372036854775808"),
              std::numeric_limits<std::int64_t>::min());
    EXPECT_EQ(from_json_text<std::uint64_t>("18446744073709551615"),
              std::numeric_limits<std::uint64_t>::max());
    EXPECT_EQ(from_json_text<std::uint8_t>("255"), 255);
    EXPECT_EQ(from_json_text<std::uint32_t>("-0"), 0u);
    EXPECT_EQ(from_json_text<std::int32_t>("-2147483648"),
              std::numeric_limits<std::int32_t>::min());
    EXPECT_EQ((from_json_text<std::tuple<std::int64_t, std::string, bool>>(R"([1, "a", true])")),
              (std::tuple<std::int64_t, std::string, bool>{1, "a", true}));
    EXPECT_EQ((from_json_text<std::array<int, 3>>("[1, 2, 3]")), (std::array<int, 3>{1, 2, 3}));
    EXPECT_EQ(from_json_text<std::vector<Pair>>("[[1, 2], [3, 4]]"),
              (std::vector<Pair>{{1, 2}, {3, 4}}));
    EXPECT_EQ((from_json_text<std::map<std::string, int>>(R"({"a": 1, "b": 2})")),
              (std::map<std::string, int>{{"a", 1}, {"b", 2}}));
    EXPECT_EQ((from_json_text<std::map<int, std::string>>(R"([[2, "b"], [1, "a"]])")),
              (std::map<int, std::string>{{1, "a"}, {2, "b"}}));
    EXPECT_EQ(from_json_text<std::set<int>>("[3, 1, 2]"), (std::set<int>{1, 2, 3}));
    EXPECT_EQ(from_json_text<nlohmann::json>(R"({"any": [1, 2.5, null, "x"]})"),
              nlohmann::json::parse(R"({"any": [1, 2.5, null, "x"]})"));
    EXPECT_EQ(from_json_text<Item>(R"({"id": 7, "name": "n", "weights": [1, 2.5], "level": 3})"),
              (Item{7, "n", {1.0, 2.5}, 3}));
    EXPECT_EQ(from_json_text<Color>(R"("green")"), Color::green);
}

TEST(JsonArguments, IntegersOutsideTheirTypeAreRefused) {
    EXPECT_EQ(refusal<Pair>("[123456789012345678901234567890, 5]"),
              "argument 0: 123456789012345678901234567890 does not fit int64");
    EXPECT_EQ(refusal<Pair>("[5, -123456789012345678901234567890]"),
              "argument 1: -123456789012345678901234567890 does not fit int64");
    EXPECT_EQ(refusal<std::int64_t>("9223372036854775808"),
              "9223372036854775808 does not fit int64");
    EXPECT_EQ(refusal<std::int64_t>("-9223372036854775809"),
              "-9223372036854775809 does not fit int64");
    EXPECT_EQ(refusal<std::int64_t>("1e19"), "1e+19 does not fit int64");
    EXPECT_EQ(refusal<std::uint64_t>("18446744073709551616"),
              "18446744073709551616 does not fit uint64");
    EXPECT_EQ(refusal<std::int32_t>("2147483648"), "2147483648 does not fit int32");
    EXPECT_EQ(refusal<std::int32_t>("-2147483649"), "-2147483649 does not fit int32");
    EXPECT_EQ(refusal<std::int16_t>("40000"), "40000 does not fit int16");
    EXPECT_EQ(refusal<std::uint8_t>("256"), "256 does not fit uint8");
}

TEST(JsonArguments, NegativeValuesIntoUnsignedTypesAreRefused) {
    EXPECT_EQ(refusal<std::uint64_t>("-1"), "-1 does not fit uint64");
    EXPECT_EQ(refusal<std::uint32_t>("-5"), "-5 does not fit uint32");
    EXPECT_EQ(refusal<std::vector<std::uint8_t>>("[1, -1]"), "argument 1: -1 does not fit uint8");
}

TEST(JsonArguments, FractionsIntoIntegersAreRefused) {
    EXPECT_EQ(refusal<Pair>("[1.5, 3]"), "argument 0: 1.5 is not an integer");
    EXPECT_EQ(refusal<Pair>("[3, 1.5]"), "argument 1: 1.5 is not an integer");
    EXPECT_EQ(refusal<std::int64_t>("-0.5"), "-0.5 is not an integer");
    // A double cannot tell 3.0 from 3.0000000000000001, so an integer is taken only as written.
    EXPECT_EQ(refusal<std::int64_t>("3.0"),
              "expected an integer without a fraction or exponent, got 3.0");
    EXPECT_EQ(refusal<std::uint16_t>("1e3"),
              "expected an integer without a fraction or exponent, got 1000.0");
}

TEST(JsonArguments, ArraysMustHaveTheTypesLength) {
    EXPECT_EQ(refusal<Pair>("[1, 2, 3]"), "expected an array of 2 elements, got 3");
    EXPECT_EQ(refusal<Pair>("[1]"), "expected an array of 2 elements, got 1");
    EXPECT_EQ(refusal<Pair>("[]"), "expected an array of 2 elements, got 0");
    EXPECT_EQ((refusal<std::tuple<std::int64_t, std::string, bool>>(R"([1, "a"])")),
              "expected an array of 3 elements, got 2");
    EXPECT_EQ((refusal<std::array<int, 3>>("[1, 2, 3, 4]")),
              "expected an array of 3 elements, got 4");
    EXPECT_EQ(refusal<std::vector<Pair>>("[[1, 2], [3, 4, 5]]"),
              "argument 1: expected an array of 2 elements, got 3");
}

TEST(JsonArguments, WrongTypesAreRefused) {
    EXPECT_EQ(refusal<Pair>(R"(["1", 2])"), "argument 0: expected int64, got a string");
    EXPECT_EQ(refusal<Pair>("[true, 2]"), "argument 0: expected int64, got true");
    EXPECT_EQ(refusal<Pair>(R"({"a": 1})"), "expected an array of 2 elements, got an object");
    EXPECT_EQ(refusal<Pair>(R"("x")"), "expected an array of 2 elements, got a string");
    EXPECT_EQ(refusal<std::string>("5"), "expected a string, got 5");
    EXPECT_EQ(refusal<bool>("1"), "expected a boolean, got 1");
    EXPECT_EQ(refusal<double>(R"("1.5")"), "expected double, got a string");
    EXPECT_EQ(refusal<double>("false"), "expected double, got false");
    EXPECT_EQ(refusal<std::vector<int>>("{}"), "expected an array, got an object");
    EXPECT_EQ((refusal<std::map<std::string, int>>("[1]")), "expected an object, got an array");
}

TEST(JsonArguments, NullIsNotANumberOrAString) {
    EXPECT_EQ(refusal<Pair>("[1, null]"), "argument 1: expected int64, got null");
    EXPECT_EQ(refusal<std::int64_t>("null"), "expected int64, got null");
    EXPECT_EQ(refusal<std::string>("null"), "expected a string, got null");
    EXPECT_EQ(refusal<Pair>("null"), "expected an array of 2 elements, got null");
}

TEST(JsonArguments, NullIsAnEmptyOptional) {
    using Optional = std::optional<std::int64_t>;
    EXPECT_EQ(from_json_text<Optional>("null"), std::nullopt);
    EXPECT_EQ(from_json_text<Optional>("5"), Optional{5});
    EXPECT_EQ(refusal<Optional>("1.5"), "1.5 is not an integer");
    EXPECT_EQ(from_json_text<std::vector<Optional>>("[null, 2]"),
              (std::vector<Optional>{std::nullopt, 2}));
    EXPECT_EQ(refusal<std::vector<Optional>>(R"([null, "2"])"),
              "argument 1: expected int64, got a string");
}

TEST(JsonArguments, AnyNumberFitsAFloatingType) {
    EXPECT_EQ(from_json_text<double>("1.5"), 1.5);
    EXPECT_EQ(from_json_text<double>("3"), 3.0);
    EXPECT_EQ(from_json_text<double>("-7"), -7.0);
    EXPECT_EQ(from_json_text<double>("18446744073709551615"), 18446744073709551615.0);
    EXPECT_EQ(from_json_text<double>("123456789012345678901234567890"), 1.2345678901234568e29);
    EXPECT_EQ(from_json_text<float>("0.1"), 0.1f);
    EXPECT_EQ(from_json_text<float>("3.4028234663852886e38"), std::numeric_limits<float>::max());
    EXPECT_EQ(refusal<float>("1e39"), "1e+39 does not fit float");
    EXPECT_EQ(refusal<std::vector<float>>("[0, -1e39]"), "argument 1: -1e+39 does not fit float");
    EXPECT_EQ(refusal<double>("1e400").rfind("malformed JSON: ", 0), 0u)
        << refusal<double>("1e400");
}

TEST(JsonArguments, PathsNameTheElement) {
    EXPECT_EQ(refusal<std::vector<Pair>>("[[1, 2], [3, 1.5]]"),
              "argument 1[1]: 1.5 is not an integer");
    EXPECT_EQ((refusal<std::map<std::string, std::vector<int>>>(R"({"a": [1, "x"]})")),
              R"(argument "a"[1]: expected int32, got a string)");
    EXPECT_EQ(
        (refusal<std::map<std::string, std::map<std::string, int>>>(R"({"a": {"b c": 1.5}})")),
        R"(argument "a"["b c"]: 1.5 is not an integer)");
}

TEST(JsonArguments, DuplicateKeysAndElementsAreRefused) {
    EXPECT_EQ((refusal<std::map<std::string, int>>(R"({"a": 1, "a": 2})")), R"(duplicate key "a")");
    EXPECT_EQ(
        (refusal<std::map<std::string, std::map<std::string, int>>>(R"({"x": {"a": 1, "a": 2}})")),
        R"(argument "x": duplicate key "a")");
    EXPECT_EQ(refusal<Md5Args>(R"({"rounds": 1, "rounds": 2})"), R"(duplicate key "rounds")");
    EXPECT_EQ((refusal<std::map<int, std::string>>(R"([[1, "a"], [1, "b"]])")),
              "argument 1: duplicate key 1");
    EXPECT_EQ(refusal<std::set<int>>("[1, 2, 1]"), "argument 2: duplicate element 1");
}

TEST(JsonArguments, MalformedTextIsRefused) {
    for (std::string_view text : {"[1,", "[1, 2] x", "", "{\"a\" 1}"}) {
        EXPECT_EQ(refusal<Pair>(text).rfind("malformed JSON: ", 0), 0u)
            << text << ": " << refusal<Pair>(text);
    }
}

// A type with a from_json of its own is checked by encoding what it decoded again: anything it
// did not keep as sent is refused.
TEST(JsonArguments, StructsKeepEveryValueAsSent) {
    const std::string_view base = R"("name": "n", "weights": [1], "level": 3)";
    const auto item = [&](std::string_view more) {
        return "{" + std::string(base) + ", " + std::string(more) + "}";
    };
    EXPECT_EQ(
        refusal<Item>(item(R"("id": 9223372036854775808)")),
        R"(argument "id": 9223372036854775808 does not fit its type (it would be -9223372036854775808))");
    // Parsed, this is the double -2^63, which fits; as written it does not.
    EXPECT_EQ(refusal<Item>(item(R"("id": -9223372036854775809)")),
              R"(argument "id": -9223372036854775809 does not fit its type)");
    EXPECT_EQ(refusal<Item>(item(R"("id": 1.5)")), R"(argument "id": 1.5 is not an integer)");
    EXPECT_EQ(refusal<Item>(item(R"("id": 2.0)")),
              R"(argument "id": expected an integer without a fraction or exponent, got 2.0)");
    EXPECT_EQ(refusal<Item>(item(R"("id": 1, "extra": 0)")), R"(unknown key "extra")");
    EXPECT_EQ(refusal<Item>(R"({"id": 1, "name": "n", "weights": [1], "level": 256})"),
              R"(argument "level": 256 does not fit its type (it would be 0))");
    EXPECT_EQ(refusal<Item>(R"({"id": 1, "name": "n", "weights": [1], "level": -1})"),
              R"(argument "level": -1 does not fit its type (it would be 255))");
    EXPECT_EQ(refusal<Item>(R"({"id": 1, "name": "n", "weights": [1], "level": true})"),
              R"(argument "level": expected a number, got true)");
    EXPECT_EQ(refusal<std::vector<Item>>(R"([{"id": 1, "name": "n", "weights": [], "level": 0},
                                             {"id": 2, "name": "m", "weights": [], "level": 0, "x": 1}])"),
              R"(argument 1: unknown key "x")");
    EXPECT_EQ(refusal<Color>(R"("blue")"), R"("blue" does not fit its type (it would be "red"))");
}

// A struct's own from_json casts floats into its fields; a float that does not fit a field is
// refused before that cast is made (it would be undefined behaviour, found by the job_args fuzz
// target with md5_chain's "rounds": 3.7e66).
struct Reading {
    std::int32_t count = 0;
    float ratio = 0;
    double value = 0;
    bool operator==(const Reading&) const = default;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Reading, count, ratio, value)

TEST(JsonArguments, FloatsThatNoFieldCanHoldAreRefusedBeforeDecoding) {
    EXPECT_EQ(refusal<Md5Args>(R"({"msg": "m", "rounds": 3.6666666666666666e66})"),
              R"(argument "rounds": 3.6666666666666664e+66 does not fit its type)");
    EXPECT_EQ(refusal<Reading>(R"({"count": 1e10, "ratio": 1, "value": 1})"),
              R"(argument "count": expected an integer without a fraction or exponent, got 10000000000.0)");
    EXPECT_EQ(refusal<Reading>(R"({"count": -1e300, "ratio": 1, "value": 1})"),
              R"(argument "count": -1e+300 does not fit its type)");
    EXPECT_EQ(refusal<Reading>(R"({"count": 1, "ratio": 1e39, "value": 1})"),
              R"(argument "ratio": 1e+39 does not fit float)");
    EXPECT_EQ(refusal<Reading>(R"({"count": 1, "ratio": 0.5, "value": 1e300})"), "accepted");
    EXPECT_EQ(refusal<std::vector<Reading>>(R"([{"count": 1, "ratio": 1, "value": 1},
                                                {"count": 2.5, "ratio": 1, "value": 1}])"),
              R"(argument 1["count"]: 2.5 is not an integer)");
}

// Messages quote what was sent: briefly, and in ASCII whatever it was.
TEST(JsonArguments, MessagesQuoteValuesShortAndPlain) {
    const std::string long_text(1000, 'x');
    const std::string quoted = refusal<Color>("\"" + long_text + "\"");
    EXPECT_EQ(quoted.rfind("\"xxxxx", 0), 0u) << quoted;
    EXPECT_NE(quoted.find("... does not fit its type"), std::string::npos) << quoted;
    EXPECT_LT(quoted.size(), 120u) << quoted;
    EXPECT_EQ(refusal<Color>("\"\u00e9\xe2\x82\xac\""),
              R"("\u00e9\u20ac" does not fit its type (it would be "red"))");
    EXPECT_EQ((refusal<std::map<std::string, int>>("{\"" + long_text + "\": 1.5}")),
              "argument \"" + std::string(59, 'x') + "...: 1.5 is not an integer");
}

TEST(JsonArguments, StructsRefuseMissingKeysUnlessTheyHaveDefaults) {
    const std::string missing = refusal<Item>(R"({"id": 1, "name": "n", "weights": []})");
    EXPECT_NE(missing.find("key 'level' not found"), std::string::npos) << missing;
    // Md5Args documents its defaults: a missing field takes one, a present one must fit.
    EXPECT_EQ(from_json_text<Md5Args>("{}"), Md5Args{});
    EXPECT_EQ(from_json_text<Md5Args>(R"({"rounds": 5})"), (Md5Args{"Hello World", 5}));
    EXPECT_EQ(
        refusal<Md5Args>(R"({"rounds": 9223372036854775808})"),
        R"(argument "rounds": 9223372036854775808 does not fit its type (it would be -9223372036854775808))");
    EXPECT_EQ(refusal<Md5Args>(R"({"msg": "a", "rounds": 1.5})"),
              R"(argument "rounds": 1.5 is not an integer)");
    EXPECT_EQ(refusal<Md5Args>(R"({"msg": "a", "round": 5})"), R"(unknown key "round")");
}

}  // namespace
}  // namespace warmpool
