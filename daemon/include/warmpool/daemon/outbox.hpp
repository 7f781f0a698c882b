// Outbox: the bytes the supervisor still owes one peer on a stream socket, written only as fast
// as the peer takes them.
//
// Owned by one connection of the supervisor and used from its one loop thread. flush() makes
// non-blocking writes until everything is out or the socket is full, and never waits: the loop
// calls it again when the socket reports room (EPOLLOUT). A peer that stops reading is the
// owner's to drop once `overdue()`, so no peer can hold the loop, and what one peer is owed is
// bounded by the one answer put here.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace warmpool {

class Outbox {
public:
    enum class Flush {
        done,     // everything was sent
        pending,  // the socket is full: call again when it has room
        failed,   // the peer is gone (or the socket broke): drop the connection
    };

    // Queues `bytes` behind whatever is still pending; they must be out by `deadline_ns`.
    void put(std::string bytes, std::int64_t deadline_ns);
    Flush flush(int fd);

    bool empty() const { return sent_ == bytes_.size(); }
    std::size_t pending_bytes() const { return bytes_.size() - sent_; }
    bool overdue(std::int64_t now_ns) const { return !empty() && now_ns > deadline_ns_; }

private:
    std::string bytes_;
    std::size_t sent_ = 0;
    std::int64_t deadline_ns_ = 0;
};

}  // namespace warmpool
