#!/usr/bin/env bash
# Configures and builds warmpool (RelWithDebInfo) in BUILD_DIR (default: build).
# WARMPOOL_SANITIZE=1 builds with AddressSanitizer and UBSan instead (default dir: build-asan).
#   scripts/build.sh [BUILD_DIR [TARGET...]]   (no targets: everything)
set -euo pipefail
cd "$(dirname "$0")/.."

cmake_args=(-DCMAKE_BUILD_TYPE=RelWithDebInfo)
# ccache, when installed, keeps repeated builds (and other checkouts of the tree) fast.
if command -v ccache >/dev/null 2>&1; then
    cmake_args+=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi
default_dir=build
if [[ ${WARMPOOL_SANITIZE:-0} == 1 ]]; then
    cmake_args+=(-DWARMPOOL_SANITIZE=ON)
    default_dir=build-asan
fi
build_dir=${1:-$default_dir}
targets=("${@:2}")

cmake -S . -B "$build_dir" "${cmake_args[@]}"
if ((${#targets[@]} > 0)); then
    cmake --build "$build_dir" -j"$(nproc)" --target "${targets[@]}"
else
    cmake --build "$build_dir" -j"$(nproc)"
fi
echo "build: binaries in $build_dir/bin"
