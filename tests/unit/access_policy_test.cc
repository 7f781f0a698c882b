// Tests for AccessPolicy (access_policy.hpp): who may connect, who may administer, which sessions
// may send pickle, and resolve()'s look-up of the configuration's user and group names.

#include "warmpool/daemon/access_policy.hpp"

#include <gtest/gtest.h>

#include <vector>

#include "warmpool/common/shm_layout.hpp"

namespace warmpool {
namespace {

constexpr uid_t kOwner = 1000;

PeerCredentials peer(uid_t uid, gid_t gid) {
    PeerCredentials p;
    p.pid = 4242;
    p.uid = uid;
    p.gid = gid;
    return p;
}

AccessPolicy policy(std::string pickle = "owner") {
    // Users 2001 and 2002 allowed by name; groups 3001 and 3002 by name.
    return AccessPolicy(kOwner, {2001, 2002}, {3001, 3002}, std::move(pickle));
}

TEST(AccessPolicy, OwnerAndRootMayAlwaysConnect) {
    const AccessPolicy p(kOwner, {}, {}, "owner");
    EXPECT_TRUE(p.may_connect(peer(kOwner, 5555), {}));
    EXPECT_TRUE(p.may_connect(peer(0, 5555), {}));
    EXPECT_FALSE(p.may_connect(peer(kOwner + 1, 5555), {}));
}

TEST(AccessPolicy, AllowedUidConnects) {
    const AccessPolicy p = policy();
    EXPECT_TRUE(p.may_connect(peer(2001, 9000), {}));
    EXPECT_TRUE(p.may_connect(peer(2002, 9000), {}));
    EXPECT_FALSE(p.may_connect(peer(2003, 9000), {}));
}

TEST(AccessPolicy, AllowedPrimaryGroupConnects) {
    const AccessPolicy p = policy();
    EXPECT_TRUE(p.may_connect(peer(7000, 3001), {}));
    EXPECT_TRUE(p.may_connect(peer(7000, 3002), {}));
    EXPECT_FALSE(p.may_connect(peer(7000, 3003), {}));
}

TEST(AccessPolicy, AllowedSupplementaryGroupConnects) {
    const AccessPolicy p = policy();
    const std::vector<gid_t> with_allowed{10, 20, 3002, 30};
    const std::vector<gid_t> without{10, 20, 30};
    EXPECT_TRUE(p.may_connect(peer(7000, 9000), with_allowed));
    EXPECT_FALSE(p.may_connect(peer(7000, 9000), without));
}

TEST(AccessPolicy, OthersAreRefused) {
    const AccessPolicy p = policy();
    // A uid that equals an allowed gid is not thereby allowed, nor a gid equal to an allowed uid.
    EXPECT_FALSE(p.may_connect(peer(3001, 2001), std::vector<gid_t>{2002}));
    EXPECT_FALSE(p.may_connect(peer(65534, 65534), {}));
    // A default policy allows root only (its owner is root).
    const AccessPolicy none;
    EXPECT_FALSE(none.may_connect(peer(kOwner, 0), {}));
    EXPECT_TRUE(none.may_connect(peer(0, 1), {}));
}

TEST(AccessPolicy, OnlyOwnerAndRootAdminister) {
    const AccessPolicy p = policy();
    EXPECT_TRUE(p.may_administer(peer(kOwner, 1)));
    EXPECT_TRUE(p.may_administer(peer(0, 1)));
    EXPECT_FALSE(p.may_administer(peer(2001, 3001)));  // allowed to connect, not to administer
    EXPECT_FALSE(p.may_administer(peer(7000, 3001)));
}

TEST(AccessPolicy, PickleForTheOwner) {
    const AccessPolicy p = policy("owner");
    EXPECT_EQ(p.session_trust(peer(kOwner, 1)), std::uint32_t{kSessionMayUnpickle});
    EXPECT_EQ(p.session_trust(peer(0, 1)), std::uint32_t{kSessionMayUnpickle});
    EXPECT_EQ(p.session_trust(peer(2001, 3001)), 0u);
}

TEST(AccessPolicy, PickleForEveryoneAllowed) {
    const AccessPolicy p = policy("allowed");
    EXPECT_EQ(p.session_trust(peer(kOwner, 1)), std::uint32_t{kSessionMayUnpickle});
    EXPECT_EQ(p.session_trust(peer(2001, 3001)), std::uint32_t{kSessionMayUnpickle});
    EXPECT_EQ(p.session_trust(peer(7000, 3002)), std::uint32_t{kSessionMayUnpickle});
}

TEST(AccessPolicy, PickleNever) {
    const AccessPolicy p = policy("never");
    EXPECT_EQ(p.session_trust(peer(kOwner, 1)), 0u);
    EXPECT_EQ(p.session_trust(peer(0, 0)), 0u);
    EXPECT_EQ(p.session_trust(peer(2001, 3001)), 0u);
}

TEST(AccessPolicy, ResolveWithoutNames) {
    PoolConfig config;
    auto resolved = AccessPolicy::resolve(config, kOwner);
    ASSERT_TRUE(resolved) << resolved.error().message();
    EXPECT_EQ(resolved->socket_group(), static_cast<gid_t>(-1));
    EXPECT_TRUE(resolved->may_connect(peer(kOwner, 5), {}));
    EXPECT_FALSE(resolved->may_connect(peer(kOwner + 1, 5), {}));
    // python_pickle is taken from the configuration ("owner" by default).
    EXPECT_EQ(resolved->session_trust(peer(kOwner, 5)), std::uint32_t{kSessionMayUnpickle});
}

TEST(AccessPolicy, ResolveNamesThatExist) {
    // root (uid 0, group 0) exists everywhere.
    PoolConfig config;
    config.group = "root";
    config.allow_users = {"root"};
    config.allow_groups = {"root"};
    config.python_pickle = "never";
    auto resolved = AccessPolicy::resolve(config, kOwner);
    ASSERT_TRUE(resolved) << resolved.error().message();
    EXPECT_EQ(resolved->socket_group(), gid_t{0});
    // `group` members may connect too: a stranger whose primary or supplementary group is 0.
    EXPECT_TRUE(resolved->may_connect(peer(7000, 0), {}));
    EXPECT_TRUE(resolved->may_connect(peer(7000, 9), std::vector<gid_t>{0}));
    EXPECT_FALSE(resolved->may_connect(peer(7000, 9), {}));
    EXPECT_EQ(resolved->session_trust(peer(kOwner, 5)), 0u);
}

TEST(AccessPolicy, ResolveAllowGroupsAloneLeavesTheSocketGroup) {
    PoolConfig config;
    config.allow_groups = {"root"};
    auto resolved = AccessPolicy::resolve(config, kOwner);
    ASSERT_TRUE(resolved) << resolved.error().message();
    EXPECT_EQ(resolved->socket_group(), static_cast<gid_t>(-1));
    EXPECT_TRUE(resolved->may_connect(peer(7000, 0), {}));
}

TEST(AccessPolicy, ResolveRefusesNamesThatDoNotExist) {
    const std::string missing = "warmpool-no-such-name-7f3a";
    {
        PoolConfig config;
        config.allow_users = {"root", missing};
        auto resolved = AccessPolicy::resolve(config, kOwner);
        ASSERT_FALSE(resolved);
        EXPECT_EQ(resolved.error().code, SysError::Code::not_found);
        EXPECT_NE(resolved.error().message().find("no user '" + missing + "'"), std::string::npos)
            << resolved.error().message();
    }
    {
        PoolConfig config;
        config.allow_groups = {missing};
        auto resolved = AccessPolicy::resolve(config, kOwner);
        ASSERT_FALSE(resolved);
        EXPECT_EQ(resolved.error().code, SysError::Code::not_found);
        EXPECT_NE(resolved.error().message().find("no group '" + missing + "'"), std::string::npos);
    }
    {
        PoolConfig config;
        config.group = missing;
        auto resolved = AccessPolicy::resolve(config, kOwner);
        ASSERT_FALSE(resolved);
        EXPECT_EQ(resolved.error().code, SysError::Code::not_found);
    }
}

}  // namespace
}  // namespace warmpool
