// A ring (byte_ring.hpp) whose other side is hostile: every byte of its data and both indices
// start as the fuzzer chooses, and the fuzzer may scribble on them between any two steps, as a
// client may on the rings in its session segment. The records read from it are taken apart as
// their consumers do, with the free functions of shm_layout.hpp and dispatch_policy.hpp:
// submit records (JobRecord + payload), reply and control records (ReplyRecord + payload) and
// lane posts (a lane word, a JobRecord and up to 4 KiB of arguments).
//
// Input: ring_input.hpp.
//
// Both the honest producer and the honest consumer run on the same ring. Besides memory errors
// (the data lives in a heap block of exactly `capacity` bytes, so ASan sees any stray access),
// it checks that
//   * a record handed out lies inside the ring's data,
//   * while nobody scribbles, the consumer reads exactly the records the producer published,
//     in order, and never finds the ring corrupt, and
//   * a reply always fits when the dispatcher's arithmetic (reply_room_bytes) or a worker's
//     (free_bytes before a lane job) says it does, so a worker never waits on a client.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <deque>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "fuzz_check.hpp"
#include "ring_input.hpp"
#include "warmpool/common/byte_ring.hpp"
#include "warmpool/common/shm_layout.hpp"
#include "warmpool/daemon/dispatch_policy.hpp"

namespace warmpool {
namespace {

using fuzz::ByteReader;
using Peek = RingConsumer::Peek;

using Role = fuzz::RingRole;
using fuzz::Step;

constexpr std::uint32_t kInlineMax = 64 * 1024;  // PoolConfig's default

// The checks a consumer of each role makes on a record it read, through the free functions the
// supervisor, the worker and the client use.
void take_apart(Role role, std::span<const std::byte> body) {
    const auto* bytes = reinterpret_cast<const char*>(body.data());
    switch (role) {
        case Role::submit: {
            JobRecord record;
            if (body.size() < sizeof record) return;  // the supervisor drops such a client
            std::memcpy(&record, bytes, sizeof record);
            const std::string_view name = function_name(record);
            FUZZ_CHECK(name.size() <= kFunctionNameMax);
            FUZZ_CHECK(name.find('\0') == std::string_view::npos);
            if (!name.empty()) {
                JobRecord copy{};
                FUZZ_CHECK(set_function_name(copy, name));
                FUZZ_CHECK(function_name(copy) == name);
            }
            FUZZ_CHECK(reply_inline_max(record.flags, kInlineMax) <= kInlineMax);
            const std::size_t payload = body.size() - sizeof record;
            if ((record.flags & kJobBlob) != 0 && payload == sizeof(BlobRef)) {
                BlobRef ref;
                std::memcpy(&ref, bytes + sizeof record, sizeof ref);
            } else if ((record.flags & kJobBatch) != 0 && payload >= sizeof(BatchHeader)) {
                BatchHeader header;
                std::memcpy(&header, bytes + sizeof record, sizeof header);
            }
            return;
        }
        case Role::reply:
        case Role::control: {
            ReplyRecord reply;
            if (body.size() < sizeof reply) return;
            std::memcpy(&reply, bytes, sizeof reply);
            if ((reply.flags & kJobBlob) != 0 && body.size() - sizeof reply == sizeof(BlobRef)) {
                BlobRef ref;
                std::memcpy(&ref, bytes + sizeof reply, sizeof ref);
            } else if ((reply.flags & kJobBatch) != 0 &&
                       body.size() - sizeof reply >= sizeof(BatchHeader)) {
                BatchHeader header;
                std::memcpy(&header, bytes + sizeof reply, sizeof header);
            }
            return;
        }
        case Role::lane: {
            // The record carries a lane as a client leaves it: the word, the record, the arguments.
            std::uint64_t word;
            if (body.size() < sizeof word + sizeof(JobRecord)) return;
            auto lane = std::make_unique<Lane>();
            std::memcpy(&word, bytes, sizeof word);
            lane->word.store(word);
            std::memcpy(&lane->record, bytes + sizeof word, sizeof(JobRecord));
            const std::size_t given = body.size() - sizeof word - sizeof(JobRecord);
            std::memcpy(lane->payload, bytes + sizeof word + sizeof(JobRecord),
                        given < kLanePayloadMax ? given : kLanePayloadMax);

            // What a claimer (a worker, or the supervisor taking a post) does with it.
            if (lane_state(word) != LaneWordState::posted) return;
            const std::uint64_t ticket = lane_ticket(word);
            const std::uint64_t claimed =
                lane_word(ticket, kLaneClaimerSupervisor, LaneWordState::claimed);
            FUZZ_CHECK(lane_state(claimed) == LaneWordState::claimed);
            FUZZ_CHECK(lane_ticket(claimed) == ticket);
            FUZZ_CHECK(lane_ticket(lane_word(ticket, 0, LaneWordState::free)) == ticket);
            JobRecord record;
            std::memcpy(&record, &lane->record, sizeof record);
            const std::size_t taken = std::min<std::size_t>(record.payload_bytes, kLanePayloadMax);
            const std::string payload(reinterpret_cast<const char*>(lane->payload), taken);
            FUZZ_CHECK(function_name(record).size() <= kFunctionNameMax);
            return;
        }
    }
}

class Harness {
public:
    Harness(std::uint64_t capacity, Role role, std::uint64_t head, std::uint64_t tail,
            std::string_view data)
        : role_(role),
          capacity_(capacity),
          control_(std::make_unique<RingControl>()),
          data_(std::make_unique<std::byte[]>(capacity)) {
        control_->head.store(head);
        control_->tail.store(tail);
        std::memcpy(data_.get(), data.data(), data.size());
        consumer_ = RingConsumer(view());
        producer_ = RingProducer(view());
        // What was in the ring at the start is nobody's record: only an empty start is checked.
        tracked_ = head == tail;
    }

