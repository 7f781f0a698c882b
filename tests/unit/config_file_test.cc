// Tests for the config file and command-line settings (config_file.hpp): every key, sizes with
// units, defaults, precedence defaults < file < command line, errors that name the file, line
// and key (unknown keys, wrong types, bad units), range errors from finalise, and a loader that
// picks up a changed file.

#include "warmpool/daemon/config_file.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "scratch_dir.hpp"

namespace warmpool {
namespace {

// A private directory under /tmp, removed with everything in it.
struct TempDir : testing::ScratchDir {
    TempDir() : ScratchDir("warmpool-config-test") {}
};


Result<PoolConfig> parse(const std::string& text) {
    PoolConfig config;
    if (auto st = apply_config_text(text, "pool.toml", config); !st) return st.error();
    return config;
}

// The error of a document that must be refused.
std::string error_of(const std::string& text) {
    auto config = parse(text);
    if (config) {
        ADD_FAILURE() << "accepted:\n" << text;
        return {};
    }
    EXPECT_EQ(config.error().code, SysError::Code::invalid) << config.error().message();
    return config.error().message();
}

bool contains(const std::string& text, const std::string& part) {
    return text.find(part) != std::string::npos;
}

const char* const kEveryKey = R"(
name = "every_key"
workers = 5
jobs = "/opt/jobs/libmine.so"
runtime_dir = "/srv/warmpool"
log_level = "debug"
cpu_affinity = "spread"
preload = true

[limits]
max_sessions = 12
prefetch = 4
queue_capacity = 5000
max_sessions_per_user = 3
session_queue_capacity = 700
session_queue_bytes = "32MiB"
submit_ring = "2MiB"
control_ring = 8192
reply_ring = "4 MiB"
inbox_ring = "512KiB"
inline_max = "16KiB"

[access]
socket_mode = "0600"
group = "warmpool"
allow_users = ["alice", "bob"]
allow_groups = ["builders"]

[supervision]
grace_period = 2.5
default_timeout = 60
kill_grace = 0.25
poison_threshold = 5
max_jobs = 1000
max_jobs_jitter = 0.2
max_rss = "512MiB"

[scaling]
mode = "dynamic"
min_workers = 2
max_workers = 6
min_spare = 1
max_spare = 2
spawn_rate = 4
idle_timeout = 0.5

[python]
enabled = true
modules = ["my_module", "other.module"]
path = ["/opt/jobs"]
pickle = "allowed"

[functions.md5_chain]
timeout = 30.0
retries = 2

[functions.gcd]
retries = 1
)";

TEST(ConfigFile, EveryKeyIsRead) {
    auto parsed = parse(kEveryKey);
    ASSERT_TRUE(parsed.ok()) << parsed.error().message();
    const PoolConfig& c = *parsed;
    EXPECT_EQ(c.name, "every_key");
    EXPECT_EQ(c.workers, 5u);
    EXPECT_EQ(c.jobs_library, "/opt/jobs/libmine.so");
    EXPECT_EQ(c.runtime_dir, "/srv/warmpool");
    EXPECT_EQ(c.log_level, "debug");
    EXPECT_EQ(c.cpu_affinity, "spread");
    EXPECT_TRUE(c.preload);
    EXPECT_EQ(c.max_sessions, 12u);
    EXPECT_EQ(c.prefetch, 4u);
    EXPECT_EQ(c.queue_capacity, 5000u);
    EXPECT_EQ(c.max_sessions_per_user, 3u);
    EXPECT_EQ(c.session_queue_capacity, 700u);
    EXPECT_EQ(c.session_queue_bytes, 32u << 20);
    EXPECT_EQ(c.submit_ring_bytes, 2u << 20);
    EXPECT_EQ(c.control_ring_bytes, 8192u);
    EXPECT_EQ(c.reply_ring_bytes, 4u << 20);
    EXPECT_EQ(c.inbox_ring_bytes, 512u << 10);
    EXPECT_EQ(c.inline_max, 16u << 10);
    EXPECT_EQ(c.socket_mode, 0600u);
    EXPECT_EQ(c.group, "warmpool");
    EXPECT_EQ(c.allow_users, (std::vector<std::string>{"alice", "bob"}));
    EXPECT_EQ(c.allow_groups, (std::vector<std::string>{"builders"}));
    EXPECT_DOUBLE_EQ(c.grace_period_s, 2.5);
    EXPECT_DOUBLE_EQ(c.default_timeout_s, 60);
    EXPECT_DOUBLE_EQ(c.kill_grace_s, 0.25);
    EXPECT_EQ(c.poison_threshold, 5u);
    EXPECT_EQ(c.max_jobs, 1000u);
    EXPECT_DOUBLE_EQ(c.max_jobs_jitter, 0.2);
    EXPECT_EQ(c.max_rss_bytes, 512u << 20);
    EXPECT_EQ(c.scaling_mode, "dynamic");
    EXPECT_EQ(c.min_workers, 2u);
    EXPECT_EQ(c.max_workers, 6u);
    EXPECT_EQ(c.min_spare, 1u);
    EXPECT_EQ(c.max_spare, 2u);
    EXPECT_EQ(c.spawn_rate, 4u);
    EXPECT_DOUBLE_EQ(c.idle_timeout_s, 0.5);
    EXPECT_TRUE(c.python);
    EXPECT_EQ(c.python_modules, (std::vector<std::string>{"my_module", "other.module"}));
    EXPECT_EQ(c.python_path, (std::vector<std::string>{"/opt/jobs"}));
    EXPECT_EQ(c.python_pickle, "allowed");
    ASSERT_EQ(c.functions.size(), 2u);
    EXPECT_DOUBLE_EQ(c.function("md5_chain").timeout_s, 30);
    EXPECT_EQ(c.function("md5_chain").retries, 2u);
    EXPECT_DOUBLE_EQ(c.function("gcd").timeout_s, 60) << "no timeout: the pool's default";
    EXPECT_EQ(c.function("gcd").retries, 1u);
    PoolConfig finalised = c;
    EXPECT_TRUE(finalised.finalise().ok());
}

TEST(ConfigFile, EverySettingHasAKeyAndAFlag) {
    // The registry covers each PoolConfig setting once; a new field needs an entry (and docs).
    std::vector<std::string> keys, flags;
    for (const Setting& s : settings()) {
        keys.emplace_back(s.key);
        flags.emplace_back(s.long_flag());
        EXPECT_TRUE(std::string(s.long_flag()).starts_with("--")) << s.key;
        EXPECT_FALSE(s.help.empty()) << s.key;
    }
    EXPECT_EQ(keys.size(), 40u);
    std::sort(keys.begin(), keys.end());
    std::sort(flags.begin(), flags.end());
    EXPECT_EQ(std::adjacent_find(keys.begin(), keys.end()), keys.end());
    EXPECT_EQ(std::adjacent_find(flags.begin(), flags.end()), flags.end());
    // Every key in the example document names a setting (EveryKeyIsRead checks the values).
    for (const auto& key : keys) {
        const std::string leaf = key.substr(key.rfind('.') + 1);
        EXPECT_TRUE(contains(kEveryKey, "\n" + leaf + " = ")) << key << " missing from kEveryKey";
    }
}

TEST(ConfigFile, AnEmptyFileChangesNothing) {
    auto parsed = parse("# nothing set\n");
    ASSERT_TRUE(parsed.ok()) << parsed.error().message();
    const PoolConfig defaults;
    EXPECT_EQ(format_config(*parsed), format_config(defaults));
    EXPECT_TRUE(parsed->functions.empty());
}

TEST(ConfigFile, KeysNotInTheFileKeepTheirValues) {
    PoolConfig config;
    config.workers = 9;
    config.max_rss_bytes = 3u << 20;
    ASSERT_TRUE(apply_config_text("[limits]\nprefetch = 2\n", "x.toml", config).ok());
    EXPECT_EQ(config.prefetch, 2u);
    EXPECT_EQ(config.workers, 9u);
    EXPECT_EQ(config.max_rss_bytes, 3u << 20);
}

TEST(ConfigFile, DottedKeysAndInlineTablesWork) {
    auto parsed = parse(
        "limits.prefetch = 3\nsupervision = { max_jobs = 7 }\n"
        "functions.gcd.retries = 4\n");
    ASSERT_TRUE(parsed.ok()) << parsed.error().message();
    EXPECT_EQ(parsed->prefetch, 3u);
    EXPECT_EQ(parsed->max_jobs, 7u);
    EXPECT_EQ(parsed->function("gcd").retries, 4u);
}

TEST(ConfigFile, SizesTakeUnits) {
    EXPECT_EQ(parse_size("0").value(), 0u);
    EXPECT_EQ(parse_size("4096").value(), 4096u);
    EXPECT_EQ(parse_size("100B").value(), 100u);
    EXPECT_EQ(parse_size("64KiB").value(), 64u << 10);
    EXPECT_EQ(parse_size("1MiB").value(), 1u << 20);
    EXPECT_EQ(parse_size("512MiB").value(), 512u << 20);
    EXPECT_EQ(parse_size("2GiB").value(), 2ull << 30);
    EXPECT_EQ(parse_size("3TiB").value(), 3ull << 40);
    EXPECT_EQ(parse_size(" 8 MiB ").value(), 8u << 20);
    for (const char* bad : {"", "MiB", "64 KB", "64k", "1.5GiB", "-1", "64KiBs", "0x100", "1 2MiB",
                            "99999999999999999999", "17179869184GiB"}) {
        auto size = parse_size(bad);
        EXPECT_FALSE(size.ok()) << bad;
        if (!size.ok()) {
            EXPECT_EQ(size.error().code, SysError::Code::invalid) << bad;
        }
    }
    EXPECT_EQ(format_size(0), "0");
    EXPECT_EQ(format_size(100), "100");
    EXPECT_EQ(format_size(64u << 10), "64KiB");
    EXPECT_EQ(format_size(1536u << 10), "1536KiB");
    EXPECT_EQ(format_size(2ull << 30), "2GiB");
}

TEST(ConfigFile, SizesInTheFileAreIntegersOrStrings) {
    auto parsed = parse("[supervision]\nmax_rss = 2147483648\n[limits]\ninline_max = \"1KiB\"\n");
    ASSERT_TRUE(parsed.ok()) << parsed.error().message();
    EXPECT_EQ(parsed->max_rss_bytes, 2ull << 30);
    EXPECT_EQ(parsed->inline_max, 1024u);
    // inline_max is 32 bits wide.
    EXPECT_TRUE(contains(error_of("[limits]\ninline_max = \"4GiB\"\n"), "too large"));
}

TEST(ConfigFile, SocketModeIsOctal) {
    EXPECT_EQ(parse("[access]\nsocket_mode = \"0660\"\n")->socket_mode, 0660u);
    EXPECT_EQ(parse("[access]\nsocket_mode = \"600\"\n")->socket_mode, 0600u);
    EXPECT_EQ(parse("[access]\nsocket_mode = 0o640\n")->socket_mode, 0640u);
    EXPECT_TRUE(contains(error_of("[access]\nsocket_mode = \"0680\"\n"), "octal"));
}

TEST(ConfigFile, UnknownKeysAreErrorsWithFileLineAndKey) {
    const std::string top = error_of("workers = 2\n\nwokers = 3\n");
    EXPECT_TRUE(contains(top, "pool.toml:3:")) << top;
    EXPECT_TRUE(contains(top, "'wokers'")) << top;
    EXPECT_TRUE(contains(top, "did you mean 'workers'")) << top;

    const std::string nested = error_of("[limits]\nprefetch = 2\nmax_sesions = 3\n");
    EXPECT_TRUE(contains(nested, "pool.toml:3:")) << nested;
    EXPECT_TRUE(contains(nested, "'limits.max_sesions'")) << nested;
    EXPECT_TRUE(contains(nested, "did you mean 'max_sessions'")) << nested;

    const std::string section = error_of("[limit]\nprefetch = 2\n");
    EXPECT_TRUE(contains(section, "pool.toml:1:")) << section;
    EXPECT_TRUE(contains(section, "'limit'")) << section;

    // A setting in the wrong section is unknown there.
    const std::string misplaced = error_of("[access]\nworkers = 2\n");
    EXPECT_TRUE(contains(misplaced, "pool.toml:2:")) << misplaced;
    EXPECT_TRUE(contains(misplaced, "'access.workers'")) << misplaced;

    const std::string function = error_of("[functions.gcd]\ntimeout = 1\nretry = 2\n");
    EXPECT_TRUE(contains(function, "pool.toml:3:")) << function;
    EXPECT_TRUE(contains(function, "'functions.gcd.retry'")) << function;
    EXPECT_TRUE(contains(function, "did you mean 'retries'")) << function;

    const std::string far = error_of("zzzzzzzz = 1\n");
    EXPECT_FALSE(contains(far, "did you mean")) << far;
}

TEST(ConfigFile, WrongTypesAreErrors) {
    struct Case {
        const char* text;
        const char* key;
        const char* says;
    };
    for (const Case& c : {
             Case{"workers = \"4\"\n", "'workers'", "a whole number, not a string"},
             Case{"workers = 4.5\n", "'workers'", "not a float"},
             Case{"workers = -1\n", "'workers'", "negative"},
             Case{"workers = 4294967296\n", "'workers'", "too large"},
             Case{"name = 7\n", "'name'", "a string, not an integer"},
             Case{"log_level = true\n", "'log_level'", "not a boolean"},
             Case{"[limits]\nreply_ring = 1.5\n", "'limits.reply_ring'", "a size"},
             Case{"[limits]\nreply_ring = \"1 MB\"\n", "'limits.reply_ring'", "KiB, MiB"},
             Case{"[access]\nallow_users = \"alice\"\n", "'access.allow_users'", "an array"},
             Case{"[access]\nallow_users = [\"alice\", 3]\n", "'access.allow_users'",
                  "holds an integer"},
             Case{"[supervision]\ngrace_period = \"10s\"\n", "'supervision.grace_period'",
                  "seconds"},
             Case{"[supervision]\nkill_grace = -1\n", "'supervision.kill_grace'", "negative"},
             Case{"limits = 3\n", "'limits'", "must be a table"},
             Case{"functions = 3\n", "'functions'", "must be a table"},
             Case{"[functions]\ngcd = 3\n", "'functions.gcd'", "must be a table"},
             Case{"[functions.gcd]\ntimeout = \"30\"\n", "'functions.gcd.timeout'", "seconds"},
             Case{"[functions.gcd]\ntimeout = -2\n", "'functions.gcd.timeout'", "negative"},
             Case{"[functions.gcd]\nretries = 1.0\n", "'functions.gcd.retries'", "whole number"},
             Case{"[functions.gcd]\nretries = 101\n", "'functions.gcd.retries'", "at most 100"},
         }) {
        const std::string error = error_of(c.text);
        EXPECT_TRUE(contains(error, "pool.toml:")) << c.text << " -> " << error;
        EXPECT_TRUE(contains(error, c.key)) << c.text << " -> " << error;
        EXPECT_TRUE(contains(error, c.says)) << c.text << " -> " << error;
    }
}

TEST(ConfigFile, SyntaxErrorsNameFileLineAndColumn) {
    const std::string error = error_of("workers = 2\nname = \"unterminated\n");
    EXPECT_TRUE(contains(error, "pool.toml:2:")) << error;
    const std::string duplicate = error_of("workers = 2\nworkers = 3\n");
    EXPECT_TRUE(contains(duplicate, "pool.toml:2:")) << duplicate;
}

TEST(ConfigFile, AFailedDocumentChangesNothing) {
    PoolConfig config;
    EXPECT_FALSE(apply_config_text("workers = 7\nbogus = 1\n", "x.toml", config).ok());
    EXPECT_EQ(config.workers, PoolConfig{}.workers);
}

TEST(ConfigFile, FormatConfigReadsBackTheSame) {
    auto parsed = parse(kEveryKey);
    ASSERT_TRUE(parsed.ok());
    const std::string text = format_config(*parsed);
    auto again = parse(text);
    ASSERT_TRUE(again.ok()) << again.error().message() << "\n" << text;
    EXPECT_EQ(format_config(*again), text);
    EXPECT_EQ(again->functions.size(), 2u);
    EXPECT_EQ(again->allow_users, parsed->allow_users);
    EXPECT_EQ(again->max_rss_bytes, parsed->max_rss_bytes);
    EXPECT_DOUBLE_EQ(again->kill_grace_s, parsed->kill_grace_s);
}

TEST(ConfigFile, FunctionOptionSpecs) {
    auto both = parse_function_option("md5_chain:timeout=2.5,retries=3");
    ASSERT_TRUE(both.ok()) << both.error().message();
    ASSERT_EQ(both->size(), 2u);
    EXPECT_EQ((*both)[0].key, "functions.md5_chain.timeout");
    EXPECT_EQ((*both)[0].value, "2.5");
    EXPECT_EQ((*both)[1].key, "functions.md5_chain.retries");
    EXPECT_EQ((*both)[1].value, "3");
    EXPECT_TRUE(parse_function_option("gcd:retries=1").ok());
    for (const char* bad : {"gcd", "gcd:", ":timeout=1", "gcd:timeout", "gcd:tiemout=1"}) {
        auto spec = parse_function_option(bad);
        EXPECT_FALSE(spec.ok()) << bad;
        if (!spec.ok()) {
            EXPECT_TRUE(contains(spec.error().message(), "--function")) << bad;
        }
    }
}

TEST(ConfigFile, OverridesParseTextLikeTheCommandLine) {
    PoolConfig config;
    config.allow_users = {"from_file"};
    ASSERT_TRUE(apply_overrides({{"workers", "3"},
                                 {"supervision.max_rss", "256MiB"},
                                 {"access.socket_mode", "0600"},
                                 {"supervision.max_jobs_jitter", "0.3"},
                                 {"access.allow_users", "carol"},
                                 {"access.allow_users", "dave"},
                                 {"limits.inline_max", "8KiB"},
                                 {"functions.gcd.timeout", "1.5"},
                                 {"functions.gcd.retries", "2"},
                                 {"workers", "4"}},
                                config)
                    .ok());
    EXPECT_EQ(config.workers, 4u) << "the last of a repeated setting wins";
    EXPECT_EQ(config.max_rss_bytes, 256u << 20);
    EXPECT_EQ(config.socket_mode, 0600u);
    EXPECT_DOUBLE_EQ(config.max_jobs_jitter, 0.3);
    EXPECT_EQ(config.allow_users, (std::vector<std::string>{"carol", "dave"}))
        << "command-line lists replace the file's";
    EXPECT_EQ(config.inline_max, 8u << 10);
    EXPECT_DOUBLE_EQ(config.function("gcd").timeout_s, 1.5);
    EXPECT_EQ(config.function("gcd").retries, 2u);

    const auto error_of_override = [](const Override& o) {
        PoolConfig c;
        auto st = apply_overrides({o}, c);
        return st.ok() ? std::string() : st.error().message();
    };
    EXPECT_TRUE(contains(error_of_override({"workers", "many"}), "--workers")) << "names the flag";
    EXPECT_TRUE(contains(error_of_override({"workers", "-2"}), "whole number"));
    EXPECT_TRUE(contains(error_of_override({"supervision.max_rss", "1 GB"}), "--max-rss"));
    EXPECT_TRUE(contains(error_of_override({"supervision.kill_grace", "soon"}), "not a number"));
    EXPECT_TRUE(contains(error_of_override({"access.socket_mode", "rw"}), "octal"));
    EXPECT_TRUE(contains(error_of_override({"no_such", "1"}), "not a known setting"));
}

TEST(ConfigLoader, DefaultsFileCommandLineInThatOrder) {
    TempDir dir;
    ConfigSource source;
    source.defaults.jobs_library = "/default/jobs.so";
    source.defaults.prefetch = 8;  // a default the file does not mention survives
    source.file =
        dir.write("pool.toml", "workers = 3\nname = \"from_file\"\n[limits]\nmax_sessions = 5\n");
    source.overrides = {{"name", "from_cli"}, {"limits.queue_capacity", "77"}};
    auto config = source.load();
    ASSERT_TRUE(config.ok()) << config.error().message();
    EXPECT_EQ(config->workers, 3u);
    EXPECT_EQ(config->name, "from_cli");
    EXPECT_EQ(config->max_sessions, 5u);
    EXPECT_EQ(config->queue_capacity, 77u);
    EXPECT_EQ(config->prefetch, 8u);
    EXPECT_EQ(config->jobs_library, "/default/jobs.so");
    EXPECT_EQ(config->config_file, source.file);
    EXPECT_FALSE(config->runtime_dir.empty()) << "finalised";
}

TEST(ConfigLoader, AnEmptyJobsMeansTheDefaultLibrary) {
    TempDir dir;
    ConfigSource source;
    source.defaults.jobs_library = "/default/jobs.so";
    source.file = dir.write("pool.toml", "jobs = \"\"\n");
    EXPECT_EQ(source.load()->jobs_library, "/default/jobs.so");
}

TEST(ConfigLoader, ReReadsAChangedFile) {
    TempDir dir;
    ConfigSource source;
    source.file = dir.write("pool.toml", "workers = 2\n[supervision]\nmax_jobs = 10\n");
    source.overrides = {{"supervision.max_jobs", "99"}};
    const ConfigLoader loader = [source] { return source.load(); };
    auto first = loader();
    ASSERT_TRUE(first.ok()) << first.error().message();
    EXPECT_EQ(first->workers, 2u);
    EXPECT_EQ(first->max_jobs, 99u);

    dir.write("pool.toml", "workers = 6\n[supervision]\nmax_jobs = 10\nmax_rss = \"1GiB\"\n");
    auto second = loader();
    ASSERT_TRUE(second.ok()) << second.error().message();
    EXPECT_EQ(second->workers, 6u);
    EXPECT_EQ(second->max_rss_bytes, 1ull << 30);
    EXPECT_EQ(second->max_jobs, 99u) << "the command line still wins after a reload";

    // A broken file on reload is an error (the supervisor keeps what it has).
    dir.write("pool.toml", "workers = 6\nwrokers = 1\n");
    auto third = loader();
    ASSERT_FALSE(third.ok());
    EXPECT_TRUE(contains(third.error().message(), source.file + ":2:")) << third.error().message();

    // A removed file too, unless it is optional.
    std::filesystem::remove(source.file);
    auto fourth = loader();
    ASSERT_FALSE(fourth.ok());
    EXPECT_EQ(fourth.error().errno_value, ENOENT);
    EXPECT_TRUE(contains(fourth.error().message(), source.file)) << fourth.error().message();
}

TEST(ConfigLoader, AnOptionalFileMayBeMissing) {
    TempDir dir;
    ConfigSource source;
    source.file = dir.path("absent.toml");
    source.file_optional = true;
    source.overrides = {{"workers", "2"}};
    auto config = source.load();
    ASSERT_TRUE(config.ok()) << config.error().message();
    EXPECT_EQ(config->workers, 2u);
    EXPECT_EQ(config->config_file, "") << "no file was read";

    // Once it appears, the next load reads it.
    dir.write("absent.toml", "[limits]\nprefetch = 3\n");
    auto later = source.load();
    ASSERT_TRUE(later.ok()) << later.error().message();
    EXPECT_EQ(later->prefetch, 3u);
    EXPECT_EQ(later->config_file, source.file);

    // Optional means "may be missing", not "may be broken".
    dir.write("absent.toml", "[limits]\nprefetch = \"3\"\n");
    EXPECT_FALSE(source.load().ok());
}

TEST(ConfigLoader, RangeErrorsNameTheFileWhenItIsToBlame) {
    TempDir dir;
    ConfigSource source;
    source.file = dir.write("pool.toml", "[supervision]\nkill_grace = 7200\n");
    auto from_file = source.load();
    ASSERT_FALSE(from_file.ok());
    EXPECT_EQ(from_file.error().code, SysError::Code::invalid);
    EXPECT_TRUE(contains(from_file.error().message(), source.file + ": kill_grace"))
        << from_file.error().message();

    // The same mistake on the command line does not blame the file.
    source.file = dir.write("ok.toml", "workers = 2\n");
    source.overrides = {{"supervision.kill_grace", "7200"}};
    auto from_cli = source.load();
    ASSERT_FALSE(from_cli.ok());
    EXPECT_FALSE(contains(from_cli.error().message(), "ok.toml")) << from_cli.error().message();
    EXPECT_TRUE(contains(from_cli.error().message(), "kill_grace")) << from_cli.error().message();

    // And the command line may repair what the file got wrong.
    source.file = dir.write("bad.toml", "[limits]\nprefetch = 0\n");
    source.overrides = {{"limits.prefetch", "2"}};
    EXPECT_TRUE(source.load().ok());
}

// A log level or CPU affinity that is none of the choices is blamed on its file, line and key,
// with the choices (and the closest one) in the message, as any other bad value is.
TEST(ConfigLoader, AnUnknownChoiceNamesItsFileLineAndKey) {
    TempDir dir;
    ConfigSource source;
    source.file = dir.write("pool.toml", "name = \"x\"\nlog_level = \"wanr\"\n");
    auto config = source.load();
    ASSERT_FALSE(config.ok());
    const std::string message = config.error().message();
    EXPECT_TRUE(contains(message, source.file + ":2")) << message;
    EXPECT_TRUE(contains(message, "'log_level'")) << message;
    EXPECT_TRUE(contains(message, "did you mean 'warn'?")) << message;

    source.file = dir.write("cpu.toml", "workers = 2\ncpu_affinity = \"spreed\"\n");
    config = source.load();
    ASSERT_FALSE(config.ok());
    EXPECT_TRUE(contains(config.error().message(), source.file + ":2")) << config.error().message();
    EXPECT_TRUE(contains(config.error().message(), "'cpu_affinity'")) << config.error().message();

    // On the command line the option is named instead.
    source.file = dir.write("ok.toml", "workers = 2\n");
    source.overrides = {{"log_level", "loud"}};
    config = source.load();
    ASSERT_FALSE(config.ok());
    EXPECT_TRUE(contains(config.error().message(), "--log-level")) << config.error().message();
    EXPECT_FALSE(contains(config.error().message(), "ok.toml")) << config.error().message();
}

TEST(ConfigLoader, AnUnreadableFileKeepsItsErrno) {
    if (::geteuid() == 0) GTEST_SKIP() << "root reads any file";
    TempDir dir;
    ConfigSource source;
    source.file = dir.write("secret.toml", "workers = 1\n");
    std::filesystem::permissions(source.file, std::filesystem::perms::none);
    source.file_optional = true;  // only a missing file is optional
    auto config = source.load();
    ASSERT_FALSE(config.ok());
    EXPECT_EQ(config.error().errno_value, EACCES);
}

// The example file and every TOML block in docs/CONFIG.md are valid configurations, and set no
// function's timeout or retries (which would close the lanes for the whole pool: an example a
// newcomer copies must not).
TEST(ConfigFile, TheDocumentedExamplesAreValid) {
    const std::filesystem::path root = std::filesystem::path(__FILE__).parent_path() / ".." / "..";
    const auto read = [](const std::filesystem::path& path) {
        std::ifstream in(path);
        EXPECT_TRUE(in.good()) << path;
        return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    };
    const auto check = [](const std::string& text, const std::string& source) {
        PoolConfig config;
        auto st = apply_config_text(text, source, config);
        ASSERT_TRUE(st.ok()) << st.error().message();
        EXPECT_TRUE(config.finalise().ok()) << source;
        EXPECT_TRUE(config.functions.empty()) << source;
        EXPECT_EQ(config.default_timeout_s, 0.0) << source;
    };
    check(read(root / "examples" / "warmpool.toml"), "examples/warmpool.toml");

    const std::string doc = read(root / "docs" / "CONFIG.md");
    std::size_t blocks = 0;
    for (std::size_t at = doc.find("```toml\n"); at != std::string::npos;
         at = doc.find("```toml\n", at)) {
        at += 8;
        const std::size_t end = doc.find("```", at);
        ASSERT_NE(end, std::string::npos);
        check(doc.substr(at, end - at), "docs/CONFIG.md block " + std::to_string(++blocks));
    }
    EXPECT_GE(blocks, 1u);
    // The documentation names every key and every option.
    for (const Setting& s : settings()) {
        const std::string key(s.key.substr(s.key.rfind('.') + 1));
        EXPECT_TRUE(contains(doc, "`" + key + "`")) << s.key << " is not in docs/CONFIG.md";
        EXPECT_TRUE(contains(doc, std::string(s.long_flag()) + "`"))
            << s.long_flag() << " is not in docs/CONFIG.md";
    }
}

}  // namespace
}  // namespace warmpool
