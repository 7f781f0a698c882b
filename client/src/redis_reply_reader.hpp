// RedisReplyReader: the thread that reads a Redis session's reply stream. Private to libwarmpool.
//
// Owns its own connection (a RedisLink: an XREAD that blocks must not hold up submits) and the
// id of the last entry it read. It reads the stream (XREAD COUNT/BLOCK from that id), hands every
// reply entry to `deliver` in stream order, trims what it has read (XTRIM MINID) and refreshes
// the stream's EXPIRE every few seconds, so that the stream stays short while the client lives
// and expires after it has gone. After a lost connection it resumes from the last id it read, so
// no reply is missed or delivered twice. Entries that are not replies (the wake-up a closing
// session adds) are skipped.
//
// The session starts it and calls stop() (any thread) before it goes away; `deliver` runs on the
// reader's thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "redis_job_entry.hpp"
#include "redis_link.hpp"

namespace warmpool::detail {

class RedisReplyReader {
public:
    // How long one XREAD blocks: also how long a closing session may wait for the reader when
    // the wake-up entry cannot be added (Redis unreachable).
    static constexpr int kBlockMs = 1000;
    // How often the stream's EXPIRE is refreshed.
    static constexpr std::int64_t kExpireEveryMs = 2000;
    // What has been read is trimmed once this many entries have been read since the last trim,
    // or this long after it: not after every read, which would cost a command per call.
    static constexpr std::size_t kTrimAfterEntries = 256;
    static constexpr std::int64_t kTrimAfterMs = 250;

    using Deliver = std::function<void(std::vector<ReplyEntry>& replies)>;
    RedisReplyReader(RedisLink link, std::string reply_key, std::int64_t reply_ttl_s, Deliver deliver);
    ~RedisReplyReader();

    void start();
    // Ends the thread and joins it. `wake` (if given) is run once the thread was told to stop,
    // to cut its blocked read short; else it ends after that read (at most kBlockMs).
    void stop(const std::function<void()>& wake = {});

    std::uint64_t reconnects() const { return reconnects_.load(std::memory_order_relaxed); }

private:
    void run();
    // Reads one batch; returns how many entries it read (0 if none, or the read failed).
    std::size_t read_batch(std::vector<ReplyEntry>& out);
    void keep_stream();

    RedisLink link_;
    std::string reply_key_;
    std::string reply_ttl_s_;
    Deliver deliver_;
    std::string last_id_ = "0-0";
    std::int64_t next_expire_ns_ = 0;
    std::size_t read_since_trim_ = 0;
    std::int64_t last_trim_ns_ = 0;
    std::atomic<bool> stopping_{false};
    std::atomic<std::uint64_t> reconnects_{0};
    std::thread thread_;
};

}  // namespace warmpool::detail
