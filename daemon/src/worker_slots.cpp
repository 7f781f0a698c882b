#include "warmpool/daemon/worker_slots.hpp"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>

#include "warmpool/daemon/cpu_placement.hpp"

namespace warmpool {

SlotPlan plan_slots(std::span<const WorkerSlot> slots, unsigned workers, bool reloading) {
    SlotPlan plan;
    const auto n = static_cast<unsigned>(slots.size());
    std::vector<bool> replaced(n);
    unsigned members = 0, ready_members = 0, replacing = 0, ready_replacing = 0;
    for (unsigned slot = 0; slot < n; ++slot) {
        const WorkerSlot& w = slots[slot];
        replaced[slot] = w.being_replaced();
        if (w.member()) {
            ++members;
            if (w.ever_ready) ++ready_members;
        } else if (replaced[slot]) {
            ++replacing;
            if (w.ever_ready) ++ready_replacing;
        }
    }
    // Too many members (a reload lowered `workers`): the newest go first.
    for (unsigned slot = n; slot-- > 0 && members > workers;) {
        if (!slots[slot].member()) continue;
        plan.scale_down.push_back(slot);
        replaced[slot] = true;
        --members;
        ++replacing;
        if (slots[slot].ever_ready) {
            --ready_members;
            ++ready_replacing;
        }
    }
    // A replaced worker that never became ready serves nobody: it goes at once. One that serves
    // retires once enough others are ready to keep `workers` serving without it.
    for (unsigned slot = 0; slot < n && replacing > 0; ++slot) {
        if (!replaced[slot]) continue;
        if (slots[slot].ever_ready) {
            if (ready_members + ready_replacing - 1 < workers) continue;  // still needed for capacity
            --ready_replacing;
        }
        plan.retire.push_back(slot);
        --replacing;
    }
    plan.reload_complete = reloading && replacing == 0 && ready_members >= workers;
    for (unsigned slot = 0; slot < n && members < workers; ++slot) {
        if (slots[slot].pid != 0) continue;
        plan.spawn.push_back(slot);
        ++members;
    }
    return plan;
}

Result<ForkedWorker> fork_worker(WorkerSetup setup, int doorbell_fd) {
    int pair[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) return errno_error("socketpair");
    UniqueFd ours(pair[0]);
    UniqueFd theirs(pair[1]);
    const pid_t parent = ::getpid();
    const pid_t pid = ::fork();
    if (pid < 0) return errno_error("fork");
    if (pid == 0) {
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (::getppid() != parent) ::_exit(1);
        if (::dup2(doorbell_fd, 3) < 0 || ::dup2(theirs.get(), 4) < 0) ::_exit(1);
        ::syscall(SYS_close_range, 5U, ~0U, 0U);
        setup.supervisor_eventfd = 3;
        setup.supervisor_channel = 4;
        sigset_t none;
        sigemptyset(&none);
        ::sigprocmask(SIG_SETMASK, &none, nullptr);
        ::signal(SIGPIPE, SIG_DFL);
        run_worker(setup);
    }
    return ForkedWorker{pid, std::move(ours)};
}

WorkerSlots::WorkerSlots(unsigned slots, std::uint64_t seed)
    : slots_(slots), last_exits_(slots), random_(seed), allowed_cpus_(allowed_cpus()) {}

int WorkerSlots::find(pid_t pid) const {
    if (pid <= 0) return -1;  // an empty slot's pid is 0: it is nobody's
    for (unsigned slot = 0; slot < slots_.size(); ++slot) {
        if (slots_[slot].pid == pid) return static_cast<int>(slot);
    }
    return -1;
}

unsigned WorkerSlots::ready_workers() const {
    return static_cast<unsigned>(
        std::count_if(slots_.begin(), slots_.end(), [](const WorkerSlot& w) { return w.live() && w.ever_ready; }));
}

bool WorkerSlots::any_live() const {
    return std::any_of(slots_.begin(), slots_.end(), [](const WorkerSlot& w) { return w.live(); });
}

WorkerSlot& WorkerSlots::renew(unsigned slot, const PoolConfig& config, std::uint64_t generation) {
    WorkerSlot& w = slots_[slot];
    w = WorkerSlot{};
    w.config_generation = generation;
    if (config.max_jobs > 0) {
        std::uniform_real_distribution<double> jitter(-config.max_jobs_jitter, config.max_jobs_jitter);
        const double jobs = static_cast<double>(config.max_jobs) * (1.0 + jitter(random_));
        w.recycle_after = std::max<std::uint64_t>(1, static_cast<std::uint64_t>(jobs));
    }
    if (config.cpu_affinity == "spread") {
        std::vector<int> member_cpus;
        for (const WorkerSlot& other : slots_) {
            if (other.member() && other.cpu >= 0) member_cpus.push_back(other.cpu);
        }
        w.cpu = pick_cpu(allowed_cpus_, member_cpus);
    }
    return w;
}

}  // namespace warmpool
