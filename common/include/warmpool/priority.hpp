// Priority: the range of a job's priority (CallOptions::priority, JobRecord::priority), written
// once for the client that sets it, the supervisor that orders its queues by it and the worker
// that checks a lane post against it.
//
// A priority is a small signed integer: higher runs first. Internally it is a level, 0 (the
// lowest priority) to kPriorityLevels - 1, so that per-level queues and bitmaps index it directly.
#pragma once

#include <cstdint>

namespace warmpool {

inline constexpr int kPriorityMin = -8;
inline constexpr int kPriorityMax = 7;
inline constexpr int kPriorityDefault = 0;
inline constexpr unsigned kPriorityLevels = kPriorityMax - kPriorityMin + 1;  // 16

constexpr bool priority_in_range(std::int64_t priority) {
    return priority >= kPriorityMin && priority <= kPriorityMax;
}

// The level of `priority`, clamped into range: a record refused for its priority is still filed
// somewhere valid until it is taken out again.
constexpr unsigned priority_level(std::int32_t priority) {
    if (priority < kPriorityMin) return 0;
    if (priority > kPriorityMax) return kPriorityLevels - 1;
    return static_cast<unsigned>(priority - kPriorityMin);
}
inline constexpr unsigned kDefaultPriorityLevel = priority_level(kPriorityDefault);

}  // namespace warmpool
