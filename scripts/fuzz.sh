#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz, docs/FUZZING.md) with clang-14 under ASan and UBSan,
# in a build directory of their own, and runs each over its corpus (tests/fuzz/corpus/<target>/).
#
#   scripts/fuzz.sh [--short]        about 15 s per target, one process each (the default)
#   scripts/fuzz.sh --minutes N      N minutes in all, split evenly across the targets, each
#                                    target fuzzed by two processes at once (-jobs=2 -workers=2)
#   options:
#     --only TARGET     run only this target (protocol, ring, job_args, config, status); repeatable
#     --work-dir DIR    keep the corpora the run grows in DIR, for a later run to start from
#                       (default: a temporary directory, removed at the end)
#     --no-deps         install nothing; exit 77 if clang-14 or libFuzzer is missing (for ctest)
#
# A crashing input (crash-, leak-, oom- or timeout-) is copied into tests/fuzz/corpus/<target>/,
# where it becomes a regression seed. Exit status: 0 if no target crashed, 1 if one did, 2 if
# the targets do not build, 77 with --no-deps when clang-14 or libFuzzer is missing.
# WARMPOOL_FUZZ_BUILD_DIR overrides the build directory (default: build-fuzz).
set -euo pipefail
cd "$(dirname "$0")/.."
source_dir=$PWD

all_targets=(protocol ring job_args config status)
targets=()
minutes=
work_dir=
install_deps=1
while (($# > 0)); do
    case $1 in
        --short) minutes= ;;
        --minutes)
            minutes=${2:?--minutes needs a number}
            [[ $minutes =~ ^[1-9][0-9]*$ ]] || { echo "fuzz: --minutes takes a whole number" >&2; exit 64; }
            shift
            ;;
        --only)
            [[ " ${all_targets[*]} " == *" ${2:-} "* ]] || { echo "fuzz: no target '${2:-}'" >&2; exit 64; }
            targets+=("$2")
            shift
            ;;
        --work-dir) work_dir=${2:?--work-dir needs a directory}; shift ;;
        --no-deps) install_deps=0 ;;
        *) echo "fuzz: unknown option $1 (see the top of $0)" >&2; exit 64 ;;
    esac
    shift
