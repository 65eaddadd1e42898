"""Following a socket over time: its identity, what each look at it found, and the timeline built from that.

A followed socket is pinned by what the user sees, not by the kernel object: the protocol and both
endpoints (a listener: its local address; a UNIX socket: its inode). The socket may close and the
same 4-tuple come back as a new socket (a new cookie): that is a new incarnation on the same
timeline. Looks come from exact netlink queries a few times a second (``collect/follow.py``) and,
for owners and a listener's new clients, from the table's snapshots. Pure: no I/O, no threads; the
UI thread feeds it.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field

from sockui.model import format as fmt
from sockui.model.columns import proto_label
from sockui.model.netns import HOST
from sockui.model.socket import Binding, Endpoint, Family, Proto, Snapshot, SocketRecord
from sockui.model.tcpinfo import TcpInfo, decode

#: Samples kept per followed socket: a minute at four looks a second.
MAX_SAMPLES = 240
#: Timeline entries kept (a socket flapping for hours must not grow without bound).
MAX_EVENTS = 1000


@dataclass(frozen=True, slots=True)
class FlowId:
    """What a followed socket is pinned to."""

    proto: Proto
    family: Family
    local: Endpoint | None
    #: None for a listener, an unconnected UDP socket, a bound socket.
    remote: Endpoint | None
    listening: bool = False
    #: UNIX sockets have no 4-tuple: their inode is their identity.
    inode: int = 0
    #: The interface a socket is bound to (SO_BINDTODEVICE, scoped IPv6): exact queries must name it.
    ifindex: int = 0
    #: The network namespace (inode; 0: unknown or ours): 127.0.0.1:80 in two namespaces is two sockets.
    netns: int = 0
    #: How the namespace is called, for the view's title; not part of the identity.
    netns_label: str = field(default="", compare=False)
    #: Processes that held it when it was followed: a way into its namespace for the exact queries.
    pids: tuple[int, ...] = field(default=(), compare=False)

    @classmethod
    def of(cls, sock: SocketRecord) -> FlowId:
        """The identity of ``sock`` as the follow view pins it."""
        if sock.proto is Proto.UNIX:
            return cls(
                sock.proto,
                sock.family,
                sock.local,
                sock.remote,
                sock.binding is Binding.LISTENING,
                sock.inode,
                netns=sock.netns,
                netns_label=sock.netns_label,
                pids=sock.pids,
            )
        connected = sock.binding is Binding.CONNECTED
        return cls(
            sock.proto,
            sock.family,
            sock.local,
            sock.remote if connected else None,
            sock.binding is Binding.LISTENING,
            ifindex=sock.ifindex,
            netns=sock.netns,
            netns_label=sock.netns_label,
            pids=sock.pids,
        )

    def matches(self, sock: SocketRecord) -> bool:
        """True when ``sock`` is (an incarnation of) this flow."""
        return FlowId.of(sock) == self

    def label(self) -> str:
        """``tcp 127.0.0.1:5000 -> 127.0.0.1:80``, ``tcp 0.0.0.0:80 (listening)``: safe text."""
        proto = proto_label_of(self)
        local = fmt.endpoint(self.local) or "*"
        where = f" in {fmt.safe(self.netns_label)}" if self.netns_label and self.netns_label != HOST else ""
        if self.proto is Proto.UNIX:
            return f"{proto} {local} (inode {self.inode}){where}"
        if self.remote is None:
            return f"{proto} {local} ({'listening' if self.listening else 'not connected'}){where}"
        return f"{proto} {local} -> {fmt.endpoint(self.remote)}{where}"


def proto_label_of(flow: FlowId) -> str:
    """``tcp6``, ``unix/str``…, as the table's Proto column says it."""
    if flow.proto is Proto.UNIX:
        return "unix"
    return flow.proto.value + ("6" if flow.family is Family.IPV6 else "")


