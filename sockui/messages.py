"""Messages the collector worker posts to the app."""

from __future__ import annotations

from textual.message import Message

from sockui.model.process import ProcessInfo
from sockui.model.socket import Snapshot
from sockui.model.tcpinfo import TcpDetails


class SnapshotReady(Message):
    """A refresh finished. Only the newest matters: a lagging UI skips the stale ones."""

    def __init__(self, snapshot: Snapshot) -> None:
        super().__init__()
        self.snapshot = snapshot

    def can_replace(self, message: Message) -> bool:
        """A newer snapshot replaces one still waiting in the queue."""
        return isinstance(message, SnapshotReady)


class CollectFailed(Message):
    """A refresh failed; the previous snapshot stays on screen."""

    def __init__(self, error: str) -> None:
        super().__init__()
        self.error = error


class DetailsReady(Message):
    """Process details and TCP internals for the socket the detail pane shows."""

    def __init__(
        self,
        key: int,
        processes: tuple[ProcessInfo, ...],
        tcp: TcpDetails | None,
        hostname: str | None = None,
    ) -> None:
        super().__init__()
        self.key = key
        self.processes = processes
        self.tcp = tcp
        #: Reverse DNS name of the remote address (only with --resolve).
        self.hostname = hostname

    def can_replace(self, message: Message) -> bool:
        """Details of an older selection are worthless once newer ones arrive."""
        return isinstance(message, DetailsReady)
