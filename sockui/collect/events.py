"""Listen to the kernel's sock_diag destroy events: one message per TCP or UDP socket it frees.

Dumps only show the sockets alive at the moment they run, so a connection that opens and closes between
two refreshes is never seen. The kernel can tell us about those too: every network namespace multicasts
one ``SOCK_DIAG_BY_FAMILY`` message per inet socket it frees on four NETLINK_SOCK_DIAG groups
(docs/sock_diag.md section 7). Anyone may subscribe, root or not. :class:`DestroyListener` reads them on a
daemon thread and queues them; the app takes them with :meth:`DestroyListener.drain` and is never
blocked by the kernel or by the thread.

What an event carries (kernel 6.18, checked by tests/collect/test_destroy_events.py):

- The inet_diag_msg of the socket as it was freed: family, ports and addresses, the same cookie as in
  dumps (which is how an event is matched to a record), and state 7 (CLOSE), except for a connected UDP
  socket, which UDP's close leaves in 1 (ESTABLISHED). uid and inode are 0 and the queue sizes mean
  nothing (UDP shows wqueue 0xFFFFFFFF). Attributes: INET_DIAG_PROTOCOL and, for TCP, INET_DIAG_INFO
  holding the final ``struct tcp_info`` (whose own state byte is 7).
- One event per socket a process held (the client's and the accepted one) and one for a listener, at
  the moment the full socket is freed: at close() for a socket reset or already closed, when the peer
  acknowledges our FIN for the side that closed last, and for the side that closed first when its
  orphan turns into a TIME_WAIT (or FIN_WAIT2) mini-socket, which with tcp_fin_timeout at its default
  of 60 s happens as soon as its FIN is acknowledged. The mini-socket's own expiry 60 s later sends
  nothing (seen: no event while a TIME_WAIT entry came and went).
- Byte counters of the final tcp_info: ``bytes_sent`` is exactly the payload sent. ``bytes_acked`` and
  ``bytes_received`` count sequence space, so a FIN that was acknowledged or received adds one, and so
  does the connecting side's SYN to its ``bytes_acked``. A socket that closed first without having
  seen the peer's FIN has ``bytes_received`` equal to the payload; one that saw it, one more.
- A socket closed with SO_LINGER {1, 0} (abortive close) is disconnected (tcp_disconnect) before it is
  freed: its event keeps the cookie, sport and remote address but has dport 0, a local address of
  0.0.0.0 unless bind() chose it, and tcp_info counters reset to 0. Match such events by cookie.

The socket receive buffer is the only queue between the kernel and us. When it is full the kernel drops
events and reports ENOBUFS once on the next read (netlink overrun): :attr:`DestroyListener.overflows`
counts those reports (not the events lost, which nobody knows) and reading goes on.
"""

from __future__ import annotations

import contextlib
import errno
import os
import select
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from sockui.collect import inet_diag
from sockui.collect.netlink import NETLINK_SOCK_DIAG, SOCK_DIAG_BY_FAMILY, NetlinkProtocolError, iter_messages
from sockui.collect.netns import NetnsError, open_in_netns
from sockui.collect.netns_link import find_netns_path, own_netns

__all__ = [
    "DEFAULT_RCVBUF",
    "DESTROY_GROUPS",
    "DestroyEvent",
    "DestroyListener",
    "decode_datagram",
]

#: Bind mask bits of SKNLGRP_INET_TCP_DESTROY (1), SKNLGRP_INET_UDP_DESTROY (2),
#: SKNLGRP_INET6_TCP_DESTROY (3) and SKNLGRP_INET6_UDP_DESTROY (4): group n is bit n - 1.
GROUP_TCP4 = 0x1
GROUP_UDP4 = 0x2
GROUP_TCP6 = 0x4
GROUP_UDP6 = 0x8
DESTROY_GROUPS = GROUP_TCP4 | GROUP_UDP4 | GROUP_TCP6 | GROUP_UDP6

