"""The history keeper: destroy listeners for every namespace read, merged with snapshot differences.

It owns one :class:`~sockui.collect.events.DestroyListener` per network namespace the collector could
read (started when a namespace appears, stopped when it goes) and one
:class:`~sockui.model.history.EventTracker`. Two threads feed it: the refresh loop (each snapshot) and
the listeners (each batch of destroy messages, as it arrives, so that the history view and
``--events`` see a close within moments, not at the next refresh). A lock makes the tracker see one
thing at a time; each batch of events goes to the ring and to ``on_events``.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable

from sockui.collect.events import DestroyEvent, DestroyListener
from sockui.model.history import Destroyed, EventTracker, HistoryRing, SocketEvent, proto_of
from sockui.model.netns import NamespaceInfo
from sockui.model.socket import Family, InetEndpoint, Snapshot

_FAMILIES: dict[int, Family] = {int(socket.AF_INET): Family.IPV4, int(socket.AF_INET6): Family.IPV6}
_WILDCARDS = frozenset({"0.0.0.0", "::"})


def destroyed_of(event: DestroyEvent) -> Destroyed | None:
    """The model's view of a destroy message; None for a protocol or family sockui does not list."""
    msg = event.sock
    proto = proto_of(msg.protocol)
    family = _FAMILIES.get(msg.family)
    if proto is None or family is None:
        return None
    remote = None if msg.dport == 0 and msg.dst in _WILDCARDS else InetEndpoint(msg.dst, msg.dport)
    return Destroyed(
        time=event.time,
        proto=proto,
        family=family,
        local=InetEndpoint(msg.src, msg.sport),
        remote=remote,
        cookie=msg.cookie,
        netns=event.netns,
        tcp_info=msg.tcp_info,
    )


class HistoryKeeper:
    """Snapshots and destroy messages in, :class:`SocketEvent` batches out (to a ring and a callback)."""

    def __init__(
        self,
        ring: HistoryRing,
        *,
        listen: bool = True,
        on_events: Callable[[list[SocketEvent]], None] | None = None,
        make_listener: Callable[..., DestroyListener] = DestroyListener,
    ) -> None:
        """``listen``: subscribe to destroy messages (else closes come from snapshots alone)."""
        self.ring = ring
        self.listen = listen
        self._on_events = on_events
        self._make_listener = make_listener
        self._tracker = EventTracker(destroy_events=listen)
        self._lock = threading.Lock()
        self._listeners: dict[int, DestroyListener] = {}
        #: Namespaces whose destroy messages cannot be heard, and why (said once in the status).
        self.unheard: dict[int, str] = {}
        self._stopped = False

    @property
    def overflows(self) -> int:
        """How often a listener's buffer overflowed (destroy messages were lost each time)."""
        return sum(listener.overflows for listener in list(self._listeners.values()))

    def on_snapshot(self, snap: Snapshot) -> list[SocketEvent]:
        """From the refresh loop's thread: listeners follow the namespaces, then the snapshot's events."""
        if self.listen and not self._stopped:
            self._follow_namespaces(snap)
        with self._lock:
            events = self._tracker.destroyed(self._drain_all())
            events += self._tracker.snapshot(snap)
        events.sort(key=lambda e: e.time)
        self._emit(events)
        return events

    def _follow_namespaces(self, snap: Snapshot) -> None:
        readable: dict[int, NamespaceInfo | None] = {
            inode: info for inode, info in snap.namespaces.items() if info.unread is None
        }
        if not readable:
            readable = {0: None}  # a source that names no namespace: ours
        for inode in [i for i in self._listeners if i not in readable]:
            self._listeners.pop(inode).stop(timeout=0)
        for inode, info in readable.items():
            if inode in self._listeners or inode in self.unheard:
                continue
            pids = (info.pid,) if info is not None and info.pid else ()
            listener = self._make_listener(netns=inode, pids=pids, on_event=self._heard)
            try:
                listener.start()
            except OSError as exc:
                self.unheard[inode] = str(exc)
                continue
            self._listeners[inode] = listener

    def _drain_all(self) -> list[Destroyed]:
        found: list[Destroyed] = []
        for listener in list(self._listeners.values()):
            for event in listener.drain():
                msg = destroyed_of(event)
                if msg is not None:
                    found.append(msg)
        found.sort(key=lambda m: m.time)
        return found

    def _heard(self) -> None:
        """From a listener's thread: a batch of destroy messages arrived; report them now."""
        with self._lock:
            events = self._tracker.destroyed(self._drain_all())
        self._emit(events)

    def _emit(self, events: list[SocketEvent]) -> None:
        if not events:
            return
        self.ring.extend(events)
        if self._on_events is not None:
            self._on_events(events)

    def stop(self) -> None:
        """Stop every listener (their threads end within a moment)."""
        self._stopped = True
        for listener in list(self._listeners.values()):
            listener.stop(timeout=0)
        self._listeners.clear()
