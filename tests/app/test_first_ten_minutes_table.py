"""What a new user runs into in their first ten minutes, part 2: owners view, markers, busy feedback,
closed rows, and the small things of the table.

Proves: the owners view of a process with a 200-character UNIX path keeps Fd and Remote on screen,
sorts the sockets by protocol then local endpoint and counts them; without colour
(``NO_COLOR``) new, changed and closed rows still show ``+``, ``~`` and ``-``; a re-sort or a new
filter on a big snapshot says "sorting…"/"filtering…" until its rows arrive and keys keep working
meanwhile; a socket that closes under the cursor stays, marked closed (also in the detail pane),
until the cursor leaves it; addresses sort by value, BOUND_INACTIVE is shown whole, long endpoints
are cut in the middle, the sort arrow fits Recv-Q, the hidden-owners note does not blame privilege
when running as root, the first Tab into a listener's client list highlights a client, and an empty
table says that nothing matches; in the owners view a long Remote cell keeps its end (the peer inode)
on screen, with no horizontal scroll.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable, OptionList, Static

import sockui.widgets.socket_table as socket_table
from sockui.app import SockuiApp
from sockui.model.socket import Binding, Family, InetEndpoint, SocketRecord
from sockui.model.view import Derived, derive
from sockui.widgets.socket_table import SocketTable

from .scripted import FixedSource, at, notes, refresh, scripted_app, udp, unix, wait_for_note
from .support import (
    find_on_screen,
    keys_of,
    move_cursor_to,
    owners_screen,
    row_status,
    screen_text,
    settle,
    static_text,
    tcp,
    wait_for_snapshot,
    wait_until,
)

SIZE = (160, 45)
#: A 200-character UNIX path: a deep runtime directory, as container runtimes make them.
LONG_PATH = ("/run/containerd/io.containerd.runtime.v2.task/k8s.io/" + "0123456789abcdef" * 12)[
    :191
] + "/app.sock"
assert len(LONG_PATH) == 200


def at_cursor(table: SocketTable) -> int | None:
    record = table.cursor_record
    return record.key if record is not None else None


def table_line(lines: list[str], needle: str) -> str:
    found = [line for line in lines if needle in line]
    assert len(found) == 1, f"{needle!r} on {len(found)} lines:\n" + "\n".join(lines)
    return found[0]


# -- 7. owners view ----------------------------------------------------------------------------------


def process_seven() -> list[SocketRecord]:
    """pid 7 holds a listener on LONG_PATH, three TCP sockets and a UDP one; pid 8 one socket."""
    return [
        unix(1, LONG_PATH, inode=900001, state="LISTEN", pid=7),
        tcp(2, 300, pid=7),
        tcp(3, 100, pid=7),
        udp(4, 53, pid=7),
        at(tcp(5, 50, pid=7), "127.0.0.2"),
        tcp(6, 600, pid=8, name="other"),
    ]


async def test_owners_view_with_a_long_path_keeps_its_columns_sorted_and_counted() -> None:
    app = scripted_app(FixedSource(process_seven()))
    async with app.run_test(size=(120, 36)) as pilot:
        await wait_for_snapshot(pilot, app)
        await move_cursor_to(pilot, app.main.table, 1)
        await pilot.press("o")
        screen = await wait_until(pilot, lambda: owners_screen(app), what="the owners view")
        table = screen.query_one("#owner-sockets-7", DataTable)
        await pilot.pause()

        assert [k.value for k in table.rows] == ["3", "2", "5", "4", "1"], "tcp by address, then udp, unix"
        assert table.border_title == "5 sockets"
        lines = screen_text(app)
        header = table_line(lines, "Proto     State")
        for title in ("Fd", "Proto", "State", "Local", "Remote"):
            assert re.search(rf"\b{title}\b", header), f"{title} not on screen: {header!r}"
        # Within the table's box: the box's right edge comes after the Remote title.
        edge = header.rindex("│")
        assert header.index("Remote") < edge, header
        assert find_on_screen(lines, "5 sockets") is not None, "\n".join(lines)
        unix_row = table_line(lines, "unix/str  LISTEN")
        assert "/run/" in unix_row and "…" in unix_row and "app.sock 900001" in unix_row, unix_row


async def test_owners_view_shows_a_long_remote_cell_whole() -> None:
    peer = unix(7, None, inode=900002, remote=LONG_PATH, peer_inode=900003, pid=7)
    app = scripted_app(FixedSource([*process_seven(), peer]))
    async with app.run_test(size=(120, 36)) as pilot:
        await wait_for_snapshot(pilot, app)
        await move_cursor_to(pilot, app.main.table, 7)
        await pilot.press("o")
        screen = await wait_until(pilot, lambda: owners_screen(app), what="the owners view")
        table = screen.query_one("#owner-sockets-7", DataTable)
        await pilot.pause()
        row = table_line(screen_text(app), "* 900002")
        assert "app.sock 900003" in row, f"the peer inode is cut off: {row!r}"
        assert table.max_scroll_x == 0, "the table scrolls sideways"


# -- 9. markers without colour -----------------------------------------------------------------------


@pytest.fixture
def long_highlights(monkeypatch: pytest.MonkeyPatch) -> None:
    """Highlights that outlast any check, however slow the machine."""
    for name in ("NEW_FOR", "CHANGED_FOR", "CLOSED_FOR"):
        monkeypatch.setattr(socket_table, name, 60.0)


@pytest.mark.usefixtures("long_highlights")
async def test_markers_without_colour(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    source = FixedSource([tcp(1, 100), tcp(2, 200), tcp(3, 300)])
    app = scripted_app(source)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_snapshot(pilot, app)
        assert app.no_color, "NO_COLOR is in force"
        source.stage([tcp(1, 100), tcp(2, 200, "CLOSE_WAIT"), tcp(4, 400)])
        await refresh(pilot, app)
        table = app.main.table
        assert [row_status(table, k) for k in (1, 2, 3, 4)] == ["", "changed", "closed", "new"]
        lines = screen_text(app)
        marks = {port: table_line(lines, f"127.0.0.1:{port} ")[0] for port in (100, 200, 300, 400)}
        assert marks == {100: " ", 200: "~", 300: "-", 400: "+"}, "\n".join(lines)


# -- 10. busy feedback -------------------------------------------------------------------------------


class Gate:
    """Holds the main screen's derive workers until the test opens it (``threading.Event`` based)."""

    def __init__(self) -> None:
        self.open = threading.Event()
        self.open.set()
        self.entered = threading.Event()


