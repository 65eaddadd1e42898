"""Lookups over one snapshot, built once in the collect worker so the UI thread never scans.

At 100k sockets one pass over the snapshot costs ~100 ms of Python: a detail pane that looked for a
listener's clients, or an owners view that looked for a process's sockets, on every cursor move would
stall the UI for that long. :func:`build_index` makes every such question a dictionary lookup.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from sockui.model.pairing import normalize_address
from sockui.model.socket import Binding, Family, InetEndpoint, Proto, SocketRecord, UnixEndpoint

_WILDCARDS = frozenset({"0.0.0.0", "::"})


@dataclass(frozen=True, slots=True)
class SnapshotIndex:
    """Every per-snapshot relation the views ask about, by socket key."""

    by_key: Mapping[int, SocketRecord]
    #: Listener key -> the connections it accepted (its clients' server-side sockets).
    clients: Mapping[int, tuple[SocketRecord, ...]]
    #: Accepted connection key -> the listener that accepted it.
    listener: Mapping[int, SocketRecord]
    #: pid -> every socket the process holds, in snapshot order.
    by_pid: Mapping[int, tuple[SocketRecord, ...]]
    #: How many sockets of each binding state and protocol (the status bar's counts).
    by_binding: Mapping[Binding, int]
    by_proto: Mapping[Proto, int]
    #: Network namespace inode -> how many of its sockets are in each binding state.
    by_netns: Mapping[int, Mapping[Binding, int]]
    #: Network namespace inode -> pid -> name of every process holding a socket there.
    netns_pids: Mapping[int, Mapping[int, str]]

    @property
    def spans_namespaces(self) -> bool:
        """More than one namespace has sockets: the Netns column is worth its room."""
        return len(self.by_netns) > 1

    def peer(self, sock: SocketRecord) -> SocketRecord | None:
        """The local other end of ``sock``, when it is in this snapshot."""
        return self.by_key.get(sock.peer_key) if sock.peer_key is not None else None

    def clients_of(self, sock: SocketRecord) -> tuple[SocketRecord, ...]:
        """What ``sock`` accepted, if it is a listener."""
        return self.clients.get(sock.key, ())

    def listener_of(self, sock: SocketRecord) -> SocketRecord | None:
        """The listener that accepted ``sock``, if it is an accepted connection."""
        return self.listener.get(sock.key)

    def sockets_of(self, pid: int) -> tuple[SocketRecord, ...]:
        """Every socket ``pid`` holds."""
        return self.by_pid.get(pid, ())


def build_index(sockets: Iterable[SocketRecord]) -> SnapshotIndex:
    """One pass over the sockets (plus one over the connected ones) builds every lookup.

    Accepted connections are matched to listeners by local endpoint, as the kernel hands them out:
    a TCP connection accepted by a listener has the listener's family and port, and its address
    unless the listener is on a wildcard (an exact address wins over a wildcard); a UNIX
    connection accepted by a listener reports the listener's path as its own name.
    """
    by_key: dict[int, SocketRecord] = {}
    by_pid: dict[int, list[SocketRecord]] = {}
    # Listeners by namespace too: an accepted socket lives in its listener's namespace, and the
    # same port (or abstract name) in two namespaces is two different listeners.
    tcp_listeners: dict[tuple[int, Family, int], list[SocketRecord]] = {}
    unix_listeners: dict[tuple[int, str], SocketRecord] = {}
    connected: list[SocketRecord] = []
    by_binding: Counter[Binding] = Counter()
    by_proto: Counter[Proto] = Counter()
    by_netns: dict[int, Counter[Binding]] = {}
    netns_pids: dict[int, dict[int, str]] = {}
    for sock in sockets:
        by_key[sock.key] = sock
        binding = sock.binding
        by_binding[binding] += 1
        by_proto[sock.proto] += 1
        netns = sock.netns
        counts = by_netns.get(netns)
        if counts is None:
            counts = by_netns[netns] = Counter()
            netns_pids[netns] = {}
        counts[binding] += 1
        owners = sock.owners
        if owners:
            last = -1
            pids = netns_pids[netns]
            for owner in owners:  # sorted by pid: one entry per process
                if owner.pid != last:
                    by_pid.setdefault(owner.pid, []).append(sock)
                    pids[owner.pid] = owner.name
                    last = owner.pid
        if binding is Binding.CONNECTED:
            connected.append(sock)
        elif binding is Binding.LISTENING:
            local = sock.local
            if sock.proto is Proto.TCP and isinstance(local, InetEndpoint):
                tcp_listeners.setdefault((netns, sock.family, local.port), []).append(sock)
            elif isinstance(local, UnixEndpoint) and local.path is not None:
                unix_listeners[netns, local.path] = sock
    clients: dict[int, list[SocketRecord]] = {}
    listener: dict[int, SocketRecord] = {}
    folded: dict[str, str] = {}
    for sock in connected:
        local = sock.local
        found: SocketRecord | None = None
        if sock.proto is Proto.TCP and isinstance(local, InetEndpoint):
            candidates = tcp_listeners.get((sock.netns, sock.family, local.port))
            if candidates:
                address = folded.get(local.address)
                if address is None:
                    address = folded[local.address] = normalize_address(local.address)
                found = _best_listener(candidates, address)
        elif sock.proto is Proto.UNIX and isinstance(local, UnixEndpoint) and local.path is not None:
            found = unix_listeners.get((sock.netns, local.path))
        if found is not None and found.key != sock.key:
            listener[sock.key] = found
            clients.setdefault(found.key, []).append(sock)
    return SnapshotIndex(
        by_key=by_key,
        clients={k: tuple(v) for k, v in clients.items()},
        listener=listener,
        by_pid={k: tuple(v) for k, v in by_pid.items()},
        by_binding=dict(by_binding),
        by_proto=dict(by_proto),
        by_netns={k: dict(v) for k, v in by_netns.items()},
        netns_pids=netns_pids,
    )


def _best_listener(candidates: list[SocketRecord], address: str) -> SocketRecord | None:
    wildcard: SocketRecord | None = None
    for cand in candidates:
        assert isinstance(cand.local, InetEndpoint)
        laddr = normalize_address(cand.local.address)
        if laddr == address:
            return cand
        if wildcard is None and laddr in _WILDCARDS:
            wildcard = cand
    return wildcard
