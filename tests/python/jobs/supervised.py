"""Test jobs for the supervisor's policies applied to Python jobs: retries, quarantine of a job
that keeps crashing its worker, recycling by job count and by resident memory, deadlines and
forced cancellation."""
import os
import time

import warmpool

_hoard = []


@warmpool.job(retries=1)
def crash_on_first_attempt(value):
    """Crashes its worker on the first attempt; the retry on another worker returns."""
    if warmpool.context().attempt == 1:
        os._exit(9)
    return {"value": value, "attempt": warmpool.context().attempt}


@warmpool.job(retries=5)
def always_crash():
    os.kill(os.getpid(), 9)


@warmpool.job
def pid():
    return os.getpid()


@warmpool.job
def hoard(mib):
    """Keeps `mib` MiB resident in this worker until it is replaced."""
    block = bytearray(mib << 20)
    for i in range(0, len(block), 4096):
        block[i] = 1
    _hoard.append(block)
    return os.getpid()


@warmpool.job
def nap(seconds):
    time.sleep(seconds)
    return os.getpid()
