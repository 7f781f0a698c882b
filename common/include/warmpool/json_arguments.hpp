// JSON arguments decoded into a function's C++ types exactly, or refused.
//
// nlohmann::json converts whatever it is given: 2^63 into an int64 wraps to a negative number,
// 1.5 into an integer loses its fraction, [1, 2, 3] into a pair loses the 3, and a struct's
// from_json passes over keys it does not know. A job run on other values than its caller sent is
// worse than no job, so from_json_text() refuses all of these with a DecodeError that says where
// the value is and what is wrong with it: "argument 0: 1.5 is not an integer".
//
// What each type takes:
//   bool                        true or false
//   integer types               an integer in the type's range, written without a fraction or
//                               exponent (parsed as a double, 3.0 and 3.0000000000000001 are one)
//   float, double, long double  any number, integers too; a float refuses one beyond its range
//   std::string                 a string
//   pair, tuple, std::array     an array of exactly as many elements
//   std::vector                 an array
//   std::set                    an array, no element twice
//   std::map, unordered_map     with string keys an object, else an array of [key, value] pairs;
//                               no key twice
//   std::optional               null, or what its value type takes
//   nlohmann::json              anything
//   any other type (a struct)   what its own from_json takes, provided that its to_json gives
//                               back every key, array element and value sent: numbers with the
//                               same value (a float may round), everything else unchanged. Keys
//                               not sent may come back with defaults.
// And anywhere: an object with a key twice is refused.
#pragma once

#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "warmpool/decode_error.hpp"

namespace warmpool::strict_json {

using Json = nlohmann::json;

// Where a value sits in the argument: steps that live on the decoder's stack, made into text only
// for a message.
struct Path {
    const Path* parent = nullptr;
    std::size_t index = 0;             // an array's element
    const std::string* key = nullptr;  // else an object's member
};

// A value as JSON text, short enough for a message, and ASCII whatever it holds.
inline std::string shortened(const Json& value) {
    constexpr std::size_t kLongest = 60;
    std::string text = value.dump(-1, ' ', true, Json::error_handler_t::replace);
    if (text.size() > kLongest) text = text.substr(0, kLongest) + "...";
    return text;
}

// "argument 0", "argument 1[2]", "argument \"rounds\"", "argument \"a\"[\"b\"]"; empty for the
// argument as a whole.
inline std::string where(const Path* path) {
    std::vector<const Path*> steps;
    for (; path != nullptr; path = path->parent) steps.push_back(path);
    std::string text;
    for (auto step = steps.rbegin(); step != steps.rend(); ++step) {
        const std::string name =
            (*step)->key != nullptr ? shortened(*(*step)->key) : std::to_string((*step)->index);
        text += step == steps.rbegin() ? "argument " + name : "[" + name + "]";
    }
    return text;
}

[[noreturn]] inline void refuse(const Path* path, const std::string& problem) {
    const std::string at = where(path);
    throw DecodeError(at.empty() ? problem : at + ": " + problem);
}

// The literal text of integers too large for 64 bits, by where they are.
using Literals = std::map<std::string, std::string>;

// Builds the value as nlohmann::json::parse() does (a SAX handler for Json::sax_parse), except
// that it refuses a key given twice, where parse() keeps the last, and keeps the text of each
// integer beyond 64 bits, which parse() keeps only as the nearest double, so that a message can
// quote it as it was written.
class Parser {
public:
    Parser(Json& root, Literals& literals) : root_(root), literals_(literals) {}

    bool null() { return put(nullptr); }
    bool boolean(bool value) { return put(value); }
    bool number_integer(Json::number_integer_t value) { return put(value); }
    bool number_unsigned(Json::number_unsigned_t value) { return put(value); }
    bool number_float(Json::number_float_t value, const std::string& text) {
        if (text.find_first_of(".eE") == std::string::npos) {
            literals_.emplace(where(path(true)), text);
        }
        return put(value);
    }
    bool string(std::string& value) { return put(std::move(value)); }
    bool binary(Json::binary_t&) { return false; }  // JSON text has none
    bool start_object(std::size_t) { return open(Json::object()); }
    bool key(std::string& key) {
        if (open_.back().node->contains(key)) {
            refuse(path(false), "duplicate key " + shortened(key));
        }
        open_.back().key = std::move(key);
        return true;
    }
    bool end_object() { return close(); }
    bool start_array(std::size_t) { return open(Json::array()); }
    bool end_array() { return close(); }
    bool parse_error(std::size_t, const std::string&, const Json::exception& e) {
        throw DecodeError(std::string("malformed JSON: ") + e.what());
    }

private:
    struct Open {
        Json* node;
        std::string key;  // of the member being read, in an object
    };

