"""Test jobs that fail, crash their worker or take too long."""
import ctypes
import os
import sys
import time

import warmpool


@warmpool.job
def boom(message):
    raise ValueError(message)


@warmpool.job
def hard_exit(status):
    os._exit(status)


@warmpool.job
def sys_exit(status):
    sys.exit(status)


@warmpool.job
def out_of_memory():
    raise MemoryError("no more")


@warmpool.job
def segfault():
    return ctypes.string_at(0)


@warmpool.job(timeout=0.5)
def slow(seconds):
    time.sleep(seconds)
    return seconds


@warmpool.job
def sleep_reporting(args):
    """Writes its pid to `path`, then sleeps."""
    path, seconds = args
    with open(path, "w") as f:
        f.write(str(os.getpid()))
    time.sleep(seconds)
    return "woke"
