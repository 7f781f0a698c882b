#!/usr/bin/env bash
# The Debian package, from `cpack -G DEB` to use: the .deb is built from BUILD_DIR, its control
# data and file list checked, then unpacked with `dpkg -x` into a staging root (nothing is
# installed on the machine), and everything there is used as a user of the package would:
#   * a CMake project outside the tree, with find_package(warmpool) (CMAKE_PREFIX_PATH into the
#     staging root), builds a client program and a job library;
#   * a client built with pkg-config's flags (--define-prefix, PKG_CONFIG_PATH into the root);
#   * the staged warmpoold runs a pool of that job library and of Python jobs (the staged
#     Python package); the staged warmpool command, both clients and the staged Python package
#     call it; the staged warmpool stops it.
#   deb_package_test.sh SOURCE_DIR BUILD_DIR PROJECT_VERSION
set -euo pipefail
source_dir=$1
build_dir=$2
version=$3

scratch=$(mktemp -d "${TMPDIR:-/tmp}/warmpool-deb-test.XXXXXX")
daemon_pid=
cleanup() {
    if [[ -n $daemon_pid ]]; then
        kill -KILL "$daemon_pid" 2>/dev/null || true
        wait "$daemon_pid" 2>/dev/null || true
    fi
    rm -rf "$scratch"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# 1. The package.
cpack --config "$build_dir/CPackConfig.cmake" -G DEB -B "$scratch/cpack" >"$scratch/cpack.log" 2>&1 ||
    fail "cpack -G DEB failed: $(tail -20 "$scratch/cpack.log")"
debs=("$scratch"/cpack/warmpool_"$version"_*.deb)
deb=${debs[0]}
[[ -f $deb ]] || fail "cpack made no warmpool_${version}_*.deb: $(ls "$scratch/cpack")"
field() { dpkg-deb --field "$deb" "$1"; }
[[ $(field Package) == warmpool && $(field Version) == "$version" ]] || fail "wrong package name or version"
# Each listing is read whole before it is searched: with pipefail, `producer | grep -q` fails
# whenever grep finds its line and exits before the producer has written the rest (SIGPIPE).
depends=$(field Depends)
for dependency in libc6 libstdc++6 libpython3 python3-cloudpickle; do
    grep -q "$dependency" <<<"$depends" || fail "Depends has no $dependency: $depends"
done
control_files=$(dpkg-deb --ctrl-tarfile "$deb" | tar -t)
grep -qx './postinst' <<<"$control_files" || fail "the package has no postinst: $control_files"
files=$(dpkg-deb --contents "$deb" | awk '{print $6}')
for path in ./usr/bin/warmpoold ./usr/bin/warmpool ./usr/bin/warmpool-gateway ./usr/lib/libwarmpool.so.0 ./usr/lib/libwarmpool.a \
    ./usr/include/warmpool/client.hpp ./usr/include/warmpool/job.hpp \
    ./usr/lib/cmake/warmpool/warmpoolConfig.cmake ./usr/lib/pkgconfig/warmpool.pc \
    ./usr/lib/systemd/system/warmpoold@.service ./usr/lib/systemd/system/warmpool-gateway@.service \
    ./usr/lib/sysusers.d/warmpool.conf ./usr/share/man/man8/warmpool-gateway.8.gz \
    ./usr/share/man/man1/warmpool.1.gz ./usr/share/man/man8/warmpoold.8.gz \
    ./usr/share/bash-completion/completions/warmpool ./usr/share/doc/warmpool/examples/warmpool.toml \
    ./usr/lib/python3/dist-packages/warmpool/__init__.py ./usr/lib/warmpool/warmpool_example_jobs.so; do
    grep -qx -- "$path" <<<"$files" || fail "the package has no $path"
done
outside_usr=$(grep -v -e '^\./usr/' -e '^\./$' <<<"$files" || true)
[[ -z $outside_usr ]] || fail "the package has files outside /usr: $outside_usr"
echo "ok: $(basename "$deb") ($(field Installed-Size) KiB installed), Depends: $(field Depends)"

# 2. Unpacked into a staging root.
root=$scratch/root
dpkg -x "$deb" "$root"
grep -qx 'ExecStart=/usr/bin/warmpoold .*' "$root/usr/lib/systemd/system/warmpoold@.service" ||
    fail "the packaged unit does not run /usr/bin/warmpoold: $(grep ExecStart= "$root/usr/lib/systemd/system/warmpoold@.service")"
[[ $("$root/usr/bin/warmpoold" --version) == "warmpoold $version" ]] || fail "the staged warmpoold --version is wrong"
grep -qx 'ExecStart=/usr/bin/warmpool-gateway .*' "$root/usr/lib/systemd/system/warmpool-gateway@.service" ||
    fail "the packaged gateway unit does not run /usr/bin/warmpool-gateway"

# 3. Outside projects against the staged root.
outside=$source_dir/tests/packaging/outside
cmake -S "$outside" -B "$scratch/outside" -DCMAKE_PREFIX_PATH="$root/usr" -DCMAKE_BUILD_TYPE=Release \
    >"$scratch/outside.log" 2>&1 || fail "the outside CMake project does not configure: $(tail -20 "$scratch/outside.log")"
grep -qx "warmpool_DIR:PATH=$root/usr/lib/cmake/warmpool" "$scratch/outside/CMakeCache.txt" ||
    fail "find_package(warmpool) found $(grep '^warmpool_DIR' "$scratch/outside/CMakeCache.txt"), not the staged one"
cmake --build "$scratch/outside" -j2 >>"$scratch/outside.log" 2>&1 ||
    fail "the outside CMake project does not build: $(tail -20 "$scratch/outside.log")"
echo "ok: an outside CMake project builds a client and a job library with find_package(warmpool)"

pc=(env PKG_CONFIG_PATH="$root/usr/lib/pkgconfig" pkg-config --define-prefix)
flags=$("${pc[@]}" --cflags --libs warmpool) || fail "pkg-config refuses the staged warmpool.pc"
libdir=$("${pc[@]}" --variable=libdir warmpool)
[[ $libdir == "$root/usr/lib" ]] || fail "pkg-config --define-prefix gives libdir $libdir, not $root/usr/lib"
# shellcheck disable=SC2086  # the flags are words
g++ -std=c++20 -o "$scratch/pc_client" "$outside/client.cpp" $flags -Wl,-rpath,"$libdir" ||
    fail "a client does not build with pkg-config's flags: $flags"
echo "ok: a client builds with pkg-config's flags ($flags)"

# 4. A pool from the staged warmpoold: the outside job library and Python jobs, the Python
# package found in the staged root (the daemon's workers inherit PYTHONPATH).
run_dir=$scratch/run
mkdir -m 0700 "$run_dir"
pool=deb$$
python_dir=$root/usr/lib/python3/dist-packages
PYTHONPATH=$python_dir "$root/usr/bin/warmpoold" --name "$pool" --runtime-dir "$run_dir" --workers 2 \
    --jobs "$scratch/outside/liboutside_jobs.so" \
    --python-module sandbox_jobs --python-path "$source_dir/tests/packaging" >"$scratch/daemon.log" 2>&1 &
daemon_pid=$!
cli=("$root/usr/bin/warmpool" --runtime-dir "$run_dir" --pool "$pool")
"${cli[@]}" wait-ready --timeout 60 || fail "the staged warmpoold did not get ready: $(cat "$scratch/daemon.log")"

expect() {  # expect WANT COMMAND...: COMMAND prints WANT
    local want=$1 got
    shift
    got=$("$@") || fail "$* failed"
    [[ $got == "$want" ]] || fail "$* printed '$got', not '$want'"
}
expect 6 "${cli[@]}" call outside_gcd '[12, 18]'
expect 6 "$scratch/outside/outside_client" "$pool" "$run_dir" outside_gcd
expect 6 "$scratch/pc_client" "$pool" "$run_dir" outside_gcd
expect 14.0 "${cli[@]}" call sandbox_jobs.numpy_dot '[1, 2, 3]'
expect "$python_dir/warmpool 42 7" env PYTHONPATH="$python_dir" /usr/bin/python3 -c '
import os, sys, warmpool
with warmpool.Client(sys.argv[1], sys.argv[2]) as pool:
    print(os.path.dirname(warmpool.__file__), pool.call(lambda x: x * 2, 21), pool.call("outside_gcd", [35, 49]))
' "$pool" "$run_dir"
echo "ok: the staged warmpool, both outside clients and the staged Python package call the staged pool"

"${cli[@]}" stop >/dev/null || fail "the staged warmpool could not stop the pool"
status=0
wait "$daemon_pid" || status=$?
daemon_pid=
((status == 0)) || fail "the staged warmpoold exited $status: $(tail -20 "$scratch/daemon.log")"
echo "ok: the staged pool stopped cleanly"
