"""warmpool.Executor: a concurrent.futures.Executor over a real pool."""

import concurrent.futures as cf
import math
import threading
import time

import pytest

import warmpool


@pytest.fixture
def executor(pool):
    ex = warmpool.Executor(pool.name, pool.dir)
    yield ex
    ex.shutdown(wait=True, cancel_futures=True)


def test_is_a_real_executor(executor):
    assert isinstance(executor, cf.Executor)
    f = executor.submit("gcd", [12, 18])
    assert isinstance(f, cf.Future)
    assert f.result(timeout=10) == 6
    seen = []
    g = executor.submit("gcd", [5, 10])
    g.add_done_callback(lambda fut: seen.append(fut.result()))
    cf.wait([g])
    deadline = time.monotonic() + 5
    while not seen and time.monotonic() < deadline:
        time.sleep(0.01)
    assert seen == [5]


def test_wait_and_as_completed_mixed_with_thread_futures(executor):
    with cf.ThreadPoolExecutor(2) as threads:
        ours = [executor.submit("gcd", [i * 6, 18]) for i in range(1, 40)]
        theirs = [threads.submit(math.gcd, i * 6, 18) for i in range(1, 40)]
        done, not_done = cf.wait(ours + theirs, timeout=30)
        assert not not_done
        assert sorted(f.result() for f in cf.as_completed(ours + theirs)) == sorted(
            [math.gcd(i * 6, 18) for i in range(1, 40)] * 2)


def test_max_workers_and_cancel_of_queued(pool):
    with pytest.raises(ValueError):
        warmpool.Executor(pool.name, pool.dir, max_workers=0)
    ex = warmpool.Executor(pool.name, pool.dir, max_workers=1)
    try:
        first = ex.submit("sleep_report", 0.3)
        queued = [ex.submit("sleep_report", 0.3) for _ in range(3)]
        assert queued[-1].cancel()
        assert queued[-1].cancelled()
        assert first.result(timeout=10)["pid"] > 0
        assert all(f.result(timeout=10)["pid"] > 0 for f in queued[:-1])
    finally:
        ex.shutdown()


def test_shutdown_cancel_futures(pool):
    ex = warmpool.Executor(pool.name, pool.dir, max_workers=1)
    running = ex.submit("sleep_report", 0.3)
    queued = [ex.submit("sleep_report", 0.3) for _ in range(5)]
    ex.shutdown(wait=True, cancel_futures=True)
    assert running.done() and running.result()["pid"] > 0
    assert all(f.cancelled() for f in queued)
    with pytest.raises(RuntimeError):
        ex.submit("gcd", [1, 2])


def test_context_manager_joins_its_thread(pool):
    before = threading.active_count()
    with warmpool.Executor(pool.name, pool.dir) as ex:
        fs = [ex.submit("gcd", [i, 3]) for i in range(1, 20)]
    assert all(f.done() for f in fs)
    assert threading.active_count() == before


def test_map_in_order_and_errors(executor):
    pairs = [[i, 6] for i in range(1, 5001)]
    assert list(executor.map("gcd", pairs)) == [math.gcd(a, b) for a, b in pairs]
    it = executor.map("fail", ["a", "b"])
    with pytest.raises(warmpool.HandlerError):
        next(it)
    with pytest.raises(TimeoutError):
        list(executor.map("sleep_report", [1.0, 1.0], timeout=0.2))


def test_threads_share_an_executor(executor):
    results = []

    def run(k):
        results.append([executor.submit("gcd", [k * 7, 7]).result(timeout=30) for _ in range(100)])

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
    pool.stop()
    done, not_done = cf.wait(fs, timeout=5)
    assert not not_done
    assert all(isinstance(f.exception(), warmpool.ShuttingDown) for f in fs)
    ex.shutdown()
