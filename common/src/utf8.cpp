#include "warmpool/common/utf8.hpp"

namespace warmpool {

namespace {

constexpr std::string_view kReplacement = "\xef\xbf\xbd";  // U+FFFD

// The length of the well-formed sequence that starts at text[i], or 0 if none does; `*seen` is
// how many bytes of it were looked at before it went wrong (at least 1): the maximal subpart.
std::size_t sequence_length(std::string_view text, std::size_t i, std::size_t* seen) {
    const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(text[k]); };
    const unsigned char lead = byte(i);
    *seen = 1;
    if (lead < 0x80) return 1;
    std::size_t length;
    unsigned char low = 0x80, high = 0xbf;  // bounds of the second byte
    if (lead >= 0xc2 && lead <= 0xdf) {
        length = 2;
    } else if (lead >= 0xe0 && lead <= 0xef) {
        length = 3;
        if (lead == 0xe0) low = 0xa0;   // overlong
        if (lead == 0xed) high = 0x9f;  // surrogates
    } else if (lead >= 0xf0 && lead <= 0xf4) {
        length = 4;
        if (lead == 0xf0) low = 0x90;   // overlong
        if (lead == 0xf4) high = 0x8f;  // above U+10FFFF
    } else {
        return 0;
    }
    for (std::size_t k = 1; k < length; ++k) {
        if (i + k >= text.size()) return 0;
        const unsigned char b = byte(i + k);
        const unsigned char lo = k == 1 ? low : 0x80, hi = k == 1 ? high : 0xbf;
        if (b < lo || b > hi) return 0;
        *seen = k + 1;
    }
    return length;
}

}  // namespace

bool is_valid_utf8(std::string_view text) {
    for (std::size_t i = 0, seen = 0; i < text.size();) {
        const std::size_t length = sequence_length(text, i, &seen);
        if (length == 0) return false;
        i += length;
    }
    return true;
}

std::string valid_utf8(std::string_view text, std::size_t max_bytes) {
    std::string out;
    out.reserve(text.size() < max_bytes ? text.size() : max_bytes);
    for (std::size_t i = 0, seen = 0; i < text.size();) {
        const std::size_t length = sequence_length(text, i, &seen);
        const std::string_view piece = length > 0 ? text.substr(i, length) : kReplacement;
        if (out.size() + piece.size() > max_bytes) break;
        out += piece;
        i += length > 0 ? length : seen;
    }
    return out;
}

}  // namespace warmpool
