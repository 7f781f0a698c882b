#!/usr/bin/env python3
"""The service's sandbox against what a pool really does.

systemd is not PID 1 here, so the unit cannot be started; instead a real pool runs the way the
unit would run it: as an unprivileged user, inside the unit's system-call filter, its
MemoryDenyWriteExecute= and RestrictAddressFamilies= applied with libseccomp as systemd applies
them (unit_sandbox.py), with NOTIFY_SOCKET, and under strace. It serves C++ jobs, Python jobs
that use NumPy and a ctypes callback, functions sent by value, payloads through shared memory,
a map, a timeout, a crash, a reload and a stop, and every answer must be right. No process of
the pool may even try a system call the filter refuses (a refused call fails with EPERM, which
could go unnoticed); what MemoryDenyWriteExecute= and RestrictAddressFamilies= refused is
listed, the jobs having worked regardless (libffi, for instance, first asks for writable and
executable memory and on EPERM maps a memfd twice instead).

    unit_sandbox_test.py SOURCE_DIR BUILD_DIR
"""
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import unit_sandbox

POOL = "sandbox"
DAEMON_USER = "nobody"


def fail(message):
    print(f"FAIL: {message}", file=sys.stderr)
    sys.exit(1)


def read_notifications(sock, want, deadline):
    """Reads sd_notify datagrams until one holds `want`; returns them all."""
    seen = []
    while time.monotonic() < deadline:
        sock.settimeout(max(0.1, deadline - time.monotonic()))
        try:
            message = sock.recv(4096).decode()
        except socket.timeout:
            break
        seen.append(message)
        if want in message.split("\n"):
            return seen
    fail(f"no {want} from the daemon; notifications: {seen}")


def children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children", encoding="ascii") as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


def main():
    source_dir, build_dir = sys.argv[1], sys.argv[2]
    unit = os.path.join(source_dir, "systemd", "warmpoold@.service.in")
    settings = unit_sandbox.service_settings(unit)
    allowed = unit_sandbox.allowed_syscalls(settings)
    families = unit_sandbox.address_families(settings)

    warmpoold = os.path.join(build_dir, "bin", "warmpoold")
    cli = os.path.join(build_dir, "bin", "warmpool")
    user = pwd.getpwnam(DAEMON_USER)

    scratch = tempfile.mkdtemp(prefix="warmpool-sandbox-")
    daemon = None
    try:
        os.chmod(scratch, 0o755)
        run_dir = os.path.join(scratch, "run")
        os.mkdir(run_dir, 0o755)
        os.chown(run_dir, user.pw_uid, user.pw_gid)
        jobs_dir = os.path.join(scratch, "py")
        os.mkdir(jobs_dir)
        shutil.copy(os.path.join(source_dir, "tests", "packaging", "sandbox_jobs.py"), jobs_dir)
        trace = os.path.join(scratch, "trace")

        # The daemon's readiness and reloads arrive here, as they would at systemd.
        notify_path = os.path.join(scratch, "notify")
        notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        notify.bind(notify_path)
        os.chmod(notify_path, 0o777)

        env = dict(os.environ, NOTIFY_SOCKET=notify_path)
        daemon_log = open(os.path.join(scratch, "daemon.log"), "w")
        daemon = subprocess.Popen(
            ["strace", "-f", "-qq", "-s", "0", "-o", trace,
             sys.executable, unit_sandbox.__file__, unit, DAEMON_USER, warmpoold, "--name", POOL, "--runtime-dir", run_dir, "--workers", "2",
             "--cpu-affinity", "spread", "--python-module", "sandbox_jobs", "--python-path", jobs_dir],
            env=env, stdout=daemon_log, stderr=subprocess.STDOUT, cwd="/")
        read_notifications(notify, "READY=1", time.monotonic() + 120)

        def cli_run(*args, stdin=None, expect=0):
            done = subprocess.run([cli, "--runtime-dir", run_dir, "--pool", POOL, *args], input=stdin,
                                  capture_output=True, text=True, timeout=120)
            if done.returncode != expect:
                fail(f"warmpool {' '.join(args)} exited {done.returncode}: {done.stderr}")
            return done.stdout.strip()

        if cli_run("call", "gcd", "[12, 18]") != "6":
            fail("gcd gave a wrong answer")
        if cli_run("call", "sandbox_jobs.numpy_dot", "[1, 2, 3]") != "14.0":
            fail("numpy_dot gave a wrong answer")
        got = cli_run("call", "sandbox_jobs.ctypes_sort", "[5, 3, 9, 1]")
        if got.replace(" ", "") != "[1,3,5,9]":
            fail(f"ctypes_sort gave a wrong answer: {got}")
        big = '"' + "x" * 100_000 + '"'  # past inline_max (64 KiB): a blob each way
        if len(cli_run("call", "echo", big)) != len(big):
            fail("a 100 kB echo came back changed")
        if cli_run("map", "gcd", stdin="[12, 18]\n[35, 49]\n").split() != ["6", "7"]:
            fail("map gcd gave wrong answers")
        cli_run("call", "--timeout", "0.2", "hang", "0", expect=1)
        cli_run("call", "crash", "0", expect=1)
        client = subprocess.run(
            [sys.executable, "-c",
             "import sys, numpy, warmpool\n"
             "with warmpool.Client(sys.argv[1], sys.argv[2]) as pool:\n"
             "    a = numpy.arange(1 << 18, dtype=numpy.int64)\n"
             "    assert pool.call(lambda x: x * 2, 21) == 42\n"
             "    assert (pool.call(lambda v: v + 1, a) == a + 1).all()\n",
             POOL, run_dir],
            env=dict(os.environ, PYTHONPATH=os.path.join(build_dir, "python")),
            capture_output=True, text=True, timeout=120)
        if client.returncode != 0:
            fail(f"the Python client failed: {client.stderr}")
        cli_run("status", "--json")
        cli_run("reload")
        read_notifications(notify, "READY=1", time.monotonic() + 120)
        if cli_run("call", "gcd", "[35, 49]") != "7":
            fail("gcd gave a wrong answer after the reload")
        cli_run("stop")
        status = daemon.wait(timeout=120)
        daemon = None
        if status != 0:
            fail(f"warmpoold exited {status} under strace")
        check_trace(trace, warmpoold, allowed, families)
    except SystemExit:
        with open(os.path.join(scratch, "daemon.log"), encoding="utf-8", errors="replace") as log:
            print("the daemon's log:\n" + log.read()[-8000:], file=sys.stderr)
        raise
    finally:
        if daemon is not None:
            # strace's one child is the supervisor (the sandbox executed warmpoold in place); its
            # workers die with it (parent-death signal). A killed strace would only detach it.
            for pid in children(daemon.pid):
                os.kill(pid, signal.SIGKILL)
            daemon.kill()
            daemon.wait()
        shutil.rmtree(scratch, ignore_errors=True)


