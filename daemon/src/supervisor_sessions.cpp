// The supervisor's connections and sessions: accepting clients on the control and status
// sockets, reading their frames, opening and closing sessions (SessionTable), one-answer
// connections (status, admin, refusals) answered through an Outbox as the peer takes them, and
// jobs taken in from the sessions' submit rings (supervisor.hpp).
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "epoll_tags.hpp"
#include "warmpool/common/clock.hpp"
#include "warmpool/common/job_checks.hpp"
#include "warmpool/common/utf8.hpp"
#include "warmpool/daemon/supervisor.hpp"

namespace warmpool {

namespace {

using namespace epoll_tag;

constexpr std::size_t kMaxClientNameBytes = 64;  // of a Hello's name, made valid UTF-8

}  // namespace

void Supervisor::answer_and_close(Connection& conn, std::string bytes, const std::string& why) {
    if (conn.session >= 0) {
        begin_close_session(static_cast<unsigned>(conn.session), why);
        conn.session = -1;
    }
    const int fd = conn.fd.get();
    connections_.answer(conn, std::move(bytes), why, monotonic_ns());
    continue_answer(fd);
}

void Supervisor::continue_answer(int fd) {
    std::string why;
    if (connections_.continue_answer(fd, why)) close_connection(fd, why);
}

void Supervisor::close_connection(int fd, const std::string& why) {
    if (const int session = connections_.close(fd); session >= 0) {
        begin_close_session(static_cast<unsigned>(session), why);
    }
}

// Whatever goes wrong while one connection's event is handled ends that connection, never
// the pool: the peer is told nothing more, and everyone else is served on.
void Supervisor::handle_connection_guarded(int fd) {
    try {
        const Connection* conn = connections_.find(fd);
        if (conn != nullptr && conn->answering) return continue_answer(fd);
        handle_connection(fd);
    } catch (const std::exception& e) {
        spdlog::error("internal error while serving a connection ({}); closing it", e.what());
        close_connection(fd, "internal error");
    }
}

void Supervisor::handle_connection(int fd) {
    using Kind = ConnectionTable::Request::Kind;
    for (;;) {
        ConnectionTable::Request request = connections_.next(fd);
        switch (request.kind) {
            case Kind::none: return;
            case Kind::close: close_connection(fd, request.close_reason); return;
            case Kind::status: answer_status(*connections_.find(fd), request.status); return;
            case Kind::frame: on_frame(*connections_.find(fd), request.frame); break;
        }
        const Connection* still = connections_.find(fd);
        if (still == nullptr || still->answering) return;  // closed or answered by the frame
    }
}

void Supervisor::on_frame(Connection& conn, const protocol::Frame& frame) {
    const int fd = conn.fd.get();
    auto refuse = [&](const std::string& kind, const std::string& message) {
        answer_and_close(conn, protocol::encode_frame(protocol::Refused{kind, message}), message);
    };
    if (conn.session < 0) {
        if (frame.type == protocol::MessageType::admin) {
            auto admin = protocol::decode<protocol::Admin>(frame);
            if (!admin) return refuse("bad_request", admin.error().message());
            handle_admin(conn, admin.value());
            return;
        }
        auto hello = protocol::decode<protocol::Hello>(frame);
        if (!hello) return refuse("bad_request", "expected a hello: " + hello.error().message());
        if (hello->protocol_version != protocol::kProtocolVersion) {
            return refuse("bad_request", "protocol version " + std::to_string(hello->protocol_version) +
                                             " is not supported");
        }
        open_session(conn, hello.value());
        return;
    }
    SessionSlot& session = (*sessions_)[static_cast<unsigned>(conn.session)];
    switch (frame.type) {
        case protocol::MessageType::cancel: {
            auto cancel = protocol::decode<protocol::Cancel>(frame);
            if (!cancel) return close_connection(fd, "malformed cancel");
            handle_cancel(session, cancel.value());
            return;
        }
        case protocol::MessageType::goodbye: close_connection(fd, "client said goodbye"); return;
        case protocol::MessageType::blob_offer:
        case protocol::MessageType::blob_retire:
        case protocol::MessageType::blob_want: {
            std::string why;
            if (!on_blob_frame(conn, session, frame, why)) {
                spdlog::warn("session {} (pid {}): {}; closing it", conn.session, conn.peer.pid, why);
                close_connection(fd, why);
            }
            return;
        }
        default: close_connection(fd, "unexpected message"); return;
    }
}

void Supervisor::open_session(Connection& conn, const protocol::Hello& hello) {
    const int fd = conn.fd.get();
    auto refuse = [&](const std::string& kind, const std::string& message) {
        spdlog::warn("refused client pid {} uid {}: {}", conn.peer.pid, conn.peer.uid, message);
        answer_and_close(conn, protocol::encode_frame(protocol::Refused{kind, message}), message);
    };
    const uid_t uid = conn.peer.uid;
    // The peer's groups come from the socket (SO_PEERGROUPS, read at accept): the loop never asks
    // the user database, which may be slow or remote.
    if (!access_.may_connect(conn.peer, conn.groups)) {
        return refuse("permission", "uid " + std::to_string(uid) + " may not use pool '" + config_.name + "'");
    }
    if (state_ == State::stopping || state_ == State::done) {
        return refuse("shutting_down", "pool '" + config_.name + "' is shutting down");
    }
    SessionTable& sessions = *sessions_;
    const std::size_t held = sessions.held_by(uid);
    if (held >= config_.sessions_per_user()) {
        return refuse("overloaded", "uid " + std::to_string(uid) + " holds " + std::to_string(held) +
                                        " sessions, the most per user (max_sessions_per_user)");
    }
    if (sessions.full()) {
        return refuse("overloaded", "all " + std::to_string(sessions.capacity()) + " sessions are in use");
    }
    auto board = lanes_.board_segment().share(SharedSegment::Access::read_only);
    if (!board) return refuse("overloaded", "cannot set up a session: out of descriptors");
    // Generations only tell one session of a slot from the next; nothing is named after them.
    const std::uint64_t generation = pool_generation_ + (++session_counter_ * 0x9e3779b97f4a7c15ULL);
    auto opened = sessions.open(conn.peer, access_.session_trust(conn.peer), generation, config_.name);
    if (!opened) {
        spdlog::error("cannot create the memory of a session for pid {}: {}", conn.peer.pid, opened.error().message());
        return refuse("overloaded", "cannot create session memory: " + opened.error().message());
    }
    const unsigned slot = opened.value();
    SessionSlot& s = sessions[slot];
    s.fd = fd;
    s.client_name = valid_utf8(hello.client_name, kMaxClientNameBytes);
    s.connected_ns = monotonic_ns();
    conn.session = static_cast<int>(slot);
    epoll_event ev{EPOLLIN, {.u64 = tagged(kSessionDoorbell, static_cast<std::uint32_t>(s.doorbell.get()))}};
    if (::epoll_ctl(endpoints_.epoll.get(), EPOLL_CTL_ADD, s.doorbell.get(), &ev) != 0) {
        return refuse("overloaded", "cannot watch a session's doorbell");
    }

    protocol::Welcome welcome;
    welcome.session_slot = slot;
    welcome.session_generation = s.generation;
    welcome.pool_name = config_.name;
    welcome.supervisor_pid = getpid();
    welcome.worker_slots = session_layout_.worker_slots;
    welcome.submit_ring_bytes = session_layout_.submit_ring_bytes;
    welcome.control_ring_bytes = session_layout_.control_ring_bytes;
    welcome.reply_ring_bytes = session_layout_.reply_ring_bytes;
    welcome.inline_max = config_.inline_max;
    // The socket is non-blocking; a Welcome is small and fits the socket buffer.
    auto segment_fd = s.segment.share(SharedSegment::Access::read_write);
    if (!segment_fd) {
        close_connection(fd, "cannot share the session memory: " + segment_fd.error().message());
        return;
    }
    const int passed[protocol::kWelcomeFds] = {segment_fd->get(), s.doorbell.get(), board->get()};
    if (auto st = send_message(fd, welcome, std::span<const int>(passed)); !st) {
        close_connection(fd, "cannot send welcome: " + st.error().message());
        return;
    }
    spdlog::info("session {} opened: pid {} uid {} ({})", slot, conn.peer.pid, conn.peer.uid, s.client_name);
}

void Supervisor::handle_admin(Connection& conn, const protocol::Admin& admin) {
    protocol::AdminReply reply;
    if (!access_.may_administer(conn.peer)) {
        reply.message = "admin commands need the daemon's user or root";
    } else if (admin.command == "stop") {
        reply.ok = true;
        reply.message = "stopping pool '" + config_.name + "'";
    } else if (admin.command == "reload") {
        reply.ok = state_ == State::running;
        reply.message = reply.ok ? "reloading pool '" + config_.name + "'"
                                 : "pool '" + config_.name + "' cannot reload while it is " +
                                       (state_ == State::starting ? "starting" : "stopping");
    } else {
        reply.message = "unknown admin command '" + admin.command + "'";
    }
    const pid_t peer_pid = conn.peer.pid;  // answer_and_close() may destroy conn
    answer_and_close(conn, protocol::encode_frame(reply), "");
    if (reply.ok && admin.command == "stop") begin_stop("stop command from pid " + std::to_string(peer_pid));
    if (reply.ok && admin.command == "reload") begin_reload("reload command from pid " + std::to_string(peer_pid));
}

void Supervisor::begin_close_session(unsigned slot, const std::string& why) {
    SessionSlot& s = (*sessions_)[slot];
    if (!s.open()) return;
    // Explicitly: the client's copy of the eventfd would keep it in our epoll set.
    if (s.doorbell) ::epoll_ctl(endpoints_.epoll.get(), EPOLL_CTL_DEL, s.doorbell.get(), nullptr);
    const pid_t pid = s.peer.pid;
    counters_.dropped += sessions_->begin_close(slot);
    spdlog::info("session {} closing ({}): pid {}, {} jobs still with workers", slot, why, pid, s.jobs_with_workers);
}

// A session's queue takes more only within its own share (jobs and payload bytes), so that one
// session's backlog waits in its own submit ring. Beyond the pool's queue_capacity, a session
// may still queue up to its guaranteed share (queue_capacity / max_sessions): sessions that
// fill the pool's queue cannot lock the others out, and the total stays under twice the
// capacity.
bool Supervisor::drain_submit_ring(SessionSlot& s, std::int64_t now) {
    auto may_queue_more = [&] {
        if (s.queue.size() >= config_.session_queue_capacity) return false;
        if (s.queue.payload_bytes() >= config_.session_queue_bytes) return false;
        return queue_totals_.jobs < config_.queue_capacity || s.queue.size() < config_.guaranteed_queue_share();
    };
    bool progress = false;
    std::span<const std::byte> bytes;
    while (may_queue_more()) {
        auto peek = s.submit.peek(bytes);
        if (peek == RingConsumer::Peek::empty) break;
        if (peek == RingConsumer::Peek::corrupt || bytes.size() < sizeof(JobRecord)) {
            spdlog::warn("session {} wrote a corrupt submit ring; dropping the client", sessions_->slot_of(s));
            s.submit.release();
            if (connections_.find(s.fd) != nullptr) close_connection(s.fd, "corrupt submit ring");
            return true;
        }
        // Copied out first, straight into the queue (the client can still write to its ring
        // while we look); taken out again below if it is refused. Built from the copy, not
        // zeroed first: the queue's slot is usually not in the cache, and every store to it counts.
        JobRecord record;
        std::memcpy(&record, bytes.data(), sizeof record);
        s.queue.push_back(PendingJob{
            record, std::string(reinterpret_cast<const char*>(bytes.data()) + sizeof(JobRecord),
                                bytes.size() - sizeof(JobRecord))});
        s.submit.pop();
        progress = true;
        accept_submission(s, now);
    }
    if (progress) s.submit.release();
    return progress;
}

void Supervisor::accept_submission(SessionSlot& s, std::int64_t now) {
    PendingJob& job = s.queue.back();
    job.record.session_slot = sessions_->slot_of(s);
    job.record.session_generation = s.generation;
    job.record.attempt = 1;
    job.record.enqueued_ns = now;
    ++s.submitted;
    const auto payload = std::as_bytes(std::span(job.payload.data(), job.payload.size()));
    // Counted only once it is known to be what it claims: a refused record is one job, whatever
    // its batch header says.
    if (auto why = job_refusal(job.record, payload, JobLimits{config_.inline_max})) {
        counters_.submitted += 1;
        reply_error(s, job.record, ErrorKind::bad_request, *why, 1);
        s.queue.pop_back();
        return;
    }
    job.items = batch_item_count(job.record, payload);
    counters_.submitted += job.items;
    if (state_ == State::stopping) {
        reply_error(s, job.record, ErrorKind::shutting_down, "pool '" + config_.name + "' is shutting down",
                    job.items);
        s.queue.pop_back();
        return;
    }
    job.stats = &functions_.stats(function_name(job.record), s.last_function);
}

void Supervisor::reply_error(SessionSlot& s, const JobRecord& record, ErrorKind kind, const std::string& message,
                             std::uint32_t items) {
    counters_.add_failure(kind, items);
    s.post_error(record, kind, message);
}

}  // namespace warmpool
