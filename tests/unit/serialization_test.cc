// Job arguments and results in Cereal binary: round trips, and bytes that lie about their sizes
// or hold impossible values are DecodeErrors, never huge allocations or undefined behaviour.
#include "warmpool/serialization.hpp"

#include "warmpool/bytes.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "decode_probe.hpp"
#include "warmpool/appending_output_archive.hpp"

namespace warmpool {
namespace {

using test::max_rss_kib;
using test::u64_bytes;

TEST(Serialization, StandardTypesRoundTrip) {
    using Value = std::tuple<std::int64_t, std::string, std::vector<double>, std::optional<bool>,
                             std::map<std::string, std::pair<int, bool>>>;
    const Value value{-7, std::string("a\0b", 3), {1.5, -2.25}, true, {{"k", {3, false}}, {"", {0, true}}}};
    EXPECT_EQ(from_binary<Value>(to_binary(value)), value);
    EXPECT_EQ(from_binary<std::string>(to_binary(std::string())), "");
    EXPECT_EQ(from_binary<std::vector<std::string>>(to_binary(std::vector<std::string>{})).size(), 0u);
}

// Plain numbers skip the archive (serialization.hpp); their bytes must stay exactly the archive's.
template <class T>
std::string through_archive(const T& value) {
    std::string out;
    AppendingOutputArchive archive(out);
    archive(value);
    return out;
}

TEST(Serialization, NumbersEncodeAsTheArchiveDoes) {
    EXPECT_EQ(to_binary(std::int64_t{-42}), through_archive(std::int64_t{-42}));
    EXPECT_EQ(to_binary(std::uint8_t{200}), through_archive(std::uint8_t{200}));
    EXPECT_EQ(to_binary(2.5), through_archive(2.5));
    EXPECT_EQ(to_binary(true), through_archive(true));
    EXPECT_EQ(from_binary<std::int64_t>(through_archive(std::int64_t{1} << 40)), std::int64_t{1} << 40);
    EXPECT_EQ(from_binary<float>(through_archive(-0.75f)), -0.75f);
    EXPECT_THROW(from_binary<std::int32_t>(std::string(3, '\0')), DecodeError);
    EXPECT_THROW(from_binary<std::int32_t>(std::string(5, '\0')), DecodeError);
    EXPECT_THROW(from_binary<double>(std::string()), DecodeError);
}

TEST(Serialization, ShortAndTrailingBytesAreDecodeErrors) {
    const std::string bytes = to_binary(std::pair<std::int64_t, std::int64_t>{1, 2});
    for (std::size_t n = 0; n < bytes.size(); ++n) {
        EXPECT_THROW((from_binary<std::pair<std::int64_t, std::int64_t>>(bytes.substr(0, n))), DecodeError)
            << n;
    }
    EXPECT_THROW(from_binary<std::int64_t>(to_binary(std::int64_t{1}) + "x"), DecodeError);
}

// Each claims far more elements than the bytes that follow could hold.
TEST(Serialization, LyingLengthsAreDecodeErrorsWithoutAllocating) {
    const long before = max_rss_kib();
    for (std::uint64_t length : {std::uint64_t{4}, std::uint64_t{1} << 30, std::uint64_t{1} << 62,
                                 ~std::uint64_t{0}}) {
        const std::string claim = u64_bytes(length) + "abc";
        EXPECT_THROW(from_binary<std::string>(claim), DecodeError) << length;
        EXPECT_THROW(from_binary<std::vector<std::int64_t>>(claim), DecodeError) << length;
        EXPECT_THROW(from_binary<std::vector<std::string>>(claim), DecodeError) << length;
        EXPECT_THROW((from_binary<std::map<std::string, std::string>>(claim)), DecodeError) << length;
    }
    EXPECT_LT(max_rss_kib() - before, 16 * 1024);
}

TEST(Serialization, BoolBytesOtherThanZeroOrOneAreDecodeErrors) {
    EXPECT_TRUE(from_binary<bool>(std::string(1, '\x01')));
    EXPECT_FALSE(from_binary<bool>(std::string(1, '\x00')));
    EXPECT_THROW(from_binary<bool>(std::string(1, '\x02')), DecodeError);
    // std::optional writes its "engaged" flag as a bool.
    EXPECT_THROW(from_binary<std::optional<std::int32_t>>(std::string(1, '\xff') + std::string(4, '\0')),
                 DecodeError);
}

// Large arguments are counted, then encoded in place: both passes must agree with to_binary.
TEST(Serialization, CountingAndInPlaceEncodingMatchToBinary) {
    using Value = std::tuple<std::string, std::vector<std::int32_t>, std::map<std::string, double>, std::optional<int>>;
    const Value value{std::string(100'000, 'q'), {1, -2, 3}, {{"a", 1.5}, {"b", -2}}, 7};
    const std::string expected = to_binary(value);
    ASSERT_EQ(binary_size(value), expected.size());
    std::string out(expected.size(), '\0');
    write_binary(value, reinterpret_cast<std::byte*>(out.data()), out.size());
    EXPECT_EQ(out, expected);
    EXPECT_THROW(write_binary(value, reinterpret_cast<std::byte*>(out.data()), out.size() - 1), std::length_error)
        << "never past the end of the room it was given";
    std::string roomy(expected.size() + 1, '\0');
    EXPECT_THROW(write_binary(value, reinterpret_cast<std::byte*>(roomy.data()), roomy.size()), std::length_error)
        << "nor short of it";
}

// Bytes is a std::string on the wire and to the type check.
TEST(Serialization, BytesIsEncodedAndFingerprintedAsAString) {
    const std::string text = "some bytes\0with a nul";
    EXPECT_EQ(to_binary(Bytes::borrow(text)), to_binary(text));
    EXPECT_EQ(binary_size(Bytes::borrow(text)), to_binary(text).size());
    EXPECT_EQ(from_binary<Bytes>(to_binary(text)).view(), text);
    EXPECT_EQ((type_fingerprint<Bytes, std::string>()), (type_fingerprint<std::string, std::string>()));
    EXPECT_EQ((type_fingerprint<std::int64_t, Bytes>()), (type_fingerprint<std::int64_t, std::string>()));
    Bytes owned(std::string("abc"));
    const Bytes copy = owned;
    owned = Bytes();
    EXPECT_EQ(copy.view(), "abc") << "copies share the bytes";
}

}  // namespace
}  // namespace warmpool
