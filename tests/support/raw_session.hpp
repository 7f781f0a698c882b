// RawSession: a session made by hand over the control socket, as a hostile or buggy client
// could make one: it says Hello, receives the Welcome and its descriptors, maps the session
// segment, and from there writes records and frames of its own choosing. Tests use it to
// reach what a real client can reach, and nothing more.
#pragma once

#include <fcntl.h>
#include <sys/mman.h>

#include <chrono>
#include <cstring>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "warmpool/common/byte_ring.hpp"
#include "warmpool/common/protocol.hpp"
#include "warmpool/common/shared_segment.hpp"
#include "warmpool/common/shm_layout.hpp"
#include "warmpool/common/unix_socket.hpp"

namespace warmpool::testing {

class RawSession {
public:
    explicit RawSession(const std::string& control_socket, const std::string& name = "hostile") {
        auto fd = connect_unix(control_socket);
        if (!fd) throw std::runtime_error(fd.error().message());
        control_ = std::move(fd.value());
        if (!send_message(control_.get(), protocol::Hello{protocol::kProtocolVersion, name})) {
            throw std::runtime_error("hello");
        }
        std::vector<UniqueFd> fds;
        auto frame = receive_frame(control_.get(), 5000, &fds);
        if (!frame || !frame.value()) throw std::runtime_error("no welcome");
        auto welcome = protocol::decode<protocol::Welcome>(*frame.value());
        if (!welcome) throw std::runtime_error("not a welcome: type " + std::to_string(int(frame.value()->type)));
        if (fds.size() != protocol::kWelcomeFds) throw std::runtime_error("the welcome lacks its descriptors");
        welcome_ = welcome.value();
        layout_ = SessionLayout{welcome_.worker_slots, welcome_.submit_ring_bytes, welcome_.control_ring_bytes,
                                welcome_.reply_ring_bytes};
        segment_fd_ = UniqueFd(::fcntl(fds[0].get(), F_DUPFD_CLOEXEC, 0));
        auto segment = SharedSegment::adopt(std::move(fds[0]), layout_.total_bytes(),
                                            SharedSegment::Access::read_write, "raw session");
        if (!segment) throw std::runtime_error(segment.error().message());
        segment_ = std::move(segment.value());
        doorbell_ = std::move(fds[1]);
        board_fd_ = std::move(fds[2]);
        submit_ = RingProducer(RingView::at(segment_.data() + layout_.submit_offset(), layout_.submit_ring_bytes));
        replies_.emplace_back(RingView::at(segment_.data() + layout_.control_offset(), layout_.control_ring_bytes));
        for (std::uint32_t w = 0; w < welcome_.worker_slots; ++w) {
            replies_.emplace_back(RingView::at(segment_.data() + layout_.reply_offset(w), layout_.reply_ring_bytes));
        }
    }

    const protocol::Welcome& welcome() const { return welcome_; }
    const SessionLayout& layout() const { return layout_; }
    std::byte* base() const { return segment_.data(); }
    SessionHeader& header() const { return *reinterpret_cast<SessionHeader*>(segment_.data()); }
    int control() const { return control_.get(); }
    int doorbell() const { return doorbell_.get(); }
    int segment_fd() const { return segment_fd_.get(); }
    int board_fd() const { return board_fd_.get(); }
    RingProducer& submit() { return submit_; }
    std::vector<RingConsumer>& replies() { return replies_; }

    // Publishes one job record (the payload follows it) and rings the session's doorbell.
    void submit_record(const JobRecord& record, std::string_view payload) {
        const auto size = static_cast<std::uint32_t>(sizeof record + payload.size());
        std::byte* out = submit_.try_reserve(size);
        if (out == nullptr) throw std::runtime_error("submit ring full");
        std::memcpy(out, &record, sizeof record);
        std::memcpy(out + sizeof record, payload.data(), payload.size());
        submit_.commit(size);
        submit_.publish();
        header().supervisor_wake.notify_eventfd(doorbell_.get());
    }

    // Waits for the reply to `job_id` on any ring: {status, payload}. Throws after `limit`.
    std::pair<std::uint16_t, std::string> wait_reply(std::uint64_t job_id,
                                                     std::chrono::milliseconds limit = std::chrono::seconds(10)) {
        const auto give_up = std::chrono::steady_clock::now() + limit;
        while (std::chrono::steady_clock::now() < give_up) {
            for (auto& ring : replies_) {
                std::span<const std::byte> bytes;
                if (ring.peek(bytes) != RingConsumer::Peek::record) continue;
                ReplyRecord reply;
                std::memcpy(&reply, bytes.data(), sizeof reply);
                std::string payload(reinterpret_cast<const char*>(bytes.data()) + sizeof reply, reply.payload_bytes);
                ring.pop();
                ring.release();
                last_reply_ = reply;
                if (reply.job_id == job_id) return {reply.status, payload};
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
        throw std::runtime_error("no reply to job " + std::to_string(job_id));
    }
    const ReplyRecord& last_reply() const { return last_reply_; }

    // A JSON call of `function` with `args`, answered: {status, payload}.
    std::pair<std::uint16_t, std::string> call_json(const std::string& function, const std::string& args) {
        JobRecord record{};
        record.job_id = ++next_id_;
        record.flags = kJobJson;
        record.payload_bytes = static_cast<std::uint32_t>(args.size());
        set_function_name(record, function);
        submit_record(record, args);
        return wait_reply(record.job_id);
    }
    std::uint64_t next_job_id() { return ++next_id_; }

private:
    protocol::Welcome welcome_;
    SessionLayout layout_{};
    UniqueFd control_;
    UniqueFd doorbell_;
    UniqueFd segment_fd_;
    UniqueFd board_fd_;
    SharedSegment segment_;
    RingProducer submit_;
    std::vector<RingConsumer> replies_;
    ReplyRecord last_reply_{};
    std::uint64_t next_id_ = 1000;
};

}  // namespace warmpool::testing
