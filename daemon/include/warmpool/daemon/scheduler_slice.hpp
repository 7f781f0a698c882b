// The time slice the kernel's fair scheduler gives a process (Linux 6.12 and later: a custom
// slice, set with sched_setattr's sched_runtime under SCHED_OTHER or SCHED_BATCH).
//
// Why the supervisor asks for a short one: it runs for microseconds at a time, and it is on the
// path of every hand-over between jobs. When it wakes on a core whose worker runs a CPU-bound
// job, a normal slice lets that worker keep the core until the next scheduler tick (4 ms at
// HZ=250) while the other worker, done with its job, waits for its next one. A short slice gives
// the waking supervisor an earlier deadline, so it runs at once and the other worker is fed.
// Workers keep the slice the daemon was started with: their jobs should not pre-empt each other.
//
// Older kernels ignore sched_runtime for these policies and report 0; then this changes nothing.
#pragma once

#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdint>

#include "warmpool/common/sys_result.hpp"

namespace warmpool {

// What the supervisor asks for: the shortest custom slice the kernel accepts.
inline constexpr std::uint64_t kSupervisorSliceNs = 100'000;

namespace detail {
// struct sched_attr of <linux/sched/types.h>, which cannot be included beside glibc's <sched.h>.
struct SchedAttr {
    std::uint32_t size = sizeof(SchedAttr);
    std::uint32_t sched_policy = 0;
    std::uint64_t sched_flags = 0;
    std::int32_t sched_nice = 0;
    std::uint32_t sched_priority = 0;
    std::uint64_t sched_runtime = 0;
    std::uint64_t sched_deadline = 0;
    std::uint64_t sched_period = 0;
    std::uint32_t sched_util_min = 0;
    std::uint32_t sched_util_max = 0;
};
inline constexpr std::uint64_t kSchedFlagResetOnFork = 0x01;
}  // namespace detail

// The calling thread's slice in nanoseconds as the kernel reports it (0: a kernel without custom
// slices, or a policy that has none).
inline Result<std::uint64_t> scheduler_slice_ns() {
    detail::SchedAttr attr;
    if (::syscall(SYS_sched_getattr, 0, &attr, sizeof attr, 0) != 0) return errno_error("sched_getattr");
    return attr.sched_runtime;
}

// Sets the calling thread's slice (0: the kernel's default), keeping its policy, nice value and
// reset-on-fork flag. Only the fair policies have a slice; under any other this does nothing.
inline Result<void> set_scheduler_slice_ns(std::uint64_t slice_ns) {
    detail::SchedAttr attr;
    if (::syscall(SYS_sched_getattr, 0, &attr, sizeof attr, 0) != 0) return errno_error("sched_getattr");
    if (attr.sched_policy != SCHED_OTHER && attr.sched_policy != SCHED_BATCH) return {};
    detail::SchedAttr wanted;
    wanted.sched_policy = attr.sched_policy;
    wanted.sched_flags = attr.sched_flags & detail::kSchedFlagResetOnFork;
    wanted.sched_nice = attr.sched_nice;
    wanted.sched_runtime = slice_ns;
    if (::syscall(SYS_sched_setattr, 0, &wanted, 0) != 0) return errno_error("sched_setattr");
    return {};
}

}  // namespace warmpool
