// The scale-out wire format: every Redis key, stream field and server-side script that clients
// and gateways share, in one place. docs/ARCHITECTURE.md ("Scale-out") explains the rules.
//
// All keys of a cluster carry the hash tag {CLUSTER}, so each script touches one hash slot.
//
//   warmpool:{C}:jobs             stream of jobs, consumed by the group "gateways"
//   warmpool:{C}:done:<job>       fencing key: set NX by the job's one finisher; expires after done_ttl
//   warmpool:{C}:requeued:<job>   the entry id a requeued job went to (the requeue script); expires after done_ttl
//   warmpool:{C}:reply:<client>   a client's reply stream, capped (MAXLEN ~) and expiring
//   warmpool:{C}:cancels          stream of cancel requests every gateway tails (capped)
//   warmpool:{C}:gateway:<name>   a gateway's heartbeat: its status JSON, expiring after the lease
//   warmpool:{C}:gateways         set of the gateway (consumer) names not yet removed
//   warmpool:{C}:stats            hash of cluster-wide counters (the scripts' and claimers')
//
// A job id is "<client>-<seq>": the client's random id (16 hex digits) and a decimal sequence
// number. Job entries carry the fields below; `attempts` counts the deliveries that ended
// without an outcome before this entry (requeues), so a job's deliveries so far are `attempts`
// plus the entry's delivery count.
//
// Pure data: header only, no Redis connection needed.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace warmpool::redis_layout {

inline constexpr std::string_view kGroup = "gateways";

// Defaults (a gateway's options override them; clients learn nothing of them).
inline constexpr std::int64_t kDefaultLeaseMs = 5'000;          // heartbeat lapse and claim age
inline constexpr unsigned kDefaultPoisonAfter = 3;              // deliveries before poison
inline constexpr std::int64_t kDefaultDoneTtlMs = 86'400'000;   // fencing keys live a day
inline constexpr std::int64_t kDefaultReplyCap = 100'000;       // entries a reply stream keeps
inline constexpr std::int64_t kDefaultReplyTtlS = 600;          // an idle reply stream expires
inline constexpr std::int64_t kCancelStreamCap = 10'000;

// Job entry fields.
namespace job_field {
inline constexpr std::string_view job = "job";            // "<client>-<seq>"
inline constexpr std::string_view client = "client";      // 16 hex digits: names the reply stream
inline constexpr std::string_view function = "fn";
inline constexpr std::string_view flags = "flags";        // JobFlags (encoding, batch), decimal
inline constexpr std::string_view fingerprint = "fp";     // binary type fingerprint, decimal
inline constexpr std::string_view payload = "arg";
inline constexpr std::string_view timeout_ms = "timeout_ms";
inline constexpr std::string_view deadline_ms = "deadline_ms";  // Unix epoch ms, 0: none
inline constexpr std::string_view priority = "prio";
inline constexpr std::string_view attempts = "attempts";
inline constexpr std::string_view last_failure = "last_failure";  // why the previous delivery ended
}  // namespace job_field

// Reply entry fields.
namespace reply_field {
inline constexpr std::string_view seq = "seq";        // the job's sequence number in its client
inline constexpr std::string_view status = "status";  // 0 or an ErrorKind code
inline constexpr std::string_view flags = "flags";    // of the body
inline constexpr std::string_view body = "body";      // result bytes or error message
inline constexpr std::string_view by = "by";          // the gateway (or "client") that finished it
}  // namespace reply_field

// Cancel entry fields.
namespace cancel_field {
inline constexpr std::string_view job = "job";
inline constexpr std::string_view force = "force";  // "1": stop the job if it runs
}  // namespace cancel_field

