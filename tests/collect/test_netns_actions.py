"""Acting on a socket of another network namespace: follow it, copy an ss command for it, close it.

The kernel answers sock_diag queries (and SOCK_DESTROY) about the namespace the netlink socket was
made in, and ``ss`` lists the namespace it runs in. So each of these must reach into the socket's
namespace: proved here on a named namespace (``ip netns add``) where a child holds a loopback TCP
connection whose 4-tuple also exists, as a different connection, in our own namespace. A look that
asked our namespace would find our twin; a close sent from our namespace would close our twin (or
nothing). Everything the test makes is removed by an ExitStack, also on failure.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
from collections.abc import Iterator

import pytest

from sockui.act.destroy import destroy, ss_kill_command
from sockui.collect.follow import FollowPoller
from sockui.collect.snapshot import Collector
from sockui.model.copytext import copy_items
from sockui.model.follow import FlowId, Observation
from sockui.model.socket import InetEndpoint, SocketRecord

from .netns_support import (
    CHILD_PRELUDE,
    add_netns,
    in_netns,
    inode_of_path,
    ns_path,
    random_tag,
    require_root_and,
    spawn,
)

#: In the namespace: a listener on 127.0.0.1:PORT, a client bound to CLIENT_PORT, the accepted end.
#: argv[2], argv[3]: the ports. Holds them until stdin closes.
CONNECTION = (
    CHILD_PRELUDE
    + r"""
listener = socket.socket(); listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind(("127.0.0.1", int(sys.argv[2]))); listener.listen(4)
client = socket.socket(); client.bind(("127.0.0.1", int(sys.argv[3])))
client.connect(("127.0.0.1", int(sys.argv[2])))
server, _ = listener.accept()
report(pid=os.getpid())
sys.stdin.read()
"""
)


def _free_port_pair() -> tuple[int, int]:
    with socket.socket() as a, socket.socket() as b:
        a.bind(("127.0.0.1", 0))
        b.bind(("127.0.0.1", 0))
        return a.getsockname()[1], b.getsockname()[1]


class Twin:
    """The same loopback 4-tuple in our namespace, held by this process."""

    def __init__(self, port: int, client_port: int) -> None:
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", port))
        self.listener.listen(4)
        self.client = socket.socket()
        self.client.bind(("127.0.0.1", client_port))
        self.client.connect(("127.0.0.1", port))
        self.server, _ = self.listener.accept()

    def close(self) -> None:
        for s in (self.client, self.server, self.listener):
            s.close()

    def client_alive(self) -> bool:
        self.client.setblocking(False)
        try:
            return self.client.recv(1) != b""
        except BlockingIOError:
            return True
        except OSError:
            return False


@pytest.fixture
def world() -> Iterator[tuple[str, int, int, int, Twin, int]]:
    """(namespace name, its inode, port, client port, our twin connection, child pid)."""
    require_root_and("ip")
    with contextlib.ExitStack() as stack:
        name = add_netns(stack, f"sockui-test-{random_tag()}-act")
        port, client_port = _free_port_pair()
        twin = Twin(port, client_port)
        stack.callback(twin.close)
        child = spawn(stack, in_netns(name), CONNECTION, str(port), str(client_port))
        yield name, inode_of_path(ns_path(name)), port, client_port, twin, child.pid


def _client_in(records: tuple[SocketRecord, ...], netns: int, client_port: int) -> SocketRecord:
    found = [
        r
        for r in records
        if r.netns == netns and isinstance(r.local, InetEndpoint) and r.local.port == client_port
    ]
    assert len(found) == 1, found
    return found[0]


def test_copied_ss_command_runs_in_the_sockets_namespace(world: tuple[str, int, int, int, Twin, int]) -> None:
    name, netns, port, client_port, _twin, pid = world
    with Collector() as collector:
        client = _client_in(collector.collect().sockets, netns, client_port)
    items = {item.key: item for item in copy_items(client)}
    command = items["s"].text
    assert command is not None and command.startswith(f"nsenter -t {pid} -n ss "), command
    # Run what a user would paste: it lists exactly that socket, from inside the namespace.
    out = subprocess.run(["sh", "-c", command], capture_output=True, text=True, timeout=30, check=True).stdout
    rows = [line for line in out.splitlines()[1:] if line.strip()]
    assert len(rows) == 1 and f"127.0.0.1:{client_port}" in rows[0] and f"127.0.0.1:{port}" in rows[0], out
    kill = items["k"].text
    assert kill is not None and kill.startswith(f"nsenter -t {pid} -n ss -K "), kill
    assert ss_kill_command(client).startswith(f"nsenter -t {pid} -n ss -K "), ss_kill_command(client)
    # Our twin, in our own namespace, gets a plain command.
    with Collector() as collector:
        ours = _client_in(collector.collect().sockets, _own_netns(), client_port)
    plain = {item.key: item for item in copy_items(ours)}["s"].text
    assert plain is not None and plain.startswith("ss "), plain


def _own_netns() -> int:
    return inode_of_path("/proc/self/ns/net")


def test_follow_looks_in_the_sockets_namespace(world: tuple[str, int, int, int, Twin, int]) -> None:
    _name, netns, _port, client_port, _twin, _pid = world
    with Collector() as collector:
        records = collector.collect().sockets
    theirs = _client_in(records, netns, client_port)
    ours = _client_in(records, _own_netns(), client_port)
    flows = [FlowId.of(theirs), FlowId.of(ours)]
    assert flows[0] != flows[1], "the same 4-tuple in two namespaces is two flows"
    assert "sockui-test-" in flows[0].label(), flows[0].label()
    batches: list[list[Observation]] = []
    poller = FollowPoller(lambda batch: batches.append(list(batch)), period=0.05)
    try:
        for flow in flows:
            poller.follow(flow)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not any(len(b) == 2 for b in batches):
            time.sleep(0.02)
    finally:
        poller.stop()
    batch = next(b for b in batches if len(b) == 2)
    by_flow = {o.flow: o for o in batch}
    assert by_flow[flows[0]].found and by_flow[flows[0]].error is None, by_flow[flows[0]]
    assert by_flow[flows[1]].found, by_flow[flows[1]]
    # Each look found its own namespace's socket: the cookies are those the dumps gave.
    assert by_flow[flows[0]].cookie == theirs.cookie
    assert by_flow[flows[1]].cookie == ours.cookie


def test_close_reaches_into_the_namespace(world: tuple[str, int, int, int, Twin, int]) -> None:
    _name, netns, _port, client_port, twin, _pid = world
    with Collector() as collector:
        theirs = _client_in(collector.collect().sockets, netns, client_port)
        result = destroy(theirs)
        assert result.ok, result
        # Gone from the namespace's table, and our twin with the same 4-tuple untouched.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            after = collector.collect().sockets
            still = [
                r
                for r in after
                if r.netns == netns
                and isinstance(r.local, InetEndpoint)
                and r.local.port == client_port
                and r.cookie == theirs.cookie
                and r.state == "ESTABLISHED"
            ]
            if not still:
                break
            time.sleep(0.05)
        assert not still, still
        assert twin.client_alive(), "the close hit our namespace's twin"
        _client_in(collector.collect().sockets, _own_netns(), client_port)
