// RedisEndpoint: where a scale-out cluster lives, parsed from "redis://[USER@]HOST[:PORT]/CLUSTER",
// and the credentials to reach it.
//
// The cluster name is the pool name clients and gateways share (one job stream per cluster);
// it follows the pool-name rules. A password is never part of an endpoint, since endpoints
// appear on command lines and in process listings: it comes from a file or the environment
// (resolve_redis_credentials). Pure functions over their arguments and the environment.
#pragma once

#include <string>
#include <string_view>

#include "warmpool/common/sys_result.hpp"

namespace warmpool {

inline constexpr std::string_view kRedisScheme = "redis://";
inline constexpr int kRedisDefaultPort = 6379;

struct RedisEndpoint {
    std::string host;
    int port = kRedisDefaultPort;
    std::string cluster;
    std::string user;  // an ACL user named in the endpoint; empty: $WARMPOOL_REDIS_USER or none

    // "redis://host:port/cluster" (with "user@" if one was given): safe to log and show.
    std::string text() const;
};

// True if `text` names a Redis endpoint rather than a local pool.
bool is_redis_endpoint(std::string_view text);

// Parses an endpoint; an error (SysError::Code::invalid) says what is wrong with it, including a
// password written into it ("user:secret@").
Result<RedisEndpoint> parse_redis_endpoint(std::string_view text);

struct RedisCredentials {
    std::string user;      // empty: the default user
    std::string password;  // empty: no AUTH
};

// The user is the endpoint's, else $WARMPOOL_REDIS_USER. The password is read from
// `password_file` if given, else from the file $WARMPOOL_REDIS_PASSWORD_FILE names, else from
// $WARMPOOL_REDIS_PASSWORD; a file's trailing newline is not part of it. An unreadable file is
// an error, not a silent "no password".
Result<RedisCredentials> resolve_redis_credentials(const RedisEndpoint& endpoint, const std::string& password_file = {});

}  // namespace warmpool
