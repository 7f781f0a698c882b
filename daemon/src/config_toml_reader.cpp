// Reading a pool's TOML document into a PoolConfig (apply_config_text, apply_config_file): every
// key is checked against the settings table (a misspelt one gets a suggestion), every value
// against its setting's kind, and each error names the file, the line and the key. A document
// is applied all or nothing.
#include <fcntl.h>
#include <toml++/toml.h>
#include <unistd.h>

#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include "config_setting_store.hpp"
#include "warmpool/common/did_you_mean.hpp"
#include "warmpool/daemon/config_file.hpp"

namespace warmpool {

namespace {

using Kind = Setting::Kind;
using setting_store::find_setting;
using setting_store::invalid;
using setting_store::kFunctionKeys;
using setting_store::kMaxRetries;
using setting_store::store_double;
using setting_store::store_text;
using setting_store::store_unsigned;

constexpr std::size_t kMaxFileBytes = 1u << 20;

std::string_view kind_name(Kind kind) {
    switch (kind) {
        case Kind::text:
            return "a string";
        case Kind::count:
            return "a whole number";
        case Kind::size:
            return "a size (a whole number of bytes, or a string such as \"64KiB\")";
        case Kind::seconds:
            return "a number of seconds";
        case Kind::fraction:
            return "a number";
        case Kind::mode:
            return "an octal mode string such as \"0660\"";
        case Kind::list:
            return "an array of strings";
        case Kind::flag:
            return "true or false";
    }
    return "a value";
}

std::string_view type_name(toml::node_type type) {
    switch (type) {
        case toml::node_type::table:
            return "a table";
        case toml::node_type::array:
            return "an array";
        case toml::node_type::string:
            return "a string";
        case toml::node_type::integer:
            return "an integer";
        case toml::node_type::floating_point:
            return "a float";
        case toml::node_type::boolean:
            return "a boolean";
        case toml::node_type::date:
            return "a date";
        case toml::node_type::time:
            return "a time";
        case toml::node_type::date_time:
            return "a date-time";
        case toml::node_type::none:
            break;
    }
    return "nothing";
}

// Stores a TOML value as the value of `s`. The error says what is wrong with the value; the
// caller adds where it is.
Status store_node(const Setting& s, const toml::node& node, PoolConfig& config) {
    const auto wrong_type = [&] {
        return invalid("must be " + std::string(kind_name(s.kind)) + ", not " +
                       std::string(type_name(node.type())));
    };
    switch (s.kind) {
        case Kind::text:
            if (!node.is_string()) return wrong_type();
            return store_text(s, node.as_string()->get(), config);
        case Kind::list: {
            const toml::array* array = node.as_array();
            if (array == nullptr) return wrong_type();
            std::vector<std::string> values;
            for (const toml::node& element : *array) {
                if (!element.is_string()) {
                    return invalid("must be an array of strings, but holds " +
                                   std::string(type_name(element.type())));
                }
                values.push_back(element.as_string()->get());
            }
            config.*std::get<std::vector<std::string> PoolConfig::*>(s.field) = std::move(values);
            return {};
        }
        case Kind::flag:
            if (!node.is_boolean()) return wrong_type();
            config.*std::get<bool PoolConfig::*>(s.field) = node.as_boolean()->get();
            return {};
        case Kind::count:
        case Kind::size:
        case Kind::mode:
            if (node.is_integer()) {
                const std::int64_t value = node.as_integer()->get();
                if (value < 0) return invalid("must not be negative");
                return store_unsigned(s, static_cast<std::uint64_t>(value), config);
            }
            if (s.kind != Kind::count && node.is_string()) {
                return store_text(s, node.as_string()->get(), config);
            }
            return wrong_type();
        case Kind::seconds:
        case Kind::fraction:
            if (node.is_floating_point())
                return store_double(s, node.as_floating_point()->get(), config);
            if (node.is_integer())
                return store_double(s, static_cast<double>(node.as_integer()->get()), config);
            return wrong_type();
    }
    return wrong_type();
}

// ---- per-function settings ----

Status store_function_setting(FunctionConfig& f, std::string_view key, const toml::node& node) {
    if (key == "timeout") {
        double value = 0;
        if (node.is_floating_point()) {
            value = node.as_floating_point()->get();
        } else if (node.is_integer()) {
            value = static_cast<double>(node.as_integer()->get());
        } else {
            return invalid("must be a number of seconds, not " +
                           std::string(type_name(node.type())));
        }
        if (value < 0) return invalid("must not be negative (leave it out for the pool's default)");
        f.timeout_s = value;
        return {};
    }
    if (!node.is_integer()) {
        return invalid("must be a whole number, not " + std::string(type_name(node.type())));
    }
    const std::int64_t value = node.as_integer()->get();
    if (value < 0) return invalid("must not be negative");
    if (value > kMaxRetries) return invalid("must be at most " + std::to_string(kMaxRetries));
    f.retries = static_cast<unsigned>(value);
    return {};
}

// ---- the TOML document ----

std::string where(const std::string& source, const toml::source_region& region) {
    std::string text = source.empty() ? std::string("<config>") : source;
    if (region.begin.line != 0) text += ":" + std::to_string(region.begin.line);
    return text;
}

class DocumentReader {
public:
    DocumentReader(const std::string& source, PoolConfig& config)
        : source_(source), config_(config) {}

