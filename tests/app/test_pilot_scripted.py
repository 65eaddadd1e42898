"""Pilot tests against scripted snapshots: churn, highlights, cursor stability, pause and filter errors.

Real sockets cannot stage these edge cases on cue, so a :class:`ScriptedSource` hands the app exactly
the snapshots the test chose; the refresh interval is huge and the test triggers each refresh itself.

Proves: new rows are marked "new" (green), state changes "changed" (yellow), removed sockets linger as
"closed" (red, struck through) and then leave; highlights fade after their few seconds; the cursor
stays on its socket through insertions above it, re-sorts and state changes, and on the same screen
line when rows are inserted above a scrolled view; a paused app applies no snapshot until unpaused; a
bad filter expression shows an inline error with a caret under the problem, keeps the previous filter
in force and does not crash the app; a notification carrying a process name shows it literally; the
owners view lists a process's sockets, jumps to the chosen one and fills in its process details;
``t`` ``u`` ``x`` hide and show their protocol.
"""

from __future__ import annotations

import os
from functools import partial
from typing import Any

import pytest
from rich.style import Style
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, Static

import sockui.widgets.socket_table as socket_table
from sockui.app import SockuiApp
from sockui.model.socket import Binding, Family, Proto, SocketRecord, SockType, UnixEndpoint

from .support import (
    ScriptedSource,
    find_on_screen,
    keys_of,
    owners_screen,
    row_status,
    screen_showing,
    screen_text,
    settle,
    static_text,
    tcp,
    text_with,
    wait_for_snapshot,
    wait_until,
)

SIZE = (160, 45)
#: No timer-driven refresh during a test: each one is triggered by the test.
NEVER = 3600.0


async def refresh(pilot: Pilot[Any], app: SockuiApp) -> None:
    """Collect the staged snapshot now and wait until it is applied."""
    before = app.snapshots_applied
    app.refresh_now()
    await wait_for_snapshot(pilot, app, before)


def row_style(app: SockuiApp, key: int) -> Style:
    """The style the table draws the row of socket ``key`` with (it must be on screen)."""
    table = app.main.table
    line = keys_of(table).index(key) - table.scroll_offset.y + 1
    segments = list(table.render_line(line))
    assert segments, f"row of {key} rendered nothing"
    return segments[0].style or Style()


def status_style(app: SockuiApp, status: str) -> Style:
    return app.main.table.get_component_rich_style(f"socket-table--{status}")


def base() -> list[SocketRecord]:
    return [tcp(1, 100), tcp(2, 200), tcp(3, 300)]


async def test_new_changed_and_closed_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(socket_table, "CLOSED_FOR", 0.2)
    source = ScriptedSource(base())
    app = SockuiApp(interval=NEVER, source=lambda: source)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_snapshot(pilot, app)
        table = app.main.table
        assert keys_of(table) == [1, 2, 3]
        assert [row_status(table, k) for k in (1, 2, 3)] == ["", "", ""], "the first snapshot is not 'new'"

        source.stage([tcp(1, 100), tcp(2, 200, "CLOSE_WAIT"), tcp(4, 400)])
        await refresh(pilot, app)
        assert row_status(table, 1) == ""
        assert row_status(table, 2) == "changed"
        assert row_status(table, 3) == "closed", "a removed socket lingers as closed"
        assert row_status(table, 4) == "new"
        assert keys_of(table) == [1, 2, 3, 4]
        # The highlights are visible: the rows are drawn in the status colours.
        assert row_style(app, 4).color == status_style(app, "new").color
        assert row_style(app, 2).color == status_style(app, "changed").color
        assert row_style(app, 3).color == status_style(app, "closed").color
        assert row_style(app, 3).strike
        assert row_style(app, 1).color != status_style(app, "new").color

        async def closed_row_gone() -> bool:
            await refresh(pilot, app)
            return 3 not in keys_of(table)

        for _ in range(100):
            if await closed_row_gone():
                break
        assert keys_of(table) == [1, 2, 4], "the closed row left after its moment"
        assert table.cursor_record is not None and table.cursor_record.key == 1


