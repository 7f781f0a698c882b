#include "warmpool/redis/redis_connection.hpp"

#include <hiredis/hiredis.h>
#include <sys/time.h>

#include <charconv>

namespace warmpool {

namespace {

timeval timeval_of(int ms) {
    timeval tv{};
    tv.tv_sec = ms / 1000;
    tv.tv_usec = static_cast<suseconds_t>((ms % 1000) * 1000);
    return tv;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// RedisValue

bool RedisValue::is_nil() const { return reply_ == nullptr || reply_->type == REDIS_REPLY_NIL; }
bool RedisValue::is_error() const { return reply_ != nullptr && reply_->type == REDIS_REPLY_ERROR; }
bool RedisValue::is_array() const { return reply_ != nullptr && reply_->type == REDIS_REPLY_ARRAY; }
bool RedisValue::is_integer() const { return reply_ != nullptr && reply_->type == REDIS_REPLY_INTEGER; }
bool RedisValue::is_string() const {
    return reply_ != nullptr && (reply_->type == REDIS_REPLY_STRING || reply_->type == REDIS_REPLY_STATUS);
}

std::string_view RedisValue::text() const {
    if (reply_ == nullptr || reply_->str == nullptr) return {};
    if (reply_->type != REDIS_REPLY_STRING && reply_->type != REDIS_REPLY_STATUS && reply_->type != REDIS_REPLY_ERROR) {
        return {};
    }
    return {reply_->str, static_cast<std::size_t>(reply_->len)};
}

long long RedisValue::integer() const { return is_integer() ? reply_->integer : 0; }

std::size_t RedisValue::size() const { return is_array() ? reply_->elements : 0; }

RedisValue RedisValue::operator[](std::size_t i) const {
    return RedisValue(i < size() ? reply_->element[i] : nullptr);
}

std::optional<long long> RedisValue::as_integer() const {
    if (is_integer()) return reply_->integer;
    if (!is_string()) return std::nullopt;
    const std::string_view t = text();
    long long value = 0;
    const auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), value);
    if (ec != std::errc() || end != t.data() + t.size() || t.empty()) return std::nullopt;
    return value;
}

// ---------------------------------------------------------------------------------------------
// RedisReply

RedisReply::RedisReply(redisReply* reply) : reply_(reply) {}

void RedisReply::Free::operator()(redisReply* reply) const { freeReplyObject(reply); }

// ---------------------------------------------------------------------------------------------
// RedisConnection

void RedisConnection::Close::operator()(redisContext* context) const { redisFree(context); }

RedisConnection::RedisConnection(redisContext* context, std::string where)
    : context_(context), where_(std::move(where)) {}
RedisConnection::RedisConnection(RedisConnection&&) noexcept = default;
RedisConnection& RedisConnection::operator=(RedisConnection&&) noexcept = default;
RedisConnection::~RedisConnection() = default;

Result<RedisConnection> RedisConnection::connect(const RedisEndpoint& endpoint, const RedisCredentials& credentials,
                                                 int timeout_ms) {
    const std::string where = endpoint.host + ":" + std::to_string(endpoint.port);
    redisContext* context = redisConnectWithTimeout(endpoint.host.c_str(), endpoint.port, timeval_of(timeout_ms));
    if (context == nullptr) return make_error(SysError::Code::resource, "cannot allocate a Redis connection");
    RedisConnection connection(context, where);
    if (context->err != 0) {
        return make_error(SysError::Code::io, "cannot connect to Redis at " + where + ": " + context->errstr);
    }
    redisSetTimeout(context, timeval_of(timeout_ms));
    redisEnableKeepAlive(context);
    if (!credentials.password.empty()) {
        std::vector<std::string_view> auth{"AUTH"};
        if (!credentials.user.empty()) auth.emplace_back(credentials.user);
        auth.emplace_back(credentials.password);
        auto reply = connection.command(auth);
        if (!reply) return reply.error();
        if (reply->is_error()) {
            return make_error(SysError::Code::permission,
                              "Redis at " + where + " refused the credentials: " + std::string(reply->text()));
        }
    }
    auto pong = connection.command({"PING"});
    if (!pong) return pong.error();
    if (pong->is_error()) {
        const bool auth = pong->text().starts_with("NOAUTH");
        return make_error(auth ? SysError::Code::permission : SysError::Code::protocol,
                          "Redis at " + where + " answered PING with: " + std::string(pong->text()) +
                              (auth ? " (set WARMPOOL_REDIS_PASSWORD_FILE or WARMPOOL_REDIS_PASSWORD)" : ""));
    }
    return connection;
}

SysError RedisConnection::failure(const std::string& what) {
    if (context_ && context_->err != 0) error_ = context_->errstr;
    if (error_.empty()) error_ = "connection lost";
    return make_error(SysError::Code::io, what + " on Redis at " + where_ + " failed: " + error_);
}

bool RedisConnection::broken() const { return !context_ || context_->err != 0; }

void RedisConnection::set_timeout_ms(int timeout_ms) {
    if (context_) redisSetTimeout(context_.get(), timeval_of(timeout_ms));
}

void RedisConnection::append(const std::vector<std::string_view>& args) {
    if (broken()) return;
    std::vector<const char*> argv;
    std::vector<std::size_t> lengths;
    argv.reserve(args.size());
    lengths.reserve(args.size());
    for (const auto& a : args) {
        argv.push_back(a.data());
        lengths.push_back(a.size());
    }
    redisAppendCommandArgv(context_.get(), static_cast<int>(argv.size()), argv.data(), lengths.data());
}

Result<RedisReply> RedisConnection::read_reply() {
    if (broken()) return failure("a read");
    void* raw = nullptr;
    if (redisGetReply(context_.get(), &raw) != REDIS_OK || raw == nullptr) {
        if (raw != nullptr) freeReplyObject(raw);
        return failure("a read");
    }
    return RedisReply(static_cast<redisReply*>(raw));
}

Result<RedisReply> RedisConnection::command(const std::vector<std::string_view>& args) {
    append(args);
    return read_reply();
}

Status RedisConnection::load(const RedisScript& script) {
    auto reply = command({"SCRIPT", "LOAD", script.source});
    if (!reply) return reply.error();
    if (reply->is_error() || !reply->value().is_string()) {
        return make_error(SysError::Code::protocol, "Redis refused a script: " + std::string(reply->text()));
    }
    shas_[script.source.data()] = std::string(reply->text());
    return {};
}

bool RedisConnection::is_noscript(const RedisReply& reply) {
    return reply.is_error() && reply.text().starts_with("NOSCRIPT");
}

std::vector<std::string_view> RedisConnection::script_command(const std::string& sha,
                                                               const std::vector<std::string_view>& keys,
                                                               const std::vector<std::string_view>& args,
                                                               std::string& key_count) {
    key_count = std::to_string(keys.size());
    std::vector<std::string_view> argv;
    argv.reserve(3 + keys.size() + args.size());
    argv.emplace_back("EVALSHA");
    argv.emplace_back(sha);
    argv.emplace_back(key_count);
    argv.insert(argv.end(), keys.begin(), keys.end());
    argv.insert(argv.end(), args.begin(), args.end());
    return argv;
}

void RedisConnection::append_run(const RedisScript& script, const std::vector<std::string_view>& keys,
                                 const std::vector<std::string_view>& args) {
    // An unknown script still gets a command, so the replies stay in step: its NOSCRIPT reply
    // tells the caller to load() and run() it.
    const auto found = shas_.find(script.source.data());
    static const std::string unknown = "0000000000000000000000000000000000000000";
    std::string key_count;
    append(script_command(found == shas_.end() ? unknown : found->second, keys, args, key_count));
}

Result<RedisReply> RedisConnection::run(const RedisScript& script, const std::vector<std::string_view>& keys,
                                        const std::vector<std::string_view>& args) {
    for (int attempt = 0; attempt < 2; ++attempt) {
        if (shas_.find(script.source.data()) == shas_.end()) {
            if (auto loaded = load(script); !loaded) return loaded.error();
        }
        std::string key_count;
        auto reply = command(script_command(shas_[script.source.data()], keys, args, key_count));
        if (!reply) return reply;
        if (!is_noscript(*reply)) return reply;
        shas_.erase(script.source.data());  // Redis restarted and forgot it: load it again
    }
    return make_error(SysError::Code::protocol, "Redis keeps forgetting a script");
}

}  // namespace warmpool
