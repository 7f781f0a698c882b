"""The classic gcd article's ten pairs, four ways: serial, threads, ProcessPoolExecutor with two
processes, and warmpool.Executor() — the same script each time with the one executor line
changed. Prints each way's results and time, and exits 1 if any result is wrong.

The warmpool run needs a pool hosting my_module (see README.md):
    /usr/bin/python3 examples/python/gcd_compare.py [serial|threads|processes|warmpool ...]
"""
import sys
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from time import time

import warmpool

import my_module

NUMBERS = [
    (1963309, 2265973), (2030677, 3814172),
    (1551645, 2229620), (2039045, 2020802),
    (1823712, 1924928), (2293129, 1020491),
    (1281238, 2273782), (3823812, 4237281),
    (3812741, 4729139), (1292391, 2123811),
]
EXPECTED = [1, 1, 5, 1, 32, 1, 14, 9, 1, 9]


def run_serial():
    start = time()
    results = list(map(my_module.gcd, NUMBERS))
    end = time()
    return results, end - start


def run_threads():
    start = time()
    pool = ThreadPoolExecutor(max_workers=2)
    results = list(pool.map(my_module.gcd, NUMBERS))
    end = time()
    pool.shutdown()
    return results, end - start


def run_processes():
    start = time()
    pool = ProcessPoolExecutor(max_workers=2)
    results = list(pool.map(my_module.gcd, NUMBERS))
    end = time()
    pool.shutdown()
    return results, end - start


def run_warmpool():
    start = time()
    pool = warmpool.Executor()  # the one line changed: the pool's warm workers run my_module.gcd
    results = list(pool.map(my_module.gcd, NUMBERS))
    end = time()
    pool.shutdown()
    return results, end - start


WAYS = {"serial": run_serial, "threads": run_threads, "processes": run_processes,
        "warmpool": run_warmpool}


def main():
    chosen = sys.argv[1:] or list(WAYS)
    unknown = [w for w in chosen if w not in WAYS]
    if unknown:
        sys.exit("unknown way(s) %s; choose from %s" % (", ".join(unknown), ", ".join(WAYS)))
    ok = True
    for way in chosen:
        try:
            results, delta = WAYS[way]()
        except warmpool.ConnectError as e:
            print(f'{way:<10} cannot reach the pool ({e}); start it as examples/python/README.md '
                  f'shows', file=sys.stderr)
            ok = False
            continue
        right = results == EXPECTED
        ok = ok and right
        print(f'{way:<10} {results} took {delta:.3f} seconds{"" if right else "  WRONG"}')
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
