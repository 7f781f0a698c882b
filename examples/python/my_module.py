"""The module of the classic gcd article: a brute-force greatest common divisor, slow on
purpose so that there is CPU work worth spreading over processes.

@warmpool.job exports gcd to a pool started with `--python-module my_module`: each worker
imports this module once and runs gcd by its name, "my_module.gcd", whoever calls it (a Python
executor, `warmpool call my_module.gcd '[12, 18]'` from the command line, a C++ client). The
decorator changes nothing else: gcd stays a plain function that serial code, threads and
ProcessPoolExecutor use as before.
"""
import warmpool


@warmpool.job
def gcd(pair):
    a, b = pair
    low = min(a, b)
    for i in range(low, 0, -1):
        if a % i == 0 and b % i == 0:
            return i
    assert False, 'Not reachable'
