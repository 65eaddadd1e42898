"""Regenerate the captured sock_diag replies in tests/data/ from real sockets on this machine.

Run from the repository root, in the project's venv (root is not needed)::

    python tests/data/capture.py

The script opens a known set of sockets in this process (TCP over IPv4, IPv6 and a dual-stack
listener reached over IPv4, a TIME_WAIT flow, a bound-inactive TCP socket, bound and connected UDP,
UNIX stream listener + accepted client + a client left pending, a socketpair, an abstract datagram
name holding hostile bytes and an unnamed datagram socket), runs real dumps through
:class:`sockui.collect.netlink.NetlinkSocket`, writes what the kernel answered and closes everything.

File formats
------------
``*.nl``
    A sequence of records, each a little-endian ``u32`` byte count followed by that many bytes.
    Nothing else: no header, no padding between records.

    * ``*.dgrams.nl``: each record is one whole datagram exactly as ``recv`` returned it during a
      dump: one or more netlink messages (16-byte ``nlmsghdr`` each, 4-byte aligned), the last
      datagram ending with NLMSG_DONE. The inet dumps ask the kernel to filter on a port
      (``idiag_sport`` / ``idiag_dport`` in the request's sockid), so these datagrams only hold the
      sockets opened here; the bound-inactive bit (13) is left out of their state mask because the
      kernel ignores the port filter for those entries.
    * ``*.payloads.nl``: each record is one message payload as ``NetlinkSocket.dump`` yields it (no
      ``nlmsghdr``): an ``inet_diag_msg`` or ``unix_diag_msg`` with its attributes. These dumps
      cannot be filtered by the kernel, so only the payloads of sockets opened here are kept
      (selected by the inode field read with ``struct``, not with sockui's decoders).

``sockets.json``
    What the script knew about each socket while it was open, by role (``tcp4_server``,
    ``unix_pending`` ...): inode (``fstat``), cookie (``SO_COOKIE``), uid, local/remote address and
    port, UNIX names, bytes left unread. ``"dumps"`` names every ``*.nl`` file with the request that
    produced it (family, protocol, ext bits, states, port filter). The unit tests compare the decoded
    bytes with these facts.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import struct
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sockui.collect import inet_diag, unix_diag
from sockui.collect.netlink import NetlinkError, NetlinkSocket

HERE = Path(__file__).resolve().parent

SO_COOKIE = 57  # include/uapi/asm-generic/socket.h; not exported by Python's socket module
ALL_BUT_BOUND_INACTIVE = 0xFFFFFFFF & ~(1 << inet_diag.TCP_BOUND_INACTIVE)
REQ_HEAD = struct.Struct("=BBBBI")
INODE = struct.Struct("=I")  # idiag_inode at offset 68 (inet), udiag_ino at offset 4 (unix)
TIME_WAIT = 6


class _RecordingSocket:
    """Stands in for NetlinkSocket's kernel socket and keeps a copy of every datagram received."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self.datagrams: list[bytes] = []

    def recv_into(self, buf: bytearray) -> int:
        n = self._sock.recv_into(buf)
        self.datagrams.append(bytes(buf[:n]))
        return n

    def sendto(self, data: bytes, address: tuple[int, int]) -> int:
        return self._sock.sendto(data, address)

    def close(self) -> None:
        self._sock.close()


def write_records(path: Path, records: list[bytes]) -> None:
    """Write ``records`` in the ``*.nl`` format described at the top of this file."""
    with path.open("wb") as fh:
        for record in records:
            fh.write(struct.pack("<I", len(record)))
            fh.write(record)


def port_request(family: int, protocol: int, ext: int, sport: int = 0, dport: int = 0) -> bytes:
    """A dump request filtered by the kernel on local and/or remote port (notes section 2)."""
    return (
        REQ_HEAD.pack(family, protocol, ext, 0, ALL_BUT_BOUND_INACTIVE)
        + struct.pack(">HH", sport, dport)
        + bytes(36)
        + inet_diag.NO_COOKIE
    )


def capture_datagrams(request: bytes) -> list[bytes]:
    """Run one dump on a fresh NetlinkSocket (so its sequence number is 1) and keep the datagrams."""
    with NetlinkSocket() as nl:
        recorder = _RecordingSocket(nl._sock)  # the one intrusion: watch what recv_into returns
        nl._sock = recorder  # type: ignore[assignment]
        try:
            for _payload in nl.dump(request):
                pass
        except NetlinkError:
            pass  # kept: the error is what some tests replay
        return recorder.datagrams


def capture_payloads(request: bytes, inodes: set[int], inode_offset: int) -> list[bytes]:
    """Run one dump and keep the payloads of the sockets whose inode is in ``inodes``."""
    with NetlinkSocket() as nl:
        return [bytes(p) for p in nl.dump(request) if INODE.unpack_from(p, inode_offset)[0] in inodes]


def inode(sock: socket.socket) -> int:
    return os.fstat(sock.fileno()).st_ino


