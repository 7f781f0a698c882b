// The control-socket reader (protocol.hpp) against any byte stream: a FrameReader fed the stream
// in chunks, and every message type's decoding of every frame it yields. Whoever may connect to
// the control socket (or a worker, on its channel) chooses these bytes.
//
// Input: one byte that chooses where the stream is cut into chunks, then the stream.
//
// Besides crashes, leaks and undefined behaviour, it checks that
//   * the frames do not depend on how the stream was cut (a reader fed it whole agrees),
//   * a reader waiting for more holds at most one frame's bytes,
//   * a frame decodes only as the type it names, and
//   * a body that decodes encodes back to exactly the same bytes (decoding is exact).
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_check.hpp"
#include "warmpool/common/protocol.hpp"

namespace warmpool::protocol {
namespace {

// What a reader made of a stream: its frames, and whether it then refused the stream.
struct Reading {
    std::vector<Frame> frames;
    bool refused = false;
};

// Takes every complete frame out of `reader`; false once the stream is refused.
bool drain(FrameReader& reader, Reading& reading) {
    for (;;) {
        auto next = reader.next();
        if (!next) {
            reading.refused = true;
            return false;
        }
        if (!next.value()) {
            FUZZ_CHECK(reader.buffered() <= sizeof(FrameHeader) + kMaxFrameBody);
            return true;
        }
        reading.frames.push_back(std::move(*next.value()));
    }
}

// Chunk lengths from a small generator seeded by the input, mostly short (a byte at a time is
// how a slow peer looks), sometimes long.
class Chunks {
public:
    explicit Chunks(std::uint8_t seed) : state_(0x9e3779b97f4a7c15ULL ^ seed) {}
    std::size_t next() {
        state_ ^= state_ << 13;
        state_ ^= state_ >> 7;
        state_ ^= state_ << 17;
        return (state_ & 3) == 0 ? 1 + state_ % 4096 : 1 + (state_ >> 8) % 24;
    }

private:
    std::uint64_t state_;
};

template <class T>
void decode_each_way(const Frame& frame) {
    // As the frame is: only the type it names may decode.
    const Result<T> as_sent = decode<T>(frame);
    if (frame.type != type_of<T>()) FUZZ_CHECK(!as_sent);

    // Its body as a T, whatever the frame said: every decoder sees every body.
    const Frame retyped{type_of<T>(), frame.body};
    Result<T> message = decode<T>(retyped);
    if (!message) return;
    FUZZ_CHECK(encode_body(*message) == frame.body);
}

template <class... T>
void decode_as_each(const Frame& frame) {
    (decode_each_way<T>(frame), ...);
}

void decode_every_type(const Frame& frame) {
    decode_as_each<Hello, Welcome, Refused, Cancel, Admin, AdminReply, Goodbye, BlobOffer,
                   BlobRetire, BlobWant, BlobGive, WorkerWant, WorkerGive, ResultOffer,
                   ResultRetire>(frame);
}

bool same(const Reading& a, const Reading& b) {
    if (a.refused != b.refused || a.frames.size() != b.frames.size()) return false;
    for (std::size_t i = 0; i < a.frames.size(); ++i) {
        if (a.frames[i].type != b.frames[i].type || a.frames[i].body != b.frames[i].body)
            return false;
    }
    return true;
}

}  // namespace
}  // namespace warmpool::protocol

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace warmpool::protocol;
    warmpool::fuzz::ByteReader input(data, size);
    Chunks chunks(input.take<std::uint8_t>());
    const std::string_view stream = input.rest();

    // As a non-blocking reader sees it: a chunk arrives, every complete frame is taken out.
    FrameReader reader;
    Reading chunked;
    for (std::size_t at = 0; at < stream.size();) {
        const std::size_t n = std::min(chunks.next(), stream.size() - at);
        reader.feed(stream.data() + at, n);
        at += n;
        if (!drain(reader, chunked)) break;
    }

    FrameReader whole;
    Reading at_once;
    whole.feed(stream.data(), stream.size());
    drain(whole, at_once);
    FUZZ_CHECK(same(chunked, at_once));

    for (const Frame& frame : chunked.frames) decode_every_type(frame);
    return 0;
}
