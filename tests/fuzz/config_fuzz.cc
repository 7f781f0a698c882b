// A pool's configuration as its administrator may write it (config_file.hpp): a TOML document
// applied with apply_config_text, command-line overrides applied with apply_overrides (and
// --function specs read with parse_function_option), then PoolConfig::finalise.
//
// Input: the TOML document; then, after a NUL byte (which TOML text cannot hold), overrides, one
// a line: "KEY=VALUE", or a --function spec "NAME:timeout=S,retries=N" for a line without '='.
//
// Besides crashes, leaks and undefined behaviour, it checks that
//   * a document that fails changes nothing (apply_config_text is all or nothing), and
//   * a configuration that finalises is written by format_config as a document that reads back,
//     and finalises, to the very same configuration.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_check.hpp"
#include "warmpool/daemon/config_file.hpp"
#include "warmpool/daemon/pool_config.hpp"

namespace warmpool {
namespace {

std::vector<Override> overrides_from(std::string_view lines) {
    std::vector<Override> overrides;
    while (!lines.empty()) {
        const std::size_t end = lines.find('\n');
        const std::string_view line = lines.substr(0, end);
        lines = end == std::string_view::npos ? std::string_view() : lines.substr(end + 1);
        const std::size_t eq = line.find('=');
        if (eq == std::string_view::npos) {
            if (auto spec = parse_function_option(line)) {
                overrides.insert(overrides.end(), spec->begin(), spec->end());
            }
            continue;
        }
        overrides.push_back({std::string(line.substr(0, eq)), std::string(line.substr(eq + 1))});
    }
    return overrides;
}

}  // namespace
}  // namespace warmpool

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace warmpool;
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    const std::size_t nul = input.find('\0');
    const std::string_view document = input.substr(0, nul);
    const std::string_view lines =
        nul == std::string_view::npos ? std::string_view() : input.substr(nul + 1);

    PoolConfig config;
    const std::string before = format_config(config);
    if (!apply_config_text(document, "fuzz.toml", config)) {
        FUZZ_CHECK(format_config(config) == before);
        return 0;
    }
    if (!apply_overrides(overrides_from(lines), config)) return 0;
    if (!config.finalise()) return 0;
    for (const Setting& setting : settings()) (void)format_setting(config, setting);

    const std::string written = format_config(config);
    PoolConfig read_back;
    const Status st = apply_config_text(written, "written.toml", read_back);
    if (!st) {
        std::fprintf(stderr, "config_fuzz: format_config wrote what does not read back: %s\n%s\n",
                     st.error().context.c_str(), written.c_str());
        std::abort();
    }
    FUZZ_CHECK(read_back.finalise());
    FUZZ_CHECK(format_config(read_back) == written);
    return 0;
}
