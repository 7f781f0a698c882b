// RedisLink: one thread's connection to the cluster's Redis, made again after it breaks, with
// back-off (gateway_policy: 100 ms doubling to 2 s) so a Redis that is down is not hammered.
//
// Owned by one thread. get() hands out the connection, or nullptr while Redis cannot be reached
// (the caller goes on with its local work and asks again); lost() after a failed command drops it.
// Every reconnection after the first is counted in `reconnects` (the heartbeat's
// redis_reconnects). generation() changes with each new connection, so callers know to load
// their scripts or re-create the consumer group.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "warmpool/redis/redis_connection.hpp"

namespace warmpool {

class RedisLink {
public:
    RedisLink(RedisEndpoint endpoint, RedisCredentials credentials, std::string role,
              std::atomic<std::uint64_t>& reconnects, int timeout_ms = 2000);

    RedisConnection* get();
    void lost(const std::string& why);
    std::uint64_t generation() const { return generation_; }

private:
    RedisEndpoint endpoint_;
    RedisCredentials credentials_;
    std::string role_;  // for the log: "intake", "finisher", ...
    std::atomic<std::uint64_t>& reconnects_;
    int timeout_ms_;
    std::optional<RedisConnection> connection_;
    std::uint64_t generation_ = 0;
    std::int64_t backoff_ms_ = 0;
    std::chrono::steady_clock::time_point next_try_{};
    bool logged_down_ = false;
};

}  // namespace warmpool
