"""Test jobs: the classic article's gcd, a class built once per worker, warmpool.context(), and
functions showing how a JSON value maps to parameters."""
import os

import warmpool


@warmpool.job
def gcd(pair):
    # As the article wrote it: brute force, so that it takes a while.
    a, b = pair
    low = min(a, b)
    for i in range(low, 0, -1):
        if a % i == 0 and b % i == 0:
            return i
    return 1


_inits = 0


@warmpool.job
class Counted:
    """Built once per worker; each build is recorded in $WARMPOOL_TEST_INIT_LOG."""

    def __init__(self):
        global _inits
        _inits += 1
        path = os.environ.get("WARMPOOL_TEST_INIT_LOG")
        if path:
            with open(path, "a") as log:
                log.write(f"{os.getpid()}\n")

    def __call__(self):
        return {"pid": os.getpid(), "inits": _inits}


@warmpool.job
def where():
    ctx = warmpool.context()
    return {"pool": ctx.pool, "slot": ctx.worker_slot, "pid": ctx.pid, "job_id": ctx.job_id,
            "attempt": ctx.attempt, "os_pid": os.getpid()}


@warmpool.job
def one(value):
    return {"got": value}


@warmpool.job
def pair(a, b):
    return [a, b]


@warmpool.job
def nothing():
    return "nothing"


@warmpool.job
def scale(*, x, factor=2):
    return x * factor


@warmpool.job
def not_json():
    return {1, 2}


def helper():  # not exported: never callable by name
    return "helper"
