// WorkerScaler: worker_scaler.hpp.
#include "warmpool/daemon/worker_scaler.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace warmpool {

namespace {

constexpr std::int64_t kSecondNs = 1'000'000'000;

}  // namespace

WorkerScaler::WorkerScaler(const PoolConfig& config, const PoolLifecycle& life, WorkerLives& lives, Views views)
    : config_(config),
      life_(life),
      lives_(lives),
      views_(views),
      seen_pid_(lives.slots().size(), 0),
      idle_since_(lives.slots().size(), 0),
      seen_jobs_done_(lives.slots().size(), 0) {}

ScalingPicture WorkerScaler::picture(std::int64_t now) {
    ScalingPicture picture;
    picture.now_ns = now;
    picture.queued_jobs = views_.queued.jobs;
    picture.admin_target = admin_target_;
    const WorkerSlots& slots = lives_.slots();
    for (unsigned slot = 0; slot < slots.size(); ++slot) {
        const WorkerSlot& w = slots[slot];
        if (!w.member()) continue;
        const std::uint64_t jobs_done = views_.pool.worker(slot).jobs_done.load(std::memory_order_relaxed);
        const bool busy = !views_.dispatcher.holdings(slot).jobs.empty() || views_.lanes.running(slot, views_.pool) > 0;
        // A new worker, one still starting, one holding or running a job, one that finished a
        // job since the last look: idle from now on at the earliest.
        if (seen_pid_[slot] != w.pid || !w.ever_ready || busy || jobs_done != seen_jobs_done_[slot]) {
            idle_since_[slot] = now;
        }
        seen_pid_[slot] = w.pid;
        seen_jobs_done_[slot] = jobs_done;
        if (!w.ever_ready) {
            ++picture.starting;
        } else if (busy) {
            ++picture.busy;
        } else {
            picture.idle.push_back({slot, idle_since_[slot]});
        }
    }
    while (!starts_.empty() && now - starts_.front() >= kSecondNs) starts_.pop_front();
    picture.started_last_second = static_cast<unsigned>(starts_.size());
    return picture;
}

WorkerLives::Event WorkerScaler::tick(std::int64_t now) {
    if (life_.state != PoolState::running || life_.reloading()) return {};
    const ScalingPicture seen = picture(now);
    const ScalingDecision decision = decide_scaling(scaling_limits(config_), seen);
    for (unsigned slot : decision.retire) lives_.scale_down(slot);
    for (unsigned i = 0; i < decision.start; ++i) starts_.push_back(now);
    if (decision.changes()) {
        spdlog::info("scaling ({}): {} to {} workers: {}", config_.scaling_mode, seen.members(), decision.target,
                     decision.reason);
    }
    if (decision.changes() || reason_.empty() || decision.target != lives_.wanted()) reason_ = decision.reason;
    lives_.set_wanted(decision.target);
    return lives_.maintain_workers();
}

WorkerLives::Event WorkerScaler::scale_to(unsigned workers, std::int64_t now) {
    admin_target_ = workers;
    reason_ = "scaled by admin to " + std::to_string(workers);
    spdlog::info("scaling ({}): {}", config_.scaling_mode, reason_);
    return tick(now);
}

void WorkerScaler::on_reload(const PoolConfig& running, const PoolConfig& next) {
    const bool changed = running.scaling_mode != next.scaling_mode || running.workers != next.workers ||
                         running.min_workers != next.min_workers || running.max_workers != next.max_workers;
    const ScalingLimits limits = scaling_limits(next);
    if (admin_target_ && changed) {
        spdlog::info("reload: the scaling settings changed; the target set by `warmpool scale {}` gives way to them",
                     *admin_target_);
        admin_target_.reset();
        reason_.clear();
    } else if (admin_target_ && !scale_refusal(limits, *admin_target_).empty()) {
        admin_target_ = std::min(*admin_target_, limits.max_workers);
    }
    // The reload replaces each member: as many new ones as the new limits allow.
    unsigned wanted = lives_.wanted();
    if (limits.mode == ScalingMode::fixed) {
        wanted = admin_target_.value_or(limits.workers);
    } else {
        const unsigned floor = admin_target_.value_or(limits.mode == ScalingMode::dynamic ? limits.min_workers : 0);
        wanted = std::clamp(wanted, std::min(floor, limits.max_workers), limits.max_workers);
    }
    lives_.set_wanted(wanted);
}

}  // namespace warmpool
