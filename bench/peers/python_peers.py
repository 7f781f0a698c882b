#!/usr/bin/env python3
"""The Python peers of warmpool-bench: concurrent.futures.ProcessPoolExecutor ("ppe") and
multiprocessing.Pool ("mp"), each with 2 worker processes, running the same scenarios and the
same checks, printing the same JSON lines (see bench/bench_support.hpp):

  roundtrip  submit(echo, i).result() / apply(echo, (i,)), one at a time: latency percentiles
  inflight   --count separate submit()/apply_async() calls, up to --window outstanding: jobs/s
  map        map(echo, range(--count), chunksize=c) for each --chunk; the best chunk size counts
  payload    echo of --payload-mib blobs (bytes), one outstanding: GB/s, one line per timed echo
  classic    the classic workloads (same definitions as examples/jobs/classic_workloads.hpp,
             written in Python) serially in this process vs through the pool: speed-up
  warmstart  the whole job of a short-lived script: create a pool whose initializer takes
             --init-seconds, run --count echo jobs, exit (timed from outside as one process)
  idle       create a pool, start both workers, print {"supervisor": pid, "workers": [pids]} and
             sit idle until stdin closes, so the caller can read /proc for the idle cost

A pool belongs to the process that made it, so there is no many-clients scenario here.
The pool is created (and its workers started) before any clock starts, except in warmstart.
Exit codes: 0 all verified, 1 a result was wrong or a job failed.

  python3 python_peers.py SCENARIO --system ppe|mp [options]
"""
import argparse
import collections
import concurrent.futures
import hashlib
import json
import math
import multiprocessing
import os
import shlex
import statistics
import sys
import time

SYSTEMS = {"ppe": "ProcessPoolExecutor", "mp": "multiprocessing.Pool"}
WORKERS = 2

# ---------------------------------------------------------------------------------------------
# Job functions (module level, so both pools can pickle them by name)


def echo(x):
    return x


def init_worker(seconds):
    """The stand-in for an expensive per-worker set-up, as WARMPOOL_EXAMPLE_INIT_SECONDS."""
    time.sleep(seconds)


def nap(seconds):
    time.sleep(seconds)
    return os.getpid()


GCD_PAIRS = [(1963309, 2265973), (2030677, 3814172), (1551645, 2229620), (2039045, 2020802),
             (1823712, 1924928), (2293129, 1020491), (1281238, 2273782), (3823812, 4237281),
             (3812741, 4729139), (1292391, 2123811)]


def gcd(pair):
    """Brute force, counting down from min(a, b): slow on purpose, like the C++ one."""
    a, b = pair
    for d in range(min(a, b), 1, -1):
        if a % d == 0 and b % d == 0:
            return str(d)
    return "1"


def md5_chain(args):
    msg, rounds = args
    if rounds == 0:
        return msg
    md5 = hashlib.md5()
    for _ in range(rounds):
        md5.update(msg.encode())
        msg = md5.hexdigest()
    return msg


def triple_product(n):
    """The product of i*j*k over 1..n-1, summarised as "digits fnv1a64 leading20"."""
    # The decimal text of the product has hundreds of thousands of digits; Python refuses to
    # make such strings unless told to (CVE-2020-10735 limit).
    if hasattr(sys, "set_int_max_str_digits"):
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
    return "%d %016x %s" % (len(text), h, text[:20])


# ---------------------------------------------------------------------------------------------
# One interface over both pools


class Pool:
    """submit(fn, arg) -> handle; result(handle); map(fn, items, chunk); close() on exit."""

    def __init__(self, system, init_seconds=None):
        self.system = system
        init = {} if init_seconds is None else {"initializer": init_worker,
                                                  "initargs": (init_seconds,)}
        if system == "ppe":
            self.pool = concurrent.futures.ProcessPoolExecutor(max_workers=WORKERS, **init)
        else:
            self.pool = multiprocessing.Pool(WORKERS, **init)

    def submit(self, fn, arg):
        if self.system == "ppe":
            return self.pool.submit(fn, arg)
        return self.pool.apply_async(fn, (arg,))

    def result(self, handle):
        return handle.result() if self.system == "ppe" else handle.get()

    def call(self, fn, arg):
        if self.system == "ppe":
            return self.pool.submit(fn, arg).result()
        return self.pool.apply(fn, (arg,))

    def map(self, fn, items, chunk):
        if self.system == "ppe":
            return list(self.pool.map(fn, items, chunksize=chunk))
        return self.pool.map(fn, items, chunksize=chunk)

    def start_workers(self):
        """Makes sure every worker process exists (ProcessPoolExecutor starts them on demand)."""
        handles = [self.submit(nap, 0.2) for _ in range(WORKERS)]
        return sorted({self.result(h) for h in handles})

    def close(self):
        if self.system == "ppe":
            self.pool.shutdown(wait=True)
        else:
            self.pool.close()
            self.pool.join()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Failure(Exception):
    pass


