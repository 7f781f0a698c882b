"""Test jobs for the Python client's end-to-end tests: the md5 article's class with its slow
initialisation, a class counting its builds, echoes of bytes-like objects and NumPy arrays, and
exceptions a client can or cannot rebuild."""
import hashlib
import os
import time

import warmpool

# The md5 article's initialisation takes 10 s; a fraction of a second shows the same thing here.
MD5_INIT_SECONDS = 0.3


@warmpool.job
class Md5Chain:
    """Built once per worker after a slow initialisation; each call chains md5 as the C++
    md5_chain does: one running md5 of the message, then `rounds - 1` times fed its own hex
    digest."""

    def __init__(self):
        started = time.monotonic()
        time.sleep(MD5_INIT_SECONDS)
        self.init_seconds = time.monotonic() - started
        self.pid = os.getpid()

    def __call__(self, msg, rounds=1_000_000):
        if rounds == 0:
            return msg
        running = hashlib.md5(msg.encode())
        for _ in range(rounds - 1):
            running.update(running.hexdigest().encode())
        return running.hexdigest()


@warmpool.job
class InitCount:
    """Records how often this worker built it; each call says where it ran."""

    builds = 0

    def __init__(self):
        InitCount.builds += 1
        self.pid = os.getpid()
        self.calls = 0

    def __call__(self):
        self.calls += 1
        ctx = warmpool.context()
        return {"pid": self.pid, "builds": InitCount.builds, "calls": self.calls, "os_pid": os.getpid(),
                "slot": ctx.worker_slot, "ctx_pid": ctx.pid, "job_id": ctx.job_id, "attempt": ctx.attempt,
                "pool": ctx.pool}


@warmpool.job
def echo(value):
    return value


@warmpool.job
def describe(value):
    """The type the job received, its length, and a cheap fingerprint of its bytes."""
    data = memoryview(value).cast("B")
    return type(value).__name__, data.nbytes, hashlib.md5(data).hexdigest()


@warmpool.job
def make(kind, size, fill):
    data = bytes([fill]) * size
    if kind == "bytearray":
        return bytearray(data)
    if kind == "memoryview":
        return memoryview(data)
    return data


@warmpool.job
def array_plus_one(array):
    """A new array (same dtype and shape) with every element one more, and whether the argument
    arrived writable."""
    return array + 1, bool(array.flags.writeable)


class CannotRebuild(Exception):
    """Pickles, but unpickling calls CannotRebuild(message), which needs two arguments."""

    def __init__(self, message, code):
        super().__init__(message)
        self.code = code


class JobFailed(Exception):
    pass


@warmpool.job
def raise_job_failed(message):
    raise JobFailed(message)  # the line a remote traceback names


@warmpool.job
def raise_cannot_rebuild(message):
    raise CannotRebuild(message, 7)


@warmpool.job
def raise_private(message):
    from private_errors import PrivateError
    raise PrivateError(message)


@warmpool.job
def square(x):
    if x == "bad":
        raise ValueError("bad item")
    return x * x


@warmpool.job
def pause(seconds):
    time.sleep(seconds)
    return seconds


def init_builds():
    """Not exported: sent by value, it refers to this module by name, so a worker that imported
    the module runs it on its own copy (where InitCount was built)."""
    return InitCount.builds


@warmpool.job(retries=1)
def crash_first_attempt():
    """Ends its worker on the first attempt; the retry (on another worker) says which it is."""
    ctx = warmpool.context()
    if ctx.attempt == 1:
        os._exit(9)
    return ctx.attempt, os.getpid()
