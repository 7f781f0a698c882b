#include "jobs/classic_workloads.hpp"

#include <algorithm>
#include <boost/multiprecision/cpp_int.hpp>
#include <cstdio>
#include <stdexcept>
#include <string_view>

#include "jobs/md5.hpp"

namespace warmpool::examples {
namespace {

// FNV-1a 64-bit. Kept local rather than borrowed from warmpool's serialization internals:
// this value is part of the workload's published result and must not change if those do.
std::uint64_t fnv1a64(std::string_view text) {
    std::uint64_t hash = 0xcbf29ce484222325ULL;
    for (char c : text) {
        hash ^= static_cast<unsigned char>(c);
        hash *= 0x100000001b3ULL;
    }
    return hash;
}

std::string hex16(std::uint64_t value) {
    char text[17];
    std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(value));
    return std::string(text, 16);
}

}  // namespace

std::int64_t brute_force_gcd(std::int64_t a, std::int64_t b) {
    if (a <= 0 || b <= 0) {
        throw std::invalid_argument("brute_force_gcd needs two positive integers, got " +
                                    std::to_string(a) + " and " + std::to_string(b));
    }
    for (std::int64_t d = std::min(a, b); d > 1; --d) {
        if (a % d == 0 && b % d == 0) return d;
    }
    return 1;
}

std::string md5_chain(const std::string& msg, std::int64_t rounds) {
    if (rounds < 0) {
        throw std::invalid_argument("md5_chain needs rounds >= 0, got " + std::to_string(rounds));
    }
    if (rounds == 0) return msg;

    Md5 running;
    running.update(msg);
    // After the first round every message is a 32-character digest: keep it in a fixed buffer
    // so the loop allocates nothing.
    Md5::HexDigest current = running.hex();
    for (std::int64_t round = 1; round < rounds; ++round) {
        running.update(current.data(), current.size());
        current = running.hex();
    }
    return std::string(current.data(), current.size());
}

void to_json(nlohmann::json& j, const Md5Args& args) {
    j = nlohmann::json{{"msg", args.msg}, {"rounds", args.rounds}};
}

void from_json(const nlohmann::json& j, Md5Args& args) {
    const Md5Args defaults;
    // json::value() throws json::type_error for a non-object or a field of the wrong type,
    // which the job layer reports as a bad request.
    args.msg = j.value("msg", defaults.msg);
    args.rounds = j.value("rounds", defaults.rounds);
}

void to_json(nlohmann::json& j, const TripleProduct& product) {
    j = nlohmann::json{
        {"digits", product.digits}, {"fnv1a64", product.fnv1a64_hex}, {"leading", product.leading}};
}

void from_json(const nlohmann::json& j, TripleProduct& product) {
    j.at("digits").get_to(product.digits);
    j.at("fnv1a64").get_to(product.fnv1a64_hex);
    j.at("leading").get_to(product.leading);
}

TripleProduct triple_product(std::int64_t n) {
    if (n < 1 || n > 2000) {
        throw std::invalid_argument("triple_product needs 1 <= n <= 2000, got " +
                                    std::to_string(n));
    }
    boost::multiprecision::cpp_int product = 1;
    for (std::int64_t i = 1; i < n; ++i) {
        for (std::int64_t j = 1; j < n; ++j) {
            for (std::int64_t k = 1; k < n; ++k) {
                // i*j*k < 2000^3 fits in 64 bits; multiplying by one machine word is the fast
                // path of cpp_int.
                product *= static_cast<std::uint64_t>(i * j * k);
            }
        }
    }

    const std::string text = product.str();
    TripleProduct summary;
    summary.digits = static_cast<std::int64_t>(text.size());
    summary.fnv1a64_hex = hex16(fnv1a64(text));
    summary.leading = text.substr(0, 20);
    return summary;
}

}  // namespace warmpool::examples
