"""warmpool.Executor: a concurrent.futures.Executor over a real pool."""

import concurrent.futures as cf
import gc
import math
import threading
import time

import pytest

import warmpool

from conftest import Pool, python_pool_args, wait_until


class Jobs:
    """The jobs a test calls, C++ (by name) or Python (exported functions)."""

    def __init__(self, kind, pool):
        self.kind = kind
        self.pool = pool
        if kind == "cpp":
            self.gcd = "gcd"
            self.sleep = "sleep_report"  # returns {"pid": ...}
        else:
            import my_module
            import py_jobs
            self.gcd = my_module.gcd
            self.sleep = py_jobs.pause   # returns its argument

    def slept(self, result, seconds):
        return result["pid"] > 0 if self.kind == "cpp" else result == seconds


@pytest.fixture(params=["cpp", "python"])
def jobs(request):
    p = Pool() if request.param == "cpp" else Pool(**python_pool_args())
    try:
        yield Jobs(request.param, p)
    finally:
        p.stop()


@pytest.fixture
def executor(jobs):
    ex = warmpool.Executor(jobs.pool.name, jobs.pool.dir)
    yield ex
    ex.shutdown(wait=True, cancel_futures=True)


def test_is_a_real_executor(executor, jobs):
    assert isinstance(executor, cf.Executor)
    f = executor.submit(jobs.gcd, [12, 18])
    assert isinstance(f, cf.Future)
    assert f.result(timeout=10) == 6
    seen = []
    g = executor.submit(jobs.gcd, [5, 10])
    g.add_done_callback(lambda fut: seen.append(fut.result()))
    cf.wait([g])
    assert wait_until(lambda: seen, timeout=5) == [5]
    # A callback added to a finished future runs at once, on this thread.
    g.add_done_callback(lambda fut: seen.append(-fut.result()))
    assert seen == [5, -5]


def test_wait_and_as_completed_mixed_with_thread_futures(executor, jobs):
    with cf.ThreadPoolExecutor(2) as threads:
        ours = [executor.submit(jobs.gcd, [i * 6, 18]) for i in range(1, 40)]
        theirs = [threads.submit(math.gcd, i * 6, 18) for i in range(1, 40)]
        slow = executor.submit(jobs.sleep, 0.5)
        done, not_done = cf.wait(ours + theirs + [slow], timeout=30, return_when=cf.FIRST_COMPLETED)
        assert done and slow not in done
        done, not_done = cf.wait(ours + theirs, timeout=30)
        assert not not_done
        assert sorted(f.result() for f in cf.as_completed(ours + theirs, timeout=30)) == sorted(
            [math.gcd(i * 6, 18) for i in range(1, 40)] * 2)
        first = next(cf.as_completed([slow, threads.submit(math.gcd, 4, 6)], timeout=30))
        assert first is not slow
        assert jobs.slept(slow.result(timeout=30), 0.5)


def test_max_workers_and_cancel_of_queued(jobs):
    pool = jobs.pool
    with pytest.raises(ValueError):
        warmpool.Executor(pool.name, pool.dir, max_workers=0)
    ex = warmpool.Executor(pool.name, pool.dir, max_workers=1)
    try:
        first = ex.submit(jobs.sleep, 0.3)
        queued = [ex.submit(jobs.sleep, 0.3) for _ in range(3)]
        assert queued[-1].cancel()
        assert queued[-1].cancelled()
        assert jobs.slept(first.result(timeout=10), 0.3)
        assert all(jobs.slept(f.result(timeout=10), 0.3) for f in queued[:-1])
    finally:
        ex.shutdown()


def test_shutdown_cancel_futures(jobs):
    ex = warmpool.Executor(jobs.pool.name, jobs.pool.dir, max_workers=1)
    running = ex.submit(jobs.sleep, 0.3)
    queued = [ex.submit(jobs.sleep, 0.3) for _ in range(5)]
    ex.shutdown(wait=True, cancel_futures=True)
    assert running.done() and jobs.slept(running.result(), 0.3)
    assert all(f.cancelled() for f in queued)
    with pytest.raises(RuntimeError):
        ex.submit(jobs.gcd, [1, 2])


def test_context_manager_joins_its_thread(pool):
    before = threading.active_count()
    with warmpool.Executor(pool.name, pool.dir) as ex:
        fs = [ex.submit("gcd", [i, 3]) for i in range(1, 20)]
    assert all(f.done() for f in fs)
    assert threading.active_count() == before


def test_an_executor_dropped_without_shutdown_ends_its_thread_and_session(pool):
    def sessions():
        return pool.status()["sessions"]["active"]

    threads, open_sessions = threading.active_count(), sessions()
    for _ in range(3):
        ex = warmpool.Executor(pool.name, pool.dir)
        assert ex.submit("gcd", [12, 18]).result(timeout=10) == 6
        del ex
    gc.collect()
    assert wait_until(lambda: threading.active_count() == threads, timeout=10)
    assert wait_until(lambda: sessions() == open_sessions, timeout=10), pool.status()["sessions"]


def test_map_in_order_and_errors(pool):
    executor = warmpool.Executor(pool.name, pool.dir)
    pairs = [[i, 6] for i in range(1, 5001)]
    assert list(executor.map("gcd", pairs)) == [math.gcd(a, b) for a, b in pairs]
    it = executor.map("fail", ["a", "b"])
    with pytest.raises(warmpool.HandlerError):
        next(it)
    with pytest.raises(TimeoutError):
        list(executor.map("sleep_report", [1.0, 1.0], timeout=0.2))
    executor.shutdown()


def test_threads_share_an_executor(executor, jobs):
    results = []

    def run(k):
        results.append([executor.submit(jobs.gcd, [k * 7, 7]).result(timeout=30) for _ in range(100)])

    threads = [threading.Thread(target=run, args=(k,)) for k in range(1, 5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(r[0] for r in results) == [7, 7, 7, 7]


def test_daemon_going_away(pool):
    ex = warmpool.Executor(pool.name, pool.dir)
    fs = [ex.submit("hang", 0) for _ in range(3)]
    time.sleep(0.1)
    pool.kill()
    done, not_done = cf.wait(fs, timeout=5)
    assert not not_done
    assert all(isinstance(f.exception(), warmpool.ShuttingDown) for f in fs)
    ex.shutdown()
