"""warmpool.Client and warmpool.Executor on a scale-out cluster: a real redis-server on a free
port and two hosts, each a real warmpoold with the Python jobs of tests/python/jobs/ and a real
warmpool-gateway serving the cluster with it (--trust-pickle, so by-value functions run).
The cluster is scale_out_cluster's: every process killed by its own pid and its directory
removed, whatever happened."""

import pytest

import warmpool
from conftest import wait_until
from scale_out_cluster import Cluster, free_port


@pytest.fixture(scope="module")
def cluster():
    c = Cluster()
    try:
        yield c
    finally:
        c.stop()


def test_client_calls_submits_and_maps_through_the_gateways(cluster):
    with warmpool.Client(cluster.endpoint) as client:
        assert client.pool == cluster.name
        assert client.workers >= 2  # the two gateways' capacity
        assert client.call("my_module.gcd", (12, 18)) == 6
        assert client.submit(lambda x: x * 2, 21).result(timeout=30) == 42
        assert client.call("gcd", [35, 21]) == 7  # a C++ job by name: JSON after the pickle try
        items = list(range(2000))
        assert list(client.map(lambda x: x * x, items, chunksize=50)) == [x * x for x in items]
    # The same through endpoint=.
    assert warmpool.Client(endpoint=cluster.endpoint).call(pow, 2, 10) == 1024


def test_exceptions_come_back_with_their_type(cluster):
    client = warmpool.Client(cluster.endpoint)
    with pytest.raises(ValueError, match="kaboom"):
        client.call("failing.boom", "kaboom")

    def raises_key_error():
        raise KeyError("missing")

    with pytest.raises(KeyError):
        client.call(raises_key_error)
    with pytest.raises(warmpool.UnknownFunction):
        client.call("no_such_job", 1)
    with pytest.raises(warmpool.Timeout):
        client.call("hang", 0, timeout=0.3)


def test_cancel_before_it_runs(cluster):
    client = warmpool.Client(cluster.endpoint)
    # "hang" is a C++ job: this call teaches the client to send it JSON at once. Without it each
    # blocker would first be answered "takes JSON" and sent again only when its result is read,
    # leaving the gateways free to run the job below before it is cancelled.
    with pytest.raises(warmpool.Timeout):
        client.call("hang", 0, timeout=0.2)
    blockers = [client.submit("hang", 0, timeout=3) for _ in range(8)]
    # Each gateway takes as many jobs as its pool has worker slots (4): with all 8 held, no
    # gateway reads another entry until a blocker ends.
    jobs = f"warmpool:{{{cluster.name}}}:jobs"
    assert wait_until(lambda: cluster.redis.db.xpending(jobs, "gateways")["pending"] == 8, timeout=10), cluster.logs()
    queued = client.submit(pow, 2, 3)
    queued.cancel()
    with pytest.raises(warmpool.Cancelled):
        queued.result(timeout=30)
    for b in blockers:
        with pytest.raises(warmpool.Timeout):
            b.result(timeout=60)


def test_executor_on_a_cluster(cluster):
    with warmpool.Executor(cluster.endpoint) as ex:
        futures = [ex.submit(pow, 3, k) for k in range(40)]
        assert [f.result(timeout=60) for f in futures] == [3 ** k for k in range(40)]
        assert list(ex.map(abs, range(-500, 0))) == [abs(k) for k in range(-500, 0)]
        with pytest.raises(ValueError, match="bad value"):
            ex.submit(int, "bad value").result(timeout=30)
    with warmpool.Executor(endpoint=cluster.endpoint, max_workers=2) as ex:
        assert ex.submit(sum, [1, 2, 3]).result(timeout=30) == 6


def test_by_value_functions_need_trust_pickle():
    c = Cluster(hosts=1, extra=())
    try:
        client = warmpool.Client(c.endpoint)
        with pytest.raises(warmpool.PermissionDenied, match="trust-pickle"):
            client.call(lambda: 1)
        # As from an untrusted peer of a local pool: no silent fallback to another encoding.
        with pytest.raises(warmpool.PermissionDenied):
            client.call("gcd", [12, 18])
    finally:
        c.stop()


def test_unreachable_endpoint_is_a_connect_error():
    port = free_port()
    with pytest.raises(warmpool.ConnectError, match="cannot connect to Redis"):
        warmpool.Client(f"redis://127.0.0.1:{port}/nothing")
    with pytest.raises(ValueError):
        warmpool.Client("p", endpoint="redis://127.0.0.1:1/x")
    with pytest.raises(warmpool.ConnectError, match="invalid Redis endpoint"):
        warmpool.Client("redis://127.0.0.1")
