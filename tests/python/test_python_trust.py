"""Pickle (and so functions by value) only from peers the pool trusts to run code as its user:
a Python client running as a real second user gets PermissionDenied, never a silent fallback,
while C++ jobs called by name keep working; with --python-pickle allowed it is served."""

import json
import os
import subprocess

import pytest

from conftest import JOBS_DIR, PACKAGE_DIR, python_pool_args

# Runs as the other user; prints what each kind of call gave.
PROBE = r"""
import json, sys
import warmpool
import my_module

pool, runtime_dir = sys.argv[1], sys.argv[2]
client = warmpool.Client(pool, runtime_dir)
out = {}


def attempt(key, call):
    try:
        out[key] = ["ok", call()]
    except warmpool.JobError as e:
        out[key] = [type(e).__name__, str(e)]


attempt("cpp_by_name", lambda: client.call("gcd", [12, 18]))
attempt("exported", lambda: client.call(my_module.gcd, [12, 18]))
attempt("exported_by_name", lambda: client.call("my_module.gcd", [12, 18]))
attempt("lambda", lambda: client.call(lambda x: x + 1, 1))
attempt("map", lambda: list(client.map(my_module.gcd, [[12, 18], [5, 10]])))
with warmpool.Executor(pool, runtime_dir) as ex:
    attempt("executor", lambda: ex.submit(lambda: "by value").result(timeout=30))
print(json.dumps(out))
"""


@pytest.fixture
def other_user():
    if os.geteuid() != 0:
        pytest.skip("needs root to make a second user")
    name = f"wpu{os.getpid()}py"
    subprocess.run(["/usr/sbin/userdel", "-f", name], capture_output=True)  # a killed run's leftover
    subprocess.run(["/usr/sbin/useradd", "-M", "-N", "-s", "/usr/sbin/nologin", name], check=True,
                   capture_output=True)
    try:
        yield name
    finally:
        subprocess.run(["/usr/sbin/userdel", "-f", name], capture_output=True)


def run_as(user, *argv):
    return subprocess.run(["/usr/sbin/runuser", "-u", user, "--", "/usr/bin/env", f"PYTHONPATH={PACKAGE_DIR}:{JOBS_DIR}",
                           "/usr/bin/python3", *argv], capture_output=True, text=True, timeout=120, cwd="/")


def probe_as(user, pool):
    os.chmod(pool.dir, 0o755)  # the runtime dir is the daemon's own; its socket decides who may connect
    r = run_as(user, "-c", PROBE, pool.name, pool.dir)
    if r.returncode != 0 and "Permission denied" in r.stderr and run_as(user, "-c", "import warmpool, my_module").returncode:
        pytest.skip(f"another user cannot read the package or the job modules here: {r.stderr}")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_pickle_from_an_untrusted_uid_is_refused(pool_factory, other_user):
    pool = pool_factory(**python_pool_args(modules=("my_module",), extra=("--allow-user", other_user)))
    out = probe_as(other_user, pool)
    assert out["cpp_by_name"] == ["ok", 6], out  # falls back to JSON, as for any C++ job
    for key in ("exported", "exported_by_name", "lambda", "map", "executor"):
        kind, message = out[key]
        assert kind == "PermissionDenied", (key, out[key])
        assert "python.pickle" in message, (key, message)


def test_pickle_from_another_uid_with_pickle_allowed(pool_factory, other_user):
    pool = pool_factory(**python_pool_args(modules=("my_module",),
                                           extra=("--allow-user", other_user, "--python-pickle", "allowed")))
    out = probe_as(other_user, pool)
    assert out == {"cpp_by_name": ["ok", 6], "exported": ["ok", 6], "exported_by_name": ["ok", 6],
                   "lambda": ["ok", 2], "map": ["ok", [6, 5]], "executor": ["ok", "by value"]}, out
