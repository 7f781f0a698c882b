// JobTable: the jobs of a client session awaiting their terminal reply, and whether the session
// is lost (then it takes no more). Private to libwarmpool.
//
// Owns the table (job id -> JobSlot), the spare payload buffers that later inline replies are
// read into, and the lost state with its reason. Does no locking: every call is made under the
// session's mutex (ReplyWaits::lock()), by a submitting thread (add, erase), the drainer (take,
// fail_all), any thread (holds, keep_spare, the queries). Writes no shared memory; of a JobSlot
// it writes payload (take, fail_all) and status (fail_all).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "completion_queue.hpp"
#include "job_slot.hpp"

namespace warmpool::detail {

class JobTable {
public:
    // Inline results at least this large are read into a buffer handed back by an earlier caller
    // (map's batches) when there is one: a fresh allocation of tens of KiB per batch keeps
    // growing and trimming the heap, and every regrown page is a page fault. Smaller buffers are
    // not worth keeping (callers check before they take the mutex).
    static constexpr std::size_t kReusedPayloadMin = 4096;
    static constexpr std::size_t kSparePayloadsMax = 16;

    // Registers a job; true if the table was empty. Not while lost().
    bool add(std::shared_ptr<JobSlot> slot);
    // Forgets a job that could not be submitted.
    void erase(std::uint64_t id) { jobs_.erase(id); }
    // Takes the job out for its reply: null if it is not here (a reply after the session was
    // lost). With `reuse_spare`, the slot's payload becomes a spare buffer if there is one.
    std::shared_ptr<JobSlot> take(std::uint64_t id, bool reuse_spare);
    bool holds(std::uint64_t id) const { return jobs_.find(id) != jobs_.end(); }
    bool empty() const { return jobs_.empty(); }

    // Keeps a buffer of at least kReusedPayloadMin bytes' capacity for a later reply, up to
    // kSparePayloadsMax of them.
    void keep_spare(std::string&& buffer);

    // Marks the session lost (the first reason stays) and fails every job in the table with
    // shutting_down and that reason, completing each (completions: their watchers learn of it).
    void fail_all(const std::string& why, CompletionQueue& completions);
    bool lost() const { return lost_; }
    const std::string& lost_reason() const { return lost_reason_; }

private:
    std::unordered_map<std::uint64_t, std::shared_ptr<JobSlot>> jobs_;
    std::vector<std::string> spare_payloads_;
    bool lost_ = false;
    std::string lost_reason_;
};

}  // namespace warmpool::detail
