// The process's logger: spdlog to stderr (journald picks it up), one line per event.
//
// The logger is the one piece of global mutable state. The supervisor sets it up at start;
// a forked worker sets it up again for itself, so no lock taken in the parent survives fork.
#pragma once

#include <string>

namespace warmpool {

// role: "supervisor" or "worker"; level: trace, debug, info, warn, error, critical, off.
void init_logging(const std::string& pool, const std::string& role, const std::string& level);
bool valid_log_level(const std::string& level);

}  // namespace warmpool
