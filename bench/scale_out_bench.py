#!/usr/bin/env python3
"""The scale-out benchmark: warmpool through Redis (warmpoold + warmpool-gateway hosts, clients
on a redis:// endpoint) side by side with Celery 5.2 (Redis broker, Redis result backend), on one
loopback redis-server started here, in one run. Writes OUT/scale_out.md and OUT/scale_out.json.

A host is, for warmpool, one warmpoold (--workers 2, the bundled example jobs) plus one
warmpool-gateway, each pair in its own runtime directory; for Celery, one worker process
(--pool prefork --concurrency 2, bench/peers/celery_tasks.py). The scenarios:
  roundtrip  one tiny call at a time (echo) through Redis: latency percentiles
  map        tiny gcd jobs in bulk: warmpool's batched, pipelined map; Celery's `chunks` (the
             best of a few chunk sizes), and, for reference, a Celery group of single tasks
  sleep      jobs that sleep 10 ms, all sent at once: jobs/s with 1 host, then with 2
and, so that a reader sees what the parts cost: the machine's floor (a futex ping-pong),
a raw Redis PING round trip (hiredis and redis-py), a two-process relay through two Redis
streams (the least a job's trip through streams costs: XADD, a blocked XREAD wakes, XADD back,
a blocked XREAD wakes), and warmpool's round trip and map against
one local pool directly (no Redis). Each figure is the median of --repeats runs (min-max
beside it). Systems run one after the other, never at once: while warmpool is measured no
Celery worker exists, and the other way round.

scripts/bench.sh --scale-out builds and calls this; by hand:
    python3 bench/scale_out_bench.py --bin BUILD/bin [--smoke] [--repeats N] [--out DIR]
                                     [--systems warmpool,celery]

Everything it starts (redis-server, pools, gateways, Celery workers and their pool children)
is stopped by pid on every exit path; children also get SIGTERM from the kernel if this process
dies (PR_SET_PDEATHSIG). Exit status 0 if every measurement succeeded, 1 otherwise.
"""
import argparse
import glob
import json
import os
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
PEERS = os.path.join(HERE, "peers")
CELERY_TASKS = os.path.join(PEERS, "celery_tasks.py")
sys.path.insert(0, HERE)
from run_bench import (HarnessError, Processes, _die_with_parent, free_port,  # noqa: E402
                       machine_info, tail)

WORKERS = 2
CLUSTER = "scaleout"

FULL = dict(repeats=3, floor_count=20000, ping_count=20000, roundtrip_count=10000,
            roundtrip_warmup=1000, celery_roundtrip_count=1000, celery_roundtrip_warmup=50,
            map_count=1_000_000, celery_map_count=200_000, celery_chunks=[1000, 10000],
            celery_group_count=2000, sleep_count=1000, sleep_ms=10.0, timeout=900)
SMOKE = dict(repeats=1, floor_count=300, ping_count=300, roundtrip_count=200, roundtrip_warmup=20,
             celery_roundtrip_count=20, celery_roundtrip_warmup=5, map_count=20000,
             celery_map_count=2000, celery_chunks=[500], celery_group_count=50, sleep_count=40,
             sleep_ms=10.0, timeout=120)


# ---------------------------------------------------------------------------------------------
# Processes


