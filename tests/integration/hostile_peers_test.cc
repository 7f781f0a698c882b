// Hostile peers against a real warmpoold: each test plays one kind of peer that tries to hurt
// everyone else (a status reader that never reads, a flood of connections that takes every
// descriptor, a runtime directory or lock file that points elsewhere, a client that lies about
// its reply rings, one user taking every session, sessions that fill the shared queue, a batch
// that claims more items than it holds, a configuration naming what does not exist), and checks
// that only that peer is hurt. Tests that create users need root and skip otherwise.
#include <fcntl.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "child_process.hpp"
#include "hostile_peers.hpp"
#include "raw_session.hpp"
#include "test_pool.hpp"
#include "test_users.hpp"
#include "warmpool/client.hpp"
#include "warmpool/common/status_query.hpp"

namespace warmpool::testing {
namespace {

using namespace std::chrono_literals;
using Pair = std::pair<std::int64_t, std::int64_t>;

// Built (with the daemon) under AddressSanitizer: its runtime keeps freed memory in quarantine,
// and opens pipes of its own for its checks, so resident sizes and a descriptor limit of 64 say
// nothing about the daemon's code there.
#if defined(__SANITIZE_ADDRESS__)
constexpr bool kSanitized = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif
#else
constexpr bool kSanitized = false;
#endif

#define NEEDS_ROOT() \
    if (!is_root()) GTEST_SKIP() << "creating the test's users needs root"

// A pool given an option it does not know never becomes ready: --print-config says so at once.
::testing::AssertionResult options_accepted(const std::vector<std::string>& args) {
    std::vector<std::string> argv{warmpoold_path(), "--print-config"};
    argv.insert(argv.end(), args.begin(), args.end());
    const CommandResult r = run_command(argv, {}, {}, 20s);
    if (r.exit_code == 0) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure()
           << "warmpoold refuses the options (exit " << r.exit_code << "): " << r.err;
}

// Lets other users reach the pool's sockets (the test's runtime directory is private).
void open_directory(const TestPool& pool) {
    std::filesystem::permissions(pool.runtime_dir(), std::filesystem::perms(0755));
}

// Runs warmpoold in the foreground for a test of what it does at start; a daemon that starts
// anyway is killed after `limit`.
CommandResult run_daemon(const std::string& name, const std::string& runtime_dir,
                         const std::vector<std::string>& extra = {},
                         std::chrono::milliseconds limit = 10s) {
    std::vector<std::string> argv{warmpoold_path(),  "--name",      name,
                                  "--workers",       "1",           "--runtime-dir",
                                  runtime_dir,       "--jobs",      example_jobs_path(),
                                  "--log-level",     "info"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return run_command(argv, {}, {}, limit);
}

std::string unique_name(const std::string& what) { return what + std::to_string(::getpid()); }

// ---------------------------------------------------------------------------------------------
// A. A status reader that never reads its answer.

TEST(HostilePeersTest, StatusReadersThatNeverReadDoNotFreezeThePool) {
    TestPool::Options options;
    options.workers = 1;
    // Small rings keep each of the many sessions below cheap. A run-time limit closes the lanes,
    // so every call below passes through the supervisor.
    options.extra_args = {"--max-sessions", "4096", "--submit-ring",     "4KiB",
                          "--control-ring", "4KiB", "--reply-ring",      "4KiB",
                          "--inline-max",   "512",  "--default-timeout", "600"};
    TestPool pool(options);

    // Many sessions with long names (quotes, which JSON escapes) make a status answer far larger
    // than a socket buffer.
    constexpr int kSessions = 1900;
    std::vector<Handshake> sessions;
    for (int i = 0; i < kSessions; ++i) {
        std::string name = "stalled-" + std::to_string(i) + "-";
        name.resize(64, '"');
        sessions.push_back(handshake(pool.control_socket(), name));
        ASSERT_TRUE(sessions.back().welcomed())
            << "session " << i << ": " << sessions.back().kind << " " << sessions.back().message;
    }
    auto answer = query_status(pool.status_socket(), "json", 10'000);
    ASSERT_TRUE(answer) << answer.error().message();
    ASSERT_GT(answer.value().size(), 400'000u)
        << "the status answer is too small to stall a socket";

    Client honest = pool.connect();
    ASSERT_EQ(honest.call<std::int64_t>("gcd", Pair{35, 49}), 7);

    std::vector<std::unique_ptr<StalledStatusReader>> stalled;
    for (int i = 0; i < 3; ++i)
        stalled.push_back(std::make_unique<StalledStatusReader>(pool.status_socket()));
    const auto stalled_since = std::chrono::steady_clock::now();
    // The calls start once the pool is answering a stalled reader.
    ASSERT_TRUE(wait_until(
        [&] {
            return std::any_of(stalled.begin(), stalled.end(),
                               [](const auto& reader) { return reader->answer_arriving(); });
        },
        10s))
        << "no status answer began";

    for (int i = 0; i < 200; ++i) {
        auto call = honest.submit<std::int64_t>("gcd", Pair{35, 49});
        ASSERT_TRUE(call.wait_for(5s))
            << "call " << i << " did not finish within 5 s while " << stalled.size()
            << " status readers took nothing of their answers";
        ASSERT_EQ(call.get(), 7);
    }
    // The answers may wait for their readers a while (10 s): not closed this early.
    if (std::chrono::steady_clock::now() - stalled_since < 8s) {
        for (const auto& reader : stalled)
            EXPECT_FALSE(reader->closed_by_pool()) << "a stalled reader was dropped at once";
    }
    // ... but not for ever: each is dropped, and what it was sent is readable up to the end.
    for (std::size_t i = 0; i < stalled.size(); ++i) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            stalled_since + 20s - std::chrono::steady_clock::now());
        EXPECT_TRUE(wait_until([&] { return stalled[i]->closed_by_pool(); }, std::max(left, 0ms)))
            << "stalled status reader " << i << " still connected 20 s after its request";
        EXPECT_GE(stalled[i]->drain(5s), 0) << "stalled status reader " << i;
    }
    EXPECT_EQ(honest.call<std::int64_t>("gcd", Pair{12, 18}), 6);
}

// ---------------------------------------------------------------------------------------------
// B. A flood of connections that takes every descriptor the supervisor may have.

TEST(HostilePeersTest, OutOfDescriptorsTheSupervisorDoesNotSpin) {
    if (kSanitized) GTEST_SKIP() << "the sanitizer runtime needs descriptors of its own (pipes for its memory checks)";
    TestPool::Options options;
    options.max_open_files = 64;
    TestPool pool(options);
    const pid_t supervisor = pool.pid();

    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    const std::string path = pool.control_socket();
    ASSERT_LT(path.size(), sizeof address.sun_path);
    std::memcpy(address.sun_path, path.c_str(), path.size());
    // Connections that say nothing: the supervisor accepts them until it has no descriptor left,
    // and the rest wait in the listen backlog.
    std::vector<UniqueFd> flood;
    int refused_in_a_row = 0;
    for (int i = 0; i < 400 && refused_in_a_row < 20; ++i) {
        UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
        ASSERT_TRUE(fd);
        if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0) {
            flood.push_back(std::move(fd));
            refused_in_a_row = 0;
        } else {
            ++refused_in_a_row;
            std::this_thread::sleep_for(5ms);
        }
    }
    ASSERT_GT(flood.size(), 100u)
        << "the flood should hold more connections than the supervisor may have descriptors";
    // Let it take what it can.
    std::size_t fds = open_fd_count(supervisor);
    for (int i = 0; i < 30; ++i) {
        std::this_thread::sleep_for(100ms);
        const std::size_t now = open_fd_count(supervisor);
        if (now == fds && i >= 3) break;
        fds = now;
    }

    const double cpu_before = cpu_seconds(supervisor);
    const auto wall_before = std::chrono::steady_clock::now();
    std::this_thread::sleep_for(2s);
    const double cpu = cpu_seconds(supervisor) - cpu_before;
    const double wall =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_before).count();
    EXPECT_LT(cpu / wall, 0.25) << "the supervisor used " << 100 * cpu / wall
                                << " % of a core over " << wall << " s with " << flood.size()
                                << " connections waiting and " << fds
                                << " descriptors open (limit 64)";

