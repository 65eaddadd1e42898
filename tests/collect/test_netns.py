"""Sockets of another network namespace, as root: listed as that namespace's, with their real state.

A child process runs in a network namespace of its own (``unshare --net``, loopback brought up inside;
no ``ip netns`` name). There it opens a TCP listener on 127.0.0.1, connects a client to it and accepts,
binds a UDP socket and makes a UNIX socket pair, then reports its pid and the inodes of those sockets.
None of them is in our namespace's kernel tables. As root sockui enters the child's namespace (found
through ``/proc/PID/ns/net``) and reads its tables, so each socket must be listed with its real binding
state (listener "listening", client and server "connected" and paired with each other, UDP "bound",
the UNIX pair "connected" and paired), with the child's namespace inode as ``netns`` and a label that
is not ``host`` (``net:[INODE]`` here, or the container the test runs in), never as "unbound", and
nothing is counted in ``Snapshot.other_netns``.

A listener made in another namespace and passed (SCM_RIGHTS) into this process belongs to the
namespace it was made in, not to its holder's. Two cases, both checked:

- while the child that made it still runs, the namespace is found through the child and the socket is
  listed there (``netns`` is that namespace, "listening"), with both holders, us included. So is our
  end of the UNIX connection it came over: the kernel makes the accepted end of a UNIX connection in
  the connecting socket's namespace, even when the listener is ours;
- once the child is gone, those two sockets alone pin the namespace: it still exists (the sockets say
  so through SIOCGSKNS) but no process and no bind mount leads to it, so sockui cannot discover it.
  They must then not be listed (not as ours, not as "unbound") but counted in ``other_netns``, and the
  netns note must say something is not shown.

Children are killed and reaped by finalizers whatever happens; the unnamed namespaces go with them.
"""

from __future__ import annotations

import array
import contextlib
import json
import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from sockui.collect.snapshot import Collector
from sockui.collect.sockns import socket_netns
from sockui.model.coverage import netns_note, unread_namespaces
from sockui.model.socket import Binding, Snapshot, SocketRecord

from .holders import run_sockui
from .netns_support import (
    CHILD_PRELUDE,
    UNSHARE_LO_UP,
    Child,
    netns_of_pid,
    require_root_and,
    rows_by_inode,
    socket_inodes,
    spawn,
    stop,
)

#: The child: one socket of each kind, reported by inode.
CHILD = (
    CHILD_PRELUDE
    + r"""
import struct
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
report(pid=os.getpid(), inodes={name: os.fstat(s.fileno()).st_ino for name, s in socks.items()})
sys.stdin.read()
"""
)

#: The binding state each of the child's sockets must be listed with.
BINDINGS = {
    "tcp_listener": "listening",
    "tcp_client": "connected",
    "tcp_server": "connected",
    "udp": "bound",
    "unix_left": "connected",
    "unix_right": "connected",
}
#: Pairs that must point at each other (peer_inode both ways).
PEERS = (("tcp_client", "tcp_server"), ("unix_left", "unix_right"))


@dataclass
class NetnsChild:
    """The child in its own network namespace, that namespace and the inodes of the sockets it holds."""

    child: Child
    netns: int
    inodes: dict[str, int]

    @property
    def pid(self) -> int:
        return self.child.pid

    def still_there(self) -> None:
        """The child is alive and still holds every socket (else the test would prove nothing)."""
        assert self.child.proc.poll() is None, "the child died"
        assert set(self.inodes.values()) <= socket_inodes(self.pid)


@pytest.fixture(scope="module")
def netns_child() -> Iterator[NetnsChild]:
    """The child, started in a new network namespace; killed and reaped at the end, also on failure."""
    require_root_and("unshare", "ip")
    with contextlib.ExitStack() as stack:
        try:
            child = spawn(stack, UNSHARE_LO_UP, CHILD)
        except AssertionError as exc:
            pytest.skip(f"network namespaces are not available here: {exc}")
        netns = netns_of_pid(child.pid)
        assert netns != netns_of_pid("self"), "the child is in our own network namespace"
        yield NetnsChild(child, netns, {str(k): int(v) for k, v in child.report["inodes"].items()})


