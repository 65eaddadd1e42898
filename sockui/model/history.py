"""Socket events (opened, state changed, closed) from successive snapshots and kernel destroy messages.

A snapshot every second sees a socket only if it lives across one; the kernel's destroy messages
(``collect/events.py``) announce every TCP and UDP socket it frees, with TCP's final counters. This
module merges the two into one stream without duplicates:

- *opened*: a key (cookie) a snapshot shows that the one before did not (the first snapshot is the
  baseline: what exists then is not news);
- *state*: the same key in another state (ESTABLISHED -> CLOSE_WAIT);
- *closed*: a destroy message (the authority for TCP and UDP: exact time, final counters), or a key
  gone from the snapshot: at once for UNIX and raw sockets, which the destroy groups do not cover;
  for TCP and UDP only if no destroy message named it within a grace period (events lost to a full
  buffer, or no listener at all).

A TCP socket that closes first becomes a TIME_WAIT mini-socket with the same cookie: the destroy
message is its close, and what the dumps show of it afterwards is not reported again. The kernel makes
cookies lazily, so a connection no dump saw has none when its mini-socket is made: the destroy message
and the first dump of the remain then carry two different cookies. A remain (TCP, no inode, TIME_WAIT
or FIN_WAIT2) that a snapshot shows for the first time is therefore never an opening, and when it goes
nothing is said: its connection was reported closed by its destroy message (or, with no listener, when
the remain was first seen).

Pure: no threads, no I/O. One :class:`EventTracker` is fed by one thread at a time (the caller locks);
:class:`HistoryRing` is the bounded memory of closed entries the history view reads.
"""

from __future__ import annotations

import threading
from collections import OrderedDict, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

from sockui.model import format as fmt
from sockui.model.kernel import IPPROTO_TCP, IPPROTO_UDP
from sockui.model.socket import Binding, Family, InetEndpoint, Proto, Snapshot, SocketRecord, SockType
from sockui.model.tcpinfo import decode as decode_tcp_info

#: What a close seen only through the connection's TIME_WAIT remain says.
REMAIN_NOTE = "lived < one refresh; seen only as its TIME_WAIT remain"
OPENED = "opened"
STATE = "state"
CLOSED = "closed"
#: Closed entries kept by default (``--history N``).
DEFAULT_HISTORY = 100_000
#: Cookies closed by destroy messages remembered, so that their TIME_WAIT remains are not closed twice.
MAX_REMEMBERED = 200_000
#: States of what a closed TCP connection leaves behind for a while (TIME_WAIT mini-sockets, which
#: report their substate: FIN_WAIT2 when the peer has not closed yet).
_REMAIN_STATES = frozenset({"TIME_WAIT", "FIN_WAIT2"})


def is_remain(sock: SocketRecord) -> bool:
    """A TCP socket that no process holds any more, in the state a closed connection leaves behind."""
    return sock.proto is Proto.TCP and sock.inode == 0 and sock.state in _REMAIN_STATES


@dataclass(frozen=True, slots=True)
class Destroyed:
    """What a kernel destroy message says (decoded by the collector; no netlink types here)."""

    time: float
    proto: Proto
    family: Family
    local: InetEndpoint
    remote: InetEndpoint | None
    cookie: int
    netns: int
    #: The final ``struct tcp_info`` (TCP only).
    tcp_info: bytes | None = None


@dataclass(frozen=True, slots=True)
class SocketEvent:
    """One thing that happened to one socket."""

    time: float
    kind: str
    #: The socket as last known: a snapshot's record, or one made from the destroy message.
    record: SocketRecord
    previous_state: str | None = None
    #: TCP closes: the final counters (None when unknown).
    bytes_sent: int | None = None
    bytes_received: int | None = None
    retransmits: int | None = None
    #: When a snapshot first showed it, and how long it lived since (None: no snapshot saw it).
    first_seen: float | None = None
    lifetime: float | None = None
    #: "destroy" (a kernel message) or "snapshot" (a difference between two snapshots).
    source: str = "snapshot"
    #: A plain sentence for the user ("lived < one refresh; likely ..."), already safe.
    note: str = ""
    #: A connection accepted by a listener on its local port (True), one made from here (False), or
    #: not a connection / not known (None). The history counts served ports only on inbound ones:
    #: an outbound connection's local port is an ephemeral one, different for each.
    inbound: bool | None = None

    @property
    def last_state(self) -> str:
        """The state it was last seen in (for a socket no snapshot saw: ``CLOSE``)."""
        return self.record.state


