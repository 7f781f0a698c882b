#include "redis_reply_reader.hpp"

#include <chrono>
#include <cstdio>
#include <utility>

#include "warmpool/common/clock.hpp"

namespace warmpool::detail {

RedisReplyReader::RedisReplyReader(RedisLink link, std::string reply_key, std::int64_t reply_ttl_s, Hooks hooks)
    : link_(std::move(link)),
      reply_key_(std::move(reply_key)),
      reply_ttl_s_(std::to_string(reply_ttl_s)),
      hooks_(std::move(hooks)) {}

RedisReplyReader::~RedisReplyReader() { stop(); }

void RedisReplyReader::start() { thread_ = std::thread([this] { run(); }); }

void RedisReplyReader::stop(const std::function<void()>& wake) {
    if (stopping_.exchange(true)) return;
    if (wake && thread_.joinable()) wake();
    if (thread_.joinable()) thread_.join();
}

void RedisReplyReader::run() {
    std::vector<ReplyEntry> replies;
    while (!stopping_.load()) {
        replies.clear();
        read_since_trim_ += read_batch(replies);
        if (link_.reconnects() != seen_reconnects_) {
            seen_reconnects_ = link_.reconnects();
            hooks_.connected(link_.server_id());
        }
        if (!replies.empty()) hooks_.deliver(replies);
        if (!stopping_.load()) hooks_.between_reads(link_);
        keep_stream();
        reconnects_.store(link_.reconnects(), std::memory_order_relaxed);
    }
}

std::size_t RedisReplyReader::read_batch(std::vector<ReplyEntry>& out) {
    const std::string block = std::to_string(kBlockMs);
    auto reply = link_.run(
        [&](RedisConnection& c) {
            return c.command({"XREAD", "COUNT", "1024", "BLOCK", block, "STREAMS", reply_key_, last_id_});
        },
        [&] {
            if (stopping_.load()) return false;
            hooks_.unreachable(monotonic_ns() - link_.reached_ns());
            return true;
        });
    if (!reply || reply->is_error()) {
        // Not a lost connection (that is retried inside): a refusal such as an ACL that does not
        // let us read. Nothing would change by asking at once again.
        if (reply && !stopping_.load()) std::this_thread::sleep_for(std::chrono::milliseconds(kBlockMs));
        return 0;
    }
    const RedisValue streams = reply->value();
    if (streams.is_nil() || streams.size() == 0) return 0;  // BLOCK ran out
    const RedisValue entries = streams[0][1];
    std::vector<std::pair<std::string_view, std::string_view>> fields;
    for (std::size_t i = 0; i < entries.size(); ++i) {
        const RedisValue entry = entries[i];
        last_id_ = std::string(entry[0].text());
        const RedisValue pairs = entry[1];
        fields.clear();
        for (std::size_t k = 0; k + 1 < pairs.size(); k += 2) fields.emplace_back(pairs[k].text(), pairs[k + 1].text());
        if (auto parsed = parse_reply_entry(fields)) out.push_back(std::move(*parsed));
    }
    return entries.size();
}

void RedisReplyReader::keep_stream() {
    const std::int64_t now = monotonic_ns();
    const bool trim = read_since_trim_ >= kTrimAfterEntries ||
                      (read_since_trim_ > 0 && now - last_trim_ns_ >= kTrimAfterMs * 1'000'000);
    const bool expire = now >= next_expire_ns_;
    if (!trim && !expire) return;
    // Best effort, one attempt: the next read reconnects if the connection is gone.
    [[maybe_unused]] auto done = link_.run_once([&](RedisConnection& c) -> Result<RedisReply> {
        // MINID keeps the last entry read (and any later one): XREAD goes on from its id.
        if (trim) c.append({"XTRIM", reply_key_, "MINID", last_id_});
        if (expire) c.append({"EXPIRE", reply_key_, reply_ttl_s_});
        Result<RedisReply> last = make_error(SysError::Code::io, "nothing sent");
        for (int i = 0; i < int(trim) + int(expire); ++i) last = c.read_reply();
        return last;
    });
    if (expire) next_expire_ns_ = now + kExpireEveryMs * 1'000'000;
    if (trim) {
        read_since_trim_ = 0;
        last_trim_ns_ = now;
    }
}

}  // namespace warmpool::detail
