#include "heartbeat_status.hpp"

namespace warmpool {

namespace {

std::int64_t count_of(const nlohmann::json& object, const char* key) {
    const auto found = object.find(key);
    return found != object.end() && found->is_number_integer() ? found->get<std::int64_t>() : 0;
}

}  // namespace

nlohmann::json heartbeat_json(const HeartbeatFacts& f, const GatewayCounters& c,
                              const std::optional<nlohmann::json>& pool_status) {
    nlohmann::json workers = {{"total", 0}, {"idle", 0}, {"busy", 0}, {"starting", 0}, {"slots", f.worker_slots}};
    if (pool_status && pool_status->is_object() && pool_status->contains("workers") &&
        (*pool_status)["workers"].is_object()) {
        const nlohmann::json& w = (*pool_status)["workers"];
        const std::int64_t busy = count_of(w, "busy");
        workers["total"] = count_of(w, "live");
        workers["busy"] = busy;
        workers["idle"] = std::max<std::int64_t>(count_of(w, "ready") - busy, 0);
        workers["starting"] = count_of(w, "starting");
    }
    return {{"name", f.name},
            {"host", f.host},
            {"pool", f.pool},
            {"pid", f.pid},
            {"started_ms", f.started_ms},
            {"now_ms", f.now_ms},
            {"lease_ms", f.lease_ms},
            {"capacity", f.capacity},
            {"in_flight", f.in_flight},
            {"received", c.received.load()},
            {"finished", c.finished.load()},
            {"claims", c.claims.load()},
            {"requeued", c.requeued.load()},
            {"poisoned", c.poisoned.load()},
            {"duplicates_dropped", c.duplicates_dropped.load()},
            {"late_after_cancel", c.late_after_cancel.load()},
            {"lost", c.lost.load()},
            {"redis_reconnects", c.redis_reconnects.load()},
            {"done_ttl_ms", f.done_ttl_ms},
            {"reply_cap", f.reply_cap},
            {"reply_ttl_s", f.reply_ttl_s},
            {"pool_reachable", pool_status.has_value()},
            {"workers", workers}};
}

}  // namespace warmpool