@dataclass(frozen=True, slots=True)
class Observation:
    """One exact look at a followed socket (made by the poller thread)."""

    flow: FlowId
    #: Wall-clock time of the look.
    time: float
    #: False: no socket answers to this identity any more (closed).
    found: bool
    state: str = ""
    cookie: int | None = None
    recv_q: int = 0
    send_q: int = 0
    tcp_info: bytes | None = None
    congestion: str | None = None
    #: Why the look failed (not "gone": an error such as a refused query), or None.
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Sample:
    """Numbers of one look, for the sparklines and the rates."""

    time: float
    sent: int | None
    received: int | None
    #: Bytes per second since the previous sample; None for the first one of an incarnation.
    send_rate: float | None
    recv_rate: float | None


@dataclass(frozen=True, slots=True)
class Event:
    """One line of the timeline."""

    time: float
    text: str


@dataclass
class FollowTimeline:
    """Everything the follow view shows about one followed socket. Updated on the UI thread only."""

    flow: FlowId
    started: float = field(default_factory=time.time)
    events: deque[Event] = field(default_factory=lambda: deque(maxlen=MAX_EVENTS))
    samples: deque[Sample] = field(default_factory=lambda: deque(maxlen=MAX_SAMPLES))
    #: The newest look that found the socket.
    last: Observation | None = None
    #: The newest look that carried tcp_info (TIME_WAIT has none): its numbers stay after close.
    last_info: Observation | None = None
    state: str = ""
    cookie: int | None = None
    incarnation: int = 0
    closed_at: float | None = None
    owners: str = ""
    #: A listener's clients seen while followed (key -> when first seen).
    clients: dict[int, float] = field(default_factory=dict)
    #: Whether a snapshot has been seen since the follow began (clients before it are not news).
    snapshot_seen: bool = False
    error: str | None = None

    @property
    def closed(self) -> bool:
        """True while no socket answers to the flow."""
        return self.closed_at is not None

    @property
    def info(self) -> TcpInfo | None:
        """The newest decoded tcp_info (kept after close)."""
        if self.last_info is None or self.last_info.tcp_info is None:
            return None
        return decode(self.last_info.tcp_info)

    def _event(self, when: float, text: str) -> None:
        # Looks and snapshots arrive from two threads with their own clocks: keep the timeline in
        # time order (nearly always an append).
        event = Event(when, text)
        if not self.events or self.events[-1].time <= when:
            self.events.append(event)
            return
        ordered = sorted([*self.events, event], key=lambda e: e.time)
        self.events = deque(ordered, maxlen=MAX_EVENTS)

    def seed(self, sock: SocketRecord, when: float) -> None:
        """Start the timeline with what the table showed when ``f`` was pressed (state at ``when``).

        Without it the first state came with the poller's first look, a moment later, and the
        timeline opened with the owners the snapshot had named before it. Only sockets with a cookie:
        the poller tells incarnations apart by cookie, and a UNIX socket has none.
        """
        if self.incarnation or sock.cookie is None:
            return
        self.incarnation = 1
        self.cookie = sock.cookie
        self.state = sock.state
        self._event(when, sock.state)

    def observe(self, obs: Observation) -> None:
        """Take one look into account: state changes, close, a new incarnation, the rates."""
        self.error = obs.error
        if obs.error is not None:
            return
        if not obs.found:
            if not self.closed:
                self.closed_at = obs.time
                last = f" (last state {self.state})" if self.state else ""
                self._event(obs.time, f"closed{last}" if self.incarnation else "not found")
            return
        if self.closed or self.cookie is None or (obs.cookie is not None and obs.cookie != self.cookie):
            self.incarnation += 1
            if self.incarnation > 1:
                self._event(obs.time, f"incarnation {self.incarnation}: the same flow, a new socket")
            self.closed_at = None
            self.cookie = obs.cookie
            self.state = ""
            self.last_info = None
        if obs.state != self.state:
            self._event(obs.time, obs.state)
            self.state = obs.state
        if obs.tcp_info:
            self._sample(obs, self.last_info)
            self.last_info = obs
        self.last = obs

    def _sample(self, obs: Observation, previous: Observation | None) -> None:
        info = decode(obs.tcp_info) if obs.tcp_info else None
        sent = (info.bytes_acked if info.bytes_sent is None else info.bytes_sent) if info else None
        received = info.bytes_received if info else None
        send_rate = recv_rate = None
        if previous is not None and previous.tcp_info and info is not None:
            before = decode(previous.tcp_info)
            dt = obs.time - previous.time
            if dt > 0:
                prev_sent = before.bytes_acked if before.bytes_sent is None else before.bytes_sent
                if sent is not None and prev_sent is not None:
                    send_rate = max(0, sent - prev_sent) / dt
                if received is not None and before.bytes_received is not None:
                    recv_rate = max(0, received - before.bytes_received) / dt
        self.samples.append(Sample(obs.time, sent, received, send_rate, recv_rate))

    def observe_snapshot(self, snapshot: Snapshot) -> None:
        """What only snapshots tell: who holds the socket, and (a listener) which clients arrived."""
        sock = snapshot.index.by_key.get(self.cookie) if self.cookie is not None else None
        if sock is None and self.flow.inode:
            sock = snapshot.index.by_key.get(-self.flow.inode)
        if sock is None:
            return
        owners = ", ".join(fmt.owner(o) + f" fd {o.fd}" for o in sock.owners) or "no visible owner"
        if owners != self.owners:
            self._event(snapshot.taken_at, f"owners: {owners}")
            self.owners = owners
        if self.flow.listening:
            clients = snapshot.index.clients_of(sock)
            if not self.snapshot_seen:
                self.clients.update(dict.fromkeys((c.key for c in clients), snapshot.taken_at))
                self._event(snapshot.taken_at, f"{len(clients)} connection(s) accepted before the follow")
            for client in clients:
                if client.key not in self.clients:
                    self.clients[client.key] = snapshot.taken_at
                    self._event(snapshot.taken_at, f"accepted {fmt.endpoint(client.remote) or '*'}")
        self.snapshot_seen = True

    def rates(self) -> tuple[list[float], list[float]]:
        """Send and receive rates (bytes/s) of the samples, oldest first, for the sparklines."""
        return (
            [s.send_rate or 0.0 for s in self.samples],
            [s.recv_rate or 0.0 for s in self.samples],
        )