    Json* place(Json&& value) {
        if (open_.empty()) {
            root_ = std::move(value);
            return &root_;
        }
        Open& parent = open_.back();
        if (parent.node->is_array()) {
            parent.node->push_back(std::move(value));
            return &parent.node->back();
        }
        Json& member = (*parent.node)[parent.key];
        member = std::move(value);
        return &member;
    }
    bool put(Json&& value) {
        place(std::move(value));
        return true;
    }
    bool open(Json&& container) {
        open_.push_back({place(std::move(container)), {}});
        return true;
    }
    bool close() {
        open_.pop_back();
        return true;
    }

    // Where the innermost open container is, or with `next`, the value about to go into it. The
    // steps live in `steps_`, valid until the next call.
    const Path* path(bool next) {
        const std::size_t count = next ? open_.size() : open_.size() - 1;
        steps_.assign(count, Path{});
        for (std::size_t i = 0; i < count; ++i) {
            const Open& level = open_[i];
            steps_[i].parent = i == 0 ? nullptr : &steps_[i - 1];
            if (level.node->is_object()) {
                steps_[i].key = &level.key;
            } else {
                // A container still open is its parent's last element.
                steps_[i].index = level.node->size() - (i + 1 < open_.size() ? 1 : 0);
            }
        }
        return steps_.empty() ? nullptr : &steps_.back();
    }

    Json& root_;
    Literals& literals_;
    std::vector<Open> open_;
    std::vector<Path> steps_;
};

template <class T, template <class...> class Template>
inline constexpr bool is_a = false;
template <template <class...> class Template, class... Args>
inline constexpr bool is_a<Template<Args...>, Template> = true;

template <class T>
inline constexpr bool is_std_array = false;
template <class T, std::size_t N>
inline constexpr bool is_std_array<std::array<T, N>> = true;

template <class T>
std::string type_name() {
    if constexpr (std::is_same_v<T, float>) {
        return "float";
    } else if constexpr (std::is_same_v<T, double>) {
        return "double";
    } else if constexpr (std::is_same_v<T, long double>) {
        return "long double";
    } else {
        return (std::is_signed_v<T> ? "int" : "uint") + std::to_string(sizeof(T) * 8);
    }
}

// Whether integer `n` (a 64-bit value) lies in T's range.
template <class T, class N>
bool in_range(N n) {
    return std::cmp_greater_equal(n, static_cast<std::intmax_t>(std::numeric_limits<T>::min())) &&
           std::cmp_less_equal(n, static_cast<std::uintmax_t>(std::numeric_limits<T>::max()));
}

// Whether `x`, a whole number, lies in T's range.
template <class T>
bool whole_in_range(double x) {
    const double end = std::ldexp(1.0, std::numeric_limits<T>::digits);
    return x >= (std::is_signed_v<T> ? -end : 0.0) && x < end;
}

// Whether two integer nodes hold the same number (Json's == takes 2^64 - 1 for -1).
inline bool same_integer(const Json& a, const Json& b) {
    const auto as_signed = [](const Json& j) { return j.get<std::int64_t>(); };
    const auto as_unsigned = [](const Json& j) { return j.get<std::uint64_t>(); };
    if (a.is_number_unsigned()) {
        return b.is_number_unsigned() ? as_unsigned(a) == as_unsigned(b)
                                      : std::cmp_equal(as_unsigned(a), as_signed(b));
    }
    return b.is_number_unsigned() ? std::cmp_equal(as_signed(a), as_unsigned(b))
                                  : as_signed(a) == as_signed(b);
}

// Whether `kept` is what a float or double made of the number `sent`.
inline bool same_floating(double sent, double kept) {
    if (sent == kept) return true;
    return std::isfinite(kept) && std::abs(sent) <= std::numeric_limits<float>::max() &&
           kept == static_cast<double>(static_cast<float>(sent));
}

// One argument, parsed, and decoded into the C++ types on request.
class Argument {
public:
    explicit Argument(std::string_view text) {
        Parser parser(root_, literals_);
        if (!Json::sax_parse(text, &parser)) throw DecodeError("malformed JSON");
    }

