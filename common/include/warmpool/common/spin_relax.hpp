// spin_relax: what a consumer does between two looks at its queues while it spins before
// sleeping.
//
// It pauses briefly, then offers its core to any other runnable process. On a machine with
// fewer cores than busy processes (a client, the supervisor and a worker on two cores), the
// process a spinner waits for is often queued behind it on the same core; pausing alone would
// make it wait for the scheduler's next time slice (milliseconds), yielding lets it run now.
// When nothing else wants the core, sched_yield returns at once.
#pragma once

#include <sched.h>

namespace warmpool {

inline void spin_relax() {
    for (int i = 0; i < 16; ++i) __builtin_ia32_pause();
    ::sched_yield();
}

}  // namespace warmpool