def record_label(sock: SocketRecord) -> str:
    """The label a row would get if followed (for messages)."""
    return f"{proto_label(sock)} {FlowId.of(sock).label().split(' ', 1)[1]}"


class FollowStore:
    """Every followed socket's timeline, in the order they were followed (UI thread only)."""

    def __init__(self) -> None:
        self._timelines: dict[FlowId, FollowTimeline] = {}

    def add(self, flow: FlowId) -> FollowTimeline:
        """Follow ``flow`` (again: its timeline is kept)."""
        timeline = self._timelines.get(flow)
        if timeline is None:
            timeline = self._timelines[flow] = FollowTimeline(flow)
        return timeline

    def remove(self, flow: FlowId) -> None:
        """Stop following ``flow``; its timeline goes."""
        self._timelines.pop(flow, None)

    def get(self, flow: FlowId) -> FollowTimeline | None:
        """The timeline of ``flow`` if it is followed."""
        return self._timelines.get(flow)

    @property
    def timelines(self) -> list[FollowTimeline]:
        """Every timeline, oldest follow first."""
        return list(self._timelines.values())

    def __len__(self) -> int:
        return len(self._timelines)

    def observe(self, observations: list[Observation]) -> None:
        """One round of looks from the poller."""
        for obs in observations:
            timeline = self._timelines.get(obs.flow)
            if timeline is not None:
                timeline.observe(obs)

    def observe_snapshot(self, snapshot: Snapshot) -> None:
        """Owners and clients, from the table's snapshot (a few lookups per followed socket)."""
        for timeline in self._timelines.values():
            timeline.observe_snapshot(snapshot)
