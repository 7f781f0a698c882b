"""Python jobs end to end through warmpool.Executor and warmpool.Client: the articles' results,
initialisation once per worker, exceptions re-raised with their remote traceback, functions sent
by value, and timeouts."""

import inspect
import os
import time

import pytest

import warmpool
from warmpool import _calls

import failing
import my_module
import py_jobs

PAIRS = [(1963309, 2265973), (2030677, 3814172), (1551645, 2229620), (2039045, 2020802), (1823712, 1924928),
         (2293129, 1020491), (1281238, 2273782), (3823812, 4237281), (3812741, 4729139), (1292391, 2123811)]
GCDS = [1, 1, 5, 1, 32, 1, 14, 9, 1, 9]


@pytest.fixture
def executor(shared_python_pool):
    ex = warmpool.Executor(shared_python_pool.name, shared_python_pool.dir)
    try:
        yield ex
    finally:
        ex.shutdown(wait=True, cancel_futures=True)


@pytest.fixture
def py_client(shared_python_pool):
    return warmpool.Client(shared_python_pool.name, shared_python_pool.dir)


def line_of(fn, text):
    """The line number of the first line of fn's source containing text."""
    lines, first = inspect.getsourcelines(fn)
    return first + next(i for i, line in enumerate(lines) if text in line)


# ---- the articles ------------------------------------------------------------------------------

def test_gcd_pairs_with_the_exported_job(executor):
    assert _calls.target_of(my_module.gcd) == ("my_module.gcd", "job")
    futures = [executor.submit(my_module.gcd, pair) for pair in PAIRS]
    assert [f.result(timeout=60) for f in futures] == GCDS
    assert executor.submit("my_module.gcd", [12, 18]).result(timeout=20) == 6


def gcd(pair):
    """The article's function, defined in this module (which the workers cannot import)."""
    a, b = pair
    for i in range(min(a, b), 0, -1):
        if a % i == 0 and b % i == 0:
            return i, os.getpid()
    return 1, os.getpid()


def test_gcd_pairs_with_a_function_defined_here(executor, shared_python_pool):
    assert _calls.target_of(gcd)[1] == "value"
    results = list(executor.map(gcd, PAIRS))
    assert [r for r, _ in results] == GCDS
    workers = set(shared_python_pool.worker_pids())
    assert {pid for _, pid in results} <= workers, "run in the pool's workers"
    assert executor.submit(gcd, (12, 18)).result(timeout=20)[0] == 6


def test_md5_chain_as_an_exported_class(executor):
    assert _calls.target_of(py_jobs.Md5Chain) == ("py_jobs.Md5Chain", "job")
    assert executor.submit(py_jobs.Md5Chain, "Hello World").result(timeout=60) == "1e4110cf294414bc2ac346ad274a7af3"
    # The same chaining rule as the C++ md5_chain: one round is the md5 of the message.
    assert executor.submit(py_jobs.Md5Chain, "Hello World", rounds=1).result(timeout=20) == \
        "b10a8db164e0754105b7a99be72e3fe5"
    assert executor.submit(py_jobs.Md5Chain, "Hello World", 0).result(timeout=20) == "Hello World"


# ---- initialisation and context ----------------------------------------------------------------

def test_a_class_is_built_once_per_worker_across_many_jobs(executor, shared_python_pool):
    # A fresh look at the workers: another test may have replaced one since the pool started.
    workers = set(shared_python_pool.worker_pids())
    results = [f.result(timeout=30) for f in [executor.submit(py_jobs.InitCount) for _ in range(300)]]
    assert all(r["builds"] == 1 for r in results)
    assert all(r["pid"] == r["os_pid"] == r["ctx_pid"] for r in results)
    served = {r["pid"] for r in results}
    assert served <= workers
    # One instance per worker served every call that worker ran, each call once: its call
    # counts are consecutive.
    for pid in served:
        counts = sorted(r["calls"] for r in results if r["pid"] == pid)
        assert counts == list(range(counts[0], counts[0] + len(counts))), pid
    assert len({r["job_id"] for r in results}) == 300
    assert all(r["attempt"] == 1 and r["pool"] == shared_python_pool.name for r in results)
    assert all(0 <= r["slot"] < 4 for r in results)


def test_context_outside_a_worker_is_an_error():
    with pytest.raises(RuntimeError):
        warmpool.context()


# ---- exceptions ---------------------------------------------------------------------------------

