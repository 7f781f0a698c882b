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

        def running_pid():
            try:
                with open(pid_file) as file:
                    return int(file.read() or 0)
            except (OSError, ValueError):
                return 0

        pid = wait_until(running_pid, timeout=20)
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


@pytest.mark.parametrize("via", ["executor", "client"])
def test_the_daemon_going_away_fails_pending_python_jobs(python_pool, via):
    ex = warmpool.Executor(python_pool.name, python_pool.dir)
    client = warmpool.Client(python_pool.name, python_pool.dir)
    try:
        if via == "executor":
            futures = [ex.submit(py_jobs.pause, 60) for _ in range(4)]  # two running, two queued
        else:
            futures = [client.submit(py_jobs.pause, 60) for _ in range(4)]
        assert wait_until(lambda: sum(r["state"] == "busy" for r in python_pool.status()["workers"]["rows"]) == 2)
        start = time.monotonic()
        python_pool.kill()
        errors = []
        threads = [threading.Thread(target=lambda f=f: errors.append(f.exception(timeout=15))) for f in futures]
        for t in threads:
            t.start()
        for t in threads:
            t.join(20)
        assert time.monotonic() - start < 15
        assert len(errors) == 4
        assert all(isinstance(e, (warmpool.ShuttingDown, warmpool.WorkerCrashed)) for e in errors), errors
        if via == "executor":
            assert all(f.done() for f in futures)
    finally:
        ex.shutdown(wait=True, cancel_futures=True)
