// RedisConnection: one synchronous connection to Redis (hiredis), owned by one thread at a time.
// RedisReply: an owned reply; RedisValue: a view of one element of it.
//
// Errors as values: a connection that cannot be made, or breaks, is a SysError; an error the
// server answers ("-ERR ...", "-NOSCRIPT ...") is a reply whose is_error() is true. A broken
// connection stays broken (broken()); callers make a new one (with back-off) to go on. Scripts
// are run by their SHA1 and loaded again when Redis says it does not know them, so a Redis
// restart costs one extra round trip, not an error.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "warmpool/common/sys_result.hpp"
#include "warmpool/redis/redis_endpoint.hpp"

struct redisContext;
struct redisReply;

namespace warmpool {

// Reconnection back-off of every long-lived Redis connection (clients' and gateways'): 100 ms,
// doubling, at most 2 s, so a Redis that is down is not hammered and one that is back is found
// soon.
inline constexpr std::int64_t kRedisFirstBackoffMs = 100;
inline constexpr std::int64_t kRedisMaxBackoffMs = 2'000;
constexpr std::int64_t next_redis_backoff_ms(std::int64_t previous_ms) {
    return previous_ms <= 0 ? kRedisFirstBackoffMs
                            : (previous_ms * 2 < kRedisMaxBackoffMs ? previous_ms * 2 : kRedisMaxBackoffMs);
}

// A view of one reply element; valid while its RedisReply lives.
class RedisValue {
public:
    explicit RedisValue(const redisReply* reply) : reply_(reply) {}

    bool is_nil() const;
    bool is_error() const;
    bool is_array() const;
    bool is_integer() const;
    bool is_string() const;  // a bulk string or a status
    std::string_view text() const;  // string, status or error text; empty otherwise
    long long integer() const;      // 0 unless is_integer()
    std::size_t size() const;       // elements of an array; 0 otherwise
    RedisValue operator[](std::size_t i) const;
    // An integer reply, or a string holding a decimal integer.
    std::optional<long long> as_integer() const;

private:
    const redisReply* reply_;
};

class RedisReply {
public:
    explicit RedisReply(redisReply* reply);
    RedisValue value() const { return RedisValue(reply_.get()); }
    bool is_error() const { return value().is_error(); }
    std::string_view text() const { return value().text(); }

private:
    struct Free {
        void operator()(redisReply* reply) const;
    };
    std::unique_ptr<redisReply, Free> reply_;
};

// A server-side script, named by its source; its SHA1 is learnt from SCRIPT LOAD.
struct RedisScript {
    std::string_view source;
};

class RedisConnection {
public:
    // Connects (within timeout_ms), authenticates (AUTH [user] password) if a password is given,
    // and checks the server answers PING.
    static Result<RedisConnection> connect(const RedisEndpoint& endpoint, const RedisCredentials& credentials,
                                           int timeout_ms);

    RedisConnection(RedisConnection&&) noexcept;
    RedisConnection& operator=(RedisConnection&&) noexcept;
    ~RedisConnection();

    // One command, one reply.
    Result<RedisReply> command(const std::vector<std::string_view>& args);
    // Pipelining: queue commands with append(), then read their replies in order.
    void append(const std::vector<std::string_view>& args);
    Result<RedisReply> read_reply();

    // Runs a script (EVALSHA, loading it first if needed).
    Result<RedisReply> run(const RedisScript& script, const std::vector<std::string_view>& keys,
                           const std::vector<std::string_view>& args);
    // As run(), queued in a pipeline; the script must be loaded (load()). A reply that
    // is_noscript() means it was not (Redis restarted): load it and run() the command again.
    void append_run(const RedisScript& script, const std::vector<std::string_view>& keys,
                    const std::vector<std::string_view>& args);
    Status load(const RedisScript& script);
    static bool is_noscript(const RedisReply& reply);

    // How long a read may wait (a blocking XREAD must be given more than its BLOCK time).
    void set_timeout_ms(int timeout_ms);
    bool broken() const;
    const std::string& error_text() const { return error_; }

private:
    RedisConnection(redisContext* context, std::string where);
    SysError failure(const std::string& what);
    std::vector<std::string_view> script_command(const std::string& sha, const std::vector<std::string_view>& keys,
                                                 const std::vector<std::string_view>& args, std::string& key_count);

    struct Close {
        void operator()(redisContext* context) const;
    };
    std::unique_ptr<redisContext, Close> context_;
    std::string where_;  // endpoint text, for messages
    std::string error_;
    std::map<const char*, std::string> shas_;  // by script source address
};

}  // namespace warmpool
