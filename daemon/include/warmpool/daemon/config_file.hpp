// Config file and command-line settings of one pool (docs/CONFIG.md).
//
// Every PoolConfig setting has a dotted key ("workers", "limits.prefetch",
// "supervision.max_rss", "functions.NAME.timeout"): the same key names it in the pool's TOML
// file and in a command-line override. A ConfigSource produces a PoolConfig from its defaults,
// then the file, then the overrides (later wins), then PoolConfig::finalise(). Loading is a pure
// function of the source and the file's contents, so a ConfigSource can be loaded again on
// reload and from any thread.
//
// Errors are `invalid` SysErrors (a file that cannot be read keeps its errno) whose context
// names the file and line, or the command-line flag, and the key.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "warmpool/common/sys_result.hpp"
#include "warmpool/daemon/pool_config.hpp"

namespace warmpool {

// One setting: where it lives in PoolConfig, how its values are written, its names.
struct Setting {
    enum class Kind {
        text,      // a string
        count,     // a whole number >= 0
        size,      // bytes: a whole number, or a string with a unit ("64KiB", "2GiB")
        seconds,   // a number of seconds >= 0, fractions allowed
        fraction,  // a number, fractions allowed
        mode,      // octal permission bits: "0660" (or a TOML integer such as 0o660)
        list,      // strings; repeatable on the command line
        flag,      // true or false; on the command line a flag that sets it
    };
    using Field =
        std::variant<std::string PoolConfig::*, unsigned PoolConfig::*, std::uint64_t PoolConfig::*,
                     double PoolConfig::*, std::vector<std::string> PoolConfig::*, bool PoolConfig::*>;

    std::string_view key;    // "limits.prefetch"
    std::string_view flags;  // command-line names, as CLI11 takes them: "-w,--workers"
    Kind kind;
    Field field;
    std::string_view help;

    std::string_view long_flag() const;  // "--workers"
};

// Every setting except the per-function ones ("functions.NAME.timeout" and ".retries").
std::span<const Setting> settings();

// A setting given on the command line: its key and its value as text.
struct Override {
    std::string key;
    std::string value;
};

// "NAME:timeout=S,retries=N" (either or both settings) as the overrides it stands for.
Result<std::vector<Override>> parse_function_option(std::string_view spec);

// Applies a TOML document onto `config`: keys present replace what is there, every other
// setting is left as it was. `source` (a path) names the document in errors.
Status apply_config_text(std::string_view text, const std::string& source, PoolConfig& config);
Status apply_config_file(const std::string& path, PoolConfig& config);

// Applies overrides in order; the first override of a list setting replaces the list and later
// ones append to it.
Status apply_overrides(const std::vector<Override>& overrides, PoolConfig& config);

// "64KiB" -> 65536. A whole number with an optional unit: B, KiB, MiB, GiB or TiB.
Result<std::uint64_t> parse_size(std::string_view text);
// 65536 -> "64KiB": the largest unit that divides it exactly.
std::string format_size(std::uint64_t bytes);

// The effective settings as a TOML document that apply_config_text reads back unchanged.
std::string format_config(const PoolConfig& config);

// One setting's current value as it would be written on the command line.
std::string format_setting(const PoolConfig& config, const Setting& setting);

// Where a pool's configuration comes from; load() may be called again to pick up a changed file.
struct ConfigSource {
    PoolConfig defaults;
    std::string file;            // empty: no file
    bool file_optional = false;  // a missing file then counts as an empty one
    std::vector<Override> overrides;

    // defaults < file < overrides, finalised. PoolConfig::config_file is the file if it was
    // read; an empty jobs_library after the file and overrides means defaults.jobs_library.
    Result<PoolConfig> load() const;
};

}  // namespace warmpool
