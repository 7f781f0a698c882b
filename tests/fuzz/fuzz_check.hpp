// What the fuzz targets share: a check that survives release builds, and a reader of the fuzzer's
// bytes that runs dry into zeros rather than failing, so every input means something.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>
#include <type_traits>

// A broken invariant is a crash for libFuzzer to report, whatever the build type: assert() would
// vanish under NDEBUG.
#define FUZZ_CHECK(condition)                                                                  \
    do {                                                                                       \
        if (!(condition)) {                                                                    \
            std::fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #condition); \
            std::abort();                                                                      \
        }                                                                                      \
    } while (0)

namespace warmpool::fuzz {

class ByteReader {
public:
    ByteReader(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}

    template <class T>
    T take() {
        static_assert(std::is_trivially_copyable_v<T>);
        T value{};
        const std::size_t n = sizeof value < left() ? sizeof value : left();
        if (n != 0) std::memcpy(&value, data_ + at_, n);
        at_ += n;
        return value;
    }

    // Up to `n` bytes, fewer if the input ends first.
    std::string_view bytes(std::size_t n) {
        if (n > left()) n = left();
        std::string_view out(reinterpret_cast<const char*>(data_ + at_), n);
        at_ += n;
        return out;
    }

    std::string_view rest() { return bytes(left()); }
    std::size_t left() const { return size_ - at_; }
    bool empty() const { return at_ == size_; }

private:
    const std::uint8_t* data_;
    std::size_t size_;
    std::size_t at_ = 0;
};

}  // namespace warmpool::fuzz
