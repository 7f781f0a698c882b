"""Executor.map over Python jobs: results in input order, input read lazily with a bounded number
of items in flight, and the first failed item's exception raised when its turn comes."""

import pytest

import warmpool
from warmpool import _mapping

import py_jobs


@pytest.fixture
def executor(shared_python_pool):
    with warmpool.Executor(shared_python_pool.name, shared_python_pool.dir) as ex:
        yield ex


def test_results_in_input_order(executor):
    assert list(executor.map(py_jobs.square, range(5000))) == [i * i for i in range(5000)]
    assert list(executor.map(lambda a, b: a - b, range(3000), range(0, 6000, 2))) == [-i for i in range(3000)]
    # Slow items early and fast ones late still come back in order.
    seconds = [0.2, 0.1, 0, 0, 0.05, 0]
    assert list(executor.map(py_jobs.pause, seconds)) == seconds
    assert list(executor.map(py_jobs.square, [])) == []


def test_a_long_input_is_read_lazily(executor, shared_python_pool):
    count = 200_000
    read = [0]

    def inputs():
        for i in range(count):
            read[0] = i + 1
            yield i

    results = executor.map(py_jobs.square, inputs())
    assert read[0] == 0  # nothing is read before the first result is asked for
    # However many are in flight, no more than a window of the largest chunks is read ahead.
    workers = len(shared_python_pool.worker_pids())
    ahead = workers * 4 * _mapping.MAX_CHUNK
    assert ahead < count // 2
    most_ahead = 0
    total = 0
    for index, value in enumerate(results):
        assert value == index * index
        most_ahead = max(most_ahead, read[0] - index)
        total += 1
    assert total == count
    assert most_ahead <= ahead + _mapping.MAX_CHUNK, most_ahead


def test_the_first_failure_is_raised_when_reached(executor):
    items = list(range(10_000))
    items[7000] = "bad"
    items[9000] = "bad"
    got = []
    with pytest.raises(ValueError, match="bad item") as info:
        for value in executor.map(py_jobs.square, items):
            got.append(value)
    assert got == [i * i for i in range(7000)]
    assert isinstance(info.value.__cause__, warmpool.RemoteTraceback)
    it = executor.map(py_jobs.square, [1, 2, "bad", 4])
    assert next(it) == 1 and next(it) == 4
    with pytest.raises(ValueError):
        next(it)


def test_map_of_a_function_sent_by_value_that_fails(executor):
    def inverse(x):
        return 1 / x

    it = executor.map(inverse, [1, 2, 0, 4])
    assert next(it) == 1 and next(it) == 0.5
    with pytest.raises(ZeroDivisionError):
        next(it)
