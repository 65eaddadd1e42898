"""Hostile text from the system reaches the screen only as inert, visible characters.

Child processes rename themselves (``prctl(PR_SET_NAME)``) to escape sequences, newlines, bidi
overrides, invalid UTF-8 and Textual/Rich markup (``[@click=...]``, ``[/bold]``), with a hostile
cmdline too, and each holds a real listener. Proves, in the table, the detail pane, the owners view and
a notification: control characters show as escapes (``\\e``, ``\\n``), markup shows literally, no
raw ESC reaches the screen, no cell carries a click action, clicking the text does not quit, and
nothing crashes. A canary proves the click check itself would catch live markup.
"""

from __future__ import annotations

import os
import pwd
import socket
from functools import partial
from typing import Any

from rich.cells import cell_len
from rich.style import Style
from textual.app import App, ComposeResult
from textual.pilot import Pilot
from textual.widgets import Static

from sockui.app import SockuiApp

from .conftest import Hostile, SocketBag
from .support import (
    ONE_SNAPSHOT,
    find_on_screen,
    move_cursor_to,
    owners_screen,
    screen_showing,
    screen_text,
    text_with,
    wait_for_snapshot,
    wait_until,
)

#: Wide enough for the detail pane to show a cmdline argument unwrapped.
SIZE = (200, 50)
#: The cmdline as sockui must show it (joined with spaces, control characters escaped).
SHOWN_ARGS = ("[@click=app.quit]x[/]", r"\e[2J\e[31mred", r"two\nlines", "[/bold]")


def listener_key(app: SockuiApp, child: Hostile) -> int:
    for rec in app.main.table.records():
        if rec.binding.value == "listening" and child.pid in rec.pids:
            return rec.key
    raise AssertionError(f"no listener of child {child.pid} listed")


def filtered_app(hostiles: list[Hostile]) -> SockuiApp:
    """The app showing the children's listeners only (``--filter``: typing it is tested elsewhere)."""
    return SockuiApp(filter_text=" or ".join(f"port {h.port}" for h in hostiles), interval=ONE_SNAPSHOT)


def assert_inert(app: SockuiApp, lines: list[str], needles: list[str]) -> None:
    """No raw ESC/BEL on screen, every needle shown, and no cell of a needle carries a click action."""
    text = "\n".join(lines)
    assert "\x1b" not in text and "\x07" not in text and "\u202e" not in text, "a raw control char on screen"
    for needle in needles:
        where = find_on_screen(lines, needle)
        assert where is not None, f"{needle!r} is not shown literally:\n{text}"
        x, y = where
        for dx in range(len(needle)):
            style: Style = app.screen.get_style_at(x + dx, y)
            assert "@click" not in style.meta, f"{needle!r} is live markup at ({x + dx}, {y})"


