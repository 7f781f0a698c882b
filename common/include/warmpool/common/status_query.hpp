// The status socket's protocol, client side: send one request line, read the whole answer.
//
// Requests: "json" (the default), "prometheus" (or "metrics": the Prometheus text format 0.0.4)
// or "openmetrics" (OpenMetrics 1.0.0). The supervisor answers and closes, so any tool can ask:
// `echo json | socat - UNIX-CONNECT:<runtime dir>/<pool>.status`.
#pragma once

#include <string>
#include <string_view>

#include "warmpool/common/sys_result.hpp"

namespace warmpool {

Result<std::string> query_status(const std::string& status_socket, std::string_view request, int timeout_ms);

}  // namespace warmpool
