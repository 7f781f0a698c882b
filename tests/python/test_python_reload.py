"""warmpool reload starts workers that import the pool's modules afresh: changed code is picked
up, and no call fails meanwhile."""

import os
import shutil
import tempfile
import threading
import time

import warmpool

from conftest import wait_until

MODULE = '''import warmpool

VERSION = {version}


@warmpool.job
def version():
    return VERSION
'''


def write_module(directory, version):
    path = os.path.join(directory, "reloadable.py")
    with open(path, "w") as f:
        f.write(MODULE.format(version=version))
    # Not the previous version's mtime: the byte-code cache goes by mtime and size.
    later = time.time() + 5 * version
    os.utime(path, (later, later))


def test_reload_picks_up_changed_code(pool_factory):
    code = tempfile.mkdtemp(prefix="wp-py-code-")
    try:
        write_module(code, 1)
        pool = pool_factory(modules=["reloadable"], path=[code], extra=["--grace-period", "1"])
        client = warmpool.Client(pool.name, pool.dir)
        assert client.call("reloadable.version") == 1

        stop = threading.Event()
        seen, failures = [], []

        def load():
            own = warmpool.Client(pool.name, pool.dir)
            while not stop.is_set():
                try:
                    seen.append(own.call("reloadable.version"))
                except BaseException as e:  # noqa: BLE001 - any failure fails the test
                    failures.append(e)

        thread = threading.Thread(target=load)
        thread.start()
        try:
            write_module(code, 2)
            old = set(pool.worker_pids())
            r = pool.cli("reload")
            assert r.returncode == 0, r.stderr
            assert wait_until(lambda: client.call("reloadable.version") == 2, timeout=30)

            def reloaded():
                s = pool.status()
                pids = {row["pid"] for row in s["workers"]["rows"] if row["state"] in ("idle", "busy")}
                return len(pids) == 2 and not pids & old and s["supervision"]["reloading"] is False

            assert wait_until(reloaded, timeout=30)
            time.sleep(0.05)
        finally:
            stop.set()
            thread.join(30)
        assert not failures, failures
        assert seen and set(seen) <= {1, 2}
        assert seen[-1] == 2
    finally:
        shutil.rmtree(code, ignore_errors=True)
