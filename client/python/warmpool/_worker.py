"""The Python half of a warmpool worker (daemon/src/python_host.cpp is the other).

The worker's interpreter imports this module once, after fork. load() imports the pool's modules
and builds each exported class's instance: that is the worker's initialisation. run() serves each
call of a Python job; the C++ side hands it the name, the encoding and the argument bytes (a
memoryview valid for the call only) and writes what it returns into the reply:

    (0, head, buffers)   a result: head, then each buffer at the next multiple of 64 (_codec.join)
    (kind, payload, ())  a failure: an ErrorKind code and its payload

Only exported jobs (and "warmpool.by_value" for pickle calls) are ever called: the C++ side
looks the name up in the worker's function table first.
"""

from __future__ import annotations

import collections
import importlib
import inspect
import itertools
import json
import os
import pickle
import sys

from . import _codec, _jobs
from .errors import BAD_REQUEST, HANDLER_ERROR, TYPE_MISMATCH, UNKNOWN_FUNCTION

# Encoding values (encoding.hpp).
ENCODING_BINARY, ENCODING_JSON, ENCODING_PICKLE = 0, 1, 2

# The worker's exit status after a job raised MemoryError (kWorkerExitOutOfMemory).
EXIT_MEMORY_ERROR = 71
BY_VALUE = _jobs.BY_VALUE
# Functions sent by value, unpickled once per worker and kept: at most this many, and this many
# bytes of their pickles.
BY_VALUE_CACHE_ENTRIES = 256
BY_VALUE_CACHE_BYTES = 64 << 20

_NO_BUFFERS = ()


class _Job:
    """One exported job in this worker: what to call, and how a JSON value maps to its arguments."""

    __slots__ = ("name", "call", "single")

    def __init__(self, name, call):
        self.name = name
        self.call = call
        self.single = _takes_one_argument(call)


def _takes_one_argument(fn) -> bool:
    """True if fn takes exactly one required positional parameter (and no required keyword-only
    one): a JSON value is then that argument as it is. Decided once per function."""
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):
        return False
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    required = [p for p in signature.parameters.values() if p.default is inspect.Parameter.empty]
    required_positional = [p for p in required if p.kind in positional]
    required_keyword = [p for p in required if p.kind == inspect.Parameter.KEYWORD_ONLY]
    return len(required_positional) == 1 and not required_keyword


_jobs_by_name: dict[str, _Job] = {}
_pool = ""
_slot = 0
_pid = 0
_by_value: collections.OrderedDict[bytes, object] = collections.OrderedDict()
_by_value_bytes = 0


def load(modules, pool, slot, pid):
    """Imports `modules`, builds each exported class's instance once, and returns the jobs as
    [(name, timeout seconds or -1.0, retries)], warmpool.by_value included. Raises on any
    failure: the worker's initialisation then fails with the traceback."""
    global _pool, _slot, _pid
    _pool, _slot, _pid = pool, slot, pid
    for module in modules:
        importlib.import_module(module)
    jobs = []
    for spec in _jobs._registry:
        if spec.name in _jobs_by_name or spec.name == BY_VALUE:
            raise ValueError(f"two Python jobs are named {spec.name!r}")
        size = len(spec.name.encode("utf-8"))
        if not 0 < size <= _jobs.NAME_MAX:
            raise ValueError(f"Python job name {spec.name!r} is {size} bytes: at most {_jobs.NAME_MAX} "
                             f"(give it a shorter one with @warmpool.job(name=...))")
        target = spec.target
        call = target() if isinstance(target, type) else target  # a class: one instance per worker
        _jobs_by_name[spec.name] = _Job(spec.name, call)
        timeout = float(spec.timeout) if spec.timeout is not None else -1.0
        jobs.append((spec.name, timeout, spec.retries or 0))
    jobs.append((BY_VALUE, -1.0, 0))
    return jobs


def run(name, encoding, payload, job_id, attempt, batch):
    """Runs one call (or, for a pickle batch item, one chunk of calls) of job `name`."""
    _jobs._set_context(_jobs.JobContext(_pool, _slot, _pid, job_id, attempt))
    try:
        if encoding == ENCODING_JSON:
            return _run_json(name, payload)
        if encoding == ENCODING_PICKLE:
            return _run_chunk(name, payload) if batch else _run_pickle(name, payload)
        return TYPE_MISMATCH, f"function '{name}' is a Python job: it takes pickle or JSON".encode(), _NO_BUFFERS
    finally:
        _jobs._set_context(None)


def _fail(kind, message):
    return kind, message.encode("utf-8", "backslashreplace"), _NO_BUFFERS


def _describe(exc):
    return f"{type(exc).__name__}: {exc}"


# ---- JSON calls ----

def _run_json(name, payload):
    job = _jobs_by_name.get(name)
    if job is None:  # warmpool.by_value
        return _fail(UNKNOWN_FUNCTION, f"no function '{name}' takes JSON")
    try:
        value = json.loads(bytes(payload)) if len(payload) else None
    except ValueError as exc:
        return _fail(BAD_REQUEST, f"the arguments of '{name}' are not JSON: {exc}")
    try:
        result = _call_json(job, value)
    except BaseException as exc:
        _exit_if_fatal(exc)
        return HANDLER_ERROR, _codec.encode_exception(exc, False), _NO_BUFFERS
    try:
        text = json.dumps(result, allow_nan=False)
    except (TypeError, ValueError) as exc:
        return _fail(HANDLER_ERROR, f"the result of '{name}' cannot be written as JSON: {exc}")
    return 0, text.encode("utf-8"), _NO_BUFFERS


