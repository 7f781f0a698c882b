"""The Python jobs of the Python benchmarks (bench/python_bench.py), exported to the benchmark's
pool (`--python-module bench_jobs`) and used by name by every system: warmpool runs them on its
warm workers, ProcessPoolExecutor, multiprocessing.Pool and loky pickle them by reference.

The article workloads' own functions live in examples/python (my_module.gcd,
md5_worker.md5_chain and its exported class md5_worker.Md5Chain); this module adds the trivial
jobs, the article's sleeping work_func and the triple-loop product.
"""
import os
import sys
import time

import warmpool


@warmpool.job
def noop():
    """The empty job of the round-trip scenario."""


@warmpool.job
def echo(x):
    return x


@warmpool.job
def gcd_euclid(pair):
    """The warm-start scenario's gcd: Euclid's, so that the figure is the cost of starting a
    client and reaching warm workers, not arithmetic (the brute-force one is measured too)."""
    a, b = pair
    while b:
        a, b = b, a % b
    return a


@warmpool.job
def work_func(x, seconds):
    """The Pool.map article's job: sleeps, then returns x ** 5 and the pid that ran it."""
    time.sleep(seconds)
    return x ** 5, os.getpid()


@warmpool.job
def triple_product(n):
    """The product of i*j*k over 1..n-1 as examples/jobs/classic_workloads.hpp defines it,
    summarised as (digits, fnv1a64 hex of the decimal text, first 20 digits)."""
    sys.set_int_max_str_digits(0)  # the decimal text has hundreds of thousands of digits
    product = 1
    for i in range(1, n):
        for j in range(1, n):
            for k in range(1, n):
                product *= i * j * k
    text = str(product)
    h = 0xcbf29ce484222325
    for byte in text.encode():
        h = ((h ^ byte) * 0x100000001b3) & 0xffffffffffffffff
    return len(text), "%016x" % h, text[:20]


def init_worker(seconds):
    """The peers' initializer: the same initialisation as md5_worker.Md5Chain's, once per
    worker process."""
    time.sleep(seconds)
