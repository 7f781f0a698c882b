// How job arguments and results are encoded: Cereal binary for C++ callers, JSON for the
// command line and other languages, and the type fingerprint that guards the binary path.
//
// A type usable as an argument or result needs both a Cereal `serialize` and nlohmann::json
// conversions (e.g. NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE). Standard types (integers, strings,
// std::pair, std::tuple, std::vector, std::map, std::optional) work as they are. JSON arguments
// are decoded exactly or refused (json_arguments.hpp).
#pragma once

#include <cereal/types/array.hpp>
#include <cereal/types/map.hpp>
#include <cereal/types/optional.hpp>
#include <cereal/types/string.hpp>
#include <cereal/types/tuple.hpp>
#include <cereal/types/utility.hpp>
#include <cereal/types/vector.hpp>
#include <cstdint>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <type_traits>
#include <typeinfo>

#include "warmpool/appending_output_archive.hpp"
#include "warmpool/bounded_input_archive.hpp"
#include "warmpool/decode_error.hpp"
#include "warmpool/encoding.hpp"
#include "warmpool/json_arguments.hpp"
#include "warmpool/span_output_archive.hpp"

namespace warmpool {


namespace detail {

constexpr std::uint64_t fnv1a(std::string_view text, std::uint64_t hash = 0xcbf29ce484222325ULL) {
    for (char c : text) {
        hash ^= static_cast<unsigned char>(c);
        hash *= 0x100000001b3ULL;
    }
    return hash;
}

}  // namespace detail

// A plain number is encoded as its bytes, exactly what the archive writes for it; skipping the
// archive matters when map() encodes millions of them.
template <class T>
void append_binary(const T& value, std::string& out) {
    if constexpr (std::is_arithmetic_v<T>) {
        out.append(reinterpret_cast<const char*>(&value), sizeof value);
    } else {
        AppendingOutputArchive archive(out);
        archive(value);
    }
}

// The bytes append_binary() would write for `value`.
template <class T>
std::size_t binary_size(const T& value) {
    SpanOutputArchive counter;
    counter(value);
    return counter.size();
}

// Encodes `value` into `out`, which has room for exactly binary_size(value) bytes.
template <class T>
void write_binary(const T& value, std::byte* out, std::size_t bytes) {
    SpanOutputArchive archive(out, bytes);
    archive(value);
    if (archive.size() != bytes) throw std::length_error("encoded value smaller than counted");
}

template <class T>
std::string to_binary(const T& value) {
    std::string out;
    append_binary(value, out);
    return out;
}

// Decodes bytes that may come from anyone: sizes are checked against the bytes present, so a
// lying length prefix is a DecodeError, not a huge allocation.
template <class T>
T from_binary(std::string_view bytes) {
    T value{};
    if constexpr (std::is_arithmetic_v<T>) {
        if (bytes.size() != sizeof value) {
            throw DecodeError("cannot decode binary value: " + std::to_string(bytes.size()) + " bytes for a " +
                              std::to_string(sizeof value) + "-byte number");
        }
        if constexpr (std::is_same_v<T, bool>) {
            if (static_cast<unsigned char>(bytes[0]) > 1) throw DecodeError("cannot decode binary value: bool byte is not 0 or 1");
        }
        std::memcpy(&value, bytes.data(), sizeof value);
        return value;
    }
    BoundedInputArchive archive(bytes);
    try {
        archive(value);
    } catch (const std::exception& e) {
        throw DecodeError(std::string("cannot decode binary value: ") + e.what());
    }
    if (archive.remaining() != 0) throw DecodeError("trailing bytes after binary value");
    return value;
}

template <class T>
std::string to_json_text(const T& value) {
    return nlohmann::json(value).dump();
}

// The type a fingerprint names for T: T itself, unless a type declares itself encoded as
// another (Bytes is a std::string on the wire).
template <class T>
struct FingerprintAs {
    using type = T;
};

// The type fingerprint of a function taking Args and returning R. Both sides compute it from
// the types' mangled names, which the Itanium C++ ABI makes identical across GCC and Clang.
template <class R, class Args>
std::uint64_t type_fingerprint() {
    std::uint64_t h = detail::fnv1a(typeid(typename FingerprintAs<std::decay_t<Args>>::type).name());
    h = detail::fnv1a("->", h);
    h = detail::fnv1a(typeid(typename FingerprintAs<std::decay_t<R>>::type).name(), h);
    return h | 1;  // never 0, which means "no fingerprint"
}

}  // namespace warmpool
