"""The warm-start scenario of bench/python_bench.py: the whole job of a short-lived script,
timed from outside as one process. It runs the ten gcd pairs of the classic article on a pool
whose workers take INIT_SECONDS to initialise: warmpool's are already warm (a running pool);
ProcessPoolExecutor, multiprocessing.Pool and loky create theirs, with that initializer, in this
process. Exits 1 if a result is wrong.

    python3 warmstart.py warmpool|ppe|mp|loky euclid|brute INIT_SECONDS [POOL RUNTIME_DIR]
"""
import sys

PAIRS = [(1963309, 2265973), (2030677, 3814172), (1551645, 2229620), (2039045, 2020802),
         (1823712, 1924928), (2293129, 1020491), (1281238, 2273782), (3823812, 4237281),
         (3812741, 4729139), (1292391, 2123811)]
EXPECTED = [1, 1, 5, 1, 32, 1, 14, 9, 1, 9]


def main():
    system, which, init_seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
    if which == "euclid":
        from bench_jobs import gcd_euclid as gcd
    else:
        from my_module import gcd
    if system == "warmpool":
        import warmpool
        with warmpool.Executor(sys.argv[4], sys.argv[5]) as pool:
            results = list(pool.map(gcd, PAIRS))
    elif system == "ppe":
        from concurrent.futures import ProcessPoolExecutor

        from bench_jobs import init_worker
        with ProcessPoolExecutor(2, initializer=init_worker, initargs=(init_seconds,)) as pool:
            results = list(pool.map(gcd, PAIRS))
    elif system == "mp":
        from multiprocessing import Pool

        from bench_jobs import init_worker
        with Pool(2, initializer=init_worker, initargs=(init_seconds,)) as pool:
            results = pool.map(gcd, PAIRS)
    else:
        from joblib.externals.loky import get_reusable_executor

        from bench_jobs import init_worker
        pool = get_reusable_executor(max_workers=2, initializer=init_worker,
                                     initargs=(init_seconds,))
        results = list(pool.map(gcd, PAIRS))
    if results != EXPECTED:
        print("warmstart %s: got %r, expected %r" % (system, results, EXPECTED), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
