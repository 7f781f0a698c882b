// The worker process: what a forked child runs until it exits.
//
// It loads the job library, initialises every function once, then announces itself ready in its
// WorkerRecord, or exits if the supervisor told it to stop meanwhile (announce_ready() in
// shm_layout.hpp). It takes jobs from its inbox ring in order and, while idle, from the lanes
// (lane_watcher.hpp); runs each with its JobRunner (job_runner.hpp) and writes each reply straight
// into the submitting client's reply ring. It never returns: it ends with _exit().
#pragma once

#include <string>
#include <vector>

#include "warmpool/common/pool_memory.hpp"
#include "warmpool/common/shm_layout.hpp"
#include "warmpool/daemon/python_host.hpp"

namespace warmpool {

struct WorkerSetup {
    std::string pool_name;
    std::string jobs_library;
    std::string log_level;
    unsigned slot = 0;
    PoolLayout pool_layout{};
    SessionLayout session_layout{};
    std::byte* pool_base = nullptr;  // the pool segment, mapped before fork
    LaneBoard* lane_board = nullptr;  // mapped before fork
    int supervisor_eventfd = -1;
    // Its end of a socketpair with the supervisor: asks for session segments and argument blobs
    // (protocol::WorkerWant), offers result blobs (protocol::ResultOffer).
    int supervisor_channel = -1;
    std::uint32_t inline_max = 0;
    int cpu = -1;                // the CPU to pin the worker to (cpu_affinity "spread"); -1: none
    PythonSetup python;          // enabled: the worker embeds an interpreter (python_host.hpp)
    // Forked from the zygote (zygote.hpp), which ran the library's preload hook and, for Python
    // jobs, initialised the interpreter: the worker runs only its own initialisation.
    bool preloaded = false;
    // Functions the pool has settings for ([functions.NAME], --function): each must be one the
    // worker serves, or the configuration has a typo, which fails its initialisation.
    std::vector<std::string> configured_functions;

    PoolMemory pool_memory() const { return {pool_base, pool_layout}; }
};

// Exit codes a worker reports; the supervisor's reaper interprets them.
inline constexpr int kWorkerExitOk = 0;
inline constexpr int kWorkerExitInitFailed = 70;
inline constexpr int kWorkerExitOutOfMemory = 71;  // a Python job raised MemoryError
inline constexpr int kWorkerExitBadConfig = 78;     // the configuration names a function it lacks

[[noreturn]] void run_worker(const WorkerSetup& setup);

}  // namespace warmpool
