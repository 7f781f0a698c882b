// ClientService: serves what clients ask on their connections.
//
// It owns the ConnectionTable (listening sockets, connections, the outboxes of one-answer
// connections) and decides what each request gets: a Hello opens a session in the SessionTable
// (access, the pool's state, per-user and pool limits, the Welcome with the session's
// descriptors); a session's cancel goes to JobIntake (still waiting) or JobStopper (with a
// worker, with force); its blob frames go to the DescriptorBroker; goodbye, a broken protocol or
// a peer gone closes its connection and begins closing its session. Whatever goes wrong while
// one connection is served ends that connection, never the pool.
//
// Admin commands and status requests are not its to carry out: serve() returns them to the
// supervisor as an Order, which answers a status request through answer(). It writes in shared
// memory only through the SessionTable (opening and closing sessions). The supervisor's one
// thread only.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>

#include "warmpool/common/protocol.hpp"
#include "warmpool/daemon/access_policy.hpp"
#include "warmpool/daemon/connection_table.hpp"
#include "warmpool/daemon/descriptor_broker.hpp"
#include "warmpool/daemon/job_intake.hpp"
#include "warmpool/daemon/job_stopper.hpp"
#include "warmpool/daemon/lanes.hpp"
#include "warmpool/daemon/pool_config.hpp"
#include "warmpool/daemon/pool_counters.hpp"
#include "warmpool/daemon/pool_lifecycle.hpp"
#include "warmpool/daemon/session_table.hpp"

namespace warmpool {

class ClientService {
public:
    // The units it hands requests to; all outlive it.
    struct Units {
        SessionTable& sessions;
        JobIntake& intake;
        JobStopper& stopper;
        DescriptorBroker& broker;
        const Lanes& lanes;
        PoolCounters& counters;
    };
    // `session_seed` makes session generations unguessable across pools and restarts.
    ClientService(const PoolConfig& config, const AccessPolicy& access, int epoll_fd, std::uint64_t session_seed,
                  Units units);

    ConnectionTable& connections() { return connections_; }

    // What the supervisor is to carry out for a client.
    struct Order {
        enum class Kind { none, stop, reload, status, scale } kind = Kind::none;
        int fd = -1;            // status: the connection to answer
        std::string request;    // status: what was asked ("json", "prometheus")
        std::string why;        // stop, reload, scale: who asked
        unsigned workers = 0;   // scale: the target worker count, within the limits
    };
    // Reads and handles what the client on `fd` sent, until it has nothing more for now or a
    // request is the supervisor's to carry out. `state`: where the pool is in its life.
    Order serve(int fd, PoolState state);
    // Sends `bytes` as the peer takes them, then closes the connection.
    void answer(int fd, std::string bytes);
    // Ends the connection and begins closing its session (its queued jobs are dropped).
    void close(int fd, const std::string& why);

private:
    Order serve_unguarded(int fd, PoolState state);
    Order on_frame(ConnectionTable::Connection& conn, const protocol::Frame& frame, PoolState state);
    void open_session(ConnectionTable::Connection& conn, const protocol::Hello& hello, PoolState state);
    Order on_admin(ConnectionTable::Connection& conn, const protocol::Admin& admin, PoolState state);
    Order on_scale(ConnectionTable::Connection& conn, const protocol::Scale& scale, PoolState state);
    void cancel(SessionSlot& session, const protocol::Cancel& cancel);
    void answer_and_close(ConnectionTable::Connection& conn, std::string bytes, const std::string& why);
    void continue_answer(int fd);
    void begin_close_session(unsigned slot, const std::string& why);

    const PoolConfig& config_;
    const AccessPolicy& access_;
    int epoll_fd_;
    std::uint64_t session_seed_;
    std::uint64_t sessions_opened_ = 0;
    Units units_;
    ConnectionTable connections_;
};

}  // namespace warmpool
