// Zygote: the process that runs the job library's shared set-up once and forks the workers
// (`preload`, docs/CONFIG.md). The class is the supervisor's side of it, owned by WorkerLives and
// used on the supervisor's one thread; run in the zygote process itself is what zygote.cpp does
// after build()'s fork, which never returns.
//
// The zygote is a child of the supervisor that never runs a job. It is forked with the image of
// the supervisor: the pool segment and the lane board mapped (session segments are kept out of
// children), the workers' doorbell as descriptor 3, its end of a SOCK_SEQPACKET socketpair as 4,
// every other descriptor closed, signals unblocked, SIGPIPE default, PDEATHSIG SIGKILL. It loads
// the job library, runs its preload hook (WARMPOOL_PRELOAD, job_abi.hpp) and, for a pool with
// Python jobs, PythonHost::preload() (imports the modules, gc.freeze()); then it sends `ready`
// with the preload's duration, rings the doorbell, and serves requests until its socket closes.
//
// A request (fork_worker) is a slot and a CPU, with the worker's end of its channel passed by
// SCM_RIGHTS. The zygote double-forks: its short-lived intermediate child forks the worker and
// exits. The intermediate is started with clone(CLONE_VM | CLONE_VFORK) on a stack the zygote
// mapped once (8 MiB): it shares the zygote's memory, so only the worker's fork copies page
// tables, and the worker goes on running on (its copy of) that stack, not the process's
// original main stack. Orphaned by the intermediate, the worker is reparented to the supervisor, which is a child subreaper
// (PR_SET_CHILD_SUBREAPER, set by build()), and the supervisor reaps it with waitpid() as any
// worker. The worker waits until its parent is the supervisor, only then sets PDEATHSIG (which
// follows the death of whoever forked it: the intermediate), and checks its parent once more,
// closing the race with a supervisor that died meanwhile. It puts its channel at 4 (closing the
// zygote's socket), keeps the doorbell at 3, and runs run_worker() with `preloaded` set: the
// library's hook is not run again, and the interpreter is initialised already. The zygote answers
// with the worker's pid.
//
// The supervisor never waits on the zygote except for the answer to a request, for at most
// kForkTimeoutMs: then the zygote is taken for stuck, killed, and the caller forks the worker
// itself (worker_slots.hpp: fork_worker). A worker the stuck zygote may still fork finds its
// channel closed and dies before it reports ready. The zygote's death is seen by the reaper
// (on_exit). Rebuilding it is WorkerLives' decision, with the RespawnPolicy back-off.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string_view>

#include "warmpool/common/sys_result.hpp"
#include "warmpool/common/unique_fd.hpp"
#include "warmpool/daemon/respawn_policy.hpp"
#include "warmpool/daemon/worker_process.hpp"
#include "warmpool/daemon/worker_slots.hpp"

namespace warmpool {

// Whether a zygote built for `built` can fork a worker for `wanted`: the same library, Python
// set-up and settings the worker is given (its slot and CPU aside).
bool same_worker_image(const WorkerSetup& built, const WorkerSetup& wanted);

class Zygote {
public:
    enum class State : std::uint8_t { none, preloading, ready, down };
    static constexpr int kForkTimeoutMs = 500;

    Zygote() = default;
    ~Zygote();  // kills and reaps a zygote still running
    Zygote(const Zygote&) = delete;
    Zygote& operator=(const Zygote&) = delete;

    // Forks a zygote that preloads for `setup` (killing one still running). With `awaited`,
    // spawns wait for its preload (at start, at a reload); otherwise workers are forked the plain
    // way meanwhile (after the zygote died).
    Status build(const WorkerSetup& setup, int doorbell_fd, bool awaited, std::int64_t now);
    // Kills a zygote still running (preload turned off); none is rebuilt.
    void stop();
    // Reads what the zygote sent, if anything, without blocking: its ready message. True if the
    // state changed.
    bool look(std::int64_t now);
    // Forks the worker for `slot` through the zygote, which must be ready. An error (no answer
    // within kForkTimeoutMs, a broken socket, a failed fork) leaves the zygote killed.
    Result<ForkedWorker> fork_worker(unsigned slot, int cpu);
    // The reaper saw `pid` end: true if it was the zygote, now down.
    bool on_exit(pid_t pid, int wait_status, std::int64_t now);

    State state() const { return state_; }
    pid_t pid() const { return pid_; }
    bool awaited() const { return state_ == State::preloading && awaited_; }
    bool serves(const WorkerSetup& wanted) const;
    const WorkerSetup& built_for() const { return built_for_; }
    // How long the last completed preload took; 0 before one completes.
    double preload_seconds() const { return static_cast<double>(preload_ns_) / 1e9; }
    std::uint64_t builds() const { return builds_; }
    std::uint64_t forks() const { return forks_; }
    std::int64_t next_build_ns() const { return next_build_ns_; }

private:
    void kill_now();

    State state_ = State::none;
    pid_t pid_ = 0;
    UniqueFd socket_;
    WorkerSetup built_for_;
    bool awaited_ = false;
    std::int64_t started_ns_ = 0;
    std::int64_t preload_ns_ = 0;
    std::uint64_t builds_ = 0;
    std::uint64_t forks_ = 0;
    RespawnPolicy rebuilds_;
    std::int64_t next_build_ns_ = 0;  // no rebuild before this (the zygote keeps dying while preloading)
};

constexpr std::string_view to_string(Zygote::State state) {
    switch (state) {
        case Zygote::State::none: return "none";
        case Zygote::State::preloading: return "preloading";
        case Zygote::State::ready: return "ready";
        case Zygote::State::down: return "down";
    }
    return "";
}

}  // namespace warmpool