async def test_highlights_fade_after_their_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """docs/spec.md 6: green and yellow 'for a few seconds', red 'for a moment': then plain or gone.

    No refresh comes after the one that set the highlights: fading is the table's own business.
    """
    monkeypatch.setattr(socket_table, "NEW_FOR", 0.3)
    monkeypatch.setattr(socket_table, "CHANGED_FOR", 0.3)
    monkeypatch.setattr(socket_table, "CLOSED_FOR", 0.3)
    source = ScriptedSource(base())
    app = SockuiApp(interval=NEVER, source=lambda: source)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_snapshot(pilot, app)
        table = app.main.table
        source.stage([tcp(1, 100), tcp(2, 200, "CLOSE_WAIT"), tcp(4, 400)])
        await refresh(pilot, app)
        assert [row_status(table, k) for k in (2, 3, 4)] == ["changed", "closed", "new"]
        applied = app.snapshots_applied

        def faded() -> bool:
            return keys_of(table) == [1, 2, 4] and all(row_status(table, k) == "" for k in (1, 2, 4))

        done = await wait_until(pilot, faded, timeout=5.0, fail=False)
        states = {k: row_status(table, k) for k in (1, 2, 3, 4)}
        assert done, f"5 s after they were due, the highlights are still there: {states}"
        assert app.snapshots_applied == applied, "no refresh was needed"
        assert row_style(app, 4).color != status_style(app, "new").color, "the row is drawn plain"


async def test_cursor_follows_its_socket() -> None:
    source = ScriptedSource(base())
    app = SockuiApp(interval=NEVER, source=lambda: source)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_snapshot(pilot, app)
        table = app.main.table
        await pilot.press("down")
        assert table.cursor_record is not None and table.cursor_record.key == 2

        # Insertions above (and below) the cursor.
        above = [tcp(10, 50), tcp(11, 60), tcp(12, 150)]
        source.stage([*above, tcp(1, 100), tcp(2, 200), tcp(3, 300), tcp(13, 250)])
        await refresh(pilot, app)
        assert keys_of(table) == [10, 11, 1, 12, 2, 13, 3]
        assert table.cursor_record is not None and table.cursor_record.key == 2

        # Re-sorts by key: reverse, next column, a click on a column title.
        await pilot.press("r")
        await settle(pilot, app)
        assert keys_of(table) == [3, 13, 2, 12, 1, 11, 10]
        assert table.cursor_record is not None and table.cursor_record.key == 2
        await pilot.press("s")
        await settle(pilot, app)
        assert app.main.view.sort_column == "Remote"
        assert table.cursor_record is not None and table.cursor_record.key == 2
        title = find_on_screen(screen_text(app), "State")
        assert title is not None
        await pilot.click(offset=(title[0] + 1, title[1]))
        await settle(pilot, app)
        assert app.main.view.sort_column == "State"
        assert table.cursor_record is not None and table.cursor_record.key == 2

        # A state change moves the row in a State sort; the cursor moves with it.
        order_before = keys_of(table).index(2)
        source.stage([*above, tcp(1, 100), tcp(2, 200, "CLOSE_WAIT"), tcp(3, 300), tcp(13, 250)])
        await refresh(pilot, app)
        assert keys_of(table).index(2) != order_before
        assert table.cursor_record is not None and table.cursor_record.key == 2
        assert table.cursor_record.state == "CLOSE_WAIT", "the cursor row shows the new record"


async def test_rows_do_not_jump_under_the_reader() -> None:
    many = [tcp(k, 1000 + k) for k in range(1, 301)]
    source = ScriptedSource(many)
    app = SockuiApp(interval=NEVER, source=lambda: source)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_snapshot(pilot, app)
        table = app.main.table
        await pilot.press("pagedown", "pagedown", "pagedown", "up", "up")
        key = table.cursor_record.key if table.cursor_record else None
        assert key is not None and table.scroll_offset.y > 0, "the view is scrolled"
        line = keys_of(table).index(key) - table.scroll_offset.y

        source.stage([tcp(5000 + k, 10 + k) for k in range(12)] + many)  # 12 rows sort above everything
        await refresh(pilot, app)
        await pilot.pause()
        assert table.cursor_record is not None and table.cursor_record.key == key
        assert keys_of(table).index(key) - table.scroll_offset.y == line, "the cursor kept its screen line"


