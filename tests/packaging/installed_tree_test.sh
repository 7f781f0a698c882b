#!/usr/bin/env bash
# What `cmake --install` puts beside the programs, checked where it lands: --version of both
# programs, their man pages, the pkg-config file, the bash completion, the example configuration.
#   installed_tree_test.sh BUILD_DIR PROJECT_VERSION
set -euo pipefail
build_dir=$1
version=$2

scratch=$(mktemp -d "${TMPDIR:-/tmp}/warmpool-tree-test.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

prefix=$scratch/prefix
cmake --install "$build_dir" --prefix "$prefix" >/dev/null

# --version: the project's version, exit 0.
for program in warmpoold warmpool warmpool-gateway; do
    out=$("$prefix/bin/$program" --version) || fail "$program --version exited $?"
    [[ $out == "$program $version" ]] || fail "$program --version printed '$out', not '$program $version'"
done
echo "ok: --version prints $version"

# Man pages: installed, rendered by man without a warning, with the version, the exit codes and
# (warmpool) every subcommand's options.
check_man_page() {
    local page=$1 program=$2
    shift 2
    [[ -f $page ]] || fail "no man page $page"
    local text warnings
    text=$(LC_ALL=C.UTF-8 MANWIDTH=100 man -l "$page" 2>/dev/null) || fail "man cannot show $page"
    warnings=$(LC_ALL=C.UTF-8 man --warnings -l "$page" 2>&1 >/dev/null)
    [[ -z $warnings ]] || fail "man warns about $page: $warnings"
    grep -q "^ *$program $version " <<<"$text" || fail "$page does not name version $version"
    grep -q "^EXIT STATUS" <<<"$text" || fail "$page has no EXIT STATUS section"
    for needle in "$@"; do
        grep -qe "$needle" <<<"$text" || fail "$page does not mention '$needle'"
    done
}
check_man_page "$prefix/share/man/man8/warmpoold.8.gz" warmpoold '^ *64 ' '^ *2 ' '--config-if-exists' '--max-sessions'
check_man_page "$prefix/share/man/man1/warmpool.1.gz" warmpool '^ *64 ' '^ *70 ' '^ *warmpool wait-ready' '--deadline'
check_man_page "$prefix/share/man/man8/warmpool-gateway.8.gz" warmpool-gateway '^ *64 ' '--lease-ms' '--redis-password-file'
echo "ok: man pages warmpoold(8), warmpool(1) and warmpool-gateway(8)"

# A pool started from the installed warmpoold (it finds the installed example jobs next to it),
# for the pkg-config client and the completion's pool names. Stopped by its pid on exit.
run_dir=$scratch/run
mkdir -m 0700 "$run_dir"
pool=tree$$
"$prefix/bin/warmpoold" --name "$pool" --runtime-dir "$run_dir" --workers 1 >"$scratch/daemon.log" 2>&1 &
daemon_pid=$!
trap 'kill -KILL "$daemon_pid" 2>/dev/null || true; wait "$daemon_pid" 2>/dev/null || true; rm -rf "$scratch"' EXIT
"$prefix/bin/warmpool" --runtime-dir "$run_dir" --pool "$pool" wait-ready --timeout 60 ||
    fail "the installed warmpoold did not get ready: $(cat "$scratch/daemon.log")"

# pkg-config: a program outside the tree, built with the flags warmpool.pc gives, calls the pool.
pc_dir=$prefix/lib/pkgconfig
[[ -f $pc_dir/warmpool.pc ]] || fail "no pkg-config file at $pc_dir/warmpool.pc"
flags=$(PKG_CONFIG_PATH=$pc_dir pkg-config --cflags --libs warmpool) || fail "pkg-config refuses warmpool.pc"
[[ $(PKG_CONFIG_PATH=$pc_dir pkg-config --modversion warmpool) == "$version" ]] || fail "warmpool.pc has the wrong version"
source_dir=$(cd "$(dirname "$0")" && pwd)
# shellcheck disable=SC2086  # the flags are words
g++ -std=c++20 -o "$scratch/pc_client" "$source_dir/outside/client.cpp" $flags -Wl,-rpath,"$prefix/lib" ||
    fail "a client does not build with pkg-config's flags: $flags"
answer=$("$scratch/pc_client" "$pool" "$run_dir" gcd) || fail "the pkg-config client failed"
[[ $answer == 6 ]] || fail "the pkg-config client got '$answer' for gcd(12, 18)"
echo "ok: a client built with pkg-config's flags ($flags) calls the pool"

# bash completion: subcommands and each one's options as --help lists them, pool names from the
# runtime directory (--runtime-dir, or $WARMPOOL_RUNTIME_DIR, ...) and /run/warmpool, and the
# function names of the pool a call or map is for.
completion=$prefix/share/bash-completion/completions/warmpool
[[ -f $completion ]] || fail "no bash completion at $completion"
options_of() {  # the options a --help lists, sorted, one per line
    "$prefix/bin/warmpool" "$@" --help | sed -n 's/^  \(-[^ ]*\).*/\1/p' | tr ',' '\n' | sort -u
}
subcommands=$("$prefix/bin/warmpool" --help | sed -n '/^Subcommands:/,$s/^  \([a-z][a-z-]*\) .*/\1/p' | sort)
complete_line() {  # what completion offers for the words given, the last one being completed
    env "${completion_env[@]}" bash -c '
        source /usr/share/bash-completion/bash_completion
        source "$1"; shift
        COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}
        _warmpool warmpool "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
        printf "%s\n" "${COMPREPLY[@]}" | sort -u' _ "$completion" "$@"
}
completion_env=(WARMPOOL_RUNTIME_DIR=/nonexistent)
expect_completion() {
    local want=$1 got
    shift
    got=$(complete_line "$@")
    [[ $got == "$want" ]] || fail "completing '$*' offers:
$got
and not:
$want"
}
expect_completion "$subcommands" warmpool ""
expect_completion "$(options_of)" warmpool -
for sub in $subcommands; do
    expect_completion "$(options_of "$sub")" warmpool --pool x "$sub" -
done
expect_completion "$pool" warmpool --runtime-dir "$run_dir" --pool ""
completion_env=(WARMPOOL_RUNTIME_DIR="$run_dir")
expect_completion "$pool" warmpool -p ""
expect_completion "$pool" warmpool call --pool "${pool:0:3}"
# The function of a call or map: the names the pool lists (warmpool functions --names).
completion_env=(WARMPOOL_RUNTIME_DIR="$run_dir" PATH="$prefix/bin:$PATH")
expect_completion "$(printf 'md5_chain\n')" warmpool --pool "$pool" call md5
expect_completion "$(printf 'gcd\n')" warmpool map --pool "$pool" gc
echo "ok: bash completion offers the subcommands, their options, the running pool and its functions"
