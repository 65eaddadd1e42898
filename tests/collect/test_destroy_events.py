"""The sock_diag destroy-event listener, against the real kernel: every freed socket is reported once.

Everything runs on loopback with real sockets; nothing is mocked. Waiting is done on the listener's
``on_event`` callback with deadlines, never by sleeping. Sockets are matched to events by their cookie
(``SO_COOKIE``, the same number the kernel puts in the event): ports alone are ambiguous here, since
``net.ipv4.tcp_tw_reuse=2`` lets a new loopback connection reuse the 4-tuple of one in TIME_WAIT.

Absence ("this listener never got that event") is proven with a sentinel: once a listener has read a
close made after the other event was broadcast, anything broadcast to it before would have been read
first (one receive queue, in order).

What the kernel does (6.18), asserted below:

- one event per socket a process held: client, accepted socket and listener each, whichever side closes
  first (the first closer's event comes when its orphan becomes a TIME_WAIT mini-socket, right away);
- final tcp_info: state 7, ``bytes_sent`` is the payload; ``bytes_acked`` is the payload plus the FIN
  plus, for the connecting side, the SYN; ``bytes_received`` is the payload plus the peer's FIN when the
  socket saw it before being freed: always for the socket closed last and after a shutdown(SHUT_WR)
  handshake, by timing for the one closed first;
- a socket closed with SO_LINGER {1, 0} is disconnected first: dport 0, counters 0, cookie kept;
- a connected UDP socket is reported in state 1 (ESTABLISHED), everything else in 7 (CLOSE);
- the smallest receive buffer is 2304 bytes (SOCK_MIN_RCVBUF); a full buffer gives one ENOBUFS per
  overrun, after which events flow again.
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import NamedTuple

import pytest

from sockui.collect import inet_diag, netlink
from sockui.collect.events import DEFAULT_RCVBUF, DestroyEvent, DestroyListener, decode_datagram
from sockui.collect.netns import open_in_netns
from sockui.collect.netns_link import own_netns
from sockui.model import tcpinfo
from sockui.model.kernel import IPPROTO_TCP, IPPROTO_UDP, TCP_CLOSE, TCP_ESTABLISHED

from .holders import AS_NOBODY, LINGER_RESET, read_line
from .netns_support import (
    CHILD_PRELUDE,
    add_netns,
    in_netns,
    inode_of_path,
    nobody_env,
    ns_path,
    random_tag,
    require_root_and,
    spawn,
    stop,
)
from .scenario import SocketBag, ipv6_loopback_works

SO_COOKIE = 57  # include/uapi/asm-generic/socket.h; not in Python's socket module
SOCK_MIN_RCVBUF = 2304  # 2048 + the skb overhead on x86_64 6.18: what SO_RCVBUF 1024 gives


def cookie_of(sock: socket.socket) -> int:
    return int(struct.unpack("=Q", sock.getsockopt(socket.SOL_SOCKET, SO_COOKIE, 8))[0])


class Inbox:
    """A started listener plus everything it delivered, woken by ``on_event`` (no sleeps)."""

    def __init__(self, stack: contextlib.ExitStack, *, netns: int = 0, rcvbuf: int | None = None) -> None:
        self.wake = threading.Event()
        self.events: list[DestroyEvent] = []
        self.listener = DestroyListener(netns=netns, rcvbuf=rcvbuf, on_event=self.wake.set)
        self.listener.start()
        stack.callback(self.listener.stop)

    def cookies(self) -> collections.Counter[int]:
        return collections.Counter(e.sock.cookie for e in self.events)

    def until(self, done: Callable[[], bool], timeout: float = 10.0, what: str = "events") -> None:
        """Drain until ``done()``; fail at the deadline."""
        deadline = time.monotonic() + timeout
        while True:
            self.wake.clear()
            self.events.extend(self.listener.drain())
            if done():
                return
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(
                    f"timed out after {timeout:.1f} s waiting for {what}; got {len(self.events)} events, "
                    f"overflows={self.listener.overflows} error={self.listener.error}"
                )
            self.wake.wait(remaining)

    def until_cookies(self, cookies: set[int], timeout: float = 10.0) -> None:
        def seen() -> bool:
            return cookies <= set(self.cookies())

        self.until(seen, timeout, f"{len(cookies)} cookies")

    def by_cookie(self) -> dict[int, DestroyEvent]:
        return {e.sock.cookie: e for e in self.events}


def close_udp(family: int = socket.AF_INET, host: str = "127.0.0.1") -> tuple[int, int]:
    """Bind a UDP socket on loopback and close it: (cookie, port) of the socket the kernel frees."""
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.bind((host, 0))
        return cookie_of(sock), sock.getsockname()[1]


def sentinel(inbox: Inbox) -> None:
    """Close one more socket and wait for it: whatever was broadcast to ``inbox`` before is read now."""
    cookie, _port = close_udp()
    inbox.until_cookies({cookie})


@pytest.fixture
def stack() -> Iterator[contextlib.ExitStack]:
    with contextlib.ExitStack() as exits:
        yield exits


def recv_exactly(sock: socket.socket, size: int) -> None:
    got = 0
    while got < size:
        chunk = sock.recv(size - got)
        assert chunk, "unexpected EOF"
        got += len(chunk)


# -- 1. TCP: 200 connections, 400 sockets, one event each ------------------------------------------------


def test_tcp_connections_each_socket_reported_once_with_final_counters(
    stack: contextlib.ExitStack, bag: SocketBag
) -> None:
    inbox = Inbox(stack)
    server = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
    server.bind(("127.0.0.1", 0))
    server.listen(512)
    lport = server.getsockname()[1]
    # cookie -> (role, how it closed, sport, dport, bytes it sent, bytes it received)
    expected: dict[int, tuple[str, str, int, int, int, int]] = {}
    started = time.monotonic()
    for i in range(200):
        client = bag.add(socket.create_connection(("127.0.0.1", lport), timeout=5))
        accepted = bag.add(server.accept()[0])
        n, m = 1 + i % 97, 1 + (7 * i) % 1500
        client.sendall(b"c" * n)
        recv_exactly(accepted, n)
        accepted.sendall(b"s" * m)
        recv_exactly(client, m)
        cport = client.getsockname()[1]
        how = ("client-first", "server-first", "shutdown")[i % 3]
        first, last = (client, accepted) if how != "server-first" else (accepted, client)
        expected[cookie_of(client)] = ("client", how, cport, lport, n, m)
        expected[cookie_of(accepted)] = ("server", how, lport, cport, m, n)
        if how == "shutdown":  # FIN both ways before either close(): both have seen the peer's FIN
            first.shutdown(socket.SHUT_WR)
            assert last.recv(1) == b""
            last.close()
            assert first.recv(1) == b""
            first.close()
        else:
            first.close()
            last.close()
    elapsed = time.monotonic() - started
    assert elapsed < 5, f"200 connections took {elapsed:.1f} s"
    listener_cookie = cookie_of(server)
    server.close()

    inbox.until_cookies(set(expected) | {listener_cookie})
    sentinel(inbox)  # every later duplicate would have been read by now

    mine = [
        e
        for e in inbox.events
        if e.sock.protocol == IPPROTO_TCP
        and lport in (e.sock.sport, e.sock.dport)
        and e.sock.src == "127.0.0.1"
    ]
    counts = collections.Counter(e.sock.cookie for e in mine)
    assert set(counts) == set(expected) | {listener_cookie}
    assert [c for c, k in counts.items() if k != 1] == [], "a socket was reported twice"
    own = own_netns()
    for ck, (role, how, sport, dport, sent, received) in expected.items():
        event = inbox.by_cookie()[ck]
        sock = event.sock
        where = (role, how, sport, dport)
        assert (sock.family, sock.state, sock.src, sock.dst) == (
            socket.AF_INET,
            TCP_CLOSE,
            "127.0.0.1",
            "127.0.0.1",
        )
        assert (sock.sport, sock.dport) == (sport, dport), where
        assert (sock.uid, sock.inode) == (0, 0), where
        assert event.netns == own
        assert sock.tcp_info is not None and len(sock.tcp_info) >= 136, where
        assert sock.tcp_info[0] == TCP_CLOSE, where
        info = tcpinfo.decode(sock.tcp_info)
        assert info.bytes_sent == sent, where
        # Sequence space: our FIN, and the SYN for the side that connected.
        assert info.bytes_acked == sent + 1 + (role == "client"), (where, info.bytes_acked)
        closed_first = how == f"{role}-first"
        if closed_first:  # freed when its FIN was acked: the peer's FIN may or may not have come
            assert info.bytes_received in (received, received + 1), (where, info.bytes_received)
        else:
            assert info.bytes_received == received + 1, (where, info.bytes_received)
    listening = inbox.by_cookie()[listener_cookie].sock
    assert (listening.sport, listening.dport, listening.state) == (lport, 0, TCP_CLOSE)
    assert inbox.listener.overflows == 0 and inbox.listener.malformed == 0 and inbox.listener.error is None


def test_abortive_close_reports_a_disconnected_socket(stack: contextlib.ExitStack) -> None:
    """SO_LINGER {1, 0}: the kernel disconnects the socket before freeing it; match by cookie."""
    inbox = Inbox(stack)
    server = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    client = stack.enter_context(socket.create_connection(server.getsockname(), timeout=5))
    accepted = stack.enter_context(server.accept()[0])
    client.sendall(b"abc")
    recv_exactly(accepted, 3)
    cookie, cport = cookie_of(client), client.getsockname()[1]
    client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER_RESET)
    client.close()
    inbox.until_cookies({cookie})
    sock = inbox.by_cookie()[cookie].sock
    assert (sock.src, sock.sport, sock.dst, sock.dport) == ("0.0.0.0", cport, "127.0.0.1", 0)
    assert sock.tcp_info is not None
    info = tcpinfo.decode(sock.tcp_info)
    assert (info.bytes_sent, info.bytes_acked, info.bytes_received) == (0, 0, 0)


# -- 2. UDP v4 and v6, TCP over v6 --------------------------------------------------------------------------


class Want(NamedTuple):
    """What the event of one socket should say."""

    family: int
    protocol: int
    state: int
    src: str
    sport: int
    dst: str
    dport: int
    tcp_info: bool


def test_udp_and_ipv6_sockets_reported_with_ports_and_protocol(stack: contextlib.ExitStack) -> None:
    """UDP sockets are reported in the state they were in: 7 unconnected, 1 (ESTABLISHED) connected."""
    inbox = Inbox(stack)
    want: dict[int, Want] = {}
    families = [(socket.AF_INET, "127.0.0.1", "0.0.0.0")]
    if ipv6_loopback_works():
        families.append((socket.AF_INET6, "::1", "::"))
    for family, host, anywhere in families:
        bound = stack.enter_context(socket.socket(family, socket.SOCK_DGRAM))
        connected = stack.enter_context(socket.socket(family, socket.SOCK_DGRAM))
        bound.bind((host, 0))
        connected.connect(bound.getsockname()[:2])
        bport, cport = bound.getsockname()[1], connected.getsockname()[1]
        want[cookie_of(bound)] = Want(family, IPPROTO_UDP, TCP_CLOSE, host, bport, anywhere, 0, False)
        want[cookie_of(connected)] = Want(
            family, IPPROTO_UDP, TCP_ESTABLISHED, host, cport, host, bport, False
        )
        bound.close()
        connected.close()
    if ipv6_loopback_works():
        server = stack.enter_context(socket.socket(socket.AF_INET6, socket.SOCK_STREAM))
        server.bind(("::1", 0))
        server.listen(4)
        client = stack.enter_context(socket.create_connection(("::1", server.getsockname()[1]), timeout=5))
        accepted = stack.enter_context(server.accept()[0])
        cport, lport = client.getsockname()[1], server.getsockname()[1]
        want[cookie_of(client)] = Want(
            socket.AF_INET6, IPPROTO_TCP, TCP_CLOSE, "::1", cport, "::1", lport, True
        )
        want[cookie_of(accepted)] = Want(
            socket.AF_INET6, IPPROTO_TCP, TCP_CLOSE, "::1", lport, "::1", cport, True
        )
        client.shutdown(socket.SHUT_WR)
        assert accepted.recv(1) == b""
        accepted.close()
        client.close()

    inbox.until_cookies(set(want))
    events = inbox.by_cookie()
    for ck, expect in want.items():
        sock = events[ck].sock
        got = Want(
            sock.family,
            sock.protocol,
            sock.state,
            sock.src,
            sock.sport,
            sock.dst,
            sock.dport,
            sock.tcp_info is not None,
        )
        assert got == expect


# -- 3. ENOBUFS: counted, and the listener goes on ------------------------------------------------------


def test_overflow_is_counted_and_listener_keeps_going(stack: contextlib.ExitStack) -> None:
    inbox = Inbox(stack, rcvbuf=1024)
    listener = inbox.listener
    # SO_RCVBUF(FORCE) 1024 is clamped to SOCK_MIN_RCVBUF: room for about one event.
    assert listener.buffer_size == SOCK_MIN_RCVBUF
    deadline = time.monotonic() + 30
    rounds = 0
    while listener.overflows == 0:
        assert time.monotonic() < deadline, "no ENOBUFS after bursts of closes"
        burst: list[socket.socket] = []
        try:
            for _ in range(2000):
                sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                burst.append(sock)
                sock.bind(("127.0.0.1", 0))
        finally:
            for sock in burst:  # freed back to back: far faster than one event per 2304 bytes drains
                sock.close()
        rounds += 1
        # The thread meets the ENOBUFS on its next read, and wakes us even when no event comes with it.
        with contextlib.suppress(AssertionError):
            inbox.until(lambda: listener.overflows > 0, timeout=2.0, what="ENOBUFS")
    assert listener.running and listener.error is None, listener.error
    # The listener still delivers: the tail of a burst may still fill the buffer, so a close may be lost;
    # one more, closed once the kernel is quiet, must get through.
    deadline = time.monotonic() + 20
    while True:
        cookie, _port = close_udp()
        try:
            inbox.until_cookies({cookie}, timeout=1.0)
            break
        except AssertionError:
            assert time.monotonic() < deadline, "no event after the overflow"
    assert listener.running and listener.error is None
    assert listener.malformed == 0 and listener.error is None
    assert len(inbox.cookies()) < 2000 * rounds  # events were indeed lost


# -- 4. Unprivileged ----------------------------------------------------------------------------------------

NOBODY_SCRIPT = r"""
import json, os, sys, threading, time
from sockui.collect.events import DestroyListener
wake = threading.Event()
listener = DestroyListener(on_event=wake.set)
listener.start()
print(json.dumps({"euid": os.geteuid(), "buffer": listener.buffer_size}), flush=True)
want = set(json.loads(sys.stdin.readline()))
found = {}
deadline = time.monotonic() + 20
while len(found) < len(want) and time.monotonic() < deadline:
    wake.clear()
    for event in listener.drain():
        if event.sock.cookie in want:
            s = event.sock
            found[s.cookie] = {"sport": s.sport, "dport": s.dport, "protocol": s.protocol, "cookie": s.cookie}
    if len(found) < len(want):
        wake.wait(max(0.0, deadline - time.monotonic()))
