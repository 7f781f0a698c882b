#!/usr/bin/env python3
"""The measurement program of bench/python_bench.py: one scenario on one Python system with 2
workers, printing JSON lines as bench/peers/python_peers.py does ({"system", "scenario",
"metrics", "params", "command"}). Systems: warmpool (warmpool.Executor, and warmpool.Client for
the round trip, against a running pool hosting bench_jobs, my_module and md5_worker),
ppe (ProcessPoolExecutor), mp (multiprocessing.Pool), loky (joblib's reusable executor);
"floor" measures the machine from Python with no pool.

  roundtrip  an empty job (bench_jobs.noop), one outstanding: latency percentiles
  map        bench_jobs.echo over --count ints; peers try each --chunk, warmpool uses its own
  classic    the four article workloads serially in this process, then through the pool (all
             submitted, then collected): speed-up, results checked against serial
  payload    echo of --payload-mib random bytes, one outstanding: GB/s per timed echo
  floor      pipe ping-pong between two Python processes, a copy of the payload in Python, a
             pure-Python loop in 2 processes side by side vs one after the other

The pool is created and its workers started before any clock starts. Exit 1 on a wrong result.
  python3 python_systems.py SCENARIO --system S [--pool NAME --runtime-dir DIR] [options]
"""
import argparse
import json
import math
import os
import shlex
import sys
import time

import bench_jobs
import md5_worker
import my_module

WORKERS = 2
MESSAGES = ["Hello World", "Hello Python", "Hello warmpool", "Goodbye World"]
GCD_PAIRS = [(1963309, 2265973), (2030677, 3814172), (1551645, 2229620), (2039045, 2020802),
             (1823712, 1924928), (2293129, 1020491), (1281238, 2273782), (3823812, 4237281),
             (3812741, 4729139), (1292391, 2123811)]


class Failure(Exception):
    pass


def expect(got, want, what):
    if got != want:
        raise Failure("%s: got %r, expected %r" % (what, got, want)[:600])


class System:
    """One interface over the four pools: submit(fn, *args) -> handle, result(handle),
    call(fn, *args), map(fn, items, chunk) -> list, close()."""

    def __init__(self, args):
        self.key = args.system
        if self.key == "warmpool":
            import warmpool
            self.pool = warmpool.Executor(args.pool, args.runtime_dir)
            self.client = warmpool.Client(args.pool, args.runtime_dir)
        elif self.key == "ppe":
            from concurrent.futures import ProcessPoolExecutor
            self.pool = ProcessPoolExecutor(max_workers=WORKERS)
        elif self.key == "mp":
            import multiprocessing
            self.pool = multiprocessing.Pool(WORKERS)
        else:
            from joblib.externals.loky import get_reusable_executor
            self.pool = get_reusable_executor(max_workers=WORKERS)

    def submit(self, fn, *args):
        if self.key == "mp":
            return self.pool.apply_async(fn, args)
        return self.pool.submit(fn, *args)

    def result(self, handle):
        return handle.get() if self.key == "mp" else handle.result()

    def call(self, fn, *args):
        return self.result(self.submit(fn, *args))

    def map(self, fn, items, chunk):
        if self.key == "mp":
            return self.pool.map(fn, items, chunksize=chunk)
        return list(self.pool.map(fn, items, chunksize=chunk))

    def start_workers(self):
        """Every worker process exists and has run a job (the peers start them on demand)."""
        handles = [self.submit(bench_jobs.work_func, 0, 0.2) for _ in range(WORKERS)]
        return sorted({self.result(h)[1] for h in handles})

    def close(self):
        if self.key == "mp":
            self.pool.close()
            self.pool.join()
        else:
            self.pool.shutdown(wait=True)


def emit(args, metrics, params, extra=""):
    command = shlex.join([sys.executable, os.path.abspath(__file__), args.scenario,
                          "--system", args.system])
    if args.system == "warmpool":
        command += " --pool %s --runtime-dir %s" % (shlex.quote(args.pool),
                                                    shlex.quote(args.runtime_dir))
    print(json.dumps({"system": args.system, "scenario": args.scenario, "metrics": metrics,
                      "params": params, "command": command + extra}), flush=True)


def percentile(ordered, p):
    """Nearest rank, as bench/bench_support.cpp."""
    rank = math.ceil(p * len(ordered))
    return ordered[min(len(ordered) - 1, max(rank, 1) - 1)]


def latencies(call, count, warmup):
    for _ in range(warmup):
        expect(call(), None, "roundtrip")
    us = []
    clock = time.perf_counter
    for _ in range(count):
        start = clock()
        got = call()
        us.append((clock() - start) * 1e6)
        expect(got, None, "roundtrip")
    us.sort()
    return percentile(us, 0.5), percentile(us, 0.99)