def _call_json(job, value):
    """A JSON value as the function's arguments: the one argument of a function that takes one;
    otherwise an array spread as positional arguments, an object as keyword arguments, null as
    none, and any other value as the one positional argument."""
    if job.single:
        return job.call(value)
    if isinstance(value, list):
        return job.call(*value)
    if isinstance(value, dict):
        return job.call(**value)
    if value is None:
        return job.call()
    return job.call(value)


# ---- pickle calls ----

def _function_of(name, fn_bytes):
    """The callable of a pickle call: the exported job, or the function sent by value."""
    if name != BY_VALUE:
        return _jobs_by_name[name].call
    global _by_value_bytes
    fn = _by_value.get(fn_bytes)
    if fn is not None:
        _by_value.move_to_end(fn_bytes)
        return fn
    fn = pickle.loads(fn_bytes)
    if not callable(fn):
        raise TypeError(f"a function sent by value unpickled to a {type(fn).__name__}, which is not callable")
    _by_value[fn_bytes] = fn
    _by_value_bytes += len(fn_bytes)
    while len(_by_value) > BY_VALUE_CACHE_ENTRIES or _by_value_bytes > BY_VALUE_CACHE_BYTES:
        old, _ = _by_value.popitem(last=False)
        _by_value_bytes -= len(old)
    return fn


def _decode_call(name, payload):
    """(fn, args, kwargs) of a single pickle call; raises ValueError if it is malformed."""
    value = _codec.loads(payload)
    if name == BY_VALUE:
        if not (isinstance(value, tuple) and len(value) == 3 and isinstance(value[0], bytes)):
            raise ValueError("a call by value is (fn_bytes, args, kwargs)")
        fn_bytes, args, kwargs = value
    else:
        if not (isinstance(value, tuple) and len(value) == 2):
            raise ValueError("a call is (args, kwargs)")
        fn_bytes = None
        args, kwargs = value
    if not isinstance(args, tuple) or not isinstance(kwargs, dict):
        raise ValueError("a call's arguments are a tuple and a dict")
    return fn_bytes, args, kwargs


def _run_pickle(name, payload):
    try:
        fn_bytes, args, kwargs = _decode_call(name, payload)
        fn = _function_of(name, fn_bytes)
    except Exception as exc:
        return _fail(BAD_REQUEST, f"cannot decode a pickle call of '{name}': {_describe(exc)}")
    try:
        result = fn(*args, **kwargs)
    except BaseException as exc:
        _exit_if_fatal(exc)
        return HANDLER_ERROR, _codec.encode_exception(exc, True), _NO_BUFFERS
    return _encode_result(name, _codec.wrap_value(result))


def _encode_result(name, value):
    try:
        head, buffers, _ = _codec.dumps(value)
    except Exception as exc:
        return HANDLER_ERROR, _codec.encode_exception(
            TypeError(f"the result of '{name}' cannot be pickled: {_describe(exc)}"), True), _NO_BUFFERS
    return 0, head, buffers


def _run_chunk(name, payload):
    """A batch item of a pickle map: (fn_bytes or None, items, spread) in, (results, failure)
    out. Each item is the call's one argument, or with `spread` a tuple of its arguments.
    failure is None or (index in the chunk, ErrorKind code, payload); results holds the results
    before it."""
    try:
        value = _codec.loads(payload)
        if not (isinstance(value, tuple) and len(value) == 3 and isinstance(value[1], list)):
            raise ValueError("a chunk is (fn_bytes or None, [item, ...], spread)")
        fn_bytes, items, spread = value
        if (name == BY_VALUE) != isinstance(fn_bytes, bytes):
            raise ValueError("only warmpool.by_value carries a function")
        if spread and not all(type(item) is tuple for item in items):
            raise ValueError("each item of a spread chunk is a tuple of arguments")
        fn = _function_of(name, fn_bytes)
    except Exception as exc:
        return _fail(BAD_REQUEST, f"cannot decode a pickle chunk of '{name}': {_describe(exc)}")
    results = []
    failure = None
    try:
        # extend() keeps what the calls before a failing one returned: its index is len(results).
        results.extend(itertools.starmap(fn, items) if spread else map(fn, items))
    except BaseException as exc:
        _exit_if_fatal(exc)
        failure = (len(results), HANDLER_ERROR, _codec.encode_exception(exc, True))
    return _encode_result(name, (results, failure))


# ---- the ends of a worker ----

def _exit_if_fatal(exc):
    """SystemExit ends the worker with its status, and MemoryError with EXIT_MEMORY_ERROR: the
    pool then answers worker_crashed (naming the status) and starts a replacement, as it does
    for a worker that dies any other way."""
    if isinstance(exc, SystemExit):
        code = exc.code
        if code is None:
            status = 0
        elif isinstance(code, int):
            status = code & 0xFF
        else:
            print(code, file=sys.stderr)
            status = 1
        _exit(status)
    if isinstance(exc, MemoryError):
        _exit(EXIT_MEMORY_ERROR)


def _exit(status):
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    os._exit(status)