listener.stop()
print(json.dumps({"found": list(found.values()), "overflows": listener.overflows, "error": listener.error,
                  "running": listener.running}), flush=True)
"""


def test_unprivileged_listener_sees_closes(stack: contextlib.ExitStack) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to switch to nobody")
    require_root_and("setpriv")
    probe = subprocess.run(
        [*AS_NOBODY, sys.executable, "-c", "import sockui.collect.events"],
        capture_output=True,
        text=True,
        timeout=30,
        cwd="/",
        env=nobody_env(),
        check=False,
    )
    if probe.returncode != 0:
        pytest.skip(f"nobody cannot run {sys.executable} here: {probe.stderr.strip()[-300:]}")
    proc = subprocess.Popen(
        [*AS_NOBODY, sys.executable, "-c", NOBODY_SCRIPT],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        cwd="/",
        env=nobody_env(),
    )
    stack.callback(stop, proc)
    assert proc.stdout is not None and proc.stdin is not None
    ready = json.loads(read_line(proc.stdout, 30))
    assert ready["euid"] == 65534
    # Unprivileged: SO_RCVBUFFORCE is refused, SO_RCVBUF caps at net.core.rmem_max (doubled).
    with open("/proc/sys/net/core/rmem_max") as fh:
        rmem_max = int(fh.read())
    assert ready["buffer"] == 2 * min(DEFAULT_RCVBUF, rmem_max)

    server = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    client = stack.enter_context(socket.create_connection(server.getsockname(), timeout=5))
    accepted, _ = server.accept()
    stack.callback(accepted.close)
    ports = {cookie_of(client): client.getsockname()[1], cookie_of(accepted): server.getsockname()[1]}
    client.sendall(b"hello")
    recv_exactly(accepted, 5)
    client.shutdown(socket.SHUT_WR)
    assert accepted.recv(1) == b""
    accepted.close()
    client.close()
    proc.stdin.write((json.dumps(list(ports)) + "\n").encode())
    proc.stdin.flush()

    result = json.loads(read_line(proc.stdout, 30))
    assert result["error"] is None and not result["running"]
    seen = {e["cookie"]: e for e in result["found"]}
    assert set(seen) == set(ports), result
    for ck, sport in ports.items():
        assert seen[ck]["sport"] == sport and seen[ck]["protocol"] == IPPROTO_TCP


# -- 5. Another network namespace --------------------------------------------------------------------------

#: In the namespace: two UDP sockets bound to loopback; "close N" closes socket N and says so.
NS_CHILD = (
    CHILD_PRELUDE
    + r"""
