#pragma once

#include <stdexcept>

namespace warmpool {

// Raised when bytes cannot be decoded as the expected type. A job's arguments that raise it are
// answered bad_request (job.hpp).
class DecodeError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

}  // namespace warmpool
