#!/usr/bin/env bash
# A guided tour: builds warmpool, starts a pool named "demo" in a private runtime directory
# (each worker's initialisation takes 2 s, once) that also hosts the Python job module of the
# gcd article (examples/python/my_module.py), runs the classic workloads serial vs pooled
# when warmpool-classic is built (else a few single calls), then the article's gcd script in
# Python (serial, threads, ProcessPoolExecutor, warmpool.Executor), shows the status and stops
# the pool.
# WARMPOOL_BUILD_DIR overrides the build directory (default: build).
set -euo pipefail
cd "$(dirname "$0")/.."

build_dir=${WARMPOOL_BUILD_DIR:-build}
bash scripts/install-deps.sh
bash scripts/build.sh "$build_dir"

bin=$build_dir/bin
pool=demo
runtime_dir=$(mktemp -d /tmp/warmpool-demo-XXXXXX)
daemon_log=$runtime_dir/warmpoold.log
daemon_pid=

banner() { printf '\n==== %s ====\n' "$*"; }
cli() { "$bin/warmpool" --pool "$pool" --runtime-dir "$runtime_dir" "$@"; }

# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() {
    if [[ -n $daemon_pid ]] && kill -0 "$daemon_pid" 2>/dev/null; then
        cli stop >/dev/null 2>&1 || kill "$daemon_pid" 2>/dev/null || true
        for _ in $(seq 100); do kill -0 "$daemon_pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$daemon_pid" 2>/dev/null || true
    fi
    rm -rf "$runtime_dir"
}
trap cleanup EXIT

banner "starting warmpoold (pool '$pool', runtime dir $runtime_dir)"
WARMPOOL_EXAMPLE_INIT_SECONDS=2 "$bin/warmpoold" --name "$pool" --runtime-dir "$runtime_dir" \
    --python-module my_module --python-path "$PWD/examples/python" >"$daemon_log" 2>&1 &
daemon_pid=$!
start=$EPOCHREALTIME
if ! cli wait-ready --timeout 60; then
    cat "$daemon_log" >&2
    exit 1
fi
awk -v start="$start" -v end="$EPOCHREALTIME" 'BEGIN {
    printf "ready after %.1f s: each worker ran its 2 s initialisation once, all in parallel\n", end - start }'

if [[ -x $bin/warmpool-classic ]]; then
    banner "classic workloads: serial vs pooled"
    "$bin/warmpool-classic" --pool "$pool" --runtime-dir "$runtime_dir"
else
    banner "a few calls ($bin/warmpool-classic is not built)"
    for args in '[1963309, 2265973]' '[1823712, 1924928]' '[1281238, 2273782]'; do
        printf '%-27s -> %s\n' "gcd $args" "$(cli call gcd "$args")"
    done
    printf 'md5_chain (1e6 rounds)      -> %s\n' "$(cli call md5_chain '{"msg":"Hello World","rounds":1000000}')"
    printf 'triple_product 20           -> %s\n' "$(cli call triple_product 20)"
    printf 'map gcd over 10 pairs       -> %s\n' "$(printf '[%d, %d]\n' \
        1963309 2265973 2030677 3814172 1551645 2229620 2039045 2020802 1823712 1924928 \
        2293129 1020491 1281238 2273782 3823812 4237281 3812741 4729139 1292391 2123811 |
        cli map gcd | tr '\n' ' ')"
    printf 'worker_info (init ran once) -> %s\n' "$(cli call worker_info 0)"
fi

banner "the gcd article in Python: my_module.gcd on the same pool's warm workers"
printf 'warmpool call my_module.gcd [1823712, 1924928] -> %s\n' \
    "$(cli call my_module.gcd '[1823712, 1924928]')"
# Debian's interpreter: the package is built for it, and it has cloudpickle.
python=/usr/bin/python3
[[ -x $python ]] || python=python3
PYTHONPATH=$build_dir/python:examples/python WARMPOOL_POOL=$pool WARMPOOL_RUNTIME_DIR=$runtime_dir \
    "$python" examples/python/gcd_compare.py

banner "status"
cli status

banner "stopping the pool"
cli stop
for _ in $(seq 300); do kill -0 "$daemon_pid" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$daemon_pid" 2>/dev/null; then
    echo "warmpoold (pid $daemon_pid) is still running" >&2
    exit 1
fi
wait "$daemon_pid" && code=0 || code=$?
echo "warmpoold (pid $daemon_pid) exited with status $code"
if cli status >/dev/null 2>&1; then
    echo "the pool still answers after stop" >&2
    exit 1
fi
echo "the pool is gone: 'warmpool status' now says: $(cli status 2>&1 || true)"
daemon_pid=
exit "$code"
