// JobQueue: one session's jobs waiting for a worker, and the counts that go with them.
//
// The queue owns its counts: its length, the payload bytes it holds and how many of its jobs
// have a deadline, and it adds them to (and takes them from) the pool-wide QueueTotals it was
// made with, so nobody keeps a total by hand. Used by the supervisor's one thread only.
// References into the queue are valid until the next change to it (see Fifo).
#pragma once

#include <cstdint>
#include <utility>

#include "warmpool/daemon/fifo.hpp"
#include "warmpool/daemon/pending_job.hpp"

namespace warmpool {

// What all sessions' queues hold together.
struct QueueTotals {
    std::uint64_t jobs = 0;
    std::uint64_t with_deadline = 0;
    std::uint64_t most_jobs = 0;  // the highest `jobs` has been
};

class JobQueue {
public:
    using iterator = Fifo<PendingJob>::iterator;
    using const_iterator = Fifo<PendingJob>::const_iterator;

    JobQueue() = default;
    explicit JobQueue(QueueTotals* totals) : totals_(totals) {}
    JobQueue(JobQueue&& other) noexcept
        : jobs_(std::move(other.jobs_)),
          totals_(other.totals_),
          bytes_(std::exchange(other.bytes_, 0)),
          with_deadline_(std::exchange(other.with_deadline_, 0)) {}
    JobQueue& operator=(JobQueue&& other) noexcept {
        if (this != &other) {
            clear();
            jobs_ = std::move(other.jobs_);
            totals_ = other.totals_;
            bytes_ = std::exchange(other.bytes_, 0);
            with_deadline_ = std::exchange(other.with_deadline_, 0);
        }
        return *this;
    }
    JobQueue(const JobQueue&) = delete;
    JobQueue& operator=(const JobQueue&) = delete;
    ~JobQueue() { clear(); }

    std::size_t size() const { return jobs_.size(); }
    bool empty() const { return jobs_.empty(); }
    // Payload bytes of the jobs held: what the queue costs the supervisor beyond its records.
    std::uint64_t payload_bytes() const { return bytes_; }
    std::uint64_t with_deadline() const { return with_deadline_; }

    PendingJob& front() { return jobs_.front(); }
    PendingJob& back() { return jobs_.back(); }
    iterator begin() { return jobs_.begin(); }
    iterator end() { return jobs_.end(); }
    const_iterator begin() const { return jobs_.begin(); }
    const_iterator end() const { return jobs_.end(); }

    PendingJob& push_back(PendingJob&& job) {
        count(job, +1);
        return jobs_.emplace_back(std::move(job));
    }
    // A job given back (its worker died): it goes first.
    void push_front(PendingJob&& job) {
        count(job, +1);
        jobs_.push_front(std::move(job));
    }
    PendingJob take_front() {
        count(jobs_.front(), -1);
        PendingJob job = std::move(jobs_.front());
        jobs_.pop_front();
        return job;
    }
    void pop_front() {
        count(jobs_.front(), -1);
        jobs_.pop_front();
    }
    void pop_back() {
        count(jobs_.back(), -1);
        jobs_.pop_back();
    }
    iterator erase(iterator it) {
        count(*it, -1);
        return jobs_.erase(it);
    }
    void clear() {
        while (!jobs_.empty()) pop_front();
    }

private:
    void count(const PendingJob& job, int sign) {
        const bool deadline = job.record.deadline_ns != 0;
        if (sign > 0) {
            bytes_ += job.payload.size();
            with_deadline_ += deadline;
        } else {
            bytes_ -= job.payload.size();
            with_deadline_ -= deadline;
        }
        if (totals_ == nullptr) return;
        if (sign > 0) {
            ++totals_->jobs;
            totals_->with_deadline += deadline;
            if (totals_->jobs > totals_->most_jobs) totals_->most_jobs = totals_->jobs;
        } else {
            --totals_->jobs;
            totals_->with_deadline -= deadline;
        }
    }

    Fifo<PendingJob> jobs_;
    QueueTotals* totals_ = nullptr;
    std::uint64_t bytes_ = 0;
    std::uint64_t with_deadline_ = 0;
};

}  // namespace warmpool
