// What a worker holds of the supervisor's shared memory when the pool forks it: the pool segment
// and the lane board, which it works in, but no client's session segment. A worker maps each
// session it serves itself, from a descriptor it asks the supervisor for, so a mapping of a
// session inherited from the supervisor would be a second one it never uses (and memory of a
// client it may never serve).
//
// The replacement of a worker killed with SIGKILL is forked while a session exists; /proc/PID/maps
// shows memfd mappings as "/memfd:<label> (deleted)" (shm_layout.hpp: segment_label).
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <fstream>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "test_pool.hpp"
#include "warmpool/client.hpp"

namespace warmpool {
namespace {

using testing::TestPool;
using testing::wait_until;
using Pair = std::pair<std::int64_t, std::int64_t>;
using namespace std::chrono_literals;

// How many mappings of each memfd labelled "warmpool.<pool>.*" process `pid` has, by label.
std::map<std::string, int> pool_mappings(pid_t pid, const std::string& pool) {
    const std::string prefix = "/memfd:warmpool." + pool + ".";
    std::map<std::string, int> count;
    std::ifstream maps("/proc/" + std::to_string(pid) + "/maps");
    for (std::string line; std::getline(maps, line);) {
        const auto at = line.find(prefix);
        if (at == std::string::npos) continue;
        const auto label_at = at + std::string("/memfd:").size();
        const auto end = line.find(' ', label_at);
        ++count[line.substr(label_at, end == std::string::npos ? std::string::npos : end - label_at)];
    }
    return count;
}

std::string describe(const std::map<std::string, int>& mappings) {
    std::string text;
    for (const auto& [label, n] : mappings) text += "\n  " + label + " x" + std::to_string(n);
    return text.empty() ? "\n  (none)" : text;
}

// A worker forked while a client is connected holds the pool segment and the lane board, and of
// that client's session only the one mapping it made itself to serve it.
TEST(WorkerForkTest, AReplacementWorkerInheritsNoMappingOfASession) {
    TestPool::Options options;
    options.workers = 1;  // the replacement is the worker that serves the session afterwards
    TestPool pool(options);
    Client client = pool.connect();
    ASSERT_EQ(client.call<std::int64_t>("gcd", Pair{9, 6}), 3);

    const std::vector<pid_t> before = pool.ready_worker_pids();
    ASSERT_EQ(before.size(), 1u) << pool.status().dump();
    const pid_t victim = before.front();
    ASSERT_EQ(::kill(victim, SIGKILL), 0);
    pid_t replacement = 0;
    ASSERT_TRUE(wait_until(
        [&] {
            const std::vector<pid_t> now = pool.ready_worker_pids();
            if (now.size() != 1 || now.front() == victim) return false;
            replacement = now.front();
            return true;
        },
        10s))
        << pool.status().dump();

    // Served by the replacement, which maps the session for it.
    ASSERT_EQ(client.call<std::int64_t>("gcd", Pair{12, 8}), 4);

    const std::map<std::string, int> mappings = pool_mappings(replacement, pool.name());
    const std::string base = "warmpool." + pool.name() + ".";
    EXPECT_EQ(mappings.count(base + "pool"), 1u) << "the pool segment is inherited" << describe(mappings);
    EXPECT_EQ(mappings.count(base + "lanes"), 1u) << "the lane board is inherited" << describe(mappings);
    int sessions = 0;
    for (const auto& [label, n] : mappings) {
        if (label.rfind(base + "session.", 0) != 0) continue;
        ++sessions;
        EXPECT_EQ(n, 1) << label << ": mapped " << n << " times by worker " << replacement
                        << ", once inherited from the supervisor" << describe(mappings);
    }
    EXPECT_EQ(sessions, 1) << "the session the replacement served" << describe(mappings);
}

}  // namespace
}  // namespace warmpool
