"""Real network namespaces and cgroups for the namespace tests, each removed by a finalizer even on failure.

Namespaces are made with ``ip netns add sockui-test-<random>-<tag>`` (so they are bind-mounted in
/run/netns and have names) and deleted with ``ip netns del``; processes are started inside them with
``ip netns exec`` or ``unshare --net`` (both exec the command: the pid we get is the process's), die with
the test process (PR_SET_PDEATHSIG) and are always reaped. Readiness is a JSON line the child prints once
its sockets exist: no sleeps.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import sockui
from sockui.collect import inet_diag
from sockui.collect.netlink import NetlinkSocket

from .holders import AS_NOBODY, read_line

#: A child that arms PR_SET_PDEATHSIG, checks its parent is the test, runs ``BODY`` and waits for EOF.
#: argv[1] is the test's pid; the body reads its own arguments from argv[2:].
CHILD_PRELUDE = r"""
import ctypes, json, os, signal, socket, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.prctl(1, signal.SIGKILL, 0, 0, 0)
if os.getppid() != int(sys.argv[1]):
    os._exit(1)
def report(**kw):
    print(json.dumps(kw), flush=True)
"""

#: Just sit there: a process in a namespace.
IDLE = CHILD_PRELUDE + "report(pid=os.getpid())\nsys.stdin.read()\n"


def require_root_and(*tools: str) -> None:
    """Skip unless root and every tool is installed."""
    if os.geteuid() != 0:
        pytest.skip("needs root (creating network namespaces and cgroups)")
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed (iproute2 / util-linux)")


def run(*args: str) -> None:
    """Run a setup command; fail the test with its stderr if it fails."""
    result = subprocess.run(list(args), capture_output=True, text=True, timeout=30, check=False)
    if result.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed: {result.stderr.strip()}")


def random_tag() -> str:
    """A short random tag for names of things a test makes."""
    return secrets.token_hex(3)


def add_netns(stack: contextlib.ExitStack, name: str) -> str:
    """``ip netns add name`` with lo up; deleted when ``stack`` closes. Skips when netns are unavailable."""
    probe = subprocess.run(
        ["ip", "netns", "add", name], capture_output=True, text=True, timeout=30, check=False
    )
    if probe.returncode != 0:
        pytest.skip(f"cannot make a network namespace here: {probe.stderr.strip()}")
    stack.callback(subprocess.run, ["ip", "netns", "del", name], capture_output=True, timeout=30, check=False)
    run("ip", "-n", name, "link", "set", "lo", "up")
    return name


def ns_path(name: str) -> str:
    """The bind mount ``ip netns add`` made."""
    return f"/run/netns/{name}"


def inode_of_path(path: str) -> int:
    """st_ino of a namespace file."""
    return os.stat(path).st_ino


def thread_netns() -> int:
    """Inode of the calling thread's network namespace."""
    return os.stat("/proc/thread-self/ns/net").st_ino


@dataclass
class Child:
    """A child process and its first report."""

    proc: subprocess.Popen[bytes]
    report: dict[str, Any]

    @property
    def pid(self) -> int:
        return self.proc.pid

    def line(self, timeout: float = 30.0) -> dict[str, Any]:
        """The next JSON line the child prints."""
        assert self.proc.stdout is not None
        data = read_line(self.proc.stdout, timeout)
        if not data:
            raise AssertionError(f"the child exited (status {self.proc.poll()})")
        result: dict[str, Any] = json.loads(data)
        return result


def stop(proc: subprocess.Popen[bytes]) -> None:
    """EOF on stdin, then SIGKILL if it lingers; always reaped."""
    if proc.stdin is not None:
        with contextlib.suppress(OSError):
            proc.stdin.close()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)
    if proc.stdout is not None:
        proc.stdout.close()


