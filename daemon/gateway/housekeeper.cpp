#include "housekeeper.hpp"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <thread>

#include "gateway_policy.hpp"
#include "heartbeat_status.hpp"
#include "intake.hpp"
#include "redis_link.hpp"

namespace warmpool {

namespace {

namespace layout = redis_layout;

const RedisScript kRefresh{layout::kRefreshScript};
const RedisScript kSweep{layout::kSweepScript};
constexpr int kCancelBlockMs = 100;
constexpr std::size_t kRefreshChunk = 500;

class Housekeeper {
public:
    explicit Housekeeper(GatewayContext& ctx)
        : ctx_(ctx),
          link_(ctx.options.endpoint, ctx.credentials, "housekeeper", ctx.state.counters.redis_reconnects,
                kCancelBlockMs + 2000),
          period_(gateway_policy::housekeeping_period_ms(ctx.options.lease_ms)) {}

    void run() {
        auto next_round = std::chrono::steady_clock::now();
        while (!ctx_.stop_housekeeper.load()) {
            RedisConnection* redis = link_.get();
            if (redis == nullptr) {
                std::this_thread::sleep_for(std::chrono::milliseconds(50));
                continue;
            }
            const auto now = std::chrono::steady_clock::now();
            if (connected_ != link_.generation()) {
                connected_ = link_.generation();
                claim_from_ = now + std::chrono::milliseconds(gateway_policy::claim_pause_after_connect_ms(ctx_.options.lease_ms));
            }
            if (now >= next_round) {
                if (!round(*redis)) {
                    link_.lost(redis->error_text());
                    continue;
                }
                next_round = now + std::chrono::milliseconds(period_);
            }
            if (!tail_cancels(*redis)) link_.lost(redis->error_text());
        }
        leave();
    }

private:
    bool round(RedisConnection& redis) { return heartbeat(redis) && refresh(redis) && claim(redis) && sweep(redis); }

    bool heartbeat(RedisConnection& redis) {
        std::optional<nlohmann::json> pool;
        try {
            pool = nlohmann::json::parse(pool_status(ctx_.options.pool, ctx_.options.runtime_dir, 1000));
        } catch (const std::exception& e) {
            spdlog::debug("heartbeat: the local pool's status cannot be read: {}", e.what());
        }
        HeartbeatFacts facts{ctx_.name,
                             ctx_.host,
                             ctx_.options.pool,
                             static_cast<std::int64_t>(::getpid()),
                             ctx_.started_ms,
                             unix_ms(),
                             ctx_.options.lease_ms,
                             ctx_.capacity,
                             ctx_.state.busy(),
                             ctx_.client.worker_slots()};
        facts.done_ttl_ms = ctx_.options.done_ttl_ms;
        facts.reply_cap = ctx_.options.reply_cap;
        facts.reply_ttl_s = ctx_.options.reply_ttl_s;
        const std::string status = heartbeat_json(facts, ctx_.state.counters, pool).dump();
        const std::string lease = std::to_string(ctx_.options.lease_ms);
        redis.append({"SET", ctx_.keys.gateway(ctx_.name), status, "PX", lease});
        redis.append({"SADD", ctx_.keys.gateways(), ctx_.name});
        return redis.read_reply() && redis.read_reply();
    }

    bool refresh(RedisConnection& redis) {
        const std::vector<std::string> entries = ctx_.state.running_entries();
        for (std::size_t at = 0; at < entries.size(); at += kRefreshChunk) {
            std::vector<std::string_view> args{layout::kGroup, ctx_.name};
            for (std::size_t i = at; i < std::min(entries.size(), at + kRefreshChunk); ++i) args.emplace_back(entries[i]);
            auto lost = redis.run(kRefresh, {ctx_.keys.jobs()}, args);
            if (!lost) return false;
            if (lost->is_error()) {
                spdlog::error("refresh: {}", lost->text());
                continue;
            }
            std::vector<std::string> ids;
            for (std::size_t i = 0; i < lost->value().size(); ++i) ids.emplace_back(lost->value()[i].text());
            if (!ids.empty()) {
                spdlog::warn("{} running entries were claimed by other gateways (a stall?); their outcomes will be fenced",
                             ids.size());
                ctx_.state.mark_lost(ids);
            }
        }
        return true;
    }

