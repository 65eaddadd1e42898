"""Closing sockets with SOCK_DESTROY: the socket chosen is closed, or nothing is, and the result says which.

Every socket here is opened by the test on loopback (``bag`` closes them whatever happens); records
come from a real snapshot, as the TUI would pass them. Needs root (CAP_NET_ADMIN); the unprivileged
case runs a short script as nobody against a socket of this process.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shlex
import shutil
import socket
import subprocess
from collections.abc import Callable, Iterator

import pytest

from sockui.act.destroy import GONE, DestroyResult, destroy, ss_kill_command
from sockui.collect import query
from sockui.collect.netlink import NetlinkError, NetlinkSocket
from sockui.collect.snapshot import Collector
from sockui.model.socket import InetEndpoint, SocketRecord

from .holders import LINGER_RESET, wait_for
from .scenario import SocketBag, inode_of, ipv6_loopback_works

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="closing sockets needs root (CAP_NET_ADMIN)")

V6 = pytest.mark.skipif(not ipv6_loopback_works(), reason="no IPv6 loopback here")


def snapshot_record(pick: Callable[[SocketRecord], bool], owners: bool = True) -> SocketRecord | None:
    with Collector(owners=owners) as collector:
        return next((r for r in collector.collect().sockets if pick(r)), None)


def records_of(*socks: socket.socket) -> list[SocketRecord]:
    """The records of these sockets, from one snapshot (with owners), in the same order."""
    with Collector() as collector:
        by_inode = {r.inode: r for r in collector.collect().sockets}
    missing = [s for s in socks if inode_of(s) not in by_inode]
    assert not missing, f"not in the snapshot: {missing}"
    return [by_inode[inode_of(s)] for s in socks]


def record_of(sock: socket.socket) -> SocketRecord:
    return records_of(sock)[0]


def still_there(rec: SocketRecord) -> bool:
    with NetlinkSocket() as nl:
        return query.locate(rec, nl) is not None


def recv_error(sock: socket.socket) -> int | None:
    """The errno recv fails with (None if it returned, e.g. EOF)."""
    sock.settimeout(5)
    try:
        sock.recv(16)
    except OSError as exc:
        return exc.errno
    return None


def tcp_pair(bag: SocketBag, host: str = "127.0.0.1") -> tuple[socket.socket, ...]:
    """A listener, a client connected to it and the accepted end."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = bag.add(socket.create_server((host, 0), family=family))
    client = bag.new(listener.family, socket.SOCK_STREAM)
    client.connect(listener.getsockname()[:2])
    server = bag.add(listener.accept()[0])
    return listener, client, server


def bind_chosen_port(sock: socket.socket, host: str) -> int:
    """Bind to an explicit nonzero port (the kernel then keeps it reserved after a destroy)."""
    for _ in range(20):
        with socket.socket(sock.family, sock.type) as probe:
            probe.bind((host, 0))
            port = int(probe.getsockname()[1])
        with contextlib.suppress(OSError):
            sock.bind((host, port))
            return port
    raise AssertionError("no free port to bind")


def roundtrip(a: socket.socket, b: socket.socket) -> None:
    """The connection between a and b still carries data both ways."""
    for x, y in ((a, b), (b, a)):
        x.sendall(b"ping")
        y.settimeout(5)
        assert y.recv(16) == b"ping"


# -- TCP --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("host", ["127.0.0.1", pytest.param("::1", marks=V6)])
def test_tcp_client_end_closed(bag: SocketBag, host: str) -> None:
    _, client, server = tcp_pair(bag, host)
    rec = record_of(client)
    assert destroy(rec) == DestroyResult(True)
    assert recv_error(client) == errno.ECONNABORTED
    assert recv_error(server) in (errno.ECONNRESET, None)
    assert not still_there(rec)


def test_listener_closed_and_accept_fails(bag: SocketBag) -> None:
    listener = bag.new()
    port = bind_chosen_port(listener, "127.0.0.1")
    listener.listen()
    result = destroy(record_of(listener))
    assert result.ok, result
    assert result.note == f"port {port} stays reserved until the owner closes its descriptor"
    listener.settimeout(5)
    with pytest.raises(OSError) as caught:
        listener.accept()
    assert caught.value.errno == errno.EINVAL
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port), timeout=5):
        pass


