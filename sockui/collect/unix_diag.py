"""unix_diag: every AF_UNIX socket with its name, peer, pending connections, queues and owner uid.

Layouts and kernel behaviour: docs/sock_diag.md section 5. Like inet_diag, decoding works on bytes so
captured replies can be replayed in tests.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

from sockui.collect.netlink import iter_attrs
from sockui.model.kernel import (
    AF_UNIX,
    SOCK_DGRAM,
    SOCK_SEQPACKET,
    SOCK_STREAM,
    TCP_CLOSE,
    TCP_ESTABLISHED,
    TCP_LISTEN,
)

__all__ = [
    "AF_UNIX",
    "SOCK_DGRAM",
    "SOCK_SEQPACKET",
    "SOCK_STREAM",
    "TCP_CLOSE",
    "TCP_ESTABLISHED",
    "TCP_LISTEN",
    "UnixSocket",
    "build_request",
    "decode",
    "decode_name",
]

UDIAG_SHOW_NAME = 0x01
UDIAG_SHOW_PEER = 0x04
UDIAG_SHOW_ICONS = 0x08
UDIAG_SHOW_RQLEN = 0x10
UDIAG_SHOW_UID = 0x40
SHOW = UDIAG_SHOW_NAME | UDIAG_SHOW_PEER | UDIAG_SHOW_ICONS | UDIAG_SHOW_RQLEN | UDIAG_SHOW_UID

UNIX_DIAG_NAME = 0
UNIX_DIAG_PEER = 2
UNIX_DIAG_ICONS = 3
UNIX_DIAG_RQLEN = 4
UNIX_DIAG_SHUTDOWN = 6
UNIX_DIAG_UID = 7

REQ = struct.Struct("=BBHIIIII")
MSG = struct.Struct("=BBBBIII")
MSG_SIZE = MSG.size  # 16
_U32 = struct.Struct("=I")
_RQLEN = struct.Struct("=II")


class UnixSocket(NamedTuple):
    """One unix_diag reply, decoded but not yet classified."""

    type: int
    state: int
    inode: int
    cookie: int
    #: Decoded name: a path, ``@abstract``, or None when unnamed.
    name: str | None
    #: The peer's inode (0 when none: not connected, or the peer is not yet accepted).
    peer: int
    #: Listeners only: inodes of clients waiting to be accepted.
    icons: tuple[int, ...]
    rqueue: int
    wqueue: int
    uid: int | None
    shutdown: int


def build_request() -> bytes:
    """A dump request for every UNIX socket in every state."""
    return REQ.pack(AF_UNIX, 0, 0, 0xFFFFFFFF, 0, SHOW, 0xFFFFFFFF, 0xFFFFFFFF)


def decode_name(raw: bytes) -> str:
    """Turn a kernel sun_path into text.

    Abstract names start with NUL and may contain anything (they are shown with a leading ``@``, as
    ss does); paths carry a trailing NUL. Bytes that are not UTF-8 survive via surrogateescape.
    """
    if raw[:1] == b"\0":
        return "@" + raw[1:].decode("utf-8", "surrogateescape")
    return raw.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")


def decode(payload: memoryview) -> UnixSocket | None:
    """Decode one ``unix_diag_msg`` and its attributes; None when the message is too short."""
    if len(payload) < MSG_SIZE:
        return None
    _family, stype, state, _pad, inode, ck_lo, ck_hi = MSG.unpack_from(payload)
    name: str | None = None
    peer = 0
    icons: tuple[int, ...] = ()
    rqueue = wqueue = 0
    uid: int | None = None
    shutdown = 0
    for atype, value in iter_attrs(payload, MSG_SIZE):
        if atype == UNIX_DIAG_NAME:
            name = decode_name(bytes(value))
        elif atype == UNIX_DIAG_PEER and len(value) >= 4:
            peer = _U32.unpack_from(value)[0]
        elif atype == UNIX_DIAG_RQLEN and len(value) >= 8:
            rqueue, wqueue = _RQLEN.unpack_from(value)
        elif atype == UNIX_DIAG_UID and len(value) >= 4:
            uid = _U32.unpack_from(value)[0]
        elif atype == UNIX_DIAG_ICONS:
            count = len(value) // 4
            icons = struct.unpack_from(f"={count}I", value) if count else ()
        elif atype == UNIX_DIAG_SHUTDOWN and value:
            shutdown = value[0]
    return UnixSocket(
        stype, state, inode, ck_lo | (ck_hi << 32), name, peer, icons, rqueue, wqueue, uid, shutdown
    )
