"""Turn what the kernel's tables said into records: classify, pair, attach owners, reuse what is unchanged.

Runs over every socket of every namespace on every refresh (100k times at scale), so it works on plain
tuples and keeps, between refreshes, the record of every socket whose kernel entry, owners and peer
did not change: most of them, handed back as the same objects (and so reused further on: sort keys,
formatted cells). Pairs are found across namespaces (see :func:`sockui.model.pairing.inet_peers`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import cast

from sockui.collect.inet_diag import InetSocket
from sockui.collect.unix_diag import UnixSocket
from sockui.model.binding import inet_state, unix_state
from sockui.model.kernel import (
    AF_INET,
    AF_INET6,
    IPPROTO_RAW,
    IPPROTO_TCP,
    IPPROTO_UDP,
    SOCK_DGRAM,
    SOCK_SEQPACKET,
    SOCK_STREAM,
)
from sockui.model.pairing import BoundFlow, ConnectedFlow, inet_peers
from sockui.model.socket import (
    Binding,
    Family,
    InetEndpoint,
    Owner,
    Proto,
    SocketRecord,
    SockType,
    UnixEndpoint,
)

PROTOS = {IPPROTO_TCP: Proto.TCP, IPPROTO_UDP: Proto.UDP, IPPROTO_RAW: Proto.RAW}
_INET_TYPES = {Proto.TCP: SockType.STREAM, Proto.UDP: SockType.DGRAM, Proto.RAW: SockType.RAW}
_FAMILIES: dict[int, Family] = {AF_INET: Family.IPV4, AF_INET6: Family.IPV6}
_UNIX_TYPES = {SOCK_STREAM: SockType.STREAM, SOCK_DGRAM: SockType.DGRAM, SOCK_SEQPACKET: SockType.SEQPACKET}

#: (proto, family, type, state name, binding, closing) of one (family, protocol, state) combination.
_InetClass = tuple[Proto, Family, SockType, str, Binding, bool]
#: One inet socket ready for its record: the decoded message, its class, its key, its namespace.
_Staged = tuple[InetSocket, _InetClass, int, int, str]

OwnerIndex = Mapping[int, tuple[Owner, ...]]


@dataclass(frozen=True, slots=True)
class NamespaceTables:
    """What one namespace's tables held: inet sockets by key, UNIX sockets, and the namespace."""

    netns: int
    label: str
    inet: dict[int, InetSocket]
    unix: list[UnixSocket]
    #: cookie -> (bytes_acked, bytes_received) of TCP sockets, when the dumps asked for tcp_info.
    counters: Mapping[int, tuple[int, int]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Prepared:
    """Inet sockets classified and paired (all that does not need the owners yet)."""

    staged: list[_Staged]
    #: key -> key of the local other end.
    peers: dict[int, int]
    #: key -> inode (peers with no inode, TIME_WAIT, have 0).
    inode_of: dict[int, int]
    #: key (cookie) -> TCP byte counters, when the dumps carried them (for rates).
    counters: dict[int, tuple[int, int]]


def _classify_inet(s: InetSocket) -> _InetClass:
    proto = PROTOS.get(s.protocol, Proto.RAW)
    state, binding = inet_state(proto, s.state)
    return proto, _FAMILIES[s.family], _INET_TYPES[proto], state, binding, state == "TIME_WAIT"


def prepare_inet(tables: list[NamespaceTables]) -> Prepared:
    """Classify and pair the inet sockets of every namespace (memoised per family/protocol/state).

    Split from :meth:`RecordBuilder.inet_records` so that it runs while a forked owner walk is still
    going.
    """
    classes: dict[tuple[int, int, int], _InetClass] = {}
    staged: list[_Staged] = []
    connected: list[ConnectedFlow] = []
    bound_udp: list[BoundFlow] = []
    inode_of: dict[int, int] = {}
    counters: dict[int, tuple[int, int]] = {}
    for table in tables:
        counters.update(table.counters)
        netns, label = table.netns, table.label
        for s in table.inet.values():
            cls = classes.get((s.family, s.protocol, s.state))
            if cls is None:
                cls = classes[(s.family, s.protocol, s.state)] = _classify_inet(s)
            key = s.cookie or -s.inode
            inode_of[key] = s.inode
            staged.append((s, cls, key, netns, label))
            if cls[4] is Binding.CONNECTED:
                connected.append((key, cls[0], s.src, s.sport, s.dst, s.dport, cls[5], netns))
            elif cls[0] is Proto.UDP:
                bound_udp.append((key, s.src, s.sport, netns))
    return Prepared(staged, inet_peers(connected, bound_udp), inode_of, counters)


class RecordBuilder:
    """Builds inet records, reusing last refresh's record wherever nothing changed."""

    def __init__(self) -> None:
        #: key -> (what the record was built from, the record).
        self._previous: dict[int, tuple[tuple[object, ...], SocketRecord]] = {}
        #: (address, port) -> the endpoint object the last refresh's records share.
        self._endpoints: dict[tuple[str, int], InetEndpoint] = {}
        #: When the last refresh's dumps were taken, and the TCP byte counters they carried (for rates).
        self._taken_at = 0.0
        self._counters: dict[int, tuple[int, int]] = {}

    def inet_records(
        self,
        prepared: Prepared,
        owner_index: OwnerIndex,
        checkpoint: Callable[[], None],
        taken_at: float = 0.0,
    ) -> list[SocketRecord]:
        """Records for the inet sockets; the hot path of a refresh.

        A socket whose kernel entry, owners, peer and namespace label are all as last time gets last
        time's record object back (a tuple comparison in C instead of building one). Endpoints are
        shared: one object per address and port, kept from one refresh to the next. When the dumps
        carry tcp_info, each TCP record gets its rate: the byte counters' growth since last refresh
        over the time between the two (``taken_at``). An idle connection's rate stays (0, 0), so its
        record is kept too.
        """
        elapsed = taken_at - self._taken_at if self._taken_at else 0.0
        self._taken_at = taken_at
        counters, counters_before = prepared.counters, self._counters
        self._counters = counters
        with_rates = bool(counters) and bool(counters_before) and elapsed > 0
        peers, inode_of = prepared.peers, prepared.inode_of
        previous = self._previous
        current: dict[int, tuple[tuple[object, ...], SocketRecord]] = {}
        endpoints_before = self._endpoints
        endpoints: dict[tuple[str, int], InetEndpoint] = {}
        records: list[SocketRecord] = []
        append = records.append
        no_owners: tuple[Owner, ...] = ()
        new = tuple.__new__
        connected = Binding.CONNECTED
        for n, (s, (proto, family, stype, state, binding, _closing), key, netns, label) in enumerate(
            prepared.staged
        ):
            if not n & 0x1FFF:
                checkpoint()
            peer_key = peers.get(key)
            inode = s.inode
            owners = owner_index.get(inode, no_owners) if inode else no_owners
            raw = (s, owners, peer_key, label)
            kept = previous.get(key)
            rate = None
            # Connections only: a listener's counters stay 0 (its clients carry the traffic).
            if with_rates and binding is connected and (now_counts := counters.get(key)) is not None:
                before_counts = counters_before.get(key)
                if before_counts is not None:
                    rate = (
                        max(0, now_counts[0] - before_counts[0]) / elapsed,
                        max(0, now_counts[1] - before_counts[1]) / elapsed,
                    )
            if kept is not None and kept[0] == raw and kept[1].rate == rate:
                record = kept[1]
                # An inet endpoint is a tuple equal to (address, port): it is its own key.
                kept_local = cast(InetEndpoint, record.local)
                endpoints[kept_local] = kept_local
                if record.remote is not None:
                    kept_remote = cast(InetEndpoint, record.remote)
                    endpoints[kept_remote] = kept_remote
            else:
                where = (s.src, s.sport)
                local = endpoints.get(where) or endpoints_before.get(where) or InetEndpoint(*where)
                endpoints[where] = local
                remote: InetEndpoint | None = None
                if binding is connected:
                    there = (s.dst, s.dport)
                    remote = endpoints.get(there) or endpoints_before.get(there) or InetEndpoint(*there)
                    endpoints[there] = remote
                # Field order of SocketRecord; TIME_WAIT and request sockets have no owner and the
                # kernel reports uid 0 for them: no uid.
                record = new(
                    SocketRecord,
                    (
                        proto,
                        family,
                        stype,
                        state,
                        binding,
                        local,
                        remote,
                        inode,
                        s.uid if inode else None,
                        owners,
                        inode_of.get(peer_key or 0, 0) or None,  # keys are never 0
                        s.cookie or None,
                        peer_key,
                        s.ifindex,
                        (),
                        s.rqueue,
                        s.wqueue,
                        s.tcp_info,
                        netns,
                        label,
                        rate,
                    ),
                )
            current[key] = (raw, record)
            append(record)
        self._previous = current
        self._endpoints = endpoints
        return records


def unix_records(
    tables: list[NamespaceTables], owners_of: Callable[[int], tuple[Owner, ...]]
) -> list[SocketRecord]:
    """Records for the UNIX sockets of every namespace; peers by the kernel's (global) inodes."""
    by_inode = {u.inode: u for table in tables for u in table.unix if u.inode}
    # A client waiting in a listener's accept queue has no peer yet, but we know whom it called.
    waiting_on: dict[int, str | None] = {}
    for table in tables:
        for u in table.unix:
            for client in u.icons:
                waiting_on[client] = u.name
    records: list[SocketRecord] = []
    for table in tables:
        for u in table.unix:
            state, binding = unix_state(u.type, u.state, u.name is not None, u.peer)
            peer = by_inode.get(u.peer) if u.peer else None
            remote: UnixEndpoint | None = None
            if binding is Binding.CONNECTED:
                remote = (
                    UnixEndpoint(peer.name) if peer is not None else UnixEndpoint(waiting_on.get(u.inode))
                )
            records.append(
                SocketRecord(
                    proto=Proto.UNIX,
                    family=Family.UNIX,
                    type=_UNIX_TYPES.get(u.type, SockType.STREAM),
                    state=state,
                    binding=binding,
                    local=None if binding is Binding.UNBOUND else UnixEndpoint(u.name),
                    remote=remote,
                    inode=u.inode,
                    uid=u.uid,
                    owners=owners_of(u.inode) if u.inode else (),
                    peer_inode=u.peer or None,
                    cookie=u.cookie or None,
                    peer_key=(peer.cookie or -peer.inode) if peer is not None else None,
                    pending=u.icons,
                    recv_q=u.rqueue,
                    send_q=u.wqueue,
                    netns=table.netns,
                    netns_label=table.label,
                )
            )
    return records
