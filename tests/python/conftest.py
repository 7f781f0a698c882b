"""A real warmpoold per test module: unique pool name, runtime dir under a temporary directory,
the bundled C++ job library (gcd, echo, fail, hang, sleep_report...). Killed by its own pid at
the end, whatever happened."""

import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid

import pytest

BUILD_DIR = os.environ.get("WARMPOOL_BUILD_DIR") or os.path.join(os.path.dirname(__file__), "..", "..", "build")
BIN = os.path.join(BUILD_DIR, "bin")
sys.path.insert(0, os.path.join(BUILD_DIR, "python"))


class Pool:
    def __init__(self, workers=2, extra=()):
        self.dir = tempfile.mkdtemp(prefix="wp-py-")
        self.name = "py" + uuid.uuid4().hex[:10]
        self.log = open(os.path.join(self.dir, "warmpoold.log"), "wb")
        self.proc = subprocess.Popen(
            [os.path.join(BIN, "warmpoold"), "--name", self.name, "--workers", str(workers),
             "--runtime-dir", self.dir, *extra],
            stdout=self.log, stderr=subprocess.STDOUT)
        try:
            subprocess.run([os.path.join(BIN, "warmpool"), "--pool", self.name, "--runtime-dir", self.dir,
                            "wait-ready", "--timeout", "20"], check=True, timeout=30)
        except BaseException:
            self.stop()
            raise

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)  # this pool's own pid, nothing else
            self.proc.wait(10)
        self.log.close()


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
