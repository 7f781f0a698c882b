// GatewayOptions: warmpool-gateway's command line, parsed and checked (CLI11). main() alone
// calls parse_gateway_options().
#pragma once

#include <cstdint>
#include <string>
#include <variant>

#include "warmpool/redis/redis_endpoint.hpp"

namespace warmpool {

struct GatewayOptions {
    std::string pool;         // the local pool
    std::string runtime_dir;  // where the local pool's sockets are; empty: the default
    RedisEndpoint endpoint;
    std::string password_file;
    std::int64_t lease_ms = 0;
    unsigned poison_after = 0;
    unsigned capacity = 0;  // 0: the local pool's worker slots
    std::int64_t reply_ttl_s = 0;
    std::int64_t reply_cap = 0;
    std::int64_t done_ttl_ms = 0;
    std::int64_t drain_ms = 0;  // on SIGTERM, how long in-flight jobs may take to finish
    bool trust_pickle = false;
    std::string log_level = "info";
};

// Options, or the process's exit code (0 after --help/--version, 64 on a usage error; the
// message is printed).
std::variant<GatewayOptions, int> parse_gateway_options(int argc, char** argv);

}  // namespace warmpool
