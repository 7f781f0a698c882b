#include "warmpool/daemon/logging.hpp"

#include <unistd.h>

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

namespace warmpool {

bool valid_log_level(const std::string& level) {
    return level == "off" || spdlog::level::from_str(level) != spdlog::level::off;
}

void init_logging(const std::string& pool, const std::string& role, const std::string& level) {
    // Plain (not colour) stderr sink: journald and test logs read it as text.
    auto logger = spdlog::stderr_logger_st("warmpool." + role + "." + std::to_string(getpid()));
    logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ [" + pool + " " + role + " " +
                        std::to_string(getpid()) + "] %v");
    logger->set_level(spdlog::level::from_str(level));
    logger->flush_on(spdlog::level::trace);
    spdlog::set_default_logger(std::move(logger));
}

}  // namespace warmpool
