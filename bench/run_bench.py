#!/usr/bin/env python3
"""Runs every benchmark scenario for warmpool and its peers on this machine, in one go, and
writes a report: OUT/latest.md (table), OUT/latest.png (chart, if gnuplot is installed) and
OUT/latest.json (every raw figure).

Systems: warmpool (a warmpoold started here, 2 workers), ProcessPoolExecutor and
multiprocessing.Pool (bench/peers/python_peers.py, 2 workers) and Gearman (a gearmand started
here on a free loopback port, 2 gearman-bench-worker processes). Every figure is the median of
--repeats runs, shown with its spread (min-max); runs of the systems are interleaved (repeat 1
of every system, then repeat 2, ...) so that a slow moment of the machine hits them all, and
each ratio is computed per repeat from figures of that same repeat. The payload scenario runs
its repeats inside one client process per system, within a time budget (a 64 MiB echo through
Gearman takes over a minute); the idle scenario measures every system over the same seconds.
The "floor" scenario measures the machine itself (futex ping-pong and a three-process ring, memcpy)
for comparison.

scripts/bench.sh installs the packages, builds and calls this; to run it by hand:
    python3 bench/run_bench.py --bin BUILD/bin [--smoke] [--repeats N] [--only SCENARIO]
                               [--systems warmpool,ppe,mp,gearman] [--param NAME=VALUE]
                               [--out DIR] [--check-complete]

Everything it starts (daemons, workers, clients) lives in a temporary directory and is stopped
on every exit path, including Ctrl-C and SIGTERM; children also get SIGTERM from the kernel if
this process dies without cleaning up (PR_SET_PDEATHSIG). Exit status: 0 if every measurement
succeeded (with --check-complete: and produced every figure), 1 otherwise.
"""
import argparse
import contextlib
import ctypes
import datetime
import glob
import json
import os
import platform
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
PEERS_PY = os.path.join(HERE, "peers", "python_peers.py")

SYSTEMS = [("warmpool", "warmpool"), ("ppe", "ProcessPoolExecutor"),
           ("mp", "multiprocessing.Pool"), ("gearman", "Gearman")]
SYSTEM_NAMES = dict(SYSTEMS, floor="machine floor")
CHART_NAMES = {"warmpool": "warmpool", "ppe": "ProcPoolExec.", "mp": "mp.Pool",
               "gearman": "Gearman"}  # short enough not to overlap under the bars
# "floor" is not a system's scenario: it measures the machine (warmpool-bench --scenario floor).
SCENARIOS = ["floor", "roundtrip", "inflight", "map", "clients", "payload", "classic", "warmstart",
             "idle"]
NOT_APPLICABLE = {
    ("clients", "ppe"): "a Python pool belongs to the one process that created it",
    ("clients", "mp"): "a Python pool belongs to the one process that created it",
    ("map", "gearman"): "Gearman has no map (batching) primitive",
}
WORKERS = 2

# Scenario parameters: a full run, and a smoke run that only proves the harness works.
# Any of them can be overridden with --param NAME=VALUE.
FULL = dict(roundtrip_count=10000, roundtrip_warmup=1000, inflight_count=200000, window=10000,
            map_count=10_000_000, map_chunks=[1000, 10000, 100000], clients=4,
            client_seconds=2.0, payload_mib=[1, 64], payload_budget_s=20.0, gcd_pairs=10,
            md5_jobs=8, md5_rounds=1_000_000, triple_n=40, triple_jobs=4, init_seconds=2.0,
            warmstart_jobs=10, idle_seconds=10.0, floor_count=20000, spin_us=50, repeats=3,
            timeout=1800, stall_seconds=600)
SMOKE = dict(roundtrip_count=300, roundtrip_warmup=50, inflight_count=3000, window=500,
             map_count=30000, map_chunks=[100, 1000], clients=4, client_seconds=0.3,
             payload_mib=[1, 2], payload_budget_s=5.0, gcd_pairs=2, md5_jobs=4, md5_rounds=20000,
             triple_n=12, triple_jobs=2, init_seconds=0.2, warmstart_jobs=10, idle_seconds=1.0,
             floor_count=300, spin_us=50, repeats=1, timeout=60, stall_seconds=30)


class HarnessError(Exception):
    """The harness itself could not do its job (a pool did not start, ...)."""


# ---------------------------------------------------------------------------------------------
# Processes

_libc = ctypes.CDLL(None, use_errno=True)
PR_SET_PDEATHSIG = 1


def _die_with_parent():
    """preexec_fn: the kernel sends SIGTERM to the child if this driver dies, even by SIGKILL."""
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class Processes:
    """Every long-lived process this run starts, so that all of them can be stopped. Their pids
    are also appended to PIDS_FILE, for a caller that must clean up after a driver killed -9."""

    def __init__(self, pids_file):
        self.pids_file = pids_file
        self.procs = []

    def start(self, argv, log_path, env=None, stdin=subprocess.DEVNULL, stdout=None):
        log = open(log_path, "ab")
        try:
            proc = subprocess.Popen(argv, stdin=stdin, stdout=stdout or log, stderr=log, env=env,
                                    preexec_fn=_die_with_parent)
        finally:
            log.close()
        self.procs.append(proc)
        with open(self.pids_file, "a") as f:
            f.write("%d %s\n" % (proc.pid, os.path.basename(argv[0])))
        return proc

    @staticmethod
    def stop(proc, grace=10.0):
        """SIGTERM, wait up to `grace` seconds, then SIGKILL. Returns the exit status."""
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(grace)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        return proc.returncode

    def stop_all(self):
        for proc in reversed(self.procs):
            self.stop(proc)


def free_port():
    """A loopback TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_json(argv, timeout, stdin=subprocess.DEVNULL):
    """Runs one measurement program; returns the JSON objects it printed, one per line.
    Raises HarnessError with its stderr if it fails (the child is killed on timeout)."""
    try:
        done = subprocess.run(argv, stdin=stdin, capture_output=True, text=True, timeout=timeout,
                              preexec_fn=_die_with_parent)
    except subprocess.TimeoutExpired:
        raise HarnessError("timed out after %.0f s: %s" % (timeout, shlex.join(argv)))
    results = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not results:
        tail = (done.stderr.strip() or done.stdout.strip())[-600:]
        raise HarnessError("exit %d: %s\n%s" % (done.returncode, shlex.join(argv), tail))
    return results


def time_process(argv, timeout):
    """Wall-clock seconds of one whole process, from spawn to reaped; it must exit 0.
    No preexec_fn here: it would make Python fork() instead of vfork(), which costs tens of
    milliseconds on some machines and would be counted against the process timed."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise HarnessError("timed out: %s" % shlex.join(argv))
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise HarnessError("exit %d: %s\n%s" % (proc.returncode, shlex.join(argv),
                                                 err.decode(errors="replace")[-600:]))
    return elapsed


