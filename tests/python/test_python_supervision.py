"""The supervisor's policies hold for Python jobs as for C++ ones: retries after a crash, the
quarantine of a job that keeps crashing workers, recycling by max_jobs and max_rss, deadlines
and forced cancellation. Each test runs its own pool hosting tests/python/jobs/supervised.py."""

import os
import time

import pytest

import warmpool
from conftest import Pool

JOBS = os.path.join(os.path.dirname(__file__), "jobs")


def python_pool(*extra, workers=2):
    return Pool(workers=workers, extra=("--python-module", "supervised", "--python-path", JOBS, *extra))


@pytest.fixture
def pool_with(request):
    pools = []

    def start(*extra, workers=2):
        pools.append(python_pool(*extra, workers=workers))
        return pools[-1], warmpool.Client(pools[-1].name, pools[-1].dir)

    yield start
    for p in pools:
        p.stop()


def settle(client, workers, seconds=20):
    """Waits until `workers` workers are ready and none is busy."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        status = client.status()
        if status["workers"]["ready"] >= workers and status["workers"]["busy"] == 0:
            return status
        time.sleep(0.05)
    raise AssertionError(f"pool did not settle: {client.status()['workers']}")


def test_a_crash_is_retried_on_another_worker_as_the_decorator_says(pool_with):
    _, client = pool_with()
    assert client.call("supervised.crash_on_first_attempt", 5) == {"value": 5, "attempt": 2}
    assert settle(client, 2)["supervision"]["retried"] == 1


def test_a_job_that_keeps_crashing_is_quarantined(pool_with):
    _, client = pool_with("--poison-threshold", "2")
    with pytest.raises(warmpool.WorkerCrashed) as info:
        client.call("supervised.always_crash")
    assert "SIGKILL" in str(info.value) or "signal 9" in str(info.value)
    # Two crashes, not the six the decorator's retries would allow.
    supervision = settle(client, 2)["supervision"]
    assert supervision["worker_crashes"] == 2, supervision


def test_workers_recycle_after_max_jobs(pool_with):
    _, client = pool_with("--max-jobs", "20", "--max-jobs-jitter", "0", workers=1)
    first = client.call("supervised.pid")
    for _ in range(25):
        client.call("supervised.pid")
    # The old worker serves on until its replacement has imported the module, then leaves.
    end = time.monotonic() + 20
    while client.call("supervised.pid") == first:
        assert time.monotonic() < end, "no new worker after max_jobs"
        time.sleep(0.05)
    assert settle(client, 1)["supervision"]["recycled"] >= 1
    with pytest.raises(ProcessLookupError):
        for _ in range(200):
            os.kill(first, 0)
            time.sleep(0.05)


def test_a_worker_past_max_rss_is_recycled(pool_with):
    _, client = pool_with("--max-rss", "200MiB", workers=1)
    first = client.call("supervised.hoard", 256)
    end = time.monotonic() + 20
    while client.call("supervised.pid") == first:
        assert time.monotonic() < end, "the worker holding 256 MiB was not replaced"
        time.sleep(0.05)


def test_a_deadline_passed_in_the_queue_is_not_run(pool_with):
    _, client = pool_with(workers=1)
    busy = client.submit("supervised.nap", 0.5)
    late = client.submit("supervised.nap", 0, deadline=0.05)
    with pytest.raises(warmpool.DeadlineExceeded):
        late.result(timeout=10)
    assert busy.result(timeout=10) > 0


def test_a_forced_cancel_stops_a_running_python_job(pool_with):
    _, client = pool_with(workers=1)
    running = client.submit("supervised.nap", 30)
    time.sleep(0.3)
    start = time.monotonic()
    running.cancel(force=True)
    with pytest.raises(warmpool.Cancelled):
        running.result(timeout=10)
    assert time.monotonic() - start < 10
    assert client.call("supervised.nap", 0) > 0  # a new worker serves the next call
