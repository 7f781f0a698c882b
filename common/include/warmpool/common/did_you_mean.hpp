// did_you_mean: the hint for a name a user misspelt (a config key, an option, a function).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace warmpool {

// " (did you mean 'X'?)" with the one of `known` closest to `word` by edit distance, if it is
// close enough to be a misspelling (fewer than 3 or 4 edits, and no more than half of X); else
// empty.
std::string did_you_mean(std::string_view word, const std::vector<std::string>& known);

}  // namespace warmpool