// Counters of the stats hash.
namespace stat {
inline constexpr std::string_view duplicates_dropped = "duplicates_dropped";  // a second outcome, dropped
inline constexpr std::string_view late_after_cancel = "late_after_cancel";    // a result after its cancel
inline constexpr std::string_view claims = "claims";                          // entries taken from lapsed gateways
inline constexpr std::string_view requeued = "requeued";                      // deliveries that crashed a worker
inline constexpr std::string_view poisoned = "poisoned";
inline constexpr std::string_view deleted_entries = "deleted_entries";        // pending entries found deleted
inline constexpr std::string_view consumers_removed = "consumers_removed";
inline constexpr std::string_view dropped_entries = "dropped_entries";  // entries no reply could be sent for (bad client or job id)
inline constexpr std::string_view resent = "resent";  // entries clients added again after Redis lost them
}  // namespace stat

// The finisher a client's own cancel is recorded as.
inline constexpr std::string_view kClientFinisher = "client";

class Keys {
public:
    explicit Keys(std::string_view cluster) : prefix_("warmpool:{" + std::string(cluster) + "}:") {}

    std::string jobs() const { return prefix_ + "jobs"; }
    std::string done(std::string_view job) const { return prefix_ + "done:" + std::string(job); }
    std::string requeued(std::string_view job) const { return prefix_ + "requeued:" + std::string(job); }
    std::string reply(std::string_view client) const { return prefix_ + "reply:" + std::string(client); }
    std::string cancels() const { return prefix_ + "cancels"; }
    std::string gateway(std::string_view name) const { return prefix_ + "gateway:" + std::string(name); }
    std::string gateways() const { return prefix_ + "gateways"; }
    std::string stats() const { return prefix_ + "stats"; }

private:
    std::string prefix_;
};

// A client id: 16 lowercase hex digits. Gateways check it before building a key from it, so an
// entry cannot make them write anywhere but a reply stream.
constexpr bool valid_client_id(std::string_view id) {
    if (id.size() != 16) return false;
    for (char c : id) {
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    }
    return true;
}

// ---------------------------------------------------------------------------------------------
// Scripts. Each runs atomically in Redis; callers load them with SCRIPT LOAD and run them with
// EVALSHA (again after NOSCRIPT, as after a Redis restart).

// finish: records a job's one terminal outcome.
//   KEYS: done, reply, jobs, stats
//   ARGV: group, entry id ("" if unknown), done_ttl_ms, reply_cap, reply_ttl_s,
//         seq, status, flags, body, finisher
// Returns {1, ""} if this outcome is the job's one reply, else {0, holder}: the job had been
// finished already by `holder` ("<finisher> <status>") and nothing is delivered. Either way the
// entry is acknowledged and deleted: a finished job must never run again.
inline constexpr std::string_view kFinishScript = R"lua(
local won = redis.call('SET', KEYS[1], ARGV[10] .. ' ' .. ARGV[7], 'NX', 'PX', ARGV[3])
if ARGV[2] ~= '' then
  redis.call('XACK', KEYS[3], ARGV[1], ARGV[2])
  redis.call('XDEL', KEYS[3], ARGV[2])
end
if won then
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[4], '*', 'seq', ARGV[6], 'status', ARGV[7],
             'flags', ARGV[8], 'body', ARGV[9], 'by', ARGV[10])
  redis.call('EXPIRE', KEYS[2], ARGV[5])
  return {1, ''}
end
local holder = redis.call('GET', KEYS[1]) or ''
if string.sub(holder, 1, 7) == 'client ' then
  redis.call('HINCRBY', KEYS[4], 'late_after_cancel', 1)
else
  redis.call('HINCRBY', KEYS[4], 'duplicates_dropped', 1)
end
return {0, holder}
)lua";

// refresh: a live gateway keeps its entries' idle time below the lease, so that only the
// entries of gateways that stopped refreshing are claimed. Touches only entries still pending
// on `consumer`; returns the ids that are not (claimed by another gateway, or finished).
//   KEYS: jobs
//   ARGV: group, consumer, entry ids...
inline constexpr std::string_view kRefreshScript = R"lua(
local lost = {}
for i = 3, #ARGV do
  local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1)
  if p[1] and p[1][2] == ARGV[2] then
    redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[i], 'JUSTID')
  else
    lost[#lost + 1] = ARGV[i]
  end
end
return lost
)lua";

