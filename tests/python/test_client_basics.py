"""warmpool.Client against a real pool's C++ jobs (called by name: pickle first, then JSON)."""

import os
import threading
import time

import pytest

import warmpool


def test_import_and_errors_exported():
    assert warmpool.Client and warmpool.Executor
    assert issubclass(warmpool.Timeout, warmpool.JobError)


def test_call_by_name_falls_back_to_json(client):
    assert client.call("gcd", [12, 18]) == 6
    assert client.call("gcd", [35, 21]) == 7
    assert client.submit("gcd", [5, 10]).result(timeout=10) == 5


def test_errors(client):
    with pytest.raises(warmpool.UnknownFunction):
        client.call("no_such_job", 1)
    with pytest.raises(warmpool.HandlerError) as info:
        client.call("fail", "boom")
    assert "boom" in str(info.value)
    with pytest.raises(warmpool.Timeout):
        client.call("hang", 0, timeout=0.3)
    with pytest.raises(warmpool.ConnectError):
        warmpool.Client("no-such-pool-here", "/nonexistent-dir")


def test_future_timeout_and_cancel(client):
    f = client.submit("sleep_report", 0.5)
    with pytest.raises(TimeoutError):
        f.result(timeout=0.01)
    assert f.result(timeout=10)["pid"] > 0
    g = client.submit("hang", 0)
    time.sleep(0.1)
    g.cancel(force=True)
    with pytest.raises(warmpool.Cancelled):
        g.result(timeout=10)


def test_map(client):
    pairs = [[i * 6, 18] for i in range(1, 2001)]
    assert list(client.map("gcd", pairs)) == [__import__("math").gcd(a, b) for a, b in pairs]
    with pytest.raises(warmpool.HandlerError):
        list(client.map("fail", ["x", "y"]))


def test_status(client, pool):
    s = client.status()
    assert s["state"] == "running"
    assert s["workers"]["configured"] == 2


def test_threads_share_a_client(client):
    errors = []

    def run(k):
        try:
            for i in range(200):
                assert client.call("gcd", [k * i + k, k]) == k
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=run, args=(k,)) for k in range(1, 5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors


def test_large_bytes_through_shared_memory(client):
    # The C++ echo job returns its payload as it is: JSON text here, 16 MiB of it.
    data = b'"' + b"a" * (16 << 20) + b'"'
    from warmpool import _native
    status, flags, payload = client._native.submit("echo", _native.ENCODING_JSON, data, []).result()
    assert status == 0 and len(payload) == len(data)
    assert _native.materialize(payload, True) == data


def test_daemon_going_away_fails_pending_futures(pool):
    c = warmpool.Client(pool.name, pool.dir)
    f = c.submit("hang", 0)
    time.sleep(0.1)
    pool.kill()
    start = time.monotonic()
    with pytest.raises(warmpool.ShuttingDown):
        f.result(timeout=10)
    assert time.monotonic() - start < 3
