"""View state on hand-made snapshots: the binding cycle, protocol toggles, combined filters, sort keys."""

from __future__ import annotations

import random
from typing import Any

import pytest

from sockui.model.columns import sort_bytes, sort_key, sortable
from sockui.model.filters import parse
from sockui.model.socket import (
    Binding,
    Endpoint,
    Family,
    InetEndpoint,
    Owner,
    Proto,
    Snapshot,
    SocketRecord,
    SockType,
    UnixEndpoint,
)
from sockui.model.view import (
    BINDING_CYCLE,
    COLUMNS,
    Derived,
    ViewState,
    counts,
    derive,
    visible_sockets,
)


def rec(
    key: int,
    proto: Proto = Proto.TCP,
    binding: Binding = Binding.CONNECTED,
    *,
    state: str = "ESTABLISHED",
    family: Family = Family.IPV4,
    stype: SockType = SockType.STREAM,
    local: Endpoint | None = None,
    remote: Endpoint | None = None,
    uid: int | None = 0,
    owners: tuple[Owner, ...] = (),
    recv_q: int = 0,
    send_q: int = 0,
) -> SocketRecord:
    return SocketRecord(
        proto=proto,
        family=family,
        type=stype,
        state=state,
        binding=binding,
        local=local,
        remote=remote,
        inode=key,
        uid=uid,
        owners=owners,
        cookie=key,
        recv_q=recv_q,
        send_q=send_q,
    )


def ep(address: str, port: int) -> InetEndpoint:
    return InetEndpoint(address, port)


SOCKETS = (
    rec(1, binding=Binding.LISTENING, state="LISTEN", local=ep("0.0.0.0", 22), owners=(Owner(1, 3, "sshd"),)),
    rec(2, local=ep("10.0.0.5", 22), remote=ep("198.51.100.7", 50123), owners=(Owner(900, 4, "sshd"),)),
    rec(
        3,
        local=ep("10.0.0.5", 51000),
        remote=ep("93.184.216.34", 443),
        uid=1000,
        owners=(Owner(42, 7, "curl"),),
    ),
    rec(
        4, Proto.UDP, Binding.BOUND, state="UNCONN", stype=SockType.DGRAM, local=ep("127.0.0.53", 53), uid=101
    ),
    rec(5, Proto.UDP, Binding.UNBOUND, state="UNCONN", stype=SockType.DGRAM, uid=1000),
    rec(
        6,
        Proto.UNIX,
        Binding.LISTENING,
        state="LISTEN",
        family=Family.UNIX,
        local=UnixEndpoint("/run/app.sock"),
        owners=(Owner(600, 5, "app"),),
    ),
    rec(7, Proto.UNIX, family=Family.UNIX, local=UnixEndpoint(None), remote=UnixEndpoint("/run/app.sock")),
    rec(8, Proto.RAW, Binding.BOUND, state="UNCONN", stype=SockType.RAW, local=ep("0.0.0.0", 1)),
)
SNAPSHOT = Snapshot(sockets=SOCKETS, taken_at=0.0, users={0: "root", 1000: "alice", 101: "resolve"})


def shown(view: ViewState) -> list[int]:
    result = visible_sockets(SNAPSHOT, view)
    assert result is not None
    return [s.key for s in result]


# --- view state -----------------------------------------------------------------------------------------


def test_binding_cycle_order() -> None:
    assert BINDING_CYCLE == (None, Binding.LISTENING, Binding.CONNECTED, Binding.BOUND, Binding.UNBOUND)
    view = ViewState()
    seen = [view.binding]
    for _ in range(5):
        view = view.next_binding()
        seen.append(view.binding)
    assert seen == [None, Binding.LISTENING, Binding.CONNECTED, Binding.BOUND, Binding.UNBOUND, None]


def test_next_binding_keeps_the_rest() -> None:
    view = ViewState(protos=frozenset({Proto.TCP}), filter=parse("port 22"), sort_column="Fd")
    after = view.next_binding()
    assert (after.protos, after.filter, after.sort_column) == (view.protos, view.filter, "Fd")
    assert view.binding is None  # frozen: the old state is unchanged


