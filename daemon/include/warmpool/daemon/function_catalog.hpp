// FunctionCatalog: what the supervisor knows of each function, by name.
//
// It owns two things: the settings the workers declared for their functions (the job library's
// FunctionOptions and the Python jobs' @warmpool.job(timeout=, retries=), heard over the worker
// channel as FunctionSettings), and each function's observed run times (RunEstimate,
// dispatch_policy.hpp), which decide whether a job is short enough to queue behind others. A
// function's effective settings are its [functions.NAME] section (with --function), else what
// its library or module declared, else the pool's defaults: settings() is that one rule.
//
// It also keeps the list of functions the workers serve, with their signatures, for status.
//
// The supervisor's one thread only. It reads the pool's configuration through the reference it
// was made with, so a reload is seen at once. Names come from clients, so run-time statistics
// are kept for a bounded number of functions; the rest share one entry.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <unordered_map>

#include "warmpool/common/protocol.hpp"
#include "warmpool/common/shm_layout.hpp"
#include "warmpool/daemon/dispatch_policy.hpp"
#include "warmpool/daemon/pending_job.hpp"
#include "warmpool/daemon/pool_config.hpp"

namespace warmpool {

class FunctionCatalog {
public:
    static constexpr std::size_t kMaxTrackedFunctions = 4096;

    explicit FunctionCatalog(const PoolConfig& config) : config_(config) {}

    // The effective settings of `function`.
    FunctionConfig settings(std::string_view function) const;
    // The run-time limit of a job: its own, else its function's; 0: none.
    std::int64_t timeout_ns(const JobRecord& record) const;
    // True while no function has a run-time limit or retries: lane jobs (which the supervisor
    // does not see run) may then be taken.
    bool any_limits() const;

    // The last function looked up by one session, so a stream of calls of one function costs one
    // look-up. Pointers into the catalog stay valid: its entries never move or go.
    struct LastLookup {
        std::string function;
        FunctionStats* stats = nullptr;
    };
    FunctionStats& stats(std::string_view function, LastLookup& last);
    // The run-time estimate a queued job is placed by (single calls and batches apart).
    const RunEstimate& estimate(const PendingJob& job) const;

    // What a worker of configuration generation `generation` declared. Returns why it was
    // refused (then nothing of it is taken), or empty. `changed` says whether the settings
    // changed, so whether the lanes' rule must be looked at again.
    std::string declare(std::uint64_t generation, const protocol::FunctionSettings& declared, bool& changed);
    const std::map<std::string, FunctionConfig, std::less<>>& declared() const { return declared_; }

    // The functions a worker of configuration generation `generation` serves (for status): the
    // first list of the newest generation is kept.
    void list(std::uint64_t generation, protocol::FunctionList functions);
    const protocol::FunctionList& listed() const { return listed_; }
    // Where the effective settings of `function` come from: "config" (a [functions.NAME] section
    // or --function), "declared" (by its library or module), "defaults".
    const char* settings_source(std::string_view function) const;

private:
    const PoolConfig& config_;
    std::unordered_map<std::string, FunctionStats> stats_;
    FunctionStats untracked_;
    // From workers of configuration generation declared_generation_: a reload's new workers
    // replace them, and older workers still serving are not heard.
    std::map<std::string, FunctionConfig, std::less<>> declared_;
    std::uint64_t declared_generation_ = 0;
    protocol::FunctionList listed_;
    std::uint64_t listed_generation_ = 0;
};

}  // namespace warmpool