    void run(ByteReader& steps) {
        while (!steps.empty()) {
            const auto step = static_cast<Step>(steps.take<std::uint8_t>() %
                                                static_cast<std::uint8_t>(Step::count));
            switch (step) {
                case Step::peek:
                    peek();
                    break;
                case Step::pop:
                    pop();
                    break;
                case Step::release:
                    consumer_.release();
                    break;
                case Step::look:
                    look();
                    break;
                case Step::produce: {
                    // Mostly sizes that can fit: records reach at most half the ring.
                    const auto size =
                        static_cast<std::uint32_t>(steps.take<std::uint16_t>() % (capacity_ / 2));
                    const auto unused = steps.take<std::uint16_t>();
                    produce(size, unused);
                    break;
                }
                case Step::publish:
                    publish();
                    break;
                case Step::scribble_tail:
                    control_->tail.fetch_add(
                        static_cast<std::uint64_t>(steps.take<std::int32_t>()));
                    scribbled();
                    break;
                case Step::scribble_head:
                    control_->head.fetch_add(
                        static_cast<std::uint64_t>(steps.take<std::int32_t>()));
                    scribbled();
                    break;
                case Step::scribble_data: {
                    const auto at = steps.take<std::uint16_t>();
                    data_[at % capacity_] = static_cast<std::byte>(steps.take<std::uint8_t>());
                    scribbled();
                    break;
                }
                case Step::new_consumer:
                    // Its predecessor's pops that were not released are read again.
                    consumer_ = RingConsumer(view());
                    peeked_ = false;
                    tracked_ = false;
                    break;
                case Step::new_producer:
                    producer_ = RingProducer(view());
                    unpublished_.clear();
                    in_sync_ = true;
                    break;
                case Step::reply_room: {
                    const auto body =
                        static_cast<std::uint32_t>(steps.take<std::uint16_t>() % (capacity_ / 2));
                    const auto more =
                        static_cast<std::uint32_t>(steps.take<std::uint16_t>() % capacity_);
                    reply_room(body, more);
                    break;
                }
                case Step::count:
                    break;
            }
        }
    }

private:
    RingView view() { return RingView{control_.get(), data_.get(), capacity_}; }

    void scribbled() {
        tracked_ = false;
        in_sync_ = false;
    }

    bool inside_data(const std::byte* p, std::size_t n) const {
        const auto at = reinterpret_cast<std::uintptr_t>(p);
        const auto begin = reinterpret_cast<std::uintptr_t>(data_.get());
        return at >= begin && n <= capacity_ && at - begin <= capacity_ - n;
    }

