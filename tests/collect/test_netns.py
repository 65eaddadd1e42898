"""Sockets of another network namespace: counted, said on stderr, never listed (as root, real namespace).

A child process runs in a network namespace of its own (``unshare --net``, loopback brought up
inside). There it opens a TCP listener on 127.0.0.1, connects a client to it and accepts, binds a
UDP socket and makes a UNIX socket pair, then reports its pid and the inodes of those sockets. None
of them is in this namespace's kernel tables; sockui finds them only through the child's fd table.
Calling them "unbound" would be wrong (a listener is not unbound), so they must be left out of the
listing and counted in ``Snapshot.other_netns``, which ``--once`` reports on stderr.

The namespace has no name (no ``ip netns add``): it exists only as long as the child does, and the
fixture kills and reaps the child whatever happens.
"""

from __future__ import annotations

import array
import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from sockui.collect.snapshot import Collector
from sockui.model.coverage import netns_note

from .holders import read_line, run_sockui

#: The child (stdlib only). argv[1] is the parent pid, for PR_SET_PDEATHSIG.
CHILD = r"""
import ctypes, json, os, signal, socket, struct, sys

libc = ctypes.CDLL(None, use_errno=True)
libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG: die with the test process
if os.getppid() != int(sys.argv[1]):
    os._exit(1)
listener = socket.create_server(("127.0.0.1", 0))
client = socket.create_connection(listener.getsockname(), timeout=5)
server, _ = listener.accept()
for s in (client, server):
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
udp.bind(("127.0.0.1", 0))
left, right = socket.socketpair()
socks = {"tcp_listener": listener, "tcp_client": client, "tcp_server": server, "udp": udp,
         "unix_left": left, "unix_right": right}
inodes = {name: os.fstat(s.fileno()).st_ino for name, s in socks.items()}
print(json.dumps({"pid": os.getpid(), "inodes": inodes}), flush=True)
sys.stdin.read()
"""

#: The note of sockui/model/coverage.py ``netns_note``, as ``--once`` prints it on stderr.
NOTE = re.compile(r"sockui: (\d+) sockets? held by processes in other network namespaces are not listed")


@dataclass
class NetnsChild:
    """The child in its own network namespace and the inodes of the sockets it holds."""

    proc: subprocess.Popen[bytes]
    inodes: dict[str, int]

    @property
    def pid(self) -> int:
        return self.proc.pid


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """EOF on stdin, then SIGKILL if it lingers; always reaped."""
    if proc.stdin is not None:
        with contextlib.suppress(OSError):
            proc.stdin.close()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def _netns(pid: int | str) -> int:
    return os.stat(f"/proc/{pid}/ns/net").st_ino


