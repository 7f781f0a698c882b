"""warmpool.Executor: a concurrent.futures.Executor whose jobs run in a warmpool pool.

    with warmpool.Executor() as ex:            # instead of ProcessPoolExecutor(max_workers=2)
        print(list(ex.map(gcd, pairs)))

submit() returns a genuine concurrent.futures.Future. At most max_workers of this executor's
jobs are in the pool at once (None: the pool's size); the others wait here, where cancel() still
works.

Who completes a future. A thread calling result() (or exception()) waits for the job's reply
itself and completes the future: the common submit-then-result path has no hand-over between
threads. A job is *watched* only when someone waits for it another way: concurrent.futures.wait
or as_completed (they add a waiter to the future), add_done_callback, jobs held back by
max_workers (their turn comes when a running one ends), shutdown(wait=True), and calls sent
before their encoding is known (_calls.py: the job must run even if nobody waits, and the
collector sends the call again as soon as the answer says so). For watched
jobs the session's completion queue names each finished job, and the executor's one thread (the
collector, started when the first job is watched and gone when none is) completes its future.
Whichever thread claims a finished job first (_claim) completes it, exactly once.
"""

from __future__ import annotations

import collections
import concurrent.futures
import threading
import time
import weakref

from . import _calls, _mapping


class _Waiters(list):
    """A future's waiter list. concurrent.futures.wait and as_completed append to it: someone
    waits without calling result(), so the future's job is watched from then on. It refers to
    its future weakly: a cycle would keep every finished future, and what it holds, until the
    garbage collector's next pass."""

    def __init__(self, future):
        super().__init__()
        self.future = weakref.ref(future)

    def append(self, waiter):
        super().append(waiter)
        future = self.future()
        if future is not None:
            future._wp_executor._watch(future)


