#include "warmpool/daemon/access_policy.hpp"

#include <grp.h>
#include <pwd.h>

#include <algorithm>

#include "warmpool/common/shm_layout.hpp"

namespace warmpool {

Result<AccessPolicy> AccessPolicy::resolve(const PoolConfig& config, uid_t owner) {
    std::vector<uid_t> uids;
    std::vector<gid_t> gids;
    gid_t socket_group = static_cast<gid_t>(-1);
    if (!config.group.empty()) {
        group* g = ::getgrnam(config.group.c_str());
        if (g == nullptr) return make_error(SysError::Code::not_found, "no group '" + config.group + "'");
        socket_group = g->gr_gid;
        gids.push_back(g->gr_gid);
    }
    for (const auto& name : config.allow_users) {
        passwd* p = ::getpwnam(name.c_str());
        if (p == nullptr) return make_error(SysError::Code::not_found, "no user '" + name + "'");
        uids.push_back(p->pw_uid);
    }
    for (const auto& name : config.allow_groups) {
        group* g = ::getgrnam(name.c_str());
        if (g == nullptr) return make_error(SysError::Code::not_found, "no group '" + name + "'");
        gids.push_back(g->gr_gid);
    }
    AccessPolicy policy(owner, std::move(uids), std::move(gids), config.python_pickle);
    policy.socket_group_ = socket_group;
    return policy;
}

bool AccessPolicy::may_connect(const PeerCredentials& peer, std::span<const gid_t> supplementary) const {
    if (peer.uid == owner_ || peer.uid == 0) return true;
    if (std::find(uids_.begin(), uids_.end(), peer.uid) != uids_.end()) return true;
    auto allowed = [&](gid_t g) { return std::find(gids_.begin(), gids_.end(), g) != gids_.end(); };
    return allowed(peer.gid) || std::any_of(supplementary.begin(), supplementary.end(), allowed);
}

std::uint32_t AccessPolicy::session_trust(const PeerCredentials& peer) const {
    bool may_unpickle = false;
    if (pickle_ == "allowed") {
        may_unpickle = true;  // whoever got a session was allowed to connect
    } else if (pickle_ == "owner") {
        may_unpickle = peer.uid == owner_ || peer.uid == 0;
    }
    return may_unpickle ? std::uint32_t{kSessionMayUnpickle} : 0u;
}

}  // namespace warmpool
