// The warmpool command line against real warmpoold processes: call and map answers, the error
// line and exit code of each failure kind, the three status views, wait-ready, stop, an absent
// pool, and a daemon killed under a waiting `call`.
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <future>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "jobs/classic_workloads.hpp"
#include "jobs/example_types.hpp"
#include "test_pool.hpp"
#include "warmpool/common/runtime_paths.hpp"

namespace warmpool {
namespace {

using nlohmann::json;
using testing::contains;
using testing::describe;
using testing::CommandResult;
using testing::TestPool;
using namespace std::chrono_literals;

struct GcdCase {
    std::int64_t a, b, gcd;
};
const GcdCase kClassicPairs[] = {
    {1963309, 2265973, 1},  {2030677, 3814172, 1}, {1551645, 2229620, 5},  {2039045, 2020802, 1},
    {1823712, 1924928, 32}, {2293129, 1020491, 1}, {1281238, 2273782, 14}, {3823812, 4237281, 9},
    {3812741, 4729139, 1},  {1292391, 2123811, 9},
};

std::string pair_json(const GcdCase& c) {
    std::string json = "[";  // built by appending: GCC 12 at -O3 warns (-Wrestrict) on a + chain
    json += std::to_string(c.a);
    json += ", ";
    json += std::to_string(c.b);
    json += "]";
    return json;
}

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> lines;
    std::size_t start = 0;
    while (start < text.size()) {
        std::size_t end = text.find('\n', start);
        if (end == std::string::npos) end = text.size();
        lines.push_back(text.substr(start, end - start));
        start = end + 1;
    }
    return lines;
}

// A failed job: exit 1, nothing on stdout, "error: KIND: ..." on stderr.
void expect_job_failure(const CommandResult& r, const std::string& kind) {
    EXPECT_EQ(r.exit_code, 1) << describe(r);
    EXPECT_EQ(r.out, "") << describe(r);
    EXPECT_EQ(r.err.rfind("error: " + kind + ": ", 0), 0u) << describe(r);
}

void expect_still_serving(const TestPool& pool) {
    CommandResult r = pool.cli({"call", "gcd", "[12, 18]"});
    EXPECT_EQ(r.exit_code, 0) << describe(r);
    EXPECT_EQ(r.out, "6\n");
}

// One pool for the tests that only ask it questions; each test that stops or kills a pool
// starts its own.
class CliTest : public ::testing::Test {
protected:
    static void SetUpTestSuite() { pool_ = new TestPool(TestPool::Options{.workers = 2}); }
    static void TearDownTestSuite() {
        delete pool_;
        pool_ = nullptr;
    }
    static TestPool* pool_;
};
TestPool* CliTest::pool_ = nullptr;

TEST_F(CliTest, CallGcdOnTheClassicPairs) {
    for (const GcdCase& c : kClassicPairs) {
        CommandResult r = pool_->cli({"call", "gcd", pair_json(c)});
        EXPECT_EQ(r.exit_code, 0) << pair_json(c) << "\n" << describe(r);
        EXPECT_EQ(r.out, std::to_string(c.gcd) + "\n") << pair_json(c);
        EXPECT_EQ(r.err, "");
    }
}

TEST_F(CliTest, CallMd5Chain) {
    CommandResult r =
        pool_->cli({"call", "md5_chain", R"({"msg":"Hello World","rounds":1000000})"});
    EXPECT_EQ(r.exit_code, 0) << describe(r);
    EXPECT_EQ(r.out, "\"1e4110cf294414bc2ac346ad274a7af3\"\n");
}

TEST_F(CliTest, CallTripleProduct) {
    CommandResult r = pool_->cli({"call", "triple_product", "10"});
    ASSERT_EQ(r.exit_code, 0) << describe(r);
    json product = json::parse(r.out);
    const auto expected = examples::triple_product(10);  // (9!)^243, computed here
    EXPECT_EQ(product["digits"], expected.digits);
    EXPECT_EQ(product["fnv1a64"], expected.fnv1a64_hex);
    EXPECT_EQ(product["leading"], expected.leading);
}

TEST_F(CliTest, CallSleepReport) {
    CommandResult r = pool_->cli({"call", "sleep_report", "0.05"});
    ASSERT_EQ(r.exit_code, 0) << describe(r);
    json report = json::parse(r.out);
    EXPECT_GE(report["slept"].get<double>(), 0.05);
    EXPECT_GT(report["pid"].get<std::int64_t>(), 0);
    EXPECT_NE(report["pid"].get<pid_t>(), pool_->pid())
        << "a worker, not the supervisor, runs jobs";
    EXPECT_GT(report["time_ns"].get<std::int64_t>(), 0);
}

TEST_F(CliTest, MapGcdGivesResultsInInputOrder) {
    std::string input;
    std::string expected;
    for (const GcdCase& c : kClassicPairs) {
        input += pair_json(c) + "\n";
        expected += std::to_string(c.gcd) + "\n";
    }
    CommandResult r = pool_->cli({"map", "gcd"}, input);
    EXPECT_EQ(r.exit_code, 0) << describe(r);
    EXPECT_EQ(r.out, expected);
}

TEST_F(CliTest, MapEchoesTwentyThousandLinesInOrder) {
    std::string input;
    for (int i = 0; i < 20000; ++i)
        input += R"({"line":)" + std::to_string(i) + R"(,"pad":"xyz"})" + "\n";
    CommandResult r = pool_->cli({"map", "echo"}, input);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out.size(), input.size());
    EXPECT_TRUE(r.out == input) << "the echoed lines differ from the input (or their order does)";
}

