// JobQueue: one session's jobs waiting for a worker, filed by priority, and the counts that go
// with them.
//
// One Fifo per priority level (priority.hpp) and a bitmap of the levels that hold jobs: the next
// job of any level is found in constant time, and a steady stream allocates nothing (Fifo). Which
// level goes next is the dispatcher's choice (priority_aging.hpp); the queue only keeps each
// level in order. The queue owns its counts: its length, the payload bytes it holds and how many
// of its jobs have a deadline, and it adds them to (and takes them from) the pool-wide
// QueueTotals it was made with, so nobody keeps a total by hand. Used by the supervisor's one
// thread only. References into the queue are valid until the next change to it (see Fifo).
#pragma once

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <type_traits>
#include <utility>

#include "warmpool/daemon/fifo.hpp"
#include "warmpool/daemon/pending_job.hpp"
#include "warmpool/priority.hpp"

namespace warmpool {

// A set of priority levels: bit l stands for level l.
using PriorityLevels = std::uint32_t;
static_assert(kPriorityLevels <= 32);

// The highest level of a non-empty set.
constexpr unsigned top_level(PriorityLevels levels) {
    return 31u - static_cast<unsigned>(std::countl_zero(levels));
}

// What all sessions' queues hold together.
struct QueueTotals {
    std::uint64_t jobs = 0;
    std::uint64_t with_deadline = 0;
    std::uint64_t most_jobs = 0;  // the highest `jobs` has been
    std::array<std::uint64_t, kPriorityLevels> by_level{};  // jobs queued, per priority level
    PriorityLevels levels = 0;                                // the levels holding jobs

    // LaneBoard::queued_above: the highest level holding jobs, plus one; 0 if none.
    std::uint32_t queued_above() const { return levels == 0 ? 0 : top_level(levels) + 1; }
};

class JobQueue {
public:
    // Iterates over every job, the highest level first, each level in order.
    template <bool Const>
    class basic_iterator {
        using Owner = std::conditional_t<Const, const JobQueue, JobQueue>;

    public:
        using iterator_category = std::forward_iterator_tag;
        using value_type = PendingJob;
        using difference_type = std::ptrdiff_t;
        using pointer = std::conditional_t<Const, const PendingJob*, PendingJob*>;
        using reference = std::conditional_t<Const, const PendingJob&, PendingJob&>;

        basic_iterator() = default;
        reference operator*() const { return queue_->levels_[level_][index_]; }
        pointer operator->() const { return &**this; }
        basic_iterator& operator++() {
            ++index_;
            settle();
            return *this;
        }
        basic_iterator operator++(int) {
            basic_iterator old = *this;
            ++*this;
            return old;
        }
        bool operator==(const basic_iterator& other) const {
            return level_ == other.level_ && index_ == other.index_;
        }

    private:
        friend class JobQueue;
        static constexpr unsigned kEnd = kPriorityLevels;
        basic_iterator(Owner* queue, unsigned level, std::size_t index) : queue_(queue), level_(level), index_(index) {
            settle();
        }
        // Past its level's end: the first job of the next lower level that holds any, or end.
        void settle() {
            if (level_ == kEnd || index_ < queue_->levels_[level_].size()) return;
            const PriorityLevels lower = queue_->occupied_ & ((PriorityLevels{1} << level_) - 1);
            level_ = lower == 0 ? kEnd : top_level(lower);
            index_ = 0;
        }
        Owner* queue_ = nullptr;
        unsigned level_ = kEnd;
        std::size_t index_ = 0;
    };
    using iterator = basic_iterator<false>;
    using const_iterator = basic_iterator<true>;

    JobQueue() = default;
    explicit JobQueue(QueueTotals* totals) : totals_(totals) {}
    JobQueue(JobQueue&& other) noexcept
        : levels_(std::move(other.levels_)),
          totals_(other.totals_),
          occupied_(std::exchange(other.occupied_, 0)),
          size_(std::exchange(other.size_, 0)),
          bytes_(std::exchange(other.bytes_, 0)),
          with_deadline_(std::exchange(other.with_deadline_, 0)),
          back_level_(other.back_level_) {}
    JobQueue& operator=(JobQueue&& other) noexcept {
        if (this != &other) {
            clear();
            levels_ = std::move(other.levels_);
            totals_ = other.totals_;
            occupied_ = std::exchange(other.occupied_, 0);
            size_ = std::exchange(other.size_, 0);
            bytes_ = std::exchange(other.bytes_, 0);
            with_deadline_ = std::exchange(other.with_deadline_, 0);
            back_level_ = other.back_level_;
        }
        return *this;
    }
    JobQueue(const JobQueue&) = delete;
    JobQueue& operator=(const JobQueue&) = delete;
    ~JobQueue() { clear(); }

