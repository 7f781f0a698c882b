// RedisLink: one Redis connection that comes back after it breaks. Private to libwarmpool.
//
// Owns the connection and what it takes to make it again (endpoint, credentials, timeouts).
// run() hands the live connection to a piece of work; if the connection breaks during it (or
// cannot be made), it reconnects with back-off (100 ms doubling to 2 s, next_redis_backoff_ms) and runs
// the work again, while `keep_trying` says so. Work that is run again must be harmless to repeat
// (a job entry added twice is: only one outcome is ever delivered). Not thread-safe: one thread
// at a time, its owner's (RedisSession's submitting threads take turns under its own mutex).
// After every connection it reads the server's run_id (INFO server), so that its owner can tell
// a reconnection to the same server from one to a server that may have lost data.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "warmpool/common/sys_result.hpp"
#include "warmpool/redis/redis_connection.hpp"
#include "warmpool/redis/redis_endpoint.hpp"

namespace warmpool::detail {

class RedisLink {
public:
    // `connection`: made already (connect() reports a first failure as ConnectError, a link never
    // does). read_timeout_ms: how long a reply may take (more than any BLOCK time it is used with).
    RedisLink(RedisEndpoint endpoint, RedisCredentials credentials, int connect_timeout_ms, int read_timeout_ms,
              RedisConnection connection);

    using Work = std::function<Result<RedisReply>(RedisConnection&)>;
    // Runs `work`; again on a new connection after the old one broke, while keep_trying() (checked
    // between attempts and every 50 ms of back-off). Returns the work's last result: a reply
    // (possibly a Redis error reply), or the error that made it give up.
    Result<RedisReply> run(const Work& work, const std::function<bool()>& keep_trying);
    // As run(), one attempt only (what a closing session does: it waits for nobody).
    Result<RedisReply> run_once(const Work& work);

    // As run_once(), for work that reads several replies (a pipeline) and reports only whether
    // it went through.
    Status use(const std::function<Status(RedisConnection&)>& work);

    std::uint64_t reconnects() const { return reconnects_; }
    // The run_id of the server the last connection reached; empty if INFO was refused.
    const std::string& server_id() const { return server_id_; }
    // monotonic_ns() when Redis last answered on this link (a connection made, or work that left
    // it unbroken).
    std::int64_t reached_ns() const { return reached_ns_; }

private:
    bool reconnect();
    void connected();
    // One attempt of `work` (run_once, use), on a connection made again if it broke.
    template <class Outcome, class AnyWork>
    Outcome once(const AnyWork& work);

    RedisEndpoint endpoint_;
    RedisCredentials credentials_;
    int connect_timeout_ms_;
    int read_timeout_ms_;
    std::optional<RedisConnection> connection_;  // empty while it cannot be made
    std::uint64_t reconnects_ = 0;
    std::string server_id_;
    std::int64_t reached_ns_ = 0;
};

}  // namespace warmpool::detail
