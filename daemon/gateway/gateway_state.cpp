#include "gateway_state.hpp"

namespace warmpool {

bool GatewayState::holds_entry(const std::string& entry_id) const {
    std::lock_guard lock(mutex_);
    for (const auto& [id, job] : running_) {
        if (job.entry.entry_id == entry_id) return true;
    }
    return false;
}

void GatewayState::add_running(RunningJob job) {
    std::lock_guard lock(mutex_);
    const std::uint64_t id = job.future.id();
    running_.emplace(id, std::move(job));
}

void GatewayState::push(GatewayOp op) {
    std::lock_guard lock(mutex_);
    ops_.push_back(std::move(op));
}

std::size_t GatewayState::busy() const {
    std::lock_guard lock(mutex_);
    return running_.size() + ops_.size() + unwritten_.load();
}

std::optional<RunningJob> GatewayState::take_running(std::uint64_t future_id) {
    std::lock_guard lock(mutex_);
    auto found = running_.find(future_id);
    if (found == running_.end()) return std::nullopt;
    RunningJob job = std::move(found->second);
    running_.erase(found);
    lost_.erase(job.entry.entry_id);
    return job;
}

std::vector<GatewayOp> GatewayState::take_ops() {
    std::lock_guard lock(mutex_);
    std::vector<GatewayOp> out(std::make_move_iterator(ops_.begin()), std::make_move_iterator(ops_.end()));
    ops_.clear();
    return out;
}

std::vector<RunningJob> GatewayState::take_all_running() {
    std::lock_guard lock(mutex_);
    std::vector<RunningJob> out;
    for (auto& [id, job] : running_) out.push_back(std::move(job));
    running_.clear();
    lost_.clear();
    return out;
}

std::vector<std::string> GatewayState::running_entries() const {
    std::lock_guard lock(mutex_);
    std::vector<std::string> out;
    for (const auto& [id, job] : running_) {
        if (!lost_.contains(job.entry.entry_id)) out.push_back(job.entry.entry_id);
    }
    return out;
}

void GatewayState::mark_lost(const std::vector<std::string>& entry_ids) {
    std::lock_guard lock(mutex_);
    for (const auto& id : entry_ids) {
        bool running = false;
        for (const auto& [fid, job] : running_) running = running || job.entry.entry_id == id;
        if (running && lost_.insert(id).second) counters.lost.fetch_add(1);
    }
}

void GatewayState::cancel(const std::string& job, bool force) {
    std::lock_guard lock(mutex_);
    for (const auto& [id, running] : running_) {
        if (running.entry.job == job) running.future.cancel(force);
    }
    if (cancelled_.insert(job).second) {
        cancel_order_.push_back(job);
        if (cancel_order_.size() > kRememberedCancels) {
            cancelled_.erase(cancel_order_.front());
            cancel_order_.pop_front();
        }
    }
}

bool GatewayState::was_cancelled(const std::string& job) const {
    std::lock_guard lock(mutex_);
    return cancelled_.contains(job);
}

}  // namespace warmpool
