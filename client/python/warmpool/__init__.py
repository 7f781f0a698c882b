"""warmpool for Python: warm worker processes that run Python jobs, and the clients that reach them.

    import warmpool
    with warmpool.Executor() as ex:          # instead of ProcessPoolExecutor(max_workers=2)
        print(list(ex.map(gcd, pairs)))

Inside a pool's workers, modules export jobs with @warmpool.job and read warmpool.context().
The client classes (Executor, Client) load the native extension when first used, so a worker
importing this package for @job loads nothing it does not need.
"""

from ._jobs import JobContext, context, job
from .errors import (BadRequest, Cancelled, ConnectError, DeadlineExceeded, HandlerError, JobError,
                     Overloaded, PermissionDenied, Poison, RemoteTraceback, ShuttingDown, Timeout,
                     TypeMismatch, UnknownFunction, WarmpoolError, WorkerCrashed)

__all__ = [
    "job", "context", "JobContext", "Executor", "Client",
    "WarmpoolError", "ConnectError", "JobError", "HandlerError", "WorkerCrashed", "Timeout",
    "Cancelled", "DeadlineExceeded", "UnknownFunction", "BadRequest", "Overloaded",
    "ShuttingDown", "TypeMismatch", "PermissionDenied", "Poison", "RemoteTraceback",
]


def __getattr__(name):
    if name == "Executor":
        from ._executor import Executor
        return Executor
    if name == "Client":
        from ._client import Client
        return Client
    raise AttributeError(f"module 'warmpool' has no attribute {name!r}")
