#include "warmpool/daemon/function_catalog.hpp"

#include <spdlog/spdlog.h>

#include <cmath>

#include "warmpool/common/utf8.hpp"

namespace warmpool {

namespace {

constexpr double kMaxDeclaredTimeout = 365 * 86400.0;  // as for [functions.NAME] timeout
constexpr std::uint32_t kMaxDeclaredRetries = 100;

// Why a declared setting cannot be taken, or empty. A worker runs the pool's modules, so this is
// a check against mistakes and a broken worker, not a security boundary; it keeps the map bounded.
std::string check_declared(const protocol::FunctionSetting& f) {
    if (f.name.empty() || f.name.size() > kFunctionNameMax || f.name.find('\0') != std::string::npos ||
        !is_valid_utf8(f.name)) {
        return "a function name must be 1 to " + std::to_string(kFunctionNameMax) + " bytes of UTF-8 text";
    }
    if (!std::isfinite(f.timeout_s) || f.timeout_s > kMaxDeclaredTimeout) return "timeout out of range";
    if (f.retries > kMaxDeclaredRetries) return "retries out of range";
    return {};
}

}  // namespace

FunctionConfig FunctionCatalog::settings(std::string_view function) const {
    if (!config_.functions.contains(function)) {
        if (auto it = declared_.find(function); it != declared_.end()) {
            FunctionConfig f = it->second;
            if (f.timeout_s < 0) f.timeout_s = config_.default_timeout_s;
            return f;
        }
    }
    return config_.function(function);
}

std::int64_t FunctionCatalog::timeout_ns(const JobRecord& record) const {
    if (record.timeout_ns > 0) return record.timeout_ns;
    const double seconds = settings(function_name(record)).timeout_s;
    return seconds > 0 ? static_cast<std::int64_t>(seconds * 1e9) : 0;
}

bool FunctionCatalog::any_limits() const {
    if (config_.default_timeout_s > 0) return true;
    for (const auto& [name, f] : config_.functions) {
        if (f.timeout_s > 0 || f.retries != 0) return true;
    }
    for (const auto& [name, declared] : declared_) {
        const FunctionConfig f = settings(name);
        if (f.timeout_s > 0 || f.retries != 0) return true;
    }
    return false;
}

FunctionStats& FunctionCatalog::stats(std::string_view function, LastLookup& last) {
    if (last.stats != nullptr && function == last.function) return *last.stats;
    FunctionStats* stats = &untracked_;
    if (auto it = stats_.find(std::string(function)); it != stats_.end()) {
        stats = &it->second;
    } else if (stats_.size() < kMaxTrackedFunctions) {
        stats = &stats_.emplace(std::string(function), FunctionStats{}).first->second;
    }
    last.function.assign(function);
    last.stats = stats;
    return *stats;
}

const RunEstimate& FunctionCatalog::estimate(const PendingJob& job) const {
    const FunctionStats* stats = job.stats != nullptr ? job.stats : &untracked_;
    return (job.record.flags & kJobBatch) ? stats->batch : stats->single;
}

std::string FunctionCatalog::declare(std::uint64_t generation, const protocol::FunctionSettings& settings,
                                     bool& changed) {
    changed = false;
    // A worker of an older configuration still serving during a reload speaks for code that is
    // on its way out.
    if (generation < declared_generation_) return {};
    if (settings.functions.size() > protocol::kMaxFunctionSettings) {
        return std::to_string(settings.functions.size()) + " function settings (at most " +
               std::to_string(protocol::kMaxFunctionSettings) + ")";
    }
    std::map<std::string, FunctionConfig, std::less<>> declared;
    for (const auto& f : settings.functions) {
        if (auto why = check_declared(f); !why.empty()) {
            return "settings of function '" + valid_utf8(f.name) + "' that cannot be taken (" + why + ")";
        }
        declared[f.name] = FunctionConfig{f.timeout_s < 0 ? -1.0 : f.timeout_s, f.retries};
    }
    if (generation == declared_generation_ && declared == declared_) return {};
    for (const auto& [name, f] : declared) {
        if (config_.functions.contains(name)) {
            spdlog::info("function '{}': its [functions.{}] settings win over those its module declares", name, name);
        }
    }
    changed = declared != declared_;  // a reload's new workers declaring the same: nothing changes
    declared_ = std::move(declared);
    declared_generation_ = generation;
    if (changed) spdlog::info("Python jobs declare settings for {} function(s)", declared_.size());
    return {};
}

void FunctionCatalog::list(std::uint64_t generation, protocol::FunctionList functions) {
    if (generation <= listed_generation_) return;
    listed_ = std::move(functions);
    listed_generation_ = generation;
}

const char* FunctionCatalog::settings_source(std::string_view function) const {
    if (config_.functions.contains(function)) return "config";
    if (declared_.contains(function)) return "declared";
    return "defaults";
}

}  // namespace warmpool
