"""A minimal NETLINK_SOCK_DIAG client: send one request, walk the reply messages.

Only the standard library is used (``socket.AF_NETLINK`` + ``struct``); pyroute2 was measured ~10x slower
than ss at scale. Parsing is kept apart from I/O (:func:`iter_messages`, :func:`iter_attrs` work on bytes)
so captured dumps can be replayed in unit tests.

See sock_diag(7), netlink(7) and docs/sock_diag.md for the wire formats and kernel quirks handled here.
"""

from __future__ import annotations

import errno
import os
import socket
import struct
from collections.abc import Generator, Iterator

NETLINK_SOCK_DIAG = 4
SOCK_DIAG_BY_FAMILY = 20
SOCK_DESTROY = 21

NLMSG_NOOP = 1
NLMSG_ERROR = 2
NLMSG_DONE = 3
NLMSG_OVERRUN = 4

NLM_F_REQUEST = 0x1
NLM_F_MULTI = 0x2
NLM_F_ACK = 0x4
NLM_F_DUMP_INTR = 0x10
NLM_F_DUMP = 0x300

NLMSG_HDR = struct.Struct("=IHHII")
NLA_HDR = struct.Struct("=HH")
NLA_TYPE_MASK = 0x3FFF

#: The kernel sizes each dump skb from the recv length, capped near 32 KiB (SKB_WITH_OVERHEAD(32768));
#: a larger buffer brings nothing, a smaller one costs more syscalls (docs/sock_diag.md section 1).
RECV_SIZE = 65536


#: Longest wait for one datagram of a reply. The kernel answers within milliseconds; a socket that
#: stays silent this long is stuck (a refused request whose refusal we missed, a kernel bug), and a
#: recv that never returns would hang the refresh loop and, through it, quitting the app.
RECV_TIMEOUT = 10.0


class NetlinkError(OSError):
    """The kernel answered a request with an error (NLMSG_ERROR or a negative NLMSG_DONE)."""


class NetlinkProtocolError(OSError):
    """The reply stream was malformed (truncated header, impossible length).

    An OSError (EPROTO) so that every caller's "the socket broke, start over" path handles it too.
    """

    def __init__(self, message: str) -> None:
        super().__init__(errno.EPROTO, message)


def iter_messages(buf: bytes | memoryview) -> Iterator[tuple[int, int, int, memoryview]]:
    """Yield (type, flags, seq, payload) for each netlink message in one received datagram.

    A message whose length field runs past the buffer is a protocol error: the rest of the datagram
    cannot be trusted, so we stop with an exception rather than guess.
    """
    view = memoryview(buf)
    size = len(view)
    off = 0
    unpack = NLMSG_HDR.unpack_from
    while off + 16 <= size:
        length, mtype, flags, seq, _pid = unpack(view, off)
        if length < 16 or off + length > size:
            raise NetlinkProtocolError(f"netlink message length {length} at offset {off} of {size}")
        yield mtype, flags, seq, view[off + 16 : off + length]
        off += (length + 3) & ~3


def iter_attrs(buf: memoryview, off: int = 0) -> Iterator[tuple[int, memoryview]]:
    """Yield (type, payload) for each rtnetlink-style attribute from ``off`` to the end of ``buf``.

    Attribute length covers header and payload but not the alignment padding. A truncated attribute
    ends the walk quietly: the fields decoded so far are still good, and newer kernels may append
    attributes we do not know.
    """
    size = len(buf)
    unpack = NLA_HDR.unpack_from
    while off + 4 <= size:
        length, atype = unpack(buf, off)
        if length < 4 or off + length > size:
            return
        yield atype & NLA_TYPE_MASK, buf[off + 4 : off + length]
        off += (length + 3) & ~3


def error_code(payload: memoryview) -> int:
    """The (negative) errno carried by an NLMSG_ERROR or NLMSG_DONE payload; 0 when absent."""
    if len(payload) < 4:
        return 0
    return int(struct.unpack_from("=i", payload)[0])


