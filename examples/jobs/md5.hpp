// Md5: a small, self-contained MD5 (RFC 1321) hasher, so the example workloads need no crypto
// library. MD5 is broken as a cryptographic hash; it is here only because the classic
// benchmark this example reproduces is defined in terms of it.
//
// The object is a running state, like Python's hashlib.md5(): update() feeds more bytes, and
// digest()/hexdigest() finalise a copy, so the running state can keep absorbing input after a
// digest is read. A value type with no heap storage; not safe for concurrent use of one object.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace warmpool::examples {

class Md5 {
  public:
    using Digest = std::array<std::uint8_t, 16>;
    // Lowercase hex of a digest, without a terminating NUL.
    using HexDigest = std::array<char, 32>;

    void update(const void* data, std::size_t size);
    void update(std::string_view text) { update(text.data(), text.size()); }

    // The digest of everything fed so far; the running state is left untouched.
    Digest digest() const;
    // The same digest as lowercase hex, in a fixed-size buffer: hot loops use this to avoid
    // allocating a string per digest.
    HexDigest hex() const;
    std::string hexdigest() const;

  private:
    void compress(const std::uint8_t* block);

    std::array<std::uint32_t, 4> state_{0x67452301u, 0xefcdab89u, 0x98badcfeu, 0x10325476u};
    std::array<std::uint8_t, 64> buffer_{};
    std::uint64_t total_bytes_ = 0;  // its low 6 bits give how much of buffer_ is filled
};

}  // namespace warmpool::examples
