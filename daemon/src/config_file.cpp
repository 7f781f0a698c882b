#include "warmpool/daemon/config_file.hpp"

#include <fcntl.h>
#include <toml++/toml.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <limits>
#include <set>
#include <type_traits>

namespace warmpool {

namespace {

using Kind = Setting::Kind;

constexpr std::array kSettings = {
    Setting{"name", "-n,--name", Kind::text, &PoolConfig::name,
            "Pool name: 1-64 characters of [A-Za-z0-9_-]; names the sockets"},
    Setting{"workers", "-w,--workers", Kind::count, &PoolConfig::workers,
            "Worker processes (0: one per core)"},
    Setting{"jobs", "-j,--jobs", Kind::text, &PoolConfig::jobs_library,
            "Job library (.so) the workers load (empty: the bundled example jobs)"},
    Setting{"runtime_dir", "--runtime-dir", Kind::text, &PoolConfig::runtime_dir,
            "Directory for the sockets (empty: $WARMPOOL_RUNTIME_DIR, $XDG_RUNTIME_DIR/warmpool "
            "or /tmp/warmpool-$UID)"},
    Setting{"log_level", "-l,--log-level", Kind::text, &PoolConfig::log_level,
            "trace, debug, info, warn, error, critical, off"},
    Setting{"cpu_affinity", "--cpu-affinity", Kind::text, &PoolConfig::cpu_affinity,
            "none, or spread: pin each worker to a CPU of its own"},

    Setting{"limits.max_sessions", "--max-sessions", Kind::count, &PoolConfig::max_sessions,
            "Clients connected at once (1..4096)"},
    Setting{"limits.prefetch", "--prefetch", Kind::count, &PoolConfig::prefetch,
            "Short jobs queued per worker (1..1024)"},
    Setting{"limits.queue_capacity", "--queue-capacity", Kind::count, &PoolConfig::queue_capacity,
            "Jobs the dispatcher holds across sessions"},
    Setting{"limits.max_sessions_per_user", "--max-sessions-per-user", Kind::count,
            &PoolConfig::max_sessions_per_user, "Sessions one uid may hold at once (0: half of max_sessions)"},
    Setting{"limits.session_queue_capacity", "--session-queue-capacity", Kind::count,
            &PoolConfig::session_queue_capacity, "Jobs one session may have queued; more wait in its submit ring"},
    Setting{"limits.session_queue_bytes", "--session-queue-bytes", Kind::size, &PoolConfig::session_queue_bytes,
            "Payload bytes one session may have queued, e.g. 8MiB"},
    Setting{"limits.submit_ring", "--submit-ring", Kind::size, &PoolConfig::submit_ring_bytes,
            "Bytes of each session's submit ring (power of two, 4KiB..1GiB)"},
    Setting{"limits.control_ring", "--control-ring", Kind::size, &PoolConfig::control_ring_bytes,
            "Bytes of each session's control ring (power of two, 4KiB..1GiB)"},
    Setting{"limits.reply_ring", "--reply-ring", Kind::size, &PoolConfig::reply_ring_bytes,
            "Bytes of each (worker, session) reply ring (power of two, 4KiB..1GiB)"},
    Setting{"limits.inbox_ring", "--inbox-ring", Kind::size, &PoolConfig::inbox_ring_bytes,
            "Bytes of each worker's inbox ring (power of two, 4KiB..1GiB)"},
    Setting{"limits.inline_max", "--inline-max", Kind::size, &PoolConfig::inline_max,
            "Largest payload carried inside a ring; larger ones travel as blobs"},

    Setting{"access.socket_mode", "--socket-mode", Kind::mode, &PoolConfig::socket_mode,
            "Mode of sockets and client shared memory (octal, at most 0770)"},
    Setting{"access.group", "--group", Kind::text, &PoolConfig::group,
            "Group owning the sockets and client shared memory (empty: the daemon's)"},
    Setting{"access.allow_users", "--allow-user", Kind::list, &PoolConfig::allow_users,
            "Another user allowed to connect (repeatable)"},
    Setting{"access.allow_groups", "--allow-group", Kind::list, &PoolConfig::allow_groups,
            "A group whose members may connect (repeatable)"},

    Setting{"supervision.grace_period", "--grace-period", Kind::seconds,
            &PoolConfig::grace_period_s, "Seconds running jobs get to finish on stop (0..86400)"},
    Setting{"supervision.default_timeout", "--default-timeout", Kind::seconds,
            &PoolConfig::default_timeout_s,
            "Run-time limit in seconds of functions without their own (0: none)"},
    Setting{"supervision.kill_grace", "--kill-grace", Kind::seconds, &PoolConfig::kill_grace_s,
            "Seconds between SIGTERM and SIGKILL for a worker past its timeout (0..3600)"},
    Setting{"supervision.poison_threshold", "--poison-threshold", Kind::count,
            &PoolConfig::poison_threshold, "Crashes after which a job is never retried (>= 1)"},
    Setting{"supervision.max_jobs", "--max-jobs", Kind::count, &PoolConfig::max_jobs,
            "Recycle a worker after this many jobs (0: never)"},
    Setting{"supervision.max_jobs_jitter", "--max-jobs-jitter", Kind::fraction,
            &PoolConfig::max_jobs_jitter,
            "Vary max_jobs per worker by up to this fraction (0..0.5)"},
    Setting{"supervision.max_rss", "--max-rss", Kind::size, &PoolConfig::max_rss_bytes,
            "Recycle a worker whose resident memory passes this, e.g. 512MiB (0: never)"},

    Setting{"python.enabled", "--python", Kind::flag, &PoolConfig::python,
            "Host Python jobs: each worker embeds an interpreter (implied by a module or path)"},
    Setting{"python.modules", "--python-module", Kind::list, &PoolConfig::python_modules,
            "A Python module each worker imports; its @warmpool.job exports are jobs (repeatable)"},
    Setting{"python.path", "--python-path", Kind::list, &PoolConfig::python_path,
            "A directory prepended to the workers' sys.path (repeatable)"},
    Setting{"python.pickle", "--python-pickle", Kind::text, &PoolConfig::python_pickle,
            "Who may send pickle calls: owner (the daemon's uid and root), allowed (every peer), never"},
};

constexpr std::string_view kFunctionsPrefix = "functions.";
constexpr std::array<std::string_view, 2> kFunctionKeys = {"timeout", "retries"};
constexpr unsigned kMaxRetries = 100;
constexpr std::size_t kMaxFileBytes = 1u << 20;

struct Unit {
    std::string_view name;
    unsigned shift;
};
constexpr std::array<Unit, 5> kUnits = {Unit{"TiB", 40}, Unit{"GiB", 30}, Unit{"MiB", 20},
                                        Unit{"KiB", 10}, Unit{"B", 0}};

SysError invalid(std::string what) { return make_error(SysError::Code::invalid, std::move(what)); }

const Setting* find_setting(std::string_view key) {
    for (const Setting& s : kSettings) {
        if (s.key == key) return &s;
    }
    return nullptr;
}

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

// Levenshtein distance, for "did you mean" on unknown keys.
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

std::string suggestion(std::string_view key, const std::vector<std::string>& known) {
    std::string best;
    std::size_t best_distance = key.size() >= 5 ? 4 : 3;  // suggest only close matches
    for (const auto& candidate : known) {
        const std::size_t d = edit_distance(key, candidate);
        if (d < best_distance) {
            best_distance = d;
            best = candidate;
        }
    }
    return best.empty() ? std::string() : " (did you mean '" + best + "'?)";
}

// ---- values from text (the command line, and sizes and modes written as strings) ----

std::string_view trim(std::string_view text) {
    while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
    while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
    return text;
}

Result<std::uint64_t> parse_count(std::string_view text, int base = 10) {
    text = trim(text);
    std::uint64_t value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value, base);
    if (text.empty() || ec == std::errc::invalid_argument || end != text.data() + text.size()) {
        return invalid("'" + std::string(text) + "' is not a whole number" +
                       (base == 8 ? " in octal" : ""));
    }
    if (ec == std::errc::result_out_of_range)
        return invalid("'" + std::string(text) + "' is too large");
    return value;
}

Result<double> parse_number(std::string_view text) {
    text = trim(text);
    double value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || ec != std::errc() || end != text.data() + text.size()) {
        return invalid("'" + std::string(text) + "' is not a number");
    }
    return value;
}

