// Intake: how jobs enter this gateway. run_intake() is the intake thread: it reads new entries
// of the job stream as our consumer, never more than the local pool has room for
// (gateway_policy::read_room), and admits each. The housekeeper admits the entries it claims the
// same way (admit_entry), with their delivery count.
//
// Admitting an entry ends in exactly one of: the job submitted to the local pool and registered
// in GatewayState (watched, for the finisher), or an op queued for the finisher (bad_request,
// poison, deadline_exceeded, permission, cancelled, a requeue, or a drop of an entry that cannot
// be answered).
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "gateway_context.hpp"
#include "job_entry.hpp"
#include "warmpool/redis/redis_connection.hpp"

namespace warmpool {

void run_intake(GatewayContext& ctx);

void admit_entry(GatewayContext& ctx, std::string_view entry_id, const std::vector<EntryField>& fields,
                 std::uint64_t delivery_count);

// The field/value pairs of a stream entry's field array (views into the reply).
std::vector<EntryField> entry_fields(const RedisValue& fields);

// Creates the consumer group (reading from the stream's start) unless it exists. Also after a
// Redis restart that lost it.
bool ensure_group(RedisConnection& redis, const redis_layout::Keys& keys);

}  // namespace warmpool
