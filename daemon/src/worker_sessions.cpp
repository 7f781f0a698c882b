#include "warmpool/daemon/worker_sessions.hpp"

#include <spdlog/spdlog.h>

#include <string>
#include <utility>

namespace warmpool {

namespace {

// Per session: result blobs kept for reuse, and argument blobs kept mapped.
constexpr BlobPool::Limits kResultBlobLimits{4, 512ull << 20};
constexpr std::size_t kArgumentMappings = 4;

}  // namespace

WorkerSessions::WorkerSessions(const WorkerSetup& setup, SupervisorChannel channel, pid_t pid)
    : setup_(setup),
      channel_(channel),
      pid_(pid),
      table_(&setup.pool_memory().session_entry(0)) {}

SessionView* WorkerSessions::find(std::uint32_t slot, std::uint64_t generation) {
    auto it = views_.find(slot);
    const bool mapped = it != views_.end() && it->second.generation == generation;
    SessionView* view = mapped ? &it->second : map(slot, generation);
    return view != nullptr && view->active() ? view : nullptr;
}

SessionView* WorkerSessions::current(std::uint32_t slot) {
    const std::uint64_t generation = table_[slot].generation.load(std::memory_order_relaxed);
    auto it = views_.find(slot);
    if (it != views_.end() && it->second.generation == generation) return &it->second;
    if (generation == 0) return nullptr;
    return find(slot, generation);
}

// Maps session (slot, generation) in place of whatever view the slot had.
SessionView* WorkerSessions::map(std::uint32_t slot, std::uint64_t generation) {
    views_.erase(slot);
    if (auto gone = gone_.find(slot); gone != gone_.end() && gone->second == generation) return nullptr;
    auto fd = channel_.session(slot, generation);
    Result<SharedSegment> segment =
        fd ? SharedSegment::adopt(std::move(fd.value()), setup_.session_layout.total_bytes(),
                                  SharedSegment::Access::read_write, "session " + std::to_string(slot))
           : Result<SharedSegment>(fd.error());
    if (!segment) {
        spdlog::debug("session {} is gone: {}", slot, segment.error().message());
        gone_[slot] = generation;
        return nullptr;
    }
    SessionView view;
    view.generation = generation;
    view.segment = std::move(segment.value());
    const SessionMemory memory{view.segment.data(), setup_.session_layout};
    view.header = &memory.header();
    if (view.header->magic != kSessionMagic || view.header->generation != generation) return nullptr;
    view.lane = &memory.lane();
    view.reply = RingProducer(memory.reply(setup_.slot));
    const SupervisorChannel channel = channel_;
    view.blobs.results = BlobPool(segment_label(setup_.pool_name, "results." + std::to_string(pid_)),
                                  BlobPool::Broker{[channel, slot, generation](std::uint64_t object, int fd) {
                                                       return channel.offer_result(slot, generation, object, fd);
                                                   },
                                                   [channel, slot, generation](std::uint64_t object) {
                                                       channel.retire_result(slot, generation, object);
                                                   }},
                                  kResultBlobLimits);
    view.blobs.arguments = BlobMappings(kArgumentMappings);
    return &views_.emplace(slot, std::move(view)).first->second;
}

bool WorkerSessions::may_unpickle(const JobRecord& job) const {
    if (job.session_slot >= setup_.pool_layout.session_slots) return false;
    const SessionEntry& entry = table_[job.session_slot];
    if (entry.generation.load(std::memory_order_acquire) != job.session_generation) return false;
    const std::uint32_t trust = entry.trust.load(std::memory_order_acquire);
    // Still the same generation after the trust was read: the trust is this session's.
    if (entry.generation.load(std::memory_order_relaxed) != job.session_generation) return false;
    return (trust & kSessionMayUnpickle) != 0;
}

void WorkerSessions::forget_ended() {
    std::erase_if(views_, [](const auto& entry) { return !entry.second.active(); });
}

}  // namespace warmpool
