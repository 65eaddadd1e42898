"""The scenario the collector tests share: one socket of every kind sockui must describe, with known facts.

:func:`build_scenario` opens them in this process (plus a child holding one shared socket) and registers
every close with an ``ExitStack``; the fixtures in ``conftest.py`` own that stack.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sockui.collect.snapshot import Collector
from sockui.model.socket import InetEndpoint

from .holders import LINGER_RESET, Holder, spawn_holder, wait_for


def kernel_version() -> tuple[int, int]:
    """(major, minor) of the running kernel, from ``os.uname().release`` (``6.18.44-fc`` -> (6, 18))."""
    parts = os.uname().release.split(".")
    return int(parts[0]), int("".join(c for c in parts[1] if c.isdigit()) or 0)


#: Linux 6.8 added the TCP bound-inactive diag: a bound, inactive TCP socket is in the dumps.
BOUND_INACTIVE_KERNEL = kernel_version() >= (6, 8)


def ipv6_loopback_works() -> bool:
    """Whether ::1 can be bound here (some containers have no IPv6)."""
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
    except OSError:
        return False
    return True


def inode_of(sock: socket.socket) -> int:
    """The socket's inode, as /proc and the kernel dumps name it."""
    return os.fstat(sock.fileno()).st_ino


#: ``system.sockprotoname`` of the socket kinds sockui lists (docs/sock_diag.md section 9).
LISTED_KINDS = {"TCP", "TCPv6", "UDP", "UDPv6", "UNIX", "UNIX-STREAM", "RAW", "RAWv6"}


def own_socket_inodes() -> set[int]:
    """Inodes of every socket sockui can list that this process holds, read from /proc/self/fd.

    The test's own oracle: other tests in the same process (an asyncio loop's self-pipe, ...) may hold
    sockets too, so "the sockets of this pid" is more than the scenario.
    """
    inodes: set[int] = set()
    for name in os.listdir("/proc/self/fd"):
        link = f"/proc/self/fd/{name}"
        try:
            target = os.readlink(link)
            if not target.startswith("socket:["):
                continue
            kind = os.getxattr(link, "system.sockprotoname").split(b"\0", 1)[0].decode()
        except OSError:
            continue  # the fd listdir itself used, already closed
        if kind in LISTED_KINDS:
            inodes.add(int(target[8:-1]))
    return inodes


def own_comm() -> str:
    """This process's name as sockui reads it."""
    with open("/proc/self/comm", "rb") as fh:
        return fh.read().removesuffix(b"\n").decode("utf-8", "surrogateescape")


def close_socket(sock: socket.socket) -> None:
    """Close without leaving TIME_WAIT behind for connected TCP sockets."""
    with contextlib.suppress(OSError):
        if sock.type == socket.SOCK_STREAM and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER_RESET)
    sock.close()


class SocketBag:
    """Sockets a test opened (and UNIX socket files it bound), closed and removed by the fixture."""

    def __init__(self) -> None:
        self.socks: list[socket.socket] = []
        self.paths: list[bytes | str] = []

    def add(self, sock: socket.socket) -> socket.socket:
        self.socks.append(sock)
        return sock

    def new(self, family: int = socket.AF_INET, kind: int = socket.SOCK_STREAM) -> socket.socket:
        return self.add(socket.socket(family, kind))

    def bind_unix(self, sock: socket.socket, path: bytes | str) -> None:
        """Bind ``sock`` to a filesystem path that is removed at the end."""
        sock.bind(path)
        self.paths.append(path)

    def close(self) -> None:
        while self.socks:
            close_socket(self.socks.pop())
        while self.paths:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.paths.pop())


# -- the scenario --------------------------------------------------------------------------------------

#: A 4-tuple: local address, local port, remote address, remote port.
Flow = tuple[str, int, str, int]


@dataclass
class Scenario:
    """Sockets of every kind, held by this process (and one shared with a child), with known facts."""

    pid: int
    comm: str
    tmp: Path
    socks: dict[str, socket.socket] = field(default_factory=dict)
    #: The child holding ``socks["shared"]`` as well.
    holder: Holder | None = None
    #: The TIME_WAIT flow (the active closer's side), once it reached TIME_WAIT.
    time_wait: Flow | None = None
    unix_path: str = ""
    dgram_path: str = ""
    abstract_name: str = ""
    ipv6: bool = False

    def inode(self, key: str) -> int:
        return inode_of(self.socks[key])

    def fd(self, key: str) -> int:
        return self.socks[key].fileno()

    def port(self, key: str) -> int:
        return int(self.socks[key].getsockname()[1])

    def own_inodes(self) -> dict[str, int]:
        """Every scenario socket by name -> inode."""
        return {key: inode_of(s) for key, s in self.socks.items()}


def _tcp_pair(listener: socket.socket) -> tuple[socket.socket, socket.socket]:
    client = socket.socket(listener.family, socket.SOCK_STREAM)
    try:
        client.connect(listener.getsockname()[:2])
        server, _ = listener.accept()
    except BaseException:
        client.close()
        raise
    return client, server


