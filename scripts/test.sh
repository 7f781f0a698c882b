#!/usr/bin/env bash
# Installs dependencies, builds, and runs the whole test suite; exits with ctest's status.
# WARMPOOL_BUILD_DIR overrides the build directory (default: build).
set -euo pipefail
cd "$(dirname "$0")/.."

build_dir=${WARMPOOL_BUILD_DIR:-build}
bash scripts/install-deps.sh
bash scripts/build.sh "$build_dir"

echo
echo "==================== warmpool test suite (ctest --test-dir $build_dir) ===================="
status=0
ctest --test-dir "$build_dir" --output-on-failure -j2 || status=$?
echo "==================== ctest exit status: $status ===================="
exit "$status"
