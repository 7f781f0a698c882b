#!/usr/bin/env bash
# Benchmarks warmpool side by side with its peers on this machine: installs what is missing,
# builds the benchmark programs and the Python package (Release, in their own build directory)
# and runs three sections:
#   * the C++ rows (bench/run_bench.py): warmpool vs ProcessPoolExecutor, multiprocessing.Pool
#     and Gearman, writing bench/results/latest.md, latest.png and latest.json;
#   * the Python rows (bench/python_bench.py): warmpool.Executor vs ProcessPoolExecutor,
#     multiprocessing.Pool and loky running Python jobs, writing bench/results/python.md and
#     python.json;
#   * the preload rows (bench/preload_bench.py): 8 workers over a job library whose preload takes
#     2 s and builds 256 MiB of tables, without and with --preload (memory, a killed worker's
#     replacement, the start, `warmpool scale` from 2 to 8), in 4 KiB pages and in huge pages,
#     writing bench/results/preload.md. Left out of --smoke runs.
#   * the scale-out rows (bench/scale_out_bench.py): warmpool hosts (warmpoold + warmpool-gateway)
#     behind one loopback redis-server vs Celery 5.2 workers on the same Redis (round trip, a map
#     of tiny jobs, 1 host vs 2 on 10 ms jobs), writing bench/results/scale_out.md and
#     scale_out.json. Only with --scale-out (about 5 minutes; with --smoke, a tiny run that
#     writes nothing unless --out is given).
# Every pool, gateway, redis-server, gearmand and worker it starts is stopped on exit.
#
#   scripts/bench.sh [--smoke] [--repeats N] [--only SCENARIO]... [--systems LIST]
#                    [--param NAME=VALUE]... [--out DIR]        both sections (the options
#                                                               other than --smoke, --repeats
#                                                               and --out are the C++ rows')
#   scripts/bench.sh --no-python [options]                      the C++ rows only
#   scripts/bench.sh --python [options]                         the Python rows only, with
#                                                               python_bench.py's options
#   scripts/bench.sh --preload                                  the preload rows only
#   scripts/bench.sh --scale-out [--smoke] [--repeats N] [--out DIR]  the scale-out rows only
#
# --smoke takes a minute or two and proves only that the harness works. C++ scenarios: floor
# (the machine itself), roundtrip, inflight, map, clients, payload, classic, warmstart, idle;
# systems: warmpool, ppe, mp, gearman. Python scenarios: floor, roundtrip, map, classic,
# warmstart, payload; systems: warmpool, ppe, mp, loky. A full run takes about 15 minutes for
# the C++ rows and 10 for the Python rows on 2 cores.
# WARMPOOL_BENCH_BUILD_DIR overrides the build directory (default: build-bench);
# WARMPOOL_PYTHON the interpreter of the Python rows (default: /usr/bin/python3, Debian's, which
# has the packages they need).
set -euo pipefail
cd "$(dirname "$0")/.."

sections=both
args=() python_args=()
while (($#)); do
    case $1 in
        --python) sections=python ;;
        --no-python) sections=cpp ;;
        --preload) sections=preload ;;
        --scale-out) sections=scale_out ;;
        --smoke) args+=("$1") python_args+=("$1") ;;
        --repeats | --out)
            (($# >= 2)) || { echo "bench.sh: $1 needs a value" >&2; exit 64; }
            args+=("$1" "$2") python_args+=("$1" "$2")
            shift ;;
        *) args+=("$1") ;;
    esac
    shift
done
[[ $sections == python ]] && python_args=("${args[@]}")

build_dir=${WARMPOOL_BENCH_BUILD_DIR:-build-bench}
python=${WARMPOOL_PYTHON:-/usr/bin/python3}
[[ -x $python ]] || python=python3
bash scripts/install-deps.sh
# Tests are not needed to measure; leaving them out also keeps this build short.
cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release -DWARMPOOL_BUILD_TESTS=OFF >/dev/null
cmake --build "$build_dir" --target bench-programs -j"$(nproc)"
bin=$(realpath "$build_dir")/bin

status=0
if [[ $sections == both || $sections == cpp ]]; then
    "$python" bench/run_bench.py --bin "$bin" ${args[@]+"${args[@]}"} || status=$?
fi
if [[ $sections == both || $sections == python ]]; then
    "$python" bench/python_bench.py --bin "$bin" ${python_args[@]+"${python_args[@]}"} || status=$?
fi
smoke=false
for arg in ${args[@]+"${args[@]}"}; do [[ $arg == --smoke ]] && smoke=true; done
if [[ ($sections == both && $smoke == false) || $sections == preload ]]; then
    preload_report=bench/results/preload.md
    {
        echo "# Preload benchmark (bench/preload_bench.py, from scripts/bench.sh)"
        echo
        echo "8 workers over bench/preload_tables.cpp, whose preload hook takes 2 s and builds 256 MiB"
        echo "of read-only tables; without and with \`--preload\`; $(nproc) cores."
        echo
        "$python" bench/preload_bench.py --bin "$bin" --workers 8 --kills 5
        echo
        "$python" bench/preload_bench.py --bin "$bin" --workers 8 --kills 5 --huge-pages
    } >"$preload_report.new" && mv "$preload_report.new" "$preload_report" || status=$?
    cat "$preload_report"
fi
if [[ $sections == scale_out ]]; then
    "$python" bench/scale_out_bench.py --bin "$bin" ${args[@]+"${args[@]}"} || status=$?
fi
exit "$status"
