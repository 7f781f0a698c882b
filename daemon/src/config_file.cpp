// The settings table (every key, its flag, its kind and its PoolConfig field), values written as
// text (counts, sizes with units, seconds, octal modes), the command-line overrides, and
// ConfigSource::load, which layers defaults, the file and the overrides. Reading the TOML
// document is config_toml_reader.cpp's; printing settings back is config_format.cpp's.
#include "warmpool/daemon/config_file.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <limits>
#include <set>

#include "config_setting_store.hpp"
#include "warmpool/common/did_you_mean.hpp"

namespace warmpool {

namespace {

using Kind = Setting::Kind;
using setting_store::find_setting;
using setting_store::invalid;
using setting_store::kFunctionKeys;
using setting_store::kMaxRetries;
using setting_store::store_text;

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
    Setting{"preload", "--preload", Kind::flag, &PoolConfig::preload,
            "Run the job library's shared set-up once, in a zygote that forks the workers"},

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

    Setting{"scaling.mode", "--scaling", Kind::text, &PoolConfig::scaling_mode,
            "static (workers, always), dynamic (min_workers..max_workers, keeping spares idle) or ondemand"},
    Setting{"scaling.min_workers", "--min-workers", Kind::count, &PoolConfig::min_workers,
            "dynamic: fewest workers (ondemand: 0)"},
    Setting{"scaling.max_workers", "--max-workers", Kind::count, &PoolConfig::max_workers,
            "Most workers at once (0: workers); static: the most `warmpool scale` may ask for"},
    Setting{"scaling.min_spare", "--min-spare", Kind::count, &PoolConfig::min_spare,
            "dynamic: start workers while fewer are idle"},
    Setting{"scaling.max_spare", "--max-spare", Kind::count, &PoolConfig::max_spare,
            "dynamic: retire idle workers beyond this many"},
    Setting{"scaling.spawn_rate", "--spawn-rate", Kind::count, &PoolConfig::spawn_rate,
            "dynamic, ondemand: most workers started per second (1..1024)"},
    Setting{"scaling.idle_timeout", "--idle-timeout", Kind::seconds, &PoolConfig::idle_timeout_s,
            "dynamic, ondemand: seconds a worker is idle before it may retire"},

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

struct Unit {
    std::string_view name;
    unsigned shift;
};
constexpr std::array<Unit, 5> kUnits = {Unit{"TiB", 40}, Unit{"GiB", 30}, Unit{"MiB", 20},
                                        Unit{"KiB", 10}, Unit{"B", 0}};

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

// ---- the command line: per-function settings, overrides ----

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

// Why `text` cannot be the value of a setting that takes one of a few words; empty if it can.
std::string unknown_choice(std::string PoolConfig::*field, std::string_view text) {
    std::vector<std::string> choices;
    if (field == &PoolConfig::log_level) {
        choices = {"trace", "debug", "info", "warn", "error", "critical", "off"};
    } else if (field == &PoolConfig::cpu_affinity) {
        choices = {"none", "spread"};
    } else if (field == &PoolConfig::scaling_mode) {
        choices = {"static", "dynamic", "ondemand"};
    } else {
        return {};
    }
    if (std::find(choices.begin(), choices.end(), text) != choices.end()) return {};
    std::string list;
    for (const auto& c : choices) list += (list.empty() ? "" : ", ") + c;
    return "'" + std::string(text) + "' is not one of " + list + did_you_mean(text, choices);
}

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

}  // namespace

// ---- storing a value into its field ----

SysError setting_store::invalid(std::string what) {
    return make_error(SysError::Code::invalid, std::move(what));
}

const Setting* setting_store::find_setting(std::string_view key) {
    for (const Setting& s : kSettings) {
        if (s.key == key) return &s;
    }
    return nullptr;
}

Status setting_store::store_unsigned(const Setting& s, std::uint64_t value, PoolConfig& config) {
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

Status setting_store::store_double(const Setting& s, double value, PoolConfig& config) {
    if (s.kind == Kind::seconds && value < 0) return invalid("must not be negative");
    config.*std::get<double PoolConfig::*>(s.field) = value;
    return {};
}

Status setting_store::store_text(const Setting& s, std::string_view text, PoolConfig& config) {
    switch (s.kind) {
        case Kind::text: {
            const auto field = std::get<std::string PoolConfig::*>(s.field);
            if (auto why = unknown_choice(field, text); !why.empty()) return invalid(why);
            config.*field = text;
            return {};
        }
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

// ---- the public face ----

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

Status apply_overrides(const std::vector<Override>& overrides, PoolConfig& config) {
    std::set<std::string, std::less<>> cleared;
    for (const Override& o : overrides) {
        if (auto st = apply_override(o, cleared, config); !st) return st;
    }
    return {};
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