    std::size_t size() const { return size_; }
    bool empty() const { return size_ == 0; }
    // Payload bytes of the jobs held: what the queue costs the supervisor beyond its records.
    std::uint64_t payload_bytes() const { return bytes_; }
    std::uint64_t with_deadline() const { return with_deadline_; }
    // The levels that hold jobs.
    PriorityLevels levels() const { return occupied_; }

    // The first job of `level`, which holds jobs; without a level, of the highest that does.
    PendingJob& front(unsigned level) { return levels_[level].front(); }
    PendingJob& front() { return front(top_level(occupied_)); }
    // The job push_back() added last, until the next change to the queue.
    PendingJob& back() { return levels_[back_level_].back(); }
    iterator begin() { return iterator(this, first_level(), 0); }
    iterator end() { return iterator(this, iterator::kEnd, 0); }
    const_iterator begin() const { return const_iterator(this, first_level(), 0); }
    const_iterator end() const { return const_iterator(this, const_iterator::kEnd, 0); }

    // Filed at the level of its priority (clamped into range: a record refused for it is taken
    // out again by the caller, with pop_back()).
    PendingJob& push_back(PendingJob&& job) {
        back_level_ = priority_level(job.record.priority);
        count(job, back_level_, +1);
        return levels_[back_level_].emplace_back(std::move(job));
    }
    // A job given back (its worker died): it goes first in its level.
    void push_front(PendingJob&& job) {
        const unsigned level = priority_level(job.record.priority);
        count(job, level, +1);
        levels_[level].push_front(std::move(job));
    }
    PendingJob take_front(unsigned level) {
        count(levels_[level].front(), level, -1);
        PendingJob job = std::move(levels_[level].front());
        levels_[level].pop_front();
        return job;
    }
    PendingJob take_front() { return take_front(top_level(occupied_)); }
    void pop_front(unsigned level) {
        count(levels_[level].front(), level, -1);
        levels_[level].pop_front();
    }
    void pop_front() { pop_front(top_level(occupied_)); }
    // Takes out the job push_back() added last.
    void pop_back() {
        count(levels_[back_level_].back(), back_level_, -1);
        levels_[back_level_].pop_back();
    }
    iterator erase(iterator it) {
        const unsigned level = it.level_;
        count(*it, level, -1);
        levels_[level].erase(std::next(levels_[level].begin(), static_cast<std::ptrdiff_t>(it.index_)));
        return iterator(this, level, it.index_);
    }
    void clear() {
        for (unsigned level = 0; level < kPriorityLevels; ++level) {
            while (!levels_[level].empty()) pop_front(level);
        }
    }

private:
    unsigned first_level() const { return occupied_ == 0 ? kPriorityLevels : top_level(occupied_); }

    void count(const PendingJob& job, unsigned level, int sign) {
        const bool deadline = job.record.deadline_ns != 0;
        const PriorityLevels bit = PriorityLevels{1} << level;
        if (sign > 0) {
            ++size_;
            bytes_ += job.payload.size();
            with_deadline_ += deadline;
            occupied_ |= bit;
        } else {
            --size_;
            bytes_ -= job.payload.size();
            with_deadline_ -= deadline;
            if (levels_[level].size() == 1) occupied_ &= ~bit;  // its last job leaves
        }
        if (totals_ == nullptr) return;
        if (sign > 0) {
            ++totals_->jobs;
            totals_->with_deadline += deadline;
            if (totals_->jobs > totals_->most_jobs) totals_->most_jobs = totals_->jobs;
            if (totals_->by_level[level]++ == 0) totals_->levels |= bit;
        } else {
            --totals_->jobs;
            totals_->with_deadline -= deadline;
            if (--totals_->by_level[level] == 0) totals_->levels &= ~bit;
        }
    }

    std::array<Fifo<PendingJob>, kPriorityLevels> levels_;
    QueueTotals* totals_ = nullptr;
    PriorityLevels occupied_ = 0;  // bit l: levels_[l] holds jobs
    std::size_t size_ = 0;
    std::uint64_t bytes_ = 0;
    std::uint64_t with_deadline_ = 0;
    unsigned back_level_ = kDefaultPriorityLevel;
};

}  // namespace warmpool