@pytest.fixture(scope="module")
def netns_child() -> Iterator[NetnsChild]:
    """The child, started in a new network namespace; killed and reaped at the end, also on failure."""
    if os.geteuid() != 0:
        pytest.skip("creating a network namespace needs root")
    unshare, ip = shutil.which("unshare"), shutil.which("ip")
    if unshare is None or ip is None:
        pytest.skip("unshare (util-linux) and ip (iproute2) are needed to make a network namespace")
    probe = subprocess.run(
        [unshare, "--net", "--", ip, "link", "set", "lo", "up"], capture_output=True, text=True, timeout=30
    )
    if probe.returncode != 0:
        pytest.skip(f"network namespaces are not available here: {probe.stderr.strip()}")
    wrapper = ["sh", "-c", f'{ip} link set lo up && exec "$@"', "sh"]
    proc = subprocess.Popen(
        [unshare, "--net", "--", *wrapper, sys.executable, "-I", "-S", "-c", CHILD, str(os.getpid())],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        line = read_line(proc.stdout, 30.0)
        if not line:
            raise AssertionError(f"the child exited before reporting (status {proc.wait(5)})")
        report: dict[str, Any] = json.loads(line)
        # unshare and sh exec: the process we started is the one holding the sockets.
        assert report["pid"] == proc.pid
        assert _netns(proc.pid) != _netns("self"), "the child is in our own network namespace"
        yield NetnsChild(proc, {str(k): int(v) for k, v in report["inodes"].items()})
    finally:
        _stop(proc)


def _still_there(child: NetnsChild) -> None:
    """The child is alive and still holds every socket (else the test would prove nothing)."""
    assert child.proc.poll() is None, "the child died"
    held = set()
    for fd in os.listdir(f"/proc/{child.pid}/fd"):
        target = os.readlink(f"/proc/{child.pid}/fd/{fd}")
        if target.startswith("socket:["):
            held.add(int(target[8:-1]))
    assert set(child.inodes.values()) <= held


def test_once_leaves_other_namespaces_out_and_says_so(netns_child: NetnsChild) -> None:
    result = run_sockui("--once", "--json")
    assert result.returncode == 0, result.stderr
    _still_there(netns_child)
    rows = json.loads(result.stdout)
    assert rows, "sockui listed nothing at all"
    listed = {row["inode"] for row in rows}
    leaked = {name: ino for name, ino in netns_child.inodes.items() if ino in listed}
    unbound = [row for row in rows if row["inode"] in leaked and row["binding"] == "unbound"]
    assert not unbound, f"sockets of another namespace listed as unbound: {unbound}"
    assert not leaked, f"sockets of another namespace listed: {leaked}"
    assert not any(pid == netns_child.pid for row in rows for pid in (p["pid"] for p in row["processes"]))
    notes = NOTE.findall(result.stderr)
    assert len(notes) == 1, f"no (or more than one) netns note on stderr: {result.stderr!r}"
    assert int(notes[0]) >= len(netns_child.inodes), result.stderr


def test_collector_counts_other_namespaces(netns_child: NetnsChild) -> None:
    with Collector() as collector:
        snapshot = collector.collect()
    _still_there(netns_child)
    theirs = set(netns_child.inodes.values())
    assert not [r for r in snapshot.sockets if r.inode in theirs]
    assert not [r for r in snapshot.sockets if netns_child.pid in r.pids]
    assert snapshot.other_netns >= len(theirs)
    note = netns_note(snapshot)
    assert note is not None and note.startswith(f"{snapshot.other_netns} sockets held by")


_PASS_CHILD = r"""
import array, socket, sys
listener = socket.create_server(("127.0.0.1", 0))
link = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
link.connect(sys.argv[1])
link.sendmsg([b"x"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [listener.fileno()]))])
sys.stdin.read()
"""


def test_socket_passed_into_our_namespace_is_still_the_other_ones(tmp_path: Path) -> None:
    """A listener made in another namespace and passed (SCM_RIGHTS) to this process: its holder is in
    our namespace, the socket is not. Judging by the holder would call it "unbound"; sockui asks the
    socket itself (pidfd_getfd + SIOCGSKNS) and counts it as another namespace's."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("needs root and unshare (util-linux) to make a network namespace")
    path = str(tmp_path / "pass.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(1)
    child = subprocess.Popen(
        ["unshare", "--net", "--", sys.executable, "-c", _PASS_CHILD, path],
        stdin=subprocess.PIPE,
    )
    passed: socket.socket | None = None
    conn: socket.socket | None = None
    try:
        server.settimeout(30)
        conn, _ = server.accept()
        conn.settimeout(30)
        _msg, ancillary, _flags, _addr = conn.recvmsg(1, socket.CMSG_LEN(4))
        fds = array.array("i")
        fds.frombytes(ancillary[0][2][:4])
        passed = socket.socket(fileno=fds[0])
        inode = os.fstat(passed.fileno()).st_ino
        _stop(child)  # now this process is the only holder
        with Collector() as collector:
            snapshot = collector.collect()
        assert [r for r in snapshot.sockets if r.inode == inode] == [], "listed as one of ours"
        assert snapshot.other_netns >= 1
    finally:
        _stop(child)
        for sock in (passed, conn, server):
            if sock is not None:
                sock.close()
