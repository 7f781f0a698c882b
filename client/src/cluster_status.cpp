// cluster_status(): reads a cluster's keys in two pipelined round trips and hands the readings
// to cluster_report() (cluster_report.hpp), which makes the JSON. Nothing here decides anything
// but how a reply reads; a missing stream or group is a cluster with no jobs yet, not an error.
#include "warmpool/cluster_status.hpp"

#include <optional>
#include <string>
#include <vector>

#include "cluster_report.hpp"
#include "warmpool/common/clock.hpp"
#include "warmpool/job_error.hpp"
#include "warmpool/redis/redis_connection.hpp"
#include "warmpool/redis/redis_endpoint.hpp"
#include "warmpool/redis/redis_layout.hpp"

namespace warmpool {

namespace {

namespace layout = redis_layout;

class ClusterReader {
public:
    ClusterReader(RedisConnection& redis, const RedisEndpoint& endpoint)
        : redis_(redis), keys_(endpoint.cluster), cluster_(endpoint.cluster), where_(endpoint.text()) {}

    detail::ClusterReadings read() {
        detail::ClusterReadings r;
        r.cluster = cluster_;
        r.endpoint = where_;
        const std::string jobs = keys_.jobs();
        redis_.append({"SMEMBERS", keys_.gateways()});
        redis_.append({"XLEN", jobs});
        redis_.append({"XINFO", "GROUPS", jobs});
        redis_.append({"XPENDING", jobs, layout::kGroup});
        redis_.append({"HGETALL", keys_.stats()});
        r.gateways = strings(expect("SMEMBERS").value());
        r.stream_length = expect("XLEN").value().integer();
        read_group(r);
        read_pending(r);
        const RedisReply stats = expect("HGETALL");
        for (std::size_t i = 0; i + 1 < stats.value().size(); i += 2) {
            r.stats.emplace_back(stats.value()[i].text(), stats.value()[i + 1].text());
        }
        read_heartbeats(r);
        r.now_ms = wall_ns() / 1'000'000;
        return r;
    }

private:
    // The next pipelined reply, which must not be an error unless `absent` starts it (Redis's
    // word for a stream or group that does not exist yet): then an empty reply is returned.
    std::optional<RedisReply> next(const char* command, std::string_view absent = {}) {
        auto reply = redis_.read_reply();
        if (!reply)
            throw ConnectError("cannot read the cluster's status from " + where_ + ": " + reply.error().message());
        if (reply->is_error()) {
            if (!absent.empty() && reply->text().starts_with(absent)) return std::nullopt;
            throw ConnectError("Redis at " + where_ + " refused " + command + ": " + std::string(reply->text()));
        }
        return std::move(reply.value());
    }
    RedisReply expect(const char* command) { return std::move(*next(command)); }

    static std::vector<std::string> strings(RedisValue array) {
        std::vector<std::string> out;
        for (std::size_t i = 0; i < array.size(); ++i) out.emplace_back(array[i].text());
        return out;
    }

    // XINFO GROUPS: one flat field-value array per group; ours is named "gateways".
    void read_group(detail::ClusterReadings& r) {
        const auto groups = next("XINFO GROUPS", "ERR no such key");
        if (!groups) return;
        for (std::size_t g = 0; g < groups->value().size(); ++g) {
            const RedisValue fields = groups->value()[g];
            detail::GroupReading group;
            for (std::size_t i = 0; i + 1 < fields.size(); i += 2) {
                const std::string_view field = fields[i].text();
                const RedisValue value = fields[i + 1];
                if (field == "name") group.name = value.text();
                if (field == "consumers") group.consumers = value.as_integer().value_or(0);
                if (field == "pending") group.pending = value.as_integer().value_or(0);
                if (field == "last-delivered-id") group.last_delivered_id = value.text();
                if (field == "entries-read" && !value.is_nil()) group.entries_read = value.as_integer();
                if (field == "lag" && !value.is_nil()) group.lag = value.as_integer();
            }
            if (group.name == layout::kGroup) r.group = std::move(group);
        }
    }

    // XPENDING's summary: {count, smallest id, largest id, {{consumer, count}...}}.
    void read_pending(detail::ClusterReadings& r) {
        const auto summary = next("XPENDING", "NOGROUP");
        if (!summary || summary->value().size() < 4) return;
        const RedisValue consumers = summary->value()[3];
        for (std::size_t i = 0; i < consumers.size(); ++i) {
            r.pending.emplace_back(std::string(consumers[i][0].text()), consumers[i][1].as_integer().value_or(0));
        }
    }

    // Every heartbeat key that exists, in one MGET (all share the cluster's hash slot).
    void read_heartbeats(detail::ClusterReadings& r) {
        const std::vector<std::string> names = detail::gateway_names(r.gateways, r.pending);
        if (names.empty()) return;
        std::vector<std::string> keys;
        keys.reserve(names.size());
        for (const auto& name : names) keys.push_back(keys_.gateway(name));
        std::vector<std::string_view> command{"MGET"};
        command.insert(command.end(), keys.begin(), keys.end());
        redis_.append(command);
        const RedisReply values = expect("MGET");
        for (std::size_t i = 0; i < names.size() && i < values.value().size(); ++i) {
            const RedisValue value = values.value()[i];
            if (!value.is_nil()) r.heartbeats.emplace(names[i], std::string(value.text()));
        }
    }

    RedisConnection& redis_;
    layout::Keys keys_;
    std::string cluster_;
    std::string where_;
};

}  // namespace

std::string cluster_status(std::string_view endpoint, const std::string& password_file, int timeout_ms) {
    auto parsed = parse_redis_endpoint(endpoint);
    if (!parsed) throw ConnectError(parsed.error().message());
    auto credentials = resolve_redis_credentials(parsed.value(), password_file);
    if (!credentials) throw ConnectError(credentials.error().message());
    auto redis = RedisConnection::connect(parsed.value(), credentials.value(), timeout_ms);
    if (!redis) throw ConnectError(redis.error().message());
    return detail::cluster_report(ClusterReader(redis.value(), parsed.value()).read())
        .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace warmpool
