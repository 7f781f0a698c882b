#!/usr/bin/env python3
"""The Python rows of the benchmarks: warmpool.Executor side by side with ProcessPoolExecutor,
multiprocessing.Pool and loky's reusable executor, 2 workers each, in one run; writes
OUT/python.md (the table, with targets, ratios and the machine's floor) and OUT/python.json.

Scenarios (the measurements are bench/python/python_systems.py and warmstart.py):
  floor      the machine seen from Python, no pool: a pipe ping-pong, a copy of the payload,
             2 processes running a Python loop side by side, python3 starting (and importing
             warmpool)
  roundtrip  an empty Python job, one outstanding (warmpool: Executor.submit().result() and
             Client.call)
  map        a trivial function over --param map_count ints (peers: best of several chunk sizes)
  classic    the four article workloads, serial vs through the pool, results checked
  warmstart  a whole fresh python3 process running the ten gcd pairs on a pool whose workers
             take init_seconds to initialise (warmpool: a running pool; the others create theirs)
  payload    echo of random bytes (64 MiB), one outstanding
warmpool's pool is a warmpoold started here hosting bench_jobs, my_module and md5_worker (the
examples' modules), whose md5_worker.Md5Chain instances take init_seconds to build.

scripts/bench.sh runs this after the C++ rows (--python: only this); by hand:
    /usr/bin/python3 bench/python_bench.py --bin BUILD/bin [--smoke] [--repeats N]
        [--only SCENARIO]... [--systems warmpool,ppe,mp,loky] [--param NAME=VALUE]... [--out DIR]
The Python package is taken from BUILD/python (the build tree). Every process started here is
stopped on exit, the pool by its own pid. Exit status 0 if every measurement succeeded (with
--check-complete: and produced every figure).
"""
import argparse
import contextlib
import json
import os
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

import run_bench
from run_bench import HarnessError, Results, Row, cell, fmt, summary

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
SYSTEMS_PY = os.path.join(HERE, "python", "python_systems.py")
WARMSTART_PY = os.path.join(HERE, "python", "warmstart.py")

SYSTEMS = [("warmpool", "warmpool.Executor"), ("ppe", "ProcessPoolExecutor"),
           ("mp", "multiprocessing.Pool"), ("loky", "loky")]
NAMES = dict(SYSTEMS)
SCENARIOS = ["floor", "roundtrip", "map", "classic", "warmstart", "payload"]
WORKERS = 2

FULL = dict(roundtrip_count=10000, roundtrip_warmup=1000, map_count=1_000_000,
            map_chunks=[1000, 10000, 100000], gcd_pairs=10, md5_jobs=4, md5_rounds=1_000_000,
            sleep_jobs=8, sleep_seconds=0.25, triple_n=36, triple_jobs=4, init_seconds=2.0,
            payload_mib=[1, 64], payload_budget_s=20.0, floor_count=20000,
            spin_iterations=3_000_000, repeats=3, timeout=900)
SMOKE = dict(roundtrip_count=200, roundtrip_warmup=20, map_count=20000, map_chunks=[100, 1000],
             gcd_pairs=2, md5_jobs=2, md5_rounds=20000, sleep_jobs=4, sleep_seconds=0.02,
             triple_n=10, triple_jobs=2, init_seconds=0.2, payload_mib=[1, 2],
             payload_budget_s=3.0, floor_count=300, spin_iterations=200_000, repeats=1,
             timeout=120)