    template <class T>
    T decode() const {
        return decode<T>(root_, nullptr);
    }

private:
    template <class T>
    T decode(const Json& value, const Path* path) const {
        if constexpr (std::is_same_v<T, Json>) {
            return value;
        } else if constexpr (std::is_same_v<T, bool>) {
            if (!value.is_boolean()) refuse(path, "expected a boolean, got " + got(value, path));
            return value.get<bool>();
        } else if constexpr (std::is_integral_v<T>) {
            return decode_integer<T>(value, path);
        } else if constexpr (std::is_floating_point_v<T>) {
            return decode_floating<T>(value, path);
        } else if constexpr (std::is_same_v<T, std::string>) {
            if (!value.is_string()) refuse(path, "expected a string, got " + got(value, path));
            return value.get_ref<const std::string&>();
        } else if constexpr (is_a<T, std::optional>) {
            if (value.is_null()) return T{};
            return T{decode<typename T::value_type>(value, path)};
        } else if constexpr (is_a<T, std::pair> || is_a<T, std::tuple> || is_std_array<T>) {
            return decode_fixed<T>(value, path, std::make_index_sequence<std::tuple_size_v<T>>{});
        } else if constexpr (is_a<T, std::vector>) {
            T out;
            out.reserve(array(value, path).size());
            for (std::size_t i = 0; i < value.size(); ++i) {
                out.push_back(element<typename T::value_type>(value, i, path));
            }
            return out;
        } else if constexpr (is_a<T, std::set> || is_a<T, std::unordered_set>) {
            T out;
            for (std::size_t i = 0; i < array(value, path).size(); ++i) {
                if (!out.insert(element<typename T::value_type>(value, i, path)).second) {
                    const Path step{path, i};
                    refuse(&step, "duplicate element " + written(value[i], &step));
                }
            }
            return out;
        } else if constexpr (is_a<T, std::map> || is_a<T, std::unordered_map>) {
            return decode_map<T>(value, path);
        } else {
            return decode_own<T>(value, path);
        }
    }

    template <class T>
    T element(const Json& array, std::size_t i, const Path* path) const {
        const Path step{path, i};
        return decode<T>(array[i], &step);
    }

    const Json& array(const Json& value, const Path* path) const {
        if (!value.is_array()) refuse(path, "expected an array, got " + got(value, path));
        return value;
    }

    template <class T>
    T decode_integer(const Json& value, const Path* path) const {
        if (value.is_number_unsigned()) {
            const auto n = value.get<std::uint64_t>();
            if (in_range<T>(n)) return static_cast<T>(n);
        } else if (value.is_number_integer()) {
            const auto n = value.get<std::int64_t>();
            if (in_range<T>(n)) return static_cast<T>(n);
        } else if (value.is_number_float()) {
            const double x = value.get<double>();
            if (x != std::trunc(x)) refuse(path, written(value, path) + " is not an integer");
            if (literal(path) == nullptr && whole_in_range<T>(x)) {
                refuse(path, "expected an integer without a fraction or exponent, got " +
                                 written(value, path));
            }
        } else {
            refuse(path, "expected " + type_name<T>() + ", got " + got(value, path));
        }
        refuse(path, written(value, path) + " does not fit " + type_name<T>());
    }

    template <class T>
    T decode_floating(const Json& value, const Path* path) const {
        if (!value.is_number()) {
            refuse(path, "expected " + type_name<T>() + ", got " + got(value, path));
        }
        if (!value.is_number_float()) return value.get<T>();  // the nearest T to an integer
        const double x = value.get<double>();
        if (std::abs(x) > std::numeric_limits<T>::max()) {
            refuse(path, written(value, path) + " does not fit " + type_name<T>());
        }
        return static_cast<T>(x);
    }

