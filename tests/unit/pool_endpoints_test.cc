// Tests for PoolEndpoints (pool_endpoints.hpp): which runtime directories the daemon accepts,
// the pool's lock (one holder, a symlink refused), leftover socket names of a dead predecessor,
// and the event sources (signals read from the signalfd, the doorbell).

#include "warmpool/daemon/pool_endpoints.hpp"

#include <signal.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "scratch_dir.hpp"
#include "warmpool/common/runtime_paths.hpp"

namespace warmpool {
namespace {

using testing::ScratchDir;

TEST(RuntimeDirTest, AMissingDirectoryIsCreated) {
    ScratchDir scratch("pool-endpoints");
    const std::string dir = scratch.path("run");
    ASSERT_TRUE(check_runtime_dir(dir, ::geteuid()).ok());
    struct stat st{};
    ASSERT_EQ(::stat(dir.c_str(), &st), 0);
    EXPECT_TRUE(S_ISDIR(st.st_mode));
    EXPECT_EQ(st.st_mode & 0777, 0755u);
}

TEST(RuntimeDirTest, ASymlinkIsRefused) {
    ScratchDir scratch("pool-endpoints");
    std::filesystem::create_directory(scratch.path("real"));
    std::filesystem::create_directory_symlink(scratch.path("real"), scratch.path("link"));
    auto st = check_runtime_dir(scratch.path("link"), ::geteuid());
    ASSERT_FALSE(st.ok());
    EXPECT_NE(st.error().message().find("is a symlink"), std::string::npos) << st.error().message();
}

TEST(RuntimeDirTest, AFileIsRefused) {
    ScratchDir scratch("pool-endpoints");
    const std::string file = scratch.write("file", "x");
    auto st = check_runtime_dir(file, ::geteuid());
    ASSERT_FALSE(st.ok());
    EXPECT_NE(st.error().message().find("is not a directory"), std::string::npos) << st.error().message();
}

// Owned by somebody else: refused, unless that is root and the directory is not writable by
// others or is sticky (as /run and /tmp are).
TEST(RuntimeDirTest, OwnedBySomebodyElse) {
    ScratchDir scratch("pool-endpoints");
    const std::string dir = scratch.path("theirs");
    std::filesystem::create_directory(dir);
    const uid_t us = 4242;  // the daemon's uid, as far as the check knows
    ASSERT_EQ(::chown(dir.c_str(), 4343, 4343), 0) << "the tests run as root";
    auto st = check_runtime_dir(dir, us);
    ASSERT_FALSE(st.ok());
    EXPECT_NE(st.error().message().find("belongs to uid 4343"), std::string::npos) << st.error().message();

    ASSERT_EQ(::chown(dir.c_str(), 0, 0), 0);
    ASSERT_EQ(::chmod(dir.c_str(), 0755), 0);
    EXPECT_TRUE(check_runtime_dir(dir, us).ok()) << "root's, writable by root only";
    ASSERT_EQ(::chmod(dir.c_str(), 0777), 0);
    st = check_runtime_dir(dir, us);
    ASSERT_FALSE(st.ok());
    EXPECT_NE(st.error().message().find("writable by others and not sticky"), std::string::npos);
    ASSERT_EQ(::chmod(dir.c_str(), 01777), 0);
    EXPECT_TRUE(check_runtime_dir(dir, us).ok()) << "sticky, as /tmp";
}

TEST(PoolEndpointsTest, OneHolderOfThePoolsLock) {
    ScratchDir scratch("pool-endpoints");
    PoolEndpoints first;
    ASSERT_TRUE(first.open(scratch.dir(), "p", 200).ok());
    const auto paths = PoolPaths::in(scratch.dir(), "p");
    EXPECT_EQ(first.control_path(), paths.control_socket);
    EXPECT_EQ(first.status_path(), paths.status_socket);
    std::ifstream lock(paths.lock_file);
    pid_t written = 0;
    lock >> written;
    EXPECT_EQ(written, ::getpid());

    PoolEndpoints second;
    auto st = second.open(scratch.dir(), "p", 200);
    ASSERT_FALSE(st.ok());
    EXPECT_NE(st.error().message().find("pool 'p' is already running (pid " + std::to_string(::getpid())),
              std::string::npos)
        << st.error().message();

    PoolEndpoints other_name;
    EXPECT_TRUE(other_name.open(scratch.dir(), "q", 200).ok()) << "another pool, another lock";
}

TEST(PoolEndpointsTest, ALockFileSymlinkIsRefused) {
    ScratchDir scratch("pool-endpoints");
    const auto paths = PoolPaths::in(scratch.dir(), "p");
    const std::string target = scratch.write("target", "keep me");
    std::filesystem::create_symlink(target, paths.lock_file);
    PoolEndpoints endpoints;
    auto st = endpoints.open(scratch.dir(), "p", 200);
    ASSERT_FALSE(st.ok());
    EXPECT_NE(st.error().message().find("is a symlink"), std::string::npos) << st.error().message();
    EXPECT_EQ(scratch.lines("target").at(0), "keep me");
}

// The socket names a dead predecessor left are removed once the lock is ours; ours go with us.
TEST(PoolEndpointsTest, SocketNamesAreRemovedBeforeAndAfter) {
    ScratchDir scratch("pool-endpoints");
    const auto paths = PoolPaths::in(scratch.dir(), "p");
    scratch.write(std::filesystem::path(paths.control_socket).filename(), "left over");
    scratch.write(std::filesystem::path(paths.status_socket).filename(), "left over");
    {
        PoolEndpoints endpoints;
        ASSERT_TRUE(endpoints.open(scratch.dir(), "p", 200).ok());
        EXPECT_FALSE(std::filesystem::exists(paths.control_socket));
        EXPECT_FALSE(std::filesystem::exists(paths.status_socket));
        scratch.write(std::filesystem::path(paths.control_socket).filename(), "ours");
        endpoints.remove_sockets();
        EXPECT_FALSE(std::filesystem::exists(paths.control_socket));
        scratch.write(std::filesystem::path(paths.status_socket).filename(), "a successor's");
    }
    EXPECT_TRUE(std::filesystem::exists(paths.status_socket)) << "removed once only: a successor may own it now";
}

TEST(PoolEndpointsTest, SignalsAreReadFromTheSignalfd) {
    ScratchDir scratch("pool-endpoints");
    PoolEndpoints endpoints;
    ASSERT_TRUE(endpoints.open(scratch.dir(), "p", 200).ok());
    EXPECT_TRUE(endpoints.take_signals().empty());
    ASSERT_EQ(::kill(::getpid(), SIGHUP), 0);  // blocked: it waits in the signalfd
    ASSERT_EQ(::kill(::getpid(), SIGTERM), 0);
    const std::vector<int> delivered = endpoints.take_signals();
    ASSERT_EQ(delivered.size(), 2u);
    EXPECT_NE(std::find(delivered.begin(), delivered.end(), SIGHUP), delivered.end());
    EXPECT_NE(std::find(delivered.begin(), delivered.end(), SIGTERM), delivered.end());
    EXPECT_TRUE(endpoints.take_signals().empty());

    ASSERT_EQ(::eventfd_write(endpoints.doorbell(), 3), 0);
    PoolEndpoints::take_doorbell(endpoints.doorbell());
    eventfd_t count = 0;
    EXPECT_NE(::eventfd_read(endpoints.doorbell(), &count), 0) << "the count was cleared";
}

}  // namespace
}  // namespace warmpool
