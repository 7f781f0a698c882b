"""The Celery peer of the scale-out benchmark (bench/scale_out_bench.py): the tasks that Celery
workers run, and the client side that measures them, printing one JSON object per line in the
form warmpool-scale-out-bench prints ({"system", "scenario", "metrics", "params", "command"}).

Celery 5.2 with its Redis broker and Redis result backend, both at $SCALE_OUT_CELERY_URL
(redis://HOST:PORT/DB). The workers are started by the driver:
    SCALE_OUT_CELERY_URL=redis://127.0.0.1:PORT/1 python3 -m celery -A celery_tasks worker \
        --pool prefork --concurrency 2        (from this directory)
and the measurements by
    SCALE_OUT_CELERY_URL=... python3 bench/peers/celery_tasks.py --scenario roundtrip|map|sleep|ping

The tasks have explicit names, so they are the same whether this file is imported by a worker
(as celery_tasks) or run as the client (as __main__). Every result is checked.
"""
import argparse
import json
import os
import shlex
import statistics
import sys
import time

from celery import Celery, group

URL = os.environ.get("SCALE_OUT_CELERY_URL", "redis://127.0.0.1:6379/1")

app = Celery("scale_out_bench", broker=URL, backend=URL)
app.conf.update(
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    # Results are read once, at once; nothing needs them after the run.
    result_expires=600,
    # Celery's defaults otherwise: acks on receipt, prefetch multiplier 4.
    worker_hijack_root_logger=False,
    broker_connection_retry_on_startup=True,
)


def brute_force_gcd(a, b):
    """examples/jobs/classic_workloads.cpp's brute_force_gcd, the job of the map scenario."""
    if a <= 0 or b <= 0:
        raise ValueError("brute_force_gcd needs two positive integers")
    for d in range(min(a, b), 1, -1):
        if a % d == 0 and b % d == 0:
            return d
    return 1


def tiny_pair(i):
    """The map's inputs, the same as warmpool-scale-out-bench's."""
    return (2 + i % 61, 2 + (i * 37) % 89)


@app.task(name="scale_out.echo")
def echo(x):
    return x


@app.task(name="scale_out.gcd")
def gcd(a, b):
    return brute_force_gcd(a, b)


@app.task(name="scale_out.sleep_report")
def sleep_report(seconds):
    """As the example library's sleep_report: the worker's pid and how long it slept."""
    start = time.monotonic()
    time.sleep(seconds)
    return [os.getpid(), time.monotonic() - start]


# ---------------------------------------------------------------------------------------------
# The client side


