// Escaping for the Prometheus text and OpenMetrics formats, shared by the pool's metrics
// (daemon/src/status_report.cpp) and a cluster's (client/cli/cluster_view.cpp). Pure.
#pragma once

#include <string>
#include <string_view>

namespace warmpool {

// Backslash and newline are escaped in every text; a double quote in label values (and, in
// OpenMetrics, in HELP too): `quotes` says whether this text is one of those.
inline std::string metrics_escaped(std::string_view text, bool quotes) {
    std::string out;
    out.reserve(text.size());
    for (char c : text) {
        if (c == '\\') {
            out += "\\\\";
        } else if (c == '\n') {
            out += "\\n";
        } else if (c == '"' && quotes) {
            out += "\\\"";
        } else {
            out += c;
        }
    }
    return out;
}

}  // namespace warmpool
