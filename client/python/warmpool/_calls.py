"""How the clients turn a Python call into a job and its reply back into a value or an exception.

Shared by Client and Executor. The wire format is in docs/PROTOCOL.md ("Python calls"):
* an exported job (@warmpool.job, not defined in __main__) is called by its name with pickle;
* a string names any job of the pool: pickle first, and if the pool answers that the job takes
  JSON (a C++ job), the name is remembered and called with
  JSON from then on: one positional argument as its JSON value, several as an array, keyword
  arguments as an object;
* any other callable travels by value as "warmpool.by_value" with cloudpickle. cloudpickle
  refers to a function of an importable module by its name, so that a worker which has the
  module uses its own (warm) copy; if the worker answers that it cannot import that module (a
  test module, a helper beside a script), the module is remembered and the call sent again with
  that module's functions pickled by value.

A call sent before its encoding is known (a name neither known to take JSON nor yet run with
pickle; a function by value of a module none of whose functions has yet run) is *unsettled*: the
client that submitted it watches it and sends it again as soon as the answer says so
(_resender.py), so that the job runs whether or not anyone reads its result. Whoever reads the
result first sends it again otherwise; Calls.lock makes one of them do it, once.
"""

from __future__ import annotations

import sys
import threading
import time

from . import _codec, _jobs
from . import _native
from .errors import (BAD_REQUEST, HANDLER_ERROR, TYPE_MISMATCH, Cancelled, HandlerError, RemoteTraceback,
                     error_for)

BY_VALUE = _jobs.BY_VALUE
PICKLE = _native.ENCODING_PICKLE
JSON = _native.ENCODING_JSON


_MISSING_MODULE = rb"ModuleNotFoundError: No module named '([^']+)'"
# cloudpickle's registry of modules pickled by value is the process's: it is changed only for
# the duration of one dumps, under this lock.
_registry_lock = threading.Lock()


def pickle_function(fn, by_value_modules=()) -> bytes:
    """fn's cloudpickle; the functions of `by_value_modules` (the workers cannot import them)
    are pickled by value rather than by name."""
    import cloudpickle
    if not by_value_modules:
        return cloudpickle.dumps(fn, protocol=5)
    with _registry_lock:
        registered = cloudpickle.list_registry_pickle_by_value()
        added = [sys.modules[name] for name in by_value_modules if name not in registered and name in sys.modules]
        for module in added:
            cloudpickle.register_pickle_by_value(module)
        try:
            return cloudpickle.dumps(fn, protocol=5)
        finally:
            for module in added:
                cloudpickle.unregister_pickle_by_value(module)


def module_the_pool_lacks(status: int, message, known) -> str | None:
    """The module a worker could not import to unpickle a function sent by value, if that is why
    the call failed, this process has it loaded, and it is not in `known` already."""
    if status != BAD_REQUEST:
        return None
    import re  # only after a failed call: a client script starts faster without it
    match = re.search(_MISSING_MODULE, bytes(message))
    if match is None:
        return None
    name = match.group(1).decode("utf-8", "replace")
    if name in known or name == "__main__" or name not in sys.modules:
        return None
    return name


def target_of(fn):
    """(job name, kind) for fn: kind is "job" (exported), "name" (a string) or "value"."""
    if isinstance(fn, str):
        if not fn:
            raise ValueError("an empty job name")
        return fn, "name"
    name = _jobs.job_name(fn)
    if name is not None and getattr(fn, "__module__", "__main__") != "__main__":
        return name, "job"
    if not callable(fn):
        raise TypeError(f"{fn!r} is neither callable nor a job name")
    return BY_VALUE, "value"


def json_args(args: tuple, kwargs: dict) -> bytes:
    import json  # here, not at the top: json brings re, and most scripts never call a C++ job
    if kwargs:
        if args:
            raise TypeError("a JSON job takes positional or keyword arguments, not both")
        return json.dumps(kwargs).encode()
    if not args:
        return b"null"
    return json.dumps(args[0] if len(args) == 1 else list(args)).encode()


def takes_json(status: int, message) -> bool:
    """The pool's answer to a pickle call of a job that takes JSON only."""
    return status == TYPE_MISMATCH and b"takes JSON" in bytes(message)


