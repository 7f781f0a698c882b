"""The errors a warmpool job can end with, one class per kind (error_kind.hpp)."""

from __future__ import annotations


class WarmpoolError(Exception):
    """Base of every error raised by warmpool."""


class ConnectError(WarmpoolError):
    """No pool of that name answers, or it refuses this user."""


class JobError(WarmpoolError):
    """A job ended without a result. `kind` is the pool's name for why (e.g. "timeout")."""

    kind = "job_error"

    def __init__(self, message: str = "", kind: str | None = None):
        super().__init__(message)
        if kind is not None:
            self.kind = kind

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""


class HandlerError(JobError):
    kind = "handler_error"


class WorkerCrashed(JobError):
    kind = "worker_crashed"


class Timeout(JobError):
    kind = "timeout"


class Cancelled(JobError):
    kind = "cancelled"


class DeadlineExceeded(JobError):
    kind = "deadline_exceeded"


class UnknownFunction(JobError):
    kind = "unknown_function"


class BadRequest(JobError):
    kind = "bad_request"


class Overloaded(JobError):
    kind = "overloaded"


class ShuttingDown(JobError):
    kind = "shutting_down"


class TypeMismatch(JobError):
    kind = "type_mismatch"


class PermissionDenied(JobError):
    kind = "permission"


class Poison(JobError):
    """A scale-out job whose deliveries ended without an outcome (a crashed worker, say) more
    times than the gateways' poison threshold allows."""

    kind = "poison"


class RemoteTraceback(Exception):
    """The traceback of an exception raised inside a worker; attached as __cause__."""

    def __init__(self, text: str):
        super().__init__(text)
        self.tb = text

    def __str__(self):
        return self.tb


# ErrorKind codes (error_kind.hpp): the values the client and the worker's Python half use.
HANDLER_ERROR, UNKNOWN_FUNCTION, BAD_REQUEST, TYPE_MISMATCH = 1, 6, 7, 10

# ErrorKind codes to classes.
KINDS = {
    HANDLER_ERROR: HandlerError, 2: WorkerCrashed, 3: Timeout, 4: Cancelled, 5: DeadlineExceeded,
    UNKNOWN_FUNCTION: UnknownFunction, BAD_REQUEST: BadRequest, 8: Overloaded, 9: ShuttingDown,
    TYPE_MISMATCH: TypeMismatch, 11: PermissionDenied, 12: Poison,
}


def error_for(code: int, message: str) -> JobError:
    cls = KINDS.get(code)
    return cls(message) if cls is not None else JobError(message, kind=f"error_{code}")