// sweep: removes the group's dead consumers, those gateway_policy::consumer_removable names:
// not the caller, no heartbeat, nothing pending and idle longer than the lease. The check and
// the removal are one step, so a consumer that comes back meanwhile (its heartbeat set again, or
// an entry delivered to it) is never removed: XGROUP DELCONSUMER would drop its pending entries.
// The caller names the candidates (XINFO CONSUMERS) with their heartbeat keys, and the script
// checks each against the group as it is now. The heartbeat keys are declared in KEYS, not built
// here from the cluster's prefix: every script here declares each key it touches, as Redis
// requires of scripts (a cluster routes a script by its declared keys and may refuse one that
// touches others); that all our keys share one hash slot would make building them work, not
// make it allowed. A consumer created after the caller's listing is not a candidate: it is new,
// so not removable yet; the next sweep sees it.
//   KEYS: jobs, gateways, stats, heartbeat of each candidate (gateway:<name>)...
//   ARGV: group, lease_ms, caller, name of each candidate... (from the 4th on, ARGV[i] is the
//         consumer whose heartbeat is KEYS[i])
// Returns the names of the consumers removed.
inline constexpr std::string_view kSweepScript = R"lua(
if #ARGV ~= #KEYS then return redis.error_reply('sweep: one name per heartbeat key') end
for i = 4, #KEYS do
  local heartbeat = ':gateway:' .. ARGV[i]
  if string.sub(KEYS[i], -#heartbeat) ~= heartbeat then
    return redis.error_reply('sweep: ' .. KEYS[i] .. ' is not the heartbeat of ' .. ARGV[i])
  end
end
local rows = redis.pcall('XINFO', 'CONSUMERS', KEYS[1], ARGV[1])
if rows['err'] then return {} end
local consumers = {}
for _, row in ipairs(rows) do
  local c = {}
  for k = 1, #row, 2 do c[row[k]] = row[k + 1] end
  consumers[c['name']] = c
end
local lease = tonumber(ARGV[2])
local removed = {}
for i = 4, #KEYS do
  local name = ARGV[i]
  local c = consumers[name]
  if c and name ~= ARGV[3] and c['pending'] == 0 and c['idle'] > lease
     and redis.call('EXISTS', KEYS[i]) == 0 then
    redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], name)
    redis.call('SREM', KEYS[2], name)
    redis.call('HINCRBY', KEYS[3], 'consumers_removed', 1)
    consumers[name] = nil
    removed[#removed + 1] = name
  end
end
return removed
)lua";

// requeue: the delivery of an entry ended without an outcome (its worker crashed): the job
// goes back to the stream as a new entry with `attempts` raised, for any gateway to take, and
// the old entry is acknowledged and deleted. Nothing happens if the job was finished meanwhile.
// The new entry's id is kept under requeued:<job> (for done_ttl), so that a client checking its
// jobs after Redis lost data finds the job where it went rather than sending it again.
//   KEYS: jobs, done, stats, requeued
//   ARGV: group, entry id, attempts, last_failure, done_ttl_ms
// Returns the new entry's id, or false if the job was finished or the entry is gone.
inline constexpr std::string_view kRequeueScript = R"lua(
local e = redis.call('XRANGE', KEYS[1], ARGV[2], ARGV[2])
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
redis.call('XDEL', KEYS[1], ARGV[2])
if #e == 0 or redis.call('EXISTS', KEYS[2]) == 1 then return false end
local fields = e[1][2]
local out = {}
for i = 1, #fields, 2 do
  if fields[i] ~= 'attempts' and fields[i] ~= 'last_failure' then
    out[#out + 1] = fields[i]
    out[#out + 1] = fields[i + 1]
  end
end
out[#out + 1] = 'attempts'
out[#out + 1] = ARGV[3]
out[#out + 1] = 'last_failure'
out[#out + 1] = ARGV[4]
redis.call('HINCRBY', KEYS[3], 'requeued', 1)
local id = redis.call('XADD', KEYS[1], '*', unpack(out))
redis.call('SET', KEYS[4], id, 'PX', ARGV[5])
return id
)lua";

}  // namespace warmpool::redis_layout