def roundtrip(args, system):
    p50, p99 = latencies(lambda: system.call(bench_jobs.noop), args.count, args.warmup)
    metrics = {"p50_us": p50, "p99_us": p99}
    if args.system == "warmpool":
        client = system.client
        p50, p99 = latencies(lambda: client.call(bench_jobs.noop), args.count, args.warmup)
        metrics.update(client_p50_us=p50, client_p99_us=p99)
    emit(args, metrics, {"count": str(args.count)},
         " --count %d --warmup %d" % (args.count, args.warmup))


def echo_in_script(x):
    """A trivial function of the measuring script itself (its __main__): warmpool sends it by
    value, once per worker."""
    return x


def map_(args, system):
    inputs = range(args.count)

    def rate(fn, chunk):
        start = time.perf_counter()
        results = system.map(fn, inputs, chunk)
        elapsed = time.perf_counter() - start
        if len(results) != args.count or any(r != i for r, i in zip(results, inputs)):
            raise Failure("map with chunksize %d returned wrong results" % chunk)
        return args.count / elapsed

    if args.system == "warmpool":
        # warmpool picks its own batch size when chunksize is 1, as a script would leave it.
        metrics = {"jobs_per_s": rate(bench_jobs.echo, 1),
                   "by_value_jobs_per_s": rate(echo_in_script, 1)}
        emit(args, metrics, {"count": str(args.count), "chunk": "1"}, " --count %d" % args.count)
        return
    rates = {chunk: rate(bench_jobs.echo, chunk) for chunk in args.chunk}
    best = max(rates, key=rates.get)
    emit(args, {"jobs_per_s": rates[best],
                **{"jobs_per_s_chunk_%d" % c: r for c, r in rates.items()}},
         {"count": str(args.count), "chunk": str(best),
          "chunks_tried": ",".join(map(str, args.chunk))},
         " --count %d" % args.count + "".join(" --chunk %d" % c for c in args.chunk))


def classic(args, system):
    # (name, the function the pool runs, the same computed serially here, argument tuples)
    messages = MESSAGES[:args.md5_jobs]
    if args.system == "warmpool" and args.md5_rounds == md5_worker.ROUNDS:
        # The article's shape: each worker's one md5_worker.Md5Chain() serves the messages.
        md5 = ("md5_chain", md5_worker.Md5Chain, md5_worker.md5_chain, [(m,) for m in messages])
    else:
        md5 = ("md5_chain", md5_worker.md5_chain, md5_worker.md5_chain,
               [(m, args.md5_rounds) for m in messages])
    workloads = [
        ("gcd", my_module.gcd, my_module.gcd, [(p,) for p in GCD_PAIRS[:args.gcd_pairs]]),
        md5,
        ("work_func", bench_jobs.work_func, bench_jobs.work_func,
         [(x, args.sleep_seconds) for x in range(1, args.sleep_jobs + 1)]),
        ("triple_product", bench_jobs.triple_product, bench_jobs.triple_product,
         [(max(1, args.triple_n - 2 * i),) for i in range(args.triple_jobs)]),
    ]
    metrics = {}
    serial_total = pooled_total = 0.0
    for name, fn, serial_fn, inputs in workloads:
        start = time.perf_counter()
        want = [serial_fn(*x) for x in inputs]
        serial = time.perf_counter() - start
        start = time.perf_counter()
        handles = [system.submit(fn, *x) for x in inputs]
        got = [system.result(h) for h in handles]
        pooled = time.perf_counter() - start
        if name == "work_func":  # the pids differ, of course; the values must not
            got, want = [g[0] for g in got], [w[0] for w in want]
        expect(got, want, name)
        metrics["speedup_" + name] = serial / pooled
        metrics["serial_s_" + name] = serial
        metrics["pooled_s_" + name] = pooled
        serial_total += serial
        pooled_total += pooled
    metrics["speedup_total"] = serial_total / pooled_total
    params = {"gcd_pairs": args.gcd_pairs, "md5_jobs": args.md5_jobs,
              "md5_rounds": args.md5_rounds, "sleep_jobs": args.sleep_jobs,
              "sleep_seconds": args.sleep_seconds, "triple_n": args.triple_n,
              "triple_jobs": args.triple_jobs}
    emit(args, metrics, {k: str(v) for k, v in params.items()},
         "".join(" --%s %s" % (k.replace("_", "-"), v) for k, v in params.items()))


