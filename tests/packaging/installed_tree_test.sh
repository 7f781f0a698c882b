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
for program in warmpoold warmpool; do
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
echo "ok: man pages warmpoold(8) and warmpool(1)"