def test_v4_mapped_connection_closed(bag: SocketBag) -> None:
    if not ipv6_loopback_works():
        pytest.skip("no IPv6 here")
    listener = bag.add(socket.create_server(("::", 0), family=socket.AF_INET6, dualstack_ipv6=True))
    client = bag.add(socket.create_connection(("127.0.0.1", listener.getsockname()[1]), timeout=5))
    server = bag.add(listener.accept()[0])
    rec = record_of(server)
    assert rec.local is not None and "::ffff:127.0.0.1" in str(rec.local)
    assert destroy(rec).ok
    assert recv_error(server) == errno.ECONNABORTED
    assert recv_error(client) in (errno.ECONNRESET, None)


def test_socket_bound_to_a_device_is_reached(bag: SocketBag) -> None:
    """SO_BINDTODEVICE: the request must name the interface, or the kernel does not find the socket."""
    listener = bag.add(socket.create_server(("127.0.0.1", 0)))
    client = bag.new()
    client.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, b"lo")
    client.connect(listener.getsockname())
    bag.add(listener.accept()[0])
    rec = record_of(client)
    assert rec.ifindex == socket.if_nametoindex("lo")
    assert destroy(rec).ok
    assert recv_error(client) == errno.ECONNABORTED


def reconnect_same_tuple(
    bag: SocketBag, listener: socket.socket
) -> tuple[SocketRecord, socket.socket, socket.socket]:
    """Connect, take the record, reset the connection, connect again from the same port.

    Returns the first connection's record and the second connection's two ends. Retried: another
    process on the machine may take the freed ephemeral port first.
    """
    for _ in range(10):
        old = bag.new()
        old.connect(listener.getsockname())
        old_server = bag.add(listener.accept()[0])
        stale = record_of(old)
        local = old.getsockname()
        old.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER_RESET)
        old.close()  # RST: no TIME_WAIT, the 4-tuple is free at once
        assert recv_error(old_server) in (errno.ECONNRESET, None)
        new = bag.new()
        new.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            new.bind(local)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                continue
            raise
        new.connect(listener.getsockname())
        return stale, new, bag.add(listener.accept()[0])
    raise AssertionError("the freed port was taken every time")


def test_stale_cookie_hits_nothing(bag: SocketBag) -> None:
    """A record of a closed socket, whose 4-tuple a new connection took over: the new one is untouched."""
    listener = bag.add(socket.create_server(("127.0.0.1", 0)))
    stale, new, new_server = reconnect_same_tuple(bag, listener)
    fresh = record_of(new)
    assert (fresh.local, fresh.remote) == (stale.local, stale.remote) and fresh.cookie != stale.cookie
    result = destroy(stale)
    assert result == DestroyResult(False, GONE, code=errno.ENOENT)
    roundtrip(new, new_server)
    # A made-up cookie on a live 4-tuple is refused the same way.
    assert fresh.cookie is not None
    assert destroy(fresh._replace(cookie=fresh.cookie + (1 << 40))).reason == GONE
    roundtrip(new, new_server)


def test_time_wait_entry_disappears(bag: SocketBag) -> None:
    _, client, server = tcp_pair(bag)
    local = InetEndpoint(*client.getsockname()[:2])
    remote = InetEndpoint(*client.getpeername()[:2])
    client.close()  # active close first: the client's side ends in TIME_WAIT
    assert recv_error(server) is None  # EOF
    server.close()

    def time_wait() -> SocketRecord | None:
        def match(r: SocketRecord) -> bool:
            return r.state == "TIME_WAIT" and (r.local, r.remote) == (local, remote)

        return snapshot_record(match, owners=False)

    rec: SocketRecord = wait_for(time_wait, timeout=10, what="the TIME_WAIT entry")
    try:
        assert destroy(rec) == DestroyResult(True)
        assert not still_there(rec)
    finally:
        if still_there(rec):
            destroy(rec)