def test_toggle_proto() -> None:
    view = ViewState()
    hidden = view.toggle_proto(Proto.UDP)
    assert hidden.protos == frozenset(Proto) - {Proto.UDP}
    assert view.protos == frozenset(Proto)
    assert hidden.toggle_proto(Proto.UDP) == view
    both = hidden.toggle_proto(Proto.UNIX)
    assert both.protos == frozenset({Proto.TCP, Proto.RAW})


def test_describe_and_active() -> None:
    view = ViewState()
    assert (view.describe(), view.active) == ("", False)
    listening = view.next_binding()
    assert (listening.describe(), listening.active) == ("listening", True)
    assert view.toggle_proto(Proto.TCP).describe() == "hiding tcp"
    assert view.toggle_proto(Proto.TCP).toggle_proto(Proto.UNIX).describe() == "hiding tcp,unix"
    filtered = ViewState(filter=parse("port 22"))
    assert (filtered.describe(), filtered.active) == ("port 22", True)
    combined = ViewState(binding=Binding.BOUND, protos=frozenset(Proto) - {Proto.UDP}, filter=parse("tcp"))
    assert combined.describe() == "bound  hiding udp  tcp"


# --- visible_sockets ------------------------------------------------------------------------------------


def test_everything_shown_by_default() -> None:
    assert shown(ViewState()) == [1, 2, 3, 4, 5, 6, 7, 8]


@pytest.mark.parametrize(
    ("binding", "keys"),
    [
        (Binding.LISTENING, [1, 6]),
        (Binding.CONNECTED, [2, 3, 7]),
        (Binding.BOUND, [4, 8]),
        (Binding.UNBOUND, [5]),
    ],
)
def test_binding_filter(binding: Binding, keys: list[int]) -> None:
    assert shown(ViewState(binding=binding)) == keys


def test_proto_toggles() -> None:
    view = ViewState().toggle_proto(Proto.TCP).toggle_proto(Proto.UNIX)
    assert shown(view) == [4, 5, 8]
    assert shown(ViewState(protos=frozenset())) == []


def test_filter_expression() -> None:
    assert shown(ViewState(filter=parse("port 22"))) == [1, 2]
    assert shown(ViewState(filter=parse("user alice"))) == [3, 5]


def test_binding_proto_and_filter_combine() -> None:
    view = ViewState(binding=Binding.CONNECTED, filter=parse("port 22 or proc curl"))
    assert shown(view) == [2, 3]
    assert shown(view.toggle_proto(Proto.TCP)) == []
    listening_not_tcp = ViewState(binding=Binding.LISTENING).toggle_proto(Proto.TCP)
    assert shown(listening_not_tcp) == [6]
    assert shown(ViewState(binding=Binding.BOUND, filter=parse("udp"))) == [4]


# --- sort keys ------------------------------------------------------------------------------------------

SORTABLE = [
    rec(
        10,
        local=ep("10.0.0.1", 80),
        remote=ep("1.1.1.1", 5),
        owners=(Owner(5, 9, "nginx"),),
        uid=1000,
        recv_q=10,
        send_q=0,
    ),
    rec(11, Proto.UDP, Binding.BOUND, state="UNCONN", local=ep("10.0.0.1", 53), uid=0, recv_q=9, send_q=300),
    rec(
        12,
        binding=Binding.LISTENING,
        state="LISTEN",
        local=ep("0.0.0.0", 80),
        owners=(Owner(3, 4, "apache"),),
        uid=None,
        recv_q=0,
        send_q=128,
    ),
    rec(
        13,
        Proto.UNIX,
        family=Family.UNIX,
        local=UnixEndpoint("/run/a.sock"),
        remote=UnixEndpoint(None),
        owners=(Owner(7, 12, "zsh"),),
        uid=4242,
        recv_q=100,
        send_q=5,
    ),
    rec(
        14,
        family=Family.IPV6,
        state="SYN_SENT",
        local=ep("::1", 40000),
        remote=ep("::1", 22),
        uid=0,
        recv_q=10,
    ),
]