def spawn(stack: contextlib.ExitStack, prefix: list[str], code: str, *args: str) -> Child:
    """Start ``prefix + [python, -c, code, ourpid, *args]``; stopped when ``stack`` closes."""
    proc = subprocess.Popen(
        [*prefix, sys.executable, "-I", "-S", "-c", code, str(os.getpid()), *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    stack.callback(stop, proc)
    child = Child(proc, {})
    child.report = child.line()
    assert child.report.get("pid") == proc.pid, child.report
    return child


def in_netns(name: str) -> list[str]:
    """Command prefix running inside the named namespace."""
    return ["ip", "netns", "exec", name]


def dump_inet(sock: NetlinkSocket, protocol: int = inet_diag.IPPROTO_TCP) -> list[inet_diag.InetSocket]:
    """Every IPv4 and IPv6 socket of ``protocol`` the socket's namespace has."""
    addrs = inet_diag.AddressCache()
    found: list[inet_diag.InetSocket] = []
    for family in (socket.AF_INET, socket.AF_INET6):
        for payload in sock.dump(inet_diag.build_request(family, protocol)):
            decoded = inet_diag.decode(payload, protocol, addrs, attrs=False)
            if decoded is not None:
                found.append(decoded)
    return found


def socket_inodes(pid: int) -> set[int]:
    """Inodes of the sockets ``pid`` holds."""
    held: set[int] = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        with contextlib.suppress(OSError):
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
            if target.startswith("socket:["):
                held.add(int(target[8:-1]))
    return held


# -- cgroups ------------------------------------------------------------------------------------------


def cgroup2_mount() -> Path | None:
    """Where the cgroup v2 hierarchy is mounted (``/sys/fs/cgroup``, or ``…/unified`` on hybrid hosts)."""
    try:
        with open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as fh:
            for line in fh:
                before, _, after = line.partition(" - ")
                if after.split(" ", 1)[0] == "cgroup2":
                    return Path(before.split(" ")[4])
    except OSError:
        return None
    return None


def own_cgroup2_path() -> str:
    """This process's cgroup v2 path (the ``0::`` line)."""
    with open("/proc/self/cgroup", encoding="utf-8", errors="surrogateescape") as fh:
        for line in fh:
            if line.startswith("0::"):
                return line[3:].rstrip("\n")
    return "/"


@contextlib.contextmanager
def cgroup_tree(mount: Path, relative: str) -> Iterator[Path]:
    """Make ``mount/relative`` (and its parents); at the end move any process in it back to our own
    cgroup and remove the directories made, deepest first."""
    home = mount / own_cgroup2_path().lstrip("/")
    made: list[Path] = []
    path = mount
    try:
        for part in relative.split("/"):
            path = path / part
            if not path.exists():
                path.mkdir()
                made.append(path)
        yield path
    finally:
        for directory in reversed(made):
            with contextlib.suppress(OSError):
                for pid in (directory / "cgroup.procs").read_text().split():
                    with contextlib.suppress(OSError):
                        (home / "cgroup.procs").write_text(pid)
            with contextlib.suppress(OSError):
                directory.rmdir()


def move_to_cgroup(path: Path, pid: int) -> None:
    """Put ``pid`` in the cgroup at ``path``."""
    (path / "cgroup.procs").write_text(str(pid))


# -- helpers for the end-to-end namespace tests -----------------------------------------------------

#: Command prefix: a new network namespace of its own (no name), loopback brought up, then the command
#: (``unshare`` and ``sh`` both exec: the pid we get is the command's).
UNSHARE_LO_UP = ["unshare", "--net", "--", "sh", "-c", 'ip link set lo up && exec "$@"', "sh"]


def netns_of_pid(pid: int | str) -> int:
    """Inode of a process's network namespace."""
    return os.stat(f"/proc/{pid}/ns/net").st_ino


def nobody_env() -> dict[str, str]:
    """An environment in which nobody can import sockui from this checkout (whatever the venv does)."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(Path(sockui.__file__).parents[1]),
    }


def run_sockui_as_nobody(*args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    """``python -m sockui ARGS`` as nobody (setpriv, no supplementary groups); skips when nobody cannot
    run the interpreter at all (a venv under a directory only root may enter)."""
    probe = subprocess.run(
        [*AS_NOBODY, sys.executable, "-c", "import sockui.cli"],
        capture_output=True,
        text=True,
        timeout=30,
        cwd="/",
        env=nobody_env(),
        check=False,
    )
    if probe.returncode != 0:
        pytest.skip(f"nobody cannot run {sys.executable} -m sockui here: {probe.stderr.strip()[-300:]}")
    return subprocess.run(
        [*AS_NOBODY, sys.executable, "-m", "sockui", *args],
        capture_output=True,
        text=True,
        encoding="utf-8",
        errors="surrogateescape",
        timeout=timeout,
        cwd="/",
        env=nobody_env(),
        check=False,
    )


def rows_by_inode(rows: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    """``--json`` rows keyed by socket inode (rows without an inode, e.g. TIME_WAIT, left out)."""
    return {row["inode"]: row for row in rows if row["inode"]}
