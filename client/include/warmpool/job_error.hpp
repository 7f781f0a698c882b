// JobError: how a client learns that a job ended without a result. ConnectError: that it could
// not reach (or was refused by) a pool.
#pragma once

#include <stdexcept>
#include <string>

#include "warmpool/error_kind.hpp"

namespace warmpool {

class JobError : public std::runtime_error {
public:
    JobError(ErrorKind kind, const std::string& message)
        : std::runtime_error(std::string(to_string(kind)) + ": " + message), kind_(kind), message_(message) {}
    ErrorKind kind() const { return kind_; }
    // The message alone, without the kind prefix that what() carries.
    const std::string& message() const { return message_; }

private:
    ErrorKind kind_;
    std::string message_;
};

class ConnectError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

}  // namespace warmpool
