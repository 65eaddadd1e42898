"""What the main table shows: view state (filters, sort) applied to a snapshot, as pure functions.

User input only changes a :class:`ViewState`; the rows are re-derived from the current snapshot with
:func:`visible_sockets`. Nothing here touches the kernel or the UI.
"""

from __future__ import annotations

import bisect
import heapq
import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from sockui.model.columns import DEFAULT_SORT, TITLES, sort_bytes
from sockui.model.filters import Filter, parse
from sockui.model.socket import Binding, Proto, Snapshot, SocketRecord

#: The binding filter's cycle, in the order ``b`` walks it (None = all).
BINDING_CYCLE: tuple[Binding | None, ...] = (
    None,
    Binding.LISTENING,
    Binding.CONNECTED,
    Binding.BOUND,
    Binding.UNBOUND,
)

#: Titles of the main table's columns (defined in :mod:`sockui.model.columns`).
COLUMNS = TITLES


@dataclass(frozen=True)
class ViewState:
    """Everything the user chose about what the table shows."""

    binding: Binding | None = None
    #: Protocols shown; RAW follows the TCP/UDP toggles' spirit and is always shown unless filtered.
    protos: frozenset[Proto] = frozenset(Proto)
    filter: Filter = field(default_factory=lambda: parse(""))
    sort_column: str = DEFAULT_SORT
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


Cancelled = Callable[[], bool]

#: Numbers for Derived results (see ``Derived.serial``).
_SERIALS = itertools.count(1)

#: Records filtered between two looks at ``cancelled``: ~5 ms of work at worst.
_CHUNK = 8192


def visible_sockets(
    snapshot: Snapshot, view: ViewState, cancelled: Cancelled | None = None
) -> list[SocketRecord] | None:
    """The snapshot's sockets that pass every filter of ``view``, unsorted; None if cancelled."""
    binding = view.binding
    protos = view.protos
    flt = view.filter
    users = snapshot.users
    match_all = flt.is_empty
    sockets = snapshot.sockets
    result: list[SocketRecord] = []
    for start in range(0, len(sockets), _CHUNK):
        if cancelled is not None and cancelled():
            return None
        result.extend(
            s
            for s in sockets[start : start + _CHUNK]
            if (binding is None or s.binding is binding)
            and s.proto in protos
            and (match_all or flt.matches(s, users))
        )
    return result


@dataclass(frozen=True)
class Counts:
    """Summary numbers for the status bar."""

    total: int
    shown: int
    by_binding: Mapping[Binding, int]
    by_proto: Mapping[Proto, int]


def counts(snapshot: Snapshot, shown: int) -> Counts:
    """Counts per binding class and per protocol over the whole snapshot (from its index)."""
    index = snapshot.index
    return Counts(len(snapshot.sockets), shown, index.by_binding, index.by_proto)


@dataclass(frozen=True, eq=False)
class Derived:
    """What the main table shows for one (snapshot, view) pair, computed off the UI thread.

    Besides the rows, it carries what changed since ``base`` (the rows the table showed when the
    work started), so that applying it on the UI thread costs nothing per row: the keyed diff,
    the positions and the places of closed rows are all computed here.
    """

    snapshot: Snapshot
    view: ViewState
    #: Rows in display order, including ``closed`` ones lingering at their sorted place.
    rows: list[SocketRecord]
    #: Key -> index in ``rows``.
    positions: dict[int, int]
    counts: Counts
    #: The :attr:`serial` of what this was diffed against; None: no diff (first snapshot, a new
    #: view), no highlights. A number, not a reference: each Derived holding its base would keep
    #: every snapshot ever taken alive, one chain link per refresh.
    base_serial: int | None = None
    #: Keys that were not in ``base``.
    new: frozenset[int] = frozenset()
    #: Keys whose state differs from ``base``.
    changed: frozenset[int] = frozenset()
    #: Keys shown although their socket is gone from the snapshot (closed since ``base``).
    closed: frozenset[int] = frozenset()
    #: Identifies this result (see ``base_serial``).
    serial: int = field(default_factory=lambda: next(_SERIALS))


#: Rows sorted in one piece at most; bigger lists are sorted in chunks and merged (see sort_rows).
SORT_CHUNK = 16384


