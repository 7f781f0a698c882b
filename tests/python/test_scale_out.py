"""warmpool.Client and warmpool.Executor on a scale-out cluster: a real redis-server on a free
port and two hosts, each a real warmpoold with the Python jobs of tests/python/jobs/ and a real
warmpool-gateway serving the cluster with it (--trust-pickle, so by-value functions run).
Every process is started here, killed by its own pid and its directory removed, whatever
happened."""

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid

import pytest

import warmpool
from conftest import BIN, Pool, _die_with_the_tests, python_pool_args, wait_until

redis = pytest.importorskip("redis")


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="wp-redis-")
        self.proc = None
        try:
            for _ in range(5):
                self.port = _free_port()
                self.proc = subprocess.Popen(
                    ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", self.dir,
                     "--save", "", "--appendonly", "no", "--logfile", os.path.join(self.dir, "redis.log")],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=_die_with_the_tests)
                self.db = redis.Redis(host="127.0.0.1", port=self.port)
                if wait_until(self._answers, timeout=10):
                    return
                self.kill()
            raise RuntimeError("redis-server did not start")
        except BaseException:
            self.stop()
            raise

    def _answers(self):
        if self.proc.poll() is not None:
            return True  # ended: checked below
        try:
            return self.db.ping()
        except redis.exceptions.ConnectionError:
            return False

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self):
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


class Host:
    """A warmpoold with the test jobs and a warmpool-gateway serving `endpoint` with it."""

    def __init__(self, endpoint, extra=()):
        self.pool = Pool(**python_pool_args())
        self.gateway = None
        try:
            self.log_path = os.path.join(self.pool.dir, "gateway.log")
            with open(self.log_path, "wb") as log:
                self.gateway = subprocess.Popen(
                    [os.path.join(BIN, "warmpool-gateway"), "--pool", self.pool.name, "--runtime-dir", self.pool.dir,
                     "--endpoint", endpoint, "--lease-ms", "1000", *extra],
                    stdout=log, stderr=subprocess.STDOUT, preexec_fn=_die_with_the_tests)
        except BaseException:
            self.stop()
            raise

    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def stop(self):
        if self.gateway is not None and self.gateway.poll() is None:
            self.gateway.send_signal(signal.SIGKILL)
            self.gateway.wait(10)
        self.pool.stop()


class Cluster:
    def __init__(self, hosts=2, extra=("--trust-pickle",)):
        self.name = "sc" + uuid.uuid4().hex[:8]
        self.redis = RedisServer()
        self.hosts = []
        try:
            self.endpoint = f"redis://127.0.0.1:{self.redis.port}/{self.name}"
            for _ in range(hosts):
                self.hosts.append(Host(self.endpoint, extra))
            live = lambda: len(self.redis.db.keys(f"warmpool:{{{self.name}}}:gateway:*")) == hosts
            if not wait_until(live, timeout=30):
                raise RuntimeError("the gateways did not come up:\n" + self.logs())
        except BaseException:
            self.stop()
            raise

    def logs(self):
        return "\n".join(f"---- gateway {i}\n{h.log()}\n---- pool {i}\n{h.pool.log()}" for i, h in enumerate(self.hosts))

    def stop(self):
        for h in self.hosts:
            h.stop()
        self.redis.stop()


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
    port = _free_port()
    with pytest.raises(warmpool.ConnectError, match="cannot connect to Redis"):
        warmpool.Client(f"redis://127.0.0.1:{port}/nothing")
    with pytest.raises(ValueError):
        warmpool.Client("p", endpoint="redis://127.0.0.1:1/x")
    with pytest.raises(warmpool.ConnectError, match="invalid Redis endpoint"):
        warmpool.Client("redis://127.0.0.1")
