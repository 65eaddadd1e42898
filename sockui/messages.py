"""Messages the refresh loop's thread posts to the app (screens nest their own)."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from sockui.model.follow import Observation
from sockui.model.socket import Snapshot
from sockui.model.view import Derived


@dataclass
class SnapshotReady(Message):
    """A refresh finished. Only the newest matters: a lagging UI skips the stale ones.

    The loop's thread also built the snapshot's index and derived the rows for the view that was
    current when it started, so the UI thread only applies results.
    """

    snapshot: Snapshot
    #: None when the view changed under the worker (the screen derives again).
    derived: Derived | None

    def can_replace(self, message: Message) -> bool:
        """A newer snapshot replaces one still waiting in the queue."""
        return isinstance(message, SnapshotReady)


@dataclass
class CollectFailed(Message):
    """A refresh failed; the previous snapshot stays on screen."""

    error: str


@dataclass
class FollowObserved(Message):
    """One round of exact looks at the followed sockets (from the follow poller's thread)."""

    observations: list[Observation]