done
((${#targets[@]} > 0)) || targets=("${all_targets[@]}")

# Whether clang-14 can link a fuzz target at all: libFuzzer comes in its own package.
have_libfuzzer() {
    command -v clang++-14 >/dev/null 2>&1 || return 1
    local probe
    probe=$(mktemp -d /tmp/warmpool-fuzz-probe-XXXXXX)
    printf 'extern "C" int LLVMFuzzerTestOneInput(const unsigned char*, unsigned long) { return 0; }\n' \
        >"$probe/probe.cc"
    clang++-14 -fsanitize=fuzzer "$probe/probe.cc" -o "$probe/probe" >/dev/null 2>&1 && local ok=1
    rm -rf "$probe"
    [[ -n ${ok:-} ]]
}

if ((install_deps)); then
    bash scripts/install-deps.sh
fi
if ! have_libfuzzer; then
    if ((install_deps)); then
        echo "fuzz: clang-14 cannot link a libFuzzer target even after scripts/install-deps.sh" >&2
        exit 2
    fi
    echo "fuzz: SKIPPED: clang-14 with libFuzzer is not installed (scripts/install-deps.sh installs clang-14 and libfuzzer-14-dev)"
    exit 77
fi

build_dir=${WARMPOOL_FUZZ_BUILD_DIR:-build-fuzz}
cmake_args=(-DWARMPOOL_FUZZ=ON -DWARMPOOL_BUILD_TESTS=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo)
if command -v ccache >/dev/null 2>&1; then
    cmake_args+=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
    export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$source_dir}
fi
echo "fuzz: building the targets in $build_dir (clang-14, ASan + UBSan)"
mkdir -p "$build_dir"
build_log=$build_dir/fuzz-build.log
if ! CC=clang-14 CXX=clang++-14 cmake -S . -B "$build_dir" "${cmake_args[@]}" >"$build_log" 2>&1 ||
    ! cmake --build "$build_dir" --target fuzz-targets -j2 >>"$build_log" 2>&1; then
    tail -n 40 "$build_log" >&2
    echo "fuzz: the fuzz targets do not build (whole log: $build_log)" >&2
    exit 2
fi
bin=$(realpath "$build_dir/bin")

if [[ -n $work_dir ]]; then
    mkdir -p "$work_dir"
    work=$(realpath "$work_dir")
else
    work=$(mktemp -d /tmp/warmpool-fuzz-XXXXXX)
    # shellcheck disable=SC2064  # expanded now, on purpose
    trap "rm -rf '$work'" EXIT
fi

# Stops a run at the first input that crashes, leaks, takes more than 10 s or allocates more
# than 64 MiB at once: no input of a few KiB justifies that much.
fuzz_flags=(-print_final_stats=1 -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=64)
if [[ -n $minutes ]]; then
    seconds=$((minutes * 60 / ${#targets[@]}))
    ((seconds > 0)) || seconds=1
    echo "fuzz: $minutes minutes in all: $seconds s for each of ${#targets[@]} targets, 2 processes each"
    fuzz_flags+=(-max_total_time="$seconds" -jobs=2 -workers=2)
else
    fuzz_flags+=(-max_total_time=15)
fi

total_inputs=0
crashes=0
failed_targets=()
for target in "${targets[@]}"; do
    corpus=$work/corpus/$target  # inputs found now; the seeds stay as they are
    artifacts=$work/artifacts/$target
    logs=$work/logs/$target
    rm -rf "$artifacts" "$logs"
    mkdir -p "$corpus" "$artifacts" "$logs"
    status=0
    # -jobs writes each process's output to fuzz-N.log in the current directory.
    (cd "$logs" && "$bin/${target}_fuzz" "${fuzz_flags[@]}" -artifact_prefix="$artifacts/" \
        "$corpus" "$source_dir/tests/fuzz/corpus/$target" >"$logs/run.log" 2>&1) || status=$?

    inputs=$(cat "$logs"/*.log | sed -n 's/^stat::number_of_executed_units: *//p' | awk '{ n += $1 } END { print n + 0 }')
    per_second=$(cat "$logs"/*.log | sed -n 's/^stat::average_exec_per_sec: *//p' | awk '{ n += $1 } END { print n + 0 }')
    total_inputs=$((total_inputs + inputs))

    found=()
    news=()
    for artifact in "$artifacts"/crash-* "$artifacts"/leak-* "$artifacts"/oom-* "$artifacts"/timeout-*; do
        [[ -e $artifact ]] || continue
        found+=("$artifact")
        kept=$source_dir/tests/fuzz/corpus/$target/$(basename "$artifact")
        # Named by the input's hash: one already there is an old failure that is not fixed yet.
        if [[ ! -e $kept ]]; then
            cp "$artifact" "$kept"
            news+=("$artifact")
        fi
    done
    if ((${#found[@]} > 0)) || ((status != 0)); then
        crashes=$((crashes + (${#found[@]} > 0 ? ${#found[@]} : 1)))
        failed_targets+=("$target")
        printf 'fuzz: %-8s FAILED after %d inputs (%d/s)\n' "$target" "$inputs" "$per_second"
        # The report of the first failure, for the log of whoever ran this.
        grep -h -m1 -A40 -E '^==[0-9]+==|runtime error|check failed|fuzz: ' "$logs"/*.log | head -n 60 >&2 || true
        for artifact in "${found[@]}"; do
            name=tests/fuzz/corpus/$target/$(basename "$artifact")
            if [[ " ${news[*]} " == *" $artifact "* ]]; then
                echo "fuzz: $target: new failing input kept as $name" >&2
            else
                echo "fuzz: $target: $name, kept before, still fails" >&2
            fi
            echo "fuzz: $target: reproduce with $bin/${target}_fuzz $name" >&2
        done
    else
        printf 'fuzz: %-8s %10d inputs (%d/s), no crash\n' "$target" "$inputs" "$per_second"
    fi
done

echo "fuzz: $total_inputs inputs executed in all, $crashes crashes"
if ((${#failed_targets[@]} > 0)); then
    echo "fuzz: FAILED: ${failed_targets[*]}" >&2
    exit 1
fi