def raise_failure(status: int, payload, pickled: bool):
    """Raises what a failed job means for a Python caller."""
    if status == HANDLER_ERROR and pickled:
        text, exc = _codec.decode_exception(payload)
        if exc is None:
            exc = HandlerError(text.split("\n\n", 1)[0])
        raise exc from RemoteTraceback(text)
    message = bytes(payload).decode("utf-8", "replace")
    if status == HANDLER_ERROR and "\n\n" in message:
        raise HandlerError(message.split("\n\n", 1)[0]) from RemoteTraceback(message)
    raise error_for(status, message)


def decode_value(flags: int, payload):
    if flags & _native.FLAG_PICKLE:
        return _codec.loads(payload, _native.materialize)
    if flags & _native.FLAG_JSON:
        import json
        return json.loads(bytes(payload) if not isinstance(payload, bytes) else payload)
    return bytes(payload)


PRIORITY_MIN = _native.PRIORITY_MIN
PRIORITY_MAX = _native.PRIORITY_MAX


def connect(pool, runtime_dir, endpoint, redis_password_file, client_name):
    """The native session of a Client or Executor: a local pool by name, or a scale-out cluster
    when endpoint (or pool) is "redis://[USER@]HOST[:PORT]/CLUSTER". The Redis password comes from
    redis_password_file, else $WARMPOOL_REDIS_PASSWORD_FILE or $WARMPOOL_REDIS_PASSWORD."""
    if endpoint is not None:
        if pool is not None:
            raise ValueError("give a pool or an endpoint, not both")
        if not endpoint.startswith("redis://"):
            raise ValueError(f"an endpoint is redis://[USER@]HOST[:PORT]/CLUSTER, not {endpoint!r}")
        pool = endpoint
    return _native.NativeClient(pool, runtime_dir, client_name, redis_password_file)


def check_priority(priority) -> None:
    """A job's priority: an int from PRIORITY_MIN (-8) to PRIORITY_MAX (7); higher runs first."""
    if isinstance(priority, bool) or not isinstance(priority, int):
        raise TypeError(f"priority must be an int, not {type(priority).__name__}")
    if not PRIORITY_MIN <= priority <= PRIORITY_MAX:
        raise ValueError(f"priority {priority} is outside {PRIORITY_MIN}..{PRIORITY_MAX}")


def module_of(fn) -> str | None:
    return getattr(fn, "__module__", None)


class Calls:
    """One pool session's calls: encodes, submits, and remembers which names take JSON."""

    def __init__(self, native):
        self.native = native
        self.json_names = set()
        self.pickle_names = set()            # names whose jobs have run with pickle
        self.by_value_modules = frozenset()  # modules the pool's workers cannot import
        self.ran_modules = set()             # modules of functions that have run sent by value
        # Held to send a call again, and to cancel one: one thread sends it again, and a cancel
        # either comes first (and prevents it) or cancels the call sent again.
        self.lock = threading.Lock()

    def lacks_module(self, name: str) -> None:
        self.by_value_modules = self.by_value_modules | {name}  # replaced whole: threads read it

    def start(self, fn, args, kwargs, timeout=None, deadline=None, priority=0):
        check_priority(priority)
        name, kind = target_of(fn)
        return Call(self, name, kind, fn, args, kwargs, timeout, deadline, priority)


