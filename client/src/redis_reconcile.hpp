// What a Redis session does when the Redis server it talks to may have lost data (a restart
// without persistence, the last second of writes under appendfsync everysec, a failover): the
// pure decisions (is this another server? what becomes of each job in flight?) and the thin
// pipelined shell that reads what Redis holds of those jobs and adds lost entries again.
// Private to libwarmpool; RedisSession alone calls it, from its reply reader's thread.
//
// The rule (docs/ARCHITECTURE.md, "What holds across a Redis restart"): a job in flight whose
// fence key (done:<job>) exists has its reply written; one whose entry is still in the jobs
// stream, or whose requeued entry (requeued:<job>) is, will be taken by a gateway; any other
// was lost with Redis's data and is sent again, with the same fields and job id, so that the
// fence still lets exactly one outcome through even if a gateway that read the old entry
// finishes it too. When in doubt (a job finished or requeued while it is checked) the job is
// sent again: that may cost a second run, never a second reply.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "warmpool/common/sys_result.hpp"
#include "warmpool/redis/redis_connection.hpp"
#include "warmpool/redis/redis_layout.hpp"

namespace warmpool::detail {

// The server's run_id from the text of INFO server; empty if it has none.
std::string run_id_from_info(std::string_view info);

// True when a connection reached a server other than the one the session knew (`known`): the
// run_id changes on every restart and failover. An unknown run_id (INFO refused by an ACL, or
// none known yet) counts as a change, so that the session checks its jobs rather than trust it.
bool server_changed(std::string_view known, std::string_view seen);

// What Redis holds of one job in flight, read at one entry id.
struct EntryFacts {
    bool done = false;           // its fence key exists: its one reply is written
    bool entry_present = false;  // the entry looked at is in the jobs stream
    std::optional<std::string> requeued_to;  // requeued:<job>: the entry it was last requeued to
};

enum class Verdict {
    keep,    // wait on: its reply is written or a gateway will take its entry (entry_id)
    follow,  // it was requeued to entry_id: look there
    resend,  // lost with Redis's data: add its entry again
};
struct Decision {
    Verdict verdict = Verdict::keep;
    std::string entry_id;  // where the job is (keep) or went (follow); empty for resend
};

// The decision for a job looked at in `entry_id`.
Decision reconcile_decision(std::string_view entry_id, const EntryFacts& facts);

// How often a job is followed from requeue to requeue before it is left waiting where it was
// last seen (a job requeued again and again while it is checked).
inline constexpr int kMaxFollows = 3;

// The message of a job failed because Redis could not be reached for `limit_ms`.
std::string unreachable_message(std::string_view endpoint, std::int64_t limit_ms);

// ---------------------------------------------------------------------------------------------
// The shell.

struct InFlightEntry {
    std::uint64_t seq = 0;
    std::string job;       // "<client>-<seq>"
    std::string entry_id;  // where the session last knew its entry; updated by check_in_flight
    bool lost = false;     // set by check_in_flight: to be sent again
};

// Reads, in pipelined rounds of at most `chunk` jobs, the fence, the entry and the requeued key
// of every job of `jobs`, follows requeued jobs, and marks each kept (entry_id updated) or lost.
// An error if the connection broke (nothing is to be trusted then).
Status check_in_flight(RedisConnection& redis, const redis_layout::Keys& keys, std::vector<InFlightEntry>& jobs,
                       std::size_t chunk = 512);

// Adds each entry of `fields` (field/value pairs of a job entry) to the jobs stream again, in one
// pipeline, and counts them in the stats hash (resent). Returns the new entry ids, in order ("" for
// an entry Redis refused); an error if the connection broke.
Result<std::vector<std::string>> resend_entries(RedisConnection& redis, const redis_layout::Keys& keys,
                                                const std::vector<const std::vector<std::string>*>& fields);

}  // namespace warmpool::detail
