#include "job_table.hpp"

#include <utility>

#include "warmpool/error_kind.hpp"

namespace warmpool::detail {

bool JobTable::add(std::shared_ptr<JobSlot> slot) {
    const bool was_empty = jobs_.empty();
    const std::uint64_t id = slot->id;
    jobs_.emplace(id, std::move(slot));
    return was_empty;
}

std::shared_ptr<JobSlot> JobTable::take(std::uint64_t id, bool reuse_spare) {
    auto it = jobs_.find(id);
    if (it == jobs_.end()) return nullptr;
    std::shared_ptr<JobSlot> slot = std::move(it->second);
    jobs_.erase(it);
    if (reuse_spare && !spare_payloads_.empty()) {
        slot->payload = std::move(spare_payloads_.back());
        spare_payloads_.pop_back();
    }
    return slot;
}

void JobTable::keep_spare(std::string&& buffer) {
    if (spare_payloads_.size() < kSparePayloadsMax) spare_payloads_.push_back(std::move(buffer));
}

void JobTable::fail_all(const std::string& why, CompletionQueue& completions) {
    if (!lost_) {
        lost_ = true;
        lost_reason_ = why;
    }
    for (auto& [id, slot] : jobs_) {
        slot->status = static_cast<std::uint16_t>(ErrorKind::shutting_down);
        slot->payload = lost_reason_;
        completions.complete(*slot);
    }
    jobs_.clear();
}

}  // namespace warmpool::detail
