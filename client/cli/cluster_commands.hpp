// `warmpool status`, `warmpool top` and `warmpool metrics` for a scale-out cluster (--endpoint
// redis://...): they read warmpool::cluster_status() and show it through cluster_view.hpp. The command line
// (warmpool_cli.cpp) calls them; they throw ConnectError as the library does, which it turns
// into exit 2.
#pragma once

#include <string>

#include "metrics_server.hpp"
#include "top_screen.hpp"

namespace warmpool {

struct ClusterTarget {
    std::string endpoint;       // redis://[USER@]HOST[:PORT]/CLUSTER
    std::string password_file;  // empty: as resolve_redis_credentials() says
};

// The cluster `--endpoint` names, or else `pool` if it is an endpoint itself (`-p redis://...`);
// empty if neither is one.
std::string cluster_endpoint(const std::string& endpoint, const std::string& pool);

enum class ClusterOutput { text, json, prometheus, openmetrics };

// Prints the cluster's status to stdout; returns the exit code (0).
int print_cluster_status(const ClusterTarget& target, ClusterOutput output);

// `warmpool top`: the cluster's status, read again for each frame (top_screen.hpp); exit 2 when
// it cannot be read.
int run_cluster_top(const ClusterTarget& target, const TopOptions& options);

// `warmpool metrics`: serves the cluster's metrics over HTTP, read afresh for each scrape.
int serve_cluster_metrics(const ClusterTarget& target, MetricsServerOptions options);

}  // namespace warmpool
