// The control-socket wire format: every message a client and the supervisor exchange over the
// pool's Unix socket is defined here, and nowhere else. docs/PROTOCOL.md lists them.
//
// A frame is a FrameHeader followed by `length` bytes of Cereal binary (the message body).
// Jobs themselves never travel over the socket: they go through shared memory (shm_layout.hpp).
// The socket carries session set-up, cancellation and admin commands, the descriptors of the
// session's shared memory (SCM_RIGHTS: nothing of it has a name another process could open),
// and its closing is how each side learns that the other went away.
//
// The same frames run over each worker's channel to the supervisor (a socketpair made at fork),
// for the descriptors a worker needs: its sessions' segments and their argument blobs, asked
// for when first needed, and the result blobs it makes, offered before a reply names them.
#pragma once

#include <cereal/types/common.hpp>
#include <cereal/types/string.hpp>
#include <cereal/types/vector.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "warmpool/bounded_input_archive.hpp"
#include "warmpool/common/sys_result.hpp"

namespace warmpool::protocol {

inline constexpr std::uint32_t kFrameMagic = 0x31435057;  // "WPC1"
inline constexpr std::uint16_t kProtocolVersion = 2;
inline constexpr std::uint32_t kMaxFrameBody = 64 * 1024;

enum class MessageType : std::uint16_t {
    hello = 1,     // client -> supervisor: first frame of a connection
    welcome = 2,   // supervisor -> client: session granted (+ eventfd via SCM_RIGHTS)
    refused = 3,   // supervisor -> client: no session; the connection then closes
    cancel = 4,    // client -> supervisor: cancel a job by id
    admin = 5,     // client -> supervisor: an admin command
    admin_reply = 6,  // supervisor -> client
    goodbye = 7,   // client -> supervisor: orderly end of the session
    blob_offer = 8,    // client -> supervisor: a new argument blob (+ its memfd)
    blob_retire = 9,   // client -> supervisor: an argument blob it will not name again
    blob_want = 10,    // client -> supervisor: the memfd of a worker's result blob, please
    blob_give = 11,    // supervisor -> client: answer to blob_want (+ the memfd, if found)
    worker_want = 12,  // worker -> supervisor: a session's segment or argument blob
    worker_give = 13,  // supervisor -> worker: answer to worker_want (+ the memfd, if found)
    result_offer = 14,   // worker -> supervisor: a new result blob of a session (+ its memfd)
    result_retire = 15,  // worker -> supervisor: a result blob it will not name again
    function_settings = 16,  // worker -> supervisor: settings its functions declare
    function_list = 17,      // worker -> supervisor: the functions it serves, for status
    scale = 18,              // client -> supervisor: set the target worker count (admin)
};

struct FrameHeader {
    std::uint32_t magic;
    std::uint16_t version;
    std::uint16_t type;  // MessageType
    std::uint32_t length;
    std::uint32_t reserved;
};
static_assert(sizeof(FrameHeader) == 16);

struct Hello {
    std::uint32_t protocol_version = kProtocolVersion;
    std::string client_name;  // free text for logs and status (program name)
    template <class A>
    void serialize(A& ar) { ar(protocol_version, client_name); }
};

// Sent with three descriptors, in this order: the session segment (read-write), the session's
// doorbell (an eventfd the client writes to wake the supervisor; nobody else's), and the pool's
// lane board (read-only).
struct Welcome {
    std::uint32_t session_slot = 0;
    std::uint64_t session_generation = 0;
    std::string pool_name;
    std::int32_t supervisor_pid = 0;
    std::uint32_t worker_slots = 0;
    std::uint64_t submit_ring_bytes = 0;
    std::uint64_t control_ring_bytes = 0;
    std::uint64_t reply_ring_bytes = 0;
    std::uint32_t inline_max = 0;  // larger payloads go in blobs
    template <class A>
    void serialize(A& ar) {
        ar(session_slot, session_generation, pool_name, supervisor_pid, worker_slots, submit_ring_bytes,
           control_ring_bytes, reply_ring_bytes, inline_max);
    }
};
inline constexpr std::size_t kWelcomeFds = 3;

struct Refused {
    std::string kind;  // "permission", "shutting_down", "overloaded", "bad_request"
    std::string message;
    template <class A>
    void serialize(A& ar) { ar(kind, message); }
};

struct Cancel {
    std::uint64_t job_id = 0;
    bool force = false;  // also stop a job that is already running
    template <class A>
    void serialize(A& ar) { ar(job_id, force); }
};

struct Admin {
    std::string command;  // "stop", "reload"
    std::vector<std::string> arguments;
    template <class A>
    void serialize(A& ar) { ar(command, arguments); }
};

struct AdminReply {
    bool ok = false;
    std::string message;
    template <class A>
    void serialize(A& ar) { ar(ok, message); }
};

// `warmpool scale N`: the first frame of an admin connection, answered with an AdminReply.
struct Scale {
    std::uint32_t workers = 0;
    template <class A>
    void serialize(A& ar) { ar(workers); }
};

struct Goodbye {
    template <class A>
    void serialize(A&) {}
};

// Blobs (docs/ARCHITECTURE.md, "Blobs"). A producer offers each new blob's memfd to the
// supervisor before any ring record names it; the consumer asks the supervisor for it the
// first time a record does. The supervisor keeps what it was offered until the producer
// retires it or the session ends.
struct BlobOffer {  // + the blob's memfd, sealed against shrinking
    std::uint64_t object = 0;
    template <class A>
    void serialize(A& ar) { ar(object); }
};

struct BlobRetire {
    std::uint64_t object = 0;
    template <class A>
    void serialize(A& ar) { ar(object); }
};

struct BlobWant {
    std::int32_t worker_pid = 0;  // the producer, as ReplyRecord::worker_pid names it
    std::uint64_t object = 0;
    template <class A>
    void serialize(A& ar) { ar(worker_pid, object); }
};

struct BlobGive {  // + the memfd when found
    std::int32_t worker_pid = 0;
    std::uint64_t object = 0;
    bool found = false;
    std::string message;  // why not, when not found
    template <class A>
    void serialize(A& ar) { ar(worker_pid, object, found, message); }
};

enum class WorkerWantKind : std::uint8_t { session = 1, argument_blob = 2 };

struct WorkerWant {
    WorkerWantKind kind = WorkerWantKind::session;
    std::uint32_t session_slot = 0;
    std::uint64_t session_generation = 0;
    std::uint64_t object = 0;  // for argument_blob
    template <class A>
    void serialize(A& ar) { ar(kind, session_slot, session_generation, object); }
};

struct WorkerGive {  // + the memfd when found
    bool found = false;
    std::string message;
    template <class A>
    void serialize(A& ar) { ar(found, message); }
};

struct ResultOffer {  // + the blob's memfd
    std::uint32_t session_slot = 0;
    std::uint64_t session_generation = 0;
    std::uint64_t object = 0;
    template <class A>
    void serialize(A& ar) { ar(session_slot, session_generation, object); }
};

struct ResultRetire {
    std::uint32_t session_slot = 0;
    std::uint64_t session_generation = 0;
    std::uint64_t object = 0;
    template <class A>
    void serialize(A& ar) { ar(session_slot, session_generation, object); }
};

// What a worker's functions declare (the job library's FunctionOptions, a Python job's
// @warmpool.job(timeout=, retries=)), sent once, before the worker reports ready (only functions
// that declare something). The supervisor, which never loads the library nor runs Python,
// enforces them as it does [functions.NAME] sections; a section wins over them.
struct FunctionSetting {
    std::string name;           // 1 to kFunctionNameMax bytes of UTF-8
    double timeout_s = -1;      // seconds; negative: none declared (the pool's default)
    std::uint32_t retries = 0;  // extra attempts after a crash (at most 100)
    template <class A>
    void serialize(A& ar) { ar(name, timeout_s, retries); }
};
// At most this many in one message (and one message per worker): it then fits a frame.
inline constexpr std::size_t kMaxFunctionSettings = 512;
struct FunctionSettings {
    std::vector<FunctionSetting> functions;
    template <class A>
    void serialize(A& ar) { ar(functions); }
};

// The functions a worker serves, for status and `warmpool functions`: sent once, before the
// worker reports ready. As many as fit one frame, in name order; `total` says how many there are.
struct FunctionInfo {
    std::string name;       // 1 to kFunctionNameMax bytes of UTF-8
    std::string signature;  // e.g. "(std::pair<long, long>) -> long"; at most kMaxSignatureBytes
    bool python = false;    // a Python job (else the job library's)
    template <class A>
    void serialize(A& ar) { ar(name, signature, python); }
};
inline constexpr std::size_t kMaxSignatureBytes = 256;
struct FunctionList {
    std::vector<FunctionInfo> functions;
    std::uint32_t total = 0;
    template <class A>
    void serialize(A& ar) { ar(functions, total); }
};

template <class T> constexpr MessageType type_of();
template <> constexpr MessageType type_of<Hello>() { return MessageType::hello; }
template <> constexpr MessageType type_of<Welcome>() { return MessageType::welcome; }
template <> constexpr MessageType type_of<Refused>() { return MessageType::refused; }
template <> constexpr MessageType type_of<Cancel>() { return MessageType::cancel; }
template <> constexpr MessageType type_of<Admin>() { return MessageType::admin; }
template <> constexpr MessageType type_of<AdminReply>() { return MessageType::admin_reply; }
template <> constexpr MessageType type_of<Goodbye>() { return MessageType::goodbye; }
template <> constexpr MessageType type_of<BlobOffer>() { return MessageType::blob_offer; }
template <> constexpr MessageType type_of<BlobRetire>() { return MessageType::blob_retire; }
template <> constexpr MessageType type_of<BlobWant>() { return MessageType::blob_want; }
template <> constexpr MessageType type_of<BlobGive>() { return MessageType::blob_give; }
template <> constexpr MessageType type_of<WorkerWant>() { return MessageType::worker_want; }
template <> constexpr MessageType type_of<WorkerGive>() { return MessageType::worker_give; }
template <> constexpr MessageType type_of<ResultOffer>() { return MessageType::result_offer; }
template <> constexpr MessageType type_of<ResultRetire>() { return MessageType::result_retire; }
template <> constexpr MessageType type_of<FunctionSettings>() { return MessageType::function_settings; }
template <> constexpr MessageType type_of<FunctionList>() { return MessageType::function_list; }
template <> constexpr MessageType type_of<Scale>() { return MessageType::scale; }

struct Frame {
    MessageType type{};
    std::string body;
};

template <class T>
std::string encode_body(const T& message) {
    std::string out;
    AppendingOutputArchive archive(out);
    archive(message);
    return out;
}

// Decodes a frame body; an error (never an exception) if it is not a well-formed T. Sizes in
// the body are checked against the body, so a hostile peer cannot make us allocate.
template <class T>
Result<T> decode(const Frame& frame) {
    if (frame.type != type_of<T>()) {
        return make_error(SysError::Code::protocol, "unexpected message type " +
                                                        std::to_string(static_cast<int>(frame.type)));
    }
    try {
        BoundedInputArchive archive(frame.body);
        T message;
        archive(message);
        if (archive.remaining() != 0) {
            return make_error(SysError::Code::protocol, "trailing bytes in message body");
        }
        return message;
    } catch (const std::exception& e) {
        return make_error(SysError::Code::protocol, std::string("malformed message body: ") + e.what());
    }
}

// Serialises a whole frame (header + body).
template <class T>
std::string encode_frame(const T& message) {
    std::string body = encode_body(message);
    FrameHeader header{kFrameMagic, kProtocolVersion, static_cast<std::uint16_t>(type_of<T>()),
                       static_cast<std::uint32_t>(body.size()), 0};
    std::string frame(reinterpret_cast<const char*>(&header), sizeof header);
    frame += body;
    return frame;
}

// Incremental frame parser for a non-blocking reader: feed() bytes as they arrive, then next()
// until it yields nothing. A malformed header is an error; the connection must then be closed.
class FrameReader {
public:
    void feed(const char* data, std::size_t n) { buffer_.append(data, n); }
    // nullopt: need more bytes. An error: the stream is not a warmpool control stream.
    Result<std::optional<Frame>> next();
    std::size_t buffered() const { return buffer_.size(); }

private:
    std::string buffer_;
};

}  // namespace warmpool::protocol