def table_rows(p):
    small, large = p["payload_mib"][0], p["payload_mib"][-1]
    big = large == 64
    pipe = [("Python pipe ping-pong", "pipe_p50_us")]
    rows = [
        Row("round trip, empty job, Executor.submit().result(): p50 (µs)", "roundtrip",
            "p50_us", "lower", 15, "≤ 15 µs", floor=pipe),
        Row("round trip, empty job, Executor.submit().result(): p99 (µs)", "roundtrip",
            "p99_us", "lower", 60, "≤ 60 µs", floor=[("Python pipe ping-pong", "pipe_p99_us")]),
        Row("round trip, empty job, Client.call: p50 (µs)", "roundtrip", "client_p50_us",
            "lower", 15, "≤ 15 µs", ratio=None, floor=pipe, only=("warmpool",)),
        Row("round trip, empty job, Client.call: p99 (µs)", "roundtrip", "client_p99_us",
            "lower", 60, "≤ 60 µs", ratio=None, floor=[("Python pipe ping-pong", "pipe_p99_us")],
            only=("warmpool",)),
        Row("map of a trivial function over %s ints (items/s; peers: best chunk size)"
            % fmt(p["map_count"]), "map", "jobs_per_s", "higher", None,
            "≥ 2× the best peer", extra_ratio_target=2.0),
        Row("the same, the function defined in the script (by value)", "map",
            "by_value_jobs_per_s", "higher", ratio=None, only=("warmpool",)),
    ]
    for name in ("gcd", "md5_chain", "work_func", "triple_product", "total"):
        rows.append(Row("article workloads, speed-up over serial: %s" % (
            "all four" if name == "total" else name), "classic", "speedup_" + name, "higher",
            1.9, "≥ 1.9×, results = serial", ratio=None,
            floor=[("2 bare processes, Python loop", "cpu_speedup_2proc")]))
    rows += [
        Row("warm start: fresh python3, 10 gcd pairs (Euclid), %g s worker init (ms)"
            % p["init_seconds"], "warmstart", "euclid_ms", "lower", 100,
            "≤ 100 ms (peers ≥ 2.2 s)",
            floor=[("python3 -c pass", "python_start_ms"),
                   ("python3 importing warmpool's client", "python_import_ms")]),
        Row("the same with the article's brute-force gcd (ms)", "warmstart", "brute_ms", "lower"),
        Row("payload %d MiB bytes echo (GB/s)" % small, "payload", "gbps_%dmib" % small,
            "higher", floor=[("one copy in Python", "copy_gbps_%dmib" % small)]),
        Row("payload %d MiB bytes echo (GB/s)" % large, "payload", "gbps_%dmib" % large,
            "higher", 2 if big else None, "≥ 2 GB/s" if big else "",
            floor=[("one copy in Python", "copy_gbps_%dmib" % large)]),
    ]
    return rows


class PythonPool(run_bench.Warmpool):
    """The benchmark's warmpoold, 2 workers hosting the Python jobs, for the whole run."""

    def __enter__(self):
        os.makedirs(self.runtime_dir, mode=0o700)
        env = dict(os.environ, WARMPOOL_MD5_INIT_SECONDS=str(self.p["init_seconds"]))
        argv = [os.path.join(self.bin, "warmpoold"), "--name", self.name, "--runtime-dir",
                self.runtime_dir, "--workers", str(WORKERS), "--log-level", "warn",
                "--python-path", os.path.join(REPO, "examples", "python"),
                "--python-path", os.path.join(HERE, "python")]
        for module in ("bench_jobs", "my_module", "md5_worker"):
            argv += ["--python-module", module]
        self.proc = self.procs.start(argv, self.log, env)
        ready = subprocess.run(self.cli("wait-ready", "--timeout", "120"), capture_output=True,
                               text=True, timeout=150)
        if ready.returncode != 0:
            raise HarnessError("warmpoold did not become ready: %s\n%s" % (
                ready.stderr.strip(), run_bench.tail(self.log)))
        return self


