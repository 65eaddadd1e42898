"""inet_diag: TCP, UDP and RAW sockets over IPv4 and IPv6, requests and reply decoding.

Wire layouts are in docs/sock_diag.md section 2. Decoding is split from I/O: :func:`decode` turns one
reply payload into a :class:`InetSocket`, whatever produced the bytes (a live dump or a capture).
"""

from __future__ import annotations

import socket
import struct
from typing import NamedTuple

from sockui.model.kernel import (
    AF_INET,
    AF_INET6,
    IPPROTO_RAW,
    IPPROTO_TCP,
    IPPROTO_UDP,
    TCP_BOUND_INACTIVE,
    TCP_CLOSE,
    TCP_LISTEN,
    TCP_NEW_SYN_RECV,
)

__all__ = [
    "AF_INET",
    "AF_INET6",
    "IPPROTO_RAW",
    "IPPROTO_TCP",
    "IPPROTO_UDP",
    "TCP_BOUND_INACTIVE",
    "TCP_CLOSE",
    "TCP_LISTEN",
    "TCP_NEW_SYN_RECV",
    "AddressCache",
    "InetSocket",
    "build_exact",
    "build_port_request",
    "build_request",
    "decode",
    "with_ifindex",
]

# Extension bits (idiag_ext): the bit for attribute n is 1 << (n - 1).
EXT_INFO = 0x02
EXT_CONG = 0x08

# Reply attributes we keep.
INET_DIAG_INFO = 2
INET_DIAG_CONG = 4
INET_DIAG_PROTOCOL = 10

#: Every state, bound-inactive included. On kernels before 6.8 bit 13 selects nothing, so asking for
#: it is harmless there; we degrade to finding such sockets through /proc as unbound.
ALL_STATES = 0xFFFFFFFF

NO_COOKIE = b"\xff" * 8

REQ = struct.Struct("=BBBBI")
# family, state, timer, retrans, sport, dport, src, dst, ifindex, cookie lo, cookie hi,
# expires, rqueue, wqueue, uid, inode. Ports are big-endian in the kernel struct: swapped below.
MSG = struct.Struct("=BBBBHH16s16sIIIIIIII")
MSG_SIZE = MSG.size  # 72

_ntohs = socket.ntohs
_NLA = struct.Struct("=HH")


class InetSocket(NamedTuple):
    """One inet_diag reply, decoded but not yet classified (the snapshot builder does that).

    A NamedTuple, not a dataclass: tens of thousands are made per refresh and most are dropped.
    """

    family: int
    protocol: int
    state: int
    src: str
    sport: int
    dst: str
    dport: int
    ifindex: int
    cookie: int
    rqueue: int
    wqueue: int
    uid: int
    inode: int
    timer: int
    expires: int
    tcp_info: bytes | None
    cong: str | None


def build_request(family: int, protocol: int, ext: int = 0, states: int = ALL_STATES) -> bytes:
    """An ``inet_diag_req_v2`` dump request for one family and protocol (AF_UNSPEC is refused)."""
    return REQ.pack(family, protocol, ext, 0, states) + bytes(40) + NO_COOKIE


def build_exact(
    family: int,
    protocol: int,
    src: str,
    sport: int,
    dst: str,
    dport: int,
    cookie: int | None,
    ext: int = 0,
    raw_protocol: int = 0,
) -> bytes:
    """A request naming one socket, for exact queries and SOCK_DESTROY.

    The caller picks the orientation: it differs between TCP and UDP queries (notes section 2).
    """
    s = socket.inet_pton(family, src).ljust(16, b"\0")[:16] if src else bytes(16)
    d = socket.inet_pton(family, dst).ljust(16, b"\0")[:16] if dst else bytes(16)
    ck = NO_COOKIE if cookie is None else struct.pack("=II", cookie & 0xFFFFFFFF, cookie >> 32)
    return (
        REQ.pack(family, protocol, ext, raw_protocol, ALL_STATES)
        + struct.pack(">HH", sport, dport)
        + s
        + d
        + struct.pack("=I", 0)
        + ck
    )


#: Offset of the sockid's interface index in an ``inet_diag_req_v2`` (8-byte header, then 36 bytes in).
_REQ_IFINDEX = REQ.size + 36


def with_ifindex(request: bytes, ifindex: int) -> bytes:
    """The same request, naming the interface the socket is bound to.

    A socket bound to a device (SO_BINDTODEVICE, scoped IPv6 addresses) is found by an exact query or
    SOCK_DESTROY only when the request carries that interface: with 0 the kernel answers ENOENT
    (seen on 6.18 for TCP and UDP bound to ``lo``). Dump replies give it in the sockid's ifindex.
    """
    return request[:_REQ_IFINDEX] + struct.pack("=I", ifindex) + request[_REQ_IFINDEX + 4 :]


