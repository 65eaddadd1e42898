"""The detail views' questions to the system: process details, TCP internals, reverse DNS.

Called from the views' worker threads, several at once at times (a new cursor position starts a new
worker before the old one ends), so nothing here is shared between calls: each TCP query opens its
own netlink socket (one exact query costs microseconds; the socket, a syscall or two).
"""

from __future__ import annotations

import socket

from sockui.collect.process import process_info
from sockui.collect.query import tcp_details
from sockui.model.process import ProcessInfo
from sockui.model.socket import SocketRecord
from sockui.model.tcpinfo import TcpDetails


class SystemDetails:
    """The real :class:`~sockui.model.process.DetailSource`."""

    def __init__(self, resolve: bool = False) -> None:
        """``resolve``: look remote addresses up in DNS (``--resolve``; off by default).

        Nothing leaves the machine unless the user asked for it.
        """
        self.resolve = resolve

    def process_info(self, pid: int) -> ProcessInfo:
        """Psutil's view of one process."""
        return process_info(pid)

    def tcp_details(self, sock: SocketRecord) -> TcpDetails | None:
        """tcp_info and congestion control by exact query."""
        return tcp_details(sock)

    def hostname(self, address: str) -> str | None:
        """Reverse DNS, only with ``--resolve``."""
        if not self.resolve:
            return None
        try:
            return socket.gethostbyaddr(address)[0]
        except (OSError, UnicodeError):
            return None