def stop_pids(pids, grace=10.0):
    """SIGTERM each pid still alive, wait up to `grace` s for all, then SIGKILL the rest. For
    processes that are not our children (a Celery worker's pool processes, once their parent is
    gone), so they are checked by /proc rather than waited for."""
    alive = [p for p in pids if os.path.exists("/proc/%d" % p)]
    for pid in alive:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + grace
    while alive and time.monotonic() < deadline:
        time.sleep(0.05)
        alive = [p for p in alive if is_running(p)]
    for pid in alive:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def is_running(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def children_of(pid):
    pids = []
    for path in glob.glob("/proc/%d/task/*/children" % pid):
        try:
            with open(path) as f:
                pids += [int(p) for p in f.read().split()]
        except OSError:
            pass
    return pids


def wait_until(what, ready, timeout, log=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return
        time.sleep(0.1)
    raise HarnessError("%s not ready within %.0f s%s" % (what, timeout, "\n" + tail(log) if log else ""))


def redis_command(port, *args):
    """One command to the loopback Redis, in RESP, without a client library; returns the reply's
    first line (enough for PING and counts), or the text of a bulk string reply."""
    request = "*%d\r\n" % len(args) + "".join("$%d\r\n%s\r\n" % (len(a.encode()), a) for a in args)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(request.encode())
        reply = s.makefile("rb")
        first = reply.readline().decode().strip()
        if first.startswith("$") and int(first[1:]) >= 0:
            return reply.read(int(first[1:])).decode()
        return first


def command_stats(port):
    """INFO commandstats: {command: (calls, microseconds)}, Redis's own time running them."""
    stats = {}
    for line in redis_command(port, "INFO", "commandstats").splitlines():
        if line.startswith("cmdstat_"):
            name, fields = line[len("cmdstat_"):].split(":", 1)
            f = dict(kv.split("=") for kv in fields.split(","))
            stats[name] = (int(f["calls"]), int(f["usec"]))
    return stats


def measure_redis_use(results, key, port, jobs, run):
    """Runs `run` (a measurement of `jobs` calls in all) and files what Redis did meanwhile:
    commands per call and Redis's own microseconds per call, by command. Heartbeats and other
    background commands of the same seconds are included (few, next to the calls)."""
    redis_command(port, "CONFIG", "RESETSTAT")
    run()
    per_call = {name: (calls / jobs, usec / jobs) for name, (calls, usec) in command_stats(port).items()
                if name not in ("config", "info")}
    results.redis_use[key] = per_call


class RedisServer:
    def __init__(self, tmp, procs):
        self.tmp, self.procs, self.port, self.proc = tmp, procs, None, None

    def __enter__(self):
        self.port = free_port()
        self.log = os.path.join(self.tmp, "redis.log")
        self.proc = self.procs.start(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", self.tmp], self.log)

        def pong():
            try:
                return redis_command(self.port, "PING") == "+PONG"
            except OSError:
                return False
        wait_until("redis-server", pong, 20, self.log)
        return self

    def __exit__(self, *exc):
        Processes.stop(self.proc)

    def endpoint(self):
        return "redis://127.0.0.1:%d/%s" % (self.port, CLUSTER)


class WarmpoolHost:
    """One warmpoold (2 workers) and one warmpool-gateway serving CLUSTER, in its own runtime
    directory."""

    def __init__(self, bin_dir, tmp, procs, redis, label):
        self.bin, self.procs, self.redis = bin_dir, procs, redis
        self.pool = "scaleout%d%s" % (os.getpid(), label)
        self.runtime_dir = os.path.join(tmp, "host-" + label)
        self.log = os.path.join(tmp, "warmpoold-%s.log" % label)
        self.gateway_log = os.path.join(tmp, "gateway-%s.log" % label)
        self.daemon = self.gateway = None

    def cli(self, *args):
        return [os.path.join(self.bin, "warmpool"), "--pool", self.pool,
                "--runtime-dir", self.runtime_dir] + list(args)

    def __enter__(self):
        try:
            self.start()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def start(self):
        os.makedirs(self.runtime_dir, mode=0o700)
        self.daemon = self.procs.start(
            [os.path.join(self.bin, "warmpoold"), "--name", self.pool, "--runtime-dir",
             self.runtime_dir, "--workers", str(WORKERS), "--log-level", "warn"], self.log)
        ready = subprocess.run(self.cli("wait-ready", "--timeout", "60"), capture_output=True,
                               text=True, timeout=90)
        if ready.returncode != 0:
            raise HarnessError("warmpoold did not become ready: %s\n%s" % (
                ready.stderr.strip(), tail(self.log)))
        self.gateway = self.procs.start(
            [os.path.join(self.bin, "warmpool-gateway"), "--pool", self.pool, "--runtime-dir",
             self.runtime_dir, "--endpoint", self.redis.endpoint(), "--log-level", "warn"],
            self.gateway_log)

    def __exit__(self, *exc):
        if self.gateway is not None:
            Processes.stop(self.gateway)
        if self.daemon is not None and self.daemon.poll() is None:
            subprocess.run(self.cli("stop"), capture_output=True, timeout=30)
            try:
                self.daemon.wait(30)
            except subprocess.TimeoutExpired:
                Processes.stop(self.daemon, grace=5)
        for path in glob.glob("/dev/shm/warmpool.%d.%s*" % (os.getuid(), self.pool)):
            print("warning: %s left shared memory behind (removed now): %s" % (self.pool, path),
                  file=sys.stderr)
            os.unlink(path)


def live_gateways(redis):
    reply = redis_command(redis.port, "EVAL",
                          "return #redis.call('KEYS', ARGV[1])", "0",
                          "warmpool:{%s}:gateway:*" % CLUSTER)
    return int(reply[1:]) if reply.startswith(":") else 0


class CeleryWorker:
    """One Celery worker process (prefork, concurrency 2) on the Redis broker and backend."""

    def __init__(self, tmp, procs, url, label):
        self.procs, self.url, self.label = procs, url, label
        self.log = os.path.join(tmp, "celery-%s.log" % label)
        self.proc, self.children = None, []

    def __enter__(self):
        env = dict(os.environ, SCALE_OUT_CELERY_URL=self.url, PYTHONPATH=PEERS)
        self.proc = self.procs.start(
            [sys.executable, "-m", "celery", "-A", "celery_tasks", "worker", "--pool", "prefork",
             "--concurrency", str(WORKERS), "--loglevel", "warning", "--without-gossip",
             "--without-mingle", "-n", "%s-%d@%%h" % (self.label, os.getpid())], self.log, env)
        return self

    def __exit__(self, *exc):
        if self.proc is None:
            return
        # The pool processes are remembered first: if the main process has to be killed, they
        # would be left behind.
        self.children = children_of(self.proc.pid)
        Processes.stop(self.proc)
        stop_pids(self.children, grace=5)


# ---------------------------------------------------------------------------------------------
# Measuring


class Results:
    def __init__(self):
        self.rows = []    # every JSON row, with the key it was filed under and its repeat
        self.errors = {}
        self.redis_use = {}  # key: {command: (calls per job, Redis's usec per job)}

    def add(self, key, repeat, row):
        # Paths inside the checkout are shown relative to it, as the commands are run from there.
        command = row["command"].replace(REPO + os.sep, "")
        self.rows.append(dict(row, key=key, repeat=repeat, command=command))

    def values(self, key, metric):
        return [r["metrics"][metric] for r in self.rows if r["key"] == key and metric in r["metrics"]]

    def command(self, key):
        return next((r["command"] for r in self.rows if r["key"] == key), None)


def measure(results, key, argv, p, repeats, env=None):
    """Runs one measurement program `repeats` times, filing its rows under `key`; a failure is
    recorded (and shown in the report) rather than ending the run."""
    for repeat in range(repeats):
        try:
            rows = run_rows(argv, p["timeout"], env)
        except HarnessError as e:
            results.errors[key] = str(e)
            print("  %s: FAILED %s" % (key, str(e).splitlines()[0]), file=sys.stderr)
            return
        for row in rows:
            results.add(key, repeat, row)
            shown = ", ".join("%s=%s" % (k, fmt(v)) for k, v in row["metrics"].items())
            print("  %-26s #%d %s" % (key, repeat + 1, shown), flush=True)


def run_rows(argv, timeout, env=None):
    """run_bench.run_json, with extra environment variables."""
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                              env=dict(os.environ, **(env or {})), stdin=subprocess.DEVNULL,
                              preexec_fn=_die_with_parent)
    except subprocess.TimeoutExpired:
        raise HarnessError("timed out after %.0f s: %s" % (timeout, shlex.join(argv)))
    rows = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not rows:
        raise HarnessError("exit %d: %s\n%s" % (done.returncode, shlex.join(argv),
                                                 (done.stderr.strip() or done.stdout.strip())[-600:]))
    return rows


def warmpool_phase(args, p, tmp, procs, redis, results):
    bench = os.path.join(args.bin, "warmpool-scale-out-bench")
    endpoint = redis.endpoint()

    def argv(scenario, *extra, endpoint=endpoint, runtime_dir=None, system="warmpool"):
        a = [bench, "--json", "--endpoint", endpoint, "--scenario", scenario, "--system", system]
        if runtime_dir:
            a += ["--runtime-dir", runtime_dir]
        return a + [str(e) for e in extra]

    r = p["repeats"]
    with WarmpoolHost(args.bin, tmp, procs, redis, "a") as host_a:
        wait_until("the first gateway's heartbeat", lambda: live_gateways(redis) >= 1, 30,
                   host_a.gateway_log)
        print("warmpool, 1 host (pool %s):" % host_a.pool, flush=True)
        measure_redis_use(
            results, "warmpool/roundtrip", redis.port,
            r * (p["roundtrip_count"] + p["roundtrip_warmup"]),
            lambda: measure(results, "warmpool/roundtrip",
                            argv("roundtrip", "--count", p["roundtrip_count"], "--warmup",
                                 p["roundtrip_warmup"]), p, r))
        measure(results, "warmpool/map", argv("map", "--count", p["map_count"]), p, r)
        measure(results, "warmpool/sleep_1host",
                argv("sleep", "--count", p["sleep_count"], "--sleep-ms", p["sleep_ms"]), p, r)
        local = dict(endpoint=host_a.pool, runtime_dir=host_a.runtime_dir, system="warmpool-local")
        measure(results, "warmpool-local/roundtrip",
                argv("roundtrip", "--count", p["roundtrip_count"], "--warmup",
                     p["roundtrip_warmup"], **local), p, r)
        measure(results, "warmpool-local/map", argv("map", "--count", p["map_count"], **local),
                p, r)
        with WarmpoolHost(args.bin, tmp, procs, redis, "b") as host_b:
            wait_until("the second gateway's heartbeat", lambda: live_gateways(redis) >= 2, 30,
                       host_b.gateway_log)
            print("warmpool, 2 hosts:", flush=True)
            measure(results, "warmpool/sleep_2hosts",
                    argv("sleep", "--count", p["sleep_count"], "--sleep-ms", p["sleep_ms"]), p, r)


def celery_phase(p, tmp, procs, redis, results):
    url = "redis://127.0.0.1:%d/1" % redis.port
    env = {"SCALE_OUT_CELERY_URL": url}

    def argv(scenario, *extra):
        return [sys.executable, CELERY_TASKS, "--scenario", scenario,
                "--timeout", str(p["timeout"])] + [str(e) for e in extra]

    r = p["repeats"]
    with CeleryWorker(tmp, procs, url, "a") as worker_a:
        measure_one(results, "celery/ready", argv("wait_workers", "--count", 1), p, env, worker_a.log)
        print("Celery, 1 worker process:", flush=True)
        measure_redis_use(
            results, "celery/roundtrip", redis.port,
            r * (p["celery_roundtrip_count"] + p["celery_roundtrip_warmup"]),
            lambda: measure(results, "celery/roundtrip",
                            argv("roundtrip", "--count", p["celery_roundtrip_count"], "--warmup",
                                 p["celery_roundtrip_warmup"]), p, r, env))
        for chunk in p["celery_chunks"]:
            measure(results, "celery/map_chunks_%d" % chunk,
                    argv("map", "--count", p["celery_map_count"], "--chunk", chunk), p, r, env)
        measure(results, "celery/map_group", argv("map_group", "--count", p["celery_group_count"]),
                p, 1, env)
        measure(results, "celery/sleep_1host",
                argv("sleep", "--count", p["sleep_count"], "--sleep-ms", p["sleep_ms"]), p, r, env)
        with CeleryWorker(tmp, procs, url, "b") as worker_b:
            measure_one(results, "celery/ready", argv("wait_workers", "--count", 2), p, env,
                        worker_b.log)
            print("Celery, 2 worker processes:", flush=True)
            measure(results, "celery/sleep_2hosts",
                    argv("sleep", "--count", p["sleep_count"], "--sleep-ms", p["sleep_ms"]), p, r, env)


def measure_one(results, key, argv, p, env, log):
    """A step that must succeed for the phase to go on (waiting for workers)."""
    try:
        run_rows(argv, 60, env)
    except HarnessError as e:
        raise HarnessError("%s: %s\n%s" % (key, e, tail(log)))


# ---------------------------------------------------------------------------------------------
# The report


def fmt(v):
    if v is None:
        return "-"
    if isinstance(v, str):
        return v
    a = abs(v)
    if a >= 10000:
        return "{:,.0f}".format(v)
    if a >= 100:
        return "%.0f" % v
    if a >= 10:
        return "%.1f" % v
    return "%.2f" % v


def median(values):
    return statistics.median(values) if values else None


def cell(values, unit=""):
    if not values:
        return "-"
    text = fmt(median(values)) + unit
    if len(values) > 1:
        text += " (%s-%s)" % (fmt(min(values)), fmt(max(values)))
    return text


def best_chunk(results, chunks):
    """The Celery chunk size with the highest median jobs/s."""
    best = None
    for chunk in chunks:
        m = median(results.values("celery/map_chunks_%d" % chunk, "jobs_per_s"))
        if m is not None and (best is None or m > best[1]):
            best = (chunk, m)
    return best[0] if best else chunks[0]


def ratio(a, b):
    return a / b if a is not None and b not in (None, 0) else None


def times(r, suffix=""):
    return "-" if r is None else fmt(r) + "x" + suffix


def verdict(ok):
    return "-" if ok is None else ("met" if ok else "NOT met")


def summarise(results, p):
    """The figures the report shows: {name: value} of medians, plus the targets' verdicts."""
    chunk = best_chunk(results, p["celery_chunks"])
    m = lambda key, metric: median(results.values(key, metric))  # noqa: E731
    s = dict(celery_chunk=chunk)
    s["wp_rt"] = m("warmpool/roundtrip", "p50_us")
    s["ce_rt"] = m("celery/roundtrip", "p50_us")
    s["wp_map"] = m("warmpool/map", "jobs_per_s")
    s["ce_map"] = m("celery/map_chunks_%d" % chunk, "jobs_per_s")
    for system in ("warmpool", "celery"):
        for hosts in ("1host", "2hosts"):
            s["%s_sleep_%s" % (system, hosts)] = m("%s/sleep_%s" % (system, hosts), "jobs_per_s")
    s["wp_scale"] = ratio(s["warmpool_sleep_2hosts"], s["warmpool_sleep_1host"])
    s["ce_scale"] = ratio(s["celery_sleep_2hosts"], s["celery_sleep_1host"])
    s["rt_vs"] = ratio(s["ce_rt"], s["wp_rt"])
    s["map_vs"] = ratio(s["wp_map"], s["ce_map"])
    s["targets"] = {
        "roundtrip_p50_le_150us": None if s["wp_rt"] is None else s["wp_rt"] <= 150,
        "map_ge_200k_jobs_per_s": None if s["wp_map"] is None else s["wp_map"] >= 200_000,
        "map_ge_10x_celery": None if s["map_vs"] is None else s["map_vs"] >= 10,
        "two_hosts_ge_1_8x": None if s["wp_scale"] is None else s["wp_scale"] >= 1.8,
    }
    return s


def write_report(out_dir, results, p, info, args, command):
    s = summarise(results, p)
    v = results.values
    chunk = s["celery_chunk"]
    t = s["targets"]
    lines = [
        "# Scale-out benchmark: warmpool through Redis vs Celery",
        "",
        "%s; %s cores (%s), kernel %s, %s; load average %s at the start, %s at the end; "
        "redis-server %s; Celery %s. Commit %s, %s build." % (
            info["date"], info["cores"], info["cpu"], info["kernel"], info["python"],
            info["load_start"], info["load_end"], info["redis"], info["celery"], info["commit"],
            info["build_type"]),
        "",
        "One loopback redis-server (no persistence) for both systems, which run one after the "
        "other. A host: for warmpool one warmpoold (%d workers, the example jobs) plus one "
        "warmpool-gateway; for Celery one worker process (prefork, concurrency %d; Redis broker "
        "and Redis result backend). Median of %d runs, (min-max) beside it." % (
            WORKERS, WORKERS, p["repeats"]),
        "",
        "| scenario | warmpool | Celery | warmpool vs Celery | target (warmpool) | |",
        "|---|---|---|---|---|---|",
        "| round trip p50 through Redis, one tiny call at a time (us) | %s | %s | %s | <= 150 us | %s |" % (
            cell(v("warmpool/roundtrip", "p50_us")), cell(v("celery/roundtrip", "p50_us")),
            times(s["rt_vs"], " faster"), verdict(t["roundtrip_p50_le_150us"])),
        "| round trip p99 (us) | %s | %s | | | |" % (
            cell(v("warmpool/roundtrip", "p99_us")), cell(v("celery/roundtrip", "p99_us"))),
        "| map of tiny gcd jobs (jobs/s; warmpool `map`, Celery `chunks` of %d) | %s | %s | %s | >= 200,000 jobs/s and >= 10x Celery | %s, %s |" % (
            chunk, cell(v("warmpool/map", "jobs_per_s")),
            cell(v("celery/map_chunks_%d" % chunk, "jobs_per_s")),
            times(s["map_vs"]),
            verdict(t["map_ge_200k_jobs_per_s"]), verdict(t["map_ge_10x_celery"])),
        "| 10 ms sleep jobs, 1 host (jobs/s) | %s | %s | | | |" % (
            cell(v("warmpool/sleep_1host", "jobs_per_s")), cell(v("celery/sleep_1host", "jobs_per_s"))),
        "| 10 ms sleep jobs, 2 hosts (jobs/s) | %s | %s | | | |" % (
            cell(v("warmpool/sleep_2hosts", "jobs_per_s")), cell(v("celery/sleep_2hosts", "jobs_per_s"))),
        "| 2 hosts vs 1 | %s | %s | | >= 1.8x | %s |" % (
            times(s["wp_scale"]), times(s["ce_scale"]), verdict(t["two_hosts_ge_1_8x"])),
        "",
        "Counts: warmpool round trip %d calls, map %s jobs; Celery round trip %d calls, map %s "
        "jobs; sleep %d jobs of %g ms on each system (the ideal with 2 workers per host: %d "
        "jobs/s per host)." % (
            p["roundtrip_count"], "{:,}".format(p["map_count"]), p["celery_roundtrip_count"],
            "{:,}".format(p["celery_map_count"]), p["sleep_count"], p["sleep_ms"],
            int(WORKERS * 1000 / p["sleep_ms"])),
        "",
        "## What the parts cost",
        "",
        "| measured | p50 | p99 | jobs/s |",
        "|---|---|---|---|",
        "| machine floor: futex ping-pong between two processes (us) | %s | %s | |" % (
            cell(v("floor", "futex_p50_us")), cell(v("floor", "futex_p99_us"))),
        "| machine floor: the same, spinning 50 us before sleeping (us) | %s | %s | |" % (
            cell(v("floor", "spin_futex_p50_us")), cell(v("floor", "spin_futex_p99_us"))),
        "| Redis PING round trip, hiredis (what warmpool's client and gateway use) (us) | %s | %s | |" % (
            cell(v("redis/ping", "p50_us")), cell(v("redis/ping", "p99_us"))),
        "| Redis PING round trip, redis-py (what Celery uses) (us) | %s | %s | |" % (
            cell(v("redis-py/ping", "p50_us")), cell(v("redis-py/ping", "p99_us"))),
        "| stream relay: XADD, a process blocked in XREAD wakes and XADDs back, XREAD (us) | %s | %s | |" % (
            cell(v("redis/relay", "p50_us")), cell(v("redis/relay", "p99_us"))),
        "| warmpool, one local pool directly, no Redis: round trip (us), map of the same gcd jobs | %s | %s | %s |" % (
            cell(v("warmpool-local/roundtrip", "p50_us")), cell(v("warmpool-local/roundtrip", "p99_us")),
            cell(v("warmpool-local/map", "jobs_per_s"))),
    ]
    for c in p["celery_chunks"]:
        lines.append("| Celery map as `chunks` of %d | | | %s |" % (
            c, cell(v("celery/map_chunks_%d" % c, "jobs_per_s"))))
    lines.append("| Celery map as a group of single tasks (%d jobs, one run) | | | %s |" % (
        p["celery_group_count"], cell(v("celery/map_group", "jobs_per_s"))))
    if results.redis_use:
        lines += ["", "What Redis did per round trip (INFO commandstats over the round-trip runs, "
                  "divided by the calls; Redis's own time, not the network's or the wake-ups'; the "
                  "commands a script runs are counted both on their own and in the script's "
                  "time):",
                  "", "| system | commands per call | Redis us per call | the commands: calls per call (us per call) |",
                  "|---|---|---|---|"]
    for key, label in (("warmpool/roundtrip", "warmpool"), ("celery/roundtrip", "Celery")):
        use = results.redis_use.get(key)
        if not use:
            continue
        top = sorted(use.items(), key=lambda kv: -kv[1][0])
        lines.append("| %s | %.2f | %.1f | %s |" % (
            label, sum(c for c, _ in use.values()), sum(u for _, u in use.values()),
            ", ".join("%s %.2f (%.1f us)" % (name, c, u) for name, (c, u) in top if c >= 0.01)))
    lines += ["", "Repeat the whole run (from the checkout; `bash scripts/bench.sh --scale-out` "
              "builds the programs and runs this):", "", "    " + command, "",
              "The program behind each row (it needs the redis-server, hosts and workers that "
              "the driver starts, on the port of that run):", ""]
    seen = set()
    for row in results.rows:
        if row["key"] not in seen and row["command"]:
            seen.add(row["key"])
            lines.append("* %s: `%s`" % (row["key"], row["command"]))
    if results.errors:
        lines += ["", "## Failed measurements", ""]
        lines += ["* %s: %s" % (k, e.splitlines()[0]) for k, e in results.errors.items()]
    text = "\n".join(lines) + "\n"
    if out_dir:
        os.makedirs(out_dir, exist_ok=True)
        with open(os.path.join(out_dir, "scale_out.md"), "w") as f:
            f.write(text)
        with open(os.path.join(out_dir, "scale_out.json"), "w") as f:
            json.dump({"info": info, "params": p, "summary": s, "results": results.rows,
                       "redis_use": results.redis_use, "errors": results.errors,
                       "command": command}, f, indent=1)
    return text


# ---------------------------------------------------------------------------------------------


def versions():
    def out(argv):
        try:
            return subprocess.run(argv, capture_output=True, text=True, timeout=30).stdout.strip()
        except OSError:
            return "?"
    redis = out(["redis-server", "--version"]).split()
    redis = next((w[2:] for w in redis if w.startswith("v=")), "?")
    celery = out([sys.executable, "-c", "import celery; print(celery.__version__)"]) or "?"
    return redis, celery


def build_type(bin_dir):
    """CMAKE_BUILD_TYPE of the build whose bin/ is measured, from its CMakeCache.txt."""
    try:
        with open(os.path.join(os.path.dirname(bin_dir), "CMakeCache.txt")) as f:
            for line in f:
                if line.startswith("CMAKE_BUILD_TYPE:"):
                    return line.split("=", 1)[1].strip() or "?"
    except OSError:
        pass
    return "?"


def parse_args():
    parser = argparse.ArgumentParser(
        description="warmpool through Redis side by side with Celery", epilog=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bin", required=True, help="the build's bin/ directory")
    parser.add_argument("--smoke", action="store_true", help="tiny counts: proves the harness")
    parser.add_argument("--repeats", type=int, help="runs per figure (default 3; smoke 1)")
    parser.add_argument("--systems", default="warmpool,celery",
                        help="comma-separated subset of warmpool,celery")
    parser.add_argument("--out", help="where scale_out.md/.json go (default bench/results; "
                                      "with --smoke, nowhere unless given)")
    args = parser.parse_args()
    args.systems = [s for s in args.systems.split(",") if s]
    if set(args.systems) - {"warmpool", "celery"}:
        parser.error("--systems takes warmpool and/or celery")
    if args.out is None and not args.smoke:
        args.out = os.path.join(HERE, "results")
    args.bin = os.path.abspath(args.bin)
    return args


def main():
    args = parse_args()
    p = dict(SMOKE if args.smoke else FULL)
    if args.repeats:
        p["repeats"] = args.repeats
    command = shlex.join([sys.executable, os.path.relpath(__file__, REPO)] + sys.argv[1:]).replace(
        REPO + os.sep, "")
    info = machine_info()
    info["redis"], info["celery"] = versions()
    info["build_type"] = build_type(args.bin)
    results = Results()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    tmp = tempfile.mkdtemp(prefix="warmpool-scale-out-")
    procs = Processes(os.path.join(tmp, "pids"))
    failed = False
    try:
        with RedisServer(tmp, procs) as redis:
            print("redis-server on port %d; logs in %s" % (redis.port, tmp), flush=True)
            bench = os.path.join(args.bin, "warmpool-scale-out-bench")
            measure(results, "floor", [bench, "--json", "--scenario", "floor", "--count",
                                       str(p["floor_count"])], p, p["repeats"])
            measure(results, "redis/ping", [bench, "--json", "--endpoint", redis.endpoint(),
                                            "--scenario", "ping", "--system", "redis", "--count",
                                            str(p["ping_count"])], p, p["repeats"])
            measure(results, "redis/relay", [bench, "--json", "--endpoint", redis.endpoint(),
                                             "--scenario", "relay", "--system", "redis",
                                             "--count", str(p["ping_count"])], p, p["repeats"])
            measure(results, "redis-py/ping", [sys.executable, CELERY_TASKS, "--scenario", "ping",
                                               "--count", str(p["ping_count"])], p, p["repeats"],
                    {"SCALE_OUT_CELERY_URL": "redis://127.0.0.1:%d/1" % redis.port})
            if "warmpool" in args.systems:
                warmpool_phase(args, p, tmp, procs, redis, results)
            if "celery" in args.systems:
                celery_phase(p, tmp, procs, redis, results)
    except (HarnessError, OSError, subprocess.SubprocessError) as e:
        print("scale_out_bench: %s" % e, file=sys.stderr)
        results.errors["harness"] = str(e)
        failed = True
    except KeyboardInterrupt:
        failed = True
    finally:
        procs.stop_all()
    info["load_end"] = "%.2f" % os.getloadavg()[0]
    print()
    print(write_report(args.out, results, p, info, args, command))
    if args.out:
        print("written: %s/scale_out.md and scale_out.json" % os.path.relpath(args.out))
    if failed or results.errors:
        print("logs kept in %s" % tmp, file=sys.stderr)
        return 1
    subprocess.run(["rm", "-rf", tmp])
    return 0


if __name__ == "__main__":
    sys.exit(main())
