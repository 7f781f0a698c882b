// DescriptorBroker: hands out the descriptors of shared memory. Nothing of the pool's shared
// memory has a name (shared_segment.hpp), so a process reaches an object only through a
// descriptor someone gave it:
//
//   * a session's segment: given to a worker when the worker first asks for it
//     (protocol::WorkerWant; its client got it with the Welcome);
//   * a client's argument blobs: offered by the client (protocol::BlobOffer) before a job names
//     one, given to the worker that asks;
//   * a worker's result blobs: offered over its channel (protocol::ResultOffer) before a reply
//     names one, given to the session's client when it asks (protocol::BlobWant).
//
// So no peer can open another session's memory: it is never given a descriptor of it.
//
// It owns each worker's channel (the socket, its reader, descriptors received and not yet
// claimed: the WorkerSlot's channel fields) and decides what each request gets. The blob
// descriptors themselves are kept in the session's SessionSlot. It writes nothing in shared
// memory. The supervisor's one thread only; it calls back, through Peers, only to read a
// client's pending requests (an offer asked for may be in flight) and to pass on the function
// settings a worker declares. The list of functions a worker serves it hands to the
// FunctionCatalog.
#pragma once

#include <sys/types.h>

#include <string>

#include "warmpool/common/protocol.hpp"
#include "warmpool/common/sys_result.hpp"
#include "warmpool/common/unique_fd.hpp"
#include "warmpool/daemon/connection_table.hpp"
#include "warmpool/daemon/function_catalog.hpp"
#include "warmpool/daemon/session_table.hpp"
#include "warmpool/daemon/worker_slots.hpp"

namespace warmpool {

class DescriptorBroker {
public:
    class Peers {
    public:
        // Reads and handles what the client on connection `fd` has sent, now.
        virtual void read_client(int fd) = 0;
        // The worker in `slot` declared its functions' settings (protocol::FunctionSettings).
        virtual void declared_functions(unsigned slot, const protocol::FunctionSettings& settings) = 0;

    protected:
        ~Peers() = default;
    };

    // The function list a worker sends (protocol::FunctionList) goes to `functions`.
    DescriptorBroker(int epoll_fd, WorkerSlots& workers, SessionTable& sessions, FunctionCatalog& functions,
                     Peers& peers);

    // The new worker in `slot` talks to us on `ours`, watched in the epoll set from now on.
    Status open_worker_channel(unsigned slot, UniqueFd ours);
    // Reads and answers what the worker in `slot` sent on its channel.
    void read_worker_channel(unsigned slot);
    // The worker in `slot` is dead: what it still sent is read, and its channel is closed. Its
    // result blobs are kept until their client has read every reply the worker published.
    void close_worker_channel(unsigned slot);
    // Forgets the result blobs of dead workers whose clients have read all their replies (at
    // every housekeeping tick).
    void forget_read_results();
    // Handles a client's blob_* frame; false if it broke the protocol (the caller closes it).
    bool on_blob_frame(ConnectionTable::Connection& conn, SessionSlot& session, const protocol::Frame& frame,
                       std::string& why);

private:
    void on_worker_frame(unsigned slot, const protocol::Frame& frame);
    void answer_worker_want(unsigned slot, const protocol::WorkerWant& want);
    Result<UniqueFd> session_fd_for_worker(const protocol::WorkerWant& want);
    void drop_channel(unsigned slot, const std::string& why);

    int epoll_fd_;
    WorkerSlots& workers_;
    SessionTable& sessions_;
    FunctionCatalog& functions_;
    Peers& peers_;
    int nesting_ = 0;  // how deep answering one request reads another peer's requests
};

}  // namespace warmpool