    void peek() {
        std::span<const std::byte> body;
        const Peek result = consumer_.peek(body);
        if (result == Peek::record) {
            FUZZ_CHECK(inside_data(body.data(), body.size()));
            const std::string copy(reinterpret_cast<const char*>(body.data()), body.size());
            if (tracked_) {
                FUZZ_CHECK(!published_.empty());
                FUZZ_CHECK(published_.front() == copy);
            }
            peeked_ = true;
            take_apart(role_, body);
            return;
        }
        peeked_ = false;
        if (tracked_) {
            FUZZ_CHECK(result == Peek::empty);
            FUZZ_CHECK(published_.empty());
        }
    }

    void pop() {
        consumer_.pop();
        if (peeked_ && tracked_) published_.pop_front();
        peeked_ = false;
    }

    void look() {
        const bool empty = consumer_.empty_now();
        const bool only_peeked = consumer_.only_peeked_left();
        if (!tracked_) return;
        FUZZ_CHECK(empty == (published_.empty()));
        FUZZ_CHECK(only_peeked == (peeked_ ? published_.size() == 1 : published_.empty()));
    }

    // Reserves, fills and commits one record; true if it went in.
    bool produce(std::uint32_t size, std::uint32_t unused) {
        std::byte* out = producer_.try_reserve(size);
        if (out == nullptr) return false;
        FUZZ_CHECK(inside_data(out, size));
        const std::uint32_t used = size - unused % (size + 1);
        for (std::uint32_t i = 0; i < used; ++i) out[i] = static_cast<std::byte>(serial_ + i);
        ++serial_;
        producer_.commit(used);
        unpublished_.emplace_back(reinterpret_cast<const char*>(out), used);
        in_sync_ = false;
        return true;
    }

    void publish() {
        // With nothing new the producer stores nothing, so a tail written over stays so.
        const bool stores = producer_.has_unpublished();
        producer_.publish();
        for (auto& record : unpublished_) published_.push_back(std::move(record));
        unpublished_.clear();
        if (stores) in_sync_ = true;
    }

    // A reply of `body` bytes, where the largest may be `body + more`, must fit whenever the
    // dispatcher counted room for the largest reply plus one wrap-around, or a worker saw room
    // for two of the largest before it claimed a lane job. Only holds while the producer's tail
    // is the one in memory and is one it could have written (a multiple of 8).
    void reply_room(std::uint32_t body, std::uint32_t more) {
        if (!in_sync_ || !unpublished_.empty()) return;
        const std::uint64_t record_size = sizeof(ReplyRecord) + body;
        if (record_size > producer_.max_record()) return;
        const std::uint64_t largest = max_reply_bytes(sizeof(ReplyRecord), body + more);
        const std::uint64_t tail = control_->tail.load();
        if (tail % 8 != 0) return;
        const std::uint64_t used = tail - control_->head.load();
        const bool dispatcher_room = reply_room_bytes(capacity_, used, 0, largest) >=
                                     max_reply_bytes(sizeof(ReplyRecord), body);
        const bool worker_room = producer_.free_bytes() >= 2 * largest;
        if (!dispatcher_room && !worker_room) return;
        FUZZ_CHECK(produce(static_cast<std::uint32_t>(record_size), 0));
        publish();
    }

    Role role_;
    std::uint64_t capacity_;
    std::unique_ptr<RingControl> control_;
    std::unique_ptr<std::byte[]> data_;
    RingConsumer consumer_;
    RingProducer producer_;
    std::deque<std::string> unpublished_;  // committed, in order
    std::deque<std::string> published_;    // published and not yet popped, in order
    bool tracked_ = true;  // nobody scribbled: the consumer must read exactly published_
    bool in_sync_ = true;  // the producer's tail is the tail in memory
    bool peeked_ = false;  // the consumer's last peek returned a record it has not popped
    std::uint8_t serial_ = 0;
};

}  // namespace
}  // namespace warmpool

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace warmpool;
    fuzz::ByteReader input(data, size);
    const auto shape = input.take<std::uint8_t>();
    const std::uint64_t capacity = fuzz::ring_capacity(shape);
    const Role role = fuzz::ring_role(shape);
    const auto head = input.take<std::uint64_t>();
    const auto tail = input.take<std::uint64_t>();
    const std::string_view ring_data = input.bytes(capacity);
    Harness harness(capacity, role, head, tail, ring_data);
    harness.run(input);
    return 0;
}