def test_reuseport_sibling_out_of_reach_is_reported(bag: SocketBag) -> None:
    """Among SO_REUSEPORT listeners the kernel reaches one only: the others are refused, not hit."""
    group: list[socket.socket] = []
    for _ in range(4):
        sock = bag.new()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(("127.0.0.1", group[0].getsockname()[1] if group else 0))
        sock.listen()
        group.append(sock)
    records = records_of(*group)

    def reachable(rec: SocketRecord) -> bool:
        request = query.exact_request(rec)
        assert request is not None
        with NetlinkSocket() as nl:
            try:
                return bool(nl.request(request))
            except NetlinkError:
                return False

    hidden = [r for r in records if not reachable(r)]
    assert hidden, "the kernel reached every listener of the group"
    result = destroy(hidden[0])
    assert not result.ok and result.offer_kill and result.code == errno.ENOENT
    assert result.reason is not None and "SO_REUSEPORT" in result.reason
    assert all(still_there(r) for r in records)
    first = next(r for r in records if reachable(r))
    assert destroy(first).ok


# -- UDP --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("host", ["127.0.0.1", pytest.param("::1", marks=V6)])
def test_udp_socket_closed(bag: SocketBag, host: str) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = bag.new(family, socket.SOCK_DGRAM)
    sock.bind((host, 0))
    rec = record_of(sock)
    assert destroy(rec) == DestroyResult(True)
    assert recv_error(sock) == errno.ECONNABORTED
    assert not still_there(rec)


def test_connected_udp_closed(bag: SocketBag) -> None:
    a, b = bag.new(socket.AF_INET, socket.SOCK_DGRAM), bag.new(socket.AF_INET, socket.SOCK_DGRAM)
    a.bind(("127.0.0.1", 0))
    b.bind(("127.0.0.1", 0))
    a.connect(b.getsockname())
    rec = record_of(a)
    assert rec.remote is not None
    assert destroy(rec).ok
    assert recv_error(a) == errno.ECONNABORTED


def test_udp_on_a_chosen_port_survives_and_says_so(bag: SocketBag) -> None:
    """The kernel only wakes such a socket with one error: it stays bound and receiving."""
    sock = bag.new(socket.AF_INET, socket.SOCK_DGRAM)
    port = bind_chosen_port(sock, "127.0.0.1")
    rec = record_of(sock)
    result = destroy(rec)
    assert not result.ok and result.offer_kill
    assert result.reason is not None and f"stays bound to 127.0.0.1:{port}" in result.reason
    assert recv_error(sock) == errno.ECONNABORTED
    sender = bag.new(socket.AF_INET, socket.SOCK_DGRAM)
    sender.sendto(b"still here", ("127.0.0.1", port))
    assert sock.recv(16) == b"still here"


# -- the equivalent ss command ----------------------------------------------------------------------


@pytest.fixture
def ss() -> Iterator[str]:
    path = shutil.which("ss")
    if path is None:
        pytest.skip("ss (iproute2) is not installed")
    yield path


def ss_lists(command: str) -> list[str]:
    """The sockets the command would close: the same command without -K, header dropped."""
    args = shlex.split(command)
    assert args[:2] == ["ss", "-K"]
    out = subprocess.run(["ss", *args[2:]], capture_output=True, text=True, timeout=30, check=True)
    return out.stdout.splitlines()[1:]


def test_ss_command_names_exactly_the_socket(bag: SocketBag, ss: str) -> None:
    listener, client, _ = tcp_pair(bag)
    udp = bag.new(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    records = records_of(listener, client, udp)
    for sock, rec in zip((listener, client, udp), records, strict=True):
        command = ss_kill_command(rec)
        lines = ss_lists(command)
        assert len(lines) == 1 and f":{sock.getsockname()[1]} " in lines[0], (command, lines)
    command = ss_kill_command(records[1])
    assert command == (
        f"ss -K -n -t -4 -a src 127.0.0.1:{client.getsockname()[1]} dst 127.0.0.1:{listener.getsockname()[1]}"
    )
    # Run for real on this connection's unique 4-tuple: it closes it as destroy() would.
    subprocess.run(shlex.split(command), capture_output=True, timeout=30, check=True)
    assert recv_error(client) == errno.ECONNABORTED


@V6
def test_ss_command_for_ipv6(bag: SocketBag, ss: str) -> None:
    _, client, _ = tcp_pair(bag, "::1")
    command = ss_kill_command(record_of(client))
    assert "'[::1]:" in command and " -6 " in command
    assert len(ss_lists(command)) == 1