def order(column: str, sockets: list[SocketRecord] | None = None) -> list[int]:
    items = list(SORTABLE if sockets is None else sockets)
    return [s.key for s in sorted(items, key=sort_key(column, {0: "root", 1000: "alice"}))]


@pytest.mark.parametrize(
    ("column", "keys"),
    [
        ("Proto", [10, 12, 14, 11, 13]),  # tcp, tcp, tcp6, udp, unix/str
        ("State", [10, 13, 12, 14, 11]),  # ESTABLISHED (inet local before unix), LISTEN, SYN_SENT, UNCONN
        # By address value, then port: 0.0.0.0:80, 10.0.0.1:53, 10.0.0.1:80, [::1]:40000, then paths.
        ("Local", [12, 11, 10, 14, 13]),
        # 1.1.1.1:5, [::1]:22, an unnamed UNIX end, then none (by local: 0.0.0.0 before 10.0.0.1).
        ("Remote", [10, 14, 13, 12, 11]),
        ("Process", [12, 10, 13, 11, 14]),  # apache, nginx, zsh, then no owner
        ("Fd", [12, 10, 13, 11, 14]),  # 4, 9, 12, then no owner
        ("User", [12, 13, 10, 11, 14]),  # '' (no uid), '4242', 'alice', 'root', 'root'
        ("Recv-Q", [12, 11, 10, 14, 13]),  # numeric, not text: 0 < 9 < 10 = 10 < 100
        ("Send-Q", [10, 14, 13, 12, 11]),
    ],
)
def test_sort_keys(column: str, keys: list[int]) -> None:
    assert order(column) == keys
    assert order(column, SORTABLE[::-1]) == keys


@pytest.mark.parametrize("column", COLUMNS)
def test_sort_is_total_and_stable_under_input_order(column: str) -> None:
    # Ties fall back to the socket key, so any input order gives the same result.
    twins = [
        rec(k, local=ep("10.0.0.1", 80), remote=ep("1.1.1.1", 5), owners=(Owner(5, 9, "nginx"),), uid=0)
        for k in (31, 35, 33, 32, 34)
    ]
    expected = order(column, twins)
    assert expected == [31, 32, 33, 34, 35]
    rng = random.Random(column)
    for _ in range(5):
        shuffled = twins[:]
        rng.shuffle(shuffled)
        assert order(column, shuffled) == expected


def test_unknown_column_sorts_like_local() -> None:
    assert order("Nope") == order("Local")


# --- counts and lookup ----------------------------------------------------------------------------------


def test_counts() -> None:
    c = counts(SNAPSHOT, shown=3)
    assert (c.total, c.shown) == (8, 3)
    assert c.by_binding == {Binding.LISTENING: 2, Binding.CONNECTED: 3, Binding.BOUND: 2, Binding.UNBOUND: 1}
    assert c.by_proto == {Proto.TCP: 3, Proto.UDP: 2, Proto.UNIX: 2, Proto.RAW: 1}


def test_derive_filters_sorts_and_counts() -> None:
    view = ViewState(binding=Binding.CONNECTED, sort_column="Process")
    result = derive(SNAPSHOT, view)
    assert result is not None
    # curl, sshd, then the owner-less UNIX client
    assert [s.key for s in result.rows] == [3, 2, 7]
    assert (result.counts.total, result.counts.shown) == (8, 3)
    assert result.snapshot is SNAPSHOT and result.view is view
    backwards = derive(
        SNAPSHOT, ViewState(binding=Binding.CONNECTED, sort_column="Process", sort_reverse=True)
    )
    assert backwards is not None
    assert [s.key for s in backwards.rows] == [7, 2, 3]


# --- derive: the keyed diff against the rows shown before ----------------------------------------------


