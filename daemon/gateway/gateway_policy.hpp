// Gateway policy: the decisions warmpool-gateway makes about a job and about the cluster, as pure
// functions of what it knows (no Redis, no pool, no clock). Everything that decides whether a job
// runs, is requeued or is poison, how much to read and which consumers to remove is here, so the
// rules are written once and unit-tested (tests/unit/gateway_policy_test.cc).
//
// "Deliveries" of a job are the entry's `attempts` field (deliveries of earlier entries of the
// same job that ended without an outcome) plus the current entry's delivery count in the group.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>

#include "warmpool/error_kind.hpp"
#include "warmpool/redis/redis_connection.hpp"

namespace warmpool::gateway_policy {

// How many entries to read: the room the local pool has for our jobs. `busy` counts jobs running
// locally and outcomes not yet written back (both hold a slot of the capacity).
constexpr unsigned read_room(unsigned capacity, std::size_t busy) {
    return busy >= capacity ? 0u : capacity - static_cast<unsigned>(busy);
}

// What happens to an entry when it is read or claimed, before it is run.
enum class IntakeFate {
    run,                // submit it to the local pool
    poison,             // its deliveries already passed the threshold: finish as poison
    deadline_exceeded,  // its deadline passed: finish without running
    permission,         // pickle, and this gateway does not trust pickle
    cancelled,          // its client cancelled it: the client's finish already answered
};

struct IntakeFacts {
    std::uint64_t deliveries = 1;  // including this one
    unsigned poison_after = 3;
    bool deadline_passed = false;
    bool pickle = false;
    bool trust_pickle = false;
    bool cancelled = false;
};

constexpr IntakeFate intake_fate(const IntakeFacts& f) {
    if (f.cancelled) return IntakeFate::cancelled;
    if (f.deliveries > f.poison_after) return IntakeFate::poison;
    if (f.deadline_passed) return IntakeFate::deadline_exceeded;
    if (f.pickle && !f.trust_pickle) return IntakeFate::permission;
    return IntakeFate::run;
}

// What happens to a delivery once the local pool has answered it.
enum class DeliveryFate {
    finish,           // the job's outcome (a result or an error that is the job's own)
    requeue_crashed,  // it ended without an outcome: back to the stream, one more delivery counted
    poison,           // it ended without an outcome once too often
    requeue_unfit,    // this host could not run it (pool stopping, full): back to the stream as is
};

constexpr DeliveryFate delivery_fate(std::uint16_t status, std::uint64_t deliveries, unsigned poison_after) {
    if (status == static_cast<std::uint16_t>(ErrorKind::worker_crashed)) {
        return deliveries < poison_after ? DeliveryFate::requeue_crashed : DeliveryFate::poison;
    }
    if (status == static_cast<std::uint16_t>(ErrorKind::shutting_down) ||
        status == static_cast<std::uint16_t>(ErrorKind::overloaded)) {
        return DeliveryFate::requeue_unfit;
    }
    return DeliveryFate::finish;
}

// The poison reply's message.
inline std::string poison_message(std::uint64_t deliveries, const std::string& last_failure) {
    return "the job was delivered " + std::to_string(deliveries) + " times and none ended with an outcome" +
           (last_failure.empty() ? std::string() : "; the last: " + last_failure);
}

// A consumer of the group may be removed when nothing of it is left: it is not us, its heartbeat
// has lapsed, it holds no pending entries and it has been idle longer than a lease. The sweep
// script (redis_layout::kSweepScript) applies this rule inside Redis, where the check and the
// removal are one step; integration/redis_scripts_test checks that the two agree.
struct ConsumerFacts {
    bool is_self = false;
    bool heartbeat_alive = false;
    long long pending = 0;
    long long idle_ms = 0;
};

constexpr bool consumer_removable(const ConsumerFacts& c, std::int64_t lease_ms) {
    return !c.is_self && !c.heartbeat_alive && c.pending == 0 && c.idle_ms > lease_ms;
}

// Reconnection back-off: the one every Redis connection uses (redis_connection.hpp).
inline constexpr std::int64_t kMaxBackoffMs = kRedisMaxBackoffMs;

// A gateway that has just (re)connected to Redis claims nothing for a lease plus the longest
// back-off: after a Redis outage every entry looks idle, and the gateways still waiting out their
// back-off must get to refresh their own entries before anyone claims them.
constexpr std::int64_t claim_pause_after_connect_ms(std::int64_t lease_ms) { return lease_ms + kMaxBackoffMs; }

// How often the housekeeper heartbeats, refreshes and claims: five times a lease, so a live
// gateway's entries never idle near the lease and a lapsed one's are claimed soon after it.
constexpr std::int64_t housekeeping_period_ms(std::int64_t lease_ms) { return std::max<std::int64_t>(lease_ms / 5, 20); }

}  // namespace warmpool::gateway_policy
