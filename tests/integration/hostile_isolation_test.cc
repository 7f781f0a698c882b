// Isolation between peers, with real extra users: nothing of a session's shared memory can be
// opened, listed or squatted by anyone but its client, the supervisor and the workers; allowed
// users are served whatever the socket's group; each session wakes the supervisor through a
// doorbell of its own; a full /dev/shm does not bring the pool down. Needs root (to create the
// users); skips otherwise.
#include <dirent.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "test_pool.hpp"
#include "test_users.hpp"
#include "warmpool/bytes.hpp"
#include "warmpool/client.hpp"

namespace warmpool::testing {
namespace {

using namespace std::chrono_literals;

#define NEEDS_ROOT() \
    if (!is_root()) GTEST_SKIP() << "creating the test's users needs root"

// Lets other users reach the pool's sockets (the test's runtime directory is private).
void open_directory(const TestPool& pool) {
    std::filesystem::permissions(pool.runtime_dir(), std::filesystem::perms(0755));
}

std::vector<std::string> pool_cli(const TestPool& pool, std::vector<std::string> args) {
    std::vector<std::string> argv{warmpool_cli_path(), "--pool", pool.name(), "--runtime-dir", pool.runtime_dir()};
    argv.insert(argv.end(), args.begin(), args.end());
    return argv;
}

// A Python program run as the intruder: tries to open, for reading and for writing, every
// object in /dev/shm that carries the pool's name and every descriptor and mapping of the given
// processes; prints "OPENED <path>" for each it could open, then "DONE".
const char* kIntruder = R"PY(
import os, sys
pool, pids = sys.argv[1], sys.argv[2:]
paths = ["/dev/shm/" + n for n in os.listdir("/dev/shm") if pool in n]
for pid in pids:
    for d in ("fd", "map_files"):
        try:
            paths += ["/proc/%s/%s/%s" % (pid, d, e) for e in os.listdir("/proc/%s/%s" % (pid, d))]
        except OSError:
            pass
for p in paths:
    for mode in (os.O_RDONLY, os.O_RDWR):
        try:
            fd = os.open(p, mode)
            os.close(fd)
            print("OPENED", p, "rw" if mode == os.O_RDWR else "ro")
        except OSError:
            pass
print("DONE")
)PY";

TEST(HostileIsolationTest, AnAllowedUserCannotOpenAnythingOfAnotherUsersSession) {
    NEEDS_ROOT();
    TestGroup group("iso");
    TestUser alice("a", {group.name()});
    TestUser mallory("m", {group.name()});
    TestPool::Options options;
    options.extra_args = {"--group", group.name(), "--allow-group", group.name()};
    TestPool pool(options);
    open_directory(pool);

    // Alice's job runs (and her session stays open) while Mallory looks for a way in.
    CommandResult alices;
    std::thread caller([&] { alices = alice.run(pool_cli(pool, {"call", "sleep_report", "2.0"})); });
    ASSERT_TRUE(wait_until([&] { return pool.status()["sessions"]["active"] == 1; }, 10s));
    std::vector<std::string> argv{"/usr/bin/python3", "-c", kIntruder, pool.name(), std::to_string(pool.pid())};
    for (pid_t worker : pool.ready_worker_pids()) argv.push_back(std::to_string(worker));
    const CommandResult probe = mallory.run(argv);
    caller.join();

    EXPECT_NE(probe.out.find("DONE"), std::string::npos) << probe.out << probe.err;
    EXPECT_EQ(probe.out.find("OPENED"), std::string::npos) << "another allowed user reached:\n" << probe.out;
    EXPECT_EQ(alices.exit_code, 0) << alices.err;
    EXPECT_NE(alices.out.find("\"slept\""), std::string::npos) << alices.out;
    // And the pool names nothing at all in /dev/shm.
    for (const auto& object : pool.leftover_shm()) EXPECT_EQ(object.find("/dev/shm"), std::string::npos) << object;
}

// The names a squatter would pre-create, from one session name it saw (the old scheme: the
// next session generations, and the first argument blobs of each).
const char* kSquatter = R"PY(
import os, re, sys
pool = sys.argv[1]
made = 0
for n in os.listdir("/dev/shm"):
    m = re.match(r"(warmpool\.\d+\.%s)\.s(\d+)\.([0-9a-f]{16})$" % re.escape(pool), n)
    if not m:
        continue
    prefix, gen = m.group(1), int(m.group(3), 16)
    for k in range(1, 161):
        g = (gen + k * 0x9e3779b97f4a7c15) % (1 << 64)
        for slot in range(4):
            names = ["%s.s%d.%016x" % (prefix, slot, g)] + ["%s.b%016x.a%d" % (prefix, g, a) for a in range(1, 10)]
            for name in names:
                try:
                    os.close(os.open("/dev/shm/" + name, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600))
                    made += 1
                except OSError:
                    pass
print("SQUATTED", made)
)PY";

