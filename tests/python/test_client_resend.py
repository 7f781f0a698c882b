"""A call sent again (a C++ job named by a string answers that it takes JSON; a function sent by
value needs a module the workers lack) goes out again as soon as that answer arrives, not when
its result is read: submitted jobs run at once, and a job nobody waits for runs too."""

import concurrent.futures as cf
import os
import tempfile

import pytest

import warmpool

from conftest import wait_until


def busy_workers(pool):
    return pool.status()["workers"]["busy"]


def test_cpp_jobs_submitted_by_name_run_at_once(pool):
    client = warmpool.Client(pool.name, pool.dir)  # fresh: it has not learnt that "hang" takes JSON
    first = client.submit("hang", 0, timeout=60)
    second = client.submit("hang", 0, timeout=60)
    # Neither result is read: both jobs must be running all the same, on the pool's two workers.
    assert wait_until(lambda: busy_workers(pool) == 2), pool.status()["workers"]
    second.cancel(force=True)
    with pytest.raises(warmpool.Cancelled):
        second.result(timeout=30)
    first.cancel(force=True)
    with pytest.raises(warmpool.Cancelled):
        first.result(timeout=30)


def test_a_cpp_job_submitted_by_name_runs_though_nobody_waits_for_it(pool):
    client = warmpool.Client(pool.name, pool.dir)
    client.submit("sleep_report", 0)  # fire and forget
    assert wait_until(lambda: pool.status()["jobs"]["completed"] == 1), pool.status()["jobs"]


def test_cancel_before_the_call_goes_out_again_prevents_it(pool):
    other = warmpool.Client(pool.name, pool.dir)
    blockers = [other.submit("hang", 0, timeout=60) for _ in range(2)]
    assert wait_until(lambda: busy_workers(pool) == 2)
    submitted = pool.status()["jobs"]["submitted"]  # each blocker's pickle call and its JSON call

    client = warmpool.Client(pool.name, pool.dir)
    future = client.submit("sleep_report", 0)  # queued: both workers are held
    # The client's resending thread is held while a worker is freed and answers "takes JSON":
    # the cancel surely comes between that answer and the call that would have run the job.
    with client._resender._lock:
        blockers[0].cancel(force=True)
        assert future._call.future.wait(30)
        future.cancel()
    with pytest.raises(warmpool.Cancelled, match="before it ran"):
        future.result(timeout=30)
    client.call("sleep_report", 0)  # the client's one call since: JSON, as it has learnt
    assert pool.status()["jobs"]["submitted"] == submitted + 2

    blockers[1].cancel(force=True)
    for blocker in blockers:
        with pytest.raises(warmpool.Cancelled):
            blocker.result(timeout=30)


def test_executor_jobs_submitted_by_name_run_at_once(pool_factory):
    # sleep_report's run-time limit closes the lanes (a call made with no other in flight may
    # go straight to a worker), so that both jobs are dispatched by the supervisor: this is about
    # the client sending them, not about how the pool places them.
    pool = pool_factory(extra=["--function", "sleep_report:timeout=60"])
    with warmpool.Executor(pool.name, pool.dir) as ex:
        futures = [ex.submit("sleep_report", 3) for _ in range(2)]
        assert wait_until(lambda: busy_workers(pool) == 2), pool.status()["workers"]
        assert [f.result(timeout=30)["slept"] >= 3 for f in reversed(futures)] == [True, True]


def create_file(path):
    """Sent by value: the workers cannot import this test module, and say so first."""
    with open(path, "w") as f:
        f.write("ran")


def test_a_function_sent_by_value_runs_though_nobody_waits_for_it(python_pool):
    client = warmpool.Client(python_pool.name, python_pool.dir)
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "created")
        client.submit(create_file, path)  # fire and forget
        assert wait_until(lambda: os.path.exists(path))
    assert __name__ in client._calls.by_value_modules


def test_results_of_cpp_jobs_submitted_by_name_read_in_any_order(pool):
    client = warmpool.Client(pool.name, pool.dir)
    futures = [client.submit("gcd", [6 * i, 4 * i]) for i in range(1, 9)]
    assert sorted(f.result(timeout=30) for f in reversed(futures)) == [2 * i for i in range(1, 9)]
    with warmpool.Executor(pool.name, pool.dir) as ex:
        futures = [ex.submit("gcd", [6 * i, 4 * i]) for i in range(1, 9)]
        assert sorted(f.result() for f in cf.as_completed(futures, timeout=30)) == [2 * i for i in range(1, 9)]
