#!/usr/bin/env bash
# Installs what building and testing warmpool needs on Debian 12 (bookworm). Idempotent: it
# touches apt only when a package is missing. Runs as root, or through sudo when available.
set -euo pipefail

packages=(
    build-essential cmake pkg-config
    libboost-dev libspdlog-dev libcereal-dev nlohmann-json3-dev libtomlplusplus-dev libcli11-dev
    libgtest-dev python3 ccache
    # Python at both ends: the interpreter the workers embed, the client extension (pybind11),
    # by-value functions (cloudpickle), NumPy buffers, the tests (pytest) and loky for benchmarks.
    python3-dev pybind11-dev python3-cloudpickle python3-numpy python3-pytest python3-joblib
    # Packaging: man pages made from --help (man reads them in their test); bash completion;
    # the service's tests (tests/packaging) run a pool inside the unit's system-call filter.
    help2man man-db bash-completion strace python3-seccomp
    # The metrics tests read the metrics texts with Prometheus' own Python parsers, and lint
    # them with promtool (integration/latency_test).
    python3-prometheus-client prometheus
    # Scale-out: hiredis for the client library and warmpool-gateway; the tests start their own
    # redis-server; the benchmarks compare against Celery on the same Redis.
    libhiredis-dev redis-server python3-celery python3-redis
    # Fuzzing (tests/fuzz): clang with libFuzzer, ASan and UBSan.
    clang-14 libfuzzer-14-dev
    # Benchmarks (scripts/bench.sh): the Gearman peer and the results chart.
    gearman-job-server libgearman-dev gnuplot-nox
)

missing=()
for pkg in "${packages[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
    [[ $status == "install ok installed" ]] || missing+=("$pkg")
done

if ((${#missing[@]} == 0)); then
    echo "install-deps: all ${#packages[@]} packages already installed"
    exit 0
fi

if [[ $(id -u) -eq 0 ]]; then
    as_root=()
elif command -v sudo >/dev/null 2>&1; then
    as_root=(sudo)
else
    echo "install-deps: missing ${missing[*]}; run this as root (sudo is not available)" >&2
    exit 1
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
