"""warmpool.Executor: a concurrent.futures.Executor whose jobs run in a warmpool pool.

    with warmpool.Executor() as ex:            # instead of ProcessPoolExecutor(max_workers=2)
        print(list(ex.map(gcd, pairs)))

submit() returns a genuine concurrent.futures.Future. At most max_workers of this executor's
jobs are in the pool at once (None: the pool's size); the others wait here, where cancel() still
works. One thread of the executor ("the collector") completes the futures, told which jobs
finished by the session's completion queue; a thread calling result() on a future in the pool
waits for that job itself instead, which saves a hand-over between threads.
"""

from __future__ import annotations

import collections
import concurrent.futures
import threading
import time

from . import _calls, _mapping, _native


class _Future(concurrent.futures.Future):
    """A concurrent.futures.Future whose result() waits for its job directly when it can."""

    def __init__(self, executor):
        super().__init__()
        self._wp_executor = executor
        self._wp_call = None

    def result(self, timeout=None):
        if not self.done():
            timeout = self._wp_executor._wait_directly(self, timeout)
        return super().result(timeout)

    def exception(self, timeout=None):
        if not self.done():
            timeout = self._wp_executor._wait_directly(self, timeout)
        return super().exception(timeout)


class _WorkItem:
    __slots__ = ("future", "fn", "args", "kwargs")

    def __init__(self, future, fn, args, kwargs):
        self.future = future
        self.fn = fn
        self.args = args
        self.kwargs = kwargs


class Executor(concurrent.futures.Executor):
    def __init__(self, pool: str | None = None, runtime_dir: str | None = None, *, max_workers: int | None = None):
        if max_workers is not None and max_workers <= 0:
            raise ValueError("max_workers must be greater than 0")
        self._native = _native.NativeClient(pool, runtime_dir, "python-executor")
        self._calls = _calls.Calls(self._native)
        self._pool_workers = max(1, self._native.worker_slots // 2)
        self._max_workers = max_workers if max_workers is not None else self._pool_workers
        self._lock = threading.RLock()
        self._idle = threading.Condition(self._lock)
        self._pending = collections.deque()  # _WorkItem not yet sent to the pool
        self._running = {}                   # job id -> _Future in the pool
        self._shutdown = False
        self._collector = None

    # -- concurrent.futures.Executor ----------------------------------------------------------

    def submit(self, fn, /, *args, **kwargs):
        with self._lock:
            if self._shutdown:
                raise RuntimeError("cannot schedule new futures after shutdown")
            _calls.target_of(fn)  # a TypeError now, as the standard executors' for a non-callable
            future = _Future(self)
            self._pending.append(_WorkItem(future, fn, args, kwargs))
            self._dispatch()
            if self._collector is None:
                self._collector = threading.Thread(target=self._collect, name="warmpool-executor", daemon=True)
                self._collector.start()
            return future

    def map(self, fn, *iterables, timeout=None, chunksize=1):
        """fn(*args) for args in zip(*iterables), lazily in input order, through warmpool's batched
        map (chunksize 1: chosen as it goes). Raises the first failed call's exception when
        reached, and TimeoutError if the results are not all there `timeout` s after the call."""
        if self._shutdown:
            raise RuntimeError("cannot schedule new futures after shutdown")
        window = self._max_workers if self._max_workers < self._pool_workers else self._pool_workers * 4
        return _mapping.map_calls(self._calls, fn, iterables, timeout=timeout, chunksize=chunksize, window=window)

    def shutdown(self, wait=True, *, cancel_futures=False):
        with self._lock:
            self._shutdown = True
            if cancel_futures:
                while self._pending:
                    self._pending.popleft().future.cancel()
            collector = self._collector
            if collector is not None:
                self._native.wake()
        if wait and collector is not None:
            collector.join()

    # -- internals ------------------------------------------------------------------------------

    def _dispatch(self):
        """Sends queued work while fewer than max_workers of our jobs are in the pool. Under _lock."""
        while self._pending and len(self._running) < self._max_workers:
            item = self._pending.popleft()
            if not item.future.set_running_or_notify_cancel():
                continue
            try:
                call = self._calls.start(item.fn, item.args, item.kwargs)
            except BaseException as exc:  # noqa: BLE001 - the future carries it
                item.future.set_exception(exc)
                continue
            self._track(item.future, call)

    def _track(self, future, call):
        future._wp_call = call
        self._running[call.future.id] = future
        self._native.watch(call.future)

    def _finish(self, future, call):
        """Completes the future from its finished job (or sends it again as JSON)."""
        old_id = call.future.id
        out = call.outcome()
        with self._lock:
            self._running.pop(old_id, None)
            if out is None:  # resent with JSON
                self._track(future, call)
                return
            ok, value = out
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)
            self._dispatch()
            if not self._running and not self._pending:
                self._idle.notify_all()

    def _wait_directly(self, future, timeout):
        """Waits for the future's job on this thread if the collector has not been told of it yet;
        returns what is left of timeout."""
        end = None if timeout is None else time.monotonic() + timeout
        call = future._wp_call
        if call is None or not self._native.unwatch(call.future):
            return timeout
        while True:
            remaining = None if end is None else max(0.0, end - time.monotonic())
            if not call.future.wait(remaining):
                self._native.watch(call.future)  # the collector takes it back
                return 0.0
            old_id = call.future.id
            out = call.outcome()
            with self._lock:
                if out is None:
                    self._running.pop(old_id, None)
                    self._running[call.future.id] = future
                    continue
                self._running.pop(old_id, None)
                ok, value = out
                if ok:
                    future.set_result(value)
                else:
                    future.set_exception(value)
                self._dispatch()
                if not self._running and not self._pending:
                    self._idle.notify_all()
            return None if end is None else max(0.0, end - time.monotonic())

    def _collect(self):
        native = self._native
        while True:
            with self._lock:
                if self._shutdown and not self._running and not self._pending:
                    return
            for job_id in native.completions(0.5):
                with self._lock:
                    future = self._running.get(job_id)
                if future is not None:
                    self._finish(future, future._wp_call)