class NetlinkSocket:
    """One NETLINK_SOCK_DIAG socket, reused for every dump of a refresh.

    Not thread-safe: the kernel runs one dump per socket at a time, so each reader owns its own
    instance. A dump that was not read to its end (an error, a consumer that stopped early) leaves
    the rest of its reply queued in the kernel, and the next request on the socket would be refused
    with EBUSY: such a socket marks itself :attr:`broken`, and its owner replaces it.
    """

    def __init__(self, timeout: float = RECV_TIMEOUT) -> None:
        self._sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_SOCK_DIAG)
        try:
            # SO_RCVTIMEO rather than settimeout(): the socket stays blocking (no poll() before every
            # recv) and a silent kernel surfaces as EAGAIN after ``timeout`` seconds.
            seconds = int(timeout)
            micros = int((timeout - seconds) * 1_000_000)
            self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("ll", seconds, micros))
            self._sock.bind((0, 0))
        except BaseException:
            self._sock.close()
            raise
        self._seq = 0
        self._buf = bytearray(RECV_SIZE)
        #: True once a reply was left half read: the kernel would refuse the next dump (EBUSY).
        self.broken = False

    def close(self) -> None:
        """Release the kernel socket."""
        self.broken = True
        self._sock.close()

    def __enter__(self) -> NetlinkSocket:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _send(self, payload: bytes, flags: int, mtype: int = SOCK_DIAG_BY_FAMILY) -> int:
        self._seq = (self._seq + 1) & 0xFFFFFFFF
        header = NLMSG_HDR.pack(16 + len(payload), mtype, flags, self._seq, 0)
        self._sock.sendto(header + payload, (0, 0))
        return self._seq

    def _recv(self) -> bytes:
        try:
            n = self._sock.recv_into(self._buf)
        except BlockingIOError as exc:  # SO_RCVTIMEO expired
            raise TimeoutError(errno.ETIMEDOUT, "no reply from the kernel's sock_diag") from exc
        # Copy out: the consumer may keep views into the payload while we refill the buffer.
        return bytes(self._buf[:n])

    def dump(self, request: bytes) -> Generator[memoryview, None, None]:
        """Run one dump and yield the payload of every data message.

        Raises :class:`NetlinkError` when the kernel refuses the request; a protocol the kernel lacks
        fails inside NLMSG_DONE (e.g. RAW without CONFIG_INET_RAW_DIAG gives DONE -ENOENT), so the
        DONE payload is checked too. EBUSY carrying our sequence number is the kernel refusing our
        dump because another one is still running on this socket: an error too, never something
        to wait out (no reply to our request will ever come). Messages with an older sequence
        number (left over from an abandoned dump) are skipped.
        """
        finished = False
        try:
            seq = self._send(request, NLM_F_REQUEST | NLM_F_DUMP)
            while True:
                for mtype, _flags, mseq, payload in iter_messages(self._recv()):
                    if mseq != seq:
                        continue
                    if mtype in (NLMSG_DONE, NLMSG_ERROR):
                        code = error_code(payload)
                        # Our reply ends here: nothing of ours is left queued. But EBUSY means an
                        # older dump still runs on this socket, so the socket is not clean.
                        finished = code != -errno.EBUSY
                        if code < 0:
                            raise NetlinkError(-code, os.strerror(-code))
                        return
                    if mtype in (NLMSG_NOOP, NLMSG_OVERRUN):
                        continue
                    yield payload
        finally:
            if not finished:
                self.broken = True

    def request(self, payload: bytes, mtype: int = SOCK_DIAG_BY_FAMILY) -> list[memoryview]:
        """Send a non-dump request with ACK and return the data replies (exact query, SOCK_DESTROY).

        Raises :class:`NetlinkError` on a negative acknowledgement.
        """
        finished = False
        try:
            seq = self._send(payload, NLM_F_REQUEST | NLM_F_ACK, mtype)
            replies: list[memoryview] = []
            while True:
                for rtype, _flags, mseq, body in iter_messages(self._recv()):
                    if mseq != seq:
                        continue
                    if rtype in (NLMSG_ERROR, NLMSG_DONE):
                        finished = True
                        code = error_code(body) if rtype == NLMSG_ERROR else 0
                        if code < 0:
                            raise NetlinkError(-code, os.strerror(-code))
                        return replies
                    replies.append(body)
        finally:
            if not finished:
                self.broken = True
