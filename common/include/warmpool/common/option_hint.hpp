// misspelt_option_hint: the did-you-mean for an option a command line misspelt, for the programs
// that parse theirs with CLI11 (warmpoold, warmpool). `App` is CLI::App: a template, so that
// common/ itself needs no CLI11.
#pragma once

#include <string>
#include <vector>

#include "warmpool/common/did_you_mean.hpp"

namespace warmpool {

namespace option_hint_detail {

template <class App>
void option_names(const App& app, std::vector<std::string>& names) {
    for (const auto* option : app.get_options()) {
        for (const auto& name : option->get_lnames()) names.push_back("--" + name);
    }
    for (const auto* sub : app.get_subcommands([](const App*) { return true; })) option_names(*sub, names);
}

template <class App>
void unexpected_words(const App& app, std::vector<std::string>& words) {
    for (auto& word : app.remaining()) words.push_back(std::move(word));
    for (const auto* sub : app.get_subcommands([](const App*) { return true; })) unexpected_words(*sub, words);
}

}  // namespace option_hint_detail

// After a parse error of `app`: "'--wokers' is not an option (did you mean '--workers'?)" for the
// first word it or a subcommand did not expect that looks like a misspelt option of theirs; else
// empty.
template <class App>
std::string misspelt_option_hint(const App& app) {
    std::vector<std::string> names, unexpected;
    option_hint_detail::option_names(app, names);
    option_hint_detail::unexpected_words(app, unexpected);
    for (const auto& word : unexpected) {
        if (!word.starts_with("--")) continue;
        const std::string option = word.substr(0, word.find('='));
        if (auto hint = did_you_mean(option, names); !hint.empty()) return "'" + option + "' is not an option" + hint;
    }
    return {};
}

}  // namespace warmpool
