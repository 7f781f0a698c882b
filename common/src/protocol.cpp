#include "warmpool/common/protocol.hpp"

#include <cstring>

namespace warmpool::protocol {

Result<std::optional<Frame>> FrameReader::next() {
    if (buffer_.size() < sizeof(FrameHeader)) return std::optional<Frame>{};
    FrameHeader header;
    std::memcpy(&header, buffer_.data(), sizeof header);
    if (header.magic != kFrameMagic) {
        return make_error(SysError::Code::protocol, "bad frame magic");
    }
    if (header.version != kProtocolVersion) {
        return make_error(SysError::Code::protocol,
                          "unsupported protocol version " + std::to_string(header.version));
    }
    if (header.length > kMaxFrameBody) {
        return make_error(SysError::Code::protocol,
                          "frame of " + std::to_string(header.length) + " bytes exceeds the limit");
    }
    if (buffer_.size() < sizeof header + header.length) return std::optional<Frame>{};
    Frame frame{static_cast<MessageType>(header.type),
                buffer_.substr(sizeof header, header.length)};
    buffer_.erase(0, sizeof header + header.length);
    return std::optional<Frame>{std::move(frame)};
}

}  // namespace warmpool::protocol
