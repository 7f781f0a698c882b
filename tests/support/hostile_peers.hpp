// Tools for tests that play hostile peers against a real warmpoold: handshakes whose answer the
// test reads itself, status readers that ask and then never read, figures of a process read from
// /proc (CPU time, resident memory, open descriptors), and temporary directories and clean-ups
// that run however the test ends.
#pragma once

#include <dirent.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "raw_session.hpp"
#include "warmpool/common/protocol.hpp"
#include "warmpool/common/unix_socket.hpp"

namespace warmpool::testing {

// Runs `f` when it goes out of scope, whatever the way out.
template <class F>
class OnExit {
public:
    explicit OnExit(F f) : f_(std::move(f)) {}
    ~OnExit() { f_(); }
    OnExit(const OnExit&) = delete;
    OnExit& operator=(const OnExit&) = delete;

private:
    F f_;
};

// A directory under /tmp, removed with everything in it on destruction.
class TempDir {
public:
    explicit TempDir(const std::string& what = "dir") {
        std::string pattern = "/tmp/warmpool-" + what + "-XXXXXX";
        if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp " + pattern);
        path_ = pattern;
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const std::string& path() const { return path_; }
    std::string operator/(const std::string& name) const { return path_ + "/" + name; }

private:
    std::string path_;
};

// What the pool answered a Hello. The connection stays open: a granted session lasts as long as
// it does. The session's descriptors are dropped; nothing here uses the session.
struct Handshake {
    UniqueFd fd;
    std::string
        kind;  // "welcome", a Refused kind ("overloaded", "permission", ...), or "closed" / "error"
    std::string message;
    bool welcomed() const { return kind == "welcome"; }
};

inline Handshake handshake(const std::string& control_socket, const std::string& client_name,
                           int timeout_ms = 10'000) {
    Handshake result;
    auto fd = connect_unix(control_socket);
    if (!fd) {
        result.kind = "error";
        result.message = fd.error().message();
        return result;
    }
    result.fd = std::move(fd.value());
    if (auto st =
            send_message(result.fd.get(), protocol::Hello{protocol::kProtocolVersion, client_name});
        !st) {
        result.kind = "error";
        result.message = st.error().message();
        return result;
    }
    std::vector<UniqueFd> passed;
    auto frame = receive_frame(result.fd.get(), timeout_ms, &passed);
    if (!frame) {
        result.kind = "error";
        result.message = frame.error().message();
    } else if (!frame.value()) {
        result.kind = "closed";
    } else if (frame.value()->type == protocol::MessageType::welcome) {
        result.kind = "welcome";
    } else if (auto refused = protocol::decode<protocol::Refused>(*frame.value())) {
        result.kind = refused->kind;
        result.message = refused->message;
    } else {
        result.kind = "error";
        result.message =
            "unexpected answer of type " + std::to_string(static_cast<int>(frame.value()->type));
    }
    return result;
}

// Publishes one call in a hand-made session, if its submit ring has room, and rings its
// doorbell.
inline bool try_submit(RawSession& session, const std::string& function, std::string_view payload,
                       std::uint32_t flags = kJobJson) {
    JobRecord record{};
    record.job_id = session.next_job_id();
    record.flags = flags;
    record.payload_bytes = static_cast<std::uint32_t>(payload.size());
    set_function_name(record, function);
    const auto size = static_cast<std::uint32_t>(sizeof record + payload.size());
    std::byte* out = session.submit().try_reserve(size);
    if (out == nullptr) return false;
    std::memcpy(out, &record, sizeof record);
    std::memcpy(out + sizeof record, payload.data(), payload.size());
    session.submit().commit(size);
    session.submit().publish();
    session.header().supervisor_wake.notify_eventfd(session.doorbell());
    return true;
}

// Takes every reply waiting in a hand-made session's rings; calls `each(ring, reply)` for each
// (ring 0 is the control ring, ring 1 + w the reply ring of worker slot w).
template <class Each>
std::size_t take_replies(RawSession& session, Each&& each) {
    std::size_t taken = 0;
    auto& rings = session.replies();
    for (std::size_t i = 0; i < rings.size(); ++i) {
        std::span<const std::byte> bytes;
        while (rings[i].peek(bytes) == RingConsumer::Peek::record) {
            ReplyRecord reply;
            std::memcpy(&reply, bytes.data(), sizeof reply);
            rings[i].pop();
            each(i, reply);
            ++taken;
        }
        rings[i].release();
    }
    return taken;
}

// A batch payload (kJobBatch): a header claiming `claimed` items, then `items` items.
inline std::string batch_payload(std::uint32_t claimed, std::uint32_t items,
                                 const std::string& item) {
    std::string payload(sizeof(BatchHeader), '\0');
    const BatchHeader header{claimed, 0};
    std::memcpy(payload.data(), &header, sizeof header);
    const auto length = static_cast<std::uint32_t>(item.size());
    for (std::uint32_t i = 0; i < items; ++i) {
        payload.append(reinterpret_cast<const char*>(&length), sizeof length);
        payload += item;
    }
    return payload;
}

enum class ReplyRingLie {
    full_ring_looks_empty,  // head says nothing was read of a full ring
    head_far_ahead,         // head far beyond what the worker wrote
    head_far_behind,        // head far behind it
};

// A lie about the reply rings of a hand-made session: head and tail equal, so that to anyone
// who reads both the ring is empty, with head placed so that to the ring's worker, which knows
// its own tail, there is no room. A worker that writes a reply publishes its real tail over the
// lie: tell() renews the lie from it.
class ReplyRingLiar {
public:
    ReplyRingLiar(RawSession& session, const std::vector<std::size_t>& worker_slots,
                  ReplyRingLie lie)
        : lie_(lie), capacity_(session.layout().reply_ring_bytes) {
        for (std::size_t slot : worker_slots) {
            RingControl* ring = session.replies()[1 + slot].control();
            rings_.push_back({ring, ring->tail.load(), ring->tail.load() + 1});
        }
    }