#: The protocol a message's group stands for; used only when the message lacks INET_DIAG_PROTOCOL.
_GROUP_PROTOCOL = {
    GROUP_TCP4: inet_diag.IPPROTO_TCP,
    GROUP_TCP6: inet_diag.IPPROTO_TCP,
    GROUP_UDP4: inet_diag.IPPROTO_UDP,
    GROUP_UDP6: inet_diag.IPPROTO_UDP,
}

#: Receive buffer asked for by default. Every event, TCP (380 B) or UDP (96 B), takes 1280 B of buffer
#: (819 fit in 1 MiB), and a process exiting with thousands of connections frees them all at once: the
#: buffer must hold such a burst while the thread waits for the GIL. Root gets it with SO_RCVBUFFORCE,
#: doubled by the kernel to 16 MiB (about 13,000 events); others get at most net.core.rmem_max, doubled,
#: with SO_RCVBUF (8 MiB, about 6,500 events, with the common rmem_max of 4 MiB).
DEFAULT_RCVBUF = 8 << 20

#: linux/asm-generic/socket.h: SO_RCVBUF ignoring net.core.rmem_max; needs CAP_NET_ADMIN.
SO_RCVBUFFORCE = 33

#: One event is one datagram; 64 KiB leaves room for any attribute a newer kernel may add.
_RECV_SIZE = 65536
#: Datagrams read before the queue is published and the stop request is looked at again, so that a
#: flood neither hides events from drain() nor delays stop().
_BATCH = 512


@dataclass(frozen=True, slots=True)
class DestroyEvent:
    """One socket the kernel freed, as its destroy message described it."""

    #: time.time() when the message was read (the kernel gives no timestamp of its own).
    time: float
    #: The decoded message: cookie, family, protocol, addresses and ports, state 7 (1 for a connected UDP
    #: socket), the final tcp_info bytes for TCP (``sockui.model.tcpinfo.decode``). uid, inode and the
    #: queues carry nothing.
    sock: inet_diag.InetSocket
    #: Inode of the network namespace the listener listens in (0 if it could not be read).
    netns: int


def _set_rcvbuf(sock: socket.socket, size: int) -> None:
    """Ask for a ``size``-byte receive buffer: SO_RCVBUFFORCE when allowed (beyond rmem_max), else SO_RCVBUF.

    Either is clamped below at SOCK_MIN_RCVBUF (2304 B on 6.18) and the kernel doubles what it grants.
    """
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, size)
    except PermissionError:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)


def _open_socket(rcvbuf: int) -> socket.socket:
    """A NETLINK_SOCK_DIAG socket subscribed to the four destroy groups of the calling thread's namespace."""
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_SOCK_DIAG)
    try:
        _set_rcvbuf(sock, rcvbuf)
        sock.bind((0, DESTROY_GROUPS))
    except BaseException:
        sock.close()
        raise
    return sock


def decode_datagram(
    data: memoryview, groups: int, netns: int, now: float, addrs: inet_diag.AddressCache
) -> tuple[list[DestroyEvent], int]:
    """The events in one datagram from the kernel, and how many of its messages were malformed.

    Kept apart from the socket so that hostile bytes can be tested without a kernel that sends them.
    ``groups`` is the ``groups`` field of the recvmsg address: the mask bit of the group the message came
    on, which gives the protocol when the message lacks INET_DIAG_PROTOCOL. A message that is not a
    SOCK_DIAG_BY_FAMILY, is too short or names no protocol counts as malformed; so does a datagram holding
    no message, and the rest of a datagram whose lengths do not add up (it cannot be trusted).
    """
    events: list[DestroyEvent] = []
    malformed = 0
    protocol = _GROUP_PROTOCOL.get(groups, 0)
    try:
        for mtype, _flags, _seq, payload in iter_messages(data):
            decoded = (
                inet_diag.decode(payload, protocol, addrs, attrs=True)
                if mtype == SOCK_DIAG_BY_FAMILY
                else None
            )
            if decoded is None or not decoded.protocol:
                malformed += 1
            else:
                events.append(DestroyEvent(now, decoded, netns))
    except NetlinkProtocolError:
        malformed += 1
    if not events and not malformed:
        malformed = 1  # shorter than one header
    return events, malformed


