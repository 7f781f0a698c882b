// SpanOutputArchive: writes Cereal's binary encoding into a fixed buffer, or only counts it.
//
// Byte for byte what AppendingOutputArchive writes. Built with no buffer it counts the bytes a
// value encodes to, so a caller can first learn the size, then encode straight into memory it
// already has (a blob in shared memory) instead of into a fresh string. Writing past the end
// throws std::length_error: the value changed between the two passes.
#pragma once

#include <cereal/cereal.hpp>
#include <cstddef>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <type_traits>

namespace warmpool {

class SpanOutputArchive : public cereal::OutputArchive<SpanOutputArchive, cereal::AllowEmptyClassElision> {
public:
    // Counts only.
    SpanOutputArchive() : OutputArchive(this) {}
    SpanOutputArchive(std::byte* out, std::size_t capacity) : OutputArchive(this), out_(out), capacity_(capacity) {}

    void saveBinary(const void* data, std::size_t size) {
        if (out_ != nullptr) {
            if (size > capacity_ - pos_) throw std::length_error("encoded value larger than counted");
            std::memcpy(out_ + pos_, data, size);
        }
        pos_ += size;
    }
    std::size_t size() const { return pos_; }

private:
    std::byte* out_ = nullptr;
    std::size_t capacity_ = 0;
    std::size_t pos_ = 0;
};

template <class T>
std::enable_if_t<std::is_arithmetic_v<T>> CEREAL_SAVE_FUNCTION_NAME(SpanOutputArchive& archive, const T& value) {
    archive.saveBinary(std::addressof(value), sizeof value);
}

template <class T>
void CEREAL_SERIALIZE_FUNCTION_NAME(SpanOutputArchive& archive, cereal::NameValuePair<T>& pair) {
    archive(pair.value);
}

template <class T>
void CEREAL_SERIALIZE_FUNCTION_NAME(SpanOutputArchive& archive, cereal::SizeTag<T>& tag) {
    archive(tag.size);
}

template <class T>
void CEREAL_SAVE_FUNCTION_NAME(SpanOutputArchive& archive, const cereal::BinaryData<T>& data) {
    archive.saveBinary(data.data, static_cast<std::size_t>(data.size));
}

}  // namespace warmpool

CEREAL_REGISTER_ARCHIVE(warmpool::SpanOutputArchive)