def sort_rows(
    rows: list[SocketRecord],
    key_of: Callable[[SocketRecord], bytes],
    reverse: bool,
    cancelled: Cancelled | None = None,
) -> list[SocketRecord] | None:
    """``rows`` sorted by ``key_of``, never holding the GIL long enough to stall the UI.

    A list.sort of 100k rows compares in C for the whole merge phase, the GIL held. Here keys are
    bytes (memcmp), chunks of :data:`SORT_CHUNK` are sorted one at a time (~10 ms each) and merged
    by ``heapq.merge``, in Python, which lets other threads run. None when cancelled.
    """
    keys = list(map(key_of, rows))
    if len(rows) <= SORT_CHUNK:
        order = sorted(range(len(rows)), key=keys.__getitem__, reverse=reverse)
        return [rows[i] for i in order]
    runs = []
    for start in range(0, len(rows), SORT_CHUNK):
        if cancelled is not None and cancelled():
            return None
        end = min(len(rows), start + SORT_CHUNK)
        runs.append(sorted(range(start, end), key=keys.__getitem__, reverse=reverse))
    merged = heapq.merge(*runs, key=keys.__getitem__, reverse=reverse)
    return [rows[i] for i in merged]


#: (column, users) -> key -> (record, its sort bytes): records reused from one refresh to the next
#: keep their bytes, so a refresh only encodes new and changed sockets. Replaced wholesale by each
#: derive (two threads may race on it: the loser only recomputes).
_KEYS: dict[tuple[str, int], dict[int, tuple[SocketRecord, bytes]]] = {}


def _cached_keys(column: str, users: Mapping[int, str]) -> Callable[[SocketRecord], bytes]:
    # User names come from the snapshot: the User column's bytes are only good for one of them.
    slot = (column, id(users) if column == "User" else 0)
    before = _KEYS.get(slot, {})
    after: dict[int, tuple[SocketRecord, bytes]] = {}
    encode = sort_bytes(column, users)

    def key_of(record: SocketRecord) -> bytes:
        key = record.key
        # This refresh's keys first: the bisection that places closed rows asks again for keys
        # the sort just encoded (new sockets included, which last refresh's keys do not hold).
        kept = after.get(key) or before.get(key)
        if kept is not None and kept[0] is record:
            after[key] = kept
            return kept[1]
        value = encode(record)
        after[key] = (record, value)
        return value

    _KEYS.clear()
    _KEYS[slot] = after
    return key_of


class _Reversed:
    """Inverts comparisons, so that bisect works on a list sorted in reverse."""

    __slots__ = ("key",)

    def __init__(self, key: Any) -> None:
        self.key = key

    def __lt__(self, other: _Reversed) -> bool:
        return bool(other.key < self.key)


def derive(
    snapshot: Snapshot,
    view: ViewState,
    base: Derived | None = None,
    keep: int | None = None,
    cancelled: Cancelled | None = None,
) -> Derived | None:
    """Filter, sort and diff against ``base``: seconds at 100k sockets, so only workers call this.

    With a ``base`` for the same view, sockets that left the snapshot since then stay one more
    refresh, marked closed, at their sorted place ("red for a moment before they go"), and ``keep``
    (the socket under the cursor) stays for as long as it is asked to. Returns None when
    ``cancelled()`` turns true (a newer request superseded this one).
    """
    rows = visible_sockets(snapshot, view, cancelled)
    if rows is None:
        return None
    key_of = _cached_keys(view.sort_column, snapshot.users)
    rows = sort_rows(rows, key_of, view.sort_reverse, cancelled)
    if rows is None or (cancelled is not None and cancelled()):
        return None
    shown = len(rows)
    if base is None or base.view != view:
        positions = {r.key: i for i, r in enumerate(rows)}
        return Derived(snapshot, view, rows, positions, counts(snapshot, shown))
    before = {r.key: r.state for r in base.rows if r.key not in base.closed}
    live = snapshot.index.by_key
    new: set[int] = set()
    changed: set[int] = set()
    for r in rows:
        state = before.get(r.key)
        if state is None:
            new.add(r.key)
        elif state != r.state:
            changed.add(r.key)
    gone = [r for r in base.rows if r.key not in live and (r.key not in base.closed or r.key == keep)]
    if gone:
        bisect_key: Callable[[SocketRecord], Any] = key_of
        if view.sort_reverse:
            bisect_key = lambda r: _Reversed(key_of(r))  # noqa: E731
        for r in gone:
            rows.insert(bisect.bisect_left(rows, bisect_key(r), key=bisect_key), r)
    positions = {r.key: i for i, r in enumerate(rows)}
    return Derived(
        snapshot,
        view,
        rows,
        positions,
        counts(snapshot, shown),
        base.serial,
        frozenset(new),
        frozenset(changed),
        frozenset(r.key for r in gone),
    )
