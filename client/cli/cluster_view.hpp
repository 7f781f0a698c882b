// The views of a scale-out cluster's status (warmpool/cluster_status.hpp's JSON): the text
// `warmpool status --endpoint` prints, the frame `warmpool top --endpoint` redraws, and the Prometheus and OpenMetrics texts of
// `warmpool status --endpoint --prometheus|--openmetrics` and `warmpool metrics --endpoint`.
// Pure: no I/O, no clock; the same JSON always gives the same text, so both are unit-tested from
// JSON made by hand (tests/unit/cluster_view_test.cc). A field the JSON lacks shows as "-" in
// the text and as no sample in the metrics, never an error.
//
// Metric families (every sample labelled cluster="C"; per-gateway ones also gateway="NAME"):
//   warmpool_cluster_hosts{state="live"|"lapsed"}        gateways by heartbeat
//   warmpool_cluster_gateway_up{gateway}                  1 while its heartbeat is current, else 0
//   warmpool_cluster_pending{gateway}                     entries delivered to it, not acknowledged
//   warmpool_cluster_workers{gateway,state}               idle, busy, starting (live gateways)
//   warmpool_cluster_worker_slots{gateway}                the most workers its pool may have
//   warmpool_cluster_capacity{gateway}                    jobs it takes from the stream at once
//   warmpool_cluster_in_flight{gateway}                   jobs it runs now
//   warmpool_cluster_pool_reachable{gateway}              1 if its local pool answered
//   warmpool_cluster_gateway_jobs_total{gateway,event}    received, finished, lost (since it started)
//   warmpool_cluster_gateway_redis_reconnects_total{gateway}
//   warmpool_cluster_stream_entries                       entries in the job stream (XLEN)
//   warmpool_cluster_stream_lag                           entries no gateway has read yet (when known)
//   warmpool_cluster_stream_pending                       entries read and not yet acknowledged
//   warmpool_cluster_{claims,duplicates_dropped,late_after_cancel,requeued,poisoned,
//                     deleted_entries,consumers_removed}_total   the cluster's counters
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "metrics_http.hpp"

namespace warmpool {

// One line per gateway (name, host, pool, live or lapsed, workers idle/busy/total, in flight,
// pending, claims, duplicates, and a note), then the totals, the stream and the counters.
std::string render_cluster_status(const nlohmann::json& report);

// `warmpool top --endpoint`'s frame: that text under a title naming the cluster and the time
// (UTC) the report was read at, each line cut to the terminal's `width` (0: no limit), as
// top's frame for a pool is.
std::string render_cluster_top(const nlohmann::json& report, unsigned width = 0);

std::string cluster_metrics(const nlohmann::json& report, metrics_http::Format format);

}  // namespace warmpool