class _Future(concurrent.futures.Future):
    """A concurrent.futures.Future completed by whoever waits for it (module docstring)."""

    def __init__(self, executor):
        super().__init__()
        self._wp_executor = executor
        self._wp_call = None      # the Call once the job is in the pool
        self._wp_wanted = False   # its job is to be watched
        self._waiters = _Waiters(self)

    def done(self):
        if not super().done():
            self._wp_executor._poll(self)
        return super().done()

    def add_done_callback(self, fn):
        super().add_done_callback(fn)
        if not super().done():
            self._wp_executor._watch(self)

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
    def __init__(self, pool: str | None = None, runtime_dir: str | None = None, *, max_workers: int | None = None,
                 priority: int = 0, endpoint: str | None = None, redis_password_file: str | None = None):
        """priority: of every job this executor sends, -8 to 7, higher runs first. pool, endpoint and
        redis_password_file name a local pool or a scale-out cluster, as for Client."""
        if max_workers is not None and max_workers <= 0:
            raise ValueError("max_workers must be greater than 0")
        _calls.check_priority(priority)
        self._priority = priority
        self._native = _calls.connect(pool, runtime_dir, endpoint, redis_password_file, "python-executor")
        self._calls = _calls.Calls(self._native)
        self._pool_workers = max(1, self._native.worker_slots // 2)
        self._max_workers = max_workers if max_workers is not None else self._pool_workers
        # Lock order: _lock, then _watch_lock. A future's own condition may be held when _watch
        # runs (wait() appends its waiter under it), so _watch takes _watch_lock only, and no
        # future is completed while _lock is held.
        self._lock = threading.RLock()
        self._idle = threading.Condition(self._lock)
        self._pending = collections.deque()  # _WorkItem not yet sent to the pool
        self._running = {}                   # job id -> _Future in the pool
        self._shutdown = False
        self._watch_lock = threading.Lock()
        self._watched = set()                # ids of watched jobs not yet claimed
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
            return future

    def map(self, fn, *iterables, timeout=None, chunksize=1):
        """fn(*args) for args in zip(*iterables), lazily in input order, through warmpool's batched
        map (chunksize 1: chosen as it goes). Raises the first failed call's exception when
        reached, and TimeoutError if the results are not all there `timeout` s after the call."""
        if self._shutdown:
            raise RuntimeError("cannot schedule new futures after shutdown")
        window = self._max_workers if self._max_workers < self._pool_workers else self._pool_workers * 4
        return _mapping.map_calls(self._calls, fn, iterables, timeout=timeout, chunksize=chunksize, window=window,
                                  priority=self._priority)

    def shutdown(self, wait=True, *, cancel_futures=False):
        with self._lock:
            self._shutdown = True
            if cancel_futures:
                while self._pending:
                    self._pending.popleft().future.cancel()
            # Every job still in the pool is completed by the collector from now on.
            for future in list(self._running.values()):
                self._watch_call(future)
            if not wait:
                return
            while self._running or self._pending:
                self._idle.wait(0.1)
        with self._watch_lock:
            collector = self._collector
        if collector is not None:
            self._native.wake()
            collector.join()

    # -- internals ------------------------------------------------------------------------------

    def _dispatch(self):
        """Sends queued work while fewer than max_workers of our jobs are in the pool. Under _lock."""
        while self._pending and len(self._running) < self._max_workers:
            item = self._pending.popleft()
            if not item.future.set_running_or_notify_cancel():
                continue
            try:
                call = self._calls.start(item.fn, item.args, item.kwargs, priority=self._priority)
            except BaseException as exc:  # noqa: BLE001 - the future carries it
                item.future.set_exception(exc)
                continue
            self._track(item.future, call)
        if self._pending:
            # Work held back here goes out when a running job ends: someone must hear of it.
            for future in self._running.values():
                if not future._wp_wanted:
                    self._watch_call(future)

    def _track(self, future, call):
        """A job now in the pool. Under _lock."""
        future._wp_call = call
        self._running[call.future.id] = future
        if future._wp_wanted or self._shutdown or call.unsettled:
            self._watch_call(future)

    def _watch(self, future):
        """Someone waits for the future other than through result(): its job is to be watched."""
        future._wp_wanted = True
        if future._wp_call is not None:  # else _track watches it when it goes out
            self._watch_call(future)

    def _watch_call(self, future):
        future._wp_wanted = True
        native = future._wp_call.future
        if native is None:  # the job has ended and its future is being completed
            return
        with self._watch_lock:
            self._watched.add(native.id)
            self._native.watch(native)  # queued at once if the job has already ended
            if self._collector is None:
                self._collector = threading.Thread(target=self._collect, name="warmpool-executor", daemon=True)
                self._collector.start()

    def _claim(self, job_id):
        """The future of a finished job, taken out of _running so that exactly one thread (the
        collector or one waiting for it) completes it; None if another thread has."""
        with self._lock:
            future = self._running.pop(job_id, None)
            with self._watch_lock:
                self._watched.discard(job_id)
        return future

    def _complete(self, future):
        """Completes a claimed future from its finished job; False if the job was sent again
        (with JSON) and is pending once more, tracked under its new id."""
        call = future._wp_call
        out = call.outcome(call.future)
        if out is None:
            with self._lock:
                self._track(future, call)
            return False
        ok, value = out
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)
        with self._lock:
            self._dispatch()
            if not self._running and not self._pending:
                self._idle.notify_all()
        return True

    def _poll(self, future):
        """done(): completes the future here if its job has ended."""
        call = future._wp_call
        native = None if call is None else call.future
        if native is not None and native.done():
            claimed = self._claim(native.id)
            if claimed is not None:
                self._complete(claimed)

    def _wait_directly(self, future, timeout):
        """Waits for the future's job on this thread and completes it here; returns what is left
        of timeout (0.0 when it ran out)."""
        end = None if timeout is None else time.monotonic() + timeout
        while True:
            call = future._wp_call
            if call is None:
                # Still held back by max_workers: watched once it goes out (_track), and result()
                # waits for the collector. Marked before _wp_call is read again, so that either
                # _track sees the mark or this thread sees the call.
                self._watch(future)
                if future._wp_call is None:
                    return None if end is None else max(0.0, end - time.monotonic())
                continue
            native = call.future
            if native is None:  # completed meanwhile by the thread that claimed it
                return None if end is None else max(0.0, end - time.monotonic())
            watched = self._native.unwatch(native)
            remaining = None if end is None else max(0.0, end - time.monotonic())
            try:
                finished = native.wait(remaining)
            except BaseException:  # KeyboardInterrupt: the collector takes the job back
                self._watch_call(future)
                raise
            if not finished:
                if watched:
                    self._native.watch(native)  # the collector takes it back
                return 0.0
            claimed = self._claim(native.id)
            if claimed is None or self._complete(future):
                # Completed here, or by the thread that claimed it first (result() waits for it).
                return None if end is None else max(0.0, end - time.monotonic())

    def _collect(self):
        """Completes watched jobs as the completion queue names them; ends when none is left."""
        native = self._native
        while True:
            with self._watch_lock:
                if not self._watched:
                    self._collector = None
                    return
            for job_id in native.completions(0.05):
                future = self._claim(job_id)
                if future is not None:
                    self._complete(future)
