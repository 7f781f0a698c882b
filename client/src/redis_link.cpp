#include "redis_link.hpp"

#include <algorithm>
#include <chrono>
#include <thread>

#include "redis_job_entry.hpp"
#include "redis_reconcile.hpp"
#include "warmpool/common/clock.hpp"

namespace warmpool::detail {

RedisLink::RedisLink(RedisEndpoint endpoint, RedisCredentials credentials, int connect_timeout_ms,
                     int read_timeout_ms, RedisConnection connection)
    : endpoint_(std::move(endpoint)),
      credentials_(std::move(credentials)),
      connect_timeout_ms_(connect_timeout_ms),
      read_timeout_ms_(read_timeout_ms),
      connection_(std::move(connection)) {
    connected();
}

void RedisLink::connected() {
    connection_->set_timeout_ms(read_timeout_ms_);
    auto info = connection_->command({"INFO", "server"});
    server_id_ = info && !info->is_error() ? run_id_from_info(info->text()) : std::string();
    reached_ns_ = monotonic_ns();
}

bool RedisLink::reconnect() {
    connection_.reset();
    auto fresh = RedisConnection::connect(endpoint_, credentials_, connect_timeout_ms_);
    if (!fresh) return false;
    connection_.emplace(std::move(fresh.value()));
    connected();
    if (connection_->broken()) return false;
    ++reconnects_;
    return true;
}

template <class Outcome, class AnyWork>
Outcome RedisLink::once(const AnyWork& work) {
    if ((!connection_ || connection_->broken()) && !reconnect()) {
        return make_error(SysError::Code::io, "cannot reach Redis at " + endpoint_.text());
    }
    Outcome outcome = work(*connection_);
    if (!connection_->broken()) reached_ns_ = monotonic_ns();
    return outcome;
}

Result<RedisReply> RedisLink::run_once(const Work& work) { return once<Result<RedisReply>>(work); }

Status RedisLink::use(const std::function<Status(RedisConnection&)>& work) { return once<Status>(work); }

Result<RedisReply> RedisLink::run(const Work& work, const std::function<bool()>& keep_trying) {
    int backoff_ms = 0;
    while (true) {
        if (connection_ && !connection_->broken()) {
            auto result = work(*connection_);
            if (result || !connection_->broken()) {
                reached_ns_ = monotonic_ns();
                return result;
            }
        }
        // Broken (or never made again): wait, then try a new connection.
        backoff_ms = static_cast<int>(next_redis_backoff_ms(backoff_ms));
        for (int waited = 0; waited < backoff_ms; waited += 50) {
            if (!keep_trying()) return make_error(SysError::Code::io, "gave up on Redis at " + endpoint_.text());
            std::this_thread::sleep_for(std::chrono::milliseconds(std::min(50, backoff_ms - waited)));
        }
        if (!keep_trying()) return make_error(SysError::Code::io, "gave up on Redis at " + endpoint_.text());
        if (reconnect()) backoff_ms = 0;
    }
}

}  // namespace warmpool::detail
