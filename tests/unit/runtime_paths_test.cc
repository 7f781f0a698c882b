// Tests for runtime_paths.hpp: the file names of a pool, the default directory, and where a
// command finds a pool it was given no directory for.

#include "warmpool/common/runtime_paths.hpp"

#include <stdlib.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "scratch_dir.hpp"

namespace warmpool {
namespace {

using testing::ScratchDir;

// Sets an environment variable for one test, restoring it after.
class ScopedEnv {
public:
    ScopedEnv(const char* name, const char* value) : name_(name) {
        if (const char* old = std::getenv(name)) old_ = old;
        if (value != nullptr) {
            ::setenv(name, value, 1);
        } else {
            ::unsetenv(name);
        }
    }
    ~ScopedEnv() {
        if (old_) {
            ::setenv(name_, old_->c_str(), 1);
        } else {
            ::unsetenv(name_);
        }
    }

private:
    const char* name_;
    std::optional<std::string> old_;
};

TEST(RuntimePaths, ThePoolsFiles) {
    const PoolPaths paths = PoolPaths::in("/run/x", "p");
    EXPECT_EQ(paths.control_socket, "/run/x/p.sock");
    EXPECT_EQ(paths.status_socket, "/run/x/p.status");
    EXPECT_EQ(paths.lock_file, "/run/x/p.lock");
}

TEST(RuntimePaths, TheDefaultDirectory) {
    ScopedEnv runtime("WARMPOOL_RUNTIME_DIR", nullptr);
    {
        ScopedEnv xdg("XDG_RUNTIME_DIR", "/run/user/1000");
        EXPECT_EQ(default_runtime_dir(), "/run/user/1000/warmpool");
        EXPECT_EQ(runtime_dir_candidates(), (std::vector<std::string>{"/run/user/1000/warmpool", "/run/warmpool"}));
    }
    ScopedEnv xdg("XDG_RUNTIME_DIR", nullptr);
    EXPECT_EQ(default_runtime_dir(), "/tmp/warmpool-" + std::to_string(::getuid()));
    ScopedEnv explicit_dir("WARMPOOL_RUNTIME_DIR", "/srv/pools");
    EXPECT_EQ(default_runtime_dir(), "/srv/pools");
    EXPECT_EQ(runtime_dir_candidates(), (std::vector<std::string>{"/srv/pools"})) << "set: the only place";
}

TEST(RuntimePaths, APoolIsFoundWhereItsSocketsAre) {
    ScratchDir mine("runtime-mine");
    ScratchDir system("runtime-system");
    const std::vector<std::string> candidates{mine.dir(), system.dir()};
    EXPECT_EQ(locate_runtime_dir("svc", candidates), mine.dir()) << "nowhere: the first";
    system.write("svc.status", "");
    EXPECT_EQ(locate_runtime_dir("svc", candidates), system.dir());
    mine.write("svc.sock", "");
    EXPECT_EQ(locate_runtime_dir("svc", candidates), mine.dir()) << "the user's own first";
    EXPECT_EQ(locate_runtime_dir("other", candidates), mine.dir());
}

}  // namespace
}  // namespace warmpool