def make_time_wait(listener: socket.socket) -> Flow:
    """Connect, then close client first and server second: the client's flow ends in TIME_WAIT."""
    client, server = _tcp_pair(listener)
    try:
        laddr, lport = client.getsockname()[:2]
        raddr, rport = client.getpeername()[:2]
        client.close()
        server.settimeout(10)
        assert server.recv(1) == b"", "the server side should see the client's FIN as EOF"
    finally:
        client.close()
        server.close()
    flow: Flow = (laddr, lport, raddr, rport)
    with Collector(owners=False) as collector:

        def reached() -> bool:
            for s in collector.collect().sockets:
                if s.state == "TIME_WAIT" and isinstance(s.local, InetEndpoint):
                    assert isinstance(s.remote, InetEndpoint)
                    if (s.local.address, s.local.port, s.remote.address, s.remote.port) == flow:
                        return True
            return False

        wait_for(reached, timeout=10, interval=0.02, what=f"TIME_WAIT on {flow}")
    return flow


def build_scenario(stack: contextlib.ExitStack, tmp: Path) -> Scenario:
    """Open every socket of the scenario; ``stack`` closes them."""
    sc = Scenario(pid=os.getpid(), comm=own_comm(), tmp=tmp, ipv6=ipv6_loopback_works())

    def keep(key: str, sock: socket.socket) -> socket.socket:
        stack.callback(close_socket, sock)
        sc.socks[key] = sock
        return sock

    def make(key: str, family: int, type_: int) -> socket.socket:
        return keep(key, socket.socket(family, type_))

    # TCP: listeners on both loopbacks, a connected pair on each, bound-but-idle, bare socket().
    v4 = make("tcp4_listener", socket.AF_INET, socket.SOCK_STREAM)
    v4.bind(("127.0.0.1", 0))
    v4.listen(16)
    client, server = _tcp_pair(v4)
    keep("tcp4_client", client)
    keep("tcp4_server", server)
    if sc.ipv6:
        v6 = make("tcp6_listener", socket.AF_INET6, socket.SOCK_STREAM)
        v6.bind(("::1", 0))
        v6.listen(16)
        client, server = _tcp_pair(v6)
        keep("tcp6_client", client)
        keep("tcp6_server", server)
        # An IPv6 socket on the v4-mapped loopback, reached by an IPv4 client: mixed-family pair.
        mapped = make("tcp_mapped_listener", socket.AF_INET6, socket.SOCK_STREAM)
        mapped.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        mapped.bind(("::ffff:127.0.0.1", 0))
        mapped.listen(4)
        client = make("tcp_mapped_client", socket.AF_INET, socket.SOCK_STREAM)
        client.connect(("127.0.0.1", mapped.getsockname()[1]))
        keep("tcp_mapped_server", mapped.accept()[0])
    make("tcp_bound", socket.AF_INET, socket.SOCK_STREAM).bind(("127.0.0.1", 0))
    make("tcp_bare", socket.AF_INET, socket.SOCK_STREAM)
    make("udp6_bare", socket.AF_INET6, socket.SOCK_DGRAM)

    # UDP: a bound server and a client connected to it.
    udp = make("udp_bound", socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    udp_client = make("udp_connected", socket.AF_INET, socket.SOCK_DGRAM)
    udp_client.bind(("127.0.0.1", 0))
    udp_client.connect(udp.getsockname())

    # UNIX: stream listener + client + accepted, bound dgram, socketpair, abstract name, bare socket().
    sc.unix_path = str(tmp / "srv.sock")
    sc.dgram_path = str(tmp / "dgram.sock")
    for path in (sc.unix_path, sc.dgram_path):
        stack.callback(Path(path).unlink, missing_ok=True)
    ulisten = make("unix_listener", socket.AF_UNIX, socket.SOCK_STREAM)
    ulisten.bind(sc.unix_path)
    ulisten.listen(4)
    uclient = make("unix_client", socket.AF_UNIX, socket.SOCK_STREAM)
    uclient.connect(sc.unix_path)
    keep("unix_server", ulisten.accept()[0])
    make("unix_dgram", socket.AF_UNIX, socket.SOCK_DGRAM).bind(sc.dgram_path)
    # Connecting to a bound dgram socket flips its kernel state to 1, though it has no peer.
    make("unix_dgram_client", socket.AF_UNIX, socket.SOCK_DGRAM).connect(sc.dgram_path)
    left, right = socket.socketpair()
    keep("pair_a", left)
    keep("pair_b", right)
    sc.abstract_name = f"sockui-test-{os.getpid()}-{secrets.token_hex(4)}"
    abstract = make("unix_abstract", socket.AF_UNIX, socket.SOCK_STREAM)
    abstract.bind("\0" + sc.abstract_name)
    abstract.listen(1)
    make("unix_bare", socket.AF_UNIX, socket.SOCK_STREAM)

    # A listener this process shares with a child (as after fork or fd passing).
    shared = make("shared", socket.AF_INET, socket.SOCK_STREAM)
    shared.bind(("127.0.0.1", 0))
    shared.listen(1)
    sc.holder = spawn_holder([shared])
    stack.callback(sc.holder.stop)
    return sc


def find_by_inode(items: Sequence[dict[str, Any]], inode: int) -> dict[str, Any]:
    """The one JSON object with this inode; fails clearly if there are none or several."""
    found = [o for o in items if o["inode"] == inode]
    assert len(found) == 1, f"expected exactly one socket with inode {inode}, found {found}"
    return found[0]
