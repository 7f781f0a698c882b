// SysError and Result<T>: errors as values at system and IPC boundaries.
//
// A SysError is a short code, the errno that caused it (0 if none) and a context string
// saying what was being attempted. Flow states ("would block", "peer closed") are not errors
// and are expressed by the callers' own return types.
#pragma once

#include <cerrno>
#include <string>
#include <utility>
#include <variant>

namespace warmpool {

struct SysError {
    enum class Code { io, protocol, permission, not_found, exists, invalid, resource };
    Code code = Code::io;
    int errno_value = 0;
    std::string context;

    std::string message() const;
};

// Builds a SysError from the current errno, classifying the common cases.
SysError errno_error(std::string context, int err = errno);
SysError make_error(SysError::Code code, std::string context);

template <class T>
class [[nodiscard]] Result {
public:
    Result(T value) : v_(std::move(value)) {}
    Result(SysError error) : v_(std::move(error)) {}

    bool ok() const { return v_.index() == 0; }
    explicit operator bool() const { return ok(); }
    T& value() & { return std::get<0>(v_); }
    T&& value() && { return std::get<0>(std::move(v_)); }
    const T& value() const& { return std::get<0>(v_); }
    T* operator->() { return &value(); }
    T& operator*() & { return value(); }
    const SysError& error() const { return std::get<1>(v_); }

private:
    std::variant<T, SysError> v_;
};

template <>
class [[nodiscard]] Result<void> {
public:
    Result() = default;
    Result(SysError error) : error_(std::move(error)), ok_(false) {}
    bool ok() const { return ok_; }
    explicit operator bool() const { return ok_; }
    const SysError& error() const { return error_; }

private:
    SysError error_;
    bool ok_ = true;
};

using Status = Result<void>;

}  // namespace warmpool
