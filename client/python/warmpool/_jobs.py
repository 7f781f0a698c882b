"""@warmpool.job and warmpool.context(): how a module exports Python jobs to a pool.

A pool started with --python-module NAME imports NAME in each worker; every function or class
decorated with @job while that import runs (in NAME itself or in modules it imports) is one
job, named "module.qualname" unless name= says otherwise. A class is built once per worker,
before the worker reports ready; its __call__ serves each job. Nothing else is callable by name.
"""

from __future__ import annotations

import dataclasses
import threading
from typing import Optional

# The longest job name the pool carries (kFunctionNameMax in shm_layout.hpp).
NAME_MAX = 47


@dataclasses.dataclass(frozen=True)
class JobSpec:
    name: str
    timeout: Optional[float]  # seconds; None: the pool's default
    retries: Optional[int]    # extra attempts after a crash; None: the pool's setting
    target: object            # the function, or the class to instantiate


# Every @job seen in this process, in the order seen. A worker reads it after importing its
# modules; a client process has entries too, unused.
_registry: list[JobSpec] = []
_lock = threading.Lock()


def job(target=None, /, *, name: Optional[str] = None, timeout: Optional[float] = None,
        retries: Optional[int] = None):
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
        with _lock:
            _registry.append(spec)
        obj.__warmpool_job__ = spec
        return obj

    return mark if target is None else mark(target)


def job_name(fn) -> Optional[str]:
    """The pool name of an exported job, or None if fn is not one."""
    spec = getattr(fn, "__warmpool_job__", None)
    return spec.name if isinstance(spec, JobSpec) else None


@dataclasses.dataclass(frozen=True)
class JobContext:
    pool: str
    worker_slot: int
    pid: int
    job_id: int
    attempt: int


_current: Optional[JobContext] = None


def context() -> JobContext:
    """Where the running job runs: pool name, worker slot, pid, job id and attempt (1 on the
    first run). Only inside a job running in a warmpool worker."""
    if _current is None:
        raise RuntimeError("warmpool.context() is available only inside a job run by a warmpool worker")
    return _current


def _set_context(ctx: Optional[JobContext]) -> None:  # the worker's, before and after each job
    global _current
    _current = ctx

