// warmpool::cluster_status: the status of a scale-out cluster (many hosts, each a pool and its
// warmpool-gateway, serving one Redis stream), read from Redis in a few round trips over a fresh
// connection: every gateway live or lapsed with its heartbeat's figures, the entries pending on
// each, the stream's backlog, the cluster-wide counters and totals. The JSON's fields are listed
// in docs/ARCHITECTURE.md ("Scale-out"). Anyone may call it, from any thread; it reads only.
//
//   std::string json = warmpool::cluster_status("redis://10.0.0.5:6379/default");
//
// warmpool::pool_status() answers the same for an endpoint given as its pool.
#pragma once

#include <string>
#include <string_view>

namespace warmpool {

// `endpoint` is "redis://[USER@]HOST[:PORT]/CLUSTER"; the password comes from `password_file`
// if given, else as the endpoint rules say ($WARMPOOL_REDIS_PASSWORD_FILE,
// $WARMPOOL_REDIS_PASSWORD). Throws ConnectError if the endpoint is malformed, the password file
// unreadable, Redis unreachable within `timeout_ms`, or if it refuses a command (an ACL user
// without the rights to read the cluster's keys).
std::string cluster_status(std::string_view endpoint, const std::string& password_file = {}, int timeout_ms = 5000);

}  // namespace warmpool
