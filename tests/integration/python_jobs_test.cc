// Python jobs in real warmpoold workers, reached as the command line and other languages reach
// them (JSON through the C++ client) and, for pickle, through sessions made by hand: results,
// per-worker initialisation, the JSON parameter mapping, failures and crashes, timeouts the
// decorator declares, reload picking up changed code, and the pickle trust rule with a real
// second uid. The job modules are in tests/python/jobs/.
#include <gtest/gtest.h>
#include <grp.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <fcntl.h>
#include <functional>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "expect_job_error.hpp"
#include "raw_session.hpp"
#include "test_pool.hpp"
#include "test_users.hpp"
#include "warmpool/client.hpp"
#include "warmpool/common/shm_layout.hpp"

namespace warmpool {
namespace {

using nlohmann::json;
using testing::contains;
using testing::describe;
using testing::CommandResult;
using testing::expect_job_error;
using testing::RawSession;
using testing::TestPool;
using testing::TestUser;
using testing::wait_until;
using namespace std::chrono_literals;

const std::string kJobsDir = WARMPOOL_TEST_PYTHON_JOBS;

TestPool::Options python_pool(std::vector<std::string> modules, std::vector<std::string> extra = {},
                              unsigned workers = 2) {
    TestPool::Options options;
    options.workers = workers;
    options.extra_args = {"--python-path", kJobsDir, "--grace-period", "1"};
    for (const auto& m : modules) options.extra_args.insert(options.extra_args.end(), {"--python-module", m});
    options.extra_args.insert(options.extra_args.end(), extra.begin(), extra.end());
    return options;
}

json call(Client& client, const std::string& function, const std::string& args) {
    return json::parse(client.submit_json(function, args).get());
}

JobError call_error(Client& client, const std::string& function, const std::string& args) {
    return expect_job_error([&] { client.submit_json(function, args).get(); });
}

std::uint64_t crashes(const TestPool& pool) {
    return pool.status()["supervision"]["worker_crashes"].get<std::uint64_t>();
}

// The pool is back at full strength with none of `gone` among its workers.
bool replaced(const TestPool& pool, pid_t gone) {
    return wait_until(
        [&] {
            const auto pids = pool.ready_worker_pids();
            return pids.size() == 2 && std::find(pids.begin(), pids.end(), gone) == pids.end();
        },
        20s);
}

// ---- results, initialisation, context ------------------------------------------------------

TEST(PythonJobsTest, TheClassicGcdPairs) {
    TestPool pool(python_pool({"my_module"}));
    Client client = pool.connect();
    const std::vector<std::pair<int, int>> pairs = {
        {1963309, 2265973}, {2030677, 3814172}, {1551645, 2229620}, {2039045, 2020802}, {1823712, 1924928},
        {2293129, 1020491}, {1281238, 2273782}, {3823812, 4237281}, {3812741, 4729139}, {1292391, 2123811}};
    std::vector<RawFuture> futures;
    for (const auto& [a, b] : pairs) {
        futures.push_back(client.submit_json("my_module.gcd", json::array({a, b}).dump()));
    }
    std::vector<int> results;
    for (auto& f : futures) results.push_back(json::parse(f.get()).get<int>());
    EXPECT_EQ(results, (std::vector<int>{1, 1, 5, 1, 32, 1, 14, 9, 1, 9}));
    // The same pool keeps serving the C++ job library.
    EXPECT_EQ(call(client, "gcd", "[12, 18]"), 6);
    // And the command line reaches Python jobs as the issue's example does.
    const CommandResult r = pool.cli({"call", "my_module.gcd", "[12, 18]"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, "6\n");
}

TEST(PythonJobsTest, AnExportedClassIsBuiltOncePerWorkerBeforeItIsReady) {
    const std::string log = std::filesystem::temp_directory_path() / ("wp-inits-" + std::to_string(::getpid()));
    std::filesystem::remove(log);
    TestPool::Options options = python_pool({"my_module"});
    options.env["WARMPOOL_TEST_INIT_LOG"] = log;
    TestPool pool(options);
    Client client = pool.connect();
    std::vector<RawFuture> futures;
    for (int i = 0; i < 200; ++i) futures.push_back(client.submit_json("my_module.Counted", "null"));
    std::set<pid_t> served;
    for (auto& f : futures) {
        const json r = json::parse(f.get());
        EXPECT_EQ(r["inits"], 1);
        served.insert(r["pid"].get<pid_t>());
    }
    std::ifstream in(log);
    std::set<pid_t> built;
    int lines = 0;
    for (std::string line; std::getline(in, line); ++lines) built.insert(std::stoi(line));
    EXPECT_EQ(lines, 2) << "one build per worker";
    for (pid_t pid : served) EXPECT_TRUE(built.contains(pid)) << pid;
    const auto ready = pool.ready_worker_pids();
    EXPECT_EQ(built, std::set<pid_t>(ready.begin(), ready.end()));
    std::filesystem::remove(log);
}

TEST(PythonJobsTest, ContextNamesThePoolWorkerAndAttempt) {
    TestPool pool(python_pool({"my_module"}));
    Client client = pool.connect();
    RawFuture f = client.submit_json("my_module.where", "null");
    const json r = json::parse(f.get());
    EXPECT_EQ(r["pool"], pool.name());
    EXPECT_EQ(r["pid"], r["os_pid"]);
    EXPECT_EQ(r["attempt"], 1);
    EXPECT_EQ(r["job_id"].get<std::uint64_t>(), f.id());
    EXPECT_LT(r["slot"].get<int>(), 4);
    const auto ready = pool.ready_worker_pids();
    EXPECT_NE(std::find(ready.begin(), ready.end(), r["pid"].get<pid_t>()), ready.end());
}

TEST(PythonJobsTest, TheSupervisorStaysSingleThreadedWithoutPython) {
    TestPool pool(python_pool({"my_module"}));
    std::ifstream status("/proc/" + std::to_string(pool.pid()) + "/status");
    std::string line;
    while (std::getline(status, line) && !line.starts_with("Threads:")) {
    }
    EXPECT_EQ(line, "Threads:\t1");
}

// ---- names and the JSON mapping --------------------------------------------------------------

TEST(PythonJobsTest, OnlyExportedNamesAreCallable) {
    TestPool pool(python_pool({"my_module"}));
    Client client = pool.connect();
    for (const char* name : {"os.system", "my_module.helper", "my_module._inits", "warmpool.by_value"}) {
        const JobError e = call_error(client, name, "[\"true\"]");
        EXPECT_EQ(e.kind(), ErrorKind::unknown_function) << name << ": " << e.what();
    }
}

TEST(PythonJobsTest, AJsonValueMapsToTheParameters) {
    TestPool pool(python_pool({"my_module"}));
    Client client = pool.connect();
    // One required positional parameter: the value as it is, whatever it is.
    EXPECT_EQ(call(client, "my_module.one", "[1, 2]"), json::parse(R"({"got": [1, 2]})"));
    EXPECT_EQ(call(client, "my_module.one", R"({"a": 1})"), json::parse(R"({"got": {"a": 1}})"));
    EXPECT_EQ(call(client, "my_module.one", "null"), json::parse(R"({"got": null})"));
    // Otherwise an array is spread, an object passed by keyword, null calls with nothing.
    EXPECT_EQ(call(client, "my_module.pair", "[1, 2]"), json::parse("[1, 2]"));
    EXPECT_EQ(call(client, "my_module.pair", R"({"b": 2, "a": 1})"), json::parse("[1, 2]"));
    EXPECT_EQ(call(client, "my_module.nothing", "null"), "nothing");
    EXPECT_EQ(call(client, "my_module.scale", R"({"x": 3})"), 6);
    EXPECT_EQ(call(client, "my_module.scale", R"({"x": 3, "factor": 5})"), 15);
    // Arguments that do not fit are the job's error; a result JSON cannot hold says so.
    EXPECT_EQ(call_error(client, "my_module.pair", "[1]").kind(), ErrorKind::handler_error);
    const JobError e = call_error(client, "my_module.not_json", "null");
    EXPECT_EQ(e.kind(), ErrorKind::handler_error);
    EXPECT_TRUE(contains(e.what(), "cannot be written as JSON")) << e.what();
    // A JSON batch: one call per item.
    const auto items = client.map_json("my_module.one", {"1", "\"two\""});
    ASSERT_EQ(items.size(), 2u);
    EXPECT_TRUE(items[0].ok) << items[0].value;
    EXPECT_EQ(json::parse(items[1].value), json::parse(R"({"got": "two"})"));
}

// ---- failures and crashes --------------------------------------------------------------------

TEST(PythonJobsTest, AnExceptionIsAHandlerErrorWithTypeMessageAndTraceback) {
    TestPool pool(python_pool({"failing"}));
    Client client = pool.connect();
    const JobError e = call_error(client, "failing.boom", "\"it broke\"");
    EXPECT_EQ(e.kind(), ErrorKind::handler_error);
    const std::string text = e.what();
    EXPECT_TRUE(contains(text, "ValueError: it broke")) << text;
    EXPECT_TRUE(contains(text, "Traceback (most recent call last)")) << text;
    EXPECT_TRUE(contains(text, "failing.py")) << text;
    EXPECT_EQ(crashes(pool), 0u);
}

struct CrashCase {
    const char* function;
    const char* args;
    const char* how;  // in the worker_crashed message
};

TEST(PythonJobsTest, AJobThatEndsItsWorkerGetsOneWorkerCrashedAndAReplacement) {
    TestPool::Options options = python_pool({"failing", "my_module"});
#if defined(__SANITIZE_ADDRESS__)
    // The job's segfault is its own doing, not a fault of ours to report: the signal must kill
    // the worker as it does without the sanitizer.
    options.env["ASAN_OPTIONS"] = "handle_segv=0:detect_leaks=1:abort_on_error=1";
#endif
    TestPool pool(options);
    Client client = pool.connect();
    const CrashCase cases[] = {
        {"failing.hard_exit", "7", "exited with status 7"},
        {"failing.sys_exit", "3", "exited with status 3"},
        {"failing.segfault", "null", "killed by signal 11 (SIGSEGV)"},
        {"failing.out_of_memory", "null", "ran out of memory (MemoryError)"},
    };
    std::uint64_t expected_crashes = 0;
    for (const auto& c : cases) {
        const std::uint64_t failed_before = pool.status()["jobs"]["failed"].get<std::uint64_t>();
        const JobError e = call_error(client, c.function, c.args);
        EXPECT_EQ(e.kind(), ErrorKind::worker_crashed) << c.function << ": " << e.what();
        EXPECT_TRUE(contains(e.what(), c.how)) << c.function << ": " << e.what();
        ++expected_crashes;
        ASSERT_TRUE(wait_until([&] { return crashes(pool) == expected_crashes; }, 10s)) << c.function;
        ASSERT_TRUE(wait_until([&] { return pool.ready_worker_pids().size() == 2; }, 20s)) << c.function;
        EXPECT_EQ(pool.status()["jobs"]["failed"].get<std::uint64_t>(), failed_before + 1) << "one reply";
        EXPECT_EQ(call(client, "my_module.nothing", "null"), "nothing");
    }
}

TEST(PythonJobsTest, KillingAWorkerMidJobGivesOneWorkerCrashedAndAReplacement) {
    TestPool pool(python_pool({"failing"}));
    Client client = pool.connect();
    const std::string pid_file = pool.runtime_dir() + "/running.pid";
    RawFuture f = client.submit_json("failing.sleep_reporting", json::array({pid_file, 60}).dump());
    pid_t pid = 0;
    ASSERT_TRUE(wait_until(
        [&] {
            std::ifstream in(pid_file);
            return static_cast<bool>(in >> pid) && pid > 0;
        },
        20s));
    ASSERT_EQ(::kill(pid, SIGKILL), 0);
    const JobError e = expect_job_error([&] { f.get(); });
    EXPECT_EQ(e.kind(), ErrorKind::worker_crashed);
    EXPECT_TRUE(contains(e.what(), "SIGKILL")) << e.what();
    ASSERT_TRUE(replaced(pool, pid));
    EXPECT_EQ(crashes(pool), 1u);
    EXPECT_EQ(pool.status()["jobs"]["failed"], 1);
}

TEST(PythonJobsTest, TheDecoratorsTimeoutIsEnforcedAndAFunctionsSectionWins) {
    {
        TestPool pool(python_pool({"failing"}));
        Client client = pool.connect();
        const JobError e = call_error(client, "failing.slow", "10");
        EXPECT_EQ(e.kind(), ErrorKind::timeout) << e.what();
        EXPECT_EQ(call(client, "failing.slow", "0.01"), 0.01);
    }
    {
        TestPool pool(python_pool({"failing"}, {"--function", "failing.slow:timeout=0"}));
        Client client = pool.connect();
        EXPECT_EQ(call(client, "failing.slow", "1"), 1);
    }
}

TEST(PythonJobsTest, AModuleThatCannotBeImportedFailsTheStart) {
    for (const char* module : {"broken_import", "no_such_module", "clash"}) {
        TestPool::Options options = python_pool({module});
        options.wait_ready = false;
        TestPool pool(options);
        EXPECT_NE(pool.wait_exit(30s), 0) << module;
        const std::string log = pool.log();
        EXPECT_TRUE(contains(log, "initialisation failed")) << log;
        const std::string why = std::string(module) == "broken_import" ? "this module refuses to load"
                                : std::string(module) == "clash"        ? "Python job 'gcd'"
                                                                        : "No module named 'no_such_module'";
        EXPECT_TRUE(contains(log, why)) << log;
    }
}

// ---- reload -----------------------------------------------------------------------------------

TEST(PythonJobsTest, ReloadPicksUpChangedCodeWithoutFailingAJob) {
    const std::filesystem::path dir =
        std::filesystem::temp_directory_path() / ("wp-reload-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    const auto write_module = [&](const std::string& version) {
        std::ofstream(dir / "reloadable.py") << "import warmpool\n\nVERSION = " << version
                                             << "\n\n\n@warmpool.job\ndef version():\n    return VERSION\n";
        // Not the same second as the previous version: the byte-code cache goes by mtime and size.
        std::filesystem::last_write_time(dir / "reloadable.py",
                                         std::filesystem::file_time_type::clock::now() + std::chrono::seconds(5));
    };
    write_module("1");
    TestPool::Options options;
    options.workers = 2;
    options.extra_args = {"--python-path", dir.string(), "--python-module", "reloadable"};
    {
        TestPool pool(options);
        Client client = pool.connect();
        EXPECT_EQ(call(client, "reloadable.version", "null"), 1);

        std::atomic<bool> stop{false};
        std::atomic<int> failures{0}, calls{0};
        std::thread load([&] {
            Client own = pool.connect();
            while (!stop) {
                try {
                    own.submit_json("reloadable.version", "null").get();
                    ++calls;
                } catch (const std::exception&) {
                    ++failures;
                }
            }
        });
        write_module("22");
        const auto old = pool.ready_worker_pids();
        const CommandResult r = pool.cli({"reload"});
        EXPECT_EQ(r.exit_code, 0) << r.err;
        ASSERT_TRUE(wait_until(
            [&] {
                const auto now = pool.ready_worker_pids();
                if (now.size() != 2 || pool.status()["supervision"]["reloading"] != false) return false;
                for (pid_t p : now) {
                    if (std::find(old.begin(), old.end(), p) != old.end()) return false;
                }
                return true;
            },
            30s));
        stop = true;
        load.join();
        EXPECT_EQ(failures, 0);
        EXPECT_GT(calls, 0);
        EXPECT_EQ(call(client, "reloadable.version", "null"), 22);
    }
    std::filesystem::remove_all(dir);
}

// ---- pickle and its trust --------------------------------------------------------------------

// A pickle envelope made by the package's own codec, with Debian's interpreter.
std::string python_output(const std::string& code, const std::string& input = {}) {
    const std::string package = std::filesystem::path(testing::warmpoold_path()).parent_path().parent_path() / "python";
    const CommandResult r = testing::run_command({"/usr/bin/python3", "-c", code}, input, {{"PYTHONPATH", package}});
    if (r.exit_code != 0) throw std::runtime_error("python3: " + r.err);
    return r.out;
}

std::string pickle_call_of_12_18() {
    return python_output(
        "import sys\nfrom warmpool import _codec\n"
        "h, b, t = _codec.dumps(_codec.wrap_call(((12, 18),), {}))\n"
        "sys.stdout.buffer.write(_codec.join(h, b))\n");
}

std::string decoded(const std::string& envelope) {
    return python_output("import sys\nfrom warmpool import _codec\nprint(repr(_codec.loads(sys.stdin.buffer.read())))\n",
                         envelope);
}

// A call through the submit ring: {status, payload}, and the reply's flags in *flags.
std::pair<std::uint16_t, std::string> raw_call(RawSession& s, const std::string& function, std::uint32_t flags,
                                               const std::string& payload, std::uint32_t* reply_flags = nullptr) {
    JobRecord record{};
    record.job_id = s.next_job_id();
    record.flags = flags;
    record.payload_bytes = static_cast<std::uint32_t>(payload.size());
    set_function_name(record, function);
    s.submit_record(record, payload);
    auto reply = s.wait_reply(record.job_id, 20s);
    if (reply_flags != nullptr) *reply_flags = s.last_reply().flags;
    return reply;
}

TEST(PythonJobsTest, PickleCallsFromTheOwnerAreServedAndEncodingsChecked) {
    TestPool pool(python_pool({"my_module"}));
    const std::string envelope = pickle_call_of_12_18();
    RawSession s(pool.control_socket());
    std::uint32_t flags = 0;
    auto [status, payload] = raw_call(s, "my_module.gcd", kJobPickle, envelope, &flags);
    ASSERT_EQ(status, 0) << payload;
    EXPECT_NE(flags & kJobPickle, 0u);
    EXPECT_EQ(decoded(payload), "6\n");
    // A pickle call of a C++ job: the message a Python client recognises.
    auto cpp = raw_call(s, "gcd", kJobPickle, envelope);
    EXPECT_EQ(cpp.first, static_cast<std::uint16_t>(ErrorKind::type_mismatch));
    EXPECT_TRUE(contains(cpp.second, "takes JSON")) << cpp.second;
    // A binary call of a Python job, and a record claiming both JSON and pickle.
    auto binary = raw_call(s, "my_module.gcd", 0, envelope);
    EXPECT_EQ(binary.first, static_cast<std::uint16_t>(ErrorKind::type_mismatch)) << binary.second;
    auto both = raw_call(s, "my_module.gcd", kJobPickle | kJobJson, envelope);
    EXPECT_EQ(both.first, static_cast<std::uint16_t>(ErrorKind::bad_request)) << both.second;
    // Bytes that are no envelope.
    auto garbage = raw_call(s, "my_module.gcd", kJobPickle, "not an envelope");
    EXPECT_EQ(garbage.first, static_cast<std::uint16_t>(ErrorKind::bad_request)) << garbage.second;
}

TEST(PythonJobsTest, PickleFromAnUntrustedUidIsRefusedWhileJsonWorks) {
    if (!testing::is_root()) GTEST_SKIP() << "needs root to make a second user";
    TestUser other("p");
    const std::string envelope = pickle_call_of_12_18();
    const auto probe = [&](const TestPool& pool) {
        return testing::run_as(other.uid(), other.uid(), {}, [&] {
            RawSession s(pool.control_socket());
            auto pickled = raw_call(s, "my_module.gcd", kJobPickle, envelope);
            auto by_value = raw_call(s, "warmpool.by_value", kJobPickle, envelope);
            auto plain = s.call_json("my_module.gcd", "[12, 18]");
            return std::to_string(pickled.first) + "|" + pickled.second + "|" + std::to_string(by_value.first) + "|" +
                   std::to_string(plain.first) + "|" + plain.second;
        });
    };
    const auto open_dir = [](const TestPool& pool) {
        std::filesystem::permissions(pool.runtime_dir(), std::filesystem::perms(0755));
    };
    {
        TestPool pool(python_pool({"my_module"}, {"--allow-user", other.name()}));
        open_dir(pool);
        const std::string answer = probe(pool);
        EXPECT_TRUE(answer.starts_with("11|")) << answer;
        EXPECT_TRUE(contains(answer, "python.pickle")) << answer;
        EXPECT_TRUE(contains(answer, "|11|0|6")) << answer;  // by value too; JSON still served
    }
    {
        TestPool pool(python_pool({"my_module"}, {"--allow-user", other.name(), "--python-pickle", "allowed"}));
        open_dir(pool);
        const std::string answer = probe(pool);
        EXPECT_TRUE(answer.starts_with("0|")) << answer;
    }
}

}  // namespace
}  // namespace warmpool