def _label_ok(label: str, netns: int) -> bool:
    """Not ours; ``net:[INODE]`` of that very namespace unless a container's label names it."""
    return label != "host" and (label == f"net:[{netns}]" or not label.startswith("net:["))


def test_once_lists_another_namespaces_sockets_as_they_are(netns_child: NetnsChild) -> None:
    result = run_sockui("--once", "--json")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    netns_child.still_there()
    rows = rows_by_inode(json.loads(result.stdout))
    for name, inode in netns_child.inodes.items():
        row = rows.get(inode)
        assert row is not None, f"{name} of the child's namespace not listed"
        assert row["binding"] == BINDINGS[name], (name, row)
        assert row["netns"]["inode"] == netns_child.netns, (name, row)
        assert _label_ok(row["netns"]["name"], netns_child.netns), (name, row)
        assert [p["pid"] for p in row["processes"]] == [netns_child.pid], (name, row)
    for one, other in PEERS:
        assert rows[netns_child.inodes[one]]["peer_inode"] == netns_child.inodes[other], one
        assert rows[netns_child.inodes[other]]["peer_inode"] == netns_child.inodes[one], other
    assert len({rows[i]["netns"]["name"] for i in netns_child.inodes.values()}) == 1


def test_filter_by_the_label_or_inode_of_an_unnamed_namespace(netns_child: NetnsChild) -> None:
    """``net:[INODE]`` holds brackets (a glob class): typed out in full it must still match, and so
    must the bare inode number."""
    for text in (f"net:[{netns_child.netns}]", str(netns_child.netns)):
        result = run_sockui("--once", "--json", "--filter", f"netns {text}")
        assert result.returncode == 0, result.stderr
        rows = json.loads(result.stdout)
        assert {row["netns"]["inode"] for row in rows} == {netns_child.netns}, (text, rows)
        assert set(netns_child.inodes.values()) <= {row["inode"] for row in rows}, text


def _by_inode(snapshot: Snapshot) -> dict[int, SocketRecord]:
    return {r.inode: r for r in snapshot.sockets if r.inode}


def test_collector_lists_another_namespace_and_counts_nothing_elsewhere(netns_child: NetnsChild) -> None:
    with Collector() as collector:
        snapshot = collector.collect()
    netns_child.still_there()
    records = _by_inode(snapshot)
    for name, inode in netns_child.inodes.items():
        record = records.get(inode)
        assert record is not None, f"{name} not listed"
        assert record.binding == Binding(BINDINGS[name]), (name, record)
        assert record.netns == netns_child.netns, (name, record)
        assert _label_ok(record.netns_label, netns_child.netns), (name, record)
        assert record.pids == (netns_child.pid,), (name, record)
    for one, other in PEERS:
        assert records[netns_child.inodes[one]].peer_inode == netns_child.inodes[other], one
        assert records[netns_child.inodes[other]].peer_inode == netns_child.inodes[one], other
    unbound = [r for r in snapshot.sockets if r.binding == Binding.UNBOUND and netns_child.pid in r.pids]
    assert not unbound, unbound
    info = snapshot.namespaces[netns_child.netns]
    assert (info.own, info.unread, info.pid) == (False, None, netns_child.pid)
    assert info.label == records[netns_child.inodes["tcp_listener"]].netns_label
    assert netns_child.netns not in {ns.inode for ns in unread_namespaces(snapshot)}
    assert snapshot.other_netns == 0


# -- a socket passed across namespaces ----------------------------------------------------------------

#: Makes a listener in its own namespace, passes it over the UNIX socket at argv[2], reports its inode.
_PASS_CHILD = (
    CHILD_PRELUDE
    + r"""
import array
listener = socket.create_server(("127.0.0.1", 0))
link = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
link.connect(sys.argv[2])
link.sendmsg([b"x"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [listener.fileno()]))])
report(pid=os.getpid(), inode=os.fstat(listener.fileno()).st_ino)
sys.stdin.read()
"""
)


