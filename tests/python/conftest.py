"""Real warmpoold processes for the tests: a unique pool name, a runtime dir under a temporary
directory, the bundled C++ job library (gcd, echo, fail, hang, sleep_report...) and, for
python_pool, Python jobs from tests/python/jobs/. Each fixture kills exactly its own daemon's pid
and removes its temporary directory at the end, whatever happened."""

import ctypes
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid

import pytest

BUILD_DIR = os.environ.get("WARMPOOL_BUILD_DIR") or os.path.join(os.path.dirname(__file__), "..", "..", "build")
BIN = os.path.join(BUILD_DIR, "bin")
PACKAGE_DIR = os.path.abspath(os.path.join(BUILD_DIR, "python"))
JOBS_DIR = os.path.abspath(os.path.join(os.path.dirname(__file__), "jobs"))
sys.path.insert(0, PACKAGE_DIR)
sys.path.insert(0, JOBS_DIR)  # so that tests can import the job modules they call

_PR_SET_PDEATHSIG = 1


def _die_with_the_tests():
    # A daemon outlives nothing: if the test process is killed, its daemons get SIGKILL.
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def kill_and_reap(proc):
    """SIGKILL to `proc` (a Popen this process started; by its own pid, nothing else) and waits for it."""
    if proc is not None and proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)


def read_log(path):
    """The text of the log file `path`, or "" if there is none (yet)."""
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def wait_until(predicate, timeout=20.0, interval=0.02):
    end = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= end:
            return value
        time.sleep(interval)


class Pool:
    """One warmpoold. `modules` and `path` make it host Python jobs; `env` is added to its
    environment. stop() is idempotent: it kills this pool's pid and removes its directory."""

    def __init__(self, workers=2, extra=(), modules=(), path=(), env=None, directory=None):
        self.dir = directory or tempfile.mkdtemp(prefix="wp-py-")
        self.name = "py" + uuid.uuid4().hex[:10]
        self.proc = None
        self.log_path = os.path.join(self.dir, "warmpoold.log")
        argv = [os.path.join(BIN, "warmpoold"), "--name", self.name, "--workers", str(workers),
                "--runtime-dir", self.dir]
        for p in path:
            argv += ["--python-path", p]
        for m in modules:
            argv += ["--python-module", m]
        argv += list(extra)
        try:
            with open(self.log_path, "wb") as log:
                self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                             env={**os.environ, **(env or {})}, preexec_fn=_die_with_the_tests)
            r = self.cli("wait-ready", "--timeout", "20", timeout=30)
            if r.returncode != 0:
                raise RuntimeError(f"pool {self.name} did not start: {r.stderr}\n{self.log()}")
        except BaseException:
            self.stop()
            raise

    @property
    def pid(self):
        return self.proc.pid

    def cli(self, *args, timeout=30):
        return subprocess.run([os.path.join(BIN, "warmpool"), "--pool", self.name, "--runtime-dir", self.dir, *args],
                              capture_output=True, text=True, timeout=timeout)

    def status(self):
        r = self.cli("status", "--json")
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout)

    def worker_pids(self):
        """The pids of the workers ready to serve (idle or busy)."""
        return sorted(row["pid"] for row in self.status()["workers"]["rows"] if row["state"] in ("idle", "busy"))

    def log(self):
        return read_log(self.log_path)

    def kill(self):
        """Kills this pool's daemon (its own pid, nothing else) and reaps it."""
        kill_and_reap(self.proc)

    def stop(self):
        self.kill()
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None


@pytest.fixture
def pool():
    p = Pool()
    try:
        yield p
    finally:
        p.stop()


@pytest.fixture
def client(pool):
    import warmpool
    return warmpool.Client(pool.name, pool.dir)


PY_MODULES = ("my_module", "failing", "py_jobs")


def python_pool_args(modules=PY_MODULES, extra=()):
    # worker_only/ is on the workers' path and not on the tests': what a client cannot import.
    return dict(modules=modules, path=[JOBS_DIR, os.path.join(JOBS_DIR, "worker_only")],
                extra=["--grace-period", "1", *extra])


@pytest.fixture
def python_pool():
    """A pool of 2 workers hosting the Python jobs of tests/python/jobs/ beside the C++ ones."""
    p = Pool(**python_pool_args())
    try:
        yield p
    finally:
        p.stop()


@pytest.fixture(scope="module")
def shared_python_pool():
    """As python_pool, shared by a module's tests that neither crash nor reload its workers."""
    p = Pool(**python_pool_args())
    try:
        yield p
    finally:
        p.stop()


@pytest.fixture
def pool_factory():
    """Starts pools with Pool's arguments; each is stopped at the end of the test."""
    pools = []

    def make(**kwargs):
        p = Pool(**kwargs)
        pools.append(p)
        return p

    try:
        yield make
    finally:
        for p in pools:
            p.stop()
