// The three workloads of the classic "process pool" benchmark article: a brute-force GCD, a
// long MD5 chain and a big-integer triple product. They are deliberately naive (the point is to
// burn CPU in a way everyone can reproduce), pure and thread-safe, and shared by the bundled job
// library and by the serial reference run that the pooled run is compared against.
//
// Each function validates its inputs and throws std::invalid_argument on values outside its
// documented domain; otherwise it has no failure mode.
#pragma once

#include <cereal/types/string.hpp>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

namespace warmpool::examples {

// The greatest common divisor of a and b, found by counting down from min(a, b) to the first
// common divisor. Takes time proportional to min(a, b) on purpose. Requires a > 0 and b > 0.
std::int64_t brute_force_gcd(std::int64_t a, std::int64_t b);

// Python's
//     md5 = hashlib.md5()
//     for _ in range(rounds): md5.update(msg.encode()); msg = md5.hexdigest()
//     return msg
// One running MD5 state absorbs every round's message; each round's message is the hex digest
// of the state so far. Requires rounds >= 0 (0 returns msg unchanged).
std::string md5_chain(const std::string& msg, std::int64_t rounds);

// The arguments of the md5_chain job; the defaults are the article's parameters, so a caller
// can send `{}` (or omit any field) to get them.
struct Md5Args {
    std::string msg = "Hello World";
    std::int64_t rounds = 1000000;

    bool operator==(const Md5Args&) const = default;
};

template <class Archive>
void serialize(Archive& archive, Md5Args& args) {
    archive(args.msg, args.rounds);
}

void to_json(nlohmann::json& j, const Md5Args& args);
// Missing fields keep their defaults; present fields must have the right type.
void from_json(const nlohmann::json& j, Md5Args& args);

// A summary of a big integer: its full decimal text can be megabytes, too much to ship back
// from a job, but these three fields identify it.
struct TripleProduct {
    std::int64_t digits = 0;  // number of decimal digits
    std::string fnv1a64_hex;  // FNV-1a 64-bit hash of the decimal text, 16 lowercase hex digits
    std::string leading;      // the first 20 decimal digits (all of them if fewer)

    bool operator==(const TripleProduct&) const = default;
};

template <class Archive>
void serialize(Archive& archive, TripleProduct& product) {
    archive(product.digits, product.fnv1a64_hex, product.leading);
}

// JSON fields: digits, fnv1a64, leading. Written by hand rather than with
// NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE because the JSON name "fnv1a64" differs from the member's.
void to_json(nlohmann::json& j, const TripleProduct& product);
void from_json(const nlohmann::json& j, TripleProduct& product);

// The product of i*j*k over i, j, k in 1..n-1, computed by the literal triple loop multiplying
// an arbitrary-precision integer, and summarised. Cost grows steeply with n (the result has
// about 3(n-1)^2 * log10((n-1)!) digits). Requires 1 <= n <= 2000; n = 1 is the empty
// product, 1.
TripleProduct triple_product(std::int64_t n);

}  // namespace warmpool::examples
