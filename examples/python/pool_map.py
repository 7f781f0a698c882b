"""The classic Pool.map article: a sleeping work_func mapped over a range, first with
multiprocessing.Pool(2), then with warmpool.Executor() — the one line changed. Prints the
results, the pids of the worker processes that ran the items, and the time.

multiprocessing.Pool forks new workers on every run of the script; a warmpool's workers outlive
it, so a second run shows the same pids. work_func is defined here in the script: warmpool
sends it to the workers by value (cloudpickle), and each worker unpickles it once.

    /usr/bin/python3 examples/python/pool_map.py
"""
import os
import sys
import time
from multiprocessing import Pool

import warmpool

SLEEP_SECONDS = float(os.environ.get("WORK_FUNC_SECONDS", "1"))


def work_func(x):
    # The article printed the pid from inside work_func; a warmpool worker's output goes to the
    # pool's log, so the pid comes back with the result instead.
    time.sleep(SLEEP_SECONDS)
    return x ** 5, os.getpid()


def show(label, pairs, seconds):
    results = [r for r, _ in pairs]
    pids = sorted({pid for _, pid in pairs})
    print(f"{label}: {results}")
    print(f"{'':{len(label)}}  worker pids {pids}, took {seconds:.3f} seconds")
    return results


def main():
    items = range(1, 9)

    start = time.time()
    pool = Pool(2)
    pairs = pool.map(work_func, items)
    pool.close()
    pool.join()
    expected = show("multiprocessing.Pool(2)", pairs, time.time() - start)

    start = time.time()
    pool = warmpool.Executor()  # the one line changed
    pairs = list(pool.map(work_func, items))
    pool.shutdown()
    got = show("warmpool.Executor()", pairs, time.time() - start)
    return 0 if got == expected == [x ** 5 for x in items] else 1


if __name__ == "__main__":
    sys.exit(main())