# ---------------------------------------------------------------------------------------------
# /proc: the idle cost

CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_ticks(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime (fields 14, 15 of proc(5))


def rss_mib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return 0.0


def idle_costs(groups, seconds):
    """groups: {key: (supervisor pid, [worker pids])}, all left alone together for `seconds`.
    Returns {key: metrics}: CPU used by each group's processes over that time (percent of one
    core, all its processes together) and their resident memory at the end."""
    def ticks(key):
        supervisor, workers = groups[key]
        return sum(cpu_ticks(p) for p in [supervisor] + list(workers))
    before = {key: ticks(key) for key in groups}
    time.sleep(seconds)
    used = {key: ticks(key) - before[key] for key in groups}
    return {key: {"cpu_percent": 100.0 * used[key] / CLK_TCK / seconds,
                  "supervisor_rss_mib": rss_mib(supervisor),
                  "workers_rss_mib": sum(rss_mib(w) for w in workers)}
            for key, (supervisor, workers) in groups.items()}


# ---------------------------------------------------------------------------------------------
# The systems under test


class Warmpool:
    """A warmpoold with 2 workers in a private runtime directory, for the whole run."""

    key = "warmpool"

    def __init__(self, bin_dir, tmp, procs, p):
        self.bin, self.procs, self.p = bin_dir, procs, p
        self.name = "bench%d" % os.getpid()
        self.runtime_dir = os.path.join(tmp, "warmpool-runtime")
        self.log = os.path.join(tmp, "warmpoold.log")
        self.proc = None

    def cli(self, *args):
        return [os.path.join(self.bin, "warmpool"), "--pool", self.name,
                "--runtime-dir", self.runtime_dir] + list(args)

    def shm_entries(self):
        return glob.glob("/dev/shm/warmpool.%d.%s" % (os.getuid(), self.name)) + \
            glob.glob("/dev/shm/warmpool.%d.%s.*" % (os.getuid(), self.name))

    def __enter__(self):
        os.makedirs(self.runtime_dir, mode=0o700)
        # The workers' initialisation takes init_seconds, once, as in the warm-start scenario.
        env = dict(os.environ, WARMPOOL_EXAMPLE_INIT_SECONDS=str(self.p["init_seconds"]))
        self.proc = self.procs.start(
            [os.path.join(self.bin, "warmpoold"), "--name", self.name, "--runtime-dir",
             self.runtime_dir, "--workers", str(WORKERS), "--log-level", "warn"], self.log, env)
        ready = subprocess.run(self.cli("wait-ready", "--timeout", "60"), capture_output=True,
                               text=True, timeout=90)
        if ready.returncode != 0:
            raise HarnessError("warmpoold did not become ready: %s\n%s" % (
                ready.stderr.strip(), tail(self.log)))
        return self

    def __exit__(self, *exc):
        if self.proc is not None and self.proc.poll() is None:
            subprocess.run(self.cli("stop"), capture_output=True, timeout=30)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                print("warning: warmpoold did not stop within 30 s of 'warmpool stop'; killing it",
                      file=sys.stderr)
                Processes.stop(self.proc, grace=5)
        leftovers = self.shm_entries()
        if leftovers:
            print("warning: warmpoold left shared memory behind (removed now): %s"
                  % " ".join(leftovers), file=sys.stderr)
            for path in leftovers:
                os.unlink(path)

    def worker_pids(self):
        status = json.loads(subprocess.run(self.cli("status", "--json"), capture_output=True,
                                           text=True, check=True, timeout=30).stdout)
        return [row["pid"] for row in status["workers"]["rows"]]

    def bench(self, scenario, *extra):
        return [os.path.join(self.bin, "warmpool-bench"), "--pool", self.name, "--runtime-dir",
                self.runtime_dir, "--json", "--stall-seconds", str(self.p["stall_seconds"]),
                "--scenario", scenario] + [str(e) for e in extra]

    def warmstart_argv(self):
        return [os.path.join(self.bin, "warmpool-bench-warmstart"), self.name, self.runtime_dir,
                str(self.p["warmstart_jobs"])]

    def idle_pids(self, stack):
        return self.proc.pid, self.worker_pids()


class Gearman:
    """gearmand on a free loopback port plus 2 gearman-bench-worker processes (each with the
    same initialisation delay as warmpool's workers), for the whole run."""

    key = "gearman"

    def __init__(self, bin_dir, tmp, procs, p):
        self.bin, self.tmp, self.procs, self.p = bin_dir, tmp, procs, p
        self.port = None
        self.gearmand = None
        self.workers = []

    def __enter__(self):
        gearmand = shutil.which("gearmand") or "/usr/sbin/gearmand"
        log = os.path.join(self.tmp, "gearmand.log")
        self.port = free_port()
        # Debian's defaults otherwise (4 I/O threads, in-memory queue).
        self.gearmand = self.procs.start(
            [gearmand, "--listen", "127.0.0.1", "--port", str(self.port), "--log-file", log,
             "--pid-file", os.path.join(self.tmp, "gearmand.pid")], log)
        for _ in range(WORKERS):
            self.workers.append(self.procs.start(
                [os.path.join(self.bin, "gearman-bench-worker"), "--port", str(self.port),
                 "--init-seconds", str(self.p["init_seconds"])],
                os.path.join(self.tmp, "gearman-workers.log")))
        deadline = time.monotonic() + 30 + self.p["init_seconds"]
        while self.available_workers() < WORKERS:
            if time.monotonic() > deadline or self.gearmand.poll() is not None:
                raise HarnessError("gearmand or its workers did not come up\n%s" % tail(log))
            time.sleep(0.05)
        return self

    def __exit__(self, *exc):
        for w in self.workers:
            Processes.stop(w)
        if self.gearmand is not None:
            Processes.stop(self.gearmand)

    def available_workers(self):
        """Workers registered for "echo", from gearmand's text admin protocol ("status")."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=2) as s:
                s.sendall(b"status\n")
                data = b""
                while not data.endswith(b".\n"):
                    chunk = s.recv(4096)
                    if not chunk:
                        break
                    data += chunk
        except OSError:
            return 0
        for line in data.decode(errors="replace").splitlines():
            fields = line.split("\t")
            if len(fields) == 4 and fields[0] == "echo":
                return int(fields[3])
        return 0

    def bench(self, scenario, *extra):
        return [os.path.join(self.bin, "gearman-bench"), "--port", str(self.port), "--json",
                "--stall-seconds", str(self.p["stall_seconds"]), "--scenario", scenario] + \
            [str(e) for e in extra]

    def warmstart_argv(self):
        return [os.path.join(self.bin, "gearman-bench-warmstart"), "127.0.0.1", str(self.port),
                str(self.p["warmstart_jobs"])]

    def idle_pids(self, stack):
        return self.gearmand.pid, [w.pid for w in self.workers]


class PythonPeer:
    """ProcessPoolExecutor or multiprocessing.Pool: a new pool in each measurement process."""

    def __init__(self, key, p):
        self.key, self.p = key, p

    def bench(self, scenario, *extra):
        return [sys.executable, PEERS_PY, scenario, "--system", self.key] + [str(e) for e in extra]

    def warmstart_argv(self):
        return self.bench("warmstart", "--init-seconds", self.p["init_seconds"],
                          "--count", self.p["warmstart_jobs"])

    def idle_pids(self, stack):
        """Starts a script that creates a pool and sits idle until its stdin closes, which
        `stack` does on exit."""
        proc = subprocess.Popen(self.bench("idle"), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                text=True, preexec_fn=_die_with_parent)

        def finish():
            proc.stdin.close()  # the script's signal to shut its pool down and exit
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        stack.callback(finish)
        line = proc.stdout.readline()
        if not line:
            raise HarnessError("%s idle: the script printed no pids" % SYSTEM_NAMES[self.key])
        pids = json.loads(line)
        return pids["supervisor"], pids["workers"]


class Floor:
    """The machine's floor (warmpool-bench --scenario floor): no pool, no peer."""

    key = "floor"

    def __init__(self, bin_dir, p):
        self.bin, self.p = bin_dir, p

    def argv(self):
        sizes = [a for m in self.p["payload_mib"] for a in ("--payload-mib", m)]
        return [str(a) for a in [os.path.join(self.bin, "warmpool-bench"), "--json", "--scenario",
                                 "floor", "--count", self.p["floor_count"], "--warmup",
                                 self.p["roundtrip_warmup"], "--spin-us", self.p["spin_us"],
                                 "--reps", 3, "--gcd-pairs", self.p["gcd_pairs"], "--md5-jobs",
                                 self.p["md5_jobs"], "--md5-rounds", self.p["md5_rounds"],
                                 "--triple-n", self.p["triple_n"], "--triple-jobs",
                                 self.p["triple_jobs"]] + sizes]


def tail(path, lines=20):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError:
        return ""


# ---------------------------------------------------------------------------------------------
# Scenarios: each returns the metrics dict of one repeat of one system, and the command that
# repeats it.


def measure(system, scenario, p, results):
    """One repeat of one scenario on one system: ([(metrics, params), ...], command). Most
    scenarios give one entry; payload gives one per timed echo (it runs its repeats itself)."""
    key = system.key
    if scenario == "floor":
        res = run_json(system.argv(), p["timeout"])
    elif scenario == "roundtrip":
        res = run_json(system.bench("roundtrip", "--count", p["roundtrip_count"],
                                    "--warmup", p["roundtrip_warmup"]), p["timeout"])
    elif scenario == "inflight":
        res = run_json(system.bench("inflight", "--count", p["inflight_count"],
                                    "--window", p["window"]), p["timeout"])
    elif scenario == "map":
        chunks = []
        if key != "warmpool":
            # The first repeat tries every chunk size; later ones use the best it found.
            earlier = results.data.get((key, "map"))
            tried = [int(earlier[0][3]["chunk"])] if earlier else p["map_chunks"]
            chunks = [a for c in tried for a in ("--chunk", c)]
        res = run_json(system.bench("map", "--count", p["map_count"], *chunks), p["timeout"])
    elif scenario == "clients":
        res = run_json(system.bench("clients", "--clients", p["clients"], "--seconds",
                                    p["client_seconds"], "--window", p["window"]), p["timeout"])
    elif scenario == "payload":
        sizes = [a for m in p["payload_mib"] for a in ("--payload-mib", m)]
        res = run_json(system.bench("payload", "--reps", p["repeats"], "--budget-seconds",
                                    p["payload_budget_s"], *sizes), p["timeout"])
    elif scenario == "classic":
        res = run_json(system.bench("classic", "--gcd-pairs", p["gcd_pairs"], "--md5-jobs",
                                    p["md5_jobs"], "--md5-rounds", p["md5_rounds"], "--triple-n",
                                    p["triple_n"], "--triple-jobs", p["triple_jobs"]),
                       p["timeout"])
    elif scenario == "warmstart":
        argv = system.warmstart_argv()
        return [({"ms": 1000.0 * time_process(argv, p["timeout"])}, {})], shlex.join(argv)
    else:
        raise ValueError(scenario)
    return [(r["metrics"], r.get("params", {})) for r in res], res[0]["command"]


def measure_idle(instances, systems, p):
    """The idle scenario for every system at once (they are all idle anyway): {key: metrics}."""
    with contextlib.ExitStack() as stack:
        groups = {key: instances[key].idle_pids(stack) for key in systems}
        return idle_costs(groups, p["idle_seconds"])


# ---------------------------------------------------------------------------------------------
# The report

def fmt(v):
    """Three significant digits, with k/M/G for big numbers."""
    if v is None:
        return "—"
    for limit, unit, suffix in ((1e9, 1e9, " G"), (1e6, 1e6, " M"), (1e4, 1e3, " k")):
        if abs(v) >= limit:
            return "%.3g%s" % (v / unit, suffix)
    if v == 0:
        return "0"
    if abs(v) >= 100:
        return "%.0f" % v
    return "%.3g" % v


class Row:
    """One line of the table: a metric of a scenario, how it compares, and its target."""

    def __init__(self, label, scenario, metric, better, target=None, target_text="",
                 ratio="best", extra_ratio_target=None, floor=None, only=None):
        self.label, self.scenario, self.metric, self.better = label, scenario, metric, better
        self.only = only  # the systems that have this figure (None: every system)
        self.target, self.target_text = target, target_text
        self.ratio = ratio  # "best": vs the best peer; a system key; None: no ratio
        self.extra_ratio_target = extra_ratio_target  # map: warmpool must also be >= N x mp
        # [(label, machine-floor metric)]: what the machine allows for this figure; warmpool
        # is compared with the first.
        self.floor = floor or []

    def meets(self, value):
        if self.target is None or value is None:
            return None
        return value <= self.target if self.better == "lower" else value >= self.target


def cpu_floor(workload):
    return [("ideal pool of 2 bare processes, same jobs", "ideal_speedup_" + workload)]


def table_rows(p):
    small, large = p["payload_mib"][0], p["payload_mib"][-1]
    return [
        Row("round trip p50 (µs)", "roundtrip", "p50_us", "lower", 10, "≤ 10 µs",
            floor=[("spinning", "spin_futex_p50_us"), ("sleeping", "futex_p50_us"),
                   ("3 processes spinning and yielding", "ring3_spin_yield_p50_us")]),
        Row("round trip p99 (µs)", "roundtrip", "p99_us", "lower", 50, "≤ 50 µs",
            floor=[("spinning", "spin_futex_p99_us"), ("sleeping", "futex_p99_us"),
                   ("3 processes spinning and yielding", "ring3_spin_yield_p99_us")]),
        Row("single jobs in flight (jobs/s)", "inflight", "jobs_per_s", "higher", 1e6,
            "≥ 1 M jobs/s"),
        Row("map (jobs/s; peers: best chunk size)", "map", "jobs_per_s", "higher", 2e7,
            "≥ 20 M jobs/s and ≥ 2.5× multiprocessing.Pool", ratio="mp", extra_ratio_target=2.5),
        Row("many clients: 1 client (jobs/s)", "clients", "one_client_jobs_per_s", "higher"),
        Row("many clients: %d clients together (jobs/s)" % p["clients"], "clients",
            "total_jobs_per_s", "higher"),
        Row("many clients: together ÷ 1 client", "clients", "vs_one_client", "higher", 0.8,
            "≥ 0.8", ratio=None),
        Row("many clients: fairness (slowest ÷ fastest)", "clients", "fairness", "higher", 0.8,
            "≥ 0.8", ratio=None),
        Row("payload %d MiB, call<std::string> (GB/s)" % small, "payload", "gbps_%dmib" % small,
            "higher", floor=[("memcpy", "memcpy_gbps_%dmib" % small),
                             ("memcpy to new shm", "memcpy_fresh_gbps_%dmib" % small)]),
        Row("payload %d MiB, call<std::string> (GB/s)" % large, "payload", "gbps_%dmib" % large,
            "higher", 4 if large == 64 else None, "≥ 4 GB/s" if large == 64 else "",
            floor=[("memcpy", "memcpy_gbps_%dmib" % large),
                   ("memcpy to new shm", "memcpy_fresh_gbps_%dmib" % large)]),
        # warmpool only: the result read in place (warmpool::Bytes), no new string per call.
        Row("payload %d MiB, zero-copy call<Bytes> (GB/s)" % small, "payload",
            "bytes_gbps_%dmib" % small, "higher", ratio=None,
            floor=[("memcpy", "memcpy_gbps_%dmib" % small)], only=("warmpool",)),
        Row("payload %d MiB, zero-copy call<Bytes> (GB/s)" % large, "payload",
            "bytes_gbps_%dmib" % large, "higher", 4 if large == 64 else None,
            "≥ 4 GB/s" if large == 64 else "", ratio=None,
            floor=[("memcpy", "memcpy_gbps_%dmib" % large)], only=("warmpool",)),
        Row("payload %d MiB, first call<std::string> (GB/s)" % large, "payload",
            "first_call_gbps_%dmib" % large, "higher", ratio=None, only=("warmpool",)),
        Row("CPU-bound speed-up: gcd", "classic", "speedup_gcd", "higher", 1.9, "≥ 1.9×",
            ratio=None, floor=cpu_floor("gcd")),
        Row("CPU-bound speed-up: md5_chain", "classic", "speedup_md5_chain", "higher", 1.9,
            "≥ 1.9×", ratio=None, floor=cpu_floor("md5_chain")),
        Row("CPU-bound speed-up: triple_product", "classic", "speedup_triple_product", "higher",
            1.9, "≥ 1.9×", ratio=None, floor=cpu_floor("triple_product")),
        Row("CPU-bound speed-up: all three", "classic", "speedup_total", "higher", 1.9, "≥ 1.9×",
            ratio=None, floor=cpu_floor("total")),
        Row("warm start: whole client process, %d jobs (ms)" % p["warmstart_jobs"], "warmstart",
            "ms", "lower", 20, "≤ 20 ms"),
        Row("idle %g s: CPU (%% of one core)" % p["idle_seconds"], "idle", "cpu_percent",
            "lower", 0.2, "≈ 0 (≤ 0.2%)"),
        Row("idle: supervisor RSS (MiB)", "idle", "supervisor_rss_mib", "lower", 16, "≤ 16 MiB"),
        Row("idle: workers RSS, together (MiB)", "idle", "workers_rss_mib", "lower", ratio=None),
    ]


def floor_rows(p):
    """The machine floor's own table: (label, metric)."""
    rows = [("CPU-bound loop, 2 bare processes side by side: speed-up over one after the other",
             "cpu_speedup_2proc"),
            ("futex ping-pong round trip, sleeping every time: p50 (µs)", "futex_p50_us"),
            ("futex ping-pong round trip, sleeping every time: p99 (µs)", "futex_p99_us"),
            ("the same, spinning up to %d µs before sleeping: p50 (µs)" % p["spin_us"],
             "spin_futex_p50_us"),
            ("the same, spinning up to %d µs before sleeping: p99 (µs)" % p["spin_us"],
             "spin_futex_p99_us"),
            ("a trip round 3 processes (three hops, as client → supervisor → worker → client), "
             "each spinning up to %d µs and yielding its core between looks: p50 (µs)" % p["spin_us"],
             "ring3_spin_yield_p50_us"),
            ("the same: p99 (µs)", "ring3_spin_yield_p99_us")]
    rows += [("the classic workloads through an ideal pool of 2 bare processes (forked "
              "beforehand, taking the same jobs in the same order from a shared counter, "
              "reporting each through a pipe): speed-up over serial, gcd", "ideal_speedup_gcd"),
             ("the same: md5_chain", "ideal_speedup_md5_chain"),
             ("the same: triple_product", "ideal_speedup_triple_product"),
             ("the same: all three", "ideal_speedup_total")]
    for m in p["payload_mib"]:
        rows += [("memcpy %d MiB between touched buffers (GB/s)" % m, "memcpy_gbps_%dmib" % m),
                 ("memcpy %d MiB into a new shared-memory segment (GB/s)" % m,
                  "memcpy_fresh_gbps_%dmib" % m)]
    return rows


def summary(values):
    """(median, min, max) or None."""
    if not values:
        return None
    return statistics.median(values), min(values), max(values)


def cell(values):
    s = summary(values)
    if s is None:
        return None
    if len(values) == 1:
        return fmt(s[0])
    return "%s (%s–%s)" % (fmt(s[0]), fmt(s[1]), fmt(s[2]))


class Results:
    """Every figure: data[(system, scenario)] = list of (repeat, metrics, command, params)."""

    def __init__(self):
        self.data = {}
        self.errors = {}  # (system, scenario) -> message

    def add(self, system, scenario, repeat, metrics, command, params):
        self.data.setdefault((system, scenario), []).append((repeat, metrics, command, params))

    def values(self, system, scenario, metric):
        return [m[metric] for _, m, _, _ in self.data.get((system, scenario), []) if metric in m]

    def by_repeat(self, system, scenario, metric):
        return {r: m[metric] for r, m, _, _ in self.data.get((system, scenario), [])
                if metric in m}

    def ratio(self, row, systems):
        """(median, min, max, peer) of warmpool's advantage per repeat (> 1: warmpool better)."""
        if row.ratio is None or "warmpool" not in systems:
            return None
        peers = [s for s in systems if s != "warmpool" and self.values(s, row.scenario, row.metric)]
        if row.ratio != "best":
            peers = [s for s in peers if s == row.ratio]
        if not peers:
            return None
        pick = min if row.better == "lower" else max
        peer = pick(peers, key=lambda s: statistics.median(self.values(s, row.scenario, row.metric)))
        ours = self.by_repeat("warmpool", row.scenario, row.metric)
        theirs = self.by_repeat(peer, row.scenario, row.metric)
        ratios = []
        for r in sorted(set(ours) & set(theirs)):
            if ours[r] > 0 and theirs[r] > 0:
                ratios.append(theirs[r] / ours[r] if row.better == "lower" else ours[r] / theirs[r])
        s = summary(ratios)
        return None if s is None else s + (peer,)


def write_report(out_dir, results, p, systems, scenarios, info, args):
    rows = [r for r in table_rows(p) if r.scenario in scenarios]
    lines = ["# warmpool benchmarks: warmpool side by side with its peers", ""]
    lines += ["* **Date**: %s (the whole run took %s)" % (info["date"], info.get("duration", "?")),
              "* **Machine**: %s cores, %s; kernel %s; %s MiB of memory; load average %s at "
              "the start and %s at the end (the machine was not otherwise idle)" % (
                  info["cores"], info["cpu"], info["kernel"], info["mem_mib"],
                  info["load_start"], info["load_end"]),
              "* **Software**: warmpool %s (Release build), %s, %s" % (
                  info["commit"], info["python"], info["gearmand"]),
              "* **Command**: `%s`" % info["command"], ""]
    lines += ["Every system runs %d workers. Figures: median of %d repeat%s with the spread "
              "(min–max) in brackets; repeats of the systems are interleaved. "
              "**ratio** is warmpool's advantage over the named peer (> 1: warmpool is better; "
              "for times and latencies it is peer ÷ warmpool), computed per repeat and then "
              "summarised the same way. **met?** judges warmpool's median against the target."
              % (WORKERS, p["repeats"], "" if p["repeats"] == 1 else "s"), ""]
    if args.smoke:
        lines += ["**Smoke run**: tiny parameters; these numbers only show that the harness "
                  "works and must not be quoted.", ""]
    with_floor = "floor" in scenarios and bool(results.data.get(("floor", "floor")))
    header = ["scenario"] + [SYSTEM_NAMES[s] for s in systems] + ["ratio", "target", "met?"] + \
        (["machine's best"] if with_floor else [])
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        cells = [row.label]
        for s in systems:
            if (row.scenario, s) in NOT_APPLICABLE:
                cells.append("n/a")
            elif (s, row.scenario) in results.errors:
                cells.append("error")
            else:
                cells.append(cell(results.values(s, row.scenario, row.metric)) or "—")
        ratio = results.ratio(row, systems)
        if ratio is None:
            cells.append("")
        else:
            med, lo, hi, peer = ratio
            spread = "" if p["repeats"] == 1 else " (%s–%s)" % (fmt(lo), fmt(hi))
            cells.append("%s×%s vs %s" % (fmt(med), spread, SYSTEM_NAMES[peer]))
        cells.append(row.target_text)
        ours = summary(results.values("warmpool", row.scenario, row.metric))
        met = row.meets(ours[0] if ours else None)
        if met is not None and row.extra_ratio_target is not None:
            met = met and ratio is not None and ratio[0] >= row.extra_ratio_target
        cells.append("" if met is None else ("yes" if met else "**no**"))
        if with_floor:
            # Each floor as "median label"; warmpool is compared with the best of the medians.
            floors = [(label, summary(results.values("floor", "floor", metric)))
                      for label, metric in row.floor]
            floors = [(label, st) for label, st in floors if st is not None]
            parts = []
            if floors:
                pick = min if row.better == "lower" else max
                best = pick(floors, key=lambda f: f[1][0])
                for label, st in [best] + [f for f in floors if f is not best]:
                    parts.append("%s %s" % (fmt(st[0]), label))
                if ours is not None and ours[0] > 0 and best[1][0] > 0:
                    off = ours[0] / best[1][0] if row.better == "lower" else \
                        best[1][0] / ours[0]
                    parts[0] += " (warmpool %s)" % ("%s× off" % fmt(off) if off > 1 else "at it")
            cells.append("; ".join(parts))
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    if with_floor:
        lines += ["### Machine floor", "",
                  "What this machine allows at best, measured with no pool, and shown in the "
                  "**machine's best** column above: two processes passing a counter back and "
                  "forth through shared memory, waking each other with futexes (spinning first, "
                  "or sleeping every time: the least a round trip between two processes costs; "
                  "a pool whose jobs pass through a dispatcher makes three such hops), a "
                  "counter passed round three such processes that spin and yield their cores "
                  "between looks (three hops with more busy processes than this machine may "
                  "have cores, as a job through a dispatcher), memcpy "
                  "between touched buffers and into a new shared-memory segment (creation and "
                  "page faults included), the speed-up two bare processes get from running "
                  "a CPU-bound loop side by side (less than 2 when other work shares the cores), "
                  "and the speed-up of an ideal pool of two bare processes on the classic "
                  "workloads' very jobs (forked before the clock starts, each taking the next "
                  "job the moment it is free, nothing between them but a shared counter and a "
                  "pipe for the results): no pool can beat it with those jobs, whose sizes need "
                  "not split evenly across two workers (a pool beating it means the machine "
                  "was busier while the floor ran). \"warmpool N× off\" compares warmpool's "
                  "median with the best of the floors' medians. Median (min–max) of %d run%s, measured before "
                  "the systems." % (
                      p["repeats"], "" if p["repeats"] == 1 else "s"), "",
                  "| floor | value |", "|---|---|"]
        for label, metric in floor_rows(p):
            lines.append("| %s | %s |" % (label, cell(results.values("floor", "floor", metric))
                                          or "—"))
        lines.append("")
    payload_notes = []
    for s in systems:
        for _, m, _, pa in results.data.get((s, "payload"), []):
            if pa.get("warmup_counted") == "1":
                payload_notes.append("%s's %s MiB figure is one echo: that echo took longer than "
                                     "the %g s budget, so it was not repeated" % (
                                         SYSTEM_NAMES[s], pa.get("mib", "?"),
                                         p["payload_budget_s"]))
    chunk_notes = []
    for s in systems:
        entries = results.data.get((s, "map"), [])
        if s != "warmpool" and entries and "chunk" in entries[0][3]:
            chunk_notes.append("%s: chunk size %s" % (SYSTEM_NAMES[s], entries[0][3]["chunk"]))

    notes = ["n/a: " + "; ".join(sorted({"%s for %s (%s)" % (
        SYSTEM_NAMES[s], sc, why) for (sc, s), why in NOT_APPLICABLE.items()
        if s in systems and sc in scenarios}))] if any(
        s in systems and sc in scenarios for (sc, s) in NOT_APPLICABLE) else []
    lines += ["## How each figure is measured", ""]
    lines += [
        "* **round trip**: %d sequential calls of `echo` on a small int after %d untimed ones, "
        "one outstanding; percentiles per run." % (p["roundtrip_count"], p["roundtrip_warmup"]),
        "* **single jobs in flight**: %d separate submit calls of `echo` from one client, at "
        "most %d outstanding (Gearman: batches of %d tasks, its client's way of having many "
        "outstanding)." % (p["inflight_count"], p["window"], p["window"]),
        "* **map**: `echo` over %d ints. warmpool: `Client::map` with its own chunk size; "
        "Python peers: `map(..., chunksize=c)`; the first repeat tries c in %s and counts the "
        "best, later repeats use that best chunk size (%s)." % (
            p["map_count"], ", ".join(str(c) for c in p["map_chunks"]),
            "; ".join(chunk_notes) or "none"),
        "* **many clients**: %d client processes released together, each keeping up to %d "
        "jobs outstanding for %g s; total = all jobs ÷ (last end − first start); fairness = "
        "slowest client's jobs/s ÷ fastest's; compared with one client alone, same run."
        % (p["clients"], p["window"], p["client_seconds"]),
        "* **payload**: `echo` of random blobs of %s MiB, one outstanding, in one client "
        "process per system: one untimed echo, then up to %d timed ones per size, fewer once "
        "they took %g s together; GB/s = bytes ÷ round-trip time (each byte goes there and "
        "back). The machine-floor column is one memcpy of that size between touched buffers."
        % (" and ".join(str(m) for m in p["payload_mib"]), p["repeats"],
           p["payload_budget_s"]) + ("" if not payload_notes else " " + "; ".join(
               payload_notes) + "."),
        "* **CPU-bound speed-up**: serial in one process vs through the pool (all jobs "
        "submitted, then collected), each system in its own language: %d gcd pairs, %d × "
        "md5_chain of %d rounds, triple_product of %d jobs from n = %d. Python peers run the "
        "Python versions, warmpool and Gearman the same C++ code; every pooled result is "
        "checked against the serial one." % (p["gcd_pairs"], p["md5_jobs"], p["md5_rounds"],
                                             p["triple_jobs"], p["triple_n"]),
        "* **warm start**: wall time of a whole fresh client process (spawn to reaped), "
        "running %d `echo` jobs. warmpool and Gearman: against a running pool whose workers "
        "finished their %g s initialisation long ago; Python: a script that creates its pool "
        "with the same %g s initializer. Spawning `/bin/true` the same way takes %s ms here."
        % (p["warmstart_jobs"], p["init_seconds"], p["init_seconds"], fmt(info["spawn_ms"])),
        "* **idle**: every system's supervisor and workers left alone together for %g s after "
        "the other scenarios: utime + stime from /proc/PID/stat of all of them (%% of one "
        "core) and VmRSS from /proc/PID/status. Python's \"supervisor\" is the process that "
        "owns the pool (a script that made it and waits); Gearman's is gearmand."
        % p["idle_seconds"],
        "* **round trip, machine floor**: %d futex ping-pongs between two processes, and %d trips "
        "round a ring of three processes, each after %d untimed ones (see the machine floor "
        "table)." % (p["floor_count"], p["floor_count"],
                                                          p["roundtrip_warmup"]),
    ]
    lines += [""] + notes + ([""] if notes else [])
    if results.errors:
        lines += ["## Errors", ""]
        for (s, sc), msg in sorted(results.errors.items()):
            lines += ["* %s / %s: `%s`" % (SYSTEM_NAMES[s], sc, msg.splitlines()[0][:300])]
        lines.append("")
    lines += ["## Repeat", "", "```sh", info["command"], "```", "",
        "The commands behind each figure (they need the run's pool, which is gone):", ""]
    for sc in scenarios:
        for s in systems:
            entries = results.data.get((s, sc))
            if entries:
                lines.append("* %s / %s: `%s`" % (sc, SYSTEM_NAMES[s], entries[-1][2]))
    if "floor" in scenarios and results.data.get(("floor", "floor")):
        lines.append("* machine floor: `%s`" % results.data[("floor", "floor")][-1][2])
    lines.append("")
    if info.get("chart"):
        lines += ["![latest.png](latest.png)", ""]
    with open(os.path.join(out_dir, "latest.md"), "w") as f:
        f.write("\n".join(lines))


def write_chart(out_dir, results, p, systems, tmp):
    """latest.png: four log-scale panels of medians with min–max error bars. Returns False if
    gnuplot is not installed."""
    gnuplot = shutil.which("gnuplot")
    if gnuplot is None:
        return False
    # (title, [(series name, scenario, metric, [machine-floor metrics])], [floor row names]):
    # each floor row k shows every series' k-th floor metric.
    panels = [
        ("round trip latency (µs, lower is better)",
         [("p50", "roundtrip", "p50_us", ["spin_futex_p50_us", "futex_p50_us", "ring3_spin_yield_p50_us"]),
          ("p99", "roundtrip", "p99_us", ["spin_futex_p99_us", "futex_p99_us", "ring3_spin_yield_p99_us"])],
         ["floor: spin", "floor: futex", "floor: 3-process ring"]),
        ("throughput (jobs/s)",
         [("in flight", "inflight", "jobs_per_s", []), ("map", "map", "jobs_per_s", []),
          ("%d clients" % p["clients"], "clients", "total_jobs_per_s", [])], []),
        ("payload echo (GB/s)",
         [("%d MiB" % m, "payload", "gbps_%dmib" % m,
           ["memcpy_gbps_%dmib" % m, "memcpy_fresh_gbps_%dmib" % m]) for m in p["payload_mib"]] +
         [("%d MiB Bytes" % m, "payload", "bytes_gbps_%dmib" % m,
           ["memcpy_gbps_%dmib" % m, "memcpy_fresh_gbps_%dmib" % m]) for m in p["payload_mib"]],
         ["floor: memcpy", "floor: new shm"]),
        ("warm start, whole client process (ms, lower is better)",
         [("%d jobs" % p["warmstart_jobs"], "warmstart", "ms", [])], []),
        ("CPU-bound speed-up, pooled vs serial (x)",
         [("gcd", "classic", "speedup_gcd", ["ideal_speedup_gcd"]),
          ("md5", "classic", "speedup_md5_chain", ["ideal_speedup_md5_chain"]),
          ("triple", "classic", "speedup_triple_product", ["ideal_speedup_triple_product"])],
         ["floor: ideal pool"]),
    ]
    script = ['set terminal pngcairo size 1800,1000 font "sans,10"',
              'set output "%s"' % os.path.join(out_dir, "latest.png"),
              'set datafile missing "?"', "set style data histogram",
              "set style histogram errorbars gap 1 lw 1", "set style fill solid 0.8 border -1",
              "set logscale y", "set grid ytics", "set key below horizontal",
              "set xtics nomirror rotate by 25 right",
              'set multiplot layout 2,2 title "warmpool vs peers (%d workers each; median, '
              'min–max bars; machine floor: no pool, see latest.md)"' % WORKERS]
    panels = [(title, series, floors) for title, series, floors in panels
              if any(results.values(s, sc, metric) for s in systems for _, sc, metric, _ in series)]
    if not panels:
        return False
    rows, cols = (1, len(panels)) if len(panels) <= 3 else (2, (len(panels) + 1) // 2)
    script[-1] = script[-1].replace("layout 2,2", "layout %d,%d" % (rows, cols))
    for n, (title, series, floors) in enumerate(panels):
        data = os.path.join(tmp, "panel%d.dat" % n)
        with open(data, "w") as f:
            table = [(CHART_NAMES[s], [results.values(s, sc, metric) for _, sc, metric, _ in series])
                    for s in systems]
            for k, floor_name in enumerate(floors):
                table.append((floor_name, [results.values("floor", "floor", fm[k])
                                           for _, _, _, fm in series]))
            for name, values in table:
                fields = ['"%s"' % name]
                for v in values:
                    st = summary(v)
                    fields += ["?", "?", "?"] if st is None else ["%g" % x for x in st]
                f.write(" ".join(fields) + "\n")
        plots = ", ".join('"%s" using %d:%d:%d:xtic(1) title "%s"' % (
            data, 2 + 3 * i, 3 + 3 * i, 4 + 3 * i, name) for i, (name, _, _, _) in enumerate(series))
        script += ['set title "%s"' % title, "plot " + plots]
    script.append("unset multiplot")
    gp = os.path.join(tmp, "chart.gp")
    with open(gp, "w") as f:
        f.write("\n".join(script) + "\n")
    done = subprocess.run([gnuplot, gp], capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        print("warning: gnuplot failed: %s" % done.stderr.strip()[-500:], file=sys.stderr)
        return False
    return True


# ---------------------------------------------------------------------------------------------


def show(metrics):
    return " ".join("%s=%s" % (k, fmt(v)) for k, v in metrics.items()
                    if not k.startswith(("serial_s", "pooled_s", "mean", "max")))


def run_scenario(scenario, keys, instances, results, p):
    """Every repeat of one scenario for the systems `keys`, interleaved: repeat 1 of each
    system, then repeat 2, ... Failures are recorded in results.errors, not raised."""
    if scenario == "idle":
        keys = [k for k in keys if (scenario, k) not in NOT_APPLICABLE]
        for repeat in range(p["repeats"]):
            t0 = time.monotonic()
            try:
                figures = measure_idle(instances, keys, p)
            except (HarnessError, OSError, ValueError, subprocess.SubprocessError) as e:
                for key in keys:
                    results.errors[(key, scenario)] = str(e)
                print("  idle ERROR %s" % e, flush=True)
                return
            for key in keys:
                command = "(all systems idle together for %g s, then /proc/PID/stat and " \
                          "/proc/PID/status)" % p["idle_seconds"]
                results.add(key, scenario, repeat, figures[key], command, {})
                print("  %-22s #%d %s" % (SYSTEM_NAMES[key], repeat + 1, show(figures[key])),
                      flush=True)
            print("  %22s    [%.1fs]" % ("", time.monotonic() - t0), flush=True)
        return
    # payload runs its repeats inside one process per system (see time_payload_runs).
    for repeat in range(1 if scenario == "payload" else p["repeats"]):
        for key in keys:
            if (scenario, key) in NOT_APPLICABLE or (key, scenario) in results.errors:
                continue
            t0 = time.monotonic()
            try:
                entries, command = measure(instances[key], scenario, p, results)
            except HarnessError as e:
                results.errors[(key, scenario)] = str(e)
                print("  %-22s ERROR %s" % (SYSTEM_NAMES[key], e), flush=True)
                continue
            for i, (metrics, params) in enumerate(entries):
                results.add(key, scenario, repeat + i, metrics, command, params)
            print("  %-22s #%d %s  [%.1fs]\n  %22s    %s" % (
                SYSTEM_NAMES[key], repeat + 1, " | ".join(show(m) for m, _ in entries),
                time.monotonic() - t0, "", command), flush=True)


def machine_info():
    def out(argv):
        try:
            return subprocess.run(argv, capture_output=True, text=True, timeout=10).stdout.strip()
        except OSError:
            return "?"
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "host": platform.node(), "cores": os.cpu_count(), "cpu": cpu,
        "kernel": platform.release(), "load_start": "%.2f" % os.getloadavg()[0],
        "python": "Python " + platform.python_version(),
        "gearmand": out(["gearmand", "--version"]).split(" - ")[0] or "gearmand ?",
        "commit": out(["git", "-C", REPO, "rev-parse", "--short", "HEAD"]) or "?",
        "mem_mib": os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // (1 << 20),
    }


def parse_args():
    parser = argparse.ArgumentParser(
        description="warmpool side by side with ProcessPoolExecutor, multiprocessing.Pool and "
                    "Gearman", epilog=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bin", help="the build's bin/ directory (required to measure)")
    parser.add_argument("--smoke", action="store_true", help="tiny parameters: seconds, not minutes")
    parser.add_argument("--repeats", type=int, help="runs per figure (default 3; smoke 1)")
    parser.add_argument("--only", action="append", choices=SCENARIOS,
                        help="run only this scenario (repeatable)")
    parser.add_argument("--systems", default=",".join(k for k, _ in SYSTEMS),
                        help="comma-separated subset of warmpool,ppe,mp,gearman")
    parser.add_argument("--out", default=os.path.join(HERE, "results"),
                        help="where latest.md/.png/.json go (default bench/results)")
    parser.add_argument("--check-complete", action="store_true",
                        help="fail unless every scenario produced a number for every system")
    parser.add_argument("--report-from", metavar="JSON",
                        help="measure nothing: write latest.md and latest.png again from a "
                             "latest.json of an earlier run (--bin is then not needed)")
    parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                        help="override one scenario parameter (repeatable), e.g. "
                             "inflight_count=50000 or payload_mib=1,16; names: %s" % ", ".join(
                                 sorted(FULL)))
    args = parser.parse_args()
    if not args.bin and not args.report_from:
        parser.error("--bin is required")
    args.systems = [s for s in args.systems.split(",") if s]
    unknown = [s for s in args.systems if s not in SYSTEM_NAMES]
    if unknown:
        parser.error("unknown system(s): %s" % ", ".join(unknown))
    return args


def report_again(args):
    """--report-from: the report and chart of an earlier run, from its latest.json."""
    with open(args.report_from) as f:
        saved = json.load(f)
    results = Results()
    for r in saved["results"]:
        results.add(r["system"], r["scenario"], r["repeat"], r["metrics"], r["command"],
                    r.get("params", {}))
    for key, message in saved.get("errors", {}).items():
        results.errors[tuple(key.split("/", 1))] = message
    args.smoke = saved["info"]["command"].split()[2:3] == ["--smoke"]
    os.makedirs(args.out, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="warmpool-bench-")
    try:
        info = dict(saved["info"])
        info["chart"] = write_chart(args.out, results, saved["params"], saved["systems"], tmp)
        write_report(args.out, results, saved["params"], saved["systems"], saved["scenarios"],
                     info, args)
        if os.path.abspath(args.report_from) != os.path.abspath(
                os.path.join(args.out, "latest.json")):
            shutil.copyfile(args.report_from, os.path.join(args.out, "latest.json"))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("report: %s (from %s)" % (os.path.join(args.out, "latest.md"), args.report_from))
    return 0


def main():
    args = parse_args()
    if args.report_from:
        return report_again(args)
    p = dict(SMOKE if args.smoke else FULL)
    if args.repeats:
        p["repeats"] = args.repeats
    for item in args.param:
        name, _, value = item.partition("=")
        if name not in p or not value:
            raise SystemExit("--param %s: expected NAME=VALUE with NAME one of %s" % (
                item, ", ".join(sorted(p))))
        kind = type(p[name])
        p[name] = [int(v) for v in value.split(",")] if kind is list else kind(value)
    scenarios = args.only or SCENARIOS
    systems = [k for k, _ in SYSTEMS if k in args.systems]
    if "gearman" in systems and not os.path.exists(os.path.join(args.bin, "gearman-bench")):
        raise SystemExit("gearman-bench is not built (is libgearman-dev installed?); "
                         "run scripts/install-deps.sh or pass --systems without gearman")
    os.makedirs(args.out, exist_ok=True)
    # SIGTERM (ctest's timeout, kill) unwinds like Ctrl-C, so every finally below runs.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    signal.signal(signal.SIGHUP, lambda *_: sys.exit(129))

    info = machine_info()
    # The command that repeats this run, as a user would type it.
    argv, skip = [], False
    for a in sys.argv[1:]:
        if skip:
            skip = False
        elif a == "--bin":
            skip = True
        elif not a.startswith(("--bin=", "--check-complete")):
            argv.append(a)
    info["command"] = shlex.join(["bash", "scripts/bench.sh"] + argv)
    results = Results()
    tmp = tempfile.mkdtemp(prefix="warmpool-bench-")
    # A caller may export WARMPOOL_BENCH_PIDS to learn every long-lived pid we start.
    procs = Processes(os.environ.get("WARMPOOL_BENCH_PIDS") or os.path.join(tmp, "pids"))
    repeat_hint = "bash scripts/bench.sh%s --only %%s" % (" --smoke" if args.smoke else "")
    print("benchmark: %s, %d repeat(s), systems %s, scenarios %s; temporary directory %s" % (
        "smoke run" if args.smoke else "full run", p["repeats"], ",".join(systems),
        ",".join(scenarios), tmp), flush=True)
    started = time.monotonic()
    try:
        info["spawn_ms"] = statistics.median(
            1000 * time_process(["/bin/true"], 10) for _ in range(5))
        instances = {}
        with contextlib.ExitStack() as services:
            for key, cls in (("warmpool", Warmpool), ("gearman", Gearman)):
                if key in systems:
                    service = cls(args.bin, tmp, procs, p)
                    # Registered before it starts, so that a half-started service is cleaned too.
                    services.callback(service.__exit__, None, None, None)
                    instances[key] = service.__enter__()
            for key in ("ppe", "mp"):
                if key in systems:
                    instances[key] = PythonPeer(key, p)
            instances["floor"] = Floor(args.bin, p)
            for scenario in scenarios:
                print("\n== %s  (repeat: %s)" % (scenario, repeat_hint % scenario), flush=True)
                run_scenario(scenario, ["floor"] if scenario == "floor" else systems,
                             instances, results, p)
    finally:
        procs.stop_all()
        info["load_end"] = "%.2f" % os.getloadavg()[0]
        info["duration"] = "%.0f s" % (time.monotonic() - started)
        info["chart"] = False
        try:
            if results.data:
                info["chart"] = write_chart(args.out, results, p, systems, tmp)
                write_report(args.out, results, p, systems, scenarios, info, args)
                with open(os.path.join(args.out, "latest.json"), "w") as f:
                    json.dump({"info": info, "params": p, "systems": systems,
                               "scenarios": scenarios,
                               "errors": {"%s/%s" % k: v for k, v in results.errors.items()},
                               "results": [{"system": s, "scenario": sc, "repeat": r,
                                            "metrics": m, "params": pa, "command": c}
                                           for (s, sc), entries in sorted(results.data.items())
                                           for r, m, c, pa in entries]}, f, indent=1)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    print("\nreport: %s (%.0f s)" % (os.path.join(args.out, "latest.md"),
                                      time.monotonic() - started))
    missing = []
    if args.check_complete:
        for row in table_rows(p):
            if row.scenario not in scenarios:
                continue
            for key in systems:
                if (row.scenario, key) not in NOT_APPLICABLE and \
                        (row.only is None or key in row.only) and \
                        not results.values(key, row.scenario, row.metric):
                    missing.append("%s/%s" % (SYSTEM_NAMES[key], row.metric))
        if "floor" in scenarios:
            missing += ["machine floor/%s" % metric for _, metric in floor_rows(p)
                        if not results.values("floor", "floor", metric)]
        if missing:
            print("MISSING figures: %s" % ", ".join(missing), file=sys.stderr)
    if results.errors:
        print("%d measurement(s) failed: %s" % (len(results.errors), ", ".join(
            "%s/%s" % k for k in sorted(results.errors))), file=sys.stderr)
    return 1 if missing or results.errors else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except HarnessError as e:
        print("benchmark: %s" % e, file=sys.stderr)
        sys.exit(1)
