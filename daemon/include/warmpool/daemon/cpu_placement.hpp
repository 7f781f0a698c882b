// Where a worker runs under cpu_affinity = "spread" (pool_config.hpp). Pure logic, unit-tested.
//
// Pinning one worker per CPU suits a pool whose jobs are CPU-bound and whose workers number
// the cores: the kernel otherwise sometimes wakes a worker onto the core of the process that
// woke it, where another worker is busy, and leaves it queued there for milliseconds while a
// core sits idle. Off by default: on a machine shared with other busy programs, a pinned worker
// cannot move away from a core they load.
#pragma once

#include <sched.h>

#include <cstddef>
#include <span>
#include <vector>

namespace warmpool {

// The allowed CPU that the fewest members run on (ties: the first in `allowed`), so N workers on
// N CPUs get one each and a replacement takes the CPU its predecessor leaves. -1 if `allowed`
// is empty. `member_cpus`: the CPU of each member worker that is pinned.
inline int pick_cpu(std::span<const int> allowed, std::span<const int> member_cpus) {
    int best = -1;
    std::size_t best_count = 0;
    for (const int cpu : allowed) {
        std::size_t count = 0;
        for (const int used : member_cpus) count += used == cpu ? 1 : 0;
        if (best < 0 || count < best_count) {
            best = cpu;
            best_count = count;
        }
    }
    return best;
}

// The CPUs this process may run on, in increasing order.
inline std::vector<int> allowed_cpus() {
    std::vector<int> cpus;
    cpu_set_t set;
    CPU_ZERO(&set);
    if (::sched_getaffinity(0, sizeof set, &set) != 0) return cpus;
    for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
        if (CPU_ISSET(cpu, &set)) cpus.push_back(cpu);
    }
    return cpus;
}

}  // namespace warmpool
