#include "jobs/md5.hpp"

#include <cstring>
#include <utility>

namespace warmpool::examples {
namespace {

// Per-step left-rotation amounts, RFC 1321 section 3.4.
constexpr std::uint32_t kShift[64] = {
    7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22,  //
    5, 9,  14, 20, 5, 9,  14, 20, 5, 9,  14, 20, 5, 9,  14, 20,  //
    4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23,  //
    6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21,
};

// floor(abs(sin(i + 1)) * 2^32), RFC 1321 section 3.4; tabulated because the RFC defines the
// values, and computing them with floating point at startup could differ in the last bit.
constexpr std::uint32_t kSine[64] = {
    0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501,
    0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821,
    0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
    0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a,
    0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70,
    0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
    0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
    0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391,
};

constexpr std::uint32_t rotate_left(std::uint32_t x, std::uint32_t n) {
    return (x << n) | (x >> (32 - n));
}

// MD5 is defined on little-endian words; assembling them byte by byte keeps this correct on
// any host without an endianness check.
std::uint32_t load_le32(const std::uint8_t* p) {
    return static_cast<std::uint32_t>(p[0]) | (static_cast<std::uint32_t>(p[1]) << 8) |
           (static_cast<std::uint32_t>(p[2]) << 16) | (static_cast<std::uint32_t>(p[3]) << 24);
}

// One of the 64 steps of RFC 1321 section 3.4. Step I is a template so that, fully unrolled, its
// round function, message index and rotation are all compile-time constants.
template <std::uint32_t I>
inline void md5_step(std::uint32_t& a, std::uint32_t b, std::uint32_t c, std::uint32_t d,
                     const std::uint32_t* m) {
    std::uint32_t f;
    std::uint32_t g;
    if constexpr (I < 16) {
        f = d ^ (b & (c ^ d));  // (b & c) | (~b & d)
        g = I;
    } else if constexpr (I < 32) {
        f = c ^ (d & (b ^ c));  // (d & b) | (~d & c)
        g = (5 * I + 1) % 16;
    } else if constexpr (I < 48) {
        f = b ^ c ^ d;
        g = (3 * I + 5) % 16;
    } else {
        f = c ^ (b | ~d);
        g = (7 * I) % 16;
    }
    a = b + rotate_left(a + f + kSine[I] + m[g], kShift[I]);
}

// The RFC rotates the roles (a, b, c, d) -> (d, a, b, c) after each step; passing the words
// in rotated order instead lets the unrolled code keep each word in one register.
template <std::uint32_t... I>
inline void md5_steps(std::uint32_t (&v)[4], const std::uint32_t* m,
                      std::integer_sequence<std::uint32_t, I...>) {
    ((md5_step<I>(v[(64 - I) % 4], v[(65 - I) % 4], v[(66 - I) % 4], v[(67 - I) % 4], m)), ...);
}

}  // namespace

void Md5::compress(const std::uint8_t* block) {
    std::uint32_t m[16];
    for (int i = 0; i < 16; ++i) m[i] = load_le32(block + 4 * i);

    std::uint32_t v[4] = {state_[0], state_[1], state_[2], state_[3]};
    md5_steps(v, m, std::make_integer_sequence<std::uint32_t, 64>{});
    for (int i = 0; i < 4; ++i) state_[i] += v[i];
}

void Md5::update(const void* data, std::size_t size) {
    const auto* bytes = static_cast<const std::uint8_t*>(data);
    std::size_t filled = static_cast<std::size_t>(total_bytes_ % 64);
    total_bytes_ += size;

    if (filled != 0) {
        const std::size_t take = size < 64 - filled ? size : 64 - filled;
        std::memcpy(buffer_.data() + filled, bytes, take);
        filled += take;
        bytes += take;
        size -= take;
        if (filled < 64) return;
        compress(buffer_.data());
    }
    for (; size >= 64; bytes += 64, size -= 64) compress(bytes);
    if (size != 0) std::memcpy(buffer_.data(), bytes, size);
}

Md5::Digest Md5::digest() const {
    Md5 tail = *this;
    const std::uint64_t bit_length = total_bytes_ * 8;

    // Pad with 0x80, then zeros up to 56 mod 64, then the message length in bits (LE 64-bit).
    static constexpr std::uint8_t kPadding[64] = {0x80};
    const std::size_t filled = static_cast<std::size_t>(total_bytes_ % 64);
    tail.update(kPadding, filled < 56 ? 56 - filled : 120 - filled);
    std::uint8_t length[8];
    for (int i = 0; i < 8; ++i) length[i] = static_cast<std::uint8_t>(bit_length >> (8 * i));
    tail.update(length, sizeof length);

    Digest out;
    for (int i = 0; i < 16; ++i) {
        out[i] = static_cast<std::uint8_t>(tail.state_[i / 4] >> (8 * (i % 4)));
    }
    return out;
}

Md5::HexDigest Md5::hex() const {
    static constexpr char kHexDigits[] = "0123456789abcdef";
    const Digest bytes = digest();
    HexDigest out;
    for (std::size_t i = 0; i < bytes.size(); ++i) {
        out[2 * i] = kHexDigits[bytes[i] >> 4];
        out[2 * i + 1] = kHexDigits[bytes[i] & 0x0f];
    }
    return out;
}

std::string Md5::hexdigest() const {
    const HexDigest text = hex();
    return std::string(text.data(), text.size());
}

}  // namespace warmpool::examples
