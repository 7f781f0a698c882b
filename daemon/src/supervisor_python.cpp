// What the supervisor knows of Python jobs, without running any Python itself: the settings that
// workers declare for their Python functions (@warmpool.job(timeout=, retries=)), and which
// sessions may send pickle (python.pickle).
#include <spdlog/spdlog.h>

#include <cmath>

#include "warmpool/common/utf8.hpp"
#include "warmpool/daemon/supervisor.hpp"

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

void Supervisor::on_function_settings(unsigned slot, const protocol::FunctionSettings& settings) {
    const WorkerSlot& w = workers_[slot];
    // A worker of an older configuration still serving during a reload speaks for code that is
    // on its way out.
    if (w.config_generation < declared_generation_) return;
    if (settings.functions.size() > protocol::kMaxFunctionSettings) {
        spdlog::warn("worker slot {} declared {} function settings (at most {}): ignored", slot,
                     settings.functions.size(), protocol::kMaxFunctionSettings);
        return;
    }
    std::map<std::string, FunctionConfig, std::less<>> declared;
    for (const auto& f : settings.functions) {
        if (auto why = check_declared(f); !why.empty()) {
            spdlog::warn("worker slot {} declared settings of function '{}' that cannot be taken ({}): all ignored",
                         slot, valid_utf8(f.name), why);
            return;
        }
        declared[f.name] = FunctionConfig{f.timeout_s < 0 ? -1.0 : f.timeout_s, f.retries};
    }
    if (w.config_generation == declared_generation_ && declared == declared_functions_) return;
    for (const auto& [name, f] : declared) {
        if (config_.functions.contains(name)) {
            spdlog::info("function '{}': its [functions.{}] settings win over those its module declares", name, name);
        }
    }
    const bool news = !declared.empty() || !declared_functions_.empty();
    declared_functions_ = std::move(declared);
    declared_generation_ = w.config_generation;
    if (news) spdlog::info("Python jobs declare settings for {} function(s)", declared_functions_.size());
    update_lanes_open();
}

FunctionConfig Supervisor::function_settings(std::string_view function) const {
    if (!config_.functions.contains(function)) {
        if (auto it = declared_functions_.find(function); it != declared_functions_.end()) {
            FunctionConfig f = it->second;
            if (f.timeout_s < 0) f.timeout_s = config_.default_timeout_s;
            return f;
        }
    }
    return config_.function(function);
}

std::uint32_t Supervisor::session_trust(const PeerCredentials& peer) const {
    bool may_unpickle = false;
    if (config_.python_pickle == "allowed") {
        may_unpickle = true;  // whoever got a session was allowed to connect
    } else if (config_.python_pickle == "owner") {
        may_unpickle = peer.uid == uid_ || peer.uid == 0;
    }
    return may_unpickle ? std::uint32_t{kSessionMayUnpickle} : 0u;
}

void Supervisor::republish_trust() {
    auto* table = reinterpret_cast<SessionEntry*>(pool_segment_.data() + pool_layout_.session_table_offset());
    for (unsigned slot = 0; slot < sessions_end_; ++slot) {
        if (sessions_[slot].used) table[slot].trust.store(session_trust(sessions_[slot].peer), std::memory_order_release);
    }
}

}  // namespace warmpool
