#include "gateway_options.hpp"

#include <CLI/CLI.hpp>
#include <iostream>

#include "warmpool/redis/redis_layout.hpp"

namespace warmpool {

namespace {
constexpr int kUsageError = 64;  // EX_USAGE
}

std::variant<GatewayOptions, int> parse_gateway_options(int argc, char** argv) {
    namespace layout = redis_layout;
    GatewayOptions o;
    o.lease_ms = layout::kDefaultLeaseMs;
    o.poison_after = layout::kDefaultPoisonAfter;
    o.reply_ttl_s = layout::kDefaultReplyTtlS;
    o.reply_cap = layout::kDefaultReplyCap;
    o.done_ttl_ms = layout::kDefaultDoneTtlMs;
    o.drain_ms = 10'000;
    std::string endpoint;

    CLI::App app{
        "warmpool-gateway: serves a scale-out cluster's Redis job stream with a local warmpool pool\n"
        "The Redis password comes from --redis-password-file, $WARMPOOL_REDIS_PASSWORD_FILE or\n"
        "$WARMPOOL_REDIS_PASSWORD, never from the command line.",
        "warmpool-gateway"};
    app.set_version_flag("--version", "warmpool-gateway " WARMPOOL_VERSION, "Print the version and exit");
    app.add_option("--pool", o.pool, "The local pool that runs the jobs")->required()->type_name("NAME");
    app.add_option("--runtime-dir", o.runtime_dir, "The local pool's runtime directory")->type_name("DIR");
    app.add_option("--endpoint", endpoint, "The cluster: redis://[USER@]HOST[:PORT]/CLUSTER")
        ->required()
        ->type_name("URL");
    app.add_option("--lease-ms", o.lease_ms, "Heartbeat lease; entries idle this long are claimed")
        ->check(CLI::Range(std::int64_t{200}, std::int64_t{60'000}))
        ->capture_default_str();
    app.add_option("--poison-after", o.poison_after, "Deliveries without an outcome before a job is poison")
        ->check(CLI::Range(1u, 100u))
        ->capture_default_str();
    app.add_option("--capacity", o.capacity, "Jobs in flight at once (0: the pool's worker slots)")
        ->check(CLI::Range(0u, 100'000u))
        ->capture_default_str();
    app.add_option("--reply-ttl", o.reply_ttl_s, "Seconds an idle reply stream lives")
        ->check(CLI::Range(std::int64_t{1}, std::int64_t{30 * 86'400}))
        ->type_name("SECONDS")
        ->capture_default_str();
    app.add_option("--reply-cap", o.reply_cap, "Entries a reply stream keeps at most")
        ->check(CLI::Range(std::int64_t{1}, std::int64_t{100'000'000}))
        ->capture_default_str();
    app.add_option("--done-ttl-ms", o.done_ttl_ms, "How long a finished job's fencing key lives")
        ->check(CLI::Range(std::int64_t{1'000}, std::int64_t{30LL * 86'400'000}))
        ->capture_default_str();
    app.add_option("--drain-ms", o.drain_ms, "On SIGTERM, how long running jobs may take before they are requeued")
        ->check(CLI::Range(std::int64_t{0}, std::int64_t{3'600'000}))
        ->capture_default_str();
    app.add_option("--redis-password-file", o.password_file, "File holding the Redis password")->type_name("FILE");
    app.add_flag("--trust-pickle", o.trust_pickle,
                 "Run pickle-encoded jobs (anyone who can write the stream can then run code on the workers)");
    app.add_option("--log-level", o.log_level, "trace, debug, info, warn, error, critical or off")
        ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}))
        ->capture_default_str();
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        const int rc = app.exit(e);
        return rc == 0 ? 0 : kUsageError;
    }
    auto parsed = parse_redis_endpoint(endpoint);
    if (!parsed) {
        std::cerr << "warmpool-gateway: --endpoint: " << parsed.error().message() << "\n";
        return kUsageError;
    }
    o.endpoint = std::move(parsed.value());
    return o;
}

}  // namespace warmpool