socks = []
for _ in range(2):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    socks.append(s)
report(pid=os.getpid())
report(cookies=[int.from_bytes(s.getsockopt(socket.SOL_SOCKET, 57, 8), "little") for s in socks])
for line in sys.stdin:
    index = int(line.split()[1])
    socks[index].close()
    report(closed=index)
"""
)


def test_namespace_listener_sees_its_namespace_only(stack: contextlib.ExitStack) -> None:
    require_root_and("ip")
    name = add_netns(stack, f"sockui-test-{random_tag()}-ev")
    inode = inode_of_path(ns_path(name))
    theirs = Inbox(stack, netns=inode)
    ours = Inbox(stack)
    assert theirs.listener.netns == inode and ours.listener.netns == own_netns() != inode

    child = spawn(stack, in_netns(name), NS_CHILD)
    inside, inside_sentinel = child.line()["cookies"]
    proc = child.proc
    assert proc.stdin is not None

    def close_inside(index: int) -> None:
        assert proc.stdin is not None
        proc.stdin.write(f"close {index}\n".encode())
        proc.stdin.flush()
        assert child.line() == {"closed": index}

    outside, _port = close_udp()
    close_inside(0)
    theirs.until_cookies({inside})
    ours.until_cookies({outside})
    # Sentinels closed after both broadcasts: read them, and anything sent before was read too.
    sentinel(ours)
    close_inside(1)
    theirs.until_cookies({inside_sentinel})

    assert inside not in ours.cookies()
    assert outside not in theirs.cookies()
    assert all(e.netns == inode for e in theirs.events)
    assert all(e.netns == own_netns() for e in ours.events)
    assert theirs.cookies()[inside] == 1 and ours.cookies()[outside] == 1


def test_namespace_that_cannot_be_found_raises_plainly() -> None:
    before = threading.active_count()
    listener = DestroyListener(netns=1)  # no namespace has inode 1
    with pytest.raises(OSError, match="network namespace"):
        listener.start()
    assert not listener.running and threading.active_count() == before
    listener.stop()


def test_malformed_and_forged_messages_are_skipped(stack: contextlib.ExitStack) -> None:
    """Root may multicast to the destroy groups itself: such messages are counted, never raised."""
    require_root_and("ip")
    # In a namespace of our own, so that no other listener on the host sees the junk.
    name = add_netns(stack, f"sockui-test-{random_tag()}-junk")
    path = ns_path(name)
    inbox = Inbox(stack, netns=inode_of_path(path))

    def make_sender() -> socket.socket:
        return socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, netlink.NETLINK_SOCK_DIAG)

    sender = stack.enter_context(open_in_netns(path, make_sender))
    sender.bind((0, 0))
    truncated = netlink.NLMSG_HDR.pack(16 + 8, netlink.SOCK_DIAG_BY_FAMILY, 0, 0, 0) + bytes(8)
    bad_length = netlink.NLMSG_HDR.pack(400, netlink.SOCK_DIAG_BY_FAMILY, 0, 0, 0) + bytes(8)
    for junk in (truncated, bad_length, b"\x01\x02"):
        sender.sendto(junk, (0, 0x1))
    inbox.until(lambda: inbox.listener.malformed >= 3, what="three malformed messages")

    def make_udp() -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.1", 0))
        return sock

    udp = open_in_netns(path, make_udp)
    cookie = cookie_of(udp)
    udp.close()
    inbox.until_cookies({cookie})
    assert inbox.listener.running and inbox.listener.error is None
    assert inbox.listener.malformed == 3


# -- 6. stop() ----------------------------------------------------------------------------------------------


def open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


@pytest.mark.parametrize("netns", ["own", "other"])
def test_stop_is_prompt_and_leaves_nothing(netns: str) -> None:
    with contextlib.ExitStack() as stack:
        inode = 0
        if netns == "other":
            require_root_and("ip")
            inode = inode_of_path(ns_path(add_netns(stack, f"sockui-test-{random_tag()}-stop")))
        fds = open_fds()
        threads = set(threading.enumerate())
        woke = threading.Event()

        def wake_then_fail() -> None:
            woke.set()
            raise ValueError("a callback that fails")

        listener = DestroyListener(netns=inode, on_event=wake_then_fail)
        listener.start()
        stack.callback(listener.stop)
        if os.geteuid() == 0:
            assert listener.buffer_size == 2 * DEFAULT_RCVBUF  # SO_RCVBUFFORCE, doubled by the kernel
        new = set(threading.enumerate()) - threads
        assert [t.name for t in new] == ["sockui-destroy-events"]
        assert len(open_fds() - fds) == 3  # the netlink socket and both ends of the wake pipe
        if netns == "own":
            # The callback raises every time: delivery goes on regardless.
            cookies = [close_udp()[0] for _ in range(3)]
            seen: set[int] = set()
            deadline = time.monotonic() + 10
            while not set(cookies) <= seen:
                woke.clear()
                seen.update(e.sock.cookie for e in listener.drain())
                if not set(cookies) <= seen:
                    assert woke.wait(max(0.0, deadline - time.monotonic())), "no event"
            assert listener.running and listener.error is None
        started = time.monotonic()
        listener.stop()
        took = time.monotonic() - started
        assert took < 1.0, took
        assert not listener.running
        assert not any(t.name == "sockui-destroy-events" for t in threading.enumerate())
        assert open_fds() == fds
        listener.stop()  # idempotent
        with pytest.raises(RuntimeError):
            listener.start()


# -- 7. Decoding hostile datagrams (no kernel can be made to send them) -------------------------------------


def destroy_message(
    protocol: int | None, cookie: int = 42, mtype: int = netlink.SOCK_DIAG_BY_FAMILY
) -> bytes:
    """A destroy message as the kernel builds it: inet_diag_msg (v4, CLOSE) and INET_DIAG_PROTOCOL."""
    body = inet_diag.MSG.pack(
        socket.AF_INET,
        TCP_CLOSE,
        0,
        0,
        socket.htons(1234),
        socket.htons(80),
        socket.inet_aton("127.0.0.1") + bytes(12),
        socket.inet_aton("127.0.0.2") + bytes(12),
        0,
        cookie & 0xFFFFFFFF,
        cookie >> 32,
        0,
        0,
        0xFFFFFFFF,
        0,
        0,
    )
    if protocol is not None:
        body += netlink.NLA_HDR.pack(5, inet_diag.INET_DIAG_PROTOCOL) + bytes([protocol]) + bytes(3)
    return netlink.NLMSG_HDR.pack(16 + len(body), mtype, 0, 0, 0) + body


@pytest.mark.parametrize(
    ("data", "groups", "cookies", "malformed"),
    [
        pytest.param(destroy_message(IPPROTO_UDP), 0x2, [42], 0, id="udp"),
        pytest.param(destroy_message(None), 0x1, [42], 0, id="no-protocol-attr-group-says-tcp"),
        pytest.param(destroy_message(None), 0, [], 1, id="no-protocol-anywhere"),
        pytest.param(
            destroy_message(IPPROTO_TCP, 1) + destroy_message(IPPROTO_TCP, 2), 0x1, [1, 2], 0, id="two"
        ),
        pytest.param(destroy_message(IPPROTO_TCP, mtype=netlink.NLMSG_ERROR), 0x1, [], 1, id="not-an-event"),
        pytest.param(destroy_message(IPPROTO_TCP)[:16] + bytes(8), 0x1, [], 1, id="header-says-more"),
        pytest.param(
            netlink.NLMSG_HDR.pack(24, netlink.SOCK_DIAG_BY_FAMILY, 0, 0, 0) + bytes(8),
            0x1,
            [],
            1,
            id="short-body",
        ),
        pytest.param(destroy_message(IPPROTO_TCP, 7) + b"\xff" * 20, 0x1, [7], 1, id="junk-after-a-good-one"),
        pytest.param(b"\x01\x02", 0x1, [], 1, id="no-header"),
        pytest.param(b"", 0x1, [], 1, id="empty"),
    ],
)
def test_decode_datagram_skips_what_it_cannot_trust(
    data: bytes, groups: int, cookies: list[int], malformed: int
) -> None:
    events, bad = decode_datagram(memoryview(data), groups, 99, 1.5, inet_diag.AddressCache())
    assert [e.sock.cookie for e in events] == cookies
    assert bad == malformed
    for event in events:
        assert (event.netns, event.time, event.sock.sport, event.sock.dport) == (99, 1.5, 1234, 80)
        assert event.sock.protocol in (IPPROTO_TCP, IPPROTO_UDP)
