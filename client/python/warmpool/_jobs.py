"""@warmpool.job and warmpool.context(): how a module exports Python jobs to a pool.

A pool started with --python-module NAME imports NAME in each worker; every function or class
decorated with @job while that import runs (in NAME itself or in modules it imports) is one
job, named "module.qualname" unless name= says otherwise. A class is built once per worker,
before the worker reports ready; its __call__ serves each job. Nothing else is callable by name.
"""

from __future__ import annotations

from collections import namedtuple

# The longest job name the pool carries (kFunctionNameMax in shm_layout.hpp).
NAME_MAX = 47
# The name under which a function travels by value (kPythonByValue in python_host.hpp).
BY_VALUE = "warmpool.by_value"

# name; timeout in seconds (None: the pool's default); retries after a crash (None: the pool's
# setting); target: the function, or the class to instantiate. (Plain tuples rather than
# dataclasses: a script that imports warmpool starts measurably faster without them.)
JobSpec = namedtuple("JobSpec", "name timeout retries target")

# Every @job seen in this process, in the order seen (list.append is atomic). A worker reads it
# after importing its modules; a client process has entries too, unused.
_registry: list = []


def job(target=None, /, *, name=None, timeout=None, retries=None):
    """Exports a function, or a class whose instance (one per worker) is called for each job.

        @warmpool.job
        def gcd(pair): ...

        @warmpool.job(name="md5", timeout=30, retries=1)
        class Md5Chain:
            def __init__(self): time.sleep(10)   # once per worker
            def __call__(self, msg): ...
    """
    if timeout is not None and not (isinstance(timeout, (int, float)) and timeout > 0):
        raise ValueError("timeout must be a positive number of seconds")
    if retries is not None and not (isinstance(retries, int) and 0 <= retries <= 100):
        raise ValueError("retries must be an integer from 0 to 100")
    if name is not None and not (isinstance(name, str) and 0 < len(name.encode()) <= NAME_MAX):
        raise ValueError(f"name must be 1 to {NAME_MAX} bytes")

    def mark(obj):
        if not callable(obj):
            raise TypeError("@warmpool.job goes on a function or a class")
        spec = JobSpec(name or f"{obj.__module__}.{obj.__qualname__}", timeout, retries, obj)
        _registry.append(spec)
        obj.__warmpool_job__ = spec
        return obj

    return mark if target is None else mark(target)


def job_name(fn):
    """The pool name of an exported job, or None if fn is not one."""
    spec = getattr(fn, "__warmpool_job__", None)
    return spec.name if isinstance(spec, JobSpec) else None


# What warmpool.context() returns: pool name, worker slot, pid, job id, attempt (1 on the first run).
JobContext = namedtuple("JobContext", "pool worker_slot pid job_id attempt")

_current = None


def context() -> JobContext:
    """Where the running job runs: pool name, worker slot, pid, job id and attempt (1 on the
    first run). Only inside a job running in a warmpool worker."""
    if _current is None:
        raise RuntimeError("warmpool.context() is available only inside a job run by a warmpool worker")
    return _current


def _set_context(ctx) -> None:  # the worker's, before and after each job
    global _current
    _current = ctx

