#include "finisher.hpp"

#include <spdlog/spdlog.h>

#include <thread>

#include "gateway_policy.hpp"
#include "redis_link.hpp"

namespace warmpool {

namespace {

namespace layout = redis_layout;
using gateway_policy::DeliveryFate;

const RedisScript kFinish{layout::kFinishScript};
const RedisScript kRequeue{layout::kRequeueScript};

constexpr auto kFlushAfterStop = std::chrono::seconds(5);

// Writes ops with one pipeline per round; keeps the ones Redis has not answered.
class OutcomeWriter {
public:
    explicit OutcomeWriter(GatewayContext& ctx)
        : ctx_(ctx), link_(ctx.options.endpoint, ctx.credentials, "finisher", ctx.state.counters.redis_reconnects) {}

    // Writes what it can of `ops`, removing those written (or refused by Redis for good).
    void write(std::vector<GatewayOp>& ops) {
        RedisConnection* redis = link_.get();
        if (redis == nullptr) return;
        if (loaded_ != link_.generation()) {
            if (!redis->load(kFinish) || !redis->load(kRequeue)) {
                link_.lost("cannot load the scripts");
                return;
            }
            loaded_ = link_.generation();
        }
        for (const auto& op : ops) append(*redis, op);
        std::vector<GatewayOp> again;
        std::size_t i = 0;
        for (; i < ops.size(); ++i) {
            const Read r = read(*redis, ops[i]);
            if (r == Read::broken) break;
            if (r == Read::again) again.push_back(std::move(ops[i]));
        }
        const bool broken = i < ops.size();
        for (; i < ops.size(); ++i) again.push_back(std::move(ops[i]));
        ops = std::move(again);
        if (!broken && poisoned_ > 0) {
            // The cluster's count (the scripts count the rest themselves).
            const std::string n = std::to_string(poisoned_);
            poisoned_ = 0;
            if (!redis->command({"HINCRBY", ctx_.keys.stats(), layout::stat::poisoned, n})) {
                link_.lost(redis->error_text());
            }
            return;
        }
        if (broken) link_.lost(redis->error_text());
    }

private:
    struct Args {  // the strings a command's views point into
        std::string done, reply, ttl, cap, reply_ttl, seq, status, flags, attempts, requeued;
    };

    void append(RedisConnection& redis, const GatewayOp& op) {
        const auto& keys = ctx_.keys;
        Args a;
        if (const auto* f = std::get_if<FinishOp>(&op)) {
            a.done = keys.done(f->job);
            a.reply = keys.reply(f->client);
            a.ttl = std::to_string(ctx_.options.done_ttl_ms);
            a.cap = std::to_string(ctx_.options.reply_cap);
            a.reply_ttl = std::to_string(ctx_.options.reply_ttl_s);
            a.seq = std::to_string(f->seq);
            a.status = std::to_string(f->status);
            a.flags = std::to_string(f->flags);
            redis.append_run(kFinish, {a.done, a.reply, keys.jobs(), keys.stats()},
                             {layout::kGroup, f->entry_id, a.ttl, a.cap, a.reply_ttl, a.seq, a.status, a.flags, f->body,
                              ctx_.name});
        } else if (const auto* r = std::get_if<RequeueOp>(&op)) {
            a.done = keys.done(r->job);
            a.attempts = std::to_string(r->attempts);
            a.requeued = keys.requeued(r->job);
            a.ttl = std::to_string(ctx_.options.done_ttl_ms);
            redis.append_run(kRequeue, {keys.jobs(), a.done, keys.stats(), a.requeued},
                             {layout::kGroup, r->entry_id, a.attempts, r->last_failure, a.ttl});
        } else {
            // A drop: one MULTI so its three commands are one reply.
            const auto& d = std::get<DropOp>(op);
            redis.append({"MULTI"});
            redis.append({"XACK", keys.jobs(), layout::kGroup, d.entry_id});
            redis.append({"XDEL", keys.jobs(), d.entry_id});
            redis.append({"HINCRBY", keys.stats(), layout::stat::dropped_entries, "1"});
            redis.append({"EXEC"});
        }
    }

    enum class Read { done, again, broken };

