// warmpool::Bytes: a byte string that may live in someone else's memory, shared and read-only.
//
//   warmpool::Bytes out = pool.call<warmpool::Bytes>("echo", big);   // no copy of the result
//   consume(out.view());
//
// As a result, Bytes reads a large result in place, in the shared memory its worker wrote it
// into: it holds a lease on that memory, and the worker reuses it only once every copy of the
// Bytes is gone (so keep it no longer than needed). It stays valid after the job's future and
// its Client are destroyed. A small result is owned. As an argument, Bytes::borrow() passes
// bytes the caller keeps alive, written once into the arguments' shared memory.
//
// Encoded exactly as std::string (Cereal binary), and type-checked as one: a function taking or
// returning std::string accepts Bytes. Copies share the bytes. Safe to read from any thread.
#pragma once

#include <cereal/cereal.hpp>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "warmpool/serialization.hpp"

namespace warmpool {

class Bytes {
public:
    Bytes() = default;
    // Owns `bytes`.
    explicit Bytes(std::string bytes) {
        auto owned = std::make_shared<const std::string>(std::move(bytes));
        view_ = *owned;
        keep_ = std::move(owned);
    }
    // `view`, kept valid by `keep` (whatever holds its memory).
    Bytes(std::shared_ptr<const void> keep, std::string_view view) : keep_(std::move(keep)), view_(view) {}
    // Refers to `bytes` without owning them: the caller keeps them alive while the Bytes is used.
    static Bytes borrow(std::string_view bytes) { return Bytes(nullptr, bytes); }

    std::string_view view() const { return view_; }
    operator std::string_view() const { return view_; }
    const char* data() const { return view_.data(); }
    std::size_t size() const { return view_.size(); }
    bool empty() const { return view_.empty(); }
    const char* begin() const { return view_.data(); }
    const char* end() const { return view_.data() + view_.size(); }
    std::string str() const { return std::string(view_); }

    friend bool operator==(const Bytes& a, const Bytes& b) { return a.view_ == b.view_; }
    friend bool operator==(const Bytes& a, std::string_view b) { return a.view_ == b; }

private:
    std::shared_ptr<const void> keep_;
    std::string_view view_;
};

template <class Archive>
void CEREAL_SAVE_FUNCTION_NAME(Archive& archive, const Bytes& bytes) {
    archive(cereal::make_size_tag(static_cast<cereal::size_type>(bytes.size())));
    archive(cereal::binary_data(bytes.data(), bytes.size()));
}

template <class Archive>
void CEREAL_LOAD_FUNCTION_NAME(Archive& archive, Bytes& bytes) {
    std::string owned;
    archive(owned);
    bytes = Bytes(std::move(owned));
}

template <>
struct FingerprintAs<Bytes> {
    using type = std::string;
};

}  // namespace warmpool
