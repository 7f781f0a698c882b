// ClientService: client_service.hpp. One-answer connections (status, admin, refusals) are
// answered through the ConnectionTable's Outbox as the peer takes them.
#include "warmpool/daemon/client_service.hpp"

#include <spdlog/spdlog.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "epoll_tags.hpp"
#include "warmpool/common/clock.hpp"
#include "warmpool/common/utf8.hpp"
#include "warmpool/daemon/scaling_policy.hpp"

namespace warmpool {

namespace {

using namespace epoll_tag;

constexpr std::size_t kMaxClientNameBytes = 64;  // of a Hello's name, made valid UTF-8

}  // namespace

ClientService::ClientService(const PoolConfig& config, const AccessPolicy& access, int epoll_fd,
                             std::uint64_t session_seed, Units units)
    : config_(config), access_(access), epoll_fd_(epoll_fd), session_seed_(session_seed), units_(units) {}

ClientService::Order ClientService::serve(int fd, PoolState state) {
    try {
        const ConnectionTable::Connection* conn = connections_.find(fd);
        if (conn != nullptr && conn->answering) {
            continue_answer(fd);
            return {};
        }
        return serve_unguarded(fd, state);
    } catch (const std::exception& e) {
        spdlog::error("internal error while serving a connection ({}); closing it", e.what());
        close(fd, "internal error");
        return {};
    }
}

ClientService::Order ClientService::serve_unguarded(int fd, PoolState state) {
    using Kind = ConnectionTable::Request::Kind;
    for (;;) {
        ConnectionTable::Request request = connections_.next(fd);
        switch (request.kind) {
            case Kind::none: return {};
            case Kind::close: close(fd, request.close_reason); return {};
            case Kind::status: return Order{Order::Kind::status, fd, request.status, {}};
            case Kind::frame:
                if (Order order = on_frame(*connections_.find(fd), request.frame, state);
                    order.kind != Order::Kind::none) {
                    return order;
                }
                break;
        }
        const ConnectionTable::Connection* still = connections_.find(fd);
        if (still == nullptr || still->answering) return {};  // closed or answered by the frame
    }
}

void ClientService::answer(int fd, std::string bytes) {
    if (ConnectionTable::Connection* conn = connections_.find(fd)) answer_and_close(*conn, std::move(bytes), "");
}

void ClientService::answer_and_close(ConnectionTable::Connection& conn, std::string bytes, const std::string& why) {
    if (conn.session >= 0) {
        begin_close_session(static_cast<unsigned>(conn.session), why);
        conn.session = -1;
    }
    const int fd = conn.fd.get();
    connections_.answer(conn, std::move(bytes), why, monotonic_ns());
    continue_answer(fd);
}

void ClientService::continue_answer(int fd) {
    std::string why;
    if (connections_.continue_answer(fd, why)) close(fd, why);
}

void ClientService::close(int fd, const std::string& why) {
    if (const int session = connections_.close(fd); session >= 0) {
        begin_close_session(static_cast<unsigned>(session), why);
    }
}

ClientService::Order ClientService::on_frame(ConnectionTable::Connection& conn, const protocol::Frame& frame,
                                             PoolState state) {
    const int fd = conn.fd.get();
    auto refuse = [&](const std::string& kind, const std::string& message) {
        answer_and_close(conn, protocol::encode_frame(protocol::Refused{kind, message}), message);
        return Order{};
    };
    if (conn.session < 0) {
        if (frame.type == protocol::MessageType::admin) {
            auto admin = protocol::decode<protocol::Admin>(frame);
            if (!admin) return refuse("bad_request", admin.error().message());
            return on_admin(conn, admin.value(), state);
        }
        if (frame.type == protocol::MessageType::scale) {
            auto scale = protocol::decode<protocol::Scale>(frame);
            if (!scale) return refuse("bad_request", scale.error().message());
            return on_scale(conn, scale.value(), state);
        }
        auto hello = protocol::decode<protocol::Hello>(frame);
        if (!hello) return refuse("bad_request", "expected a hello: " + hello.error().message());
        if (hello->protocol_version != protocol::kProtocolVersion) {
            return refuse("bad_request", "protocol version " + std::to_string(hello->protocol_version) +
                                             " is not supported");
        }
        open_session(conn, hello.value(), state);
        return {};
    }
    SessionSlot& session = units_.sessions[static_cast<unsigned>(conn.session)];
    switch (frame.type) {
        case protocol::MessageType::cancel: {
            auto request = protocol::decode<protocol::Cancel>(frame);
            if (!request) {
                close(fd, "malformed cancel");
            } else {
                cancel(session, request.value());
            }
            return {};
        }
        case protocol::MessageType::goodbye: close(fd, "client said goodbye"); return {};
        case protocol::MessageType::blob_offer:
        case protocol::MessageType::blob_retire:
        case protocol::MessageType::blob_want: {
            std::string why;
            if (!units_.broker.on_blob_frame(conn, session, frame, why)) {
                spdlog::warn("session {} (pid {}): {}; closing it", conn.session, conn.peer.pid, why);
                close(fd, why);
            }
            return {};
        }
        default: close(fd, "unexpected message"); return {};
    }
}

void ClientService::open_session(ConnectionTable::Connection& conn, const protocol::Hello& hello, PoolState state) {
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
    if (state == PoolState::stopping || state == PoolState::done) {
        return refuse("shutting_down", "pool '" + config_.name + "' is shutting down");
    }
    SessionTable& sessions = units_.sessions;
    const std::size_t held = sessions.held_by(uid);
    if (held >= config_.sessions_per_user()) {
        return refuse("overloaded", "uid " + std::to_string(uid) + " holds " + std::to_string(held) +
                                        " sessions, the most per user (max_sessions_per_user)");
    }
    if (sessions.full()) {
        return refuse("overloaded", "all " + std::to_string(sessions.capacity()) + " sessions are in use");
    }
    auto board = units_.lanes.board_segment().share(SharedSegment::Access::read_only);
    if (!board) return refuse("overloaded", "cannot set up a session: out of descriptors");
    // Generations only tell one session of a slot from the next; nothing is named after them.
    const std::uint64_t generation = session_seed_ + (++sessions_opened_ * 0x9e3779b97f4a7c15ULL);
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
    if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, s.doorbell.get(), &ev) != 0) {
        return refuse("overloaded", "cannot watch a session's doorbell");
    }

    const SessionLayout& layout = sessions.layout();
    protocol::Welcome welcome;
    welcome.session_slot = slot;
    welcome.session_generation = s.generation;
    welcome.pool_name = config_.name;
    welcome.supervisor_pid = getpid();
    welcome.worker_slots = layout.worker_slots;
    welcome.submit_ring_bytes = layout.submit_ring_bytes;
    welcome.control_ring_bytes = layout.control_ring_bytes;
    welcome.reply_ring_bytes = layout.reply_ring_bytes;
    welcome.inline_max = config_.inline_max;
    // The socket is non-blocking; a Welcome is small and fits the socket buffer.
    auto segment_fd = s.segment.share(SharedSegment::Access::read_write);
    if (!segment_fd) {
        close(fd, "cannot share the session memory: " + segment_fd.error().message());
        return;
    }
    const int passed[protocol::kWelcomeFds] = {segment_fd->get(), s.doorbell.get(), board->get()};
    if (auto st = send_message(fd, welcome, std::span<const int>(passed)); !st) {
        close(fd, "cannot send welcome: " + st.error().message());
        return;
    }
    spdlog::info("session {} opened: pid {} uid {} ({})", slot, conn.peer.pid, conn.peer.uid, s.client_name);
}

