// BoundedInputArchive: reads what AppendingOutputArchive (or cereal::BinaryOutputArchive) wrote,
// from bytes that may be hostile.
//
// Cereal's own BinaryInputArchive trusts every length prefix: a 40-byte message that claims a
// 1 GiB string makes it allocate 1 GiB before it finds the bytes missing. This archive refuses
// any size that exceeds the bytes still unread (every element of a container takes at least
// one byte), and any bool byte other than 0 or 1 (reading one into a bool is undefined
// behaviour). It reads straight from the caller's bytes, without a stream. Failures throw
// cereal::Exception; the callers (from_binary, protocol::decode) turn that into their errors.
#pragma once

#include <cereal/cereal.hpp>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>

#include "warmpool/appending_output_archive.hpp"
#include "warmpool/huge_page_advice.hpp"

namespace warmpool {

class BoundedInputArchive
    : public cereal::InputArchive<BoundedInputArchive, cereal::AllowEmptyClassElision> {
public:
    explicit BoundedInputArchive(std::string_view bytes)
        : InputArchive(this), next_(bytes.data()), end_(bytes.data() + bytes.size()) {}

    void loadBinary(void* data, std::size_t size) {
        if (size > remaining()) {
            throw cereal::Exception("value needs " + std::to_string(size) + " bytes but only " +
                                    std::to_string(remaining()) + " remain");
        }
        if (size != 0) std::memcpy(data, next_, size);
        next_ += size;
    }

    std::size_t remaining() const { return static_cast<std::size_t>(end_ - next_); }

private:
    const char* next_;
    const char* end_;
};

template <class T>
std::enable_if_t<std::is_arithmetic_v<T> && !std::is_same_v<T, bool>>
CEREAL_LOAD_FUNCTION_NAME(BoundedInputArchive& archive, T& value) {
    archive.loadBinary(std::addressof(value), sizeof value);
}

inline void CEREAL_LOAD_FUNCTION_NAME(BoundedInputArchive& archive, bool& value) {
    unsigned char byte = 0;
    archive.loadBinary(&byte, 1);
    if (byte > 1) throw cereal::Exception("bool byte is " + std::to_string(byte) + ", not 0 or 1");
    value = byte == 1;
}

template <class T>
void CEREAL_SERIALIZE_FUNCTION_NAME(BoundedInputArchive& archive, cereal::NameValuePair<T>& pair) {
    archive(pair.value);
}

// A container's element count: each element takes at least one byte, so a count larger than
// the bytes left is a lie, caught before the container is sized for it.
template <class T>
void CEREAL_SERIALIZE_FUNCTION_NAME(BoundedInputArchive& archive, cereal::SizeTag<T>& tag) {
    archive(tag.size);
    if (static_cast<std::uint64_t>(tag.size) > archive.remaining()) {
        throw cereal::Exception("length " + std::to_string(tag.size) + " exceeds the " +
                                std::to_string(archive.remaining()) + " bytes that remain");
    }
}

template <class T>
void CEREAL_LOAD_FUNCTION_NAME(BoundedInputArchive& archive, cereal::BinaryData<T>& data) {
    archive.loadBinary(data.data, static_cast<std::size_t>(data.size));
}

// A string, as cereal's own load reads it, except that a large one asks for transparent huge
// pages before its memory is first touched: a fresh 64 MiB string faults 16384 times in 4 KiB
// pages (~300 ms on a VM where a fault costs ~20 µs) and 32 times in 2 MiB ones (~35 ms).
// Only advice: where huge pages are off, nothing changes.
inline void CEREAL_LOAD_FUNCTION_NAME(BoundedInputArchive& archive, std::string& str) {
    cereal::size_type size = 0;
    archive(cereal::make_size_tag(size));
    if (str.capacity() < size) {
        std::string fresh;
        fresh.reserve(static_cast<std::size_t>(size));  // mapped, not yet touched
        advise_huge_pages(fresh.data(), static_cast<std::size_t>(size));
        str = std::move(fresh);
    }
    str.resize(static_cast<std::size_t>(size));
    archive.loadBinary(str.data(), static_cast<std::size_t>(size));
}

}  // namespace warmpool

CEREAL_REGISTER_ARCHIVE(warmpool::BoundedInputArchive)

// Pairs the two archives of our binary encoding (cereal checks load_minimal against save_minimal
// through this pairing).
CEREAL_SETUP_ARCHIVE_TRAITS(warmpool::BoundedInputArchive, warmpool::AppendingOutputArchive)