_PROTOS = {IPPROTO_TCP: Proto.TCP, IPPROTO_UDP: Proto.UDP}


def proto_of(protocol: int) -> Proto | None:
    """The protocol of a destroy message's IPPROTO number (TCP and UDP are announced)."""
    return _PROTOS.get(protocol)


class EventTracker:
    """Turns snapshots and destroy messages into :class:`SocketEvent` lists. Not thread-safe."""

    def __init__(self, destroy_events: bool = True, grace: float = 3.0) -> None:
        """``destroy_events``: a listener reports TCP/UDP closes (else snapshots do, at once)."""
        self.destroy_events = destroy_events
        self.grace = grace
        self._known: dict[int, SocketRecord] = {}
        self._first_seen: dict[int, float] = {}
        self._pending: dict[int, tuple[SocketRecord, float]] = {}
        #: Keys of remains first seen as remains: their going says nothing (see the module docstring).
        self._remains: set[int] = set()
        self._destroyed: OrderedDict[int, float] = OrderedDict()
        #: (proto, family, port, netns) -> a listener's record, for naming the likely owner.
        self._listeners: dict[tuple[Proto, int, int], SocketRecord] = {}
        #: The snapshot before's: a server that closed with its connections was still listening there.
        self._before_listeners: dict[tuple[Proto, int, int], SocketRecord] = {}
        self._labels: dict[int, str] = {}
        self._baseline = False
        self.interval = 1.0

    def snapshot(self, snap: Snapshot) -> list[SocketEvent]:
        """The events between the last snapshot and ``snap`` (none for the first: the baseline)."""
        now = snap.taken_at
        events: list[SocketEvent] = []
        known, first_seen, destroyed, remains = self._known, self._first_seen, self._destroyed, self._remains
        current: dict[int, SocketRecord] = {}
        listeners: dict[tuple[Proto, int, int], SocketRecord] = {}
        for sock in snap.sockets:
            key = sock.key
            current[key] = sock
            if sock.binding is Binding.LISTENING and isinstance(sock.local, InetEndpoint):
                listeners[sock.proto, sock.local.port, sock.netns] = sock
            before = known.get(key)
            if key in destroyed or key in remains:
                continue  # closed already (a TIME_WAIT remain of a destroyed socket)
            if before is None:
                if is_remain(sock):
                    remains.add(key)
                    if self._baseline and not self.destroy_events:  # nobody else will say it closed
                        events.append(
                            SocketEvent(now, CLOSED, sock, note=REMAIN_NOTE, inbound=self._inbound(sock))
                        )
                    continue
                first_seen.setdefault(key, now)
                if self._baseline:
                    events.append(SocketEvent(now, OPENED, sock, first_seen=now))
            elif before.state != sock.state:
                events.append(SocketEvent(now, STATE, sock, previous_state=before.state))
        self._before_listeners, self._listeners = self._listeners, listeners
        for key, sock in known.items():
            if key in current or key in destroyed or key in remains:
                continue
            if self.destroy_events and sock.proto in (Proto.TCP, Proto.UDP) and sock.cookie is not None:
                self._pending[key] = (sock, now)  # the destroy message should say more
            else:
                events.append(self._gone(sock, now))
        self._remains &= current.keys()
        for key, (sock, since) in list(self._pending.items()):
            if now - since >= self.grace:
                del self._pending[key]
                events.append(self._gone(sock, since))
        self._known = current
        self._labels = {inode: info.label for inode, info in snap.namespaces.items()}
        for key in [k for k in first_seen if k not in current and k not in self._pending]:
            del first_seen[key]
        self._baseline = True
        return events

    def _inbound(self, sock: SocketRecord) -> bool | None:
        """Whether a connection was accepted by a listener on its local port (see SocketEvent.inbound)."""
        if not isinstance(sock.local, InetEndpoint) or not isinstance(sock.remote, InetEndpoint):
            return None
        key = (sock.proto, sock.local.port, sock.netns)
        return key in self._listeners or key in self._before_listeners

    def _gone(self, sock: SocketRecord, when: float) -> SocketEvent:
        first = self._first_seen.get(sock.key)
        return SocketEvent(
            when,
            CLOSED,
            sock,
            first_seen=first,
            lifetime=None if first is None else max(0.0, when - first),
            inbound=self._inbound(sock),
        )

    def destroyed(self, messages: Iterable[Destroyed]) -> list[SocketEvent]:
        """Closed events for destroy messages (each cookie once)."""
        events: list[SocketEvent] = []
        remembered = self._destroyed
        for msg in messages:
            if msg.cookie in remembered:
                continue
            remembered[msg.cookie] = msg.time
            if len(remembered) > MAX_REMEMBERED:
                remembered.popitem(last=False)
            events.append(self._closed(msg))
        return events

    def _closed(self, msg: Destroyed) -> SocketEvent:
        known = self._known.get(msg.cookie)
        pending = self._pending.pop(msg.cookie, None)
        sock = known or (pending[0] if pending is not None else None)
        first = self._first_seen.get(msg.cookie)
        note = ""
        if sock is None:
            sock = self._record_of(msg)
            note = self._unseen_note(msg)
        sent = received = retrans = None
        if msg.tcp_info:
            info = decode_tcp_info(msg.tcp_info)
            # bytes_sent is payload only (retransmissions included); bytes_acked would add 1 for the
            # FIN and 1 for a SYN. bytes_received counts the peer's FIN (+1) when it came first.
            sent = info.bytes_sent
            if sent is not None and info.bytes_retrans is not None:
                sent -= info.bytes_retrans
            received, retrans = info.bytes_received, info.total_retrans
        return SocketEvent(
            msg.time,
            CLOSED,
            sock,
            bytes_sent=sent,
            bytes_received=received,
            retransmits=retrans,
            first_seen=first,
            lifetime=None if first is None else max(0.0, msg.time - first),
            source="destroy",
            note=note,
            inbound=self._inbound(sock),
        )

    def _record_of(self, msg: Destroyed) -> SocketRecord:
        connected = msg.remote is not None
        return SocketRecord(
            proto=msg.proto,
            family=msg.family,
            type=SockType.STREAM if msg.proto is Proto.TCP else SockType.DGRAM,
            state="CLOSE",
            binding=Binding.CONNECTED if connected else Binding.BOUND,
            local=msg.local,
            remote=msg.remote,
            inode=0,
            uid=None,
            cookie=msg.cookie,
            netns=msg.netns,
            netns_label=self._labels.get(msg.netns, ""),
        )

    def _unseen_note(self, msg: Destroyed) -> str:
        """For a socket no snapshot saw: it lived less than a refresh; an inbound one's likely owner."""
        note = "lived < one refresh"
        listener = self._listeners.get((msg.proto, msg.local.port, msg.netns))
        if listener is not None and msg.remote is not None and listener.owners:
            owner = fmt.process_column(listener)
            note += f"; likely {owner} (owner of the listener on port {msg.local.port})"
        return note


