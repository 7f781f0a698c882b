// Helpers for tests that feed decoders lying bytes: little-endian length prefixes, and this
// process's peak RSS, which shows whether a decoder believed a lie and allocated for it.
#pragma once

#include <sys/resource.h>

#include <cstdint>
#include <string>

namespace warmpool::test {

// The 8 bytes of `value` as Cereal writes a size prefix.
inline std::string u64_bytes(std::uint64_t value) {
    return std::string(reinterpret_cast<const char*>(&value), sizeof value);
}

// This process's peak resident set size so far, in KiB.
inline long max_rss_kib() {
    rusage usage{};
    ::getrusage(RUSAGE_SELF, &usage);
    return usage.ru_maxrss;
}

}  // namespace warmpool::test