def measure(key, scenario, p, results, pool):
    """One repeat of one scenario on one system: ([(metrics, params), ...], command)."""
    base = [sys.executable, SYSTEMS_PY, scenario, "--system", key]
    if key == "warmpool":
        base += ["--pool", pool.name, "--runtime-dir", pool.runtime_dir]
    if scenario == "floor":
        argv = base + ["--count", p["floor_count"], "--warmup", p["roundtrip_warmup"],
                       "--spin-iterations", p["spin_iterations"]] + \
            [a for m in p["payload_mib"] for a in ("--payload-mib", m)]
        res = run_bench.run_json([str(a) for a in argv], p["timeout"])
        metrics = res[0]["metrics"]
        metrics["python_start_ms"] = statistics.median(
            1000 * run_bench.time_process([sys.executable, "-c", "pass"], 30) for _ in range(5))
        if key_available("warmpool")[0]:
            metrics["python_import_ms"] = statistics.median(1000 * run_bench.time_process(
                [sys.executable, "-c", "import warmpool; warmpool.Executor"], 30)
                for _ in range(5))
        return [(metrics, {})], res[0]["command"]
    if scenario == "warmstart":
        metrics, commands = {}, []
        for which in ("euclid", "brute"):
            argv = [sys.executable, WARMSTART_PY, key, which, str(p["init_seconds"])]
            if key == "warmpool":
                argv += [pool.name, pool.runtime_dir]
            metrics[which + "_ms"] = 1000 * run_bench.time_process(argv, p["timeout"])
            commands.append(shlex.join(argv))
        return [(metrics, {})], "; ".join(commands)
    if scenario == "roundtrip":
        argv = base + ["--count", p["roundtrip_count"], "--warmup", p["roundtrip_warmup"]]
    elif scenario == "map":
        argv = base + ["--count", p["map_count"]]
        if key != "warmpool":
            # The first repeat tries every chunk size; later ones use the best it found.
            earlier = results.data.get((key, "map"))
            tried = [int(earlier[0][3]["chunk"])] if earlier else p["map_chunks"]
            argv += [a for c in tried for a in ("--chunk", c)]
    elif scenario == "classic":
        argv = base + [a for name in ("gcd_pairs", "md5_jobs", "md5_rounds", "sleep_jobs",
                                      "sleep_seconds", "triple_n", "triple_jobs")
                       for a in ("--" + name.replace("_", "-"), p[name])]
    elif scenario == "payload":
        argv = base + ["--reps", p["repeats"], "--budget-seconds", p["payload_budget_s"]] + \
            [a for m in p["payload_mib"] for a in ("--payload-mib", m)]
    else:
        raise ValueError(scenario)
    res = run_bench.run_json([str(a) for a in argv], p["timeout"])
    return [(r["metrics"], r.get("params", {})) for r in res], res[0]["command"]


_available = {}


def key_available(key):
    """(True, "") if system `key` can run here, else (False, why)."""
    if key not in _available:
        if key == "loky":
            probe = "import joblib.externals.loky"
            why = "loky is not installed (Debian: python3-joblib)"
        elif key == "warmpool":
            probe = "import warmpool._native"
            why = "the warmpool Python package is not built (warmpool._native is missing)"
        else:
            probe, why = "import concurrent.futures, multiprocessing", "?"
        ok = subprocess.run([sys.executable, "-c", probe], capture_output=True).returncode == 0
        _available[key] = (ok, "" if ok else why)
    return _available[key]


def show(metrics):
    return " ".join("%s=%s" % (k, fmt(v)) for k, v in metrics.items()
                    if not k.startswith(("serial_s", "pooled_s")))


def run_scenario(scenario, keys, results, p, pool):
    """Every repeat of one scenario, interleaved: repeat 1 of each system, then repeat 2, ...
    Failures are recorded in results.errors, not raised."""
    for repeat in range(1 if scenario in ("payload", "floor") else p["repeats"]):
        for key in keys:
            if (key, scenario) in results.errors:
                continue
            t0 = time.monotonic()
            try:
                entries, command = measure(key, scenario, p, results, pool)
            except HarnessError as e:
                results.errors[(key, scenario)] = str(e)
                print("  %-22s ERROR %s" % (NAMES.get(key, key), e), flush=True)
                continue
            for i, (metrics, params) in enumerate(entries):
                results.add(key, scenario, repeat + i, metrics, command, params)
            print("  %-22s #%d %s  [%.1fs]" % (NAMES.get(key, key), repeat + 1, " | ".join(
                show(m) for m, _ in entries), time.monotonic() - t0), flush=True)


def verdict(row, results, systems):
    """(ratio or None, met: True/False/None) for warmpool on `row`."""
    ratio = results.ratio(row, systems)
    ours = summary(results.values("warmpool", row.scenario, row.metric))
    if ours is None:
        return ratio, None
    met = row.meets(ours[0])
    if row.extra_ratio_target is not None:
        by_ratio = ratio is not None and ratio[0] >= row.extra_ratio_target
        met = by_ratio if met is None else met and by_ratio
    return ratio, met