async def test_pause_holds_snapshots_until_unpaused() -> None:
    """Paused: the loop does not even collect (no CPU spent on a frozen picture); a refresh asked for
    meanwhile is remembered, and unpausing applies a fresh snapshot with its highlights."""
    source = ScriptedSource(base())
    app = SockuiApp(interval=NEVER, source=lambda: source)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_snapshot(pilot, app)
        table = app.main.table
        await pilot.press("space")
        assert app.paused
        assert "PAUSED" in app.main.status.text
        await wait_until(pilot, lambda: not app.loop.busy, what="the loop to be idle")

        source.stage([tcp(1, 100), tcp(3, 300), tcp(4, 400)])
        applied, collects = app.snapshots_applied, source.collects
        app.refresh_now()
        await pilot.pause(0.3)
        assert source.collects == collects, "a paused app collected"
        assert app.snapshots_applied == applied, "a paused app applied a snapshot"
        assert keys_of(table) == [1, 2, 3], "the table changed while paused"
        assert row_status(table, 2) == "", "nothing is marked closed while paused"

        await pilot.press("space")
        assert not app.paused
        await wait_until(pilot, lambda: app.snapshots_applied > applied, what="a snapshot after unpausing")
        await pilot.pause()
        assert 4 in keys_of(table) and row_status(table, 4) == "new"
        assert row_status(table, 2) == "closed"
        assert "PAUSED" not in app.main.status.text


async def test_bad_filter_shows_error_and_keeps_the_previous_one() -> None:
    source = ScriptedSource(base())
    app = SockuiApp(interval=NEVER, source=lambda: source)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_snapshot(pilot, app)
        table = app.main.table
        await pilot.press("slash", *"port 200", "enter")
        await settle(pilot, app)
        assert keys_of(table) == [2]
        error = app.main.query_one("#filter-error", Static)

        await pilot.press("slash")
        box = app.main.query_one("#filter-input", Input)
        assert box.has_focus and box.value == "port 200", "the bar opens on the current expression"
        await pilot.press(*["backspace"] * len(box.value), *"port >", "enter")
        assert error.display, "the error line is shown"
        text = static_text(error)
        assert "^" in text and "port" in text, f"no caret or message in {text!r}"
        # The caret sits under the problem: right after 'port >', where a port was expected.
        lines = screen_text(app)
        where = find_on_screen(lines, "port >")
        assert where is not None
        x, y = where
        assert lines[y + 1].index("^") == x + len("port >"), "\n".join(lines[y : y + 2])
        assert app.main.view.filter.source == "port 200", "the previous filter stays in force"
        assert keys_of(table) == [2]
        assert "port 200" in app.main.status.text, "active filter visible"
        assert app.is_running and app.return_code is None

        await pilot.press("escape")
        await settle(pilot, app)
        assert app.main.view.filter.source == "port 200", "escape cancels the edit; the filter stays"
        assert keys_of(table) == [2]
        assert not app.main.query_one("#filter-bar").display
        assert table.has_focus