    bool claim(RedisConnection& redis) {
        if (ctx_.stop_reading.load() || ctx_.pool_lost.load()) return true;
        if (std::chrono::steady_clock::now() < claim_from_) return true;
        const unsigned room = gateway_policy::read_room(ctx_.capacity, ctx_.state.busy());
        if (room == 0) return true;
        const std::string lease = std::to_string(ctx_.options.lease_ms);
        const std::string count = std::to_string(room);
        auto reply = redis.command(
            {"XAUTOCLAIM", ctx_.keys.jobs(), layout::kGroup, ctx_.name, lease, claim_cursor_, "COUNT", count});
        if (!reply) return false;
        if (reply->is_error()) {
            if (!reply->text().starts_with("NOGROUP")) spdlog::error("claim: XAUTOCLAIM: {}", reply->text());
            else ensure_group(redis, ctx_.keys);
            return true;
        }
        const RedisValue v = reply->value();
        claim_cursor_ = std::string(v[0].text());
        if (claim_cursor_.empty()) claim_cursor_ = "0-0";
        const RedisValue deleted = v[2];  // Redis 7: pending ids whose entries are gone
        if (deleted.size() > 0) {
            std::string ids;
            for (std::size_t i = 0; i < deleted.size(); ++i) ids += (i ? " " : "") + std::string(deleted[i].text());
            spdlog::warn("claim: {} pending entries were deleted and cannot be answered: {}", deleted.size(), ids);
            const std::string n = std::to_string(deleted.size());
            if (!redis.command({"HINCRBY", ctx_.keys.stats(), layout::stat::deleted_entries, n})) return false;
        }
        const RedisValue entries = v[1];
        for (std::size_t i = 0; i < entries.size(); ++i) {
            const RedisValue entry = entries[i];
            const std::string id(entry[0].text());
            if (entry[1].is_nil() || ctx_.state.holds_entry(id)) continue;  // ours already (after a stall)
            auto pending = redis.command({"XPENDING", ctx_.keys.jobs(), layout::kGroup, id, id, "1"});
            if (!pending) return false;
            const long long deliveries = pending->value()[0][3].integer();
            if (!redis.command({"HINCRBY", ctx_.keys.stats(), layout::stat::claims, "1"})) return false;
            ctx_.state.counters.claims.fetch_add(1);
            spdlog::info("claimed entry {} (delivery {})", id, deliveries);
            admit_entry(ctx_, id, entry_fields(entry[1]), static_cast<std::uint64_t>(std::max(deliveries, 1LL)));
        }
        return true;
    }