@pytest.fixture
def gate(monkeypatch: pytest.MonkeyPatch) -> Iterator[Gate]:
    held = Gate()

    def gated(*args: Any, **kwargs: Any) -> Derived | None:
        held.entered.set()
        held.open.wait(timeout=60)
        return derive(*args, **kwargs)

    monkeypatch.setattr("sockui.screens.main.derive", gated)
    try:
        yield held
    finally:
        held.open.set()  # never leave a worker thread waiting


def big_snapshot() -> list[SocketRecord]:
    return [
        at(tcp(k, 1024 + k % 60000, remote_port=1 + k % 50000), f"10.0.{k // 250 % 250}.{k % 250}")
        for k in range(1, 60_001)
    ]


async def busy_until_applied(
    pilot: Pilot[Any],
    app: SockuiApp,
    gate: Gate,
    keys: tuple[str, ...],
    busy: str,
    applied: Callable[[], bool],
) -> None:
    """Press ``keys`` with the derive worker held: ``busy`` shows, keys work; released: rows, no ``busy``."""
    table = app.main.table
    gate.open.clear()
    gate.entered.clear()
    start = at_cursor(table)
    assert start is not None
    before = keys_of(table).index(start)
    await pilot.press(*keys)
    assert busy in screen_text(app)[0], f"{busy!r} not on screen"
    assert busy in app.main.status.text, f"{busy!r} not in {app.main.status.text!r}"
    await wait_until(pilot, gate.entered.is_set, what="the derive worker to start")
    assert not applied(), "the rows arrived although the worker is held"
    await pilot.press("down")
    moved_to = at_cursor(table)
    assert moved_to is not None and keys_of(table).index(moved_to) == before + 1, (
        "a key pressed while deriving is handled"
    )
    assert busy in app.main.status.text, "still deriving"

    gate.open.set()
    await wait_until(pilot, lambda: busy not in app.main.status.text, what=f"{busy!r} to go", timeout=60)
    await settle(pilot, app)
    assert applied(), "the busy text went before the rows arrived"
    assert "…" not in app.main.status.text.splitlines()[0]
    if moved_to in keys_of(table):
        assert at_cursor(table) == moved_to, "the cursor stays on the socket it was moved to"