class DestroyListener:
    """A thread reading the four destroy groups of one network namespace; never blocks its users.

    The thread queues what it reads; :meth:`drain` hands the queue over under a lock held only for a swap.
    Nothing the kernel sends stops the thread: ENOBUFS is counted in :attr:`overflows`, undecodable
    messages in :attr:`malformed`, events beyond ``max_pending`` undrained ones in :attr:`dropped`. Only
    an unexpected error ends it, with its text in :attr:`error`. A listener runs once: start, then stop.
    """

    def __init__(
        self,
        *,
        netns: int = 0,
        pids: Iterable[int] = (),
        rcvbuf: int | None = None,
        max_pending: int = 200_000,
        on_event: Callable[[], None] | None = None,
    ) -> None:
        """Describe the listener; nothing is opened before :meth:`start`.

        Args:
            netns: inode of the network namespace to listen in; 0 (or our own) for sockui's own.
            pids: processes that may be in that namespace, tried first to find a way into it.
            rcvbuf: receive buffer to ask for (tests shrink it to provoke ENOBUFS); None for
                :data:`DEFAULT_RCVBUF`.
            max_pending: events kept while nobody drains; more are counted in :attr:`dropped`.
            on_event: called from the thread after each batch is queued (also after a read that only
                raised a counter, and when the thread dies), so the app can wake up; it must be cheap,
                and what it raises is ignored.
        """
        self._netns_wanted = netns
        self._pids = tuple(pids)
        self._rcvbuf = DEFAULT_RCVBUF if rcvbuf is None else rcvbuf
        self._max_pending = max_pending
        self._on_event = on_event
        self._lock = threading.Lock()
        self._pending: deque[DestroyEvent] = deque()
        self._wake_w = -1
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._started = False
        #: Inode of the namespace listened in (0 when unknown); set by :meth:`start`.
        self.netns = 0
        #: Receive buffer the kernel granted (bytes, as getsockopt reports it); set by :meth:`start`.
        self.buffer_size = 0
        #: Times the kernel reported ENOBUFS: its buffer for us was full and it dropped events.
        self.overflows = 0
        #: Events read but dropped because ``max_pending`` undrained events were already queued.
        self.dropped = 0
        #: Messages skipped because they could not be decoded (or did not come from the kernel).
        self.malformed = 0
        #: Events read so far (dropped ones included).
        self.received = 0
        #: Why the thread died, when it did (never for ENOBUFS, EINTR, EAGAIN or malformed messages).
        self.error: str | None = None

    # -- the caller's side ------------------------------------------------------------------------------

    def start(self) -> None:
        """Open the socket in the namespace and start the thread.

        Raises OSError (:class:`~sockui.collect.netns.NetnsError` for namespace trouble) with a plain
        message when no socket can be made; nothing is left open then.
        """
        if self._started:
            raise RuntimeError("a DestroyListener starts once")
        self._started = True
        rcvbuf = self._rcvbuf
        own = own_netns()
        try:
            if self._netns_wanted in (0, own):
                self.netns = own
                sock = _open_socket(rcvbuf)
            else:
                inode = self._netns_wanted
                path = find_netns_path(inode, self._pids)
                if path is None:
                    raise NetnsError(
                        errno.ENOENT,
                        f"network namespace net:[{inode}] is gone (no process or mount holds it)",
                        "",
                    )
                # The socket answers for the namespace it was created in, whichever thread reads it later.
                sock = open_in_netns(path, lambda: _open_socket(rcvbuf), expect_inode=inode)
                self.netns = inode
        except NetnsError:
            raise
        except OSError as exc:
            code = exc.errno or errno.EIO
            raise OSError(
                code, f"cannot listen for closed sockets (sock_diag destroy groups): {os.strerror(code)}"
            ) from exc
        try:
            self.buffer_size = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
            wake_r, wake_w = os.pipe2(os.O_CLOEXEC)
        except BaseException:
            sock.close()
            raise
        self._wake_w = wake_w
        thread = threading.Thread(
            target=self._run, args=(sock, wake_r), name="sockui-destroy-events", daemon=True
        )
        try:
            thread.start()
        except BaseException:
            sock.close()
            os.close(wake_r)
            os.close(wake_w)
            self._wake_w = -1
            raise
        self._thread = thread

    def stop(self, timeout: float = 1.0) -> None:
        """End the thread and release the socket; returns within ``timeout`` seconds. Idempotent.

        Closing the wake pipe's write end wakes the thread's poll() at once; the thread closes the socket
        and the read end itself on its way out, so no fd is closed under a thread still polling it.
        """
        with self._lock:
            self._stopping = True
            self._started = True  # stopped before it started: it never will
            wake_w, self._wake_w = self._wake_w, -1
        if wake_w >= 0:
            os.close(wake_w)
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    @property
    def running(self) -> bool:
        """True while the thread reads events."""
        return self._thread is not None and self._thread.is_alive()

    def drain(self) -> list[DestroyEvent]:
        """Every event read since the last drain, oldest first (thread-safe, never waits on the kernel)."""
        with self._lock:
            if not self._pending:
                return []
            events = list(self._pending)
            self._pending.clear()
        return events

    def __enter__(self) -> DestroyListener:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the thread -------------------------------------------------------------------------------------

    def _run(self, sock: socket.socket, wake_r: int) -> None:
        """Body of the thread: wait for the socket or the wake pipe, read in batches, queue, notify."""
        try:
            sock.setblocking(False)
            poller = select.poll()
            poller.register(sock.fileno(), select.POLLIN)
            poller.register(wake_r, select.POLLIN)
            buf = bytearray(_RECV_SIZE)
            while not self._stopping:
                ready = poller.poll()  # no timeout: stop() wakes us through the pipe
                if self._stopping or any(fd == wake_r for fd, _ in ready):
                    break
                trouble = self.overflows + self.malformed
                batch = self._read_batch(sock, buf)
                if batch:
                    self._publish(batch)
                elif self.overflows + self.malformed != trouble:
                    self._notify()  # events lost or junk read: worth a look even though no event came
        except Exception as exc:  # the thread must say why it ended rather than vanish
            self.error = f"the destroy-event listener stopped: {exc}"
            self._notify()
        finally:
            sock.close()
            os.close(wake_r)

    def _read_batch(self, sock: socket.socket, buf: bytearray) -> list[DestroyEvent]:
        """Read what the socket holds (up to :data:`_BATCH` datagrams) without waiting."""
        events: list[DestroyEvent] = []
        addrs = inet_diag.AddressCache()  # per batch: a long-lived cache would grow with every peer seen
        view = memoryview(buf)
        for _ in range(_BATCH):
            try:
                size, _anc, flags, address = sock.recvmsg_into([buf])
            except (BlockingIOError, InterruptedError):
                break
            except OSError as exc:
                if exc.errno == errno.ENOBUFS:  # the kernel dropped events for us; the socket still works
                    self.overflows += 1
                    continue
                raise
            if flags & socket.MSG_TRUNC or address[0] != 0:
                # Truncated (cannot happen at 64 KiB), or sent by a process rather than the kernel.
                self.malformed += 1
                continue
            decoded, bad = decode_datagram(view[:size], address[1], self.netns, time.time(), addrs)
            events.extend(decoded)
            self.malformed += bad
        return events

    def _publish(self, batch: list[DestroyEvent]) -> None:
        """Queue a batch, dropping what does not fit under ``max_pending``, then wake the app."""
        self.received += len(batch)
        with self._lock:
            room = self._max_pending - len(self._pending)
            if room < len(batch):
                self.dropped += len(batch) - max(room, 0)
                batch = batch[: max(room, 0)]
            self._pending.extend(batch)
        self._notify()

    def _notify(self) -> None:
        callback = self._on_event
        if callback is not None:
            with contextlib.suppress(Exception):  # a failing wake-up must not kill the reader
                callback()
