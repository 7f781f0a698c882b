"""The classic triple-loop product: the product of i*j*k over i, j, k in 1..n-1, a
big-integer loop that holds the GIL throughout, computed for n = 40, 38, 36, 34 with threads,
with ProcessPoolExecutor(max_workers=2) and with warmpool.Executor() — the one line changed —
against a serial run. The product is summarised as in examples/jobs/classic_workloads.hpp: its
number of decimal digits, the FNV-1a 64 hash of its decimal text and its first 20 digits.
triple_product is defined in this script: warmpool sends it to its workers by value.

    /usr/bin/python3 examples/python/triple_product.py [N ...]
"""
import sys
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

import warmpool


def triple_product(n):
    # Python refuses to print integers this long unless told to (CVE-2020-10735 limit).
    sys.set_int_max_str_digits(0)
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


def timed(label, make_pool, inputs):
    start = time.time()
    if make_pool is None:
        results = list(map(triple_product, inputs))
    else:
        pool = make_pool()
        results = list(pool.map(triple_product, inputs))
        pool.shutdown()
    seconds = time.time() - start
    return label, results, seconds


def main():
    inputs = [int(a) for a in sys.argv[1:]] or [40, 38, 36, 34]
    runs = [timed("serial", None, inputs),
            timed("threads", lambda: ThreadPoolExecutor(max_workers=2), inputs),
            timed("processes", lambda: ProcessPoolExecutor(max_workers=2), inputs),
            timed("warmpool", lambda: warmpool.Executor(), inputs)]  # the one line changed
    serial = runs[0]
    for n, (digits, fnv, leading) in zip(inputs, serial[1]):
        print(f"n={n}: {digits} digits, fnv1a64 {fnv}, starts {leading}")
    ok = True
    for label, results, seconds in runs:
        same = results == serial[1]
        ok = ok and same
        print(f"{label:<10} took {seconds:.3f} seconds, {serial[2] / seconds:.2f}x serial"
              f"{'' if same else '  RESULTS DIFFER FROM SERIAL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