ClientService::Order ClientService::on_admin(ConnectionTable::Connection& conn, const protocol::Admin& admin,
                                             PoolState state) {
    protocol::AdminReply reply;
    if (!access_.may_administer(conn.peer)) {
        reply.message = "admin commands need the daemon's user or root";
    } else if (admin.command == "stop") {
        reply.ok = true;
        reply.message = "stopping pool '" + config_.name + "'";
    } else if (admin.command == "reload") {
        reply.ok = state == PoolState::running;
        reply.message = reply.ok ? "reloading pool '" + config_.name + "'"
                                 : "pool '" + config_.name + "' cannot reload while it is " +
                                       (state == PoolState::starting ? "starting" : "stopping");
    } else {
        reply.message = "unknown admin command '" + admin.command + "'";
    }
    const pid_t peer_pid = conn.peer.pid;  // answer_and_close() may destroy conn
    answer_and_close(conn, protocol::encode_frame(reply), "");
    if (!reply.ok) return {};
    if (admin.command == "stop") return Order{Order::Kind::stop, -1, {}, "stop command from pid " + std::to_string(peer_pid)};
    return Order{Order::Kind::reload, -1, {}, "reload command from pid " + std::to_string(peer_pid)};
}

ClientService::Order ClientService::on_scale(ConnectionTable::Connection& conn, const protocol::Scale& scale,
                                             PoolState state) {
    protocol::AdminReply reply;
    if (!access_.may_administer(conn.peer)) {
        reply.message = "admin commands need the daemon's user or root";
    } else if (state != PoolState::running) {
        reply.message = "pool '" + config_.name + "' cannot scale while it is " + to_string(state);
    } else if (auto why = scale_refusal(scaling_limits(config_), scale.workers); !why.empty()) {
        reply.message = why;
    } else {
        reply.ok = true;
        reply.message = "scaling pool '" + config_.name + "' to " + std::to_string(scale.workers) + " workers";
    }
    const pid_t peer_pid = conn.peer.pid;  // answer_and_close() may destroy conn
    answer_and_close(conn, protocol::encode_frame(reply), "");
    if (!reply.ok) return {};
    Order order{Order::Kind::scale, -1, {}, "scale command from pid " + std::to_string(peer_pid)};
    order.workers = scale.workers;
    return order;
}

// Still waiting (queued, or posted on its lane): answered `cancelled` at once. Already with a
// worker (or finished): without force it runs to completion and the client drops the result;
// with force, a running job is stopped by replacing its worker (JobStopper).
void ClientService::cancel(SessionSlot& session, const protocol::Cancel& cancel) {
    if (units_.intake.cancel_waiting(session, cancel.job_id, monotonic_ns())) return;
    if (!cancel.force) return;
    const unsigned slot = units_.sessions.slot_of(session);
    if (units_.stopper.cancel_held(slot, cancel.job_id, monotonic_ns())) return;
    units_.stopper.cancel_lane_job(slot, session.generation, session.memory.lane(), cancel.job_id);
}

void ClientService::begin_close_session(unsigned slot, const std::string& why) {
    SessionSlot& s = units_.sessions[slot];
    if (!s.open()) return;
    // Explicitly: the client's copy of the eventfd would keep it in our epoll set.
    if (s.doorbell) ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, s.doorbell.get(), nullptr);
    const pid_t pid = s.peer.pid;
    units_.counters.dropped += units_.sessions.begin_close(slot);
    spdlog::info("session {} closing ({}): pid {}, {} jobs still with workers", slot, why, pid, s.jobs_with_workers);
}

}  // namespace warmpool
