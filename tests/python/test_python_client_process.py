"""A Python client process's own life: Ctrl-C (SIGINT) interrupts a wait for a long job, as it
interrupts a wait on a ProcessPoolExecutor future (KeyboardInterrupt instead of a wait as long
as the job), and a script that exits while its jobs complete exits cleanly."""

import os
import signal
import subprocess
import time

import pytest

from conftest import JOBS_DIR, PACKAGE_DIR

ENV = {**os.environ, "PYTHONPATH": f"{PACKAGE_DIR}:{JOBS_DIR}"}

WAITER = r"""
import sys
import warmpool
import py_jobs

pool, runtime_dir, how = sys.argv[1:4]
client = warmpool.Client(pool, runtime_dir)
executor = warmpool.Executor(pool, runtime_dir)
future = executor.submit(py_jobs.pause, 2.0) if how == "executor" else None
waits = {
    "call": lambda: client.call(py_jobs.pause, 60),
    "submit": lambda: client.submit(py_jobs.pause, 60).result(),
    "executor": lambda: future.result(),
    "map": lambda: list(executor.map(py_jobs.pause, [60, 60])),
}
print("waiting", flush=True)
try:
    waits[how]()
except KeyboardInterrupt:
    # The interrupted future still completes when its job does.
    if future is None or future.result(timeout=20) == 2.0:
        print("interrupted", flush=True)
        sys.exit(0)
print("not interrupted", flush=True)
sys.exit(1)
"""


@pytest.mark.parametrize("how", ["call", "submit", "executor", "map"])
def test_ctrl_c_interrupts_a_wait(python_pool, how):
    pool = python_pool
    child = subprocess.Popen(["/usr/bin/python3", "-c", WAITER, pool.name, pool.dir, how],
                             env=ENV,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline() == "waiting\n"
        time.sleep(0.3)  # into the wait
        start = time.monotonic()
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=20)
        assert child.returncode == 0 and out == "interrupted\n", (child.returncode, out, err)
        assert time.monotonic() - start < 10
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


EXITING = r"""
import sys
import time
import warmpool
import py_jobs


class SlowToGo:
    def __del__(self):
        time.sleep(1.0)  # while the interpreter finalises: the executor's thread wakes meanwhile


executor = warmpool.Executor(sys.argv[1], sys.argv[2])
futures = [executor.submit(py_jobs.pause, s) for s in (0, 0.3, 0.3, 0.6)]
print(futures[0].result(timeout=20))
slow = SlowToGo()
"""


def test_a_script_that_exits_while_its_jobs_complete_exits_cleanly(shared_python_pool):
    pool = shared_python_pool
    for _ in range(3):
        r = subprocess.run(["/usr/bin/python3", "-c", EXITING, pool.name, pool.dir], env=ENV,
                           capture_output=True, text=True, timeout=60)
        assert (r.returncode, r.stdout, r.stderr) == (0, "0\n", "")
