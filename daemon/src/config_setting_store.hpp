// Private to the config sources (config_file.cpp, config_toml_reader.cpp): looking a setting up
// by its key, and storing a value into the PoolConfig field it names, whether the value came
// from the command line (text) or from the TOML document. Errors are `invalid` SysErrors saying
// what is wrong with the value; the caller adds where it was written.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "warmpool/common/sys_result.hpp"
#include "warmpool/daemon/config_file.hpp"
#include "warmpool/daemon/pool_config.hpp"

namespace warmpool::setting_store {

// The settings of one [functions.NAME] table: "functions.NAME.timeout" and ".retries".
inline constexpr std::array<std::string_view, 2> kFunctionKeys = {"timeout", "retries"};
inline constexpr unsigned kMaxRetries = 100;

SysError invalid(std::string what);

// The setting named `key` ("limits.prefetch") among settings(); null if there is none.
const Setting* find_setting(std::string_view key);

// A whole number into the unsigned or 64-bit field of `s`.
Status store_unsigned(const Setting& s, std::uint64_t value, PoolConfig& config);
// A number into the double field of `s`; seconds must not be negative.
Status store_double(const Setting& s, double value, PoolConfig& config);
// Stores `text` (from the command line) as the value of `s`; lists get one more element. A
// setting with a fixed set of values (log_level, cpu_affinity) takes only one of them.

Status store_text(const Setting& s, std::string_view text, PoolConfig& config);

}  // namespace warmpool::setting_store
