"""The socket record: what sockui knows about one kernel socket.

Glossary (used across the code base):

- endpoint: address + port (IPv4/IPv6), or a path (UNIX; abstract names start with ``@``);
- peer: the other end of a connected socket;
- owner: a pid + fd holding the socket (after fork or fd passing, several);
- flow: a 4-tuple (local address, local port, remote address, remote port) with its protocol;
- binding state: listening, connected, bound or unbound (see :class:`Binding`).

Everything here is immutable and free of I/O so that collector threads can hand records to the UI
thread without copies or locks.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property
from typing import TYPE_CHECKING, NamedTuple

from sockui.model.kernel import TCP_STATE_NAMES
from sockui.model.netns import NamespaceInfo
from sockui.model.services import NO_SERVICES, ServiceTable

if TYPE_CHECKING:
    from sockui.model.index import SnapshotIndex


class Proto(StrEnum):
    """Transport protocol, as the JSON schema spells it."""

    TCP = "tcp"
    UDP = "udp"
    UNIX = "unix"
    RAW = "raw"


class Family(StrEnum):
    """Address family, as the JSON schema spells it."""

    IPV4 = "ipv4"
    IPV6 = "ipv6"
    UNIX = "unix"


class SockType(StrEnum):
    """Socket type (SOCK_STREAM, SOCK_DGRAM, ...)."""

    STREAM = "stream"
    DGRAM = "dgram"
    SEQPACKET = "seqpacket"
    RAW = "raw"


class Binding(StrEnum):
    """Binding state: the classes of the binding filter (docs/spec.md section 2)."""

    LISTENING = "listening"
    CONNECTED = "connected"
    BOUND = "bound"
    UNBOUND = "unbound"


#: TCP state names as the kernel spells them, by their numeric value (include/net/tcp_states.h).
TCP_STATES = TCP_STATE_NAMES

#: Every state name a record can carry (TCP names plus UNCONN for the connectionless protocols).
STATE_NAMES: frozenset[str] = frozenset(TCP_STATES.values()) | {"UNCONN"}


class InetEndpoint(NamedTuple):
    """An IPv4/IPv6 address and port. IPv6 addresses are in compressed lowercase form.

    For RAW sockets the "port" is the IP protocol number, as ss shows it.
    """

    address: str
    port: int


class UnixEndpoint(NamedTuple):
    """A UNIX socket name: a filesystem path, an abstract name (``@name``) or ``None`` (unnamed).

    Paths come from the kernel as bytes; they are decoded with ``surrogateescape`` so that any byte
    sequence survives and can be shown escaped.
    """

    path: str | None


Endpoint = InetEndpoint | UnixEndpoint


class Owner(NamedTuple):
    """One holder of a socket: a process and the file descriptor number it holds it under."""

    pid: int
    fd: int
    name: str
    #: The process's container (name or short id), pod or systemd unit, from its cgroup; None if none.
    container: str | None = None


class SocketRecord(NamedTuple):
    """One kernel socket as seen in one snapshot.

    A NamedTuple, not a frozen dataclass: a refresh at 100k sockets makes 100k of them, and a frozen
    dataclass's ``__init__`` (one ``object.__setattr__`` per field) cost 6 µs each where a tuple costs
    under 1. Immutable all the same, so threads hand them around without copies or locks. Change
    one with ``record._replace(field=value)``.
    """

    proto: Proto
    family: Family
    type: SockType
    state: str
    binding: Binding
    local: Endpoint | None
    remote: Endpoint | None
    inode: int
    uid: int | None
    owners: tuple[Owner, ...] = ()
    peer_inode: int | None = None
    #: Kernel socket cookie (unique for the boot, also across families); None where unknown
    #: (sockets found only through /proc: unbound ones, the /proc/net/raw fallback).
    cookie: int | None = None
    #: Key of the local peer record (see :attr:`key`) when the other end is on this host. Unlike
    #: ``peer_inode`` it also points at peers with no inode (TIME_WAIT).
    peer_key: int | None = None
    #: Interface index the socket is bound to (0 = any); needed to show scoped IPv6 addresses.
    ifindex: int = 0
    #: UNIX listeners: inodes of the clients waiting in the accept queue.
    pending: tuple[int, ...] = ()
    recv_q: int = 0
    send_q: int = 0
    #: Raw ``struct tcp_info`` bytes from INET_DIAG_INFO; decode with ``model.tcpinfo.decode``.
    #: Kept raw because decoding 100k of them per refresh would be wasted work.
    tcp_info: bytes | None = None
    #: The network namespace the socket lives in (its inode; 0 where unknown, e.g. the psutil fallback).
    netns: int = 0
    #: How that namespace is called: ``host``, an ``ip netns`` name, a container, ``net:[INODE]``.
    netns_label: str = ""
    #: TCP bytes per second (sent, received) since the previous refresh, from tcp_info counters; None
    #: unless the collector was asked for tcp_info (the Rate column or sort) and saw it twice.
    rate: tuple[float, float] | None = None

    @property
    def key(self) -> int:
        """A stable identity for this socket across snapshots.

        The cookie where the kernel gives one (TIME_WAIT sockets have no inode but keep the cookie
        of the live socket); otherwise the negated inode, so the two spaces never collide.
        """
        if self.cookie is not None:
            return self.cookie
        return -self.inode

    @property
    def pids(self) -> tuple[int, ...]:
        """Distinct owning pids, in owner order."""
        return tuple(dict.fromkeys(o.pid for o in self.owners))


@dataclass(frozen=True, kw_only=True)
class Snapshot:
    """Every socket seen in one refresh, plus what the collector knows about its own blind spots.

    No ``slots``: :attr:`index` is a cached property, built once, by the first thread that asks. The
    refresh loop asks in its worker thread, so the UI thread only ever finds it built.
    """

    sockets: tuple[SocketRecord, ...]
    #: Wall-clock time (time.time()) when the collection started.
    taken_at: float
    #: How long the collection took, in seconds.
    duration: float = 0.0
    #: Sockets with an inode but no visible owner while some processes' fd tables were unreadable
    #: for lack of privilege: their owner may be hidden from us.
    hidden_owners: int = 0
    #: Sockets no process holds (TIME_WAIT, orphans, kernel sockets), as far as we can tell.
    ownerless: int = 0
    #: Processes whose fd table we could not read (EACCES).
    unreadable_pids: int = 0
    #: Effective uid of the collector (0: root), so notes can say why owners are hidden.
    euid: int | None = None
    #: Sockets held by processes in network namespaces sockui could not read (no privilege to enter
    #: them): not listed, but counted so the status can say so.
    other_netns: int = 0
    #: Every network namespace seen, by inode (the ones read and the ones that could not be).
    namespaces: Mapping[int, NamespaceInfo] = field(default_factory=dict, compare=False)
    #: The owners were not read yet (a quick first snapshot): the next one, right after, has them.
    owners_pending: bool = False
    #: True when the portable psutil fallback was used: fields it cannot know are empty.
    reduced: bool = False
    #: Human-readable notes about degraded data (missing kernel support, fallbacks used).
    warnings: tuple[str, ...] = ()
    #: uid -> user name for every uid in ``sockets`` that could be resolved.
    users: dict[int, str] = field(default_factory=dict, compare=False)
    #: Well-known port names (read from /etc/services by the collector).
    services: ServiceTable = field(default=NO_SERVICES, compare=False)

    @cached_property
    def index(self) -> SnapshotIndex:
        """Lookups by key, pid, listener (see :mod:`sockui.model.index`), built on first use."""
        from sockui.model.index import build_index  # index.py imports this module

        return build_index(self.sockets)
