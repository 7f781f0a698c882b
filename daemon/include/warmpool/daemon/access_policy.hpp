// AccessPolicy: who may open a session, use admin commands, and send pickle.
//
// The user and group names of the configuration (group, allow_users, allow_groups) are resolved
// to ids by resolve(), at start and at reload, never on the loop: the user database may be slow
// or remote. A peer's ids come from its socket (SO_PEERCRED, SO_PEERGROUPS, read at accept), so
// the decisions themselves are pure and unit-tested.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "warmpool/common/sys_result.hpp"
#include "warmpool/common/unix_socket.hpp"
#include "warmpool/daemon/pool_config.hpp"

namespace warmpool {

class AccessPolicy {
public:
    AccessPolicy() = default;
    // `owner` is the daemon's own uid; the lists are what the configuration's names resolve to.
    AccessPolicy(uid_t owner, std::vector<uid_t> allowed_uids, std::vector<gid_t> allowed_gids,
                 std::string python_pickle)
        : owner_(owner), uids_(std::move(allowed_uids)), gids_(std::move(allowed_gids)),
          pickle_(std::move(python_pickle)) {}

    // Looks the configuration's names up. A name that does not exist is a configuration error.
    static Result<AccessPolicy> resolve(const PoolConfig& config, uid_t owner);

    // The group that owns the sockets (`group`), or -1.
    gid_t socket_group() const { return socket_group_; }
    // The daemon's user and root may always connect; others if their uid, primary group or one
    // of their supplementary groups is allowed.
    bool may_connect(const PeerCredentials& peer, std::span<const gid_t> supplementary) const;
    bool may_administer(const PeerCredentials& peer) const { return peer.uid == owner_ || peer.uid == 0; }
    // SessionTrust bits for a session of `peer` (python.pickle: "owner", "allowed" or "never").
    std::uint32_t session_trust(const PeerCredentials& peer) const;

private:
    uid_t owner_ = 0;
    std::vector<uid_t> uids_;
    std::vector<gid_t> gids_;
    std::string pickle_ = "owner";
    gid_t socket_group_ = static_cast<gid_t>(-1);
};

}  // namespace warmpool
