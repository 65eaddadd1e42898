"""The columns of a socket table, defined once: title, cell text and sort order.

The TUI's table, ``--once``'s aligned table and sorting all read :data:`COLUMNS`, so a column cannot
show one thing and sort by another, or read differently on screen and in a script. How wide a column
is drawn is the widget's business (``widgets/columns.py``); what it says is decided here.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sockui.model import format as fmt
from sockui.model.socket import Endpoint, Family, InetEndpoint, Proto, SocketRecord, SockType

Users = Mapping[int, str]

_PROTO_ORDER = {Proto.TCP: 0, Proto.UDP: 1, Proto.RAW: 2, Proto.UNIX: 3}
_MAPPED = 0xFFFF


#: (protocol, type, is IPv6) -> label, made once: ``.value`` is a slow descriptor on 3.11, and the
#: table and the TUI ask for a label per row.
_LABELS: dict[tuple[object, object, bool], str] = {
    (p, t, v6): (f"unix/{t.value[:3]}" if p is Proto.UNIX else p.value + ("6" if v6 else ""))
    for p in Proto
    for t in SockType
    for v6 in (False, True)
}


def proto_label(sock: SocketRecord) -> str:
    """``tcp``, ``tcp6``, ``udp6``, ``unix/str``...: protocol and, where it matters, family or type."""
    return _LABELS[sock.proto, sock.type, sock.family is Family.IPV6]


@lru_cache(maxsize=65536)
def address_order(address: str) -> tuple[int, int]:
    """(IP version, integer value) so that 127.0.0.2 sorts before 127.0.0.10.

    IPv4-mapped IPv6 (a dual-stack socket's IPv4 peers) sorts with IPv4. Cached: a snapshot holds
    few distinct addresses, and sorting asks for each one thousands of times.
    """
    try:
        if ":" not in address:
            return 4, int.from_bytes(socket.inet_pton(socket.AF_INET, address))
        value = int.from_bytes(socket.inet_pton(socket.AF_INET6, address.partition("%")[0]))
    except (OSError, ValueError):
        return 9, 0
    return (4, value & 0xFFFFFFFF) if value >> 32 == _MAPPED else (6, value)


def endpoint_order(ep: Endpoint | None) -> tuple[Any, ...]:
    """The one ordering of endpoints: addresses by value then port; UNIX paths; none last."""
    if ep is None:
        return (3,)
    if isinstance(ep, InetEndpoint):
        return (0, *address_order(ep.address), ep.port)
    if ep.path is None:
        return (2,)
    return (1, ep.path)


def local_cell(sock: SocketRecord) -> str:
    """The Local cell; UNIX sockets add their inode, as ``ss -x`` does, so unnamed ones differ."""
    if sock.proto is Proto.UNIX:
        return f"{fmt.endpoint(sock.local) or '*'} {sock.inode}" if sock.inode else fmt.endpoint(sock.local)
    return fmt.endpoint(sock.local)


def remote_cell(sock: SocketRecord) -> str:
    """The Remote cell; a connected UNIX socket adds its peer's inode (``* 212521``)."""
    if sock.proto is Proto.UNIX and sock.peer_inode:
        return f"{fmt.endpoint(sock.remote) or '*'} {sock.peer_inode}"
    return fmt.endpoint(sock.remote)


def _short(rate: float) -> str:
    """``0``, ``512``, ``12K``, ``3.4M``: bytes per second in at most four characters."""
    for unit, size in (("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)):
        if rate >= size:
            value = rate / size
            return f"{value:.1f}{unit}" if value < 10 else f"{value:.0f}{unit}"
    return f"{rate:.0f}"


def _rate_order(sock: SocketRecord) -> int:
    """Busiest first (negated whole bytes per second, an int as :func:`sortable` needs); unknown last."""
    return -round(sum(sock.rate)) if sock.rate else 1


def rate_cell(sock: SocketRecord) -> str:
    """``12K↑ 3.4M↓``: bytes per second sent and received since the last refresh ('' when unknown)."""
    if sock.rate is None:
        return ""
    sent, received = sock.rate
    return f"{_short(sent)}↑ {_short(received)}↓"


@dataclass(frozen=True)
class ColumnDef:
    """One column: its title, the text of its cell, and what it sorts by (ties: the socket key)."""

    title: str
    cell: Callable[[SocketRecord, Users], str]
    order: Callable[[SocketRecord, Users], Any]
    #: Numbers read best right-aligned.
    right: bool = False


def _process_order(sock: SocketRecord, users: Users) -> Any:
    return (0, sock.owners[0].name, sock.pids) if sock.owners else (1,)


COLUMNS: tuple[ColumnDef, ...] = (
    ColumnDef(
        "Proto", lambda s, u: proto_label(s), lambda s, u: (_PROTO_ORDER.get(s.proto, 9), proto_label(s))
    ),
    # The network namespace: shown when more than one has sockets (containers, ``ip netns``).
    ColumnDef("Netns", lambda s, u: fmt.safe(s.netns_label), lambda s, u: (s.netns_label, s.netns)),
    ColumnDef("State", lambda s, u: s.state, lambda s, u: (s.state, endpoint_order(s.local))),
    ColumnDef(
        "Local",
        lambda s, u: local_cell(s),
        # A listener before the connections it accepted (no remote end first).
        lambda s, u: (endpoint_order(s.local), s.remote is not None, endpoint_order(s.remote)),
    ),
    ColumnDef(
        "Remote",
        lambda s, u: remote_cell(s),
        lambda s, u: (endpoint_order(s.remote), endpoint_order(s.local)),
    ),
    ColumnDef("Process", lambda s, u: fmt.process_column(s), _process_order),
    ColumnDef(
        "Fd", lambda s, u: fmt.fd_column(s), lambda s, u: s.owners[0].fd if s.owners else 1 << 31, True
    ),
    ColumnDef("User", fmt.user_column, fmt.user_column),
    ColumnDef("Recv-Q", lambda s, u: str(s.recv_q), lambda s, u: s.recv_q, right=True),
    ColumnDef("Send-Q", lambda s, u: str(s.send_q), lambda s, u: s.send_q, right=True),
    # Busiest first in ascending order: what a user sorting by rate looks for.
    ColumnDef(
        "Rate", lambda s, u: rate_cell(s), lambda s, u: -round(sum(s.rate)) if s.rate else 1, right=True
    ),
)

BY_TITLE: dict[str, ColumnDef] = {c.title: c for c in COLUMNS}
TITLES: tuple[str, ...] = tuple(BY_TITLE)
DEFAULT_SORT = "Local"
#: Shown only when the sockets come from more than one network namespace (else it says "host").
NETNS = "Netns"
#: Bytes per second: needs tcp_info in the dumps, so it is off until chosen (``C``) or sorted by.
RATE = "Rate"
#: The columns shown until the user chooses (``C``).
DEFAULT_TITLES: tuple[str, ...] = tuple(t for t in TITLES if t != RATE)


def spans_namespaces(sockets: Iterable[SocketRecord]) -> bool:
    """True when the sockets live in more than one network namespace (the Netns column is worth it)."""
    first: int | None = None
    for sock in sockets:
        if first is None:
            first = sock.netns
        elif sock.netns != first:
            return True
    return False


def output_titles(sockets: Iterable[SocketRecord]) -> tuple[str, ...]:
    """The columns of ``--once``'s table: Netns only when the sockets span namespaces."""
    # No Rate: one snapshot has no rates.
    titles = DEFAULT_TITLES
    if spans_namespaces(sockets):
        return titles
    return tuple(t for t in titles if t != NETNS)


def sort_key(column: str, users: Users) -> Callable[[SocketRecord], Any]:
    """A key function sorting by ``column``; ties fall back to the socket key, so order is stable."""
    order = BY_TITLE.get(column, BY_TITLE[DEFAULT_SORT]).order
    return lambda s: (order(s, users), s.key)


#: Added to ints so that negative ones order before positive ones as unsigned bytes.
_INT_OFFSET = 1 << 143


def sortable(value: object) -> bytes:
    """Bytes that order exactly as ``value`` does: ints, strings, None and nested tuples of them.

    Sorting 100k records by tuples of tuples spends most of its time comparing them, in C, with the
    GIL held: 0.5-1 s in which the UI cannot run. Bytes compare with memcmp, ten times faster.
    Each element is tagged and self-delimiting, so concatenation orders like the tuple: ints (18
    bytes, offset) before strings (UTF-8, NUL-terminated; names and paths hold no NUL), a prefix
    before what extends it.
    """
    if isinstance(value, tuple):
        return b"".join(map(sortable, value))
    if isinstance(value, int):  # bools too
        return b"\x01" + (value + _INT_OFFSET).to_bytes(18, "big")
    if isinstance(value, str):
        return b"\x02" + value.encode("utf-8", "surrogatepass") + b"\x00"
    if value is None:
        return b"\x00"
    raise TypeError(f"cannot order {type(value).__name__} values")


def sort_bytes(column: str, users: Users) -> Callable[[SocketRecord], bytes]:
    """:func:`sort_key` as bytes (see :func:`sortable`): what big sorts compare."""
    order = BY_TITLE.get(column, BY_TITLE[DEFAULT_SORT]).order
    return lambda s: sortable((order(s, users), s.key))


def output_order(sock: SocketRecord) -> tuple[Any, ...]:
    """Default order of ``--once``: protocol, family, local endpoint, remote endpoint."""
    return (
        _PROTO_ORDER.get(sock.proto, 9),
        sock.family.value,
        endpoint_order(sock.local),
        endpoint_order(sock.remote),
        sock.key,
    )


def cells(sock: SocketRecord, users: Users) -> dict[str, str]:
    """Plain, safe text of every column for one socket."""
    return {c.title: c.cell(sock, users) for c in COLUMNS}