def test_an_exception_is_reraised_with_its_remote_traceback(executor, py_client):
    line = line_of(py_jobs.raise_job_failed, "raise JobFailed")
    for outcome in (lambda: executor.submit(py_jobs.raise_job_failed, "no luck").result(timeout=20),
                    lambda: py_client.call(py_jobs.raise_job_failed, "no luck")):
        with pytest.raises(py_jobs.JobFailed, match="no luck") as info:
            outcome()
        cause = info.value.__cause__
        assert isinstance(cause, warmpool.RemoteTraceback)
        assert f'py_jobs.py", line {line}, in raise_job_failed' in cause.tb, cause.tb
        assert "py_jobs.JobFailed: no luck" in cause.tb


def test_an_exception_from_a_function_sent_by_value(executor):
    def check(x):
        if x < 0:
            raise ValueError(f"negative: {x}")
        return x

    line = line_of(check, "raise ValueError")
    with pytest.raises(ValueError, match="negative: -3") as info:
        executor.submit(check, -3).result(timeout=20)
    assert isinstance(info.value.__cause__, warmpool.RemoteTraceback)
    assert f'{os.path.basename(__file__)}", line {line}, in check' in info.value.__cause__.tb


@pytest.mark.parametrize("job, text", [
    (py_jobs.raise_cannot_rebuild, "py_jobs.CannotRebuild: cannot rebuild me"),
    (py_jobs.raise_private, "private_errors.PrivateError: cannot rebuild me"),
], ids=["rebuilding-fails", "class-only-on-the-workers"])
def test_an_exception_the_client_cannot_unpickle_is_a_handler_error(executor, job, text):
    with pytest.raises(warmpool.HandlerError) as info:
        executor.submit(job, "cannot rebuild me").result(timeout=20)
    assert text in str(info.value)
    assert info.value.kind == "handler_error"
    assert isinstance(info.value.__cause__, warmpool.RemoteTraceback)
    assert text in info.value.__cause__.tb and "Traceback" in info.value.__cause__.tb


# ---- by value ---------------------------------------------------------------------------------

def test_a_lambda_and_a_closure_travel_by_value(executor, py_client, shared_python_pool):
    def adder(n):
        def add(x):
            return x + n, os.getpid()
        return add

    assert executor.submit(lambda x: x * 2, 21).result(timeout=20) == 42
    assert py_client.call(lambda: "no arguments") == "no arguments"
    total, pid = executor.submit(adder(5), 10).result(timeout=20)
    assert total == 15 and pid != os.getpid() and pid in shared_python_pool.worker_pids()
    assert [r for r, _ in executor.map(adder(100), range(50))] == [100 + i for i in range(50)]


def test_functions_of_a_module_the_workers_lack_travel_by_value(py_client, executor):
    # This test module is not on the workers' path: its functions, and those a lambda refers
    # to, are sent by value once the pool says it cannot import it.
    assert py_client.call(gcd, (12, 18))[0] == 6
    assert executor.submit(lambda pair: gcd(pair)[0], (35, 21)).result(timeout=20) == 7
    assert list(executor.map(lambda pair: gcd(pair)[0], [(4, 6), (9, 6)])) == [2, 3]


def test_a_function_of_a_module_the_workers_have_runs_on_their_copy(executor):
    # py_jobs is imported by every worker, which built InitCount once; here it never was.
    assert py_jobs.InitCount.builds == 0
    assert executor.submit(py_jobs.init_builds).result(timeout=20) == 1


# ---- timeouts ---------------------------------------------------------------------------------

def test_timeouts_per_call_and_from_the_decorator(python_pool):
    client = warmpool.Client(python_pool.name, python_pool.dir)
    with warmpool.Executor(python_pool.name, python_pool.dir) as ex:
        start = time.monotonic()
        with pytest.raises(warmpool.Timeout):
            client.call(py_jobs.pause, 30, timeout=0.3)
        with pytest.raises(warmpool.Timeout):  # the decorator's timeout=0.5
            ex.submit(failing.slow, 30).result(timeout=20)
        with pytest.raises(warmpool.Timeout):
            client.call(lambda: time.sleep(30), timeout=0.3)
        pause = 30

        def sleeper():
            time.sleep(pause)

        with pytest.raises(warmpool.Timeout):
            client.submit(sleeper, timeout=0.3).result(timeout=20)
        assert time.monotonic() - start < 20
        # Within their limits they return, on the replacement workers.
        assert ex.submit(failing.slow, 0.01).result(timeout=20) == 0.01
        assert client.call(py_jobs.pause, 0.01, timeout=5) == 0.01
        assert client.call(lambda: "quick", timeout=5) == "quick"
