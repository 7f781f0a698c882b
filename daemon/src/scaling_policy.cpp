// The scaling policy: scaling_policy.hpp.
#include "warmpool/daemon/scaling_policy.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace warmpool {

namespace {

std::string seconds_text(std::int64_t ns) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g s", static_cast<double>(ns) / 1e9);
    return buf;
}

std::string list_slots(const std::vector<unsigned>& slots) {
    std::string text = slots.size() == 1 ? "worker " : "workers ";
    for (std::size_t i = 0; i < slots.size(); ++i) text += (i == 0 ? "" : ", ") + std::to_string(slots[i]);
    return text;
}

// The idle workers idle for at least `at_least_ns`, idlest first, at most `most` of them. None
// while a member is still starting: a worker retires only once the others are ready to serve
// without it, and until then it would go on taking jobs.
std::vector<unsigned> idlest(const ScalingPicture& picture, std::int64_t at_least_ns, unsigned most) {
    if (picture.starting > 0) return {};
    std::vector<IdleWorker> idle = picture.idle;
    std::stable_sort(idle.begin(), idle.end(),
                     [](const IdleWorker& a, const IdleWorker& b) { return a.idle_since_ns < b.idle_since_ns; });
    std::vector<unsigned> slots;
    for (const IdleWorker& w : idle) {
        if (slots.size() >= most) break;
        if (picture.now_ns - w.idle_since_ns >= at_least_ns) slots.push_back(w.slot);
    }
    return slots;
}

ScalingDecision fixed_count(const ScalingLimits& limits, const ScalingPicture& picture) {
    ScalingDecision d;
    const unsigned want = picture.admin_target.value_or(limits.workers);
    const unsigned members = picture.members();
    d.reason = picture.admin_target ? "scaled by admin to " + std::to_string(want) : "workers " + std::to_string(want);
    if (members < want) {
        d.start = want - members;
    } else if (members > want) {
        d.retire = idlest(picture, 0, members - want);
        if (!d.retire.empty()) d.reason += ": retired " + list_slots(d.retire);
        const unsigned waiting = members - want - static_cast<unsigned>(d.retire.size());
        if (waiting > 0) d.reason += ": " + std::to_string(waiting) + " more to retire once idle";
    }
    return d;
}

ScalingDecision elastic(const ScalingLimits& limits, const ScalingPicture& picture) {
    ScalingDecision d;
    const bool dynamic = limits.mode == ScalingMode::dynamic;
    const unsigned floor = std::min(picture.admin_target.value_or(dynamic ? limits.min_workers : 0), limits.max_workers);
    const unsigned members = picture.members();
    const auto idle = static_cast<unsigned>(picture.idle.size());
    const std::string floor_text = picture.admin_target ? "scaled by admin to " + std::to_string(floor)
                                                        : "min_workers " + std::to_string(floor);

    // Workers wanted now, and the reason that wants the most.
    unsigned wanted = 0;
    if (members < floor) {
        wanted = floor - members;
        d.reason = floor_text;
    }
    // Jobs wait and nobody is idle to take them: a worker for each job not already covered by
    // one starting.
    if (picture.queued_jobs > 0 && idle == 0 && picture.queued_jobs > picture.starting) {
        const std::uint64_t uncovered = picture.queued_jobs - picture.starting;
        const auto want = static_cast<unsigned>(std::min<std::uint64_t>(uncovered, limits.max_workers));
        if (want > wanted) {
            wanted = want;
            d.reason = std::to_string(picture.queued_jobs) + " jobs queued, none of " + std::to_string(members) +
                       " workers idle";
        }
    }
    if (dynamic && idle + picture.starting < limits.min_spare) {
        const unsigned want = limits.min_spare - idle - picture.starting;
        if (want > wanted) {
            wanted = want;
            d.reason = "min_spare " + std::to_string(limits.min_spare) + ": " + std::to_string(idle) + " idle of " +
                       std::to_string(members);
        }
    }
    if (wanted > 0) {
        const unsigned room = limits.max_workers > members ? limits.max_workers - members : 0;
        const unsigned rate_room =
            limits.spawn_rate > picture.started_last_second ? limits.spawn_rate - picture.started_last_second : 0;
        d.start = std::min({wanted, room, rate_room});
        if (room < wanted && room <= rate_room) {
            d.reason += ": at max_workers " + std::to_string(limits.max_workers);
        } else if (rate_room < wanted) {
            d.reason += ": spawn_rate " + std::to_string(limits.spawn_rate) + "/s";
        }
        return d;
    }

    // Nothing wanted: idle workers beyond what the mode keeps retire once idle for idle_timeout.
    const unsigned above_floor = members > floor ? members - floor : 0;
    if (dynamic) {
        const unsigned surplus = std::min(idle > limits.max_spare ? idle - limits.max_spare : 0, above_floor);
        d.retire = idlest(picture, limits.idle_timeout_ns, surplus);
        d.reason = "max_spare " + std::to_string(limits.max_spare) + ": " + std::to_string(idle) + " idle of " +
                   std::to_string(members);
        if (!d.retire.empty()) d.reason += "; retired " + list_slots(d.retire);
    } else {
        if (picture.queued_jobs == 0) d.retire = idlest(picture, limits.idle_timeout_ns, above_floor);
        if (!d.retire.empty()) {
            d.reason = "idle_timeout " + seconds_text(limits.idle_timeout_ns) + ": retired " + list_slots(d.retire);
        } else if (picture.admin_target) {
            d.reason = floor_text;
        } else {
            d.reason = std::to_string(members) + " workers for the jobs that came, " + std::to_string(idle) + " idle";
        }
    }
    return d;
}

}  // namespace

