"""The system-call side of the service's sandbox, read from the unit and applied with libseccomp
the way systemd applies it, so that a test can run a real pool inside it without systemd as
PID 1 (tests/packaging/unit_sandbox_test.py).

What it applies, each as systemd does (systemd.exec(5); src/shared/seccomp-util.c):
  * SystemCallFilter= (lines in order: the first without ~ makes an allow list, later ones add
    or, with ~, take away), with SystemCallErrorNumber=: any other call fails with that errno;
  * MemoryDenyWriteExecute=yes: mmap with PROT_WRITE|PROT_EXEC, mprotect and pkey_mprotect
    with PROT_EXEC, and shmat with SHM_EXEC fail with EPERM;
  * RestrictAddressFamilies= (an allow list): socket() of any other family fails with
    EAFNOSUPPORT.
Run as a program it becomes USER, loads the filters and executes COMMAND:

    python3 unit_sandbox.py UNIT USER COMMAND...
"""
import errno
import mmap
import os
import pwd
import socket
import subprocess
import sys

import seccomp

# Always allowed with an allow list, whatever it names (systemd.exec(5), SystemCallFilter=).
ALWAYS_ALLOWED = {"execve", "exit", "exit_group", "getrlimit", "rt_sigreturn", "sigreturn"}
SHM_EXEC = 0o100000


def service_settings(unit_path):
    """The [Service] settings of a unit file, each key with its values in order."""
    settings = {}
    section = None
    with open(unit_path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith(("#", ";")):
                continue
            if line.startswith("["):
                section = line
            elif section == "[Service]" and "=" in line:
                key, value = line.split("=", 1)
                settings.setdefault(key, []).append(value)
    return settings


def _expand(name, cache):
    """The system calls a name in SystemCallFilter= stands for: a group (recursively) or itself."""
    if not name.startswith("@"):
        return {name}
    if name not in cache:
        out = subprocess.run(["systemd-analyze", "syscall-filter", "--no-pager", name],
                             check=True, capture_output=True, text=True).stdout
        members = set()
        for line in out.splitlines()[1:]:
            line = line.strip()
            if line and not line.startswith("#"):
                members |= _expand(line, cache)
        cache[name] = members
    return cache[name]


def allowed_syscalls(settings):
    """The set of system calls the unit's SystemCallFilter= lines allow."""
    cache = {}
    allowed = set()
    for value in settings["SystemCallFilter"]:
        deny = value.startswith("~")
        names = set()
        for name in value.lstrip("~").split():
            names |= _expand(name, cache)
        allowed = allowed - names if deny else allowed | names
    return allowed | ALWAYS_ALLOWED


def address_families(settings):
    """The families RestrictAddressFamilies= allows (an allow list), as names."""
    families = " ".join(settings.get("RestrictAddressFamilies", [])).split()
    if any(f.startswith("~") for f in families):
        raise ValueError("only an allow list of RestrictAddressFamilies= is supported here")
    return families


def _add_allowed(f, name):
    try:
        f.add_rule(seccomp.ALLOW, name)
    except (RuntimeError, ValueError, OSError):
        pass  # a name this architecture does not have (chown32 on x86-64)


def filters(settings):
    """The seccomp filters the unit's settings make, the allow list last: once it is loaded,
    loading another filter may be one of the calls it refuses."""
    made = []
    if settings.get("MemoryDenyWriteExecute", ["no"])[-1] == "yes":
        wx = seccomp.SyscallFilter(defaction=seccomp.ALLOW)
        deny = seccomp.ERRNO(errno.EPERM)
        write_exec = mmap.PROT_WRITE | mmap.PROT_EXEC
        wx.add_rule(deny, "mmap", seccomp.Arg(2, seccomp.MASKED_EQ, write_exec, write_exec))
        wx.add_rule(deny, "mprotect", seccomp.Arg(2, seccomp.MASKED_EQ, mmap.PROT_EXEC, mmap.PROT_EXEC))
        wx.add_rule(deny, "pkey_mprotect", seccomp.Arg(2, seccomp.MASKED_EQ, mmap.PROT_EXEC, mmap.PROT_EXEC))
        wx.add_rule(deny, "shmat", seccomp.Arg(2, seccomp.MASKED_EQ, SHM_EXEC, SHM_EXEC))
        made.append(wx)

    families = address_families(settings)
    if families:
        numbers = sorted(int(getattr(socket, name)) for name in families)
        sockets = seccomp.SyscallFilter(defaction=seccomp.ALLOW)
        # Every family below, between and above the allowed ones is refused.
        low = 0
        for number in numbers + [65536]:
            for family in range(low, min(number, 64)):
                sockets.add_rule(seccomp.ERRNO(errno.EAFNOSUPPORT), "socket", seccomp.Arg(0, seccomp.EQ, family))
            low = number + 1
        made.append(sockets)

    errno_name = settings.get("SystemCallErrorNumber", ["EPERM"])[-1]
    allow_list = seccomp.SyscallFilter(defaction=seccomp.ERRNO(getattr(errno, errno_name)))
    for name in sorted(allowed_syscalls(settings)):
        _add_allowed(allow_list, name)
    made.append(allow_list)
    return made


def main():
    unit_path, user, command = sys.argv[1], sys.argv[2], sys.argv[3:]
    settings = service_settings(unit_path)
    entry = pwd.getpwnam(user)
    os.setgroups([])
    os.setgid(entry.pw_gid)
    os.setuid(entry.pw_uid)
    os.umask(int(settings.get("UMask", ["0022"])[-1], 8))
    for f in filters(settings):  # each sets no_new_privs first, as NoNewPrivileges=yes does
        f.load()
    os.execv(command[0], command)


if __name__ == "__main__":
    main()
