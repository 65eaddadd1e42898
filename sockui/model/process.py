"""Process details as the owners views show them (filled by ``collect.process``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from sockui.model.socket import SocketRecord
from sockui.model.tcpinfo import TcpDetails


@dataclass(frozen=True, slots=True)
class ProcessInfo:
    """What the owners view shows about one process. All strings are untrusted."""

    pid: int
    gone: bool
    name: str | None = None
    cmdline: tuple[str, ...] | None = None
    user: str | None = None
    #: (pid, name) from the parent up to pid 1.
    parents: tuple[tuple[int, str], ...] = ()
    #: Start time, seconds since the epoch.
    started: float | None = None
    rss: int | None = None
    #: Why some fields are missing ("access denied"), for the view to say.
    note: str | None = None


class DetailSource(Protocol):
    """What the views ask the system about one socket, from worker threads (collect/details.py)."""

    def process_info(self, pid: int) -> ProcessInfo:
        """One process's details; never raises for a vanished or forbidden process."""
        ...

    def tcp_details(self, sock: SocketRecord) -> TcpDetails | None:
        """TCP internals by exact query; None when gone or not TCP."""
        ...

    def hostname(self, address: str) -> str | None:
        """Reverse DNS of ``address``, only when the user asked for it (``--resolve``); else None."""
        ...