def latency_metrics(us):
    """p50, p90, p99, max and mean of round trips in microseconds (nearest rank, as
    bench_support.cpp's percentile)."""
    us = sorted(us)

    def pct(p):
        return us[max(0, min(len(us) - 1, int(-(-p * len(us) // 1)) - 1))]

    return {"p50_us": pct(0.50), "p90_us": pct(0.90), "p99_us": pct(0.99), "max_us": us[-1],
            "mean_us": statistics.fmean(us)}


def row(args, scenario, metrics, params, system="celery"):
    command = "SCALE_OUT_CELERY_URL=%s %s %s --scenario %s" % (
        shlex.quote(URL), shlex.quote(sys.executable), shlex.quote(os.path.abspath(__file__)),
        scenario)
    for key in ("count", "warmup", "chunk", "sleep_ms"):
        if key in params:
            command += " --%s %s" % (key.replace("_", "-"), params[key])
    print(json.dumps({"system": system, "scenario": scenario, "metrics": metrics,
                      "params": {k: str(v) for k, v in params.items()}, "command": command}),
          flush=True)


def ping(args):
    """What redis-py (the client Celery uses) pays for one Redis round trip."""
    import redis
    client = redis.Redis.from_url(URL)
    n = args.count or 20000
    for _ in range(args.warmup):
        client.ping()
    us = []
    for _ in range(n):
        start = time.perf_counter()
        if not client.ping():
            raise RuntimeError("no PONG")
        us.append((time.perf_counter() - start) * 1e6)
    row(args, "ping", latency_metrics(us), {"count": n, "warmup": args.warmup}, system="redis-py")


def roundtrip(args):
    n = args.count or 2000
    for i in range(args.warmup):
        if echo.delay(i).get(timeout=args.timeout) != i:
            raise RuntimeError("roundtrip: wrong echo")
    us = []
    for i in range(n):
        start = time.perf_counter()
        got = echo.delay(i).get(timeout=args.timeout)
        us.append((time.perf_counter() - start) * 1e6)
        if got != i:
            raise RuntimeError("roundtrip: echo returned %r for %d" % (got, i))
    row(args, "roundtrip", latency_metrics(us), {"count": n, "warmup": args.warmup})


def map_chunks(args):
    """Celery's bulk form for many small calls: `chunks`, one task message per `chunk` items
    (a group of celery.starmap tasks), results gathered from the group."""
    n = args.count or 200000
    chunk = args.chunk or 1000
    pairs = [tiny_pair(i) for i in range(n)]
    gcd.chunks(pairs[:min(n, 1000)], min(chunk, 1000)).apply_async().get(timeout=args.timeout)
    start = time.perf_counter()
    parts = gcd.chunks(pairs, chunk).apply_async().get(timeout=args.timeout)
    elapsed = time.perf_counter() - start
    results = [g for part in parts for g in part]
    check_gcds(pairs, results, "map")
    row(args, "map", {"jobs_per_s": n / elapsed, "seconds": elapsed},
        {"count": n, "chunk": chunk, "form": "chunks"})


def map_group(args):
    """The other idiomatic form: a group of one task per item."""
    n = args.count or 20000
    pairs = [tiny_pair(i) for i in range(n)]
    group(gcd.s(a, b) for a, b in pairs[:min(n, 100)]).apply_async().get(timeout=args.timeout)
    start = time.perf_counter()
    results = group(gcd.s(a, b) for a, b in pairs).apply_async().get(timeout=args.timeout)
    elapsed = time.perf_counter() - start
    check_gcds(pairs, results, "map_group")
    row(args, "map_group", {"jobs_per_s": n / elapsed, "seconds": elapsed},
        {"count": n, "form": "group"})


def check_gcds(pairs, results, scenario):
    if len(results) != len(pairs):
        raise RuntimeError("%s: %d results for %d inputs" % (scenario, len(results), len(pairs)))
    for (a, b), got in zip(pairs, results):
        if got != brute_force_gcd(a, b):
            raise RuntimeError("%s: gcd(%d, %d) returned %r" % (scenario, a, b, got))


def sleep_jobs(args):
    """`count` sleep tasks sent at once as a group, then collected: jobs/s."""
    n = args.count or 400
    seconds = args.sleep_ms / 1000.0
    group(sleep_report.s(0.0) for _ in range(4)).apply_async().get(timeout=args.timeout)
    start = time.perf_counter()
    reports = group(sleep_report.s(seconds) for _ in range(n)).apply_async().get(timeout=args.timeout)
    elapsed = time.perf_counter() - start
    if len(reports) != n or any(slept < seconds * 0.99 for _, slept in reports):
        raise RuntimeError("sleep: missing reports or a job that did not sleep")
    row(args, "sleep", {"jobs_per_s": n / elapsed, "seconds": elapsed,
                        "worker_processes": len({pid for pid, _ in reports})},
        {"count": n, "sleep_ms": "%g" % args.sleep_ms})


def wait_workers(args):
    """Not a measurement: waits until `count` workers answer a control ping (the driver starts
    measuring only then), and prints them."""
    deadline = time.monotonic() + 60
    while True:
        names = sorted(name for reply in app.control.ping(timeout=0.5) for name in reply)
        if len(names) >= args.count or time.monotonic() > deadline:
            break
    if len(names) < args.count:
        raise RuntimeError("only %d of %d Celery workers answer" % (len(names), args.count))
    print(json.dumps({"system": "celery", "scenario": "wait_workers", "metrics": {},
                      "params": {"workers": ",".join(names)}, "command": ""}), flush=True)


SCENARIOS = {"ping": ping, "wait_workers": wait_workers, "roundtrip": roundtrip, "map": map_chunks, "map_group": map_group,
             "sleep": sleep_jobs}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenario", required=True, choices=sorted(SCENARIOS))
    parser.add_argument("--count", type=int, default=0, help="0: the scenario's default")
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--chunk", type=int, default=0, help="map: items per chunk task")
    parser.add_argument("--sleep-ms", type=float, default=10.0)
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for results")
    args = parser.parse_args()
    SCENARIOS[args.scenario](args)


if __name__ == "__main__":
    main()