// ---- storing a value into its field ----

Status store_unsigned(const Setting& s, std::uint64_t value, PoolConfig& config) {
    if (auto* f = std::get_if<unsigned PoolConfig::*>(&s.field)) {
        if (value > std::numeric_limits<unsigned>::max()) return invalid("is too large");
        config.*(*f) = static_cast<unsigned>(value);
    } else if (auto* g = std::get_if<std::uint64_t PoolConfig::*>(&s.field)) {
        config.*(*g) = value;
    } else {
        return invalid("has no whole-number field");  // a mistake in kSettings
    }
    return {};
}

Status store_double(const Setting& s, double value, PoolConfig& config) {
    if (s.kind == Kind::seconds && value < 0) return invalid("must not be negative");
    config.*std::get<double PoolConfig::*>(s.field) = value;
    return {};
}

// Stores `text` (from the command line) as the value of `s`; lists get one more element.
Status store_text(const Setting& s, std::string_view text, PoolConfig& config) {
    switch (s.kind) {
        case Kind::text:
            config.*std::get<std::string PoolConfig::*>(s.field) = text;
            return {};
        case Kind::list:
            (config.*std::get<std::vector<std::string> PoolConfig::*>(s.field)).emplace_back(text);
            return {};
        case Kind::flag: {
            const std::string_view value = trim(text);
            if (value != "true" && value != "false") {
                return invalid("'" + std::string(value) + "' is not true or false");
            }
            config.*std::get<bool PoolConfig::*>(s.field) = value == "true";
            return {};
        }
        case Kind::count: {
            auto value = parse_count(text);
            if (!value) return value.error();
            return store_unsigned(s, *value, config);
        }
        case Kind::size: {
            auto value = parse_size(text);
            if (!value) return value.error();
            return store_unsigned(s, *value, config);
        }
        case Kind::mode: {
            auto value = parse_count(text, 8);
            if (!value) return value.error();
            return store_unsigned(s, *value, config);
        }
        case Kind::seconds:
        case Kind::fraction: {
            auto value = parse_number(text);
            if (!value) return value.error();
            return store_double(s, *value, config);
        }
    }
    return invalid("has an unknown kind");
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

Status store_function_text(FunctionConfig& f, std::string_view key, std::string_view text) {
    if (key == "timeout") {
        auto value = parse_number(text);
        if (!value) return value.error();
        if (*value < 0) return invalid("must not be negative");
        f.timeout_s = *value;
        return {};
    }
    auto value = parse_count(text);
    if (!value) return value.error();
    if (*value > kMaxRetries) return invalid("must be at most " + std::to_string(kMaxRetries));
    f.retries = static_cast<unsigned>(*value);
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
        for (const Setting& s : kSettings) {
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
                            "is not a known setting" + suggestion(key.str(), known));
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
                                        suggestion(setting.str(),
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

// Where an override came from, for its error message: its flag instead of a line.
std::string describe_override(const Override& o) {
    if (const Setting* s = find_setting(o.key)) return std::string(s->long_flag());
    return "--function";
}

Status apply_override(const Override& o, std::set<std::string, std::less<>>& cleared,
                      PoolConfig& config) {
    const auto fail = [&](const SysError& e) {
        return invalid("command line " + describe_override(o) + " '" + o.value + "': " + o.key +
                       " " + e.context);
    };
    if (const Setting* s = find_setting(o.key)) {
        if (s->kind == Kind::list && cleared.insert(o.key).second) {
            (config.*std::get<std::vector<std::string> PoolConfig::*>(s->field)).clear();
        }
        if (auto st = store_text(*s, o.value, config); !st) return fail(st.error());
        return {};
    }
    if (o.key.starts_with(kFunctionsPrefix)) {
        const std::string_view rest = std::string_view(o.key).substr(kFunctionsPrefix.size());
        const std::size_t dot = rest.rfind('.');
        if (dot != std::string_view::npos) {
            const std::string_view name = rest.substr(0, dot);
            const std::string_view setting = rest.substr(dot + 1);
            if (std::find(kFunctionKeys.begin(), kFunctionKeys.end(), setting) !=
                kFunctionKeys.end()) {
                if (auto st =
                        store_function_text(config.functions[std::string(name)], setting, o.value);
                    !st) {
                    return fail(st.error());
                }
                return {};
            }
        }
    }
    return invalid("command line: '" + o.key + "' is not a known setting");
}

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

std::string_view Setting::long_flag() const {
    const std::size_t at = flags.find("--");
    return at == std::string_view::npos ? flags : flags.substr(at);
}

std::span<const Setting> settings() { return kSettings; }

Result<std::uint64_t> parse_size(std::string_view text) {
    const std::string_view original = trim(text);
    text = original;
    unsigned shift = 0;
    for (const Unit& unit : kUnits) {
        if (text.ends_with(unit.name)) {
            shift = unit.shift;
            text.remove_suffix(unit.name.size());
            break;
        }
    }
    text = trim(text);
    if (text.empty() ||
        !std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        return invalid(
            "'" + std::string(original) +
            "' is not a size: write a whole number with an optional unit B, KiB, MiB, GiB or TiB");
    }
    auto value = parse_count(text);
    if (!value) return value.error();
    if (*value > (std::numeric_limits<std::uint64_t>::max() >> shift)) {
        return invalid("'" + std::string(original) + "' is too large");
    }
    return *value << shift;
}

std::string format_size(std::uint64_t bytes) {
    for (const Unit& unit : kUnits) {
        const std::uint64_t mask = (std::uint64_t{1} << unit.shift) - 1;
        if (unit.shift != 0 && bytes != 0 && (bytes & mask) == 0) {
            return std::to_string(bytes >> unit.shift) + std::string(unit.name);
        }
    }
    return std::to_string(bytes);
}

Result<std::vector<Override>> parse_function_option(std::string_view spec) {
    const auto bad = [&](const std::string& why) {
        return invalid("--function '" + std::string(spec) + "': " + why +
                       " (write NAME:timeout=SECONDS,retries=N)");
    };
    const std::size_t colon = spec.rfind(':');
    if (colon == std::string_view::npos || colon == 0) return bad("no function name");
    const std::string name(spec.substr(0, colon));
    std::string_view rest = spec.substr(colon + 1);
    std::vector<Override> overrides;
    while (!rest.empty()) {
        const std::size_t comma = rest.find(',');
        const std::string_view item = rest.substr(0, comma);
        rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
        const std::size_t eq = item.find('=');
        if (eq == std::string_view::npos)
            return bad("'" + std::string(item) + "' is not KEY=VALUE");
        const std::string_view key = trim(item.substr(0, eq));
        if (std::find(kFunctionKeys.begin(), kFunctionKeys.end(), key) == kFunctionKeys.end()) {
            return bad("unknown setting '" + std::string(key) + "'");
        }
        overrides.push_back(
            {"functions." + name + "." + std::string(key), std::string(item.substr(eq + 1))});
    }
    if (overrides.empty()) return bad("no settings");
    return overrides;
}

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

Status apply_overrides(const std::vector<Override>& overrides, PoolConfig& config) {
    std::set<std::string, std::less<>> cleared;
    for (const Override& o : overrides) {
        if (auto st = apply_override(o, cleared, config); !st) return st;
    }
    return {};
}

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
    for (const Setting& s : kSettings) {
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

Result<PoolConfig> ConfigSource::load() const {
    PoolConfig config = defaults;
    config.config_file.clear();
    if (!file.empty()) {
        auto st = apply_config_file(file, config);
        const bool absent = !st && st.error().errno_value == ENOENT;
        if (!st && !(absent && file_optional)) return st.error();
    }
    // Range errors are found on the whole configuration; name the file when it alone is wrong.
    PoolConfig from_file = config;
    if (auto st = apply_overrides(overrides, config); !st) return st.error();
    if (config.jobs_library.empty()) config.jobs_library = defaults.jobs_library;
    if (auto st = config.finalise(); !st) {
        if (!config.config_file.empty()) {
            if (from_file.jobs_library.empty()) from_file.jobs_library = defaults.jobs_library;
            if (auto file_st = from_file.finalise();
                !file_st && file_st.error().context == st.error().context) {
                return invalid(config.config_file + ": " + st.error().context);
            }
        }
        return st.error();
    }
    return config;
}

}  // namespace warmpool
