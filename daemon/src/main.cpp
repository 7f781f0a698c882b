// warmpoold: parses options, builds the supervisor, runs it. Everything else is in the library.
//
// Settings come from the defaults, then the --config file, then the command line (later wins).
// The command-line values are kept as text so that a reload re-reads the file and applies them
// again on top of it.
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "warmpool/common/option_hint.hpp"
#include "warmpool/daemon/config_file.hpp"
#include "warmpool/daemon/logging.hpp"
#include "warmpool/daemon/supervisor.hpp"

namespace {

constexpr int kUsageError = 64;  // EX_USAGE

// The bundled example jobs, found relative to this executable so that the build tree and an
// installed tree both work without configuration.
std::string default_jobs_library() {
    std::error_code ec;
    auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
    if (ec) return WARMPOOL_INSTALLED_JOBS_PATH;
    auto candidate = exe.parent_path() / WARMPOOL_RELATIVE_JOBS_PATH;
    if (std::filesystem::exists(candidate, ec))
        return std::filesystem::weakly_canonical(candidate).string();
    return WARMPOOL_INSTALLED_JOBS_PATH;
}

// How --help shows a setting's value.
std::string value_name(warmpool::Setting::Kind kind) {
    using Kind = warmpool::Setting::Kind;
    switch (kind) {
        case Kind::count:
            return "N";
        case Kind::size:
            return "SIZE";
        case Kind::seconds:
            return "SECONDS";
        case Kind::fraction:
            return "FRACTION";
        case Kind::mode:
            return "OCTAL";
        case Kind::list:
            return "NAME";
        case Kind::flag:
        case Kind::text:
            break;
    }
    return "TEXT";
}

}  // namespace

int main(int argc, char** argv) {
    const auto settings = warmpool::settings();
    const warmpool::PoolConfig defaults;

    // Named here, not after argv[0], so that --help reads the same wherever it was started from
    // (the man page is made from it).
    CLI::App app{
        "warmpoold: a pool of pre-initialised worker processes\n"
        "Settings: defaults < --config file < command line (see docs/CONFIG.md).",
        "warmpoold"};
    app.set_version_flag("--version", "warmpoold " WARMPOOL_VERSION, "Print the version and exit");
    std::string config_file;
    std::string optional_config_file;
    bool print_config = false;
    auto* config_option =
        app.add_option("-c,--config", config_file, "TOML file with this pool's settings")
            ->type_name("FILE");
    app.add_option(
           "--config-if-exists", optional_config_file,
           "Like --config, but a missing file counts as an empty one (for service templates)")
        ->type_name("FILE")
        ->excludes(config_option);
    app.add_flag("--print-config", print_config,
                 "Print the effective settings as a config file and exit (0 if they are valid)");

    // One option per setting, kept as text: the loader parses and re-applies them on reload.
    std::vector<std::vector<std::string>> values(settings.size());
    std::vector<int> flags_given(settings.size(), 0);
    for (std::size_t i = 0; i < settings.size(); ++i) {
        const warmpool::Setting& s = settings[i];
        if (s.kind == warmpool::Setting::Kind::flag) {  // a flag sets its setting: "--python"
            app.add_flag(std::string(s.flags), flags_given[i], std::string(s.help));
            continue;
        }
        auto* option = app.add_option(std::string(s.flags), values[i], std::string(s.help));
        option->type_name(value_name(s.kind));
        if (s.kind == warmpool::Setting::Kind::list) {
            option->expected(1)->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
        } else {
            option->expected(1)->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
            option->default_str(warmpool::format_setting(defaults, s));
        }
    }
    std::vector<std::string> function_specs;
    app.add_option("--function", function_specs,
                   "Settings of one job function, NAME:timeout=SECONDS,retries=N (repeatable)")
        ->type_name("SPEC")
        ->expected(1)
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        const int rc = app.exit(e);
        if (const auto hint = warmpool::misspelt_option_hint(app); !hint.empty()) {
            std::fprintf(stderr, "%s\n", hint.c_str());
        }
        return rc == 0 ? 0 : kUsageError;
    }

    warmpool::ConfigSource source;
    source.defaults.jobs_library = default_jobs_library();
    source.file = !config_file.empty() ? config_file : optional_config_file;
    source.file_optional = config_file.empty();
    for (std::size_t i = 0; i < settings.size(); ++i) {
        for (const auto& value : values[i])
            source.overrides.push_back({std::string(settings[i].key), value});
        if (flags_given[i] != 0) source.overrides.push_back({std::string(settings[i].key), "true"});
    }
    for (const auto& spec : function_specs) {
        auto overrides = warmpool::parse_function_option(spec);
        if (!overrides) {
            std::fprintf(stderr, "warmpoold: %s\n", overrides.error().message().c_str());
            return kUsageError;
        }
        source.overrides.insert(source.overrides.end(), overrides->begin(), overrides->end());
    }
    warmpool::ConfigLoader loader = [source] { return source.load(); };

    auto config = loader();
    if (!config) {
        std::fprintf(stderr, "warmpoold: %s\n", config.error().message().c_str());
        return kUsageError;
    }
    if (print_config) {
        std::fputs(warmpool::format_config(*config).c_str(), stdout);
        return 0;
    }
    warmpool::init_logging(config->name, "supervisor", config->log_level);
    if (!config->config_file.empty()) spdlog::info("settings from {}", config->config_file);
    warmpool::Supervisor supervisor(std::move(config).value(), std::move(loader));
    if (auto st = supervisor.prepare(); !st) {
        spdlog::critical("cannot start: {}", st.error().message());
        return kUsageError;
    }
    if (auto st = supervisor.start(); !st) {
        spdlog::critical("cannot start: {}", st.error().message());
        return 1;
    }
    return supervisor.run();
}