    // The sweep script decides and removes in one step. It is run only for the consumers that
    // look removable here but for their heartbeat (it checks all of it again), so a round in a
    // healthy cluster, where every consumer is busy or recent, costs one XINFO and no script.
    bool sweep(RedisConnection& redis) {
        auto consumers = redis.command({"XINFO", "CONSUMERS", ctx_.keys.jobs(), layout::kGroup});
        if (!consumers) return false;
        if (consumers->is_error()) return true;  // no stream or group yet
        std::vector<std::string> names;
        std::vector<std::string> heartbeats;
        for (std::size_t i = 0; i < consumers->value().size(); ++i) {
            const RedisValue row = consumers->value()[i];
            std::string name;
            gateway_policy::ConsumerFacts facts;  // heartbeat_alive: left to the script
            for (std::size_t k = 0; k + 1 < row.size(); k += 2) {
                const std::string_view key = row[k].text();
                if (key == "name") name = std::string(row[k + 1].text());
                if (key == "pending") facts.pending = row[k + 1].integer();
                if (key == "idle") facts.idle_ms = row[k + 1].integer();
            }
            facts.is_self = name == ctx_.name;
            if (!gateway_policy::consumer_removable(facts, ctx_.options.lease_ms)) continue;
            heartbeats.push_back(ctx_.keys.gateway(name));
            names.push_back(std::move(name));
        }
        if (names.empty()) return true;
        const std::string jobs = ctx_.keys.jobs(), gateways = ctx_.keys.gateways(), stats = ctx_.keys.stats();
        const std::string lease = std::to_string(ctx_.options.lease_ms);
        std::vector<std::string_view> keys{jobs, gateways, stats};
        std::vector<std::string_view> args{layout::kGroup, lease, ctx_.name};
        keys.insert(keys.end(), heartbeats.begin(), heartbeats.end());
        args.insert(args.end(), names.begin(), names.end());
        auto removed = redis.run(kSweep, keys, args);
        if (!removed) return false;
        if (removed->is_error()) {
            spdlog::error("sweep: {}", removed->text());
            return true;
        }
        for (std::size_t i = 0; i < removed->value().size(); ++i) {
            spdlog::info("removed consumer {}: no heartbeat, nothing pending", removed->value()[i].text());
        }
        return true;
    }

    bool tail_cancels(RedisConnection& redis) {
        if (cancel_cursor_.empty()) {
            // Only cancels from now on: older ones were for jobs this gateway never ran.
            auto last = redis.command({"XREVRANGE", ctx_.keys.cancels(), "+", "-", "COUNT", "1"});
            if (!last) return false;
            cancel_cursor_ = last->value().size() > 0 ? std::string(last->value()[0][0].text()) : "0-0";
        }
        const std::string block = std::to_string(kCancelBlockMs);
        auto reply =
            redis.command({"XREAD", "COUNT", "100", "BLOCK", block, "STREAMS", ctx_.keys.cancels(), cancel_cursor_});
        if (!reply) return false;
        if (reply->is_error() || reply->value().is_nil()) return true;
        const RedisValue entries = reply->value()[0][1];
        for (std::size_t i = 0; i < entries.size(); ++i) {
            cancel_cursor_ = std::string(entries[i][0].text());
            std::string job;
            bool force = false;
            const RedisValue fields = entries[i][1];
            for (std::size_t k = 0; k + 1 < fields.size(); k += 2) {
                if (fields[k].text() == layout::cancel_field::job) job = std::string(fields[k + 1].text());
                if (fields[k].text() == layout::cancel_field::force) force = fields[k + 1].text() == "1";
            }
            if (!job.empty()) ctx_.state.cancel(job, force);
        }
        return true;
    }

    // Our heartbeat goes at once (no one waits for the lease to lapse), and our consumer too if
    // it holds nothing.
    void leave() {
        RedisConnection* redis = link_.get();
        if (redis == nullptr) return;
        if (!redis->command({"DEL", ctx_.keys.gateway(ctx_.name)}) ||
            !redis->command({"SREM", ctx_.keys.gateways(), ctx_.name})) {
            spdlog::warn("cannot remove our heartbeat: it lapses after the lease");
            return;
        }
        auto pending = redis->command({"XPENDING", ctx_.keys.jobs(), layout::kGroup, "-", "+", "1", ctx_.name});
        if (pending && pending->value().is_array() && pending->value().size() == 0) {
            if (!redis->command({"XGROUP", "DELCONSUMER", ctx_.keys.jobs(), layout::kGroup, ctx_.name})) {
                spdlog::warn("cannot remove our consumer: another gateway removes it");
            }
        }
    }

    GatewayContext& ctx_;
    RedisLink link_;
    std::int64_t period_;
    std::uint64_t connected_ = 0;  // the link generation claim_from_ was set for
    std::chrono::steady_clock::time_point claim_from_{};
    std::string claim_cursor_ = "0-0";
    std::string cancel_cursor_;
};

}  // namespace

void run_housekeeper(GatewayContext& ctx) { Housekeeper(ctx).run(); }

}  // namespace warmpool
