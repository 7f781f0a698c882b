// Housekeeper: the gateway's duties to the cluster, in one thread (run_housekeeper), every
// gateway_policy::housekeeping_period_ms (a fifth of the lease):
//   heartbeat  SET gateway:<name> <status JSON> PX lease, SADD gateways <name>
//   refresh    the refresh script over our running entries, so they never look idle; entries it
//              reports as pending elsewhere are counted lost (they still get finished: the
//              finish script's fence decides whose outcome is the reply)
//   claim      XAUTOCLAIM of entries idle longer than the lease (their gateway stopped
//              refreshing), as many as we have room for; each is admitted like a new one, with
//              its delivery count. Ids Redis 7 reports as deleted are counted (deleted_entries).
//   sweep      the sweep script over the group's other consumers: removes, in one atomic step,
//              those that are gone (gateway_policy::consumer_removable)
// and, between rounds, tails the cancels stream, cancelling the local futures it names.
// On stop_housekeeper it deletes our heartbeat and, if we hold nothing, our consumer.
#pragma once

#include "gateway_context.hpp"

namespace warmpool {

void run_housekeeper(GatewayContext& ctx);

}  // namespace warmpool
