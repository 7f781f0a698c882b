// The dispatcher's rules for placing a job on a worker. Pure logic, unit-tested.
//
// Short jobs are queued several deep on a worker so it never waits for the supervisor between
// them. A job that is long, of unknown length, or has a run-time limit is "exclusive": it goes
// only to a worker holding nothing, and nothing is queued behind it, so no job waits behind a
// long one while another worker could run it, and a timeout kill can only hit the job it is for.
//
// A worker publishes replies straight into a ring of the client's; the dispatcher gives a
// worker a client's job only while that ring has room for the replies of every job of that
// client the worker holds, each as large as it may go inline, so a worker never blocks on a
// client that stopped reading.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>

#include "warmpool/common/shm_layout.hpp"

namespace warmpool {

inline constexpr std::int64_t kShortJobNs = 200'000;  // at most this is worth queueing behind
// About the most run time a short job may find queued ahead of it on one worker.
inline constexpr std::int64_t kQueueBudgetNs = 1'000'000;

// A function's typical run time (single calls and batches are tracked apart).
struct RunEstimate {
    std::int64_t ns = -1;  // -1: never seen run

    // The new estimate is (3 * ns + run_ns) / 4, computed from quarters so that it cannot
    // overflow: run_ns comes from a worker's record and can be anything.
    void observe(std::int64_t run_ns) {
        ns = ns < 0 ? run_ns : ns / 4 * 3 + run_ns / 4 + (ns % 4 * 3 + run_ns % 4) / 4;
    }
    bool known_short() const { return ns >= 0 && ns <= kShortJobNs; }
};

struct FunctionStats {
    RunEstimate single;
    RunEstimate batch;
};

// How large a job's reply body may be and still go inline: a batch's up to inline_max, a single
// call's up to kSingleReplyInlineMax; larger bodies travel as blobs. The dispatcher sets aside
// reply-ring room for the largest reply of every job a worker holds, so a small bound for single
// calls is what lets a worker hold a client's single calls hundreds deep, while a batch, one reply
// for many calls, keeps the full inline_max.
inline constexpr std::uint32_t kSingleReplyInlineMax = 4096;
constexpr std::uint32_t reply_inline_max(std::uint32_t job_flags, std::uint32_t inline_max) {
    if ((job_flags & kJobBatch) != 0 || inline_max < kSingleReplyInlineMax) return inline_max;
    return kSingleReplyInlineMax;
}

// The most bytes one reply takes in a reply ring: the ring's 8-byte frame, the 40-byte
// ReplyRecord and at most `body_max` bytes of body, padded to 8.
constexpr std::uint64_t max_reply_bytes(std::uint64_t reply_record_bytes, std::uint32_t body_max) {
    return (8 + reply_record_bytes + body_max + 7) & ~std::uint64_t{7};
}

// The reply-ring room set aside for the reply of a job with `job_flags`: the dispatcher adds it
// when it places the job and takes it back when the job is done.
constexpr std::uint64_t job_reply_bytes(std::uint32_t job_flags, std::uint32_t inline_max) {
    return max_reply_bytes(sizeof(ReplyRecord), reply_inline_max(job_flags, inline_max));
}

// The reply-ring room held back in every ring besides the reserved replies: one wrap-around (at
// most one reply of the largest inline size skips the ring's end) and the reply of a job that came
// by lane, which the dispatcher does not see (a single call's). reply_room_bytes() takes it as
// `largest_reply`; the supervisor computes it here once, at start.
constexpr std::uint64_t reply_room_reserve(std::uint32_t inline_max) {
    return max_reply_bytes(sizeof(ReplyRecord), inline_max) + job_reply_bytes(0, inline_max);
}

// The reply-ring bytes a worker may still be given jobs for: the ring's free space less the room
// `reserved` for the replies of the jobs of that client it already holds, less one wrap-around
// (a reply that does not fit before the ring's end skips the rest, at most `largest_reply`
// bytes, and the replies of the held jobs wrap at most once). A job may go to the worker while
// its own max_reply_bytes() fits. A dispatcher computes it once per pass and counts it down as
// it places jobs: the held jobs' replies can only fill the ring by what was reserved for them,
// and the client only ever frees room. `used` comes from memory the client can write; nonsense
// means no room.
// The bytes of a reply ring the client has yet to read, from the worker's own count of what it
// published (`produced`, which no client can write) and the `head` the client reports. A head
// beyond what was produced is a lie or a reply whose count is still being recorded (its room is
// still reserved either way): nothing is unread. A head further back than one ring's capacity is
// impossible: the ring counts as full, so the client's jobs wait and nobody else's do.
constexpr std::uint64_t reply_ring_unread(std::uint64_t produced, std::uint64_t head, std::uint64_t capacity) {
    if (head > produced) return 0;
    return produced - head > capacity ? capacity + 1 : produced - head;
}

constexpr std::uint64_t reply_room_bytes(std::uint64_t capacity, std::uint64_t used, std::uint64_t reserved,
                                         std::uint64_t largest_reply) {
    if (used > capacity) return 0;
    const std::uint64_t free = capacity - used;
    return free >= reserved + largest_reply ? free - reserved - largest_reply : 0;
}

// The order in which sessions with queued jobs are offered workers in a dispatch pass: fewest
// jobs already with workers first, ties in `turn_order` (which rotates from pass to pass). A
// session holding no worker is so served at the next free worker, however many jobs other
// sessions keep queued: one client's long jobs cannot keep another's waiting for more than that.
template <class Entry, class JobsHeld>
void order_by_jobs_held(std::span<Entry> turn_order, JobsHeld jobs_held) {
    std::stable_sort(turn_order.begin(), turn_order.end(),
                     [&](const Entry& a, const Entry& b) { return jobs_held(a) < jobs_held(b); });
}

struct WorkerLoad {
    std::size_t held = 0;          // jobs in its inbox, running or not
    bool holds_exclusive = false;  // one of them is exclusive
    bool running_long = false;     // the job it runs has taken longer than kShortJobNs so far
};

// How many jobs a worker may hold when the next one is a short job of this estimate: at most
// `prefetch`, and fewer the longer the job, so that it waits about kQueueBudgetNs at most behind
// others like it. Tiny jobs queue deep: a worker that gets the core then works through a batch,
// and on a small machine each hand-over between processes is a context switch.
constexpr unsigned queue_depth(unsigned prefetch, const RunEstimate& estimate) {
    const std::int64_t per_job = estimate.ns > 0 ? estimate.ns : 1;
    const std::int64_t fits = kQueueBudgetNs / per_job;
    if (fits < 1) return 1;
    return fits < static_cast<std::int64_t>(prefetch) ? static_cast<unsigned>(fits) : prefetch;
}

// May a job go to this worker now? (Reply room is checked separately.) `prefetch`: the job's
// queue_depth().
constexpr bool may_take(const WorkerLoad& load, bool exclusive, unsigned prefetch) {
    if (load.held == 0) return true;
    if (exclusive || load.holds_exclusive || load.running_long) return false;
    return load.held < prefetch;
}

// One worker as the dispatcher sees it during a pass.
struct WorkerCandidate {
    bool ready = false;  // initialised, a member or being replaced, not being stopped
    WorkerLoad load;
};

// The worker that should take a job next: among the ready workers that may take it (may_take)
// and have reply room for it (`has_room(i)`, asked only of a worker that would otherwise be the
// best so far), the one holding the fewest jobs; among equals, the first met going round from
// `start`. The dispatcher passes the worker it gave a job last as `start`: that worker is most
// likely still spinning on its inbox with warm caches while the others may sleep (taking turns
// instead would wake a sleeping worker through its futex for every job of a caller making one
// call at a time: round trip p50 25 us taking turns, 12 us preferring the last). -1 if none.
template <class HasRoom>
int pick_worker(std::span<const WorkerCandidate> workers, std::size_t start, bool exclusive,
                unsigned prefetch, HasRoom&& has_room) {
    int best = -1;
    std::size_t best_held = 0;
    const std::size_t n = workers.size();
    for (std::size_t i = 0; i < n; ++i) {
        const std::size_t slot = (start + i) % n;
        const WorkerCandidate& w = workers[slot];
        if (!w.ready || !may_take(w.load, exclusive, prefetch)) continue;
        if (best >= 0 && w.load.held >= best_held) continue;
        if (!has_room(slot)) continue;
        best = static_cast<int>(slot);
        best_held = w.load.held;
        if (best_held == 0) break;
    }
    return best;
}

}  // namespace warmpool
