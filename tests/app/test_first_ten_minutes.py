"""What a new user runs into in their first ten minutes, part 1: filter, layout, jumps, scroll, status, Esc,
filter typos.

Each test pins a defect a user reported (fixed in 9062fba/fd99b41), on scripted snapshots unless only
a real terminal shows it. Proves: ``/`` opens the bar on the current expression with the cursor at its
end and nothing selected, so typing refines it; the rightmost column keeps its title and values when
the vertical scrollbar appears after the rows grow; ``p`` from a listener lands on a client,
``backspace`` and ``ctrl+o`` come back, and ``p`` without a local pair says so and stays; a refresh
does not undo a mouse-wheel scroll; the status keeps PAUSED, the filter (cut in the middle when it
must be) and the shown count at 100 and at 40 columns, in Pilot and in a real tmux terminal; Esc
closes the detail pane, never drops the filter (a notification points at ``a``), and cancels a
filter edit back to the filter from before ``/``; a misspelt keyword (``prot 8765``) is applied as a
text search with an inline "did you mean port" warning, ``port:8765`` means ``port 8765``, state
names work as words and ``proc python`` finds ``python3``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from textual import events
from textual.pilot import Pilot
from textual.widgets import Input, Static

from sockui.app import SockuiApp
from sockui.model.socket import SocketRecord

from .conftest import Tmux
from .scripted import FixedSource, notes, refresh, scripted_app, udp, wait_for_note
from .support import (
    find_on_screen,
    keys_of,
    move_cursor_to,
    screen_text,
    settle,
    static_text,
    tcp,
    wait_for_snapshot,
    wait_until,
)
from .test_tmux import START_TIMEOUT, poll, quit_and_wait

SIZE = (160, 45)

#: The table's header line (with a Netns column when the host has several namespaces).
HEADER = re.compile(r"\s*Proto\s+(?:Netns\s+)?State")


def filter_input(app: SockuiApp) -> Input:
    return app.main.query_one("#filter-input", Input)


def cursor_key(app: SockuiApp) -> int | None:
    record = app.main.table.cursor_record
    return record.key if record is not None else None


# -- 1. refining a filter ----------------------------------------------------------------------------


async def test_slash_refines_the_current_filter() -> None:
    source = FixedSource([tcp(1, 100), tcp(2, 200), udp(3, 200)])
    app = scripted_app(source, filter_text="port 200")
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_snapshot(pilot, app)
        assert sorted(keys_of(app.main.table)) == [2, 3]

        await pilot.press("slash")
        box = filter_input(app)
        await wait_until(pilot, lambda: box.has_focus, what="the filter input to have focus")
        await pilot.pause()
        assert box.value == "port 200"
        assert box.cursor_position == len("port 200"), "the cursor is at the end of the expression"
        assert box.selected_text == "", "nothing is selected: typing must add to the expression"

        await pilot.press(*" and tcp")
        assert box.value == "port 200 and tcp"
        await pilot.press("enter")
        await settle(pilot, app)
        assert app.main.view.filter.source == "port 200 and tcp"
        assert keys_of(app.main.table) == [2], "the refined filter is in force"


# -- 2. the rightmost column once the scrollbar appears ---------------------------------------------


async def test_rightmost_column_is_whole_after_the_scrollbar_appears() -> None:
    many = [tcp(k, 1000 + k)._replace(send_q=4096) for k in range(1, 3001)]
    source = FixedSource(many)
    app = scripted_app(source, filter_text="port 1001")
    async with app.run_test(size=(160, 30)) as pilot:
        await wait_for_snapshot(pilot, app)
        assert keys_of(app.main.table) == [1], "starts with one row: no scrollbar"

        await pilot.press("a")
        await settle(pilot, app)
        assert app.main.table.row_count == 3000
        await pilot.pause()
        lines = screen_text(app)
        header = next(
            (i for i, line in enumerate(lines) if re.match(r"\s*Proto\s+(?:Netns\s+)?State", line)), None
        )
        assert header is not None, "\n".join(lines)
        assert lines[header].rstrip().endswith("Send-Q"), f"header cut: {lines[header]!r}"
        rows = [line for line in lines[header + 1 :] if line.strip().startswith("tcp")]
        assert len(rows) > 20, "\n".join(lines)
        for line in rows:
            assert not line.rstrip().endswith("…"), f"row cut at the right: {line!r}"
            assert line.rstrip().endswith(" 4096"), f"Send-Q value not whole: {line!r}"


# -- 3. p and back -----------------------------------------------------------------------------------


def listener_and_client() -> list[SocketRecord]:
    """A listener on :80, a client (:40000 -> :80) and the accepted socket (:80 -> :40000)."""
    return [
        tcp(1, 80, "LISTEN", name="server"),
        tcp(2, 40000, remote_port=80, pid=100, name="client", peer_key=3),
        tcp(3, 80, remote_port=40000, name="server", peer_key=2),
        tcp(4, 5000, remote_port=443, pid=300, name="lonely"),  # its other end is not on this host
    ]


async def test_pair_from_a_listener_and_back() -> None:
    source = FixedSource(listener_and_client())
    app = scripted_app(source)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await wait_for_snapshot(pilot, app)
        table = app.main.table
        await move_cursor_to(pilot, table, 1)

        await pilot.press("p")
        assert cursor_key(app) == 3, "p on a listener goes to a connection it accepted"
        await pilot.press("backspace")
        assert cursor_key(app) == 1, "backspace comes back to the listener"

        await pilot.press("p")
        assert cursor_key(app) == 3
        await pilot.press("ctrl+o")
        assert cursor_key(app) == 1, "ctrl+o comes back too"

        await move_cursor_to(pilot, table, 4)
        before = notes(app)
        await pilot.press("p")
        message = await wait_for_note(pilot, app, "o local pair")
        assert "No local pair" in message and message not in before
        assert cursor_key(app) == 4, "p without a local pair leaves the cursor where it was"


# -- 4. the mouse wheel ------------------------------------------------------------------------------


async def test_refresh_keeps_a_mouse_wheel_scroll() -> None:
    many = [tcp(k, 1000 + k) for k in range(1, 301)]
    source = FixedSource(many)
    app = scripted_app(source)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_snapshot(pilot, app)
        table = app.main.table
        assert cursor_key(app) == 1 and table.scroll_offset.y == 0
        region = table.region
        for _ in range(8):
            # What the terminal driver posts for one notch of the wheel over the table.
            x, y = region.x + 20, region.y + 5
            app.post_message(events.MouseScrollDown(None, x, y, 0, 1, 0, False, False, False, x, y))
            await pilot.pause()
        await pilot.wait_for_scheduled_animations()
        await pilot.pause()
        scrolled = table.scroll_offset.y
        assert scrolled > 5, f"the wheel did not scroll the table (offset {scrolled})"
        assert cursor_key(app) == 1, "the wheel does not move the cursor (first row, now off screen)"

        # A refresh with a change at the top (state) and at the bottom (a new row).
        changed = [tcp(1, 1001, "CLOSE_WAIT"), *many[1:], tcp(301, 1301)]
        source.stage(changed)
        await refresh(pilot, app)
        await pilot.pause()
        assert table.row_count == 301, "the refresh was applied"
        assert table.scroll_offset.y == scrolled, "the refresh scrolled the table back"
        assert cursor_key(app) == 1


# -- 5. status lines ---------------------------------------------------------------------------------

LONG_FILTER = " or ".join(f"port {n}" for n in range(1, 8))


def first_status_line(app: SockuiApp) -> str:
    return app.main.status.text.splitlines()[0]


async def test_status_keeps_paused_filter_and_count_when_narrow() -> None:
    source = FixedSource([tcp(k, k) for k in range(1, 11)])
    app = scripted_app(source, filter_text=LONG_FILTER)
    async with app.run_test(size=(100, 24)) as pilot:
        await wait_for_snapshot(pilot, app)
        await pilot.press("space")
        await pilot.pause()
        assert app.paused
        on_screen = screen_text(app)[0]
        for needle in ("PAUSED", f"filter {LONG_FILTER}", "shown 7/10"):
            assert needle in on_screen, f"{needle!r} not on the first line: {on_screen!r}"
            assert needle in first_status_line(app)

        await pilot.resize_terminal(40, 12)
        await wait_until(pilot, lambda: app.main.status.size.width <= 40, what="the narrow layout")
        await pilot.pause()
        on_screen = screen_text(app)[0]
        assert "PAUSED" in on_screen and "shown 7/10" in on_screen, on_screen
        line = first_status_line(app)
        assert line.strip() == on_screen.strip(), "status.text is what the screen shows"
        match = re.search(r"filter (\S.*?)  shown", line)
        assert match is not None, f"no filter in {line!r}"
        shown = match.group(1)
        assert "…" in shown, f"a long filter is cut in the middle: {shown!r}"
        head, _, tail = shown.partition("…")
        assert head and LONG_FILTER.startswith(head), shown
        assert tail and LONG_FILTER.endswith(tail), shown


def test_status_in_a_small_real_terminal(tmux: Tmux, sockui_script: Path, tmp_path: Path) -> None:
    # A private config directory: the user's remembered columns are no business of this test.
    tmux.start(["env", f"XDG_CONFIG_HOME={tmp_path}", str(sockui_script), "--filter", "port 1"], 40, 12)
    poll(lambda: "shown " in tmux.capture(), START_TIMEOUT, "the first snapshot at 40x12")
    tmux.send("Space")

    def paused_screen() -> str | None:
        screen = tmux.capture()
        return screen if "PAUSED" in screen else None

    screen = poll(paused_screen, START_TIMEOUT, "PAUSED on screen")
    assert isinstance(screen, str)
    first = screen.splitlines()[0]
    assert "PAUSED" in first and "port 1" in first and "shown " in first, screen
    quit_and_wait(tmux)


# -- 6. Esc ------------------------------------------------------------------------------------------


async def test_escape_never_drops_the_filter() -> None:
    source = FixedSource([tcp(1, 100), tcp(2, 200), tcp(3, 300)])
    app = scripted_app(source, filter_text="port 200")
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await wait_for_snapshot(pilot, app)
        main, table = app.main, app.main.table
        assert keys_of(table) == [2]

        await pilot.press("enter")
        assert main.detail.display, "enter opens the detail pane"
        await pilot.press("escape")
        await settle(pilot, app)
        assert not main.detail.display, "escape closes the detail pane"
        assert main.view.filter.source == "port 200" and keys_of(table) == [2]

        await pilot.press("escape")
        await settle(pilot, app)
        assert main.view.filter.source == "port 200" and keys_of(table) == [2], "escape dropped the filter"
        message = await wait_for_note(pilot, app, "Esc")
        assert re.search(r"\ba\b", message), f"the note does not point at 'a': {message!r}"

        await pilot.press("slash", *" or port 300")
        # Applied as you type: wait for the preview, so that cancelling has something to undo.
        await wait_until(
            pilot, lambda: keys_of(table) == [2, 3], what="the preview of the edited filter", timeout=10
        )
        assert main.view.filter.source == "port 200 or port 300"
        await pilot.press("escape")
        await settle(pilot, app)
        assert main.view.filter.source == "port 200", "escape cancels the edit"
        assert keys_of(table) == [2], "the rows of the previous filter are back"
        assert not main.query_one("#filter-bar").display and table.has_focus
        assert not main.query_one("#filter-error", Static).display
        assert static_text(main.query_one("#filter-error", Static)) == ""


async def set_filter(pilot: Pilot[Any], app: SockuiApp, text: str) -> None:
    """Replace the filter expression through the filter bar, as a user would, and wait for the rows."""
    await pilot.press("slash")
    box = app.main.query_one("#filter-input", Input)
    await wait_until(pilot, lambda: box.has_focus, what="the filter input")
    await pilot.press(*["backspace"] * len(box.value), *text, "enter")
    await settle(pilot, app)
    assert app.main.view.filter.source == text


# -- 8. filter typos ---------------------------------------------------------------------------------


def typo_sockets() -> list[SocketRecord]:
    return [
        tcp(1, 8765, name="protector"),
        tcp(2, 8765, remote_port=5000, name="other"),
        tcp(3, 40000, remote_port=8765, name="client"),
        tcp(4, 80, "LISTEN", name="nginx"),
        tcp(5, 9000, name="python3"),
        tcp(6, 9001, "TIME_WAIT", name="gone"),
    ]


async def test_misspelt_keyword_is_searched_with_a_warning() -> None:
    app = scripted_app(FixedSource(typo_sockets()))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_snapshot(pilot, app)
        error = app.main.query_one("#filter-error", Static)
        await pilot.press("slash", *"prot 8765")
        warned = await wait_until(
            pilot, lambda: error.display and "did you mean port" in static_text(error), 10, fail=False
        )
        assert warned, f"no inline warning: shown={error.display} {static_text(error)!r}"
        # Applied as typed (a text search for 'prot' and '8765'), not refused.
        await wait_until(pilot, lambda: app.main.view.filter.source == "prot 8765", 10, "the preview")
        await settle(pilot, app)
        assert keys_of(app.main.table) == [1]
        lines = screen_text(app)
        assert find_on_screen(lines, "did you mean port") is not None, "\n".join(lines)
        await pilot.press("enter")
        await settle(pilot, app)
        assert app.main.view.filter.source == "prot 8765" and keys_of(app.main.table) == [1]


async def test_forgiving_filter_words() -> None:
    app = scripted_app(FixedSource(typo_sockets()))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_snapshot(pilot, app)
        table = app.main.table
        await set_filter(pilot, app, "port 8765")
        spaced = sorted(keys_of(table))
        assert spaced == [1, 2, 3]
        await set_filter(pilot, app, "port:8765")
        assert sorted(keys_of(table)) == spaced, "port:8765 filters like port 8765"
        await set_filter(pilot, app, "established")
        assert sorted(keys_of(table)) == [1, 2, 3, 5]
        await set_filter(pilot, app, "listen")
        assert keys_of(table) == [4]
        await set_filter(pilot, app, "proc python")
        assert keys_of(table) == [5], "proc python finds python3"