    Status read(const toml::table& root) { return read_table(root, ""); }

private:
    SysError error_at(const toml::source_region& region, std::string_view key,
                      const std::string& what) {
        return invalid(where(source_, region) + ": '" + std::string(key) + "' " + what);
    }

    // Keys of `section` ("" for the top level, "limits", ...) as written in it.
    static std::vector<std::string> known_keys(std::string_view section) {
        std::vector<std::string> keys;
        std::set<std::string, std::less<>> seen;
        for (const Setting& s : settings()) {
            std::string_view key = s.key;
            if (!section.empty()) {
                if (!key.starts_with(section) || key.size() <= section.size() ||
                    key[section.size()] != '.')
                    continue;
                key.remove_prefix(section.size() + 1);
            }
            const std::string_view first = key.substr(0, key.find('.'));
            if (seen.emplace(first).second) keys.emplace_back(first);
        }
        if (section.empty()) keys.emplace_back("functions");
        return keys;
    }

    Status read_table(const toml::table& table, std::string_view section) {
        for (auto&& [key, node] : table) {
            const std::string full = section.empty()
                                         ? std::string(key.str())
                                         : std::string(section) + "." + std::string(key.str());
            if (full == "functions") {
                if (auto st = read_functions(node, key); !st) return st;
                continue;
            }
            if (const Setting* s = find_setting(full)) {
                if (auto st = store_node(*s, node, config_); !st) {
                    return error_at(node.source(), full, st.error().context);
                }
                continue;
            }
            const auto known = known_keys(section);
            if (std::find(known.begin(), known.end(), key.str()) != known.end()) {
                // A section written as something else than a table.
                if (!node.is_table()) {
                    return error_at(node.source(), full,
                                    "must be a table ([" + full + "]), not " +
                                        std::string(type_name(node.type())));
                }
                if (auto st = read_table(*node.as_table(), full); !st) return st;
                continue;
            }
            return error_at(key.source(), full,
                            "is not a known setting" + did_you_mean(key.str(), known));
        }
        if (section == "scaling") return check_scaling_pairs(table);
        return {};
    }

