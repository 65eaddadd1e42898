"""View state on hand-made snapshots: the binding cycle, protocol toggles, combined filters, sort keys."""

from __future__ import annotations

import random

import pytest

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
    ViewState,
    counts,
    derive,
    sort_key,
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
    return [s.key for s in visible_sockets(SNAPSHOT, view)]


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
    derived = derive(SNAPSHOT, view)
    # curl, sshd, then the owner-less UNIX client
    assert [s.key for s in derived.rows] == [3, 2, 7]
    assert (derived.counts.total, derived.counts.shown) == (8, 3)
    assert derived.snapshot is SNAPSHOT and derived.view is view
    backwards = derive(
        SNAPSHOT, ViewState(binding=Binding.CONNECTED, sort_column="Process", sort_reverse=True)
    )
    assert [s.key for s in backwards.rows] == [7, 2, 3]
