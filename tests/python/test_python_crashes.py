"""Python jobs that end their worker: each gets exactly one reply, WorkerCrashed naming the exit
status or signal, and a replacement worker serves the next call. And a daemon that goes away
fails the pending futures of Python jobs instead of leaving them hanging."""

import concurrent.futures as cf
import os
import signal
import threading
import time

import pytest

import warmpool

import failing
import my_module
import py_jobs
from conftest import wait_until


@pytest.fixture(scope="module")
def crash_pool(shared_python_pool):
    return shared_python_pool


def counters(pool):
    s = pool.status()
    return s["supervision"]["worker_crashes"], s["jobs"]["failed"]


def pid_in(path):
    """The pid a job wrote to path, or 0 while it has not."""
    try:
        with open(path) as file:
            return int(file.read() or 0)
    except (OSError, ValueError):
        return 0


def full_strength(pool, without=()):
    return wait_until(lambda: (lambda pids: len(pids) == 2 and not set(pids) & set(without))(pool.worker_pids()),
                      timeout=20)


@pytest.mark.parametrize("job, args, how", [
    (failing.hard_exit, (7,), "exited with status 7"),
    (failing.sys_exit, (3,), "exited with status 3"),
    (failing.out_of_memory, (), "ran out of memory (MemoryError)"),
    (failing.segfault, (), "SIGSEGV"),
], ids=["os._exit", "sys.exit", "MemoryError", "segfault"])
def test_a_job_that_ends_its_worker(crash_pool, job, args, how):
    assert full_strength(crash_pool)
    crashes, failed = counters(crash_pool)
    replies = []
    with warmpool.Executor(crash_pool.name, crash_pool.dir) as ex:
        f = ex.submit(job, *args)
        f.add_done_callback(replies.append)
        with pytest.raises(warmpool.WorkerCrashed) as info:
            f.result(timeout=30)
        assert how in str(info.value)
        assert info.value.kind == "worker_crashed"
        assert wait_until(lambda: counters(crash_pool) == (crashes + 1, failed + 1), timeout=10), counters(crash_pool)
        # The next call is served (by the replacement, once it is ready).
        assert ex.submit(my_module.nothing).result(timeout=30) == "nothing"
    assert replies == [f]
    assert full_strength(crash_pool)


def test_kill_9_during_a_python_job(crash_pool):
    assert full_strength(crash_pool)
    crashes, failed = counters(crash_pool)
    pid_file = os.path.join(crash_pool.dir, "running.pid")
    replies = []
    with warmpool.Executor(crash_pool.name, crash_pool.dir) as ex:
        f = ex.submit(failing.sleep_reporting, [pid_file, 60])
        f.add_done_callback(replies.append)

        pid = wait_until(lambda: pid_in(pid_file), timeout=20)
        assert pid in crash_pool.worker_pids()
        os.kill(pid, signal.SIGKILL)
        with pytest.raises(warmpool.WorkerCrashed, match="SIGKILL"):
            f.result(timeout=30)
        assert full_strength(crash_pool, without=[pid])
        where = ex.submit(my_module.where).result(timeout=30)
        assert where["os_pid"] != pid and where["os_pid"] in crash_pool.worker_pids()
    assert replies == [f]
    assert counters(crash_pool) == (crashes + 1, failed + 1)


def test_a_crash_is_retried_as_the_decorator_says(crash_pool):
    assert full_strength(crash_pool)
    crashes, _ = counters(crash_pool)
    with warmpool.Executor(crash_pool.name, crash_pool.dir) as ex:
        attempt, pid = ex.submit(py_jobs.crash_first_attempt).result(timeout=30)
    assert attempt == 2 and pid in crash_pool.worker_pids()
    assert wait_until(lambda: counters(crash_pool)[0] == crashes + 1, timeout=10)
    assert crash_pool.status()["supervision"]["retried"] >= 1


def outcome_of(fn):
    """What fn() raised, or its value."""
    try:
        return fn()
    except BaseException as e:  # noqa: BLE001 - the test looks at it
        return e


@pytest.mark.parametrize("via", ["executor", "client", "map"])
def test_the_daemon_going_away_fails_pending_python_jobs(python_pool, via):
    ex = warmpool.Executor(python_pool.name, python_pool.dir)
    client = warmpool.Client(python_pool.name, python_pool.dir)
    try:
        if via == "executor":  # two running, two queued in the executor
            waits = [f.exception for f in [ex.submit(py_jobs.pause, 60) for _ in range(4)]]
        elif via == "client":
            waits = [f.exception for f in [client.submit(py_jobs.pause, 60) for _ in range(4)]]
        else:
            results = ex.map(py_jobs.pause, [60] * 4)
            waits = [lambda: outcome_of(lambda: next(results))]
        errors = []
        threads = [threading.Thread(target=lambda w=w: errors.append(w(timeout=15) if via != "map" else w()))
                   for w in waits]
        for t in threads:
            t.start()
        assert wait_until(lambda: sum(r["state"] == "busy" for r in python_pool.status()["workers"]["rows"]) == 2)
        start = time.monotonic()
        python_pool.kill()
        for t in threads:
            t.join(20)
        assert time.monotonic() - start < 15
        assert len(errors) == len(waits)
        assert all(isinstance(e, (warmpool.ShuttingDown, warmpool.WorkerCrashed)) for e in errors), errors
    finally:
        ex.shutdown(wait=True, cancel_futures=True)


def test_kill_9_during_a_map_of_python_jobs(crash_pool):
    assert full_strength(crash_pool)
    pid_file = os.path.join(crash_pool.dir, "mapped.pid")
    with warmpool.Executor(crash_pool.name, crash_pool.dir) as ex:
        results = ex.map(failing.sleep_reporting, [[pid_file, 60]] + [[pid_file + str(i), 0] for i in range(5)])
        outcome = []
        thread = threading.Thread(target=lambda: outcome.append(outcome_of(lambda: list(results))))
        thread.start()

        pid = wait_until(lambda: pid_in(pid_file), timeout=20)
        os.kill(pid, signal.SIGKILL)
        thread.join(30)
        assert len(outcome) == 1 and isinstance(outcome[0], warmpool.WorkerCrashed), outcome
        assert "SIGKILL" in str(outcome[0])
        assert list(ex.map(py_jobs.square, range(10))) == [i * i for i in range(10)]
    assert full_strength(crash_pool, without=[pid])