def write_report(out, results, p, systems, scenarios, info, smoke):
    lines = ["# warmpool benchmarks: Python", "",
             "* **Date**: %s (the run took %s)" % (info["date"], info["duration"]),
             "* **Machine**: %s cores, %s; kernel %s; load average %s at the start and %s at "
             "the end" % (info["cores"], info["cpu"], info["kernel"], info["load_start"],
                          info["load_end"]),
             "* **Software**: warmpool %s (Release build), %s, loky from joblib %s" % (
                 info["commit"], info["python"], info.get("joblib", "?")),
             "* **Command**: `%s`" % info["command"], "",
             "Every system runs %d workers. Figures: median of %d repeat%s (min–max); repeats "
             "of the systems are interleaved. **ratio**: warmpool.Executor's advantage over the "
             "best peer (> 1: warmpool is better), per repeat. **met?** judges warmpool's median "
             "against the target. **machine's best**: the floor below, measured from Python "
             "with no pool." % (WORKERS, p["repeats"], "" if p["repeats"] == 1 else "s"), ""]
    if smoke:
        lines += ["**Smoke run**: tiny parameters; these numbers only show that the harness "
                  "works and must not be quoted.", ""]
    header = ["scenario"] + [NAMES[s] for s in systems] + ["ratio", "target", "met?",
                                                            "machine's best"]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in table_rows(p):
        if row.scenario not in scenarios:
            continue
        cells = [row.label]
        for s in systems:
            if row.only is not None and s not in row.only:
                cells.append("")
            elif (s, row.scenario) in results.errors:
                cells.append("error")
            else:
                cells.append(cell(results.values(s, row.scenario, row.metric)) or "—")
        ratio, met = verdict(row, results, systems)
        cells.append("" if ratio is None else "%s×%s vs %s" % (
            fmt(ratio[0]), "" if p["repeats"] == 1 else " (%s–%s)" % (fmt(ratio[1]),
                                                                       fmt(ratio[2])),
            NAMES[ratio[3]]))
        cells.append(row.target_text)
        cells.append("" if met is None else ("yes" if met else "**no**"))
        cells.append("; ".join("%s %s" % (fmt(st[0]), label) for label, st in (
            (label, summary(results.values("floor", "floor", metric)))
            for label, metric in row.floor) if st is not None))
        lines.append("| " + " | ".join(cells) + " |")
    if results.data.get(("floor", "floor")):
        lines += ["", "### Machine floor", "", "| floor (no pool, from Python) | value |",
                  "|---|---|"]
        floor_labels = [
            ("a byte to and fro between two Python processes over pipes: p50 (µs)",
             "pipe_p50_us"), ("the same: p99 (µs)", "pipe_p99_us")] + [
            ("one copy of %d MiB in Python, through a memoryview (GB/s)" % m,
             "copy_gbps_%dmib" % m) for m in p["payload_mib"]] + [
            ("a Python loop in 2 processes side by side: speed-up over one after the other",
             "cpu_speedup_2proc"),
            ("spawning `python3 -c pass`, to reaped (ms)", "python_start_ms"),
            ("spawning a `python3` that imports warmpool's client (ms)", "python_import_ms")]
        for label, metric in floor_labels:
            value = cell(results.values("floor", "floor", metric))
            if value is not None:
                lines.append("| %s | %s |" % (label, value))
    chunks = ["%s %s" % (NAMES[s], results.data[(s, "map")][0][3]["chunk"]) for s in systems
              if s != "warmpool" and results.data.get((s, "map"))]
    lines += ["", "## How each figure is measured", "",
              "* **round trip**: %d calls of an empty job (`bench_jobs.noop`, exported) after "
              "%d untimed ones, one outstanding: warmpool `Executor.submit(noop).result()` and "
              "`Client.call(noop)`; the peers' `submit(noop).result()` (multiprocessing.Pool: "
              "`apply`)." % (p["roundtrip_count"], p["roundtrip_warmup"]),
              "* **map**: `bench_jobs.echo` over %d ints, every result checked. warmpool: "
              "`Executor.map(echo, ints)` with the default chunksize (warmpool batches by "
              "itself), and the same with an echo defined in the measuring script, which "
              "travels by value; peers: `map(echo, ints, chunksize=c)`, the first repeat "
              "trying c in %s, later repeats the best (%s)." % (
                  p["map_count"], ", ".join(map(str, p["map_chunks"])),
                  "; ".join(chunks) or "none"),
              "* **article workloads**: serial in the measuring process, then through the pool "
              "(every job submitted, then every result collected and compared with serial): "
              "the %d gcd pairs with `my_module.gcd`; %d messages through md5 chained %d times "
              "(warmpool: the exported class `md5_worker.Md5Chain`, built once per worker); "
              "`work_func` sleeping %g s on %d items; the triple-loop product for %d values of "
              "n from %d down." % (p["gcd_pairs"], p["md5_jobs"], p["md5_rounds"],
                                   p["sleep_seconds"], p["sleep_jobs"], p["triple_jobs"],
                                   p["triple_n"]),
              "* **warm start**: wall time of a whole fresh `python3 bench/python/warmstart.py` "
              "(spawn to reaped) mapping gcd over the ten pairs. warmpool: a running pool whose "
              "workers built their `Md5Chain` (%g s) long ago; the others create their pool in "
              "the script with an initializer sleeping %g s. Euclid's gcd makes the figure the "
              "cost of starting and reaching warm workers; the brute-force row adds the "
              "article's arithmetic (about half a second on 2 workers)." % (
                  p["init_seconds"], p["init_seconds"]),
              "* **payload**: `echo` of random `bytes`, one outstanding, one untimed echo then "
              "up to %d timed ones per size within %g s; GB/s = size ÷ round-trip time (each "
              "byte goes there and back)." % (p["repeats"], p["payload_budget_s"]),
              "* **floor**: a byte to and fro between two Python processes over pipes "
              "(%d times), one copy of each payload size into a touched `bytearray`, a "
              "pure-Python loop in 2 forked processes side by side vs twice in one (less than "
              "2 when other work shares the cores), and spawning `python3 -c pass` or a "
              "`python3` that imports warmpool's client (median of 5)." % p["floor_count"], ""]
    if results.errors:
        lines += ["## Errors", ""] + ["* %s / %s: `%s`" % (NAMES.get(s, s), sc, m.splitlines(
        )[0][:300]) for (s, sc), m in sorted(results.errors.items())] + [""]
    lines += ["## Repeat", "", "```sh", info["command"], "```", "",
              "The commands behind each figure (warmpool's need the run's pool, which is gone):",
              ""]
    for sc in scenarios:
        for s in (["floor"] if sc == "floor" else systems):
            if results.data.get((s, sc)):
                lines.append("* %s / %s: `%s`" % (sc, NAMES.get(s, s),
                                                  results.data[(s, sc)][-1][2]))
    lines.append("")
    with open(os.path.join(out, "python.md"), "w") as f:
        f.write("\n".join(lines))