async def test_pair_notification_shows_the_name_literally() -> None:
    name = "[@click=app.quit]x[/] [b]bold[/b] \x1b[31m"
    shown = "[@click=app.quit]x[/] [b]bold[/b] \\e[31m"
    client = tcp(1, 40000, remote_port=80, pid=100, name="curl", peer_key=2)
    server = tcp(2, 80, remote_port=40000, pid=200, name=name, peer_key=1)
    source = ScriptedSource([client, server])
    app = SockuiApp(interval=NEVER, source=lambda: source)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await wait_for_snapshot(pilot, app)
        await pilot.press("slash", *"pid 100", "enter")
        await settle(pilot, app)
        assert keys_of(app.main.table) == [1]
        await pilot.press("p")
        notes = await wait_until(pilot, lambda: list(app._notifications), what="a notification")
        message = notes[-1].message
        assert f"200 {shown}" in message and "hidden by the filter" in message
        assert not notes[-1].markup, "a system string went out as markup"
        lines = await wait_until(
            pilot, lambda: screen_showing(app, "[@click=app.quit]x[/]"), what="the toast on screen"
        )
        where = find_on_screen(lines, "[@click=app.quit]x[/]")
        assert where is not None
        await pilot.click(offset=(where[0] + 17, where[1]))  # on the 'x' a click action would cover
        await pilot.pause()
        assert app.is_running and app.return_code is None


async def test_owners_view_jumps_to_the_chosen_socket() -> None:
    mine = [tcp(1, 100, pid=7), tcp(2, 200, pid=7), tcp(3, 300, pid=8, name="other"), tcp(4, 400, pid=7)]
    source = ScriptedSource(mine)
    app = SockuiApp(interval=NEVER, source=lambda: source)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_snapshot(pilot, app)
        table = app.main.table
        await pilot.press("o")
        screen = await wait_until(pilot, lambda: owners_screen(app), what="owners view")
        listed = screen.query_one("#owner-sockets-7", DataTable)
        assert [k.value for k in listed.rows] == ["1", "2", "4"], "the view lists every socket of pid 7"
        await pilot.press("down", "down", "enter")
        await wait_until(pilot, lambda: app.screen is app.main, what="the owners view to close")
        assert table.cursor_record is not None and table.cursor_record.key == 4
        await pilot.press("p")  # no pair: p says so and stays
        assert table.cursor_record is not None and table.cursor_record.key == 4
        await pilot.press("backspace")  # back where the jump came from
        assert table.cursor_record is not None and table.cursor_record.key == 1


async def test_owners_view_gets_process_details() -> None:
    """The owners view must fill in its process block (read by a worker), every time it opens."""
    me = os.getpid()
    source = ScriptedSource([tcp(1, 100, pid=me, name="pytest")])
    app = SockuiApp(interval=NEVER, source=lambda: source)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_snapshot(pilot, app)
        for attempt in range(5):
            await pilot.press("o")
            screen = await wait_until(pilot, lambda: owners_screen(app), what="owners view")
            info = screen.query_one(f"#owner-info-{me}", Static)
            text = await wait_until(pilot, partial(text_with, info, f"Process {me}"), 3.0, fail=False)
            assert text, f"opening {attempt + 1}: details never arrived: {static_text(info)!r}"
            assert f"Process {me}" in text and "cmdline" in text
            await pilot.press("escape")
            await settle(pilot, app)
            await wait_until(pilot, lambda: app.screen is app.main, what="back to the main screen")


async def test_protocol_toggles() -> None:
    udp = tcp(2, 53)._replace(
        proto=Proto.UDP, type=SockType.DGRAM, state="UNCONN", binding=Binding.BOUND, remote=None
    )
    unix = tcp(3, 0)._replace(
        proto=Proto.UNIX,
        family=Family.UNIX,
        local=UnixEndpoint("/run/app.sock"),
        remote=None,
        state="LISTEN",
        binding=Binding.LISTENING,
    )
    source = ScriptedSource([tcp(1, 80), udp, unix])
    app = SockuiApp(interval=NEVER, source=lambda: source)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_snapshot(pilot, app)
        table = app.main.table
        assert sorted(keys_of(table)) == [1, 2, 3]
        for key, gone in (("t", 1), ("u", 2), ("x", 3)):
            await pilot.press(key)
            await settle(pilot, app)
            assert gone not in keys_of(table), f"{key} did not hide its protocol"
            await pilot.press(key)
            await settle(pilot, app)
            assert sorted(keys_of(table)) == [1, 2, 3], f"{key} again did not bring it back"
        await pilot.press("t", "u")
        await settle(pilot, app)
        assert keys_of(table) == [3]
