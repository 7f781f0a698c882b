// A job library outside the warmpool tree, built against an installed warmpool with
// find_package(warmpool) and loaded by an installed warmpoold: one function, outside_gcd.
#include <warmpool/job.hpp>

#include <cstdint>
#include <numeric>
#include <utility>

namespace {

std::int64_t outside_gcd(std::pair<std::int64_t, std::int64_t> ab) { return std::gcd(ab.first, ab.second); }

}  // namespace

WARMPOOL_EXPORT_FN("outside_gcd", outside_gcd);
