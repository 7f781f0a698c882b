#include "intake.hpp"

#include <spdlog/spdlog.h>

#include <thread>

#include "gateway_policy.hpp"
#include "redis_link.hpp"
#include "warmpool/common/shm_layout.hpp"
#include "warmpool/job_error.hpp"

namespace warmpool {

namespace {

namespace layout = redis_layout;
using gateway_policy::IntakeFate;

constexpr int kReadBlockMs = 250;  // how long a read waits for entries: also how soon intake stops

std::uint16_t code(ErrorKind kind) { return static_cast<std::uint16_t>(kind); }

FinishOp outcome(const JobEntry& e, ErrorKind kind, std::string message) {
    return FinishOp{e.entry_id, e.job, e.client, e.seq, code(kind), 0, std::move(message)};
}

void submit(GatewayContext& ctx, JobEntry entry, std::uint64_t deliveries, std::int64_t now_ms) {
    CallOptions call;
    call.timeout = std::chrono::milliseconds(entry.timeout_ms);
    call.priority = entry.priority;
    call.wait_if_full = true;
    call.max_wait = std::chrono::milliseconds(1000);
    if (entry.deadline_ms > 0) {
        call.deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(entry.deadline_ms - now_ms);
    }
    try {
        RawFuture future =
            ctx.client.submit_record(entry.function, entry.flags, entry.fingerprint, std::move(entry.payload), call);
        entry.payload.clear();
        RawFuture watched = future;
        ctx.state.add_running(RunningJob{std::move(entry), deliveries, std::move(future)});
        ctx.client.watch(watched);
    } catch (const JobError& error) {
        // Refused at once by the local pool: the job's own fault (bad_request...) or this host's.
        const auto fate = gateway_policy::delivery_fate(code(error.kind()), deliveries, ctx.options.poison_after);
        if (fate == gateway_policy::DeliveryFate::finish) {
            ctx.state.push(outcome(entry, error.kind(), error.what()));
        } else {
            if (error.kind() == ErrorKind::shutting_down) ctx.pool_lost.store(true);
            ctx.state.push(RequeueOp{entry.entry_id, entry.job, deliveries - 1, entry.last_failure});
        }
    }
}

}  // namespace

std::vector<EntryField> entry_fields(const RedisValue& fields) {
    std::vector<EntryField> out;
    for (std::size_t i = 0; i + 1 < fields.size(); i += 2) out.emplace_back(fields[i].text(), fields[i + 1].text());
    return out;
}

bool ensure_group(RedisConnection& redis, const layout::Keys& keys) {
    auto reply = redis.command({"XGROUP", "CREATE", keys.jobs(), layout::kGroup, "0", "MKSTREAM"});
    if (!reply) return false;
    if (reply->is_error() && !reply->text().starts_with("BUSYGROUP")) {
        spdlog::error("cannot create the consumer group: {}", reply->text());
        return false;
    }
    return true;
}

void admit_entry(GatewayContext& ctx, std::string_view entry_id, const std::vector<EntryField>& fields,
                 std::uint64_t delivery_count) {
    ctx.state.counters.received.fetch_add(1);
    auto parsed = parse_job_entry(entry_id, fields);
    if (auto* bad = std::get_if<EntryRejection>(&parsed)) {
        spdlog::warn("entry {}: {} ({})", entry_id, bad->message, to_string(bad->problem));
        if (bad->answerable) {
            ctx.state.push(FinishOp{std::string(entry_id), bad->job, bad->client, bad->seq, code(ErrorKind::bad_request),
                                    0, "malformed job entry: " + bad->message});
        } else {
            ctx.state.push(DropOp{std::string(entry_id)});
        }
        return;
    }
    JobEntry& entry = std::get<JobEntry>(parsed);
    const std::uint64_t deliveries = entry.attempts + std::max<std::uint64_t>(delivery_count, 1);
    const std::int64_t now_ms = unix_ms();
    gateway_policy::IntakeFacts facts;
    facts.deliveries = deliveries;
    facts.poison_after = ctx.options.poison_after;
    facts.deadline_passed = entry.deadline_ms > 0 && entry.deadline_ms <= now_ms;
    facts.pickle = encoding_of(entry.flags) == Encoding::pickle;
    facts.trust_pickle = ctx.options.trust_pickle;
    facts.cancelled = ctx.state.was_cancelled(entry.job);
    switch (gateway_policy::intake_fate(facts)) {
        case IntakeFate::cancelled:
            ctx.state.push(outcome(entry, ErrorKind::cancelled, "cancelled"));
            return;
        case IntakeFate::poison:
            ctx.state.push(outcome(entry, ErrorKind::poison, gateway_policy::poison_message(deliveries - 1, entry.last_failure)));
            return;
        case IntakeFate::deadline_exceeded:
            ctx.state.push(outcome(entry, ErrorKind::deadline_exceeded, "the deadline passed before a gateway took the job"));
            return;
        case IntakeFate::permission:
            ctx.state.push(outcome(entry, ErrorKind::permission,
                                   "this cluster's gateways do not run pickle-encoded jobs (warmpool-gateway --trust-pickle)"));
            return;
        case IntakeFate::run:
            submit(ctx, std::move(entry), deliveries, now_ms);
            return;
    }
}

void run_intake(GatewayContext& ctx) {
    RedisLink link(ctx.options.endpoint, ctx.credentials, "intake", ctx.state.counters.redis_reconnects,
                   kReadBlockMs + 2000);
    std::uint64_t group_generation = 0;
    while (!ctx.stop_reading.load()) {
        const unsigned room = gateway_policy::read_room(ctx.capacity, ctx.state.busy());
        if (room == 0 || ctx.pool_lost.load()) {
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
            continue;
        }
        RedisConnection* redis = link.get();
        if (redis == nullptr) {
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
            continue;
        }
        if (group_generation != link.generation()) {
            if (!ensure_group(*redis, ctx.keys)) {
                link.lost("cannot create the consumer group");
                continue;
            }
            group_generation = link.generation();
        }
        const std::string count = std::to_string(room);
        const std::string block = std::to_string(kReadBlockMs);
        auto reply = redis->command({"XREADGROUP", "GROUP", layout::kGroup, ctx.name, "COUNT", count, "BLOCK", block,
                                     "STREAMS", ctx.keys.jobs(), ">"});
        if (!reply) {
            link.lost(reply.error().message());
            continue;
        }
        if (reply->is_error()) {
            if (reply->text().starts_with("NOGROUP")) {
                group_generation = 0;  // Redis lost it (restarted without persistence): make it again
            } else {
                spdlog::error("intake: XREADGROUP: {}", reply->text());
                std::this_thread::sleep_for(std::chrono::milliseconds(200));
            }
            continue;
        }
        const RedisValue streams = reply->value();
        if (streams.is_nil() || streams.size() == 0) continue;
        const RedisValue entries = streams[0][1];
        for (std::size_t i = 0; i < entries.size(); ++i) {
            const RedisValue entry = entries[i];
            admit_entry(ctx, entry[0].text(), entry_fields(entry[1]), 1);
        }
    }
}

}  // namespace warmpool