    template <class T, std::size_t... I>
    T decode_fixed(const Json& value, const Path* path, std::index_sequence<I...>) const {
        constexpr std::size_t n = sizeof...(I);
        if (!value.is_array() || value.size() != n) {
            refuse(path, "expected an array of " + std::to_string(n) +
                             (n == 1 ? " element" : " elements") + ", got " +
                             (value.is_array() ? std::to_string(value.size()) : got(value, path)));
        }
        // Braces decode the elements in order, so the first that does not fit is the one named.
        return T{element<std::tuple_element_t<I, T>>(value, I, path)...};
    }

    template <class T>
    T decode_map(const Json& value, const Path* path) const {
        using Key = typename T::key_type;
        using Value = typename T::mapped_type;
        T out;
        if constexpr (std::is_same_v<Key, std::string>) {
            if (!value.is_object()) refuse(path, "expected an object, got " + got(value, path));
            for (auto member = value.begin(); member != value.end(); ++member) {
                const Path step{path, 0, &member.key()};
                out.emplace(member.key(), decode<Value>(*member, &step));
            }
        } else {
            // nlohmann's form for other keys: [[key, value], ...]
            for (std::size_t i = 0; i < array(value, path).size(); ++i) {
                if (!out.insert(element<std::pair<Key, Value>>(value, i, path)).second) {
                    const Path step{path, i};
                    const Path key_step{&step, 0};
                    refuse(&step, "duplicate key " + written(value[i][0], &key_step));
                }
            }
        }
        return out;
    }

    // A type with conversions of its own: nlohmann decodes it as it always does, converting
    // numbers and passing over what the type does not read, so what it made is encoded again and
    // must give back everything that was sent.
    template <class T>
    T decode_own(const Json& value, const Path* path) const {
        static_assert(std::is_constructible_v<Json, const T&>,
                      "a JSON argument type needs to_json as well as from_json: what it decodes is "
                      "encoded again to check that nothing sent was lost");
        check_floats_castable<T>(value, path);
        T out = [&] {
            try {
                return value.get<T>();
            } catch (const Json::exception& e) {
                refuse(path, std::string("JSON value has the wrong shape: ") + e.what());
            }
        }();
        check_kept(value, Json(out), path);
        return out;
    }

    // nlohmann puts a float into the field with a plain cast, which is undefined behaviour where
    // the value does not fit (3.7e66 into an int64, 1e39 into a float). So before the real
    // decoding, a probe with every float replaced by 0.1 shows which kind of field each float
    // goes into, and a float that could not be cast safely is refused first. (A float is never
    // kept in an integer field anyway: check_number_kept refuses it after decoding.)
    template <class T>
    void check_floats_castable(const Json& value, const Path* path) const {
        if (!has_float(value)) return;
        Json kept;
        try {
            kept = Json(with_floats_as_probe(value).template get<T>());
        } catch (const Json::exception& e) {
            refuse(path, std::string("JSON value has the wrong shape: ") + e.what());
        }
        check_float_fields(value, kept, path);
    }

    static constexpr double kFloatProbe = 0.1;  // a double that a float field cannot keep exactly

    static bool has_float(const Json& value) {
        if (value.is_number_float()) return true;
        if (!value.is_structured()) return false;
        for (const Json& element : value) {
            if (has_float(element)) return true;
        }
        return false;
    }

    static Json with_floats_as_probe(const Json& value) {
        if (value.is_number_float()) return Json(kFloatProbe);
        if (!value.is_structured()) return value;
        Json probe = value;
        for (auto member = probe.begin(); member != probe.end(); ++member) *member = with_floats_as_probe(*member);
        return probe;
    }

    void check_float_fields(const Json& sent, const Json& kept, const Path* path) const {
        if (sent.is_number_float()) {
            if (!kept.is_number()) return;  // not a number field: decoding refuses it by type
            const double x = sent.get<double>();
            if (!kept.is_number_float()) {  // an integer field
                if (x != std::trunc(x)) refuse(path, written(sent, path) + " is not an integer");
                if (literal(path) != nullptr || (!whole_in_range<std::int64_t>(x) && !whole_in_range<std::uint64_t>(x))) {
                    refuse(path, written(sent, path) + " does not fit its type");
                }
                refuse(path, "expected an integer without a fraction or exponent, got " + written(sent, path));
            }
            const bool float_field = kept.get<double>() != kFloatProbe;
            if (float_field && std::fabs(x) > std::numeric_limits<float>::max()) {
                refuse(path, written(sent, path) + " does not fit float");
            }
            return;
        }
        if (sent.is_array() && kept.is_array()) {
            for (std::size_t i = 0; i < sent.size() && i < kept.size(); ++i) {
                const Path step{path, i};
                check_float_fields(sent[i], kept[i], &step);
            }
        } else if (sent.is_object() && kept.is_object()) {
            for (auto member = sent.begin(); member != sent.end(); ++member) {
                const auto found = kept.find(member.key());
                if (found == kept.end()) continue;  // check_kept refuses what was not kept
                const Path step{path, 0, &member.key()};
                check_float_fields(*member, *found, &step);
            }
        }
    }

