#!/usr/bin/env python3
"""The preload benchmark: a pool of 8 workers over bench/preload_tables.cpp (its preload hook
takes 2 s and builds 256 MiB of read-only tables), without and with `--preload`, measured on:

  * memory: the total PSS (/proc/PID/smaps_rollup) of the 8 workers (and of the zygote), against
    one worker's PSS without preload (target: with preload, at most 1.3x one worker's);
  * replacement: from a worker's kill -9 to its replacement reported ready in the status (so
    taking jobs), polled every 0.5 ms (target: at most 20 ms with preload, against 2 s or more
    without);
  * start: from launching warmpoold to the pool of 8 reported running;
  * scale-up: a running pool of 2 (max_workers 8) told `warmpool scale 8`, until 8 workers are
    reported ready.

Run it (after `cmake --build BUILD --target warmpoold warmpool_bench_preload_tables`):
    python3 bench/preload_bench.py --bin BUILD/bin [--workers 8] [--kills 5] [--huge-pages]
With --huge-pages the tables are in transparent huge pages (MADV_HUGEPAGE): forking the zygote
then copies 512 times fewer page-table entries.
Each pool runs in a temporary runtime directory and is stopped on every exit path.
"""
import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time


def status(path):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(5)
        s.connect(path)
        s.sendall(b"json\n")
        chunks = []
        while True:
            chunk = s.recv(1 << 16)
            if not chunk:
                break
            chunks.append(chunk)
    return json.loads(b"".join(chunks))


def ready_pids(snap):
    return [row["pid"] for row in snap["workers"]["rows"] if row["state"] in ("idle", "busy")]


def pss_kib(pid):
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith("Pss:"):
                return int(line.split()[1])
    raise RuntimeError(f"no Pss for {pid}")


class Pool:
    def __init__(self, bin_dir, workers, preload, huge_pages, max_workers=0):
        self.dir = tempfile.mkdtemp(prefix="warmpool-preload-bench-")
        self.name = "preload_bench"
        self.status_path = os.path.join(self.dir, self.name + ".status")
        argv = [os.path.join(bin_dir, "warmpoold"), "--name", self.name, "--runtime-dir", self.dir,
                "--workers", str(workers), "--jobs", os.path.join(bin_dir, "libwarmpool_bench_preload_tables.so"),
                "--log-level", "warn", "--grace-period", "1"]
        if preload:
            argv.append("--preload")
        if max_workers:
            argv += ["--max-workers", str(max_workers)]
        self.log = open(os.path.join(self.dir, "log"), "w")
        self.started = time.monotonic()
        env = dict(os.environ, WARMPOOL_BENCH_HUGE_PAGES="1" if huge_pages else "0")
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=self.log, env=env)
        self.workers = workers

    def wait(self, condition, timeout=120):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                snap = status(self.status_path)
                if condition(snap):
                    return snap
            except (OSError, ValueError):
                pass
            if self.proc.poll() is not None:
                raise RuntimeError(f"warmpoold exited {self.proc.returncode}; log in {self.dir}/log")
            time.sleep(0.0005)
        raise RuntimeError("timed out")

    def wait_running(self):
        snap = self.wait(lambda s: s["state"] == "running" and len(ready_pids(s)) == self.workers)
        return time.monotonic() - self.started, snap

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        subprocess.run(["rm", "-rf", self.dir], check=False)


def measure(bin_dir, workers, kills, preload, huge_pages):
    pool = Pool(bin_dir, workers, preload, huge_pages)
    try:
        start_s, snap = pool.wait_running()
        pids = ready_pids(snap)
        worker_pss = [pss_kib(p) for p in pids]
        zygote = snap.get("zygote")
        zygote_pss = pss_kib(zygote["pid"]) if zygote and zygote.get("pid") else 0
        replace_s = []
        for _ in range(kills):
            victim = ready_pids(status(pool.status_path))[0]
            t0 = time.monotonic()
            os.kill(victim, signal.SIGKILL)
            pool.wait(lambda s: len(ready_pids(s)) == workers and victim not in ready_pids(s), timeout=60)
            replace_s.append(time.monotonic() - t0)
        return dict(start_s=start_s, worker_pss_kib=worker_pss, zygote_pss_kib=zygote_pss, replace_s=replace_s,
                    preload_s=zygote["preload_seconds"] if zygote else None)
    finally:
        pool.stop()


def measure_scale_up(bin_dir, start_workers, workers, preload, huge_pages):
    pool = Pool(bin_dir, start_workers, preload, huge_pages, max_workers=workers)
    try:
        pool.wait_running()
        t0 = time.monotonic()
        subprocess.run([os.path.join(bin_dir, "warmpool"), "--runtime-dir", pool.dir, "--pool", pool.name,
                        "scale", str(workers)], check=True, stdout=subprocess.DEVNULL)
        pool.wait(lambda s: len(ready_pids(s)) == workers, timeout=60)
        return time.monotonic() - t0
    finally:
        pool.stop()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bin", required=True, help="the build's bin directory")
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--huge-pages", action="store_true")
    args = parser.parse_args()
    plain = measure(args.bin, args.workers, args.kills, False, args.huge_pages)
    zygote = measure(args.bin, args.workers, args.kills, True, args.huge_pages)
    scale_plain = measure_scale_up(args.bin, 2, args.workers, False, args.huge_pages)
    scale_zygote = measure_scale_up(args.bin, 2, args.workers, True, args.huge_pages)
    one_worker = statistics.median(plain["worker_pss_kib"])
    mib = lambda kib: kib / 1024
    pages = "transparent huge pages" if args.huge_pages else "4 KiB pages"
    print(f"preload benchmark: {args.workers} workers, bench/preload_tables.cpp (2 s, 256 MiB preload, {pages})")
    print(f"repeat: python3 bench/preload_bench.py --bin {args.bin} --workers {args.workers} --kills {args.kills}"
          + (" --huge-pages" if args.huge_pages else ""))
    print()
    print("| figure | without preload | with preload | target |")
    print("|---|---|---|---|")
    print(f"| one worker's PSS | {mib(one_worker):.0f} MiB | {mib(statistics.median(zygote['worker_pss_kib'])):.0f} MiB | |")
    total_plain = sum(plain["worker_pss_kib"])
    total_zygote = sum(zygote["worker_pss_kib"])
    print(f"| PSS of the {args.workers} workers | {mib(total_plain):.0f} MiB ({total_plain / one_worker:.2f}x one worker) "
          f"| {mib(total_zygote):.0f} MiB ({total_zygote / one_worker:.2f}x) | <= 1.3x |")
    with_zygote = total_zygote + zygote["zygote_pss_kib"]
    print(f"| ... and the zygote's | - | {mib(with_zygote):.0f} MiB ({with_zygote / one_worker:.2f}x) | |")
    fmt = lambda xs: f"{statistics.median(xs) * 1000:.1f} ms (min {min(xs) * 1000:.1f}, max {max(xs) * 1000:.1f})"
    print(f"| kill -9 to replacement ready ({args.kills} kills) | {fmt(plain['replace_s'])} | {fmt(zygote['replace_s'])} "
          f"| <= 20 ms with, >= 2 s without |")
    print(f"| start to {args.workers} workers ready | {plain['start_s']:.2f} s | {zygote['start_s']:.2f} s "
          f"(preload {zygote['preload_s']:.2f} s) | |")
    print(f"| warmpool scale from 2 to {args.workers} workers, until all ready | {scale_plain:.2f} s "
          f"| {scale_zygote * 1000:.0f} ms | |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
