"""What the main table shows: view state (filters, sort) applied to a snapshot, as pure functions.

User input only changes a :class:`ViewState`; the rows are re-derived from the current snapshot with
:func:`visible_sockets`. Nothing here touches the kernel or the UI.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from sockui.model import format as fmt
from sockui.model.export import proto_label
from sockui.model.filters import Filter, parse
from sockui.model.socket import Binding, Endpoint, InetEndpoint, Proto, Snapshot, SocketRecord

#: The binding filter's cycle, in the order ``b`` walks it (None = all).
BINDING_CYCLE: tuple[Binding | None, ...] = (
    None,
    Binding.LISTENING,
    Binding.CONNECTED,
    Binding.BOUND,
    Binding.UNBOUND,
)

#: Columns of the main table: (title, sort key id).
COLUMNS: tuple[str, ...] = ("Proto", "State", "Local", "Remote", "Process", "Fd", "User", "Recv-Q", "Send-Q")


@dataclass(frozen=True)
class ViewState:
    """Everything the user chose about what the table shows."""

    binding: Binding | None = None
    #: Protocols shown; RAW follows the TCP/UDP toggles' spirit and is always shown unless filtered.
    protos: frozenset[Proto] = frozenset(Proto)
    filter: Filter = field(default_factory=lambda: parse(""))
    sort_column: str = "Local"
    sort_reverse: bool = False

    def next_binding(self) -> ViewState:
        """The state after pressing ``b``: all → listening → connected → bound → unbound → all."""
        index = BINDING_CYCLE.index(self.binding)
        return replace(self, binding=BINDING_CYCLE[(index + 1) % len(BINDING_CYCLE)])

    def toggle_proto(self, proto: Proto) -> ViewState:
        """Show or hide one protocol."""
        protos = self.protos - {proto} if proto in self.protos else self.protos | {proto}
        return replace(self, protos=frozenset(protos))

    def describe(self) -> str:
        """The active filters in one line ('' when nothing is filtered), for the status bar."""
        parts = []
        if self.binding is not None:
            parts.append(self.binding.value)
        hidden = [p.value for p in Proto if p not in self.protos]
        if hidden:
            parts.append("hiding " + ",".join(hidden))
        if not self.filter.is_empty:
            parts.append(self.filter.source)
        return "  ".join(parts)

    @property
    def active(self) -> bool:
        """True when any filter hides sockets."""
        return self.binding is not None or self.protos != frozenset(Proto) or not self.filter.is_empty


def visible_sockets(snapshot: Snapshot, view: ViewState) -> list[SocketRecord]:
    """The snapshot's sockets that pass every filter of ``view``, unsorted."""
    binding = view.binding
    protos = view.protos
    flt = view.filter
    users = snapshot.users
    match_all = flt.is_empty
    return [
        s
        for s in snapshot.sockets
        if (binding is None or s.binding is binding)
        and s.proto in protos
        and (match_all or flt.matches(s, users))
    ]


def _endpoint_key(ep: Endpoint | None) -> tuple[Any, ...]:
    if ep is None:
        return (2, "", 0)
    if isinstance(ep, InetEndpoint):
        return (0, ep.port, ep.address)
    return (1, ep.path or "", 0)


def sort_key(column: str, users: dict[int, str]) -> Callable[[SocketRecord], Any]:
    """A key function for sorting by one column; ties fall back to the socket key for stability."""
    keys: dict[str, Callable[[SocketRecord], Any]] = {
        "Proto": lambda s: (proto_label(s), s.key),
        "State": lambda s: (s.state, _endpoint_key(s.local), s.key),
        "Local": lambda s: (_endpoint_key(s.local), _endpoint_key(s.remote), s.key),
        "Remote": lambda s: (_endpoint_key(s.remote), _endpoint_key(s.local), s.key),
        "Process": lambda s: (s.owners[0].name if s.owners else "\uffff", s.pids, s.key),
        "Fd": lambda s: (s.owners[0].fd if s.owners else 1 << 31, s.key),
        "User": lambda s: (fmt.user_column(s, users), s.key),
        "Recv-Q": lambda s: (s.recv_q, s.key),
        "Send-Q": lambda s: (s.send_q, s.key),
    }
    return keys.get(column, keys["Local"])


@dataclass(frozen=True)
class Counts:
    """Summary numbers for the status bar."""

    total: int
    shown: int
    by_binding: dict[Binding, int]
    by_proto: dict[Proto, int]


def counts(snapshot: Snapshot, shown: int) -> Counts:
    """Counts per binding class and per protocol over the whole snapshot."""
    by_binding: Counter[Binding] = Counter(s.binding for s in snapshot.sockets)
    by_proto: Counter[Proto] = Counter(s.proto for s in snapshot.sockets)
    return Counts(len(snapshot.sockets), shown, dict(by_binding), dict(by_proto))


@dataclass(frozen=True)
class Derived:
    """What the main screen shows for one (snapshot, view) pair, computed off the UI thread."""

    snapshot: Snapshot
    view: ViewState
    #: Visible sockets in display order.
    rows: list[SocketRecord]
    counts: Counts


def derive(snapshot: Snapshot, view: ViewState) -> Derived:
    """Filter and sort: ~1 s at 100k sockets in CPython, so workers call this, never the UI thread."""
    rows = visible_sockets(snapshot, view)
    rows.sort(key=sort_key(view.sort_column, snapshot.users), reverse=view.sort_reverse)
    return Derived(snapshot, view, rows, counts(snapshot, len(rows)))


def find_index(rows: Sequence[SocketRecord], key: int) -> int | None:
    """Position of the socket with ``key`` in ``rows``, if shown."""
    for i, s in enumerate(rows):
        if s.key == key:
            return i
    return None