    void tell() {
        for (Ring& r : rings_) {
            const std::uint64_t tail = r.control->tail.load();
            if (tail != r.told) r.real_tail = tail;
            switch (lie_) {
                case ReplyRingLie::full_ring_looks_empty:
                    r.told = r.real_tail - capacity_;
                    break;
                case ReplyRingLie::head_far_ahead:
                    r.told = r.real_tail + (1ull << 40);
                    break;
                case ReplyRingLie::head_far_behind:
                    r.told = r.real_tail - (1ull << 40);
                    break;
            }
            r.control->head.store(r.told);
            r.control->tail.store(r.told);
        }
    }

private:
    struct Ring {
        RingControl* control;
        std::uint64_t real_tail;
        std::uint64_t told;
    };
    ReplyRingLie lie_;
    std::uint64_t capacity_;
    std::vector<Ring> rings_;
};

// A status client that sends its request and then takes nothing of the answer, with a receive
// buffer as small as the kernel allows.
class StalledStatusReader {
public:
    explicit StalledStatusReader(const std::string& status_socket,
                                 const std::string& request = "json\n") {
        auto fd = connect_unix(status_socket);
        if (!fd) throw std::runtime_error("status socket: " + fd.error().message());
        fd_ = std::move(fd.value());
        const int small = 1024;
        ::setsockopt(fd_.get(), SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
        if (auto st = send_all(fd_.get(), request); !st)
            throw std::runtime_error("status request: " + st.error().message());
    }

    // True once some of the answer has come (and waits, unread).
    bool answer_arriving() const {
        pollfd p{fd_.get(), POLLIN, 0};
        return ::poll(&p, 1, 0) > 0 && (p.revents & POLLIN) != 0;
    }

    // True once the pool has closed its end, whether or not its answer was read.
    bool closed_by_pool() const {
        pollfd p{fd_.get(), POLLRDHUP, 0};
        if (::poll(&p, 1, 0) <= 0) return false;
        return (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
    }

    // Reads whatever came until the end of the stream (or a reset); the bytes read, or -1 if the
    // stream has not ended within `timeout`.
    std::int64_t drain(std::chrono::milliseconds timeout) {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        std::int64_t total = 0;
        char buf[65536];
        for (;;) {
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                deadline - std::chrono::steady_clock::now());
            if (left.count() <= 0) return -1;
            pollfd p{fd_.get(), POLLIN, 0};
            if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
            const ssize_t n = ::recv(fd_.get(), buf, sizeof buf, MSG_DONTWAIT);
            if (n > 0) {
                total += n;
            } else if (n == 0 || errno == ECONNRESET) {
                return total;
            } else if (errno != EAGAIN && errno != EINTR) {
                return total;
            }
        }
    }

private:
    UniqueFd fd_;
};

// The fields of /proc/PID/stat after the command name (field 3, the state, comes first).
inline std::vector<std::string> proc_stat_fields(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    std::getline(in, line);
    const auto paren = line.rfind(')');
    std::vector<std::string> fields;
    if (paren == std::string::npos) return fields;
    std::istringstream rest(line.substr(paren + 1));
    for (std::string f; rest >> f;) fields.push_back(f);
    return fields;
}

// CPU time (user + system) the process has used so far; -1 if it is gone.
inline double cpu_seconds(pid_t pid) {
    const auto fields = proc_stat_fields(pid);
    if (fields.size() < 13) return -1;
    const double ticks = std::stod(fields[11]) + std::stod(fields[12]);  // utime, stime
    return ticks / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

// A memory figure of /proc/PID/status in bytes ("VmRSS", "RssAnon", "RssShmem", ...); -1 if
// the process is gone.
inline std::int64_t status_bytes(pid_t pid, const std::string& field) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    const std::string key = field + ":";
    for (std::string line; std::getline(in, line);) {
        if (line.rfind(key, 0) == 0) return std::stoll(line.substr(key.size())) * 1024;
    }
    return -1;
}

// Resident memory (VmRSS) in bytes; -1 if the process is gone.
inline std::int64_t rss_bytes(pid_t pid) { return status_bytes(pid, "VmRSS"); }

inline std::size_t count_entries(const std::string& dir) {
    std::size_t n = 0;
    if (DIR* d = ::opendir(dir.c_str())) {
        while (dirent* e = ::readdir(d)) {
            if (std::string_view(e->d_name) != "." && std::string_view(e->d_name) != "..") ++n;
        }
        ::closedir(d);
    }
    return n;
}

inline std::size_t open_fd_count(pid_t pid) {
    return count_entries("/proc/" + std::to_string(pid) + "/fd");
}

inline std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

inline void write_file(const std::string& path, const std::string& text) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << text;
    if (!out) throw std::runtime_error("cannot write " + path);
}

}  // namespace warmpool::testing
