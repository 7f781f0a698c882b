// ErrorKind: the typed reasons a job can end without a result.
//
// These are the only terminal failures a client ever sees for an accepted job; the numeric
// values travel in shared memory (ReplyRecord::status) and must never be renumbered.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace warmpool {

enum class ErrorKind : std::uint16_t {
    handler_error = 1,      // the job function threw; the message is the exception's what()
    worker_crashed = 2,     // the worker died while holding the job; the message names the signal
    timeout = 3,            // the job ran longer than its time limit
    cancelled = 4,          // the client cancelled the job
    deadline_exceeded = 5,  // the job was still queued at its deadline
    unknown_function = 6,   // no function of that name in the job library
    bad_request = 7,        // malformed arguments, frame or payload
    overloaded = 8,         // the pool's queue is full and the caller asked not to wait
    shutting_down = 9,      // the pool is stopping (or went away) and cannot run the job
    type_mismatch = 10,     // the client's argument/result types differ from the function's
    permission = 11,        // the pool does not take this kind of call from this peer (pickle)
    poison = 12,            // scale-out: the job's deliveries ended without an outcome more times
                            // than the poison threshold allows (each crashed its worker, say)
};

constexpr std::string_view to_string(ErrorKind kind) {
    switch (kind) {
        case ErrorKind::handler_error: return "handler_error";
        case ErrorKind::worker_crashed: return "worker_crashed";
        case ErrorKind::timeout: return "timeout";
        case ErrorKind::cancelled: return "cancelled";
        case ErrorKind::deadline_exceeded: return "deadline_exceeded";
        case ErrorKind::unknown_function: return "unknown_function";
        case ErrorKind::bad_request: return "bad_request";
        case ErrorKind::overloaded: return "overloaded";
        case ErrorKind::shutting_down: return "shutting_down";
        case ErrorKind::type_mismatch: return "type_mismatch";
        case ErrorKind::permission: return "permission";
        case ErrorKind::poison: return "poison";
    }
    return "unknown_error";
}

inline constexpr ErrorKind kAllErrorKinds[] = {
    ErrorKind::handler_error,  ErrorKind::worker_crashed,    ErrorKind::timeout,
    ErrorKind::cancelled,      ErrorKind::deadline_exceeded, ErrorKind::unknown_function,
    ErrorKind::bad_request,    ErrorKind::overloaded,        ErrorKind::shutting_down,
    ErrorKind::type_mismatch,  ErrorKind::permission,        ErrorKind::poison,
};

// Values read from shared memory are untrusted: map them back only if they are real kinds.
constexpr std::optional<ErrorKind> error_kind_from_code(std::uint32_t code) {
    for (ErrorKind kind : kAllErrorKinds) {
        if (static_cast<std::uint32_t>(kind) == code) return kind;
    }
    return std::nullopt;
}

}  // namespace warmpool
