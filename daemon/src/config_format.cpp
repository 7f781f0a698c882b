// Printing settings back: one setting's value as the command line writes it (format_setting,
// for --help's defaults), and the whole configuration as a TOML document that apply_config_text
// reads back unchanged (format_config, for --print-config).
#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <string>
#include <type_traits>

#include "warmpool/daemon/config_file.hpp"

namespace warmpool {

namespace {

using Kind = Setting::Kind;

// The shortest text that reads back as the same double.
std::string format_seconds(double value) {
    char text[64];
    const auto [end, ec] = std::to_chars(text, text + sizeof text, value);
    return ec == std::errc() ? std::string(text, end) : std::to_string(value);
}

std::string toml_float(double value) {
    if (std::isnan(value)) return "nan";
    if (std::isinf(value)) return value < 0 ? "-inf" : "inf";
    std::string text = format_seconds(value);
    if (text.find_first_of(".e") == std::string::npos) text += ".0";
    return text;
}

// A TOML basic string.
std::string toml_string(std::string_view value) {
    std::string out = "\"";
    for (const char c : value) {
        const auto u = static_cast<unsigned char>(c);
        if (c == '"' || c == '\\') {
            out += '\\';
            out += c;
        } else if (u < 0x20 || u == 0x7f) {
            char escape[8];
            std::snprintf(escape, sizeof escape, "\\u%04x", u);
            out += escape;
        } else {
            out += c;
        }
    }
    return out + "\"";
}

// A key, bare if it can be.
std::string toml_key(std::string_view key) {
    const bool bare = !key.empty() && std::all_of(key.begin(), key.end(), [](char c) {
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
               c == '_' || c == '-';
    });
    return bare ? std::string(key) : toml_string(key);
}

}  // namespace

std::string format_setting(const PoolConfig& config, const Setting& s) {
    return std::visit(
        [&](auto field) -> std::string {
            const auto& value = config.*field;
            using T = std::decay_t<decltype(value)>;
            if constexpr (std::is_same_v<T, std::string>) {
                return value;
            } else if constexpr (std::is_same_v<T, bool>) {
                return value ? "true" : "false";
            } else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
                std::string text;
                for (const auto& v : value) text += (text.empty() ? "" : ",") + v;
                return text;
            } else if constexpr (std::is_same_v<T, double>) {
                return format_seconds(value);
            } else {
                if (s.kind == Kind::size) return format_size(value);
                if (s.kind == Kind::mode) {
                    char text[16];
                    std::snprintf(text, sizeof text, "%04o", static_cast<unsigned>(value));
                    return text;
                }
                return std::to_string(value);
            }
        },
        s.field);
}

std::string format_config(const PoolConfig& config) {
    std::string out;
    std::string_view section;
    for (const Setting& s : settings()) {
        const std::size_t dot = s.key.find('.');
        const std::string_view this_section =
            dot == std::string_view::npos ? "" : s.key.substr(0, dot);
        if (this_section != section) {
            section = this_section;
            out += "\n[" + std::string(section) + "]\n";
        }
        out += std::string(s.key.substr(dot == std::string_view::npos ? 0 : dot + 1)) + " = ";
        std::visit(
            [&](auto field) {
                const auto& value = config.*field;
                using T = std::decay_t<decltype(value)>;
                if constexpr (std::is_same_v<T, std::string>) {
                    out += toml_string(value);
                } else if constexpr (std::is_same_v<T, bool>) {
                    out += value ? "true" : "false";
                } else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
                    out += "[";
                    for (std::size_t i = 0; i < value.size(); ++i)
                        out += (i ? ", " : "") + toml_string(value[i]);
                    out += "]";
                } else if constexpr (std::is_same_v<T, double>) {
                    out += toml_float(value);
                } else if (s.kind == Kind::mode ||
                           (s.kind == Kind::size && format_size(value) != std::to_string(value))) {
                    out += toml_string(format_setting(config, s));
                } else {
                    out += std::to_string(value);
                }
            },
            s.field);
        out += "\n";
    }
    for (const auto& [name, f] : config.functions) {
        out += "\n[functions." + toml_key(name) + "]\n";
        if (f.timeout_s >= 0) out += "timeout = " + toml_float(f.timeout_s) + "\n";
        out += "retries = " + std::to_string(f.retries) + "\n";
    }
    return out;
}

}  // namespace warmpool
