"""Detail-pane descriptions on hand-made records: address scope, services, endpoints and the pair."""

from __future__ import annotations

import pytest

from sockui.model.describe import (
    endpoint_lines,
    endpoint_text,
    owners_text,
    pair,
    scope,
    service,
)
from sockui.model.services import parse_services
from sockui.model.socket import (
    Binding,
    Endpoint,
    Family,
    InetEndpoint,
    Owner,
    Proto,
    Snapshot,
    SocketRecord,
    SockType,
    UnixEndpoint,
)

SERVICES_TEXT = """\
# /etc/services excerpt
tcpmux		1/tcp				# TCP port service multiplexer
ssh		22/tcp				# SSH Remote Login Protocol
domain		53/tcp				# Domain Name Server
domain		53/udp
http		80/tcp		www		# WorldWideWeb HTTP
www-later	80/tcp
https		443/tcp
https		443/udp
kerberos	88/TCP		kerberos5 krb5
broken
no-port		abc/tcp
no-slash	99
   # indented comment 1/tcp
"""
SERVICES = parse_services(SERVICES_TEXT)


@pytest.mark.parametrize(
    ("address", "where"),
    [
        ("127.0.0.1", "loopback"),
        ("127.8.9.10", "loopback"),
        ("::1", "loopback"),
        ("::ffff:127.0.0.1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("fd00::1", "private"),
        ("::ffff:192.168.1.1", "private"),
        ("169.254.1.1", "link-local"),
        ("fe80::1", "link-local"),
        ("fe80::1%eth0", "link-local"),
        ("224.0.0.251", "multicast"),
        ("ff02::fb", "multicast"),
        ("8.8.8.8", "public"),
        ("2606:4700:4700::1111", "public"),
        ("::ffff:8.8.8.8", "public"),
        ("0.0.0.0", "any address"),
        ("::", "any address"),
        ("not an address", "unknown"),
        ("", "unknown"),
    ],
)
def test_scope(address: str, where: str) -> None:
    assert scope(address) == where


def test_parse_services() -> None:
    assert SERVICES.names == {
        (1, "tcp"): "tcpmux",
        (22, "tcp"): "ssh",
        (53, "tcp"): "domain",
        (53, "udp"): "domain",
        (80, "tcp"): "http",  # first name wins; aliases and later names ignored
        (443, "tcp"): "https",
        (443, "udp"): "https",
        (88, "tcp"): "kerberos",  # protocol folded to lowercase
    }
    assert parse_services("").names == {}
    # Names and aliases back to ports, any case; tcp entries win over udp ones.
    assert (SERVICES.port("www"), SERVICES.port("KRB5"), SERVICES.port("domain")) == (80, 88, 53)
    assert SERVICES.port("no-port") is None


def test_service() -> None:
    assert service(InetEndpoint("1.2.3.4", 22), Proto.TCP, SERVICES) == "ssh"
    assert service(InetEndpoint("1.2.3.4", 22), Proto.UDP, SERVICES) is None
    assert service(InetEndpoint("1.2.3.4", 53), Proto.UDP, SERVICES) == "domain"
    assert service(InetEndpoint("1.2.3.4", 1), Proto.RAW, SERVICES) is None


@pytest.mark.parametrize(
    ("ep", "proto", "text"),
    [
        (InetEndpoint("127.0.0.1", 443), Proto.TCP, "127.0.0.1:443 (https, loopback)"),
        (InetEndpoint("::1", 22), Proto.TCP, "[::1]:22 (ssh, loopback)"),
        (InetEndpoint("8.8.8.8", 53), Proto.UDP, "8.8.8.8:53 (domain, public)"),
        (InetEndpoint("10.0.0.5", 51000), Proto.TCP, "10.0.0.5:51000 (private)"),
        (UnixEndpoint("/run/x.sock"), Proto.UNIX, "/run/x.sock"),
        (UnixEndpoint("/run/\x1b[2J"), Proto.UNIX, "/run/\\e[2J"),
        (UnixEndpoint(None), Proto.UNIX, "(unnamed)"),
        (None, Proto.TCP, "-"),
    ],
)
def test_endpoint_text(ep: Endpoint | None, proto: Proto, text: str) -> None:
    assert endpoint_text(ep, proto, SERVICES) == text


# --- records --------------------------------------------------------------------------------------------


def rec(
    key: int,
    proto: Proto = Proto.TCP,
    binding: Binding = Binding.CONNECTED,
    *,
    local: Endpoint | None = None,
    remote: Endpoint | None = None,
    owners: tuple[Owner, ...] = (),
    peer_key: int | None = None,
    inode: int | None = None,
    pending: tuple[int, ...] = (),
) -> SocketRecord:
    family = Family.UNIX if proto is Proto.UNIX else Family.IPV4
    state = {Binding.LISTENING: "LISTEN", Binding.CONNECTED: "ESTABLISHED"}.get(binding, "UNCONN")
    return SocketRecord(
        proto=proto,
        family=family,
        type=SockType.DGRAM if proto is Proto.UDP else SockType.STREAM,
        state=state,
        binding=binding,
        local=local,
        remote=remote,
        inode=key if inode is None else inode,
        uid=0,
        owners=owners,
        cookie=key,
        peer_key=peer_key,
        pending=pending,
        recv_q=3,
        send_q=4,
    )


def ep(address: str, port: int) -> InetEndpoint:
    return InetEndpoint(address, port)


NGINX = (Owner(10, 3, "nginx"), Owner(11, 3, "nginx"))
LISTENER = rec(1, Proto.TCP, Binding.LISTENING, local=ep("0.0.0.0", 8080), owners=NGINX)
SERVER = rec(2, local=ep("127.0.0.1", 8080), remote=ep("127.0.0.1", 50000), owners=NGINX[:1], peer_key=3)
CLIENT = rec(
    3, local=ep("127.0.0.1", 50000), remote=ep("127.0.0.1", 8080), owners=(Owner(20, 5, "curl"),), peer_key=2
)
REMOTE = rec(4, local=ep("10.0.0.5", 8080), remote=ep("8.8.8.8", 443), owners=NGINX[1:])
LOST = rec(5, local=ep("127.0.0.1", 41000), remote=ep("127.0.0.1", 9999))
UDP_BOUND = rec(6, Proto.UDP, Binding.BOUND, local=ep("127.0.0.1", 53))
UNIX_WAITING = rec(7, Proto.UNIX, local=UnixEndpoint(None), remote=UnixEndpoint("/run/x.sock"))
TIME_WAIT = rec(8, local=ep("127.0.0.1", 50001), remote=ep("127.0.0.1", 8080), inode=0)
ALL = (LISTENER, SERVER, CLIENT, REMOTE, LOST, UDP_BOUND, UNIX_WAITING, TIME_WAIT)
SNAPSHOT = Snapshot(sockets=ALL, taken_at=0.0, services=SERVICES)


def test_pair_local_peer() -> None:
    result = pair(CLIENT, SNAPSHOT)
    assert result.local is SERVER
    assert result.clients == ()
    assert result.lines == (("peer", "127.0.0.1:8080  on this host"), ("process", "10/nginx fd 3"))
    back = pair(SERVER, SNAPSHOT)
    assert back.local is CLIENT
    assert back.lines[1] == ("process", "20/curl fd 5")
    # The server side was accepted by the listener, and says so.
    assert back.listener is LISTENER
    assert back.lines[2] == ("accepted", "by listener 0.0.0.0:8080 (10 nginx +1)")


def test_pair_remote_public_end() -> None:
    result = pair(REMOTE, SNAPSHOT)
    assert result.local is None
    assert result.lines[0] == ("remote", "8.8.8.8:443 (https, public)")
    assert result.listener is LISTENER


def test_pair_loopback_end_missing_from_snapshot() -> None:
    result = pair(LOST, SNAPSHOT)
    assert result.local is None
    assert result.lines[0] == ("remote", "127.0.0.1:9999 (loopback)")
    assert result.lines[1][0] == "note"
    assert "not in this snapshot" in result.lines[1][1]


def test_pair_listener_with_clients() -> None:
    result = pair(LISTENER, SNAPSHOT)
    assert result.local is None
    assert [c.key for c in result.clients] == [2, 4]
    assert result.lines == (("clients", "2 accepted connection(s)"),)


def test_pair_listener_without_clients() -> None:
    lonely = rec(9, Proto.TCP, Binding.LISTENING, local=ep("127.0.0.1", 9090))
    result = pair(lonely, SNAPSHOT)
    assert (result.clients, result.lines) == ((), (("clients", "0 accepted connection(s)"),))


def test_pair_unix_without_peer_and_not_connected() -> None:
    assert pair(UNIX_WAITING, SNAPSHOT).lines == (("peer", "not accepted yet, or already closed"),)
    assert pair(UDP_BOUND, SNAPSHOT).lines == (("peer", "none: not connected"),)


def test_pair_peer_key_not_in_index() -> None:
    stale = rec(10, local=ep("10.0.0.5", 1), remote=ep("8.8.8.8", 53), peer_key=12345)
    result = pair(stale, SNAPSHOT)
    assert result.local is None
    assert result.lines == (("remote", "8.8.8.8:53 (domain, public)"),)


def test_pair_unix_peer_without_name() -> None:
    a = rec(20, Proto.UNIX, local=UnixEndpoint(None), remote=UnixEndpoint(None), peer_key=21)
    b = rec(
        21,
        Proto.UNIX,
        local=UnixEndpoint(None),
        remote=UnixEndpoint(None),
        peer_key=20,
        owners=(Owner(3, 4, "x\ny"),),
    )
    result = pair(a, Snapshot(sockets=(a, b), taken_at=0.0))
    assert result.local is b
    assert result.lines == (("peer", "*  on this host"), ("process", "3/x\\ny fd 4"))


def test_owners_text() -> None:
    assert owners_text(UDP_BOUND) == "none visible"
    assert owners_text(LISTENER) == "10/nginx fd 3, 11/nginx fd 3"
    # No inode: no file any process could hold; said as such, not as "hidden".
    closing = TIME_WAIT._replace(state="TIME_WAIT")
    assert (
        owners_text(closing)
        == "none: its process closed it and the kernel is finishing the close (TIME_WAIT)"
    )
    assert (
        owners_text(closing._replace(state="SYN_RECV"))
        == "none: no accept() has taken this connection yet (SYN_RECV)"
    )


def test_endpoint_lines() -> None:
    lines = dict(endpoint_lines(SERVER, SERVICES))
    assert lines["socket"] == "tcp ipv4 stream  ESTABLISHED  (connected)"
    assert lines["local"] == "127.0.0.1:8080 (loopback)"
    assert lines["remote"] == "127.0.0.1:50000 (loopback)"
    assert lines["inode"] == "2"
    assert lines["queues"] == "recv 3  send 4"
    assert "pending" not in lines
    assert dict(endpoint_lines(TIME_WAIT, SERVICES))["inode"].startswith("none")
    waiting = rec(30, Proto.UNIX, Binding.LISTENING, local=UnixEndpoint("/run/x.sock"), pending=(7, 8))
    assert dict(endpoint_lines(waiting, SERVICES))["pending"] == "2 client(s) waiting to be accepted"


def test_sockets_of_a_process() -> None:
    assert [s.key for s in SNAPSHOT.index.sockets_of(10)] == [1, 2]
    assert [s.key for s in SNAPSHOT.index.sockets_of(11)] == [1, 4]
    assert SNAPSHOT.index.sockets_of(999) == ()