    // Reads the reply (replies) of one op.
    Read read(RedisConnection& redis, const GatewayOp& op) {
        if (std::holds_alternative<DropOp>(op)) {
            for (int i = 0; i < 5; ++i) {
                if (!redis.read_reply()) return Read::broken;
            }
            ctx_.state.counters.dropped.fetch_add(1);
            return Read::done;
        }
        auto reply = redis.read_reply();
        if (!reply) return Read::broken;
        if (RedisConnection::is_noscript(*reply)) {
            loaded_ = 0;  // Redis forgot the scripts (SCRIPT FLUSH): load them and write it again
            return Read::again;
        }
        account(op, *reply);
        return Read::done;
    }

    void account(const GatewayOp& op, const RedisReply& reply) {
        auto& c = ctx_.state.counters;
        if (reply.is_error()) {
            spdlog::error("finisher: Redis refused an outcome: {}", reply.text());
            return;
        }
        if (const auto* f = std::get_if<FinishOp>(&op)) {
            if (reply.value()[0].integer() == 1) {
                c.finished.fetch_add(1);
                if (f->status == static_cast<std::uint16_t>(ErrorKind::poison)) {
                    c.poisoned.fetch_add(1);
                    ++poisoned_;
                }
                return;
            }
            const std::string_view holder = reply.value()[1].text();
            spdlog::debug("job {}: finished already by {}; this outcome is dropped", f->job, holder);
            if (holder.starts_with(std::string(layout::kClientFinisher) + " ")) {
                c.late_after_cancel.fetch_add(1);
            } else {
                c.duplicates_dropped.fetch_add(1);
            }
        } else if (reply.value().is_string()) {
            c.requeued.fetch_add(1);
        }
    }

    GatewayContext& ctx_;
    RedisLink link_;
    std::uint64_t loaded_ = 0;
    std::uint64_t poisoned_ = 0;  // poison outcomes written, not yet added to the stats hash
};

}  // namespace

GatewayOp op_for_resolved(const RunningJob& job, unsigned poison_after) {
    const JobEntry& e = job.entry;
    const std::uint16_t status = job.future.status();
    const std::string body(job.future.reply());
    switch (gateway_policy::delivery_fate(status, job.deliveries, poison_after)) {
        case DeliveryFate::finish:
            return FinishOp{e.entry_id, e.job, e.client, e.seq, status, job.future.reply_flags(), body};
        case DeliveryFate::requeue_crashed:
            return RequeueOp{e.entry_id, e.job, job.deliveries, "worker_crashed: " + body};
        case DeliveryFate::poison:
            return FinishOp{e.entry_id, e.job, e.client, e.seq, static_cast<std::uint16_t>(ErrorKind::poison), 0,
                            gateway_policy::poison_message(job.deliveries, "worker_crashed: " + body)};
        case DeliveryFate::requeue_unfit:
            break;
    }
    return RequeueOp{e.entry_id, e.job, job.deliveries - 1, e.last_failure};
}

void run_finisher(GatewayContext& ctx) {
    OutcomeWriter writer(ctx);
    std::vector<GatewayOp> ops;
    std::vector<std::uint64_t> ids;
    std::optional<std::chrono::steady_clock::time_point> give_up;
    for (;;) {
        ids.clear();
        ctx.client.wait_completions(ids, std::chrono::milliseconds(ops.empty() ? 20 : 5));
        for (std::uint64_t id : ids) {
            auto job = ctx.state.take_running(id);
            if (!job) continue;  // requeued by a drain already
            if (job->future.status() == static_cast<std::uint16_t>(ErrorKind::shutting_down)) {
                if (!ctx.pool_lost.exchange(true)) spdlog::error("the local pool is stopping or gone: {}", job->future.reply());
            }
            ops.push_back(op_for_resolved(*job, ctx.options.poison_after));
        }
        for (auto& op : ctx.state.take_ops()) ops.push_back(std::move(op));
        ctx.state.set_unwritten(ops.size());
        if (!ops.empty()) writer.write(ops);
        ctx.state.set_unwritten(ops.size());
        if (ctx.stop.load()) {
            if (ops.empty() && ctx.state.busy() == 0) return;
            if (!give_up) give_up = std::chrono::steady_clock::now() + kFlushAfterStop;
            if (std::chrono::steady_clock::now() > *give_up) {
                spdlog::warn("finisher: {} outcomes not written (Redis unreachable); other gateways will claim them",
                             ops.size());
                return;
            }
        }
        if (!ops.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(20));  // Redis down: retry soon
    }
}

}  // namespace warmpool
