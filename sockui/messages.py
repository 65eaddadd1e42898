"""Messages the collector worker posts to the app."""

from __future__ import annotations

from textual.message import Message

from sockui.model.process import ProcessInfo
from sockui.model.socket import Snapshot, SocketRecord
from sockui.model.tcpinfo import TcpDetails
from sockui.model.view import Derived


class SnapshotReady(Message):
    """A refresh finished. Only the newest matters: a lagging UI skips the stale ones.

    The worker also derived the rows for the view that was current when it started and indexed the
    sockets by key, so the UI thread only applies results.
    """

    def __init__(self, snapshot: Snapshot, by_key: dict[int, SocketRecord], derived: Derived) -> None:
        super().__init__()
        self.snapshot = snapshot
        self.by_key = by_key
        self.derived = derived

    def can_replace(self, message: Message) -> bool:
        """A newer snapshot replaces one still waiting in the queue."""
        return isinstance(message, SnapshotReady)


class RowsReady(Message):
    """Rows re-derived after a view change (filter, binding, sort), computed off the UI thread."""

    def __init__(self, derived: Derived) -> None:
        super().__init__()
        self.derived = derived

    def can_replace(self, message: Message) -> bool:
        """Only the rows for the latest view matter."""
        return isinstance(message, RowsReady)


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