def conn(key: int, port: int, state: str = "ESTABLISHED") -> SocketRecord:
    """A connection on 10.0.0.1:``port``: sorted by Local, the port alone orders these."""
    return rec(key, local=ep("10.0.0.1", port), remote=ep("10.0.0.2", 9000 + key), state=state)


def snap(*records: SocketRecord) -> Snapshot:
    return Snapshot(sockets=records, taken_at=0.0, users={0: "root"})


def derived(
    snapshot: Snapshot, view: ViewState, base: Derived | None = None, keep: int | None = None
) -> Derived:
    result = derive(snapshot, view, base, keep)
    assert result is not None, "derive gave None without being cancelled"
    assert result.positions == {r.key: i for i, r in enumerate(result.rows)}, "positions disagree with rows"
    assert len(result.positions) == len(result.rows), "a key is listed twice"
    return result


FIVE = snap(conn(1, 100), conn(2, 200), conn(3, 300), conn(4, 400), conn(5, 500))


def test_derive_reports_new_changed_and_closed() -> None:
    view = ViewState()
    base = derived(snap(conn(1, 100), conn(2, 200), conn(3, 300), conn(4, 400)), view)
    assert base.base_serial is None and not (base.new or base.changed or base.closed), "a first derive diffed"
    after = snap(conn(1, 100), conn(2, 200, "CLOSE_WAIT"), conn(4, 400), conn(5, 250))
    d = derived(after, view, base)
    assert d.base_serial == base.serial
    assert (d.new, d.changed, d.closed) == (frozenset({5}), frozenset({2}), frozenset({3}))
    assert [r.key for r in d.rows] == [1, 2, 5, 3, 4], "the closed row is not at its sorted place"
    assert d.rows[3] is base.rows[2], "the closed row is not the record shown before"
    assert (d.counts.total, d.counts.shown) == (4, 4), "a closed row was counted as shown"


@pytest.mark.parametrize(
    ("reverse", "expected"), [(False, [1, 2, 3, 4, 5]), (True, [5, 4, 3, 2, 1])], ids=["asc", "desc"]
)
def test_closed_rows_keep_their_sorted_place(reverse: bool, expected: list[int]) -> None:
    """Closed rows at the top, in the middle and at the bottom, in both sort directions."""
    view = ViewState(sort_reverse=reverse)
    base = derived(FIVE, view)
    assert [r.key for r in base.rows] == expected
    d = derived(snap(conn(2, 200), conn(4, 400)), view, base)
    assert d.closed == {1, 3, 5} and not d.new and not d.changed
    assert [r.key for r in d.rows] == expected


@pytest.mark.parametrize("reverse", [False, True], ids=["asc", "desc"])
def test_closed_rows_among_new_rows_with_equal_neighbours(reverse: bool) -> None:
    """A closed row lands between new rows sorting before and after it, whatever the direction."""
    view = ViewState(sort_reverse=reverse)
    base = derived(snap(conn(1, 100), conn(3, 300)), view)
    d = derived(snap(conn(1, 100), conn(2, 299), conn(4, 301)), view, base)
    assert (d.new, d.closed) == (frozenset({2, 4}), frozenset({3}))
    ascending = [1, 2, 3, 4]
    assert [r.key for r in d.rows] == (ascending[::-1] if reverse else ascending)


def test_a_closed_row_is_shown_once_then_dropped() -> None:
    view = ViewState()
    gone = snap(conn(1, 100), conn(2, 200))
    first = derived(snap(conn(1, 100), conn(2, 200), conn(3, 300)), view)
    second = derived(gone, view, first)
    assert second.closed == {3} and [r.key for r in second.rows] == [1, 2, 3]
    third = derived(gone, view, second)
    assert [r.key for r in third.rows] == [1, 2], "a row closed last time is shown again"
    assert (third.new, third.changed, third.closed) == (frozenset(), frozenset(), frozenset())