def emit(args, scenario, metrics, params, extra):
    command = " ".join(shlex.quote(a) for a in
                       [sys.executable, os.path.abspath(__file__), scenario, "--system", args.system])
    print(json.dumps({"system": args.system, "scenario": scenario, "metrics": metrics,
                      "params": params, "command": command + extra}), flush=True)


def percentile(ordered, p):
    """Nearest rank, as bench_support.cpp."""
    rank = math.ceil(p * len(ordered))
    return ordered[min(len(ordered) - 1, max(rank, 1) - 1)]


def expect(got, want, what):
    if got != want:
        raise Failure("%s: got %r, expected %r" % (what, got, want))


# ---------------------------------------------------------------------------------------------
# Scenarios


def roundtrip(args, pool):
    n = args.count or 20000
    for i in range(args.warmup):
        expect(pool.call(echo, i), i, "roundtrip")
    us = []
    clock = time.perf_counter
    for i in range(n):
        start = clock()
        got = pool.call(echo, i)
        us.append((clock() - start) * 1e6)
        expect(got, i, "roundtrip")
    us.sort()
    emit(args, "roundtrip",
         {"p50_us": percentile(us, 0.5), "p90_us": percentile(us, 0.9),
          "p99_us": percentile(us, 0.99), "max_us": us[-1], "mean_us": statistics.fmean(us)},
         {"count": str(n)}, " --count %d --warmup %d" % (n, args.warmup))


def inflight(args, pool):
    n = args.count or 200000
    outstanding = collections.deque()
    start = time.perf_counter()
    for i in range(n):
        if len(outstanding) >= args.window:
            want, handle = outstanding.popleft()
            expect(pool.result(handle), want, "inflight")
        outstanding.append((i, pool.submit(echo, i)))
    while outstanding:
        want, handle = outstanding.popleft()
        expect(pool.result(handle), want, "inflight")
    elapsed = time.perf_counter() - start
    emit(args, "inflight", {"jobs_per_s": n / elapsed, "seconds": elapsed},
         {"count": str(n), "window": str(args.window)},
         " --count %d --window %d" % (n, args.window))


def map_(args, pool):
    n = args.count or 10000000
    inputs = range(n)
    rates = {}
    for chunk in args.chunk:
        start = time.perf_counter()
        results = pool.map(echo, inputs, chunk)
        elapsed = time.perf_counter() - start
        if len(results) != n or any(r != i for r, i in zip(results, inputs)):
            raise Failure("map with chunksize %d returned wrong results" % chunk)
        del results
        rates[chunk] = n / elapsed
    best = max(rates, key=rates.get)
    emit(args, "map", {"jobs_per_s": rates[best],
                       **{"jobs_per_s_chunk_%d" % c: r for c, r in rates.items()}},
         {"count": str(n), "chunk": str(best), "chunks_tried": ",".join(map(str, args.chunk))},
         " --count %d" % n + "".join(" --chunk %d" % c for c in args.chunk))


def time_payload_runs(reps, budget, echo_once):
    """As bench_support.cpp: an untimed warm-up echo, then up to `reps` timed ones, stopping
    once they took more than `budget` seconds together (0: no budget); a warm-up that alone took
    longer than `budget` is kept as the only run. Returns [(seconds, warmup_counted)]."""
    warmup = echo_once()
    if budget > 0 and warmup > budget:
        return [(warmup, True)]
    runs, spent = [], 0.0
    for _ in range(reps):
        runs.append((echo_once(), False))
        spent += runs[-1][0]
        if budget > 0 and spent > budget:
            break
    return runs


