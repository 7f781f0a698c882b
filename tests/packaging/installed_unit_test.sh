#!/usr/bin/env bash
# The systemd unit as `cmake --install` leaves it: installed into a fresh prefix, its ExecStart
# must name the warmpoold installed there, `systemd-analyze verify` must accept it, and
# `systemd-analyze security` must rate its sandbox 2.5 or better ("OK"); it runs as user
# warmpool, which the installed sysusers.d file creates. Also run with DESTDIR: the unit then
# names the prefix, never the staging directory. (tests/packaging/unit_sandbox_test.py runs a
# pool inside the unit's system-call filter.)
#   installed_unit_test.sh BUILD_DIR
# Needs no systemd as PID 1: verify reads the unit file and checks the command exists.
set -euo pipefail
build_dir=$1

scratch=$(mktemp -d "${TMPDIR:-/tmp}/warmpool-unit-test.XXXXXX")
trap 'rm -rf "$scratch"' EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }

# verify prints what it finds wrong; some findings are only printed, so any output fails too.
verify_unit() {
    local unit=$1 output
    if ! output=$(systemd-analyze verify --man=no "$unit" 2>&1); then
        fail "systemd-analyze verify $unit: $output"
    fi
    [[ -z $output ]] || fail "systemd-analyze verify $unit printed: $output"
}

# 1. Installed into a prefix of its own.
prefix=$scratch/prefix
cmake --install "$build_dir" --prefix "$prefix" >/dev/null
unit=$prefix/lib/systemd/system/warmpoold@.service
[[ -f $unit ]] || fail "no unit at $unit"
[[ -x $prefix/bin/warmpoold ]] || fail "no warmpoold at $prefix/bin"
grep -q "^ExecStart=$prefix/bin/warmpoold " "$unit" ||
    fail "ExecStart does not name $prefix/bin/warmpoold: $(grep '^ExecStart=' "$unit")"
verify_unit "$unit"
echo "ok: $unit names $prefix/bin/warmpoold and verifies"

# Exposure 0-10 as systemd-analyze prints it; --threshold takes it times ten.
if ! security=$(systemd-analyze security --offline=yes --threshold=25 --no-pager "$unit" 2>&1); then
    fail "systemd-analyze security rates the unit above 2.5:
$security"
fi
echo "ok: $(grep 'Overall exposure level' <<<"$security")"

# Never root: the unit names its user, and the sysusers.d file makes that user and group.
for setting in User=warmpool Group=warmpool DynamicUser=yes CapabilityBoundingSet= NoNewPrivileges=yes; do
    grep -qx "$setting" "$unit" || fail "the unit does not say $setting"
done
sysusers=$prefix/lib/sysusers.d/warmpool.conf
[[ -f $sysusers ]] || fail "no sysusers.d file at $sysusers"
mkdir -p "$scratch/root/etc"
systemd-sysusers --root="$scratch/root" "$sysusers" >/dev/null 2>&1 || fail "systemd-sysusers refuses $sysusers"
grep -q '^warmpool:x:[0-9]*:[0-9]*:.*:/usr/sbin/nologin$' "$scratch/root/etc/passwd" ||
    fail "$sysusers made no user warmpool: $(cat "$scratch/root/etc/passwd")"
grep -q '^warmpool:x:' "$scratch/root/etc/group" || fail "$sysusers made no group warmpool"
echo "ok: the unit runs as warmpool, which $sysusers creates"

# The gateway's unit: it names the installed warmpool-gateway, verifies, is sandboxed as well,
# runs as the pools' user, and is bound to its pool's unit.
gateway_unit=$prefix/lib/systemd/system/warmpool-gateway@.service
[[ -f $gateway_unit ]] || fail "no unit at $gateway_unit"
[[ -x $prefix/bin/warmpool-gateway ]] || fail "no warmpool-gateway at $prefix/bin"
grep -q "^ExecStart=$prefix/bin/warmpool-gateway " "$gateway_unit" ||
    fail "ExecStart does not name $prefix/bin/warmpool-gateway: $(grep '^ExecStart=' "$gateway_unit")"
# verify loads the units it names (BindsTo=warmpoold@): the pool's unit is installed beside it.
verify_unit "$gateway_unit"
if ! security=$(systemd-analyze security --offline=yes --threshold=25 --no-pager "$gateway_unit" 2>&1); then
    fail "systemd-analyze security rates the gateway's unit above 2.5:
$security"
fi
for setting in User=warmpool Group=warmpool DynamicUser=yes CapabilityBoundingSet= NoNewPrivileges=yes \
    'BindsTo=warmpoold@%i.service' 'LoadCredential=redis-password:/etc/warmpool/gateway-%i.password'; do
    grep -qx -- "$setting" "$gateway_unit" || fail "the gateway's unit does not say $setting"
done
grep -q '^After=warmpoold@%i.service' "$gateway_unit" || fail "the gateway's unit does not start after its pool"
grep -q -- '--redis-password-file ${CREDENTIALS_DIRECTORY}/redis-password' "$gateway_unit" ||
    fail "the gateway's unit does not read the password from its credential"
echo "ok: $gateway_unit verifies, $(grep 'Overall exposure level' <<<"$security")"

# 2. Staged with DESTDIR: the unit names $staged_prefix/bin/warmpoold, without the staging root.
stage=$scratch/stage
staged_prefix=$scratch/run-from
DESTDIR=$stage cmake --install "$build_dir" --prefix "$staged_prefix" >/dev/null
staged_unit=$stage$staged_prefix/lib/systemd/system/warmpoold@.service
[[ -f $staged_unit ]] || fail "no unit at $staged_unit"
grep -q "^ExecStart=$staged_prefix/bin/warmpoold " "$staged_unit" ||
    fail "staged ExecStart does not name $staged_prefix/bin/warmpoold: $(grep '^ExecStart=' "$staged_unit")"
echo "ok: the staged unit names $staged_prefix/bin/warmpoold"