def test_keep_holds_a_closed_row_for_as_long_as_asked() -> None:
    view = ViewState()
    gone = snap(conn(1, 100), conn(2, 200))
    first = derived(snap(conn(1, 100), conn(2, 200), conn(3, 300)), view)
    second = derived(gone, view, first, keep=3)
    third = derived(gone, view, second, keep=3)
    assert third.closed == {3} and [r.key for r in third.rows] == [1, 2, 3], "the kept row went"
    fourth = derived(gone, view, third, keep=3)
    assert fourth.closed == {3} and [r.key for r in fourth.rows] == [1, 2, 3]
    fifth = derived(gone, view, fourth, keep=1)  # the cursor moved onto a live row
    assert [r.key for r in fifth.rows] == [1, 2] and not fifth.closed
    # keep does not resurrect a row closed before the cursor asked for it
    assert [r.key for r in derived(gone, view, second, keep=2).rows] == [1, 2]


def test_a_base_for_another_view_gives_no_diff() -> None:
    base = derived(FIVE, ViewState())
    after = snap(conn(1, 100, "CLOSE_WAIT"), conn(2, 200), conn(6, 600))
    for view in (ViewState(sort_reverse=True), ViewState(filter=parse("port 100 or port 600"))):
        d = derived(after, view, base)
        assert d.base_serial is None
        assert (d.new, d.changed, d.closed) == (frozenset(), frozenset(), frozenset()), view
        assert not {3, 4, 5} & set(d.positions), "rows of the old view lingered as closed"


def test_equal_views_diff_even_when_not_the_same_object() -> None:
    base = derived(FIVE, ViewState(filter=parse("port 100")))
    d = derived(snap(conn(2, 200)), ViewState(filter=parse("port 100")), base)
    assert d.base_serial == base.serial and d.closed == {1}


def test_derive_cancelled_gives_none() -> None:
    view = ViewState()
    base = derived(FIVE, view)
    assert derive(FIVE, view, cancelled=lambda: True) is None
    assert derive(snap(conn(1, 100)), view, base, 3, cancelled=lambda: True) is None
    kept = derive(snap(conn(1, 100)), view, base, cancelled=lambda: False)
    assert kept is not None and kept.closed == {2, 3, 4, 5}


def test_derive_notices_a_cancel_that_comes_during_the_work() -> None:
    """Not cancelled when the work starts, cancelled at the next look: the result is dropped."""
    asked = 0

    def cancelled() -> bool:
        nonlocal asked
        asked += 1
        return asked > 1

    view = ViewState()
    assert derive(FIVE, view, derived(FIVE, view), cancelled=cancelled) is None
    assert asked >= 2


@pytest.mark.parametrize("column", COLUMNS)
def test_sort_bytes_order_like_the_tuples(column: str) -> None:
    """Big sorts compare bytes (see columns.sortable): they must give the very order of the tuples."""
    users = {0: "root", 1000: "alice"}
    by_tuple = sorted(SORTABLE, key=sort_key(column, users))
    by_bytes = sorted(SORTABLE, key=sort_bytes(column, users))
    assert [s.key for s in by_bytes] == [s.key for s in by_tuple]


def test_sortable_orders_ints_strings_none_and_prefixes() -> None:
    values: list[Any] = [(-5,), (0,), (1, "a"), (1, "a", 0), (1, "ab"), (1, "b"), (3, None), (2**128,)]
    encoded = [sortable(v) for v in values]
    assert encoded == sorted(encoded)


def test_big_sorts_are_chunked_and_merged_in_order() -> None:
    many = [rec(k, local=ep(f"10.0.{k % 250}.{k % 7}", 1000 + k % 5000)) for k in range(1, 40001)]
    for reverse in (False, True):
        view = ViewState(sort_reverse=reverse)
        derived = derive(Snapshot(sockets=tuple(many), taken_at=0.0), view)
        assert derived is not None
        expected = sorted(many, key=sort_key("Local", {}), reverse=reverse)
        assert [s.key for s in derived.rows] == [s.key for s in expected]
