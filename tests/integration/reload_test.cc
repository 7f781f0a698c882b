// Reloads that catch workers still initialising, against a real warmpoold.
//
// A worker being replaced may be told to stop (its record's state set to exiting) before it has
// finished initialising. It must then exit as soon as its initialisation ends instead of
// announcing itself ready: otherwise it serves nobody, holds its slot for ever, and the reload
// that replaced it never completes.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "jobs/example_types.hpp"
#include "test_pool.hpp"
#include "warmpool/client.hpp"

namespace warmpool {
namespace {

using nlohmann::json;
using testing::CommandResult;
using testing::TestPool;
using testing::wait_until;
using namespace std::chrono_literals;

// Long enough that the reloads below reliably land inside one initialisation.
constexpr const char* kInitSeconds = "2";

std::set<pid_t> pids_in_state(const json& status, const std::string& state) {
    std::set<pid_t> pids;
    for (const auto& row : status["workers"]["rows"]) {
        if (row["state"] == state) pids.insert(row["pid"].get<pid_t>());
    }
    return pids;
}

std::set<pid_t> ready_pids(const TestPool& pool) {
    const auto pids = pool.ready_worker_pids();
    return {pids.begin(), pids.end()};
}

bool disjoint(const std::set<pid_t>& a, const std::set<pid_t>& b) {
    return std::none_of(a.begin(), a.end(), [&](pid_t p) { return b.count(p) != 0; });
}

bool process_gone(pid_t pid) { return ::kill(pid, 0) != 0 && errno == ESRCH; }

std::uint64_t reloads(const json& status) { return status["supervision"]["reloads"].get<std::uint64_t>(); }

// Every configured worker live and ready, no reload in progress, `count` reloads done, and none
// of `old` among the ready workers.
bool reload_done(const TestPool& pool, std::uint64_t count, const std::set<pid_t>& old) {
    const json s = pool.status();
    return reloads(s) == count && s["supervision"]["reloading"] == false &&
           s["workers"]["live"] == s["workers"]["configured"] &&
           s["workers"]["ready"] == s["workers"]["configured"] && disjoint(ready_pids(pool), old);
}

void reload(const TestPool& pool) {
    const CommandResult r = pool.cli({"reload"});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
}

TEST(ReloadTest, WorkersToldToStopWhileInitialisingExitAndAreReplaced) {
    TestPool::Options options;
    options.workers = 2;
    options.env = {{"WARMPOOL_EXAMPLE_INIT_SECONDS", kInitSeconds}};
    TestPool pool(options);
    const std::set<pid_t> first = ready_pids(pool);
    ASSERT_EQ(first.size(), 2u);

    // The first reload puts the replacements in the upper half of the slots; the second starts
    // the next ones in the lower half, where the third finds them still initialising and, the
    // lowest slots going first, tells them to stop.
    reload(pool);
    ASSERT_TRUE(wait_until([&] { return reload_done(pool, 1, first); }, 30s)) << pool.status().dump();
    const std::set<pid_t> second = ready_pids(pool);
    ASSERT_EQ(second.size(), 2u);

    reload(pool);
    std::set<pid_t> initialising;
    ASSERT_TRUE(wait_until(
        [&] {
            initialising = pids_in_state(pool.status(), "starting");
            return initialising.size() == 2;
        },
        10s))
        << pool.status().dump();
    reload(pool);
    const json after = pool.status();
    EXPECT_EQ(pids_in_state(after, "retiring"), initialising)
        << "the third reload should have told the initialising workers to stop: " << after.dump();

    std::set<pid_t> old = first;
    old.insert(second.begin(), second.end());
    old.insert(initialising.begin(), initialising.end());
    ASSERT_TRUE(wait_until([&] { return reload_done(pool, 3, old); }, 30s))
        << "the reload never completed: " << pool.status().dump() << "\n" << pool.log();

    for (const pid_t pid : initialising) {
        EXPECT_TRUE(wait_until([&] { return process_gone(pid); }, 10s))
            << "worker " << pid << " never exited";
        EXPECT_NE(pool.log().find("pid " + std::to_string(pid) + " exited with status 0 (retired)"),
                  std::string::npos)
            << "worker " << pid << " should have exited cleanly:\n" << pool.log();
    }
    for (const pid_t pid : second) {
        EXPECT_TRUE(wait_until([&] { return process_gone(pid); }, 10s)) << "worker " << pid << " never exited";
    }

    const json s = pool.settled_status();
    EXPECT_EQ(s["workers"]["live"], 2) << s.dump();
    EXPECT_EQ(s["workers"]["ready"], 2) << s.dump();
    // Stopped before they were ready, on purpose: no failed initialisation.
    EXPECT_EQ(s["supervision"]["failed_inits"], 0) << s.dump();
    const std::set<pid_t> fresh = ready_pids(pool);
    ASSERT_EQ(fresh.size(), 2u);
    Client client = pool.connect();
    for (int i = 0; i < 20; ++i) {
        const auto info = client.call<examples::WorkerInfo>("worker_info", std::int64_t{0});
        EXPECT_EQ(fresh.count(static_cast<pid_t>(info.pid)), 1u)
            << "job ran on " << info.pid << ", not a fresh worker";
    }
}

}  // namespace
}  // namespace warmpool