TEST_F(CliTest, FailingHandlerPrintsItsMessage) {
    CommandResult r = pool_->cli({"call", "fail", "\"boom\""});
    expect_job_failure(r, "handler_error");
    EXPECT_EQ(r.err, "error: handler_error: boom\n");
    expect_still_serving(*pool_);
}

TEST_F(CliTest, UnknownFunction) {
    CommandResult r = pool_->cli({"call", "no_such_function", "1"});
    expect_job_failure(r, "unknown_function");
    EXPECT_NE(r.err.find("no_such_function"), std::string::npos) << r.err;
    expect_still_serving(*pool_);
}

TEST_F(CliTest, MalformedJsonIsABadRequest) {
    CommandResult r = pool_->cli({"call", "gcd", "[1,"});
    expect_job_failure(r, "bad_request");
    expect_still_serving(*pool_);
}

TEST_F(CliTest, WrongJsonShapeIsABadRequest) {
    expect_job_failure(pool_->cli({"call", "gcd", "\"x\""}), "bad_request");
    expect_job_failure(pool_->cli({"call", "md5_chain", R"({"msg": 5})"}), "bad_request");
    expect_still_serving(*pool_);
}

// Each call is refused before the function runs, with a message saying what does not fit, and
// the pool goes on serving.
TEST_F(CliTest, JsonArgumentsThatDoNotFitAreABadRequest) {
    struct Case {
        const char* function;
        const char* args;
        const char* message;
    };
    const Case cases[] = {
        {"gcd", "[123456789012345678901234567890, 5]",
         "argument 0: 123456789012345678901234567890 does not fit int64"},
        {"gcd", "[1.5, 3]", "argument 0: 1.5 is not an integer"},
        {"gcd", "[3, 1.5]", "argument 1: 1.5 is not an integer"},
        {"gcd", "[1, 2, 3]", "expected an array of 2 elements, got 3"},
        {"gcd", "[1]", "expected an array of 2 elements, got 1"},
        {"gcd", R"(["12", 18])", "argument 0: expected int64, got a string"},
        {"gcd", "[true, 18]", "argument 0: expected int64, got true"},
        {"gcd", "[12, null]", "argument 1: expected int64, got null"},
        {"triple_product", "9223372036854775808", "9223372036854775808 does not fit int64"},
        {"md5_chain", R"({"msg": "Hello World", "rounds": 9223372036854775808})",
         R"(argument "rounds": 9223372036854775808 does not fit its type (it would be -9223372036854775808))"},
        {"md5_chain", R"({"msg": "Hello World", "rounds": 1.5})",
         R"(argument "rounds": 1.5 is not an integer)"},
        {"md5_chain", R"({"msg": "Hello World", "rounds": 2, "round": 5})",
         R"(unknown key "round")"},
        {"md5_chain", R"({"rounds": 2, "rounds": 3})", R"(duplicate key "rounds")"},
    };
    for (const Case& c : cases) {
        const CommandResult r = pool_->cli({"call", c.function, c.args});
        EXPECT_EQ(r.exit_code, 1) << c.function << " " << c.args << "\n" << describe(r);
        EXPECT_EQ(r.out, "") << c.function << " " << c.args;
        EXPECT_EQ(r.err, std::string("error: bad_request: ") + c.message + "\n")
            << c.function << " " << c.args;
        expect_still_serving(*pool_);
    }
    CommandResult r = pool_->cli({"call", "sleep_report", "0"});
    EXPECT_EQ(r.exit_code, 0) << "an integer is a fine double\n" << describe(r);
}

