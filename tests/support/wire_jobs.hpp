// WireJobs: a test's own scale-out client, speaking the wire format of redis_layout.hpp directly
// (XADD job entries, XREAD the reply stream), so the gateway tests depend on nothing but the
// format: one client id, jobs numbered 1, 2, 3..., every reply entry kept (so a second reply to
// a job is seen, not merged).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "redis_server.hpp"
#include "warmpool/redis/redis_connection.hpp"
#include "warmpool/redis/redis_layout.hpp"

namespace warmpool::testing {

struct WireReply {
    std::uint64_t seq = 0;
    int status = -1;
    std::uint32_t flags = 0;
    std::string body;
    std::string by;
};

struct WireJob {
    std::string function;
    std::string payload;
    std::uint32_t flags = 1;  // kJobJson
    std::uint64_t fingerprint = 0;
    std::int64_t timeout_ms = 0;
    std::int64_t deadline_ms = 0;
    int priority = 0;
};

class WireJobs {
public:
    WireJobs(const RedisServer& server, const std::string& cluster, std::string password = {})
        : server_(server), cluster_(cluster), password_(std::move(password)), keys_(cluster), redis_(connect_once()) {
        std::random_device random;
        const std::uint64_t id = (std::uint64_t{random()} << 32) ^ random();
        char text[17];
        std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(id));
        client_ = text;
    }

    const std::string& client() const { return client_; }
    const redis_layout::Keys& keys() const { return keys_; }
    RedisConnection& redis() { return redis_; }
    std::string job_id(std::uint64_t seq) const { return client_ + "-" + std::to_string(seq); }

    // XADDs a job; returns its sequence number.
    std::uint64_t submit(const WireJob& job) {
        const std::uint64_t seq = ++seq_;
        namespace f = redis_layout::job_field;
        add({{std::string(f::job), job_id(seq)},
             {std::string(f::client), client_},
             {std::string(f::function), job.function},
             {std::string(f::flags), std::to_string(job.flags)},
             {std::string(f::fingerprint), std::to_string(job.fingerprint)},
             {std::string(f::payload), job.payload},
             {std::string(f::timeout_ms), std::to_string(job.timeout_ms)},
             {std::string(f::deadline_ms), std::to_string(job.deadline_ms)},
             {std::string(f::priority), std::to_string(job.priority)},
             {std::string(f::attempts), "0"}});
        return seq;
    }
    std::uint64_t submit_json(const std::string& function, const std::string& json_args) {
        return submit(WireJob{function, json_args});
    }
    // A sequence number for a hand-made entry (add()).
    std::uint64_t next_seq() { return ++seq_; }

    // XADDs an entry of exactly these fields (hostile input); returns its entry id.
    std::string add(const std::vector<std::pair<std::string, std::string>>& fields) {
        const std::string stream = keys_.jobs();
        std::vector<std::string_view> args{"XADD", stream, "*"};
        for (const auto& [name, value] : fields) {
            args.emplace_back(name);
            args.emplace_back(value);
        }
        for (int attempt = 0;; ++attempt) {
            auto id = redis_.command(args);
            if (id && id->value().is_string()) return std::string(id->text());
            if (attempt > 100) throw std::runtime_error("XADD failed");
            reconnect();
        }
    }

    // Reads reply entries for up to `wait`, until `until(replies)` holds; returns them all (by seq,
    // every reply entry kept).
    template <class Until>
    const std::map<std::uint64_t, std::vector<WireReply>>& read_until(Until until, std::chrono::milliseconds wait) {
        const auto deadline = std::chrono::steady_clock::now() + wait;
        while (!until(replies_) && std::chrono::steady_clock::now() < deadline) read_some(100);
        return replies_;
    }
    // Waits until every job 1..seq has a reply, then reads on for `linger` to catch duplicates.
    const std::map<std::uint64_t, std::vector<WireReply>>& read_all(std::chrono::milliseconds wait,
                                                                     std::chrono::milliseconds linger = std::chrono::milliseconds(300)) {
        read_until([&](const auto&) { return answered() == seq_; }, wait);
        const auto end = std::chrono::steady_clock::now() + linger;
        while (std::chrono::steady_clock::now() < end) read_some(50);
        return replies_;
    }
    std::size_t answered() const {
        std::size_t n = 0;
        for (std::uint64_t s = 1; s <= seq_; ++s) n += replies_.contains(s) ? 1 : 0;
        return n;
    }
    const std::map<std::uint64_t, std::vector<WireReply>>& replies() const { return replies_; }
    std::uint64_t submitted() const { return seq_; }

    long long stat(std::string_view name) {
        auto reply = redis_.command({"HGET", keys_.stats(), name});
        if (!reply) {
            reconnect();
            return -1;
        }
        return reply->value().as_integer().value_or(0);
    }