    flood.clear();
    std::optional<Client> client;
    std::string last_error;
    const bool connected = wait_until(
        [&] {
            try {
                client.emplace(pool.connect());
                return true;
            } catch (const std::exception& e) {
                last_error = e.what();
                return false;
            }
        },
        20s);
    ASSERT_TRUE(connected) << last_error;
    auto call = client->submit<std::int64_t>("gcd", Pair{12, 18});
    ASSERT_TRUE(call.wait_for(10s));
    EXPECT_EQ(call.get(), 6);
}

// ---------------------------------------------------------------------------------------------
// C. A runtime directory, or a lock file in it, that is not what it seems.

// What a pool's files in `dir` hold before a daemon is pointed at them; unchanged() says whether
// they still do.
class PlantedFiles {
public:
    PlantedFiles(std::string dir, const std::string& pool) : dir_(std::move(dir)) {
        write_file(dir_ + "/" + pool + ".lock", "4242\n");
        write_file(dir_ + "/" + pool + ".sock", "not the pool's socket\n");
        before_ = snapshot();
    }
    ::testing::AssertionResult unchanged() const {
        const auto now = snapshot();
        if (now == before_) return ::testing::AssertionSuccess();
        auto failure = ::testing::AssertionFailure() << dir_ << " changed:";
        for (const auto& [name, text] : now) failure << "\n  now " << name << ": '" << text << "'";
        for (const auto& [name, text] : before_)
            failure << "\n  was " << name << ": '" << text << "'";
        return failure;
    }

private:
    std::vector<std::pair<std::string, std::string>> snapshot() const {
        std::vector<std::pair<std::string, std::string>> files;
        for (const auto& entry : std::filesystem::directory_iterator(dir_)) {
            const std::string name = entry.path().filename().string();
            files.emplace_back(
                name, entry.is_regular_file() ? read_file(entry.path().string()) : "(not a file)");
        }
        std::sort(files.begin(), files.end());
        return files;
    }
    std::string dir_;
    std::vector<std::pair<std::string, std::string>> before_;
};

TEST(HostilePeersTest, ARuntimeDirectoryThatIsASymlinkIsRefused) {
    NEEDS_ROOT();
    TestUser other("c");
    TempDir base("symlinked");
    const std::string pool = unique_name("symlinked");
    // Another user's symlink, to a directory of the daemon's user and to one of its own.
    for (const bool target_is_ours : {true, false}) {
        SCOPED_TRACE(target_is_ours ? "symlink to a directory of the daemon's user"
                                    : "symlink to another user's directory");
        const std::string target = base / (target_is_ours ? "ours" : "theirs");
        ASSERT_EQ(::mkdir(target.c_str(), 0755), 0);
        if (!target_is_ours) {
            ASSERT_EQ(::chown(target.c_str(), other.uid(), static_cast<gid_t>(-1)), 0);
        }
        const PlantedFiles planted(target, pool);
        const std::string link = base / (target_is_ours ? "link-to-ours" : "link-to-theirs");
        ASSERT_EQ(::symlink(target.c_str(), link.c_str()), 0);
        ASSERT_EQ(::lchown(link.c_str(), other.uid(), static_cast<gid_t>(-1)), 0);

        const CommandResult r = run_daemon(pool, link);
        EXPECT_EQ(r.exit_code, 64) << r.err;
        EXPECT_NE(r.err.find(link), std::string::npos)
            << "the message should name the runtime directory:\n"
            << r.err;
        EXPECT_TRUE(planted.unchanged());
    }
}

TEST(HostilePeersTest, ARuntimeDirectoryOfAnotherUserIsRefused) {
    NEEDS_ROOT();
    TestUser other("o");
    TempDir base("others");
    const std::string pool = unique_name("others");
    const std::string theirs = base / "theirs";
    ASSERT_EQ(::mkdir(theirs.c_str(), 0777), 0);
    ASSERT_EQ(::chmod(theirs.c_str(), 0777), 0);
    ASSERT_EQ(::chown(theirs.c_str(), other.uid(), static_cast<gid_t>(-1)), 0);
    const PlantedFiles planted(theirs, pool);

    const CommandResult r = run_daemon(pool, theirs);
    EXPECT_EQ(r.exit_code, 64) << r.err;
    EXPECT_NE(r.err.find(theirs), std::string::npos)
        << "the message should name the runtime directory:\n"
        << r.err;
    EXPECT_TRUE(planted.unchanged());
}

TEST(HostilePeersTest, ALockFileThatIsASymlinkIsNotFollowed) {
    TempDir runtime("lockdir");
    TempDir elsewhere("victim");
    const std::string pool = unique_name("locklink");
    const std::string victim = elsewhere / "victim";
    write_file(victim, "precious\n");
    const std::string lock = runtime / (pool + ".lock");
    ASSERT_EQ(::symlink(victim.c_str(), lock.c_str()), 0);

    const CommandResult r = run_daemon(pool, runtime.path());
    EXPECT_GT(r.exit_code, 0) << "the daemon started over a lock file that is a symlink:\n"
                              << r.err;
    EXPECT_LT(r.exit_code, 128)
        << "the daemon did not refuse by itself (it was killed after running):\n"
        << r.err;
    EXPECT_EQ(read_file(victim), "precious\n") << "the lock file's symlink was followed";
    std::error_code ec;
    EXPECT_TRUE(std::filesystem::is_symlink(lock, ec));
}

// ---------------------------------------------------------------------------------------------
// D. A client that lies about the indices of its own reply rings.

using Lie = ReplyRingLie;

std::string lie_name(const ::testing::TestParamInfo<Lie>& info) {
    switch (info.param) {
        case Lie::full_ring_looks_empty: return "FullRingLooksEmpty";
        case Lie::head_far_ahead: return "HeadFarAhead";
        case Lie::head_far_behind: return "HeadFarBehind";
    }
    return "Unknown";
}

class HostilePeersLieTest : public ::testing::TestWithParam<Lie> {};

TEST_P(HostilePeersLieTest, OthersAreServedWhileASessionLiesAboutItsReplyRings) {
    // Two workers. Small reply rings: a worker looks at the client's head only when the head
    // it saw last leaves no room, which then comes after some 70 replies.
    TestPool::Options options;
    options.extra_args = {"--reply-ring", "4KiB", "--inline-max", "512"};
    TestPool pool(options);
    RawSession liar(pool.control_socket(), "liar");
    std::set<std::size_t> ready_slots;
    const auto status = pool.status();  // kept alive: the loop runs over a part of it
    for (const auto& row : status["workers"]["rows"]) {
        if (row["state"] == "idle" || row["state"] == "busy")
            ready_slots.insert(row["slot"].get<std::size_t>());
    }
    ASSERT_EQ(ready_slots.size(), 2u);

    // Every worker first serves the liar honestly, so each keeps a tail of its own for the
    // liar's reply ring.
    std::set<std::size_t> served_by;
    for (int round = 0; round < 50 && !std::includes(served_by.begin(), served_by.end(),
                                                     ready_slots.begin(), ready_slots.end());
         ++round) {
        int sent = 0;
        while (sent < 16 && try_submit(liar, "gcd", "[12, 18]")) ++sent;
        int got = 0;
        ASSERT_TRUE(wait_until(
            [&] {
                got +=
                    static_cast<int>(take_replies(liar, [&](std::size_t ring, const ReplyRecord&) {
                        if (ring > 0) served_by.insert(ring - 1);
                    }));
                return got >= sent;
            },
            10s));
    }
    ASSERT_TRUE(
        std::includes(served_by.begin(), served_by.end(), ready_slots.begin(), ready_slots.end()))
        << "the liar's jobs did not reach both workers";

    // About each ring a worker has served: to the dispatcher it looks empty, to the worker full.
    ReplyRingLiar lies(liar, {served_by.begin(), served_by.end()}, GetParam());

    Client honest = pool.connect();
    std::atomic<bool> stop{false};
    std::thread lying([&] {
        while (!stop) {
            lies.tell();
            for (int i = 0; i < 2 && try_submit(liar, "gcd", "[12, 18]"); ++i) {
            }
            std::this_thread::sleep_for(1ms);
        }
    });
    OnExit join([&] {
        stop = true;
        lying.join();
    });
    std::this_thread::sleep_for(500ms);  // the liar's jobs reach the workers first

    for (int i = 0; i < 100; ++i) {
        auto call = honest.submit<std::int64_t>("gcd", Pair{35, 49});
        ASSERT_TRUE(call.wait_for(3s))
            << "call " << i << " did not finish within 3 s while another session lied";
        ASSERT_EQ(call.get(), 7);
    }
}

INSTANTIATE_TEST_SUITE_P(ReplyRings, HostilePeersLieTest,
                         ::testing::Values(Lie::full_ring_looks_empty, Lie::head_far_ahead,
                                           Lie::head_far_behind),
                         lie_name);

// ---------------------------------------------------------------------------------------------
// E. One user taking every session.

// Sessions opened as another user, from a child process that keeps them open until it is
// ended; the pool's answer to each, in order.
class SessionsAs {
public:
    SessionsAs(const TestUser& user, const std::string& control_socket, int count) {
        int pipe_fds[2];
        if (::pipe2(pipe_fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe");
        UniqueFd read_end(pipe_fds[0]);
        UniqueFd write_end(pipe_fds[1]);
        const passwd* pw = ::getpwnam(user.name().c_str());
        if (pw == nullptr) throw std::runtime_error("no user " + user.name());
        const uid_t uid = pw->pw_uid;
        const gid_t gid = pw->pw_gid;
        child_.emplace(Child::start([&] {
            read_end.reset();
            if (::setgroups(0, nullptr) != 0 || ::setgid(gid) != 0 || ::setuid(uid) != 0) return 90;
            std::vector<Handshake> kept;
            for (int i = 0; i < count; ++i) {
                Handshake h = handshake(control_socket, "per-user-" + std::to_string(i));
                std::string line = h.kind + " " + h.message;
                std::replace(line.begin(), line.end(), '\n', ' ');
                line += "\n";
                if (::write(write_end.get(), line.data(), line.size()) !=
                    static_cast<ssize_t>(line.size()))
                    return 91;
                kept.push_back(std::move(h));
            }
            for (;;) ::pause();  // the sessions last until the test ends this process
        }));
        write_end.reset();
        std::string text;
        const auto deadline = std::chrono::steady_clock::now() + 30s;
        while (std::count(text.begin(), text.end(), '\n') < count &&
               std::chrono::steady_clock::now() < deadline) {
            pollfd p{read_end.get(), POLLIN, 0};
            if (::poll(&p, 1, 100) <= 0) continue;
            char buf[4096];
            const ssize_t n = ::read(read_end.get(), buf, sizeof buf);
            if (n <= 0) break;
            text.append(buf, static_cast<std::size_t>(n));
        }
        std::istringstream lines(text);
        for (std::string line; std::getline(lines, line);) {
            const auto space = line.find(' ');
            answers_.emplace_back(line.substr(0, space),
                                  space == std::string::npos ? "" : line.substr(space + 1));
        }
    }
    const std::vector<std::pair<std::string, std::string>>& answers() const { return answers_; }

private:
    std::optional<Child> child_;
    std::vector<std::pair<std::string, std::string>> answers_;
};

void expect_limited_per_user(const TestPool& pool, const TestUser& user, int limit) {
    const SessionsAs sessions(user, pool.control_socket(), limit + 1);
    const auto& answers = sessions.answers();
    ASSERT_EQ(answers.size(), static_cast<std::size_t>(limit + 1));
    for (int i = 0; i < limit; ++i)
        EXPECT_EQ(answers[i].first, "welcome") << "session " << i << ": " << answers[i].second;
    EXPECT_EQ(answers[limit].first, "overloaded")
        << "session " << limit << " of one user: " << answers[limit].second;
    EXPECT_NE(answers[limit].second.find("per user"), std::string::npos) << answers[limit].second;

    // The user's sessions are all still there, and everyone else may still connect.
    Client root = pool.connect();
    EXPECT_EQ(root.call<std::int64_t>("gcd", Pair{12, 18}), 6);
    int of_user = 0;
    const auto status = pool.status();  // kept alive: the loop runs over a part of it
    for (const auto& row : status["sessions"]["rows"])
        of_user += row["uid"].get<uid_t>() == user.uid();
    EXPECT_EQ(of_user, limit);
}

TEST(HostilePeersTest, OneUserGetsHalfTheSessionsByDefault) {
    NEEDS_ROOT();
    TestUser user("e");
    TestPool::Options options;
    options.extra_args = {"--max-sessions", "8", "--allow-user", user.name()};
    TestPool pool(options);
    open_directory(pool);
    expect_limited_per_user(pool, user, 4);
}

TEST(HostilePeersTest, MaxSessionsPerUserIsTheLimitOfOneUser) {
    NEEDS_ROOT();
    TestUser user("f");
    TestPool::Options options;
    options.extra_args = {"--max-sessions", "8",        "--max-sessions-per-user", "2",
                          "--allow-user",   user.name()};
    ASSERT_TRUE(options_accepted(options.extra_args));
    TestPool pool(options);
    open_directory(pool);
    expect_limited_per_user(pool, user, 2);
}

// ---------------------------------------------------------------------------------------------
// F. Sessions that fill the queue shared by all.

TEST(HostilePeersTest, SessionsThatFillTheQueueDelayOnlyThemselves) {
    // Reply rings that hold only a few of the largest inline replies.
    TestPool::Options options;
    options.extra_args = {"--queue-capacity", "4096", "--reply-ring", "256KiB",
                          "--inline-max",     "60000", "--grace-period", "1"};
    TestPool pool(options);
    const pid_t supervisor = pool.pid();

    // Hostile sessions submit as fast as the pool takes them, jobs with large arguments and
    // large replies that they never read: once a few replies fill their rings, none of their
    // jobs can go to a worker any more, and the rest wait in the queue. (Their jobs do not
    // compete for workers, so only the queue decides whether the honest client is served.)
    const std::string batch = batch_payload(58, 58, std::string(1000, 'q'));  // echoed: 58 KiB back
    std::vector<std::unique_ptr<RawSession>> hostiles;
    for (int i = 0; i < 3; ++i) {
        hostiles.push_back(std::make_unique<RawSession>(pool.control_socket(), "filler"));
    }
    // Connected after them: it gets the highest session slot.
    Client honest = pool.connect();
    std::vector<Pair> inputs;
    for (int i = 0; i < 1000; ++i) inputs.push_back({6 * (i % 50 + 1), 4 * (i % 50 + 1)});

    std::atomic<bool> stop{false};
    std::thread filling([&] {
        while (!stop) {
            bool any = false;
            for (auto& hostile : hostiles) any |= try_submit(*hostile, "echo", batch, kJobJson | kJobBatch);
            if (!any) std::this_thread::sleep_for(1ms);
        }
    });
    std::this_thread::sleep_for(500ms);  // the queue fills first

    std::atomic<bool> honest_done{false};
    std::string honest_error;
    std::vector<std::int64_t> results;
    std::thread mapping([&] {
        try {
            results = honest.map<std::int64_t>("gcd", inputs);
        } catch (const std::exception& e) {
            honest_error = e.what();
        }
        honest_done = true;
    });
    OnExit cleanup([&] {
        stop = true;
        filling.join();
        hostiles.clear();  // their queued jobs go with their sessions
        if (!wait_until([&] { return honest_done.load(); }, 30s)) pool.signal(SIGKILL);
        mapping.join();
    });

    const auto started = std::chrono::steady_clock::now();
    std::int64_t max_rss = rss_bytes(supervisor);
    while (!honest_done && std::chrono::steady_clock::now() - started < 30s) {
        max_rss = std::max(max_rss, rss_bytes(supervisor));
        std::this_thread::sleep_for(100ms);
    }
    max_rss = std::max(max_rss, rss_bytes(supervisor));
    const double took =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    const std::uint64_t queued = pool.status()["queue"]["depth"];
    EXPECT_TRUE(honest_done)
        << "a map of 1000 items did not finish within 30 s beside three sessions filling the "
           "queue (queue depth "
        << queued << ")";
    if (!kSanitized) {
        EXPECT_LT(max_rss, 64 << 20) << "the supervisor's resident memory reached " << (max_rss >> 20) << " MiB";
    }
    if (honest_done) {
        EXPECT_EQ(honest_error, "");
        ASSERT_EQ(results.size(), inputs.size());
        for (std::size_t i = 0; i < inputs.size(); ++i)
            ASSERT_EQ(results[i], 2 * (static_cast<int>(i) % 50 + 1)) << i;
        std::printf("honest map of 1000 items took %.2f s; supervisor RSS at most %lld MiB\n", took,
                    static_cast<long long>(max_rss >> 20));
    }
}

// ---------------------------------------------------------------------------------------------
// G. A batch that claims more items than it holds.

TEST(HostilePeersTest, ABatchClaimingMoreItemsThanItHoldsCountsAsOneJob) {
    TestPool pool;
    RawSession raw(pool.control_socket(), "batch-liar");
    const auto before = pool.settled_status()["jobs"];

    const std::string payload = batch_payload(1u << 20, 1, "[12, 18]");  // claims 2^20 items, holds one

    constexpr int kRecords = 1000;
    int sent = 0;
    int replies = 0;
    int bad_requests = 0;
    std::string other;
    const auto deadline = std::chrono::steady_clock::now() + 60s;
    while (replies < kRecords && std::chrono::steady_clock::now() < deadline) {
        while (sent < kRecords && try_submit(raw, "gcd", payload, kJobJson | kJobBatch)) ++sent;
        const std::size_t got = take_replies(raw, [&](std::size_t, const ReplyRecord& reply) {
            if (reply.status == static_cast<std::uint16_t>(ErrorKind::bad_request)) {
                ++bad_requests;
            } else if (other.empty()) {
                other = "status " + std::to_string(reply.status);
            }
        });
        replies += static_cast<int>(got);
        if (got == 0) std::this_thread::sleep_for(1ms);
    }
    EXPECT_EQ(replies, kRecords);
    EXPECT_EQ(bad_requests, replies) << "another answer: " << other;

    const auto after = pool.settled_status()["jobs"];
    const std::uint64_t submitted =
        after["submitted"].get<std::uint64_t>() - before["submitted"].get<std::uint64_t>();
    const std::uint64_t failed = after["failed_by_kind"]["bad_request"].get<std::uint64_t>() -
                                 before["failed_by_kind"]["bad_request"].get<std::uint64_t>();
    EXPECT_LE(submitted, static_cast<std::uint64_t>(kRecords))
        << "jobs.submitted grew by " << submitted;
    EXPECT_LE(failed, static_cast<std::uint64_t>(kRecords))
        << "jobs.failed_by_kind.bad_request grew by " << failed;
}

// ---------------------------------------------------------------------------------------------
// H. A configuration naming what does not exist is refused at start, as a usage error.

TEST(HostilePeersTest, ConfigurationErrorsFoundAtStartAreUsageErrors) {
    TempDir files("badconfig");
    const std::string not_a_library = files / "not-a-library.so";
    write_file(not_a_library, "this is not a shared library\n");
    const std::string missing_library = files / "missing/libnothing.so";
    struct Case {
        std::vector<std::string> args;
        std::string named;  // the message must name it
    };
    const std::vector<Case> cases = {
        {{"--group", "no-such-group-xyz"}, "no-such-group-xyz"},
        {{"--allow-user", "no-such-user-xyz"}, "no-such-user-xyz"},
        {{"--allow-group", "no-such-group-xyz"}, "no-such-group-xyz"},
        {{"--jobs", missing_library}, missing_library},
        {{"--jobs", not_a_library}, not_a_library},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(c.args[0] + " " + c.args[1]);
        TempDir runtime("badconfig-run");
        const CommandResult r = run_daemon(unique_name("badconfig"), runtime.path(), c.args, 20s);
        EXPECT_EQ(r.exit_code, 64) << r.err;
        EXPECT_NE(r.err.find(c.named), std::string::npos) << r.err;
    }
}

}  // namespace
}  // namespace warmpool::testing