# "<... name resumed>" lines do not match: the call was counted at its start.
CALL = re.compile(r"^(\d+) +([a-z0-9_]+)\((.*)")


def refused_by_other_filters(name, args, families):
    """Whether MemoryDenyWriteExecute=yes or RestrictAddressFamilies= refuses this call, judged by
    its arguments as the filters do (its result may be on a later "resumed" line)."""
    if name == "mmap":
        return "PROT_WRITE" in args and "PROT_EXEC" in args
    if name in ("mprotect", "pkey_mprotect"):
        return "PROT_EXEC" in args
    if name == "shmat":
        return "SHM_EXEC" in args
    if name == "socket":
        return args.split(",", 1)[0] not in families
    return False


def check_trace(trace, warmpoold, allowed, families):
    """Fails on any call the filter refuses; lists what the other two filters refused."""
    refused = {}
    restricted = []
    first_pid = None
    started = False  # what the sandbox's own Python did before it executed warmpoold is not the pool's
    with open(trace, encoding="utf-8", errors="replace") as f:
        for line in f:
            m = CALL.match(line)
            if not m:
                continue
            pid, name, rest = m.group(1), m.group(2), m.group(3)
            first_pid = first_pid or pid
            if not started:
                started = pid == first_pid and name == "execve" and rest.startswith(f'"{warmpoold}"')
                continue
            if name not in allowed:
                refused.setdefault(name, line.strip())
            elif refused_by_other_filters(name, rest, families):
                restricted.append(line.strip())
    if not started:
        fail("the trace never saw warmpoold start")
    if refused:
        fail("system calls the unit's SystemCallFilter= refuses:\n  " + "\n  ".join(refused.values()))
    for line in restricted:
        print(f"refused by the sandbox, and the jobs worked regardless: {line}")
    print(f"ok: every system call of the pool passes the unit's filter ({len(allowed)} allowed)")


if __name__ == "__main__":
    main()
