#!/usr/bin/env bash
# Soak: honest clients beside hostile peers against a real warmpoold for a while
# (tests/integration/soak_test.cc), then its figures: the supervisor's memory and descriptors,
# /dev/shm, and the honest calls by kind. Builds what it needs first. Exits with the test's status.
#   scripts/soak.sh [--minutes N] [--seconds N] [--warm-up SECONDS]
# The run lasts 10 minutes unless told otherwise; the figures are compared between the end of the
# warm-up (default: the first minute, or the first tenth of a shorter run) and the end.
# WARMPOOL_BUILD_DIR overrides the build directory (default: build); WARMPOOL_BUILD_JOBS the
# build's parallelism (default: the number of cores); WARMPOOL_SOAK_HOSTILES picks the hostile
# peers (comma-separated: status,liar,filler,churn,malformed,batch; default all).
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=600
while [[ $# -gt 0 ]]; do
    case $1 in
        --minutes) seconds=$(($2 * 60)); shift 2 ;;
        --seconds) seconds=$2; shift 2 ;;
        --warm-up) export WARMPOOL_SOAK_WARMUP_SECONDS=$2; shift 2 ;;
        -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
        *) echo "soak.sh: unknown argument '$1'" >&2; exit 64 ;;
    esac
done

build_dir=${WARMPOOL_BUILD_DIR:-build}
jobs=${WARMPOOL_BUILD_JOBS:-$(nproc)}
if [[ ! -f $build_dir/CMakeCache.txt ]]; then
    cmake_args=(-DCMAKE_BUILD_TYPE=RelWithDebInfo)
    if command -v ccache >/dev/null 2>&1; then
        cmake_args+=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
    fi
    cmake -S . -B "$build_dir" "${cmake_args[@]}"
fi
cmake --build "$build_dir" -j"$jobs" --target soak_test warmpoold warmpool warmpool_example_jobs

echo "soak: ${seconds} s"
WARMPOOL_SOAK_SECONDS=$seconds "$build_dir/bin/soak_test" --gtest_brief=0