    void check_kept(const Json& sent, const Json& kept, const Path* path) const {
        if (sent.is_number() && kept.is_number()) return check_number_kept(sent, kept, path);
        if (sent.is_boolean() && kept.is_number()) {
            refuse(path, "expected a number, got " + got(sent, path));
        }
        if (sent.is_array() && kept.is_array()) {
            if (sent.size() > kept.size()) {
                refuse(path, "expected an array of " + std::to_string(kept.size()) +
                                 " elements, got " + std::to_string(sent.size()));
            }
            for (std::size_t i = 0; i < sent.size(); ++i) {
                const Path step{path, i};
                check_kept(sent[i], kept[i], &step);
            }
            return;
        }
        if (sent.is_object() && kept.is_object()) {
            for (auto member = sent.begin(); member != sent.end(); ++member) {
                const auto found = kept.find(member.key());
                if (found == kept.end()) refuse(path, "unknown key " + shortened(member.key()));
                const Path step{path, 0, &member.key()};
                check_kept(*member, *found, &step);
            }
            return;
        }
        if (sent != kept) refuse_changed(sent, kept, path);
    }

    void check_number_kept(const Json& sent, const Json& kept, const Path* path) const {
        if (kept.is_number_float()) {
            // An integer may become a float or double, and a number become a float.
            if (sent.is_number_float() && !same_floating(sent.get<double>(), kept.get<double>())) {
                refuse_changed(sent, kept, path);
            }
            return;
        }
        if (!sent.is_number_float()) {
            if (!same_integer(sent, kept)) refuse_changed(sent, kept, path);
            return;
        }
        const double x = sent.get<double>();
        if (x != std::trunc(x)) refuse(path, written(sent, path) + " is not an integer");
        const bool same = literal(path) == nullptr &&
                          (kept.is_number_unsigned()
                               ? whole_in_range<std::uint64_t>(x) &&
                                     static_cast<std::uint64_t>(x) == kept.get<std::uint64_t>()
                               : whole_in_range<std::int64_t>(x) &&
                                     static_cast<std::int64_t>(x) == kept.get<std::int64_t>());
        if (!same) refuse_changed(sent, kept, path);
        refuse(path,
               "expected an integer without a fraction or exponent, got " + written(sent, path));
    }

    [[noreturn]] void refuse_changed(const Json& sent, const Json& kept, const Path* path) const {
        refuse(path, written(sent, path) + " does not fit its type (it would be " +
                         shortened(kept) + ")");
    }

    // The text of the number at `path` if it is an integer beyond 64 bits (a number that does
    // not fit any integer type, whatever double it rounds to); else null.
    const std::string* literal(const Path* path) const {
        const auto found = literals_.find(where(path));
        return found == literals_.end() ? nullptr : &found->second;
    }

    // A value sent, as written.
    std::string written(const Json& value, const Path* path) const {
        if (value.is_number_float()) {
            if (const std::string* text = literal(path)) return *text;
        }
        return shortened(value);
    }

    // What a value sent is, for "expected ..., got ...".
    std::string got(const Json& value, const Path* path) const {
        if (value.is_string()) return "a string";
        if (value.is_array()) return "an array";
        if (value.is_object()) return "an object";
        return written(value, path);
    }

    Json root_;
    Literals literals_;
};

}  // namespace warmpool::strict_json

namespace warmpool {

// Decodes a job's JSON arguments into T exactly, or throws DecodeError saying what does not fit.
template <class T>
T from_json_text(std::string_view text) {
    return strict_json::Argument(text).decode<T>();
}

}  // namespace warmpool
