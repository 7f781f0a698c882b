// copy_large: memcpy for payloads of many megabytes, split between the calling thread and one
// more.
//
// Where a large copy lands on memory nobody touched yet (a new bytes object for a 64 MiB result),
// its time goes to page faults and zeroing, which the kernel does for each faulting thread on
// its own: two threads each copying half took 13 ms for 64 MiB where one took 25 ms, on a
// 2-core VM with the pages advised huge. On a busy machine the second thread gains nothing and
// costs little. Any thread may call it; it touches nothing but the two ranges.
#pragma once

#include <cstddef>
#include <cstring>
#include <system_error>
#include <thread>

namespace warmpool {

// Below this a second thread costs more than it saves.
inline constexpr std::size_t kSplitCopyMin = std::size_t{8} << 20;

inline void copy_large(void* out, const void* in, std::size_t bytes) {
    if (bytes < kSplitCopyMin) {
        if (bytes != 0) std::memcpy(out, in, bytes);
        return;
    }
    const std::size_t half = (bytes / 2) & ~std::size_t{4095};  // on a page boundary
    auto* to = static_cast<char*>(out);
    const auto* from = static_cast<const char*>(in);
    try {
        std::thread other([=] { std::memcpy(to + half, from + half, bytes - half); });
        std::memcpy(to, from, half);
        other.join();
    } catch (const std::system_error&) {  // no thread to be had: one copy, as without this
        std::memcpy(to, from, bytes);
    }
}

}  // namespace warmpool
