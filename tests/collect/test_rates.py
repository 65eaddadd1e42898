"""Rates: bytes per second from tcp_info counters between two refreshes, only while asked for.

Real loopback connections: one moves a known number of bytes between two collections, another
stays idle. The busy one's rate must account for those bytes over the time between the two
collections; the idle one's must be zero; without tcp_info (the default) no record has a rate.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from sockui.collect.snapshot import Collector
from sockui.model.socket import InetEndpoint, SocketRecord

PAYLOAD = 4 * 1024 * 1024
Pairs = tuple[socket.socket, socket.socket, socket.socket, socket.socket]


@pytest.fixture
def pairs() -> Iterator[Pairs]:
    """(busy client, busy server, idle client, idle server) on loopback."""
    listener = socket.create_server(("127.0.0.1", 0))
    made: list[socket.socket] = [listener]
    try:
        port = listener.getsockname()[1]
        busy_client = socket.create_connection(("127.0.0.1", port))
        made.append(busy_client)
        busy_server = listener.accept()[0]
        made.append(busy_server)
        idle_client = socket.create_connection(("127.0.0.1", port))
        made.append(idle_client)
        idle_server = listener.accept()[0]
        made.append(idle_server)
        yield busy_client, busy_server, idle_client, idle_server
    finally:
        for s in made:
            s.close()


def _by_local(records: tuple[SocketRecord, ...], sock: socket.socket) -> SocketRecord:
    address, port = sock.getsockname()[:2]
    found = [r for r in records if r.local == InetEndpoint(address, port) and r.remote is not None]
    peer = sock.getpeername()[:2]
    found = [r for r in found if r.remote == InetEndpoint(*peer)]
    assert len(found) == 1, found
    return found[0]


def test_rates_from_counters(
    pairs: tuple[socket.socket, socket.socket, socket.socket, socket.socket],
) -> None:
    busy_client, busy_server, idle_client, idle_server = pairs
    wanted = True
    with Collector(owners=False, tcp_info_wanted=lambda: wanted) as collector:
        first = collector.collect()
        assert _by_local(first.sockets, busy_client).rate is None, "one sample: no rate yet"
        busy_client.sendall(b"x" * 1024)  # warm up the window
        got = 0
        busy_server.settimeout(10)
        sender = threading.Thread(target=busy_client.sendall, args=(b"y" * PAYLOAD,))
        sender.start()  # more than the socket buffers hold: read while it sends
        while got < PAYLOAD + 1024:
            got += len(busy_server.recv(1 << 20))
        sender.join(10)
        second = collector.collect()
        elapsed = second.taken_at - first.taken_at
        client = _by_local(second.sockets, busy_client)
        server = _by_local(second.sockets, busy_server)
        assert client.rate is not None and server.rate is not None
        moved = PAYLOAD + 1024
        # The counters moved by what was sent (bytes_acked counts no SYN/FIN here: none in between);
        # the two collections' own times bracket the transfer, within 20% for the timing.
        assert client.rate[0] * elapsed == pytest.approx(moved, rel=0.2), (client.rate, elapsed)
        assert server.rate[1] * elapsed == pytest.approx(moved, rel=0.2), (server.rate, elapsed)
        assert client.rate[1] == 0 and server.rate[0] == 0
        assert _by_local(second.sockets, idle_client).rate == (0.0, 0.0)
        assert _by_local(second.sockets, idle_server).rate == (0.0, 0.0)
        port = busy_server.getsockname()[1]
        listening = [r for r in second.sockets if r.local == InetEndpoint("127.0.0.1", port) and not r.remote]
        assert len(listening) == 1 and listening[0].rate is None, "a listener has no rate of its own"
        # Turned off: the next dumps carry no tcp_info, the records no rate.
        wanted = False
        third = collector.collect()
        assert _by_local(third.sockets, busy_client).rate is None
        assert _by_local(third.sockets, busy_client).tcp_info is None


def test_no_rates_by_default(
    pairs: tuple[socket.socket, socket.socket, socket.socket, socket.socket],
) -> None:
    busy_client = pairs[0]
    with Collector(owners=False) as collector:
        collector.collect()
        busy_client.sendall(b"z" * 1000)
        assert _by_local(collector.collect().sockets, busy_client).rate is None