def missing_figures(results, p, systems, scenarios):
    missing = []
    for row in table_rows(p):
        if row.scenario in scenarios:
            missing += ["%s/%s" % (NAMES[s], row.metric) for s in systems
                        if (row.only is None or s in row.only) and
                        not results.values(s, row.scenario, row.metric)]
    if "floor" in scenarios:
        missing += ["floor/%s" % m for row in table_rows(p) for _, m in row.floor
                    if not results.values("floor", "floor", m) and
                    (m != "python_import_ms" or "warmpool" in systems)]
    return sorted(set(missing))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], epilog=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bin", required=True, help="the build's bin/ directory")
    parser.add_argument("--smoke", action="store_true", help="tiny parameters: seconds")
    parser.add_argument("--repeats", type=int)
    parser.add_argument("--only", action="append", choices=SCENARIOS)
    parser.add_argument("--systems", default=",".join(k for k, _ in SYSTEMS))
    parser.add_argument("--out", default=os.path.join(HERE, "results"))
    parser.add_argument("--check-complete", action="store_true")
    parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE")
    args = parser.parse_args()
    p = dict(SMOKE if args.smoke else FULL)
    if args.repeats:
        p["repeats"] = args.repeats
    for item in args.param:
        name, _, value = item.partition("=")
        if name not in p or not value:
            parser.error("--param %s: NAME is one of %s" % (item, ", ".join(sorted(p))))
        kind = type(p[name])
        p[name] = [int(v) for v in value.split(",")] if kind is list else kind(value)
    systems = [k for k, _ in SYSTEMS if k in args.systems.split(",")]
    scenarios = args.only or SCENARIOS
    bin_dir = os.path.abspath(args.bin)
    python_dir = os.path.join(os.path.dirname(bin_dir), "python")
    # Every child finds the warmpool package of this build and the job modules.
    package = python_dir if os.path.isdir(os.path.join(python_dir, "warmpool")) else \
        os.path.join(REPO, "client", "python")
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [package, os.path.join(REPO, "examples", "python"), os.path.join(HERE, "python")])
    os.makedirs(args.out, exist_ok=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    signal.signal(signal.SIGHUP, lambda *_: sys.exit(129))

    info = run_bench.machine_info()
    info["joblib"] = subprocess.run(
        [sys.executable, "-c", "import joblib; print(joblib.__version__)"],
        capture_output=True, text=True).stdout.strip() or "?"
    argv = [a for a in sys.argv[1:] if a != "--check-complete"]
    if "--bin" in argv:
        del argv[argv.index("--bin"):argv.index("--bin") + 2]
    info["command"] = shlex.join(["bash", "scripts/bench.sh", "--python"] +
                                 [a for a in argv if not a.startswith("--bin=")])
    results = Results()
    for key in systems:
        ok, why = key_available(key)
        if not ok:
            for sc in scenarios:
                if sc != "floor":
                    results.errors[(key, sc)] = why
    tmp = tempfile.mkdtemp(prefix="warmpool-pybench-")
    procs = run_bench.Processes(os.environ.get("WARMPOOL_BENCH_PIDS") or
                                os.path.join(tmp, "pids"))
    print("python benchmark: %s, %d repeat(s), systems %s, scenarios %s; temporary directory %s"
          % ("smoke run" if args.smoke else "full run", p["repeats"], ",".join(systems),
             ",".join(scenarios), tmp), flush=True)
    started = time.monotonic()
    try:
        with contextlib.ExitStack() as stack:
            pool = None
            if "warmpool" in systems and key_available("warmpool")[0]:
                pool = PythonPool(bin_dir, tmp, procs, p)
                stack.callback(pool.__exit__, None, None, None)  # even if half started
                try:
                    pool.__enter__()
                except HarnessError as e:
                    print("warmpool: %s" % e, file=sys.stderr)
                    for sc in scenarios:
                        results.errors[("warmpool", sc)] = "the pool did not start: %s" % e
            for scenario in scenarios:
                print("\n== %s" % scenario, flush=True)
                run_scenario(scenario, ["floor"] if scenario == "floor" else systems, results,
                             p, pool)
    finally:
        procs.stop_all()
        info["load_end"] = "%.2f" % os.getloadavg()[0]
        info["duration"] = "%.0f s" % (time.monotonic() - started)
        try:
            write_report(args.out, results, p, systems, scenarios, info, args.smoke)
            with open(os.path.join(args.out, "python.json"), "w") as f:
                json.dump({"info": info, "params": p, "systems": systems, "scenarios": scenarios,
                           "errors": {"%s/%s" % k: v for k, v in results.errors.items()},
                           "results": [{"system": s, "scenario": sc, "repeat": r, "metrics": m,
                                        "params": pa, "command": c}
                                       for (s, sc), entries in sorted(results.data.items())
                                       for r, m, c, pa in entries]}, f, indent=1)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    print("\nreport: %s (%.0f s)" % (os.path.join(args.out, "python.md"),
                                      time.monotonic() - started))
    missing = missing_figures(results, p, systems, scenarios) if args.check_complete else []
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
        print("python benchmark: %s" % e, file=sys.stderr)
        sys.exit(1)