    // A pair of [scaling] settings that contradict each other in the file, named with the line
    // of the later one (the whole configuration is checked again once everything is applied).
    Status check_scaling_pairs(const toml::table& table) {
        struct Pair {
            std::string_view low, high;
            unsigned PoolConfig::*low_field;
            unsigned PoolConfig::*high_field;
            bool high_zero_is_default;
        };
        const Pair pairs[] = {
            {"min_workers", "max_workers", &PoolConfig::min_workers, &PoolConfig::max_workers, true},
            {"min_spare", "max_spare", &PoolConfig::min_spare, &PoolConfig::max_spare, false},
        };
        for (const Pair& p : pairs) {
            const toml::node* low = table.get(p.low);
            const toml::node* high = table.get(p.high);
            if (low == nullptr || high == nullptr) continue;
            const unsigned low_value = config_.*p.low_field;
            const unsigned high_value = config_.*p.high_field;
            if (low_value <= high_value || (p.high_zero_is_default && high_value == 0)) continue;
            const bool low_later = low->source().begin.line > high->source().begin.line;
            const std::string low_key = "scaling." + std::string(p.low);
            const std::string high_key = "scaling." + std::string(p.high);
            if (low_later) {
                return error_at(low->source(), low_key,
                                std::to_string(low_value) + " is more than '" + high_key + "' " +
                                    std::to_string(high_value));
            }
            return error_at(high->source(), high_key,
                            std::to_string(high_value) + " is less than '" + low_key + "' " +
                                std::to_string(low_value));
        }
        return {};
    }

    Status read_functions(const toml::node& node, const toml::key& key) {
        const toml::table* functions = node.as_table();
        if (functions == nullptr) {
            return error_at(key.source(), "functions",
                            "must be a table of [functions.NAME] sections, not " +
                                std::string(type_name(node.type())));
        }
        for (auto&& [name, settings] : *functions) {
            const std::string full = "functions." + std::string(name.str());
            const toml::table* table = settings.as_table();
            if (table == nullptr) {
                return error_at(settings.source(), full,
                                "must be a table ([" + full + "]) with timeout and retries, not " +
                                    std::string(type_name(settings.type())));
            }
            FunctionConfig& f = config_.functions[std::string(name.str())];
            for (auto&& [setting, value] : *table) {
                const std::string setting_key = full + "." + std::string(setting.str());
                if (std::find(kFunctionKeys.begin(), kFunctionKeys.end(), setting.str()) ==
                    kFunctionKeys.end()) {
                    return error_at(setting.source(), setting_key,
                                    "is not a known setting" +
                                        did_you_mean(setting.str(),
                                                   {kFunctionKeys.begin(), kFunctionKeys.end()}));
                }
                if (auto st = store_function_setting(f, setting.str(), value); !st) {
                    return error_at(value.source(), setting_key, st.error().context);
                }
            }
        }
        return {};
    }

    const std::string& source_;
    PoolConfig& config_;
};

Result<std::string> read_small_file(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return errno_error("cannot open config file " + path);
    std::string text;
    char buffer[16384];
    for (;;) {
        const ssize_t n = ::read(fd, buffer, sizeof buffer);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            const int err = errno;
            ::close(fd);
            return errno_error("cannot read config file " + path, err);
        }
        if (n == 0) break;
        text.append(buffer, static_cast<std::size_t>(n));
        if (text.size() > kMaxFileBytes) {
            ::close(fd);
            return invalid("config file " + path + " is larger than 1 MiB");
        }
    }
    ::close(fd);
    return text;
}

}  // namespace

Status apply_config_text(std::string_view text, const std::string& source, PoolConfig& config) {
    toml::table root;
    try {
        root = toml::parse(text, source);
    } catch (const toml::parse_error& e) {
        const auto& at = e.source().begin;
        return invalid(where(source, e.source()) +
                       (at.column != 0 ? ":" + std::to_string(at.column) : "") + ": " +
                       std::string(e.description()));
    }
    PoolConfig updated = config;  // all or nothing
    if (auto st = DocumentReader(source, updated).read(root); !st) return st;
    config = std::move(updated);
    return {};
}

Status apply_config_file(const std::string& path, PoolConfig& config) {
    auto text = read_small_file(path);
    if (!text) return text.error();
    if (auto st = apply_config_text(*text, path, config); !st) return st;
    config.config_file = path;
    return {};
}

}  // namespace warmpool
