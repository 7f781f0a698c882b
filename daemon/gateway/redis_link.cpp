#include "redis_link.hpp"

#include <spdlog/spdlog.h>

#include "gateway_policy.hpp"

namespace warmpool {

RedisLink::RedisLink(RedisEndpoint endpoint, RedisCredentials credentials, std::string role,
                     std::atomic<std::uint64_t>& reconnects, int timeout_ms)
    : endpoint_(std::move(endpoint)),
      credentials_(std::move(credentials)),
      role_(std::move(role)),
      reconnects_(reconnects),
      timeout_ms_(timeout_ms) {}

RedisConnection* RedisLink::get() {
    if (connection_ && !connection_->broken()) return &*connection_;
    if (connection_) lost(connection_->error_text());
    const auto now = std::chrono::steady_clock::now();
    if (now < next_try_) return nullptr;
    auto made = RedisConnection::connect(endpoint_, credentials_, timeout_ms_);
    if (!made) {
        backoff_ms_ = next_redis_backoff_ms(backoff_ms_);
        next_try_ = now + std::chrono::milliseconds(backoff_ms_);
        if (!logged_down_) spdlog::warn("{}: {}; retrying", role_, made.error().message());
        logged_down_ = true;
        return nullptr;
    }
    if (generation_ > 0) {
        reconnects_.fetch_add(1);
        spdlog::info("{}: reconnected to Redis at {}", role_, endpoint_.text());
    }
    connection_.emplace(std::move(made.value()));
    ++generation_;
    backoff_ms_ = 0;
    logged_down_ = false;
    return &*connection_;
}

void RedisLink::lost(const std::string& why) {
    if (!connection_) return;
    spdlog::warn("{}: lost Redis at {}: {}", role_, endpoint_.text(), why);
    connection_.reset();
    backoff_ms_ = next_redis_backoff_ms(backoff_ms_);
    next_try_ = std::chrono::steady_clock::now() + std::chrono::milliseconds(backoff_ms_);
}

}  // namespace warmpool
