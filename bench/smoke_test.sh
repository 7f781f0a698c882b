#!/usr/bin/env bash
# CTest "bench_smoke": runs the benchmark harness with --smoke into a temporary directory, the
# C++ rows (run_bench.py) and then the Python rows (python_bench.py, next to it, when the build
# has the Python package), and checks that they produced a figure for every scenario and system
# (never how good the figures are), the reports and, when gnuplot is installed, the chart, and
# that they left nothing behind: no process they started, no warmpool shared memory.
# Whatever happens, every process the harness recorded is killed on exit.
#   smoke_test.sh PYTHON RUN_BENCH_PY BIN_DIR
set -euo pipefail
python=$1 run_bench=$2 bin_dir=$3

tmp=$(mktemp -d /tmp/warmpool-bench-smoke-XXXXXX)
export WARMPOOL_BENCH_PIDS=$tmp/pids  # run_bench.py appends "<pid> <program>" per process
: >"$WARMPOOL_BENCH_PIDS"
shm_before=$(ls /dev/shm)

# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() {
    local pid program
    while read -r pid program; do
        # Only if that pid still runs the program we started (pids are reused).
        if [[ -r /proc/$pid/comm ]] && [[ $(cat "/proc/$pid/comm") == "${program:0:15}" ]]; then
            echo "smoke: killing leftover $program (pid $pid)" >&2
            kill -9 "$pid" 2>/dev/null || true
        fi
    done <"$WARMPOOL_BENCH_PIDS"
    rm -rf "$tmp"
}
trap cleanup EXIT

"$python" "$run_bench" --smoke --check-complete --bin "$bin_dir" --out "$tmp/out"
files=(latest.md latest.json)
if [[ -d $bin_dir/../python/warmpool ]]; then
    "$python" "$(dirname "$run_bench")/python_bench.py" --smoke --check-complete --bin "$bin_dir" \
        --out "$tmp/out"
    files+=(python.md python.json)
else
    echo "smoke: $bin_dir/../python/warmpool is not built; the Python rows are not run" >&2
fi

status=0
command -v gnuplot >/dev/null && files+=(latest.png)
for f in "${files[@]}"; do
    [[ -s $tmp/out/$f ]] || { echo "smoke: $f was not written" >&2; status=1; }
done
while read -r pid program; do
    if [[ -r /proc/$pid/comm ]] && [[ $(cat "/proc/$pid/comm") == "${program:0:15}" ]]; then
        echo "smoke: $program (pid $pid) is still running after the harness finished" >&2
        status=1
    fi
done <"$WARMPOOL_BENCH_PIDS"
new_shm=$(comm -13 <(echo "$shm_before") <(ls /dev/shm) | grep "^warmpool\.$(id -u)\.bench" || true)
if [[ -n $new_shm ]]; then
    echo "smoke: shared memory left behind: $new_shm" >&2
    status=1
fi
[[ $status == 0 ]] && echo "smoke: every scenario produced figures for every system; nothing left behind"
exit "$status"
