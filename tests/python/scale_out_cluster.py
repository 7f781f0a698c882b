"""A scale-out cluster on this machine for the tests: a real redis-server on a free port and hosts,
each a real warmpoold with the Python jobs of tests/python/jobs/ and a real warmpool-gateway serving
the cluster with it. Every process is started here, killed by its own pid and its directory
removed, whatever happened. Used by test_scale_out and test_cluster_status."""

import os
import shutil
import socket
import subprocess
import tempfile
import uuid

import pytest

from conftest import BIN, Pool, _die_with_the_tests, kill_and_reap, python_pool_args, read_log, wait_until

redis = pytest.importorskip("redis")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    """A redis-server on a free loopback port, without persistence, in a directory of its own."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="wp-redis-")
        self.proc = None
        try:
            for _ in range(5):
                self.port = free_port()
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
        kill_and_reap(self.proc)

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
        return read_log(self.log_path)

    def stop(self):
        kill_and_reap(self.gateway)
        self.pool.stop()


class Cluster:
    """A real redis-server and `hosts` Hosts serving the cluster `name` in it, up once every gateway's
    heartbeat is there; `extra` goes to every gateway."""

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
