// MetricsServer: `warmpool metrics`, the HTTP endpoint Prometheus scrapes. A process of its own
// beside the pool, so that the supervisor stays single-threaded and off the network: each
// GET /metrics asks the pool's status socket afresh (metrics_http.hpp says what is answered), or
// for a scale-out cluster reads its keys in Redis afresh (cluster_commands.hpp).
//
// One thread, one poll loop. It owns the listening socket, a signalfd for SIGTERM and SIGINT
// (which end it, exit 0), and at most kMaxConnections connections, each with a deadline: a
// client that sends nothing, or too slowly, is dropped at its deadline, or sooner when a new
// connection needs its place, so it never holds up the next scrape. Each connection carries one
// request; the answer ends it (Connection: close). Requests are answered one at
// a time; the status socket's answer is bounded by its own timeout. It writes nothing to stdout;
// on stderr, only errors: a failure to listen, and a pool that became unreachable (once, until it
// answers again).
#pragma once

#include <string>

#include "metrics_http.hpp"

namespace warmpool {

struct MetricsServerOptions {
    std::string listen = "127.0.0.1:9464";  // metrics_http::parse_listen_address()
    std::string pool;                       // the pool's name, for messages
    std::string status_socket;              // the pool's status socket
    metrics_http::Scrape scrape;            // if set, what is read instead (a cluster's metrics)
};

// Serves until SIGTERM or SIGINT, then returns 0; 64 for a listen address it cannot read, 71
// (EX_OSERR) if it cannot listen.
int serve_metrics(const MetricsServerOptions& options);

}  // namespace warmpool
