// Huge-page advice for large buffers filled right after they are allocated: map()'s results,
// and large strings decoded from a payload.
//
// Touching fresh memory costs one page fault per 4 KiB page, and on virtual machines each fault
// can cost tens of microseconds: filling the 80 MB result vector of a 10-million-item map took
// longer than running the jobs. Asking for transparent huge pages first turns 512 of those faults
// into one. Advice only: where huge pages are disabled or unavailable nothing changes.
#pragma once

#include <sys/mman.h>

#include <cstddef>
#include <cstdint>
#include <vector>

namespace warmpool {

// Advises huge pages for the whole 2 MiB pages inside [data, data + bytes), which nothing should
// have touched yet. Small ranges (under 4 MiB) are left alone: they would gain little.
inline void advise_huge_pages(void* data, std::size_t bytes) {
    constexpr std::uintptr_t kHugePage = std::uintptr_t{2} << 20;
    if (data == nullptr || bytes < 2 * kHugePage) return;
    const auto begin = reinterpret_cast<std::uintptr_t>(data);
    const std::uintptr_t first = (begin + kHugePage - 1) & ~(kHugePage - 1);
    const std::uintptr_t last = (begin + bytes) & ~(kHugePage - 1);
    if (last <= first) return;
    // Failure (EINVAL where THP is compiled out) leaves ordinary pages, which is what we had.
    (void)::madvise(reinterpret_cast<void*>(first), last - first, MADV_HUGEPAGE);
}

// A vector of `count` value-initialised elements whose storage was advised before being touched.
template <class T>
std::vector<T> make_large_vector(std::size_t count) {
    std::vector<T> v;
    v.reserve(count);
    advise_huge_pages(v.data(), count * sizeof(T));
    v.resize(count);
    return v;
}

}  // namespace warmpool
