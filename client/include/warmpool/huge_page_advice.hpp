// Huge-page advice for large buffers the client library fills, such as map()'s results.
//
// Touching fresh memory costs one page fault per 4 KiB page, and on virtual machines each fault
// can cost tens of microseconds: filling the 80 MB result vector of a 10-million-item map took
// longer than running the jobs. Asking for transparent huge pages first turns 512 of those faults
// into one. Advice only: where huge pages are disabled or unavailable nothing changes.
#pragma once

#include <cstddef>
#include <vector>

namespace warmpool {

// Advises huge pages for the whole 2 MiB pages inside [data, data + bytes) that nothing has
// touched yet. Small ranges (under 4 MiB) are left alone: they would gain nothing.
void advise_huge_pages(void* data, std::size_t bytes);

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
