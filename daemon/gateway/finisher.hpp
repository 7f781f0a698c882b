// Finisher: how outcomes leave this gateway. run_finisher() is the finisher thread: it collects
// the local pool's replies (Client::wait_completions), turns each resolved job into its op
// (gateway_policy::delivery_fate: finish, requeue or poison) and writes every op to Redis with
// the finish and requeue scripts, pipelined. Ops wait (counted as busy, so intake reads less)
// while Redis is unreachable and are written once it is back: the scripts are idempotent, so an
// op written twice (its reply lost with the connection) still gives one reply.
//
// It returns once ctx.stop is set and every op is written, or `flush_ms` after stop if Redis
// stays unreachable (what is left is then claimed by other gateways after the lease).
#pragma once

#include "gateway_context.hpp"

namespace warmpool {

void run_finisher(GatewayContext& ctx);

// The op for a job whose local future resolved.
GatewayOp op_for_resolved(const RunningJob& job, unsigned poison_after);

}  // namespace warmpool
