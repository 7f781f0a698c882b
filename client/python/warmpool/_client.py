"""warmpool.Client: the lower-level client. One pool session, shareable between threads.

    client = warmpool.Client()                       # $WARMPOOL_POOL or "default"
    client = warmpool.Client("redis://redis-host:6379/jobs")   # a scale-out cluster
    client.call("gcd", [12, 18])                     # a C++ job by name: 6
    client.call(my_module.gcd, (12, 18))             # an exported Python job
    f = client.submit(lambda x: x * 2, 21)           # by value; f.result() == 42
    list(client.map(pow, range(10), itertools.repeat(2)))
    client.status()["workers"]
"""

from __future__ import annotations

import time

from . import _calls, _mapping, _resender


class JobFuture:
    """The eventual result of Client.submit: result(timeout), exception(timeout), done(), cancel()."""

    __slots__ = ("_call", "_outcome")

    def __init__(self, call):
        self._call = call
        self._outcome = None

    @property
    def id(self) -> int:
        return self._call.id

    def done(self) -> bool:
        return self._outcome is not None or (self._call.future is not None and self._call.future.done())

    def cancel(self, force: bool = False) -> None:
        """Asks the pool to drop the job if it has not started (with force: to stop it if it has);
        result() then raises Cancelled unless the result had already arrived."""
        self._call.cancel(force)

    def _settle(self, timeout):
        if self._outcome is None:
            end = None if timeout is None else time.monotonic() + timeout
            while True:
                native = self._call.future
                remaining = None if end is None else max(0.0, end - time.monotonic())
                if not native.wait(remaining):
                    raise TimeoutError()
                out = self._call.outcome(native)
                if out is not None:
                    self._outcome = out
                    break
        return self._outcome

    def result(self, timeout=None):
        ok, value = self._settle(timeout)
        if ok:
            return value
        raise value

    def exception(self, timeout=None):
        ok, value = self._settle(timeout)
        return None if ok else value


class Client:
    """A connection to one pool. pool and runtime_dir default to $WARMPOOL_POOL and
    $WARMPOOL_RUNTIME_DIR as for the C++ client; raises ConnectError if the pool is not there.
    A scale-out cluster is named by an endpoint, as pool or endpoint:
    "redis://[USER@]HOST[:PORT]/CLUSTER"; its password comes from redis_password_file, else
    $WARMPOOL_REDIS_PASSWORD_FILE or $WARMPOOL_REDIS_PASSWORD (never from the endpoint)."""

    def __init__(self, pool: str | None = None, runtime_dir: str | None = None, *, endpoint: str | None = None,
                 redis_password_file: str | None = None):
        self._native = _calls.connect(pool, runtime_dir, endpoint, redis_password_file, "python")
        self._calls = _calls.Calls(self._native)
        self._resender = _resender.Resender(self._native)
        self._runtime_dir = runtime_dir

    @property
    def pool(self) -> str:
        return self._native.pool_name

    @property
    def workers(self) -> int:
        """The pool's configured number of workers (of a cluster: about its gateways' capacity)."""
        return max(1, self._native.worker_slots // 2)

    def submit(self, fn, /, *args, timeout=None, deadline=None, priority=0, **kwargs) -> JobFuture:
        """Starts fn(*args, **kwargs) in the pool. fn: an exported job, a job name of the pool (C++
        or Python), or any picklable callable. timeout: run-time limit in seconds; deadline:
        seconds from now after which a job still queued ends as DeadlineExceeded; priority: -8 to
        7, higher runs first (ValueError outside that range)."""
        call = self._calls.start(fn, args, kwargs, timeout, deadline, priority)
        if call.unsettled:  # it may have to go out again, whether or not its result is read
            self._resender.watch(call, call.future)
        return JobFuture(call)

    def call(self, fn, /, *args, timeout=None, deadline=None, priority=0, **kwargs):
        """submit(...).result(): waits (without the GIL) and returns the result or raises."""
        return self._calls.start(fn, args, kwargs, timeout, deadline, priority).value()

    def map(self, fn, /, *iterables, timeout=None, chunksize=1, priority=0):
        """An iterator of fn(*args) for args in zip(*iterables), in input order, computed in
        batches; the first failed call's exception is raised when reached. priority: as submit's."""
        return _mapping.map_calls(self._calls, fn, iterables, timeout=timeout, chunksize=chunksize,
                                  window=self.workers * 4, priority=priority)

    def status(self) -> dict:
        """The pool's status (what `warmpool status --json` prints) as a dict; for a client of a
        scale-out cluster (redis://...), the cluster's (`warmpool status --endpoint ... --json`)."""
        import json
        return json.loads(self._native.status())

    def close(self) -> None:
        """Ends the session once its pending futures are gone."""
        self._native = None
        self._calls = None
        self._resender = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