def payload(args, system):
    extra = "".join(" --payload-mib %d" % m for m in args.payload_mib) + \
        " --reps %d --budget-seconds %g" % (args.reps, args.budget_seconds)
    for mib in args.payload_mib:
        blob = os.urandom(mib << 20)

        def echo_once():
            start = time.perf_counter()
            back = system.call(bench_jobs.echo, blob)
            elapsed = time.perf_counter() - start
            if back != blob:
                raise Failure("payload: the echo of %d MiB came back different" % mib)
            return elapsed

        # As bench_support.cpp: an untimed warm-up, then up to --reps timed echoes within the
        # budget (a warm-up that alone exceeds it is kept as the only figure).
        warmup = echo_once()
        runs = [(warmup, True)] if 0 < args.budget_seconds < warmup else []
        spent = 0.0
        while not runs or (not runs[0][1] and len(runs) < args.reps and
                           not 0 < args.budget_seconds < spent):
            runs.append((echo_once(), False))
            spent += runs[-1][0]
        for run, (seconds, warmup_counted) in enumerate(runs):
            emit(args, {"gbps_%dmib" % mib: len(blob) / seconds / 1e9},
                 {"mib": str(mib), "run": str(run), "warmup_counted": str(int(warmup_counted))},
                 extra)


def spin(n):
    total = 0
    for i in range(n):
        total += i % 7
    return total


def floor(args):
    """The machine seen from Python, no pool: what a pool of Python processes cannot beat."""
    metrics = {}
    # A byte to and fro over two pipes between this process and a forked child.
    down_r, down_w = os.pipe()
    up_r, up_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(down_w)
            os.close(up_r)
            while os.read(down_r, 1):
                os.write(up_w, b"x")
        finally:
            os._exit(0)
    os.close(down_r)
    os.close(up_w)
    us = []
    for i in range(args.warmup + args.count):
        start = time.perf_counter()
        os.write(down_w, b"x")
        os.read(up_r, 1)
        if i >= args.warmup:
            us.append((time.perf_counter() - start) * 1e6)
    os.close(down_w)  # the child reads end of file and exits
    os.waitpid(pid, 0)
    os.close(up_r)
    us.sort()
    metrics["pipe_p50_us"], metrics["pipe_p99_us"] = percentile(us, 0.5), percentile(us, 0.99)
    # A copy of each payload size into a touched buffer, as the echo's bytes must travel.
    for mib in args.payload_mib:
        blob = os.urandom(mib << 20)
        # Into a touched buffer, so that no page fault is timed; through a memoryview, which
        # copies with one memcpy (a bytearray's own slice assignment is several times slower).
        dst = memoryview(bytearray(blob))
        best = min(timed(lambda: dst.__setitem__(slice(None), blob)) for _ in range(3))
        metrics["copy_gbps_%dmib" % mib] = len(blob) / best / 1e9
    # A pure-Python loop (about 0.3 s) in one process, twice in a row, vs 2 processes at once.
    n = args.spin_iterations
    alone = timed(lambda: spin(n)) * 2
    start = time.perf_counter()
    children = []
    for _ in range(2):
        child = os.fork()
        if child == 0:
            spin(n)
            os._exit(0)
        children.append(child)
    for child in children:
        os.waitpid(child, 0)
    metrics["cpu_speedup_2proc"] = alone / (time.perf_counter() - start)
    emit(args, metrics, {}, " --count %d --warmup %d --spin-iterations %d" % (
        args.count, args.warmup, n) + "".join(" --payload-mib %d" % m for m in args.payload_mib))


def timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenario", choices=["roundtrip", "map", "classic", "payload", "floor"])
    parser.add_argument("--system", choices=["warmpool", "ppe", "mp", "loky", "floor"],
                        required=True)
    parser.add_argument("--pool")
    parser.add_argument("--runtime-dir")
    parser.add_argument("--count", type=int, default=10000)
    parser.add_argument("--warmup", type=int, default=1000)
    parser.add_argument("--chunk", type=int, action="append")
    parser.add_argument("--payload-mib", type=int, action="append")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--budget-seconds", type=float, default=0.0)
    parser.add_argument("--gcd-pairs", type=int, default=10)
    parser.add_argument("--md5-jobs", type=int, default=4)
    parser.add_argument("--md5-rounds", type=int, default=md5_worker.ROUNDS)
    parser.add_argument("--sleep-jobs", type=int, default=8)
    parser.add_argument("--sleep-seconds", type=float, default=0.25)
    parser.add_argument("--triple-n", type=int, default=36)
    parser.add_argument("--triple-jobs", type=int, default=4)
    parser.add_argument("--spin-iterations", type=int, default=3_000_000)
    args = parser.parse_args()
    args.chunk = args.chunk or [1000, 10000, 100000]
    args.payload_mib = args.payload_mib or [1, 64]
    if (args.system == "warmpool") != bool(args.pool and args.runtime_dir):
        parser.error("--pool and --runtime-dir go with --system warmpool, and only with it")
    if (args.system == "floor") != (args.scenario == "floor"):
        parser.error("the floor scenario goes with --system floor, and only with it")
    try:
        if args.scenario == "floor":
            floor(args)
            return 0
        system = System(args)
        try:
            system.start_workers()
            {"roundtrip": roundtrip, "map": map_, "classic": classic,
             "payload": payload}[args.scenario](args, system)
        finally:
            system.close()
        return 0
    except Failure as e:
        print("python_systems: %s %s: %s" % (args.system, args.scenario, e), file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
