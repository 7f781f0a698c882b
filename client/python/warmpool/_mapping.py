"""map(): many calls of one function in batches, results lazily in input order.

Inputs are read lazily and only a bounded window of batches is in flight, so memory stays flat
however long the input is. Chunk sizes adapt to the function: they start at one call per chunk
(so a few slow calls still spread over every worker) and grow, up to MAX_CHUNK, while chunks
come back faster than TARGET_CHUNK_S.

A pickle chunk is one batch item: the envelope of (fn_bytes or None, items, spread), each item
being the call's one argument (map over one iterable) or, with spread, a tuple of arguments; its
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


def map_calls(calls: _calls.Calls, fn, iterables, *, timeout=None, chunksize=1, window=8, priority=0):
    """A generator of fn(*args) for args in zip(*iterables), in order. The first failed call's
    exception is raised when its turn comes; TimeoutError if `timeout` seconds pass first."""
    _calls.check_priority(priority)
    name, kind = _calls.target_of(fn)
    if chunksize < 1:
        raise ValueError("chunksize must be >= 1")
    # One iterable: each item is the call's one argument, sent as it is (no 1-tuples to pickle).
    spread = len(iterables) != 1
    inputs = zip(*iterables) if spread else iter(iterables[0])
    end = None if timeout is None else time.monotonic() + timeout
    # Chunk by chunk from the generator; item by item by chain, without a Python frame per item.
    return itertools.chain.from_iterable(_run(calls, fn, name, kind, inputs, spread, end, chunksize, max(1, window),
                                                   priority))


def _run(calls, fn, name, kind, inputs, spread, end, chunksize, window, priority):
    """Yields each chunk's results as a list, in order; raises the first failure after the
    results before it."""
    fn_modules = calls.by_value_modules  # the modules fn_bytes has by value
    fn_bytes = _calls.pickle_function(fn, fn_modules) if kind == "value" else None
    adaptive = chunksize == 1
    chunk = 1
    in_flight = collections.deque()

    def send(items, as_json):
        if as_json:
            encoded = [_calls.json_args(item if spread else (item,), {}) for item in items]
            future = calls.native.submit_batch(name, _calls.JSON, encoded, priority=priority)
        else:
            head, buffers, _ = _codec.dumps((fn_bytes, items, spread))
            future = calls.native.submit_batch(name, _calls.PICKLE, [_codec.join(head, buffers)], priority=priority)
        in_flight.append(_Batch(future, items, as_json))

    def fill():
        while len(in_flight) < window:
            items = list(itertools.islice(inputs, chunk if adaptive else chunksize))
            if not items:
                return
            send(items, kind == "name" and name in calls.json_names)

    try:
        fill()
        while in_flight:
            batch = in_flight[0]
            remaining = None if end is None else max(0.0, end - time.monotonic())
            if not batch.future.wait(remaining):
                raise TimeoutError()
            in_flight.popleft()
            results = _read(calls, name, kind, batch, fn_modules)
            if results is None:
                # The job takes JSON, or the function needs more of itself sent by value: send
                # this batch and those in flight again, but for batches sent with JSON already
                # (another thread had learnt it), which stay in flight in their place.
                if kind == "value":
                    fn_modules = calls.by_value_modules
                    fn_bytes = _calls.pickle_function(fn, fn_modules)
                again = [batch] + list(in_flight)
                in_flight.clear()
                for b in again:
                    if b.as_json:
                        in_flight.append(b)
                    else:
                        send(b.args, kind == "name" and name in calls.json_names)
                continue
            if adaptive:
                took = time.monotonic() - batch.started
                if took < TARGET_CHUNK_S / 2 and len(batch.args) >= chunk:
                    chunk = min(chunk * 2, MAX_CHUNK)
            fill()
            values, failure = results
            yield values
            if failure is not None:
                failure()
    finally:
        for b in in_flight:
            b.future.cancel()


def _resend(calls, kind, name, status, payload, fn_modules) -> bool:
    """True if the batch is to be sent again: the job takes JSON, or the workers lack a module
    of the function sent by value (now to be pickled by value too)."""
    if kind == "name" and _calls.takes_json(status, payload):
        calls.json_names.add(name)
        return True
    if kind == "value":
        missing = _calls.module_the_pool_lacks(status, payload, fn_modules)
        if missing is not None:
            calls.lacks_module(missing)
            return True
    return False


def _read(calls, name, kind, batch, fn_modules):
    """The batch's (results, failure): the results before the first failed call, and None or a
    function raising that call's exception. None if it is to be sent again (_resend)."""
    status, flags, payload = batch.future.result()
    if status != 0:
        if not batch.as_json and _resend(calls, kind, name, status, payload, fn_modules):
            return None
        _calls.raise_failure(status, payload, not batch.as_json)
    items = batch.future.batch_results(1 if not batch.as_json else len(batch.args))
    if batch.as_json:
        return _json_results(items)
    item_status, item_payload = items[0]
    if item_status != 0:
        if _resend(calls, kind, name, item_status, item_payload, fn_modules):
            return None
        _calls.raise_failure(item_status, item_payload, True)
    values, failure = _codec.loads(item_payload)
    if failure is None:
        return values, None
    _index, code, error = failure
    return values, lambda: _calls.raise_failure(code, error, True)


def _json_results(items):
    import json
    values = []
    for status, payload in items:
        if status != 0:
            return values, lambda: _calls.raise_failure(status, payload, False)
        values.append(json.loads(payload))
    return values, None