async def test_busy_text_while_rows_are_derived(gate: Gate) -> None:
    app = scripted_app(FixedSource(big_snapshot()))
    async with app.run_test(size=SIZE) as pilot:
        try:
            await wait_for_snapshot(pilot, app, timeout=60)
            table = app.main.table
            assert table.row_count == 60_000 and "…" not in screen_text(app)[0]

            def sorted_by_remote() -> bool:
                return table.derived is not None and table.derived.view.sort_column == "Remote"

            def filtered() -> bool:
                return table.derived is not None and table.derived.view.filter.source == "sport > 40000"

            await busy_until_applied(pilot, app, gate, ("s",), "sorting…", sorted_by_remote)
            keys = ("slash", *"sport > 40000", "enter")
            await busy_until_applied(pilot, app, gate, keys, "filtering…", filtered)
            ports = [r.local.port for r in table.records() if isinstance(r.local, InetEndpoint)]
            assert len(ports) == table.row_count and all(port > 40000 for port in ports)
        finally:
            gate.open.set()  # before the app shuts down: it waits for its workers


# -- 11. closed row under the cursor -----------------------------------------------------------------


async def test_closed_row_stays_while_the_cursor_is_on_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(socket_table, "CLOSED_FOR", 0.2)
    source = FixedSource([tcp(1, 100), tcp(2, 200), tcp(3, 300)])
    app = scripted_app(source)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_snapshot(pilot, app)
        table, detail = app.main.table, app.main.detail
        await move_cursor_to(pilot, table, 2)
        await pilot.press("enter")
        assert detail.display

        source.stage([tcp(1, 100), tcp(3, 300)])
        await refresh(pilot, app)
        applied_at = time.monotonic()
        assert at_cursor(table) == 2, "the cursor stays on the closed socket"
        assert row_status(table, 2) == "closed"
        endpoints = detail.query_one("#detail-endpoints", Static)
        assert "CLOSED" in static_text(endpoints), static_text(endpoints)

        # Past its fade time, and through another refresh, it stays while the cursor is on it.
        await wait_until(pilot, lambda: time.monotonic() > applied_at + 0.2, what="the fade time to pass")
        table.expire()
        await refresh(pilot, app)
        await pilot.pause()
        assert keys_of(table) == [1, 2, 3] and at_cursor(table) == 2
        assert row_status(table, 2) == "closed"
        assert "CLOSED" in static_text(endpoints)

        await pilot.press("up")
        assert at_cursor(table) == 1
        gone = await wait_until(pilot, lambda: 2 not in keys_of(table), timeout=10, fail=False)
        assert gone, f"the closed row stayed after the cursor left it: {keys_of(table)}"
        assert keys_of(table) == [1, 3] and at_cursor(table) == 1
        assert "CLOSED" not in static_text(endpoints)


# -- 12. smaller ones --------------------------------------------------------------------------------


async def test_addresses_sort_by_value() -> None:
    source = FixedSource(
        [at(tcp(1, 80), "127.0.0.10"), at(tcp(2, 80), "127.0.0.2"), at(tcp(3, 80), "127.0.0.1")]
    )
    app = scripted_app(source)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_snapshot(pilot, app)
        assert app.main.view.sort_column == "Local"
        assert keys_of(app.main.table) == [3, 2, 1]
        lines = screen_text(app)
        two, ten = find_on_screen(lines, "127.0.0.2:"), find_on_screen(lines, "127.0.0.10:")
        assert two is not None and ten is not None and two[1] < ten[1], "\n".join(lines)


async def test_bound_inactive_is_not_cut_at_200_columns() -> None:
    inactive = tcp(1, 7000)._replace(state="BOUND_INACTIVE", binding=Binding.BOUND, remote=None)
    app = scripted_app(FixedSource([inactive, tcp(2, 80)]))
    async with app.run_test(size=(200, 30)) as pilot:
        await wait_for_snapshot(pilot, app)
        row = table_line(screen_text(app), "127.0.0.1:7000")
        assert "BOUND_INACTIVE " in row, row


async def test_long_endpoints_are_cut_in_the_middle() -> None:
    address = "2001:db8:aaaa:bbbb:cccc:dddd:eeee:ffff"
    v6 = tcp(1, 54321, "LISTEN")._replace(family=Family.IPV6, local=InetEndpoint(address, 54321))
    path = unix(2, LONG_PATH, inode=900001, state="LISTEN")
    app = scripted_app(FixedSource([v6, path]))
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for_snapshot(pilot, app)
        lines = screen_text(app)
        inet = table_line(lines, "[2001:")
        assert "…" in inet and "]:54321 " in inet, f"the port is not visible: {inet!r}"
        assert address not in inet, "the address fits: the test proves nothing at this width"
        unix_row = table_line(lines, "unix/str")
        assert "/run/" in unix_row and "…" in unix_row and "sock 900001" in unix_row, unix_row


