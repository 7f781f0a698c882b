// The byte layout of a pickle envelope (client/python/warmpool/_codec.py holds the format):
// a head (header, buffer table and pickle stream, padded so that the first buffer starts right
// after it), then each out-of-band buffer at the next multiple of 64 after what precedes it.
//
// The one C++ writer of that layout, used by the Python client's extension (arguments, straight
// into shared memory) and by a worker hosting Python (results). Touches no Python object: callers
// hold the buffers and may run it without the GIL.
#pragma once

#include <cstddef>
#include <cstring>
#include <span>

#include "warmpool/common/large_copy.hpp"

namespace warmpool {

inline constexpr std::size_t kEnvelopeAlign = 64;  // _codec.ALIGN

constexpr std::size_t envelope_align(std::size_t n) { return (n + kEnvelopeAlign - 1) / kEnvelopeAlign * kEnvelopeAlign; }

// The payload's size for a head of `head_bytes` followed by `buffers`.
inline std::size_t envelope_bytes(std::size_t head_bytes, std::span<const std::span<const std::byte>> buffers) {
    std::size_t total = head_bytes;
    for (std::size_t i = 0; i < buffers.size(); ++i) {
        if (i > 0) total = envelope_align(total);
        total += buffers[i].size();
    }
    return total;
}

// Writes the head and the buffers to `out`, which has envelope_bytes() of room; the padding is
// zeroed.
inline void write_envelope(std::byte* out, std::span<const std::byte> head,
                           std::span<const std::span<const std::byte>> buffers) {
    std::size_t at = head.size();
    if (!head.empty()) std::memcpy(out, head.data(), head.size());
    for (std::size_t i = 0; i < buffers.size(); ++i) {
        if (i > 0) {
            const std::size_t next = envelope_align(at);
            std::memset(out + at, 0, next - at);
            at = next;
        }
        copy_large(out + at, buffers[i].data(), buffers[i].size());
        at += buffers[i].size();
    }
}

}  // namespace warmpool
