// PriorityAging: which priority level the dispatcher serves next, and how waiting raises a level
// so that no level is starved. Pure logic over a clock the caller passes; unit-tested.
//
// Higher levels go first. A level that holds jobs while a job of another level is dispatched is
// "passed over" from that moment; from then on it counts as one level higher per `step_ns`
// (kPriorityAgingStepNs), up to the top level, until a job of its own is dispatched. Among
// levels that count as the same, the one passed over longest goes first. So under a stream of
// top-priority jobs that never lets up, a job at the head of the lowest level is dispatched at
// most (kPriorityLevels - 1) * step_ns after it was first passed over (1.5 s), plus one turn of
// the sessions holding jobs at the top level. A level that nothing passes over does not age: jobs
// that all wait for a busy worker keep their order by priority however long they wait. Ageing
// is per level, not per job, so it costs a few operations per dispatched job, never a scan of
// the queues; and within a level sessions keep taking turns as they did without priorities.
//
// Owned by the dispatcher; the supervisor's one thread only.
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>
#include <limits>

#include "warmpool/daemon/job_queue.hpp"
#include "warmpool/priority.hpp"

namespace warmpool {

inline constexpr std::int64_t kPriorityAgingStepNs = 100'000'000;  // 100 ms a level

class PriorityAging {
public:
    explicit PriorityAging(std::int64_t step_ns = kPriorityAgingStepNs) : step_ns_(step_ns > 0 ? step_ns : 1) {
        passed_over_since_.fill(kNever);
    }

    // The level `level` counts as at `now`.
    unsigned effective(unsigned level, std::int64_t now) const {
        const std::int64_t since = passed_over_since_[level];
        if (since == kNever || now <= since) return level;
        const std::int64_t steps = (now - since) / step_ns_;
        const std::int64_t top = kPriorityLevels - 1;
        return static_cast<unsigned>(std::min<std::int64_t>(top, level + std::min(steps, top)));
    }

    // Of the non-empty set `levels`, the one to serve first at `now`: the highest effective
    // level; among equals, the one passed over longest.
    unsigned next(PriorityLevels levels, std::int64_t now) const {
        const PriorityLevels aged = levels & ageing_;
        if (aged == 0) return top_level(levels);  // nothing ages: the highest level
        unsigned best = top_level(levels);
        unsigned best_effective = effective(best, now);
        for (PriorityLevels rest = levels & ~(PriorityLevels{1} << best); rest != 0; rest &= rest - 1) {
            const auto level = static_cast<unsigned>(std::countr_zero(rest));
            const unsigned e = effective(level, now);
            if (e > best_effective ||
                (e == best_effective && passed_over_since_[level] < passed_over_since_[best])) {
                best = level;
                best_effective = e;
            }
        }
        return best;
    }

    // A job of `level` was dispatched at `now` while the levels `waiting` held jobs: `level` is
    // served, and every other waiting level is passed over, from now on unless it already was.
    void dispatched(unsigned level, PriorityLevels waiting, std::int64_t now) {
        const PriorityLevels bit = PriorityLevels{1} << level;
        if (ageing_ == 0 && waiting == bit) return;  // one level alone: nothing passed over
        if ((ageing_ & bit) != 0) {
            passed_over_since_[level] = kNever;
            ageing_ &= ~bit;
        }
        for (PriorityLevels fresh = waiting & ~bit & ~ageing_; fresh != 0; fresh &= fresh - 1) {
            passed_over_since_[std::countr_zero(fresh)] = now;
        }
        ageing_ |= waiting & ~bit;
    }

    // Only the levels `waiting` hold jobs now: the others forget they were passed over.
    void keep_only(PriorityLevels waiting) {
        for (PriorityLevels gone = ageing_ & ~waiting; gone != 0; gone &= gone - 1) {
            passed_over_since_[std::countr_zero(gone)] = kNever;
        }
        ageing_ &= waiting;
    }

private:
    static constexpr std::int64_t kNever = std::numeric_limits<std::int64_t>::max();
    std::int64_t step_ns_;
    std::array<std::int64_t, kPriorityLevels> passed_over_since_;  // kNever: not passed over
    PriorityLevels ageing_ = 0;                                      // levels passed over
};

}  // namespace warmpool