std::string_view to_string(ScalingMode mode) {
    switch (mode) {
        case ScalingMode::fixed: return "static";
        case ScalingMode::dynamic: return "dynamic";
        case ScalingMode::ondemand: return "ondemand";
    }
    return "static";
}

std::optional<ScalingMode> scaling_mode_named(std::string_view name) {
    for (ScalingMode mode : {ScalingMode::fixed, ScalingMode::dynamic, ScalingMode::ondemand}) {
        if (to_string(mode) == name) return mode;
    }
    return std::nullopt;
}

ScalingLimits scaling_limits(const PoolConfig& config) {
    ScalingLimits limits;
    limits.mode = scaling_mode_named(config.scaling_mode).value_or(ScalingMode::fixed);
    limits.workers = config.workers;
    limits.min_workers = config.min_workers;
    limits.max_workers = config.most_workers();
    limits.min_spare = config.min_spare;
    limits.max_spare = config.max_spare;
    limits.spawn_rate = config.spawn_rate;
    limits.idle_timeout_ns = static_cast<std::int64_t>(std::llround(config.idle_timeout_s * 1e9));
    return limits;
}

unsigned initial_workers(const ScalingLimits& limits) {
    switch (limits.mode) {
        case ScalingMode::fixed: return limits.workers;
        case ScalingMode::dynamic: return std::min(std::max(limits.min_workers, limits.min_spare), limits.max_workers);
        case ScalingMode::ondemand: return 0;
    }
    return limits.workers;
}

std::string scale_refusal(const ScalingLimits& limits, unsigned target) {
    const unsigned lowest = limits.mode == ScalingMode::fixed ? 1 : 0;
    if (target < lowest || target > limits.max_workers) {
        return "scale " + std::to_string(target) + ": the " + std::string(to_string(limits.mode)) +
               " pool takes " + std::to_string(lowest) + " to " + std::to_string(limits.max_workers) +
               " workers (max_workers)";
    }
    return {};
}

ScalingDecision decide_scaling(const ScalingLimits& limits, const ScalingPicture& picture) {
    ScalingDecision d = limits.mode == ScalingMode::fixed ? fixed_count(limits, picture) : elastic(limits, picture);
    d.target = picture.members() + d.start - static_cast<unsigned>(d.retire.size());
    return d;
}

}  // namespace warmpool
