// The machine's floor for the figures a pool is judged on, measured without any pool, so a
// report can say how close a system comes to what this hardware and kernel allow:
//
//   * a round trip between two processes that share memory and sleep on a futex each time
//     (the least a wake-up-driven pool can pay per round trip), and the same with a short spin
//     before sleeping (the least it can pay when both processes stay on a CPU); and a trip
//     round three spinning processes that yield their cores between looks (the three hops of
//     a job through a dispatcher, on however many cores the machine has);
//   * memcpy bandwidth for a large buffer, into memory already touched and into a freshly
//     created shared-memory segment (which adds the first-touch page faults);
//   * the speed-up that bare processes get from running a CPU-bound loop side by side instead
//     of one after another (on a machine shared with other work, less than its core count),
//     and the speed-up of an ideal pool of bare processes on a given list of jobs (what no pool
//     can beat with those very jobs: their sizes may not split evenly across the workers).
//
// Each function runs alone, reaps the helper children it forks before returning, and
// is not thread-safe. The child only touches atomics and makes system calls, so forking from a
// process with other threads is safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

#include "bench_support.hpp"

namespace warmpool::bench {

// Round trips (microseconds, in the order measured) of `count` values passed round a ring of
// `processes` (2 to 4: this process and forked children) over MAP_SHARED words, after `warmup`
// untimed ones. Two processes make a ping-pong; three make the three hops of a pool's job
// (client -> dispatcher -> worker -> client). Each process waits by spinning for up to `spin_ns`
// (0: not at all), with `yield` giving its core away (sched_yield) between looks as a pool's
// spinners do, then sleeping in FUTEX_WAIT; a waker calls FUTEX_WAKE only when the other side
// said it sleeps. Throws std::system_error if a child cannot be made and Failure if one dies or
// stops answering.
std::vector<double> futex_ring_us(int processes, std::int64_t count, std::int64_t warmup,
                                  std::int64_t spin_ns, bool yield);

// GB/s (1e9 bytes/s) of memcpy of `bytes` per repetition, one value per repetition after one
// untimed one. fresh_destination=false copies between two buffers touched beforehand;
// true copies into a new memfd (shared memory, as /dev/shm) segment each time, so the figure
// includes creating, mapping, faulting in and unmapping it.
std::vector<double> memcpy_gbps(std::size_t bytes, int reps, bool fresh_destination);

// Serial time ÷ parallel time of `processes` equal units of a CPU-bound loop (about
// `unit_seconds` each, calibrated here): first run one after another in this process, then
// each in its own forked child, all at once. Throws Failure if a child fails.
double parallel_speedup(int processes, double unit_seconds);

// Serial and pooled time of `jobs` jobs (`run_job(i)` runs job i) through an ideal pool:
// first one after another in this process, then by `processes` children forked beforehand,
// each taking the next job index from a shared counter as soon as it is free (so in the order
// given, each to the first free worker) and reporting every job done through a pipe that this
// process reads, as a pool's caller collects results. The children run all the jobs once
// untimed first (warm, as a pool's workers are); the time runs from releasing them to the last
// report. Throws std::system_error if a child or pipe cannot be made and Failure if a child
// fails.
ClassicTiming ideal_pool_timing(int processes, std::size_t jobs,
                                const std::function<void(std::size_t)>& run_job);

}  // namespace warmpool::bench