async def test_sort_arrow_shows_on_recv_q() -> None:
    app = scripted_app(FixedSource([tcp(1, 100), tcp(2, 200)]))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_snapshot(pilot, app)
        for _ in range(10):
            if app.main.view.sort_column == "Recv-Q":
                break
            await pilot.press("s")
        await settle(pilot, app)
        assert app.main.view.sort_column == "Recv-Q"
        header = next(line for line in screen_text(app) if re.match(r"\s*Proto\s+(?:Netns\s+)?State", line))
        assert "Recv-Q ▲" in header, header


async def test_hidden_owners_note_does_not_blame_privilege_as_root() -> None:
    ownerless = tcp(1, 100)._replace(owners=())
    source = FixedSource([ownerless, tcp(2, 200)], euid=0, hidden_owners=3)
    app = scripted_app(source)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await wait_for_snapshot(pilot, app)
        on_screen = "\n".join(screen_text(app)[:2])
        assert "owners hidden: 3" in on_screen, on_screen
        assert "no privilege" not in on_screen, on_screen
        status = app.main.status.text
        assert "owners hidden: 3" in status, status
        assert "no privilege" not in status and "without root" not in status, status

        await move_cursor_to(pilot, app.main.table, 1)
        await pilot.press("enter")
        owners = app.main.detail.query_one("#detail-owners", Static)
        text = await wait_until(pilot, lambda: "note" in static_text(owners) and static_text(owners), 10)
        assert "no privilege" not in text and "without root" not in text, text
        assert "root" in text, text

        await pilot.press("o")
        message = await wait_for_note(pilot, app, "No process holds this socket")
        assert "no privilege" not in message and "without root" not in message, message
        assert all("no privilege" not in m for m in notes(app))


async def test_time_wait_has_no_owner_by_nature_not_a_hidden_one() -> None:
    """A socket with no inode (TIME_WAIT) has no file to hold: o and the detail pane say that, and do not
    blame the unreadable fd tables counted in the status line."""
    remain = tcp(1, 100, "TIME_WAIT", remote_port=40000)._replace(owners=(), inode=0)
    source = FixedSource([remain, tcp(2, 200)], euid=0, hidden_owners=3)
    app = scripted_app(source)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await wait_for_snapshot(pilot, app)
        await move_cursor_to(pilot, app.main.table, 1)
        await pilot.press("o")
        message = await wait_for_note(pilot, app, "No process holds this socket")
        expected = "its process closed it and the kernel is finishing the close (TIME_WAIT)"
        assert message == f"No process holds this socket: {expected}.", message
        await pilot.press("enter")
        owners = app.main.detail.query_one("#detail-owners", Static)
        text = await wait_until(pilot, lambda: "owners" in static_text(owners) and static_text(owners), 10)
        assert f"none: {expected}" in text and "hidden" not in text, text


async def test_first_tab_into_the_client_list_highlights_a_client() -> None:
    source = FixedSource(
        [
            tcp(1, 80, "LISTEN", name="server"),
            tcp(2, 80, remote_port=40000, name="server"),
            tcp(3, 80, remote_port=40001, name="server"),
        ]
    )
    app = scripted_app(source)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_snapshot(pilot, app)
        await move_cursor_to(pilot, app.main.table, 1)
        await pilot.press("enter")
        clients = app.main.detail.query_one("#detail-clients", OptionList)
        await wait_until(pilot, lambda: clients.display and clients.option_count == 2, 10, "the client list")
        for _ in range(6):
            if app.focused is clients:
                break
            await pilot.press("tab")
        assert app.focused is clients, f"tab never reached the client list (focus: {app.focused})"
        assert clients.highlighted is not None, "the focused list shows no highlight"


async def test_empty_table_says_nothing_matches() -> None:
    app = scripted_app(FixedSource([tcp(1, 100), tcp(2, 200)]), filter_text="port 9")
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_snapshot(pilot, app)
        assert keys_of(app.main.table) == []
        lines = screen_text(app)
        row = find_on_screen(lines, "no sockets match")
        assert row is not None, "\n".join(lines)
        assert "port 9" in lines[row[1]]