@contextlib.contextmanager
def _passed_listener(tmp_path: Path) -> Iterator[tuple[Child, socket.socket, socket.socket, int]]:
    """A child in a namespace of its own passes us a listener made there: the child, our copy of the
    listener, our end of the UNIX connection it came over and the child's namespace inode. Everything
    closed and reaped at the end."""
    require_root_and("unshare", "ip")
    with contextlib.ExitStack() as stack:
        path = str(tmp_path / "pass.sock")
        server = stack.enter_context(socket.socket(socket.AF_UNIX, socket.SOCK_STREAM))
        server.bind(path)
        server.listen(1)
        server.settimeout(30)
        # The child reports after connecting and sending; the message waits in our queue till we accept.
        child = spawn(stack, UNSHARE_LO_UP, _PASS_CHILD, path)
        netns = netns_of_pid(child.pid)
        conn = stack.enter_context(server.accept()[0])
        conn.settimeout(30)
        _msg, ancillary, _flags, _addr = conn.recvmsg(1, socket.CMSG_LEN(4))
        fds = array.array("i")
        fds.frombytes(ancillary[0][2][:4])
        passed = stack.enter_context(socket.socket(fileno=fds[0]))
        assert os.fstat(passed.fileno()).st_ino == child.report["inode"]
        assert netns != netns_of_pid("self")
        yield child, passed, conn, netns


def test_passed_socket_is_listed_in_its_namespace_while_that_is_reachable(tmp_path: Path) -> None:
    """Held by us (in our namespace) and by the child (in its own): it is the child's namespace's.

    So is our end of the UNIX connection it came over, although we accepted it on a listener of our
    own namespace: the kernel makes the accepted end of a UNIX connection in the connecting socket's
    namespace (unix_stream_connect). sockui finds it in the child's unix_diag dump, where it is."""
    with _passed_listener(tmp_path) as (child, passed, conn, netns):
        inode = os.fstat(passed.fileno()).st_ino
        with Collector() as collector:
            snapshot = collector.collect()
        assert child.proc.poll() is None
        (record,) = [r for r in snapshot.sockets if r.inode == inode]
        assert record.netns == netns and record.netns_label != "host", record
        assert record.binding == Binding.LISTENING, record
        assert {os.getpid(), child.pid} <= set(record.pids), record
        (accepted,) = [r for r in snapshot.sockets if r.inode == os.fstat(conn.fileno()).st_ino]
        assert (accepted.netns, accepted.binding, accepted.pids) == (netns, Binding.CONNECTED, (os.getpid(),))
        assert socket_netns(os.getpid(), conn.fileno()) == netns, "the kernel fact the above relies on"
        assert snapshot.other_netns == 0


def test_passed_socket_whose_namespace_cannot_be_found_is_counted_not_listed(tmp_path: Path) -> None:
    """Only the passed socket keeps the child's namespace alive once the child is gone, and sockui finds
    namespaces through processes and bind mounts, not through sockets: it cannot read that namespace's
    tables. The socket must not pass for one of ours (nor for "unbound"): it is counted in
    ``other_netns`` and the netns note says something is missing. (Should sockui learn to enter a
    namespace through the socket itself — SIOCGSKNS gives an fd of it — this test must expect the
    listing of the test above instead.) Our accepted end of the UNIX connection the listener came over
    belongs to that namespace too (see above): it is counted as well."""
    with _passed_listener(tmp_path) as (child, passed, conn, netns):
        inode = os.fstat(passed.fileno()).st_ino
        stop(child.proc)  # now this process is the only holder
        assert child.proc.poll() is not None
        # The namespace lives on, pinned by the socket: the socket itself still names it.
        assert socket_netns(os.getpid(), passed.fileno()) == netns
        with Collector() as collector:
            snapshot = collector.collect()
        assert netns not in snapshot.namespaces, "no process or mount leads to it any more"
        theirs = {inode, os.fstat(conn.fileno()).st_ino}
        assert socket_netns(os.getpid(), conn.fileno()) == netns
        listed = [r for r in snapshot.sockets if r.inode in theirs]
        assert listed == [], f"listed although their namespace was not read: {listed}"
        assert snapshot.other_netns >= len(theirs)
        note = netns_note(snapshot)
        assert note is not None and "not shown" in note, note