def build_port_request(
    family: int, protocol: int, sport: int, ext: int = 0, states: int = ALL_STATES
) -> bytes:
    """A dump request the kernel limits to sockets on local port ``sport``.

    The kernel ignores the addresses and does not apply the port to bound-inactive TCP entries
    (docs/sock_diag.md section 2): callers still check what comes back.
    """
    return REQ.pack(family, protocol, ext, 0, states) + struct.pack(">HH", sport, 0) + bytes(36) + NO_COOKIE


class AddressCache:
    """Memoise binary -> text address conversion: most sockets share a handful of addresses."""

    def __init__(self) -> None:
        self._v4: dict[bytes, str] = {}
        self._v6: dict[bytes, str] = {}

    def v4(self, raw: bytes) -> str:
        """Dotted-quad text of the first four bytes of ``raw``."""
        key = raw[:4]
        text = self._v4.get(key)
        if text is None:
            text = self._v4[key] = socket.inet_ntop(AF_INET, key)
        return text

    def v6(self, raw: bytes) -> str:
        """Compressed lowercase IPv6 text (inet_ntop gives exactly that, ::ffff:a.b.c.d for mapped)."""
        text = self._v6.get(raw)
        if text is None:
            text = self._v6[raw] = socket.inet_ntop(AF_INET6, raw)
        return text


#: struct tcp_info: tcpi_bytes_acked and tcpi_bytes_received, native u64 (docs/sock_diag.md section 4).
_COUNTERS = struct.Struct("=QQ")
_COUNTERS_AT = 120


def info_counters(payload: memoryview) -> tuple[int, int] | None:
    """``(bytes_acked, bytes_received)`` from a reply's INET_DIAG_INFO; None without one (or too short).

    What rates need, read in place: the table's refresh then keeps its cached decoded sockets and
    unchanged records, which copying the whole tcp_info (it changes at every dump) would defeat.
    """
    size = len(payload)
    off = MSG_SIZE
    unpack = _NLA.unpack_from
    while off + 4 <= size:
        length, atype = unpack(payload, off)
        if length < 4 or off + length > size:
            return None
        if atype & 0x3FFF == INET_DIAG_INFO:
            if length - 4 < _COUNTERS_AT + _COUNTERS.size:
                return None
            acked, received = _COUNTERS.unpack_from(payload, off + 4 + _COUNTERS_AT)
            return acked, received
        off += (length + 3) & ~3
    return None


def decode(payload: memoryview, protocol: int, addrs: AddressCache, attrs: bool = True) -> InetSocket | None:
    """Decode one ``inet_diag_msg`` and the attributes we keep; None when the message is too short.

    This runs once per socket per refresh (100k times at scale), so the attribute walk is inlined
    and can be skipped (``attrs=False``) when the request asked for no extension: TCP and UDP
    replies then carry nothing we use (SHUTDOWN, CGROUP_ID, SOCKOPT).
    """
    if len(payload) < MSG_SIZE:
        return None
    (
        family,
        state,
        timer,
        _retrans,
        sport,
        dport,
        src,
        dst,
        ifindex,
        ck_lo,
        ck_hi,
        expires,
        rqueue,
        wqueue,
        uid,
        inode,
    ) = MSG.unpack_from(payload)
    conv = addrs.v4 if family == AF_INET else addrs.v6
    tcp_info: bytes | None = None
    cong: str | None = None
    real_protocol = protocol
    if attrs:
        size = len(payload)
        off = MSG_SIZE
        unpack = _NLA.unpack_from
        while off + 4 <= size:
            length, atype = unpack(payload, off)
            if length < 4 or off + length > size:
                break  # truncated: keep what we have
            atype &= 0x3FFF
            if atype == INET_DIAG_INFO:
                tcp_info = bytes(payload[off + 4 : off + length])
            elif atype == INET_DIAG_CONG:
                cong = bytes(payload[off + 4 : off + length]).split(b"\0", 1)[0].decode("ascii", "replace")
            elif atype == INET_DIAG_PROTOCOL and length > 4:
                real_protocol = payload[off + 4]
            off += (length + 3) & ~3
    return InetSocket(
        family,
        real_protocol,
        state,
        conv(src),
        _ntohs(sport),
        conv(dst),
        _ntohs(dport),
        ifindex,
        ck_lo | (ck_hi << 32),
        rqueue,
        wqueue,
        uid,
        inode,
        timer,
        expires,
        tcp_info,
        cong,
    )
