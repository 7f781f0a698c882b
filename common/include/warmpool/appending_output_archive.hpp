// AppendingOutputArchive: writes Cereal's binary encoding by appending to a std::string.
//
// Byte for byte what cereal::BinaryOutputArchive writes (so BoundedInputArchive reads it), but
// without a std::ostream: building a stream costs more than encoding a small value, and jobs
// encode millions of small values.
#pragma once

#include <cereal/cereal.hpp>
#include <cstddef>
#include <memory>
#include <string>
#include <type_traits>

namespace warmpool {

class AppendingOutputArchive
    : public cereal::OutputArchive<AppendingOutputArchive, cereal::AllowEmptyClassElision> {
public:
    explicit AppendingOutputArchive(std::string& out) : OutputArchive(this), out_(out) {}

    void saveBinary(const void* data, std::size_t size) { out_.append(static_cast<const char*>(data), size); }

private:
    std::string& out_;
};

template <class T>
std::enable_if_t<std::is_arithmetic_v<T>> CEREAL_SAVE_FUNCTION_NAME(AppendingOutputArchive& archive,
                                                                    const T& value) {
    archive.saveBinary(std::addressof(value), sizeof value);
}

template <class T>
void CEREAL_SERIALIZE_FUNCTION_NAME(AppendingOutputArchive& archive, cereal::NameValuePair<T>& pair) {
    archive(pair.value);
}

template <class T>
void CEREAL_SERIALIZE_FUNCTION_NAME(AppendingOutputArchive& archive, cereal::SizeTag<T>& tag) {
    archive(tag.size);
}

template <class T>
void CEREAL_SAVE_FUNCTION_NAME(AppendingOutputArchive& archive, const cereal::BinaryData<T>& data) {
    archive.saveBinary(data.data, static_cast<std::size_t>(data.size));
}

}  // namespace warmpool

CEREAL_REGISTER_ARCHIVE(warmpool::AppendingOutputArchive)