class Call:
    """One submitted call; resubmitted once with JSON if the job turns out to take JSON."""

    __slots__ = ("calls", "name", "kind", "fn", "args", "kwargs", "timeout", "deadline_at", "priority", "pickled",
                 "sent_modules", "unsettled", "future", "cancelled", "last_id")

    def __init__(self, calls, name, kind, fn, args, kwargs, timeout, deadline, priority=0):
        self.calls = calls
        self.name = name
        self.kind = kind
        self.fn = fn
        self.args = args
        self.kwargs = kwargs
        self.timeout = timeout
        self.deadline_at = None if deadline is None else time.monotonic() + deadline
        self.priority = priority
        self.future = None
        self.cancelled = False
        self.last_id = 0
        self.send(kind == "name" and name in calls.json_names)

    @property
    def id(self) -> int:
        return self.future.id if self.future is not None else self.last_id

    def send(self, as_json: bool):
        """Sends the call; what describes the call sent changes only once it has gone out (were
        it to fail, the answer to the previous one is read as it was meant)."""
        calls = self.calls
        sent_modules = calls.by_value_modules
        if as_json:
            head, buffers = json_args(self.args, self.kwargs), []
            unsettled = False
        elif self.kind == "value":
            fn_bytes = pickle_function(self.fn, sent_modules)
            head, buffers, _ = _codec.dumps((fn_bytes,) + _codec.wrap_call(self.args, self.kwargs))
            unsettled = module_of(self.fn) not in calls.ran_modules
        else:
            head, buffers, _ = _codec.dumps(_codec.wrap_call(self.args, self.kwargs))
            unsettled = self.kind == "name" and self.name not in calls.pickle_names
        deadline = None if self.deadline_at is None else max(0.0, self.deadline_at - time.monotonic())
        future = calls.native.submit(self.name, JSON if as_json else PICKLE, head, buffers, self.timeout, deadline,
                                     self.priority)
        self.pickled = not as_json
        self.sent_modules = sent_modules
        self.unsettled = unsettled
        self.future = future

    def learn(self, status: int, payload):
        """What the answer to this call teaches its session, and whether to send the call again:
        True with JSON (the job takes JSON), False with more of the function by value (the
        workers lack a module), None if the answer is the call's outcome. The same answer gives
        the same reply however often it is asked."""
        calls = self.calls
        if self.kind == "name" and self.pickled:
            if takes_json(status, payload):
                calls.json_names.add(self.name)
                return True
            if self.unsettled and status in (0, HANDLER_ERROR):  # the job ran with pickle
                calls.pickle_names.add(self.name)
        elif self.kind == "value":
            missing = module_the_pool_lacks(status, payload, self.sent_modules)
            if missing is not None:
                calls.lacks_module(missing)
                return False
            if self.unsettled and status in (0, HANDLER_ERROR):
                calls.ran_modules.add(module_of(self.fn))
        return None

    def outcome(self, native):
        """(True, value) or (False, exception), once `native` (this call's future) is done; or
        None if the call was sent again (with JSON, or with more of the function by value; here
        or by the session's resender) and is pending once more. The native future is let go once
        the outcome is known: a result read in place holds its worker's shared memory (which the
        worker reuses for later results) for as long as it lives, and the outcome is a copy."""
        out = self._outcome(native)
        if out is not None:
            self.last_id = native.id
            self.future = None
        return out

    def _outcome(self, native):
        status, flags, payload = native.result()
        again = self.learn(status, payload) if status or self.unsettled else None  # a success teaches only those
        if again is not None:
            return self._send_again(native, again)
        if status == 0:
            try:
                return True, decode_value(flags, payload)
            except BaseException as exc:  # noqa: BLE001 - a result that cannot be decoded
                return False, exc
        with self.calls.lock:
            if self.future is not native:  # sent again by the resender, with what learn() reads
                return None
        try:
            raise_failure(status, payload, self.pickled)
        except BaseException as exc:  # noqa: BLE001
            return False, exc

    def _send_again(self, native, as_json):
        """Sends the call again after `native` answered that it must be: None once it is pending
        again, here or by the resender already; else its outcome (Cancelled, or why it could
        not be sent)."""
        with self.calls.lock:
            if self.future is not native:  # the resender has sent it again
                return None
            if self.cancelled:  # before the call that would have run it
                return False, Cancelled("cancelled before it ran")
            try:
                self.send(as_json)
            except BaseException as exc:  # noqa: BLE001
                return False, exc
            return None

    def send_again_now(self, native):
        """The resender's part, once `native` (sent while the call was unsettled) has finished:
        sends the call again now if the answer says so, rather than when its result is read.
        A call cancelled meanwhile, or that cannot be sent again, is left as it is: the reader
        of its result gets the outcome that says so. Returns the new native future if the call
        went out again and is still unsettled (to be watched in turn), else None."""
        if self.future is not native:  # read, and sent again or not, by the result's reader
            return None
        status, _, payload = native.result()
        again = self.learn(status, payload)
        if again is None:
            return None
        with self.calls.lock:
            if self.future is not native or self.cancelled:
                return None
            try:
                self.send(again)
            except Exception:  # noqa: BLE001 - the reader's own attempt raises it
                return None
            return self.future if self.unsettled else None

    def cancel(self, force=False):
        with self.calls.lock:
            self.cancelled = True
            future = self.future
        if future is not None:  # else it has ended
            future.cancel(force)

    def value(self, timeout=None):
        """Waits and returns the result or raises (TimeoutError if not done within timeout)."""
        end = None if timeout is None else time.monotonic() + timeout
        while True:
            native = self.future
            if not native.wait(None if end is None else max(0.0, end - time.monotonic())):
                raise TimeoutError()
            out = self.outcome(native)
            if out is None:
                continue
            ok, value = out
            if ok:
                return value
            try:
                raise value
            finally:
                value = None
