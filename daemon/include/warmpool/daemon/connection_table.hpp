// ConnectionTable: the supervisor's listening sockets and the connections accepted on them.
//
// It owns the control and status listening sockets, every accepted connection (its descriptor,
// its frame reader, the peer's credentials and supplementary groups as the kernel recorded them
// at connect, descriptors passed with frames not yet taken), the one answer a status, admin or
// refused connection is owed (an Outbox, written only as fast as the peer reads, never blocking
// the loop), and a spare descriptor to refuse peers with when the process runs out.
//
// It registers its descriptors in the supervisor's epoll set (epoll_tags.hpp) and decides
// nothing about what a request means: next() hands each complete request to the supervisor as
// a value, and close() hands back the session a connection held, for the supervisor to close.
// The supervisor's one thread only. Touches no shared memory.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "warmpool/common/protocol.hpp"
#include "warmpool/common/sys_result.hpp"
#include "warmpool/common/unique_fd.hpp"
#include "warmpool/common/unix_socket.hpp"
#include "warmpool/daemon/outbox.hpp"

namespace warmpool {

class ConnectionTable {
public:
    struct Connection {
        UniqueFd fd;
        protocol::FrameReader reader;
        PeerCredentials peer;
        std::vector<gid_t> groups;  // supplementary, as the kernel recorded them at connect
        int session = -1;           // slot once the Hello is accepted
        bool status = false;        // a status-socket connection
        std::string status_request;
        std::int64_t accepted_ns = 0;
        std::vector<UniqueFd> passed_fds;  // received, not yet claimed by their frame
        // A one-answer connection (status, admin, refusal) whose answer is going out: nothing
        // more is read from it, and it closes once the answer is out or overdue.
        bool answering = false;
        Outbox outbox;
        std::string close_reason;
    };

    // A complete request read from a connection, or why it must close.
    struct Request {
        enum class Kind { none, frame, status, close } kind = Kind::none;
        protocol::Frame frame;     // kind frame
        std::string status;        // kind status: the request line, trimmed
        std::string close_reason;  // kind close
    };

    // Creates the sockets at `control_path` and `status_path` and watches them in `epoll_fd`.
    Status listen(int epoll_fd, const std::string& control_path, const std::string& status_path, unsigned mode,
                  gid_t group);
    // No new connections: the listening sockets go (their paths are the caller's to remove).
    void stop_listening();
    int listener(bool status) const { return status ? status_listen_.get() : control_listen_.get(); }

    // Accepts every peer waiting on the listening socket of that kind.
    void accept(bool status, std::int64_t now);
    // The listening sockets were paused for want of descriptors: watch them again.
    void resume_listening();

    Connection* find(int fd);
    // Reads what the peer sent and returns its next complete request; Kind::none once it has
    // nothing more for now. A connection that is answering is not read.
    Request next(int fd);
    // Queues the connection's one answer and makes it a write-only connection that closes once the
    // answer is out (continue_answer()) or overdue (expired()).
    void answer(Connection& conn, std::string bytes, std::string close_reason, std::int64_t now);
    // Writes more of an answer the peer has room for. Returns true (and the reason) if the
    // connection is done and should be closed.
    bool continue_answer(int fd, std::string& close_reason);
    // Forgets the connection. Returns the session slot it held, or -1.
    int close(int fd);
    // Connections to close now, with why: a peer that said nothing within the hello timeout, an
    // answer the peer did not take in time.
    std::vector<std::pair<int, std::string>> expired(std::int64_t now) const;
    std::size_t size() const { return connections_.size(); }

private:
    void accept_out_of_descriptors(int listen_fd, std::int64_t now);
    void watch_listeners(bool watch);

    int epoll_ = -1;
    UniqueFd control_listen_;
    UniqueFd status_listen_;
    // Held open so that, out of descriptors, one can be freed to accept and refuse a waiting peer
    // (a listening socket with a backlog would otherwise wake the loop for ever).
    UniqueFd spare_;
    bool listeners_paused_ = false;
    std::int64_t last_fd_warning_ns_ = 0;
    std::unordered_map<int, Connection> connections_;
};

}  // namespace warmpool