def cookie(sock: socket.socket) -> int:
    return int(struct.unpack("=Q", sock.getsockopt(socket.SOL_SOCKET, SO_COOKIE, 8))[0])


def describe(sock: socket.socket, **extra: Any) -> dict[str, Any]:
    """The facts the tests compare the captured bytes with."""
    facts: dict[str, Any] = {"inode": inode(sock), "cookie": cookie(sock), "uid": os.getuid()}
    if sock.family in (socket.AF_INET, socket.AF_INET6):
        local = sock.getsockname()
        facts["local"] = [local[0], local[1]]
        with contextlib.suppress(OSError):
            remote = sock.getpeername()
            facts["remote"] = [remote[0], remote[1]]
    facts.update(extra)
    return facts


def wait_time_wait(port: int) -> None:
    """Wait until the flow from local ``port`` has reached TIME_WAIT (the FIN exchange is async)."""
    request = port_request(socket.AF_INET, inet_diag.IPPROTO_TCP, 0, sport=port)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        with NetlinkSocket() as nl:
            if any(p[1] == TIME_WAIT for p in nl.dump(request)):
                return
        time.sleep(0.01)
    raise RuntimeError(f"no TIME_WAIT for port {port}")


@contextlib.contextmanager
def opened() -> Iterator[tuple[list[socket.socket], Path]]:
    """A list to put sockets in and a scratch directory; all closed and removed on exit."""
    socks: list[socket.socket] = []
    tmp = Path(tempfile.mkdtemp(prefix="sockui-capture-"))
    try:
        yield socks, tmp
    finally:
        for s in socks:
            s.close()
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> int:
    facts: dict[str, Any] = {}
    dumps: dict[str, Any] = {}
    with opened() as (socks, tmp):

        def keep(sock: socket.socket) -> socket.socket:
            socks.append(sock)
            return sock

        def tcp_flow(
            listener: socket.socket, family: int, target: str
        ) -> tuple[socket.socket, socket.socket]:
            client = keep(socket.socket(family, socket.SOCK_STREAM))
            client.connect((target, listener.getsockname()[1]))
            server = keep(listener.accept()[0])
            return client, server

        # TCP over IPv4: listener, one flow with 3 unread bytes on the server side, one TIME_WAIT flow.
        tcp4 = keep(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
        tcp4.bind(("127.0.0.1", 0))
        tcp4.listen(8)
        p4 = tcp4.getsockname()[1]
        c4, s4 = tcp_flow(tcp4, socket.AF_INET, "127.0.0.1")
        c4.sendall(b"abc")
        tw_client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        tw_client.connect(("127.0.0.1", p4))
        tw_server, _ = tcp4.accept()
        tw_port = tw_client.getsockname()[1]
        tw_cookie = cookie(tw_client)
        tw_client.close()  # the side that closes first is the one left in TIME_WAIT
        tw_server.close()
        wait_time_wait(tw_port)
        facts["tcp4_listener"] = describe(tcp4)
        facts["tcp4_client"] = describe(c4)
        facts["tcp4_server"] = describe(s4, unread=3)
        facts["tcp4_time_wait"] = {
            "inode": 0,
            "cookie": tw_cookie,
            "uid": 0,
            "local": ["127.0.0.1", tw_port],
            "remote": ["127.0.0.1", p4],
        }

        # TCP over IPv6 loopback.
        tcp6 = keep(socket.socket(socket.AF_INET6, socket.SOCK_STREAM))
        tcp6.bind(("::1", 0))
        tcp6.listen(8)
        p6 = tcp6.getsockname()[1]
        c6, s6 = tcp_flow(tcp6, socket.AF_INET6, "::1")
        facts["tcp6_listener"] = describe(tcp6)
        facts["tcp6_client"] = describe(c6)
        facts["tcp6_server"] = describe(s6)

        # A dual-stack IPv6 listener (on the v4-mapped loopback, so nothing listens on the network)
        # reached by an IPv4 client: its accepted socket is in the AF_INET6 dump as ::ffff:127.0.0.1.
        dual = keep(socket.socket(socket.AF_INET6, socket.SOCK_STREAM))
        dual.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        dual.bind(("::ffff:127.0.0.1", 0))
        dual.listen(8)
        pd = dual.getsockname()[1]
        cd, sd = tcp_flow(dual, socket.AF_INET, "127.0.0.1")
        facts["dual_listener"] = describe(dual)
        facts["dual_client"] = describe(cd)
        facts["dual_server"] = describe(sd)

        # TCP bound, neither listening nor connected: BOUND_INACTIVE (reported as state 7).
        bound = keep(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
        bound.bind(("127.0.0.1", 0))
        facts["tcp4_bound"] = describe(bound)

        # UDP: a bound server with one unread datagram, a client connected to it, an IPv6 server.
        u4 = keep(socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
        u4.bind(("127.0.0.1", 0))
        uc4 = keep(socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
        uc4.connect(u4.getsockname())
        uc4.send(b"ping")
        u6 = keep(socket.socket(socket.AF_INET6, socket.SOCK_DGRAM))
        u6.bind(("::1", 0))
        facts["udp4_server"] = describe(u4)
        facts["udp4_client"] = describe(uc4)
        facts["udp6_server"] = describe(u6)

        # UNIX: a stream listener with an accepted client (5 unread bytes on the accepted side) and
        # a client left in the accept queue; a socketpair; an abstract datagram name holding a newline
        # and a byte that is not UTF-8, connected to by an unnamed client; an unnamed, unbound socket.
        path = str(tmp / "srv.sock")
        ul = keep(socket.socket(socket.AF_UNIX, socket.SOCK_STREAM))
        ul.bind(path)
        ul.listen(4)
        uc = keep(socket.socket(socket.AF_UNIX, socket.SOCK_STREAM))
        uc.connect(path)
        us = keep(ul.accept()[0])
        uc.sendall(b"hello")
        up = keep(socket.socket(socket.AF_UNIX, socket.SOCK_STREAM))
        up.connect(path)
        pa, pb = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        keep(pa)
        keep(pb)
        abstract = b"\0sockui-capture\n\xff-" + str(os.getpid()).encode()
        ad = keep(socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM))
        ad.bind(abstract)
        adc = keep(socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM))
        adc.connect(abstract)
        lone = keep(socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM))
        facts["unix_listener"] = describe(ul, name=path, backlog=4)
        facts["unix_client"] = describe(uc)
        facts["unix_server"] = describe(us, name=path, unread=5)
        facts["unix_pending"] = describe(up)
        facts["unix_pair_a"] = describe(pa)
        facts["unix_pair_b"] = describe(pb)
        # The name as bytes in hex (JSON cannot hold the raw bytes), abstract NUL included.
        facts["unix_abstract"] = describe(ad, name_hex=abstract.hex())
        facts["unix_abstract_client"] = describe(adc)
        facts["unix_unbound"] = describe(lone)

        tcp, udp = inet_diag.IPPROTO_TCP, inet_diag.IPPROTO_UDP
        v4, v6 = socket.AF_INET, socket.AF_INET6
        info = inet_diag.EXT_INFO | inet_diag.EXT_CONG
        plan: dict[str, tuple[int, int, int, int, int]] = {
            # name: (family, protocol, ext, sport, dport)
            "tcp4_local": (v4, tcp, 0, p4, 0),
            "tcp4_local_info": (v4, tcp, info, p4, 0),
            "tcp4_remote": (v4, tcp, 0, 0, p4),
            "tcp6_local": (v6, tcp, 0, p6, 0),
            "tcp6_local_info": (v6, tcp, info, p6, 0),
            "tcp6_remote": (v6, tcp, 0, 0, p6),
            "dual_local": (v6, tcp, 0, pd, 0),
            "dual_remote": (v4, tcp, 0, 0, pd),
            "udp4_local": (v4, udp, 0, u4.getsockname()[1], 0),
            "udp4_remote": (v4, udp, 0, 0, u4.getsockname()[1]),
            "udp6_local": (v6, udp, 0, u6.getsockname()[1], 0),
        }
        for name, (family, protocol, ext, sport, dport) in plan.items():
            datagrams = capture_datagrams(port_request(family, protocol, ext, sport, dport))
            write_records(HERE / f"{name}.dgrams.nl", datagrams)
            dumps[f"{name}.dgrams.nl"] = {
                "family": family,
                "protocol": protocol,
                "ext": ext,
                "states": ALL_BUT_BOUND_INACTIVE,
                "sport": sport,
                "dport": dport,
            }

        # RAW sockets: on a kernel without CONFIG_INET_RAW_DIAG the dump fails inside NLMSG_DONE.
        datagrams = capture_datagrams(inet_diag.build_request(v4, inet_diag.IPPROTO_RAW))
        write_records(HERE / "raw4.dgrams.nl", datagrams)
        dumps["raw4.dgrams.nl"] = {"family": v4, "protocol": inet_diag.IPPROTO_RAW, "ext": 0}

        bi_states = 1 << inet_diag.TCP_BOUND_INACTIVE
        payloads = capture_payloads(
            inet_diag.build_request(v4, tcp, 0, bi_states), {facts["tcp4_bound"]["inode"]}, 68
        )
        write_records(HERE / "tcp4_bound_inactive.payloads.nl", payloads)
        dumps["tcp4_bound_inactive.payloads.nl"] = {
            "family": v4,
            "protocol": tcp,
            "ext": 0,
            "states": bi_states,
        }

        unix_inodes = {f["inode"] for role, f in facts.items() if role.startswith("unix_")}
        payloads = capture_payloads(unix_diag.build_request(), unix_inodes, 4)
        write_records(HERE / "unix.payloads.nl", payloads)
        dumps["unix.payloads.nl"] = {"family": 1, "show": unix_diag.SHOW}

    out = {"kernel": os.uname().release, "sockets": facts, "dumps": dumps}
    (HERE / "sockets.json").write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {len(dumps)} captures and sockets.json to {HERE}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
