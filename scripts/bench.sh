#!/usr/bin/env bash
# Benchmarks warmpool side by side with ProcessPoolExecutor, multiprocessing.Pool and Gearman on
# this machine: installs what is missing, builds the benchmark programs (Release, in their own
# build directory), runs every scenario for every system and writes bench/results/latest.md,
# latest.png and latest.json. Every pool, gearmand and worker it starts is stopped on exit.
#
#   scripts/bench.sh [--smoke] [--repeats N] [--only SCENARIO]... [--systems LIST]
#                    [--param NAME=VALUE]... [--out DIR]
#
# --smoke takes under a minute and proves only that the harness works. Scenarios: floor (the
# machine itself), roundtrip, inflight, map, clients, payload, classic, warmstart, idle.
# Systems: warmpool, ppe, mp, gearman. A full run takes about 15 minutes on 2 cores.
# WARMPOOL_BENCH_BUILD_DIR overrides the build directory (default: build-bench).
set -euo pipefail
cd "$(dirname "$0")/.."

build_dir=${WARMPOOL_BENCH_BUILD_DIR:-build-bench}
bash scripts/install-deps.sh
# Tests are not needed to measure; leaving them out also keeps this build short.
cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release -DWARMPOOL_BUILD_TESTS=OFF >/dev/null
cmake --build "$build_dir" --target bench-programs -j"$(nproc)"

exec python3 bench/run_bench.py --bin "$(realpath "$build_dir")/bin" "$@"
