"""The article scripts of examples/python, run as a user runs them: each a fresh python3 against
a real pool hosting my_module and md5_worker (its Md5Chain initialisation shortened), through
warmpool.Executor() with the pool given by WARMPOOL_POOL and WARMPOOL_RUNTIME_DIR. Checks their
results, never their times."""

import json
import os
import re
import subprocess
import sys

import pytest

from conftest import BIN, BUILD_DIR, Pool

EXAMPLES = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "examples",
                                        "python"))
GCDS = "[1, 1, 5, 1, 32, 1, 14, 9, 1, 9]"
HELLO_WORLD_MD5 = "1e4110cf294414bc2ac346ad274a7af3"


@pytest.fixture(scope="module")
def examples_pool():
    saved = os.environ.get("WARMPOOL_MD5_INIT_SECONDS")
    os.environ["WARMPOOL_MD5_INIT_SECONDS"] = "0.2"  # inherited by the pool's workers
    try:
        p = Pool(extra=["--python-module", "my_module", "--python-module", "md5_worker",
                        "--python-path", EXAMPLES])
    finally:
        if saved is None:
            del os.environ["WARMPOOL_MD5_INIT_SECONDS"]
        else:
            os.environ["WARMPOOL_MD5_INIT_SECONDS"] = saved
    try:
        yield p
    finally:
        p.stop()


def run_script(pool, script, *args, **env):
    environ = dict(os.environ, WARMPOOL_POOL=pool.name, WARMPOOL_RUNTIME_DIR=pool.dir,
                   PYTHONPATH=os.pathsep.join([os.path.join(BUILD_DIR, "python"), EXAMPLES]),
                   WARMPOOL_MD5_INIT_SECONDS="0.2", **env)
    done = subprocess.run([sys.executable, os.path.join(EXAMPLES, script), *args], env=environ,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_gcd_compare_serial_and_warmpool(examples_pool):
    out = run_script(examples_pool, "gcd_compare.py", "serial", "warmpool")
    assert re.search(r"^serial +%s took" % re.escape(GCDS), out, re.M), out
    assert re.search(r"^warmpool +%s took" % re.escape(GCDS), out, re.M), out


def test_gcd_from_the_command_line(examples_pool):
    done = subprocess.run([os.path.join(BIN, "warmpool"), "--pool", examples_pool.name,
                           "--runtime-dir", examples_pool.dir, "call", "my_module.gcd", "[12, 18]"],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "6"


def test_md5_warm_runs_on_the_exported_class_twice(examples_pool):
    for _ in range(2):
        out = run_script(examples_pool, "md5_warm.py")
        assert "'Hello World'      -> %s" % HELLO_WORLD_MD5 in out, out
        assert "warmpool: took" in out


def test_md5_pipe_original(examples_pool):
    out = run_script(examples_pool, "md5_pipe.py")
    assert HELLO_WORLD_MD5 in out and "Process + Pipe: took" in out, out


def test_pool_map_shows_the_pools_own_workers(examples_pool):
    out = run_script(examples_pool, "pool_map.py", WORK_FUNC_SECONDS="0.01")
    status = subprocess.run([os.path.join(BIN, "warmpool"), "--pool", examples_pool.name,
                             "--runtime-dir", examples_pool.dir, "status", "--json"],
                            capture_output=True, text=True, check=True, timeout=30)
    workers = {row["pid"] for row in json.loads(status.stdout)["workers"]["rows"]}
    lines = out.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("warmpool.Executor():"))
    pids = {int(p) for p in re.findall(r"\d+", lines[at + 1].split("[")[1].split("]")[0])}
    assert pids and pids <= workers, out


def test_triple_product_matches_serial(examples_pool):
    out = run_script(examples_pool, "triple_product.py", "14", "12", "10")
    assert "RESULTS DIFFER" not in out, out
    assert re.search(r"^warmpool +took", out, re.M), out