TEST_F(CliTest, MapRefusesAnItemThatDoesNotFit) {
    CommandResult r = pool_->cli({"map", "gcd"}, "[12, 18]\n[1, 2, 3]\n[4, 6]\n");
    EXPECT_EQ(r.exit_code, 1) << describe(r);
    auto lines = lines_of(r.out);
    ASSERT_EQ(lines.size(), 3u) << r.out;
    EXPECT_EQ(lines[0], "6");
    EXPECT_EQ(json::parse(lines[1]), (json{{"error", "bad_request"},
                                           {"message", "expected an array of 2 elements, got 3"}}));
    EXPECT_EQ(lines[2], "2");
    EXPECT_EQ(r.err, "error: bad_request: expected an array of 2 elements, got 3\n");
}

TEST_F(CliTest, CrashNamesTheSignal) {
    CommandResult r = pool_->cli({"call", "crash", "1"});
    expect_job_failure(r, "worker_crashed");
    EXPECT_NE(r.err.find("SIGABRT"), std::string::npos) << r.err;
    expect_still_serving(*pool_);
}

TEST_F(CliTest, MapReportsAFailedItemAndKeepsTheOthers) {
    CommandResult r = pool_->cli({"map", "gcd"}, "[12, 18]\n\"x\"\n[4, 6]\n");
    EXPECT_EQ(r.exit_code, 1) << describe(r);
    auto lines = lines_of(r.out);
    ASSERT_EQ(lines.size(), 3u) << r.out;
    EXPECT_EQ(lines[0], "6");
    EXPECT_EQ(json::parse(lines[1])["error"], "bad_request");
    EXPECT_EQ(lines[2], "2");
    EXPECT_EQ(r.err.rfind("error: bad_request: ", 0), 0u) << r.err;
}