class HistoryRing:
    """The last ``size`` closed entries, newest last; thread-safe (the loop and the listener add)."""

    def __init__(self, size: int = DEFAULT_HISTORY) -> None:
        self.size = max(1, size)
        self._items: deque[SocketEvent] = deque(maxlen=self.size)
        self._lock = threading.Lock()
        #: Every entry ever added (the ring keeps the last ``size``).
        self.added = 0
        #: Serial of the last change, for views that redraw only when something changed.
        self.serial = 0

    def extend(self, events: Iterable[SocketEvent]) -> int:
        """Add the closed events among ``events``; returns how many."""
        closed = [e for e in events if e.kind == CLOSED]
        if closed:
            with self._lock:
                self._items.extend(closed)
                self.added += len(closed)
                self.serial += 1
        return len(closed)

    def items(self) -> list[SocketEvent]:
        """A copy, oldest first."""
        with self._lock:
            return list(self._items)

    def __len__(self) -> int:
        return len(self._items)


def with_labels(event: SocketEvent, labels: Mapping[int, str]) -> SocketEvent:
    """``event`` with its record's namespace label filled in from ``labels`` when it had none."""
    record = event.record
    if record.netns_label or record.netns not in labels:
        return event
    return replace(event, record=record._replace(netns_label=labels[record.netns]))