async def assert_click_harmless(app: SockuiApp, pilot: Pilot[Any], lines: list[str], needle: str) -> None:
    where = find_on_screen(lines, needle)
    assert where is not None, f"{needle!r} not on screen"
    x, y = where
    for dx in sorted({0, len(needle) // 2, len(needle) - 1}):  # a Pilot click costs ~0.1 s: a few suffice
        await pilot.click(offset=(x + dx, y))
    await pilot.pause()
    assert app.is_running and app.return_code is None, f"clicking {needle!r} ended the app"


async def test_canary_live_markup_is_caught() -> None:
    """The checks below would fail on live markup: a Static with markup quits when clicked."""

    class Canary(App[None]):
        def compose(self) -> ComposeResult:
            yield Static("[@click=app.quit]x[/]", id="live")

    app = Canary()
    async with app.run_test() as pilot:
        assert "@click" in app.screen.get_style_at(0, 0).meta
        await pilot.click(offset=(0, 0))
        await pilot.pause()
        assert not app.is_running


async def test_table_shows_names_escaped_and_inert(hostiles: list[Hostile]) -> None:
    app = filtered_app(hostiles)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_snapshot(pilot, app)
        table = app.main.table
        for child in hostiles:
            key = listener_key(app, child)
            line = table.render_line(1 + [r.key for r in table.records()].index(key)).text
            assert f"{child.pid} {child.shown}" in line, f"{line!r} does not show {child.shown!r}"
        lines = screen_text(app)
        assert_inert(app, lines, [f"{h.pid} {h.shown}" for h in hostiles])
        # Names of every width (escapes, a wide character) leave the columns after them aligned.
        rows = [line for line in lines if any(f"{h.pid} {h.shown}" in line for h in hostiles)]
        assert len(rows) == len(hostiles)
        user = f" {pwd.getpwuid(os.getuid()).pw_name} "
        user_column = {cell_len(row[: row.index(user)]) for row in rows}
        assert len(user_column) == 1, "columns after the Process cell are misaligned:\n" + "\n".join(rows)
        for child in hostiles:
            await assert_click_harmless(app, pilot, lines, f"{child.pid} {child.shown}")
        assert app.main.view.filter.source.startswith("port "), "the clicks did not disturb the view"


async def test_detail_pane_shows_names_and_cmdline_literally(hostiles: list[Hostile]) -> None:
    app = filtered_app(hostiles)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_snapshot(pilot, app)
        table = app.main.table
        await pilot.press("enter")
        assert app.main.detail.display
        for child in hostiles:
            await move_cursor_to(pilot, table, listener_key(app, child))
            owners = app.main.query_one("#detail-owners", Static)
            loaded = partial(text_with, owners, f"Owner {child.pid}")
            text = await wait_until(pilot, loaded, what=f"process details of {child.pid}")
            assert child.shown in text, f"{child.shown!r} not in {text!r}"
            assert " ".join(SHOWN_ARGS) in text, f"cmdline not shown literally in {text!r}"
            lines = await wait_until(pilot, lambda: screen_showing(app, SHOWN_ARGS[0]), what="cmdline")
            assert_inert(app, lines, [child.shown, SHOWN_ARGS[0], SHOWN_ARGS[1]])
            await assert_click_harmless(app, pilot, lines, SHOWN_ARGS[0])
            await assert_click_harmless(app, pilot, lines, child.shown)
            table.focus()  # a click on the pane focuses it; the arrows must go to the table again


async def test_owners_view_shows_names_literally(hostiles: list[Hostile]) -> None:
    app = filtered_app(hostiles)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_snapshot(pilot, app)
        for child in hostiles[:3]:
            await move_cursor_to(pilot, app.main.table, listener_key(app, child))
            await pilot.press("o")
            screen = await wait_until(pilot, lambda: owners_screen(app), what="owners view")
            info = screen.query_one(f"#owner-info-{child.pid}", Static)
            text = await wait_until(
                pilot, partial(text_with, info, f"Process {child.pid}"), what=f"details of {child.pid}"
            )
            assert child.shown in text and " ".join(SHOWN_ARGS) in text, text
            lines = await wait_until(pilot, lambda: screen_showing(app, SHOWN_ARGS[0]), what="details")
            assert_inert(app, lines, [child.shown, SHOWN_ARGS[0]])
            await assert_click_harmless(app, pilot, lines, SHOWN_ARGS[0])
            await assert_click_harmless(app, pilot, lines, child.shown)
            assert app.screen is screen, "the owners view is still open"
            await pilot.press("escape")
            await wait_until(pilot, lambda: app.screen is app.main, what="back to the main screen")


async def test_pair_notification_shows_the_name_literally(bag: SocketBag, hostiles: list[Hostile]) -> None:
    child = next(h for h in hostiles if "[@click" in h.shown)
    client = bag.add(socket.create_connection(("127.0.0.1", child.port), timeout=5))
    child.wait_accepted()
    # Only our client end is shown: its peer (held by the child) is filtered out.
    app = SockuiApp(filter_text=f"port {child.port} and pid {os.getpid()}", interval=ONE_SNAPSHOT)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await wait_for_snapshot(pilot, app)
        table = app.main.table
        records = table.records()
        assert [r.inode for r in records] == [os.fstat(client.fileno()).st_ino]
        assert (
            records[0].peer_key is not None
            and app.main.snapshot is not None
            and records[0].peer_key in app.main.snapshot.index.by_key
        )
        await pilot.press("p")
        # No public accessor for active notifications exists in Textual 8.2.8.
        notes = await wait_until(pilot, lambda: list(app._notifications), what="a notification")
        assert f"{child.pid} {child.shown}" in notes[-1].message, notes[-1].message
        assert not notes[-1].markup
        lines = await wait_until(pilot, lambda: screen_showing(app, child.shown), what="the toast on screen")
        assert_inert(app, lines, [child.shown])
        await assert_click_harmless(app, pilot, lines, child.shown)
