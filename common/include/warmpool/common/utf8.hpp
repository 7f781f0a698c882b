// UTF-8 validity for text a peer chooses (client names, function names, error messages) before
// it reaches JSON or a log: the status report is JSON, and JSON text must be valid UTF-8.
// Pure functions; anyone may call them.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace warmpool {

// Whether `text` is well-formed UTF-8 (no overlong forms, no surrogates, nothing above U+10FFFF).
bool is_valid_utf8(std::string_view text);

// `text` with each ill-formed part replaced by U+FFFD (one per maximal ill-formed subpart, as
// Unicode recommends), cut to at most `max_bytes` bytes without splitting a character.
std::string valid_utf8(std::string_view text, std::size_t max_bytes = std::string::npos);

}  // namespace warmpool