    // The consumer (gateway) name whose pid is `pid`, from the gateways set; "" if none yet.
    std::string consumer_of(pid_t pid) {
        auto members = redis_.command({"SMEMBERS", keys_.gateways()});
        if (!members) return {};
        const std::string needle = ":" + std::to_string(pid) + ":";
        for (std::size_t i = 0; i < members->value().size(); ++i) {
            const std::string name(members->value()[i].text());
            if (name.find(needle) != std::string::npos) return name;
        }
        return {};
    }
    // Entries pending on `consumer` (read, not yet acknowledged).
    long long pending_on(const std::string& consumer) {
        auto reply = redis_.command({"XPENDING", keys_.jobs(), redis_layout::kGroup, "-", "+", "100000", consumer});
        return reply && reply->value().is_array() ? static_cast<long long>(reply->value().size()) : -1;
    }
    // The consumers of the group, by name.
    std::vector<std::string> consumers() {
        std::vector<std::string> out;
        auto reply = redis_.command({"XINFO", "CONSUMERS", keys_.jobs(), redis_layout::kGroup});
        if (!reply || !reply->value().is_array()) return out;
        for (std::size_t i = 0; i < reply->value().size(); ++i) out.emplace_back(reply->value()[i][1].text());
        return out;
    }
    // A gateway's heartbeat JSON text ("" if it has none).
    std::string heartbeat(const std::string& consumer) {
        auto reply = redis_.command({"GET", keys_.gateway(consumer)});
        return reply && reply->value().is_string() ? std::string(reply->text()) : std::string();
    }
    // True once every gateway of `pids` has joined the cluster and written its heartbeat: a test
    // that needs every host serving waits for this (a host counts as started before its gateway
    // has reached Redis).
    bool wait_serving(const std::vector<pid_t>& pids, std::chrono::milliseconds timeout) {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        for (pid_t pid : pids) {
            for (;;) {
                const std::string consumer = consumer_of(pid);
                if (!consumer.empty() && !heartbeat(consumer).empty()) break;
                if (std::chrono::steady_clock::now() >= deadline) return false;
                std::this_thread::sleep_for(std::chrono::milliseconds(10));
            }
        }
        return true;
    }
    // The jobs that have a number of replies other than one, as "seq:count" (empty: all good).
    std::string not_exactly_once() const {
        std::string out;
        for (std::uint64_t s = 1; s <= seq_; ++s) {
            const auto found = replies_.find(s);
            const std::size_t n = found == replies_.end() ? 0 : found->second.size();
            if (n != 1) out += " " + std::to_string(s) + ":" + std::to_string(n);
        }
        return out;
    }

    // A new connection after a Redis restart (retried for a few seconds).
    void reconnect() {
        for (int i = 0; i < 100; ++i) {
            auto made = RedisConnection::connect(server_.address(cluster_), RedisCredentials{"", password_}, 1000);
            if (made) {
                redis_ = std::move(made.value());
                return;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
        throw std::runtime_error("cannot reconnect to Redis");
    }

private:
    RedisConnection connect_once() {
        auto made = RedisConnection::connect(server_.address(cluster_), RedisCredentials{"", password_}, 2000);
        if (!made) throw std::runtime_error(made.error().message());
        return std::move(made.value());
    }

    void read_some(int block_ms) {
        const std::string block = std::to_string(block_ms);
        redis_.set_timeout_ms(block_ms + 2000);
        auto reply = redis_.command({"XREAD", "COUNT", "1000", "BLOCK", block, "STREAMS", keys_.reply(client_), last_});
        if (!reply) {
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
            reconnect();
            return;
        }
        if (reply->is_error() || reply->value().is_nil()) return;
        const RedisValue entries = reply->value()[0][1];
        for (std::size_t i = 0; i < entries.size(); ++i) {
            last_ = std::string(entries[i][0].text());
            WireReply r;
            const RedisValue fields = entries[i][1];
            for (std::size_t k = 0; k + 1 < fields.size(); k += 2) {
                const std::string_view name = fields[k].text();
                const RedisValue value = fields[k + 1];
                if (name == redis_layout::reply_field::seq) r.seq = static_cast<std::uint64_t>(value.as_integer().value_or(0));
                if (name == redis_layout::reply_field::status) r.status = static_cast<int>(value.as_integer().value_or(-1));
                if (name == redis_layout::reply_field::flags) r.flags = static_cast<std::uint32_t>(value.as_integer().value_or(0));
                if (name == redis_layout::reply_field::body) r.body = std::string(value.text());
                if (name == redis_layout::reply_field::by) r.by = std::string(value.text());
            }
            replies_[r.seq].push_back(std::move(r));
        }
    }

    const RedisServer& server_;
    std::string cluster_;
    std::string password_;
    redis_layout::Keys keys_;
    RedisConnection redis_;
    std::string client_;
    std::uint64_t seq_ = 0;
    std::string last_ = "0-0";
    std::map<std::uint64_t, std::vector<WireReply>> replies_;
};

}  // namespace warmpool::testing
