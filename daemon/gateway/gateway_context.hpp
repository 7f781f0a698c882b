// GatewayContext: what the gateway's threads (intake, finisher, housekeeper) and main share for
// the process's life. Built once by main before the threads start; afterwards only `state`
// (its own lock), the local `client` (thread-safe) and the atomic flags change.
//
//   stop_reading  main sets it on SIGTERM or when the local pool is lost: intake and claims stop
//   stop          main sets it after the drain: the finisher writes what is left and returns
//   stop_housekeeper  main sets it once the finisher has returned: the housekeeper removes our
//                 heartbeat (and our consumer, if it holds nothing) and returns
//   pool_lost     the finisher sets it when the local pool answers shutting_down
#pragma once

#include <atomic>
#include <chrono>
#include <string>

#include "gateway_options.hpp"
#include "gateway_state.hpp"
#include "warmpool/client.hpp"
#include "warmpool/redis/redis_layout.hpp"

namespace warmpool {

struct GatewayContext {
    GatewayContext(GatewayOptions o, Client local) : options(std::move(o)), keys(options.endpoint.cluster), client(std::move(local)) {}

    GatewayOptions options;
    std::string name;  // our consumer name: "<hostname>:<pool>:<pid>:<start ms>"
    std::string host;
    std::int64_t started_ms = 0;
    unsigned capacity = 0;
    RedisCredentials credentials;
    redis_layout::Keys keys;
    Client client;
    GatewayState state;
    std::atomic<bool> stop_reading{false};
    std::atomic<bool> stop{false};
    std::atomic<bool> stop_housekeeper{false};
    std::atomic<bool> pool_lost{false};
};

// Unix epoch milliseconds now.
inline std::int64_t unix_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

}  // namespace warmpool