TEST(HostileIsolationTest, NoUserCanSquatTheNamesOfSessionsOrBlobs) {
    NEEDS_ROOT();
    TestUser squatter("s");
    TestPool pool;
    open_directory(pool);
    Client first = pool.connect();
    ASSERT_EQ(first.call<std::int64_t>("gcd", std::pair<std::int64_t, std::int64_t>{12, 18}), 6);
    const CommandResult squat = squatter.run({"/usr/bin/python3", "-c", kSquatter, pool.name()});
    // Whatever it made is removed at the end, even if an expectation fails.
    struct Sweep {
        uid_t uid;
        ~Sweep() {
            for (const auto& entry : std::filesystem::directory_iterator("/dev/shm")) {
                struct stat st{};
                if (::stat(entry.path().c_str(), &st) == 0 && st.st_uid == uid) std::filesystem::remove(entry.path());
            }
        }
    } sweep{squatter.uid()};
    ASSERT_NE(squat.out.find("SQUATTED"), std::string::npos) << squat.out << squat.err;
    EXPECT_EQ(squat.out, "SQUATTED 0\n") << "the pool's names were guessable";

    const std::string big(200'000, 'x');  // beyond inline_max: an argument blob, and a result blob
    for (int i = 0; i < 3; ++i) {
        Client client = pool.connect();
        EXPECT_EQ(client.call<std::int64_t>("gcd", std::pair<std::int64_t, std::int64_t>{35, 49}), 7);
        EXPECT_TRUE(client.call<Bytes>("echo", big) == big);
    }
}

TEST(HostileIsolationTest, AllowedUsersAreServedWithoutTheSocketGroupAndOthersAreRefused) {
    NEEDS_ROOT();
    TestUser allowed("u");
    TestUser stranger("x");
    TestPool::Options options;
    options.extra_args = {"--allow-user", allowed.name()};
    TestPool pool(options);
    open_directory(pool);

    const CommandResult call = allowed.run(pool_cli(pool, {"call", "gcd", "[12, 18]"}));
    EXPECT_EQ(call.exit_code, 0) << call.err;
    EXPECT_EQ(call.out, "6\n");
    // Through blobs both ways: a line longer than inline_max, and its echo.
    const std::string line = "\"" + std::string(300'000, 'y') + "\"\n";
    const CommandResult big = allowed.run(pool_cli(pool, {"map", "echo"}), {}, 60s, line);
    EXPECT_EQ(big.exit_code, 0) << big.err;
    EXPECT_EQ(big.out, line);

    const CommandResult refused = stranger.run(pool_cli(pool, {"call", "gcd", "[12, 18]"}));
    EXPECT_NE(refused.exit_code, 0);
    EXPECT_NE(refused.err.find("permission"), std::string::npos) << refused.err;
    EXPECT_EQ(pool.status()["sessions"]["active"], 0);
}

// The eventfd-id of each eventfd process `pid` holds.
std::set<std::string> eventfd_ids(const std::string& pid) {
    std::set<std::string> ids;
    const std::string dir = "/proc/" + pid + "/fd";
    for (const auto& entry : std::filesystem::directory_iterator(dir)) {
        std::error_code ec;
        const auto target = std::filesystem::read_symlink(entry.path(), ec);
        if (ec || target.string() != "anon_inode:[eventfd]") continue;
        std::ifstream info("/proc/" + pid + "/fdinfo/" + entry.path().filename().string());
        for (std::string line; std::getline(info, line);) {
            if (line.rfind("eventfd-id:", 0) == 0) ids.insert(line.substr(11));
        }
    }
    return ids;
}

TEST(HostileIsolationTest, EachSessionWakesTheSupervisorThroughADoorbellOfItsOwn) {
    TestPool pool;
    const auto before = eventfd_ids("self");
    Client one = pool.connect();
    Client two = pool.connect();
    ASSERT_EQ(one.call<std::int64_t>("gcd", std::pair<std::int64_t, std::int64_t>{12, 18}), 6);
    ASSERT_EQ(two.call<std::int64_t>("gcd", std::pair<std::int64_t, std::int64_t>{12, 18}), 6);
    std::set<std::string> ours;
    for (const auto& id : eventfd_ids("self")) {
        if (!before.contains(id)) ours.insert(id);
    }
    EXPECT_EQ(ours.size(), 2u) << "two sessions, two doorbells: a client that reads its own can only hurt itself";
    const auto workers = pool.ready_worker_pids();
    ASSERT_FALSE(workers.empty());
    for (const auto& id : eventfd_ids(std::to_string(workers.front()))) {
        EXPECT_FALSE(ours.contains(id)) << "a client holds the workers' doorbell (eventfd-id " << id << ")";
    }
}

TEST(HostileIsolationTest, AFullDevShmDoesNotBringThePoolDown) {
    NEEDS_ROOT();
    const std::string dir = ::testing::TempDir() + "warmpool-fullshm-" + std::to_string(::getpid());
    std::filesystem::create_directories(dir);
    struct Remove {
        std::string dir;
        ~Remove() { std::filesystem::remove_all(dir); }
    } remove{dir};
    const std::string name = "fullshm" + std::to_string(::getpid());
    const std::string cli = warmpool_cli_path() + " --pool " + name + " --runtime-dir " + dir;
    // In a mount namespace of its own, /dev/shm is a 256 KiB tmpfs, full before the pool starts.
    const std::string script =
        "mount -t tmpfs -o size=256k tmpfs /dev/shm || exit 90\n"
        "dd if=/dev/zero of=/dev/shm/fill bs=4k count=64 2>/dev/null\n"
        "[ $(df --output=avail /dev/shm | tail -1) -eq 0 ] || exit 91\n" +
        warmpoold_path() + " --name " + name + " --workers 1 --runtime-dir " + dir + " >" + dir +
        "/log 2>&1 &\n"
        "daemon=$!\n" +
        cli + " wait-ready --timeout 20 || { echo not-ready; kill -9 $daemon; exit 92; }\n" + cli +
        " call gcd '[12, 18]'\n" + cli + " call echo \"\\\"$(head -c 100000 /dev/zero | tr '\\0' z)\\\"\" | wc -c\n" +
        cli + " status --json >/dev/null && echo status-ok\n" + cli + " stop\n" +
        "wait $daemon; echo daemon-exit=$?\n";
    const CommandResult r = run_command({"/usr/bin/unshare", "-m", "--propagation", "private", "/bin/sh", "-c", script}, {}, {}, 60s);
    std::ifstream log(dir + "/log");
    const std::string log_text((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err << log_text;
    EXPECT_EQ(r.out, "6\n100003\nstatus-ok\nstopping pool '" + name + "'\ndaemon-exit=0\n") << r.err << log_text;
}

}  // namespace
}  // namespace warmpool::testing
