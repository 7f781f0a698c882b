// did_you_mean: did_you_mean.hpp.
#include "warmpool/common/did_you_mean.hpp"

#include <algorithm>

namespace warmpool {

namespace {

// Levenshtein distance.
std::size_t edit_distance(std::string_view a, std::string_view b) {
    std::vector<std::size_t> row(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
        std::size_t diagonal = row[0];
        row[0] = i;
        for (std::size_t j = 1; j <= b.size(); ++j) {
            const std::size_t above = row[j];
            row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] != b[j - 1])});
            diagonal = above;
        }
    }
    return row[b.size()];
}

}  // namespace

std::string did_you_mean(std::string_view word, const std::vector<std::string>& known) {
    std::string best;
    std::size_t best_distance = word.size() >= 5 ? 4 : 3;  // suggest only close matches
    for (const auto& candidate : known) {
        const std::size_t d = edit_distance(word, candidate);
        // Not more edits than about half the word: "verbos" is no misspelt "error".
        if (d < best_distance && d <= candidate.size() / 2) {
            best_distance = d;
            best = candidate;
        }
    }
    return best.empty() ? std::string() : " (did you mean '" + best + "'?)";
}

}  // namespace warmpool
