// The control-socket wire format: every message a client and the supervisor exchange over the
// pool's Unix socket is defined here, and nowhere else. docs/PROTOCOL.md lists them.
//
// A frame is a FrameHeader followed by `length` bytes of Cereal binary (the message body).
// Jobs themselves never travel over the socket: they go through shared memory (shm_layout.hpp).
// The socket carries session set-up, cancellation and admin commands, and its closing is how
// each side learns that the other went away.
#pragma once

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
inline constexpr std::uint16_t kProtocolVersion = 1;
inline constexpr std::uint32_t kMaxFrameBody = 64 * 1024;

enum class MessageType : std::uint16_t {
    hello = 1,     // client -> supervisor: first frame of a connection
    welcome = 2,   // supervisor -> client: session granted (+ eventfd via SCM_RIGHTS)
    refused = 3,   // supervisor -> client: no session; the connection then closes
    cancel = 4,    // client -> supervisor: cancel a job by id
    admin = 5,     // client -> supervisor: an admin command
    admin_reply = 6,  // supervisor -> client
    goodbye = 7,   // client -> supervisor: orderly end of the session
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

struct Welcome {
    std::uint32_t session_slot = 0;
    std::uint64_t session_generation = 0;
    std::string session_segment;  // name of the session's shared-memory segment
    std::string pool_name;
    std::uint32_t owner_uid = 0;     // the daemon's uid: names of blob objects
    std::uint32_t blob_gid = 0;      // group that blob objects must carry
    std::uint32_t blob_mode = 0660;
    std::int32_t supervisor_pid = 0;
    std::uint32_t worker_slots = 0;
    std::uint64_t submit_ring_bytes = 0;
    std::uint64_t control_ring_bytes = 0;
    std::uint64_t reply_ring_bytes = 0;
    std::uint32_t inline_max = 0;  // larger payloads go in blobs
    template <class A>
    void serialize(A& ar) {
        ar(session_slot, session_generation, session_segment, pool_name, owner_uid, blob_gid,
           blob_mode, supervisor_pid, worker_slots, submit_ring_bytes, control_ring_bytes,
           reply_ring_bytes, inline_max);
    }
};

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

struct Goodbye {
    template <class A>
    void serialize(A&) {}
};

template <class T> constexpr MessageType type_of();
template <> constexpr MessageType type_of<Hello>() { return MessageType::hello; }
template <> constexpr MessageType type_of<Welcome>() { return MessageType::welcome; }
template <> constexpr MessageType type_of<Refused>() { return MessageType::refused; }
template <> constexpr MessageType type_of<Cancel>() { return MessageType::cancel; }
template <> constexpr MessageType type_of<Admin>() { return MessageType::admin; }
template <> constexpr MessageType type_of<AdminReply>() { return MessageType::admin_reply; }
template <> constexpr MessageType type_of<Goodbye>() { return MessageType::goodbye; }

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