TEST_F(CliTest, StatusTableShowsThePoolAndItsWorkers) {
    CommandResult r = pool_->cli({"status"});
    ASSERT_EQ(r.exit_code, 0) << describe(r);
    EXPECT_NE(r.out.find("pool " + pool_->name()), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("running"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("SLOT"), std::string::npos) << r.out;
    // One row per worker, each starting with its slot and pid.
    for (pid_t pid : pool_->ready_worker_pids()) {
        const std::string column = ' ' + std::to_string(pid) + ' ';
        EXPECT_NE(r.out.find(column), std::string::npos)
            << "worker " << pid << "\n"
            << r.out;
    }
}

TEST_F(CliTest, StatusJsonHasTheDocumentedFields) {
    // A worker replaced after an earlier test's crash may still be starting.
    ASSERT_TRUE(testing::wait_until([] { return pool_->status()["workers"]["ready"] == 2; }, 10s));
    CommandResult r = pool_->cli({"status", "--json"});
    ASSERT_EQ(r.exit_code, 0) << describe(r);
    json s = json::parse(r.out);
    EXPECT_EQ(s["pool"], pool_->name());
    EXPECT_EQ(s["pid"].get<pid_t>(), pool_->pid());
    EXPECT_EQ(s["state"], "running");
    EXPECT_TRUE(s["started_at"].is_string());
    EXPECT_TRUE(s["uptime_seconds"].is_number());
    EXPECT_EQ(s["workers"]["configured"], 2);
    EXPECT_EQ(s["workers"]["live"], 2);
    ASSERT_TRUE(s["workers"]["rows"].is_array());
    ASSERT_EQ(s["workers"]["rows"].size(), 2u);
    for (const auto& row : s["workers"]["rows"]) {
        EXPECT_GT(row["pid"].get<pid_t>(), 0);
        EXPECT_TRUE(row["state"].is_string());
        EXPECT_TRUE(row["jobs_done"].is_number_unsigned());
        EXPECT_TRUE(row.contains("current_function"));
    }
    EXPECT_TRUE(s["jobs"]["submitted"].is_number_unsigned());
    EXPECT_TRUE(s["jobs"]["completed"].is_number_unsigned());
    ASSERT_TRUE(s["jobs"]["failed_by_kind"].is_object());
    for (const char* kind :
         {"handler_error", "worker_crashed", "timeout", "cancelled", "deadline_exceeded",
          "unknown_function", "bad_request", "overloaded", "shutting_down", "type_mismatch"}) {
        EXPECT_TRUE(s["jobs"]["failed_by_kind"].contains(kind)) << kind;
    }
    EXPECT_TRUE(s["queue"]["depth"].is_number_unsigned());
    EXPECT_TRUE(s["sessions"].is_object());
    EXPECT_TRUE(s["sessions"]["active"].is_number());
}

TEST_F(CliTest, StatusCountsTheJobsItRan) {
    const auto before = pool_->status()["jobs"];
    ASSERT_EQ(pool_->cli({"call", "gcd", "[12, 18]"}).exit_code, 0);
    ASSERT_EQ(pool_->cli({"call", "fail", "\"counted\""}).exit_code, 1);
    const auto after = json::parse(pool_->cli({"status", "--json"}).out)["jobs"];
    EXPECT_EQ(after["submitted"].get<std::uint64_t>(),
              before["submitted"].get<std::uint64_t>() + 2);
    EXPECT_EQ(after["completed"].get<std::uint64_t>(),
              before["completed"].get<std::uint64_t>() + 1);
    EXPECT_EQ(after["failed_by_kind"]["handler_error"].get<std::uint64_t>(),
              before["failed_by_kind"]["handler_error"].get<std::uint64_t>() + 1);
}

TEST_F(CliTest, StatusPrometheus) {
    CommandResult r = pool_->cli({"status", "--prometheus"});
    ASSERT_EQ(r.exit_code, 0) << describe(r);
    EXPECT_NE(r.out.find("warmpool_up{pool=\"" + pool_->name() + "\"} 1\n"), std::string::npos)
        << r.out;
    EXPECT_NE(r.out.find("# TYPE warmpool_jobs_failed_total counter"), std::string::npos) << r.out;
}

TEST_F(CliTest, WaitReadyOnARunningPool) {
    CommandResult r = pool_->cli({"wait-ready", "--timeout", "5"});
    EXPECT_EQ(r.exit_code, 0) << describe(r);
}

TEST_F(CliTest, BadUsageExits64) {
    EXPECT_EQ(pool_->cli({}).exit_code, 64);
    EXPECT_EQ(pool_->cli({"call", "gcd"}).exit_code, 64);
    EXPECT_EQ(pool_->cli({"no-such-command"}).exit_code, 64);
}

TEST(CliStandaloneTest, WaitReadyWaitsForASlowStart) {
    TestPool pool(TestPool::Options{
        .workers = 2, .env = {{"WARMPOOL_EXAMPLE_INIT_SECONDS", "0.5"}}, .wait_ready = false});
    const auto start = std::chrono::steady_clock::now();
    CommandResult r = pool.cli({"wait-ready", "--timeout", "20"});
    const auto waited = std::chrono::steady_clock::now() - start;
    EXPECT_EQ(r.exit_code, 0) << describe(r);
    EXPECT_GE(waited, 400ms) << "it returned before the workers could have initialised";
    EXPECT_EQ(pool.status()["state"], "running");
    expect_still_serving(pool);
}

TEST(CliStandaloneTest, StopExitsCleanlyAndLeavesNothingBehind) {
    TestPool pool(TestPool::Options{.workers = 2});
    expect_still_serving(pool);
    ASSERT_TRUE(std::filesystem::exists(pool.control_socket()));
    ASSERT_FALSE(pool.leftover_shm().empty()) << "the test cannot see the pool's shared memory";

    CommandResult r = pool.cli({"stop"});
    EXPECT_EQ(r.exit_code, 0) << describe(r);
    EXPECT_NE(r.out.find("stopping"), std::string::npos) << r.out;
    EXPECT_EQ(pool.wait_exit(20s), 0) << pool.log();

    for (const auto& entry : std::filesystem::directory_iterator(pool.runtime_dir())) {
        EXPECT_FALSE(entry.is_socket()) << "left behind: " << entry.path();
    }
    EXPECT_TRUE(pool.leftover_shm().empty()) << "left behind: " << pool.leftover_shm().front();

    // And the CLI now says, clearly, that there is no pool.
    CommandResult after = pool.cli({"status"});
    EXPECT_EQ(after.exit_code, 2) << describe(after);
    EXPECT_NE(after.err.find("cannot reach pool '" + pool.name() + "'"), std::string::npos)
        << after.err;
}

// `warmpool stop` returns once the daemon has exited (its lock is free), not when it took the
// order; --no-wait returns at once; --timeout bounds the wait.
TEST(CliStandaloneTest, StopWaitsUntilThePoolHasExited) {
    {
        TestPool pool(TestPool::Options{.workers = 1});
        CommandResult r = pool.cli({"stop"});
        EXPECT_EQ(r.exit_code, 0) << describe(r);
        EXPECT_EQ(pool.wait_exit(0ms), 0) << "stop returned before the daemon exited";
    }
    {
        // A job that ignores the stop keeps its worker, and so the pool, for the grace period.
        TestPool pool(TestPool::Options{.workers = 1, .extra_args = {"--grace-period", "30"}});
        warmpool::Client client = pool.connect();
        auto hanging = client.submit<std::int64_t>("hang", std::int64_t{1});
        ASSERT_TRUE(testing::wait_until([&] { return pool.status()["jobs"]["in_flight"] == 1; }, 10s));
        CommandResult waited = pool.cli({"stop", "--timeout", "0.5"});
        EXPECT_EQ(waited.exit_code, 2) << describe(waited);
        EXPECT_TRUE(contains(waited.err, "still running 0.5 s after it was told to stop")) << describe(waited);
        CommandResult again = pool.cli({"stop", "--no-wait"});
        EXPECT_EQ(pool.wait_exit(0ms), -1) << "it is still within its grace period";
        pool.signal(SIGKILL);
    }
}

// --pool and --runtime-dir may follow the subcommand; a misspelt option gets a did-you-mean.
TEST(CliStandaloneTest, OptionsAfterTheSubcommandAndMisspeltOnes) {
    TestPool pool(TestPool::Options{.workers = 1});
    const std::string cli = testing::warmpool_cli_path();
    CommandResult r = testing::run_command({cli, "call", "gcd", "[12, 18]", "--pool", pool.name(), "--runtime-dir",
                                            pool.runtime_dir()});
    EXPECT_EQ(r.exit_code, 0) << describe(r);
    EXPECT_EQ(r.out, "6\n");
    r = testing::run_command({cli, "status", "--json", "-p", pool.name(), "--runtime-dir", pool.runtime_dir()});
    EXPECT_EQ(r.exit_code, 0) << describe(r);

    r = pool.cli({"status", "--jsn"});
    EXPECT_EQ(r.exit_code, 64) << describe(r);
    EXPECT_TRUE(contains(r.err, "'--jsn' is not an option (did you mean '--json'?)")) << describe(r);
    r = testing::run_command({testing::warmpoold_path(), "--wokers", "2"});
    EXPECT_EQ(r.exit_code, 64) << describe(r);
    EXPECT_TRUE(contains(r.err, "did you mean '--workers'?")) << describe(r);
}

// Without --runtime-dir, a pool not in the user's own runtime directory is looked for where the
// systemd unit's pools are, /run/warmpool.
TEST(CliStandaloneTest, APoolInRunWarmpoolIsFoundWithoutARuntimeDirectory) {
    const bool made_dir = std::filesystem::create_directory(warmpool::kSystemRuntimeDir);
    TestPool::Options options;
    options.workers = 1;
    options.name = "clitest" + std::to_string(::getpid());
    options.runtime_dir = warmpool::kSystemRuntimeDir;
    {
        TestPool pool(options);
        CommandResult r = testing::run_command({testing::warmpool_cli_path(), "--pool", pool.name(), "status",
                                                "--json"},
                                               {}, {{"WARMPOOL_RUNTIME_DIR", ""}, {"XDG_RUNTIME_DIR", "/nonexistent"}});
        EXPECT_EQ(r.exit_code, 0) << describe(r);
        EXPECT_TRUE(contains(r.out, "\"pool\":\"" + pool.name() + "\"")) << describe(r);
        EXPECT_EQ(pool.cli({"stop"}).exit_code, 0);
    }
    // What the test made there goes: the pool's lock file, and (the directory being ours) the
    // test pool's log and the directory.
    std::error_code ignored;
    std::filesystem::remove(std::string(warmpool::kSystemRuntimeDir) + "/" + options.name + ".lock", ignored);
    if (made_dir) std::filesystem::remove_all(warmpool::kSystemRuntimeDir, ignored);
}

// `warmpool functions`: every function the pool serves, its argument type and its settings.
TEST(CliStandaloneTest, FunctionsListsThePoolsFunctions) {
    TestPool pool(TestPool::Options{.workers = 1, .extra_args = {"--function", "md5_chain:timeout=5,retries=1"}});
    CommandResult r = pool.cli({"functions"});
    EXPECT_EQ(r.exit_code, 0) << describe(r);
    EXPECT_TRUE(contains(r.out, "std::pair<long, long>")) << r.out;
    CommandResult names = pool.cli({"functions", "--names"});
    EXPECT_TRUE(contains(names.out, "gcd\nhang\n")) << names.out;
    CommandResult as_json = pool.cli({"functions", "--json"});
    const json functions = json::parse(as_json.out);
    EXPECT_EQ(functions["total"], 11) << as_json.out;
    bool found = false;
    for (const auto& f : functions["rows"]) {
        if (f["name"] != "md5_chain") continue;
        found = true;
        EXPECT_EQ(f["timeout"], 5.0);
        EXPECT_EQ(f["retries"], 1);
        EXPECT_EQ(f["settings"], "config");
        EXPECT_EQ(f["language"], "c++");
    }
    EXPECT_TRUE(found) << as_json.out;
    EXPECT_EQ(pool.status()["functions"], functions) << "status --json has the same list";
}

TEST(CliStandaloneTest, NoSuchPool) {
    char tmpl[] = "/tmp/warmpool-cli-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    const std::string dir = tmpl;
    const std::string cli = testing::warmpool_cli_path();

    CommandResult status =
        testing::run_command({cli, "--pool", "absent", "--runtime-dir", dir, "status"});
    EXPECT_EQ(status.exit_code, 2) << describe(status);
    EXPECT_EQ(status.out, "");
    EXPECT_NE(status.err.find("cannot reach pool 'absent'"), std::string::npos) << status.err;

    CommandResult call = testing::run_command(
        {cli, "--pool", "absent", "--runtime-dir", dir, "call", "gcd", "[1, 2]"});
    EXPECT_EQ(call.exit_code, 2) << describe(call);
    EXPECT_NE(call.err.find("warmpool: "), std::string::npos) << call.err;

    CommandResult stop =
        testing::run_command({cli, "--pool", "absent", "--runtime-dir", dir, "stop"});
    EXPECT_EQ(stop.exit_code, 2) << describe(stop);

    CommandResult wait = testing::run_command(
        {cli, "--pool", "absent", "--runtime-dir", dir, "wait-ready", "--timeout", "0.3"});
    EXPECT_EQ(wait.exit_code, 2) << describe(wait);
    EXPECT_NE(wait.err.find("not ready"), std::string::npos) << wait.err;

    std::filesystem::remove_all(dir);
}

// Regression guard: a CLI waiting on a job must not hang when the daemon is kill -9'ed.
TEST(CliStandaloneTest, CallReturnsWhenTheDaemonIsKilled) {
    TestPool pool(TestPool::Options{.workers = 2});
    auto pending = std::async(std::launch::async, [&] { return pool.cli({"call", "hang", "1"}); });
    const bool started = testing::wait_until(
        [&] {
            const json status = pool.status();  // the loop must not range over a temporary
            for (const auto& row : status["workers"]["rows"]) {
                if (row["current_function"] == "hang") return true;
            }
            return false;
        },
        10s);
    const std::string status_before = pool.cli({"status"}).out;

    pool.signal(SIGKILL);
    const auto killed_at = std::chrono::steady_clock::now();
    // run_command's own limit (60 s) ends the CLI if it hangs, so get() always returns.
    const bool returned = pending.wait_for(10s) == std::future_status::ready;
    const auto took = std::chrono::steady_clock::now() - killed_at;
    const CommandResult r = pending.get();
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(took).count();
    ASSERT_TRUE(started) << "the hang job never started; status:\n"
                         << status_before << "CLI: " << describe(r);
    EXPECT_TRUE(returned) << "the CLI still waits 10 s after the daemon died";
    EXPECT_NE(r.exit_code, 0) << describe(r);
    EXPECT_LT(r.exit_code, 128) << "the CLI was killed instead of exiting: " << describe(r);
    EXPECT_NE(r.err, "") << "no message";
    EXPECT_LT(took, 5s) << "the CLI took " << ms << " ms";
    std::printf("the CLI noticed the daemon's death after %lld ms: %s", static_cast<long long>(ms),
                r.err.c_str());
    EXPECT_EQ(pool.wait_exit(5s), 128 + SIGKILL);
}

// Regression: Supervisor::worker_capacity() once judged a worker only by the run time of its
// last finished job, so a worker whose last job was short was given more jobs while it ran one
// that never ends, and they waited behind it although another worker was idle.
TEST(CliStandaloneTest, CallDoesNotQueueBehindARunningHangWhileAWorkerIsIdle) {
    TestPool pool(TestPool::Options{.workers = 2, .extra_args = {"--grace-period", "0.2"}});
    {
        Client client = pool.connect();
        // Both workers' last job is long (50 ms), then worker 0's last job is short.
        auto a = client.submit<examples::SleepReport>("sleep_report", 0.05);
        auto b = client.submit<examples::SleepReport>("sleep_report", 0.05);
        ASSERT_NE(a.get().pid, b.get().pid)
            << "the set-up needs the two sleeps on different workers";
        ASSERT_EQ(client.call<std::int64_t>("gcd", std::pair<std::int64_t, std::int64_t>{12, 18}),
                  6);
    }
    auto hang = std::async(std::launch::async, [&] { return pool.cli({"call", "hang", "1"}); });
    ASSERT_TRUE(testing::wait_until(
        [&] {
            const json status = pool.status();
            return status["workers"]["busy"] == 1;
        },
        10s));
    const std::string status_before = pool.cli({"status"}).out;
    CommandResult r =
        testing::run_command({testing::warmpool_cli_path(), "--pool", pool.name(), "--runtime-dir",
                              pool.runtime_dir(), "call", "gcd", "[12, 18]"},
                             {}, {}, 5s);
    EXPECT_EQ(r.exit_code, 0) << "a gcd call did not finish within 5 s while a worker was idle ("
                              << describe(r) << ")\n"
                              << status_before;
    EXPECT_EQ(r.out, "6\n");
    pool.signal(SIGKILL);  // ends the hang call too
    hang.wait();
}

}  // namespace
}  // namespace warmpool