def payload(args, pool):
    extra = "".join(" --payload-mib %d" % m for m in args.payload_mib) + \
        " --reps %d --budget-seconds %g" % (args.reps, args.budget_seconds)
    for mib in args.payload_mib:
        blob = os.urandom(mib << 20)

        def echo_once():
            start = time.perf_counter()
            back = pool.call(echo, blob)
            elapsed = time.perf_counter() - start
            if back != blob:
                raise Failure("payload: echo of %d MiB came back different" % mib)
            return elapsed

        for run, (seconds, warmup_counted) in enumerate(
                time_payload_runs(args.reps, args.budget_seconds, echo_once)):
            emit(args, "payload", {"gbps_%dmib" % mib: len(blob) / seconds / 1e9},
                 {"mib": str(mib), "run": str(run), "warmup_counted": str(int(warmup_counted))},
                 extra)


def classic(args, pool):
    workloads = [
        ("gcd", gcd, GCD_PAIRS[:args.gcd_pairs]),
        ("md5_chain", md5_chain, [("Hello World", args.md5_rounds)] * args.md5_jobs),
        ("triple_product", triple_product,
         [max(1, args.triple_n - 2 * i) for i in range(args.triple_jobs)]),
    ]
    metrics = {}
    serial_total = pooled_total = 0.0
    for name, fn, inputs in workloads:
        start = time.perf_counter()
        want = [fn(x) for x in inputs]
        serial = time.perf_counter() - start
        start = time.perf_counter()
        handles = [pool.submit(fn, x) for x in inputs]  # all submitted, then all collected
        got = [pool.result(h) for h in handles]
        pooled = time.perf_counter() - start
        expect(got, want, name)
        metrics["speedup_" + name] = serial / pooled
        metrics["serial_s_" + name] = serial
        metrics["pooled_s_" + name] = pooled
        serial_total += serial
        pooled_total += pooled
    metrics["speedup_total"] = serial_total / pooled_total
    emit(args, "classic", metrics,
         {"gcd_pairs": str(args.gcd_pairs), "md5_jobs": str(args.md5_jobs),
          "md5_rounds": str(args.md5_rounds), "triple_n": str(args.triple_n),
          "triple_jobs": str(args.triple_jobs)},
         " --gcd-pairs %d --md5-jobs %d --md5-rounds %d --triple-n %d --triple-jobs %d"
         % (args.gcd_pairs, args.md5_jobs, args.md5_rounds, args.triple_n, args.triple_jobs))


def warmstart(args):
    with Pool(args.system, init_seconds=args.init_seconds) as pool:
        for i in range(args.count or 10):
            expect(pool.call(echo, i), i, "warmstart")


def idle(args, pool):
    pids = pool.start_workers()
    workers = sorted(p.pid for p in multiprocessing.active_children())
    print(json.dumps({"supervisor": os.getpid(), "workers": workers, "job_pids": pids}),
          flush=True)
    sys.stdin.read()  # until the caller closes our stdin


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenario", choices=["roundtrip", "inflight", "map", "payload",
                                             "classic", "warmstart", "idle"])
    parser.add_argument("--system", choices=sorted(SYSTEMS), required=True)
    parser.add_argument("--count", type=int, default=0)
    parser.add_argument("--warmup", type=int, default=1000)
    parser.add_argument("--window", type=int, default=10000)
    parser.add_argument("--chunk", type=int, action="append",
                        help="map: a chunk size to try (repeatable; default 1000, 10000, 100000)")
    parser.add_argument("--payload-mib", type=int, action="append")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--budget-seconds", type=float, default=0.0,
                        help="payload: stop repeating a size after this many seconds (0: never)")
    parser.add_argument("--gcd-pairs", type=int, default=10)
    parser.add_argument("--md5-jobs", type=int, default=8)
    parser.add_argument("--md5-rounds", type=int, default=1000000)
    parser.add_argument("--triple-n", type=int, default=40)
    parser.add_argument("--triple-jobs", type=int, default=4)
    parser.add_argument("--init-seconds", type=float, default=2.0)
    args = parser.parse_args()
    args.chunk = args.chunk or [1000, 10000, 100000]
    args.payload_mib = args.payload_mib or [1, 64]

    try:
        if args.scenario == "warmstart":
            warmstart(args)
            return 0
        scenario = {"roundtrip": roundtrip, "inflight": inflight, "map": map_,
                    "payload": payload, "classic": classic, "idle": idle}[args.scenario]
        with Pool(args.system) as pool:
            pool.start_workers()
            scenario(args, pool)
        return 0
    except Failure as e:
        print("python_peers: %s %s: %s" % (args.system, args.scenario, e), file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
