// Future<R>: the eventual result of one submitted job. RawFuture: the same, undecoded.
//
// A large result is read where its worker wrote it (shared memory), not copied first:
// Future<Bytes> hands out that memory itself (bytes.hpp), any other R is decoded from it.
//
// A future is resolved exactly once, by the job's single terminal reply: a result, or a
// JobError whose kind says why not. If the pool goes away, it resolves with shutting_down
// within about 100 ms: the thread reading replies checks the connection that often while none
// come (kLivenessCheckNs in client/src/reply_waits.hpp). Futures of one Client may be waited on
// from any threads.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include <string_view>
#include <type_traits>

#include "warmpool/bytes.hpp"
#include "warmpool/job_error.hpp"
#include "warmpool/serialization.hpp"

namespace warmpool {

class Client;

namespace detail {
class Session;
struct JobSlot;
}  // namespace detail

class RawFuture {
public:
    RawFuture() = default;
    RawFuture(std::shared_ptr<detail::Session> session, std::shared_ptr<detail::JobSlot> slot)
        : session_(std::move(session)), slot_(std::move(slot)) {}

    bool valid() const { return slot_ != nullptr; }
    std::uint64_t id() const;
    bool ready() const;
    void wait() const;
    // True if the job finished within `timeout`.
    bool wait_for(std::chrono::nanoseconds timeout) const;
    // Asks the pool to drop the job if it has not started. With `force` a running job is
    // stopped too (its worker is replaced). Either way get() then reports `cancelled`, unless the
    // result had already arrived.
    void cancel(bool force = false) const;
    // Waits, then returns the encoded result or throws JobError.
    std::string get() const;
    // As get(), without a copy: the bytes stay valid while this future (or a copy of it) lives.
    std::string_view get_view() const;
    // Waits, then returns the result, encoded as a std::string is, as Bytes read in place.
    // Throws JobError (type_mismatch if the result is not a byte string).
    Bytes get_bytes() const;
    // Once ready(), what the reply says without throwing: its status (0, else an ErrorKind
    // code), its JobFlags (encoding_of() gives the result's encoding), and the result bytes or
    // the error message, valid while this future (or a copy of it) lives.
    std::uint16_t status() const;
    std::uint32_t reply_flags() const;
    std::string_view reply() const;

private:
    friend class Client;
    std::shared_ptr<detail::Session> session_;
    std::shared_ptr<detail::JobSlot> slot_;
};

template <class R>
class Future {
public:
    Future() = default;
    explicit Future(RawFuture raw) : raw_(std::move(raw)) {}

    bool valid() const { return raw_.valid(); }
    std::uint64_t id() const { return raw_.id(); }
    bool ready() const { return raw_.ready(); }
    void wait() const { raw_.wait(); }
    bool wait_for(std::chrono::nanoseconds timeout) const { return raw_.wait_for(timeout); }
    void cancel(bool force = false) const { raw_.cancel(force); }
    R get() const {
        if constexpr (std::is_same_v<R, Bytes>) {
            return raw_.get_bytes();
        } else {
            return decode();
        }
    }
    const RawFuture& raw() const { return raw_; }

private:
    R decode() const {
        try {
            return from_binary<R>(raw_.get_view());
        } catch (const DecodeError& e) {
            throw JobError(ErrorKind::type_mismatch, std::string("cannot decode the result: ") + e.what());
        }
    }

    RawFuture raw_;
};

}  // namespace warmpool
