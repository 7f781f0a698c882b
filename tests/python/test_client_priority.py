"""Job priorities from Python: priority= on Client.submit/call/map and on Executor, checked before
anything is sent, and obeyed by the pool (queued jobs of higher priority start first)."""

import pytest
from conftest import wait_until

import warmpool


def started(report):
    return report["time_ns"] - report["slept"] * 1e9


def test_out_of_range_priorities_are_refused_before_anything_is_sent(client, pool):
    for bad in (8, -9, 1000):
        with pytest.raises(ValueError, match="outside -8..7"):
            client.submit("gcd", [12, 18], priority=bad)
        with pytest.raises(ValueError):
            client.call("gcd", [12, 18], priority=bad)
        with pytest.raises(ValueError):
            client.map("gcd", [[12, 18]], priority=bad)
    with pytest.raises(TypeError):
        client.call("gcd", [12, 18], priority=1.5)
    with pytest.raises(ValueError):
        warmpool.Executor(pool.name, pool.dir, priority=8)
    assert pool.status()["jobs"]["submitted"] == 0


def test_priorities_in_range_run(client, pool):
    assert client.call("gcd", [12, 18], priority=-8) == 6
    assert client.submit("gcd", [12, 18], priority=7).result(timeout=10) == 6
    assert list(client.map("gcd", [[12, 18], [35, 21]], priority=3)) == [6, 7]
    with warmpool.Executor(pool.name, pool.dir, priority=-2) as ex:
        assert ex.submit("gcd", [12, 18]).result(timeout=30) == 6
        assert list(ex.map("gcd", [[12, 18]])) == [6]


def test_queued_jobs_of_higher_priority_start_first(client, pool):
    # The client learns the job takes JSON (no second try below), and the pool learns it is not
    # short: after a call of 0 s the dispatcher took it for a short job and, when the blockers
    # came in two passes, queued the second behind the first on one worker (it had run less than
    # 200 us), leaving the other worker free to run the jobs below at once.
    client.call("sleep_report", 0.3)
    # The blockers hold both workers until all eight jobs wait in the queue, however slow the
    # machine: were a worker freed while only the low jobs had arrived, it would rightly take one.
    blockers = [client.submit("sleep_report", 2.5) for _ in range(2)]
    assert wait_until(lambda: pool.status()["jobs"]["in_flight"] == 2)
    low = [client.submit("sleep_report", 0.02, priority=-3) for _ in range(4)]
    high = [client.submit("sleep_report", 0.02, priority=3) for _ in range(4)]
    assert wait_until(lambda: pool.status()["jobs"]["queued"] == 8)
    assert not any(f.done() for f in blockers), "a blocker ended before the queue was full"
    last_high = max(started(f.result(timeout=30)) for f in high)
    first_low = min(started(f.result(timeout=30)) for f in low)
    for f in blockers:
        f.result(timeout=30)
    assert last_high < first_low
