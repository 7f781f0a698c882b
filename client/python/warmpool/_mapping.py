"""map(): many calls of one function in batches, results lazily in input order.

Inputs are read lazily and only a bounded window of batches is in flight, so memory stays flat
however long the input is. Chunk sizes adapt to the function: they start at one call per chunk
(so a few slow calls still spread over every worker) and grow, up to MAX_CHUNK, while chunks
come back faster than TARGET_CHUNK_S.

A pickle chunk is one batch item: the envelope of (fn_bytes or None, [args_tuple, ...]); its
result is the envelope of (results_list, failure) with failure None or (index, code, payload).
A job taking JSON gets one batch item per call instead.
"""

from __future__ import annotations

import collections
import itertools
import time

from . import _calls, _codec

TARGET_CHUNK_S = 0.004
MAX_CHUNK = 4096


class _Batch:
    __slots__ = ("future", "args", "as_json", "started")

    def __init__(self, future, args, as_json):
        self.future = future
        self.args = args
        self.as_json = as_json
        self.started = time.monotonic()


def map_calls(calls: _calls.Calls, fn, iterables, *, timeout=None, chunksize=1, window=8):
    """A generator of fn(*args) for args in zip(*iterables), in order. The first failed call's
    exception is raised when its turn comes; TimeoutError if `timeout` seconds pass first."""
    name, kind = _calls.target_of(fn)
    if chunksize < 1:
        raise ValueError("chunksize must be >= 1")
    inputs = zip(*iterables)
    end = None if timeout is None else time.monotonic() + timeout
    return _run(calls, fn, name, kind, inputs, end, chunksize, max(1, window))


def _run(calls, fn, name, kind, inputs, end, chunksize, window):
    fn_bytes = _calls._pickle_function(fn) if kind == "value" else None
    adaptive = chunksize == 1
    chunk = 1
    in_flight = collections.deque()

    def send(args, as_json):
        if as_json:
            items = [_calls.json_args(a, {}) for a in args]
            future = calls.native.submit_batch(name, _calls.JSON, items)
        else:
            head, buffers, _ = _codec.dumps((fn_bytes, list(args)))
            future = calls.native.submit_batch(name, _calls.PICKLE, [_codec.join(head, buffers)])
        in_flight.append(_Batch(future, args, as_json))

    def fill():
        nonlocal chunk
        while len(in_flight) < window:
            args = list(itertools.islice(inputs, chunk if adaptive else chunksize))
            if not args:
                return
            send(args, kind == "name" and name in calls.json_names)

    try:
        fill()
        while in_flight:
            batch = in_flight[0]
            remaining = None if end is None else max(0.0, end - time.monotonic())
            if not batch.future.wait(remaining):
                raise TimeoutError()
            in_flight.popleft()
            results = _read(calls, name, kind, batch)
            if results is None:  # the job takes JSON: send this batch and those in flight again
                again = [batch] + list(in_flight)
                in_flight.clear()
                for b in again:
                    send(b.args, True)
                continue
            if adaptive:
                took = time.monotonic() - batch.started
                if took < TARGET_CHUNK_S / 2 and len(batch.args) >= chunk:
                    chunk = min(chunk * 2, MAX_CHUNK)
            fill()
            yield from results
    finally:
        for b in in_flight:
            b.future.cancel()


def _read(calls, name, kind, batch):
    """The batch's results (a generator raising at the first failure), or None if the pool says
    the job takes JSON."""
    status, flags, payload = batch.future.result()
    if status != 0:
        if not batch.as_json and kind == "name" and _calls.takes_json(status, payload):
            calls.json_names.add(name)
            return None
        _calls.raise_failure(status, payload, not batch.as_json)
    items = batch.future.batch_results(1 if not batch.as_json else len(batch.args))
    if batch.as_json:
        return _json_results(items)
    item_status, item_payload = items[0]
    if item_status != 0:
        if kind == "name" and _calls.takes_json(item_status, item_payload):
            calls.json_names.add(name)
            return None
        _calls.raise_failure(item_status, item_payload, True)
    values, failure = _codec.loads(item_payload)
    return _pickle_results(values, failure)


def _json_results(items):
    import json
    for status, payload in items:
        if status != 0:
            _calls.raise_failure(status, payload, False)
        yield json.loads(payload)


def _pickle_results(values, failure):
    yield from values
    if failure is not None:
        _index, code, payload = failure
        _calls.raise_failure(code, payload, True)
