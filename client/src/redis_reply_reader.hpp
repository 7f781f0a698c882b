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
// The reader's link is also the session's watch on Redis: after every reconnection it tells the
// session which server it reached (`connected`), between reads it lets the session use the link
// (`between_reads`: the check of the jobs in flight after Redis lost data), and while Redis
// cannot be reached it tells the session for how long (`unreachable`).
//
// The session starts it and calls stop() (any thread) before it goes away; every hook runs on
// the reader's thread.
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

    struct Hooks {
        std::function<void(std::vector<ReplyEntry>& replies)> deliver;
        // After the link reconnected: the run_id of the server it reached (empty if unknown).
        std::function<void(const std::string& run_id)> connected;
        // After each read (and its deliveries), with the link's live connection to use.
        std::function<void(RedisLink& link)> between_reads;
        // While the link reconnects (every 50 ms of its back-off): how long Redis has not answered.
        std::function<void(std::int64_t unreachable_ns)> unreachable;
    };
    RedisReplyReader(RedisLink link, std::string reply_key, std::int64_t reply_ttl_s, Hooks hooks);
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
    Hooks hooks_;
    std::uint64_t seen_reconnects_ = 0;
    std::string last_id_ = "0-0";
    std::int64_t next_expire_ns_ = 0;
    std::size_t read_since_trim_ = 0;
    std::int64_t last_trim_ns_ = 0;
    std::atomic<bool> stopping_{false};
    std::atomic<std::uint64_t> reconnects_{0};
    std::thread thread_;
};

}  // namespace warmpool::detail
