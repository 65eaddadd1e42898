"""What a new user runs into in their first ten minutes, part 3: the keys that were missing.

Proves: ``ctrl+f`` finds the next matching row without hiding any, ``F3``/``shift+F3`` step forward
and back (wrapping); ``=`` offers the row's port and ANDs ``port N`` onto the filter; ``a`` resets
expression, binding filter and protocol toggles but keeps the sort; ``R`` hides and shows raw sockets;
``ctrl+c`` quits; ``?`` lists every key of the main screen's, the table's and the app's bindings with
what it does (``g`` and ``C`` included) and the filter syntax; the command palette finds the pause
action by name and running it pauses; UNIX rows show their inode in Local and the peer's in Remote;
an accepted connection's detail pane links to its listener and Enter there jumps to it; ``g`` opens
the group-by-process view and ``C`` the column chooser, where hiding a column removes it from the
header.
"""

from __future__ import annotations

import re
from typing import Any

from textual.binding import Binding
from textual.command import CommandList, CommandPalette
from textual.containers import VerticalScroll
from textual.pilot import Pilot
from textual.widgets import OptionList, SelectionList

from sockui.app import SockuiApp
from sockui.model.columns import TITLES
from sockui.model.filter_help import FILTER_SYNTAX
from sockui.model.socket import Family, InetEndpoint, Proto, SockType
from sockui.screens.columns import ColumnsScreen
from sockui.screens.help import HelpScreen
from sockui.screens.main import MainScreen
from sockui.screens.narrow import NarrowScreen
from sockui.screens.processes import ProcessesScreen
from sockui.widgets.socket_table import SocketTable

from .scripted import FixedSource, notes, scripted_app, udp, unix, wait_for_note
from .support import keys_of, move_cursor_to, screen_text, settle, tcp, wait_for_snapshot, wait_until

SIZE = (160, 45)


def at_cursor(app: SockuiApp) -> int | None:
    record = app.main.table.cursor_record
    return record.key if record is not None else None


def header_line(app: SockuiApp) -> str:
    return next(line for line in screen_text(app) if re.match(r"\s*Proto\s+", line))


async def wait_for_screen(pilot: Any, app: SockuiApp, kind: type) -> Any:
    return await wait_until(
        pilot, lambda: app.screen if isinstance(app.screen, kind) else None, 10, kind.__name__
    )


# -- find --------------------------------------------------------------------------------------------


async def test_find_moves_between_matches_without_hiding_rows() -> None:
    names = {1: "alpha", 2: "beta", 3: "alpha", 4: "gamma", 5: "alpha"}
    app = scripted_app(FixedSource([tcp(k, 100 * k, name=n) for k, n in names.items()]))
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await wait_for_snapshot(pilot, app)
        table = app.main.table
        assert at_cursor(app) == 1

        await pilot.press("ctrl+f", *"proc alpha", "enter")
        await wait_until(pilot, lambda: at_cursor(app) == 3, 10, "the first match after the cursor")
        assert keys_of(table) == [1, 2, 3, 4, 5], "find hides nothing"
        assert app.main.view.filter.is_empty, "find is not a filter"
        assert table.has_focus

        await pilot.press("f3")
        await wait_until(pilot, lambda: at_cursor(app) == 5, 10, "F3 to the next match")
        await pilot.press("f3")
        await wait_until(pilot, lambda: at_cursor(app) == 1, 10, "F3 to wrap around")
        await wait_for_note(pilot, app, "wrapped")
        await pilot.press("shift+f3")
        await wait_until(pilot, lambda: at_cursor(app) == 5, 10, "shift+F3 to the previous match")
        await pilot.press("shift+f3")
        await wait_until(pilot, lambda: at_cursor(app) == 3, 10, "shift+F3 again")
        assert keys_of(table) == [1, 2, 3, 4, 5]


# -- narrow ------------------------------------------------------------------------------------------


async def test_narrow_menu_ands_the_port() -> None:
    source = FixedSource([tcp(1, 100), tcp(2, 200), tcp(3, 40000, remote_port=200), udp(4, 200)])
    app = scripted_app(source, filter_text="tcp")
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_snapshot(pilot, app)
        assert sorted(keys_of(app.main.table)) == [1, 2, 3]
        await move_cursor_to(pilot, app.main.table, 2)
        await pilot.press("equals_sign")
        menu = await wait_for_screen(pilot, app, NarrowScreen)
        clauses = [clause for clause, _meaning in menu.clauses]
        assert "port 200" in clauses, clauses
        options = menu.query_one(OptionList)
        for _ in range(len(clauses)):
            if options.highlighted == clauses.index("port 200"):
                break
            await pilot.press("down")
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.screen is app.main, 10, "the menu to close")
        await settle(pilot, app)
        source_text = app.main.view.filter.source
        assert re.fullmatch(r"\(?tcp\)? and port 200", source_text), source_text
        assert sorted(keys_of(app.main.table)) == [2, 3], "tcp sockets with port 200 at either end"


# -- a: show all -------------------------------------------------------------------------------------


async def test_show_all_resets_every_filter_but_keeps_the_sort() -> None:
    everything = [
        tcp(1, 100),
        tcp(2, 200, "LISTEN"),
        udp(3, 53),
        unix(4, "/run/a.sock", inode=7, state="LISTEN"),
    ]
    app = scripted_app(FixedSource(everything), filter_text="port 200 or port 53")
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_snapshot(pilot, app)
        await pilot.press("b", "u", "s", "r")
        await settle(pilot, app)
        view = app.main.view
        assert view.binding is not None and Proto.UDP not in view.protos and not view.filter.is_empty
        assert (view.sort_column, view.sort_reverse) == ("Remote", True)
        assert keys_of(app.main.table) == [2]

        await pilot.press("a")
        await settle(pilot, app)
        view = app.main.view
        assert view.filter.is_empty and view.binding is None and view.protos == frozenset(Proto)
        assert not view.active
        assert (view.sort_column, view.sort_reverse) == ("Remote", True), "a keeps the sort"
        assert sorted(keys_of(app.main.table)) == [1, 2, 3, 4]


# -- R: raw ------------------------------------------------------------------------------------------


async def test_raw_toggle() -> None:
    raw = udp(2, 1)._replace(
        proto=Proto.RAW, type=SockType.RAW, family=Family.IPV4, local=InetEndpoint("0.0.0.0", 1)
    )
    app = scripted_app(FixedSource([tcp(1, 100), raw]))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_snapshot(pilot, app)
        assert sorted(keys_of(app.main.table)) == [1, 2]
        await pilot.press("R")
        await settle(pilot, app)
        assert keys_of(app.main.table) == [1], "R hides raw sockets"
        assert "raw" in app.main.view.describe()
        await pilot.press("R")
        await settle(pilot, app)
        assert sorted(keys_of(app.main.table)) == [1, 2], "R again shows them"


# -- ctrl+c ------------------------------------------------------------------------------------------


async def test_ctrl_c_quits() -> None:
    app = scripted_app(FixedSource([tcp(1, 100)]))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_snapshot(pilot, app)
        await pilot.press("ctrl+c")
        await wait_until(pilot, lambda: app.return_code is not None, 10, "the app to exit")
    assert app.return_code == 0
    assert not app.is_running


# -- ? help ------------------------------------------------------------------------------------------


async def help_text(pilot: Pilot[Any], app: SockuiApp) -> list[str]:
    """Every line the help box shows, scrolled from top to bottom a screenful at a time."""
    box = app.screen.query_one(VerticalScroll)
    box.scroll_home(animate=False)
    seen: list[str] = []
    for _ in range(50):
        await pilot.pause()
        seen += [line.strip("│ ") for line in screen_text(app)]
        if box.scroll_y >= box.max_scroll_y:
            return seen
        box.scroll_to(y=box.scroll_y + max(1, box.size.height - 2), animate=False)
    raise AssertionError("the help box never reached its end")


async def test_help_lists_every_key_and_the_filter_syntax() -> None:
    app = scripted_app(FixedSource([tcp(1, 100)]))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for_snapshot(pilot, app)
        await pilot.press("question_mark")
        await wait_for_screen(pilot, app, HelpScreen)
        lines = await help_text(pilot, app)

        for bindings in (MainScreen.BINDINGS, SocketTable.BINDINGS, SockuiApp.BINDINGS):
            for binding in Binding.make_bindings(bindings):
                key = app.get_key_display(binding)
                what = binding.tooltip or binding.description
                pattern = rf"(^|\s){re.escape(key)}\s(.*\s)?{re.escape(what)}"
                assert any(re.search(pattern, line) for line in lines), f"{key} ({what}) not in the help"
        for key, what in (("g", "group by process"), ("C", "choose the columns")):
            assert any(re.match(rf"{key}\s+{what}", line) for line in lines), f"{key} missing: {lines}"
        assert "Filter expressions (/ and --filter)" in lines
        text = "\n".join(lines)
        for form, _meaning in FILTER_SYNTAX:
            assert form in text, f"filter syntax {form!r} not shown"


# -- command palette ---------------------------------------------------------------------------------


async def test_command_palette_finds_and_runs_pause() -> None:
    app = scripted_app(FixedSource([tcp(1, 100)]))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_snapshot(pilot, app)
        await pilot.press("ctrl+p")
        palette = await wait_for_screen(pilot, app, CommandPalette)
        await pilot.press(*"pause")
        hits = palette.query_one(CommandList)

        def pause_hit() -> bool:
            prompts = [str(hits.get_option_at_index(i).prompt) for i in range(hits.option_count)]
            return any("Pause" in p and "space" in p for p in prompts)

        await wait_until(pilot, pause_hit, 10, "a hit for the pause action")
        assert not app.paused
        await wait_until(pilot, lambda: hits.highlighted is not None, 10, "a highlighted hit")
        highlighted = hits.get_option_at_index(hits.highlighted or 0)
        assert "Pause" in str(highlighted.prompt)
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.paused, 10, "the pause action to run")
        assert app.screen is app.main
        assert "PAUSED" in screen_text(app)[0]


# -- UNIX inodes -------------------------------------------------------------------------------------


async def test_unix_rows_show_inodes() -> None:
    pair = [
        unix(1, None, inode=212520, peer_inode=212521),
        unix(2, None, inode=212521, peer_inode=212520),
        unix(3, "/run/app.sock", inode=212522, state="LISTEN"),
    ]
    app = scripted_app(FixedSource(pair))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_snapshot(pilot, app)
        lines = screen_text(app)
        first = next(line for line in lines if "* 212520" in line and "unix" in line)
        assert re.search(r"\* 212520\s+\* 212521\s", first), first
        second = next(line for line in lines if re.search(r"\* 212521\s+\* 212520\s", line))
        assert second.strip().startswith("unix")
        assert any("/run/app.sock 212522" in line for line in lines), "\n".join(lines)


# -- accepted by -------------------------------------------------------------------------------------


async def test_accepted_connection_links_to_its_listener() -> None:
    source = FixedSource(
        [
            tcp(1, 80, "LISTEN", name="server"),
            tcp(2, 80, remote_port=40000, name="server"),
            tcp(3, 9999, name="other"),
        ]
    )
    app = scripted_app(source)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_snapshot(pilot, app)
        await move_cursor_to(pilot, app.main.table, 2)
        await pilot.press("enter")
        links = app.main.detail.query_one("#detail-clients", OptionList)
        await wait_until(pilot, lambda: links.display and links.option_count == 1, 10, "the listener link")
        label = str(links.get_option_at_index(0).prompt)
        assert label.startswith("accepted by") and "127.0.0.1:80" in label, label
        assert any("accepted by 127.0.0.1:80" in line for line in screen_text(app))

        for _ in range(6):
            if app.focused is links:
                break
            await pilot.press("tab")
        assert app.focused is links
        await pilot.press("enter")
        await wait_until(pilot, lambda: at_cursor(app) == 1, 10, "the jump to the listener")
        assert app.main.table.has_focus
        await pilot.press("backspace")
        assert at_cursor(app) == 2, "backspace returns from that jump too"


# -- g and C -----------------------------------------------------------------------------------------


async def test_group_by_process_view_opens() -> None:
    app = scripted_app(FixedSource([tcp(1, 100, pid=7), tcp(2, 200, pid=7), tcp(3, 300, pid=8)]))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_snapshot(pilot, app)
        await pilot.press("g")
        view = await wait_for_screen(pilot, app, ProcessesScreen)
        grouping = await wait_until(pilot, lambda: view.grouping, 10, "the counts")
        assert [(g.pid, g.total) for g in grouping.groups] == [(7, 2), (8, 1)]
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is app.main, 10, "the view to close")


async def test_column_chooser_hides_a_column(monkeypatch: Any, tmp_path: Any) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))  # whatever happens, never the user's settings
    app = scripted_app(FixedSource([tcp(1, 100)]))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_snapshot(pilot, app)
        assert re.search(r"\sUser\s", header_line(app))
        await pilot.press("C")
        chooser = await wait_for_screen(pilot, app, ColumnsScreen)
        choices = chooser.query_one(SelectionList)
        for _ in range(len(TITLES)):
            if choices.highlighted == TITLES.index("User"):
                break
            await pilot.press("down")
        assert choices.highlighted == TITLES.index("User")
        await pilot.press("space", "enter")
        await wait_until(pilot, lambda: app.screen is app.main, 10, "the chooser to close")
        await pilot.pause()
        assert "User" not in app.main.columns
        header = header_line(app)
        assert not re.search(r"\sUser\s", header), header
        for title in ("Proto", "Local", "Remote", "Process", "Send-Q"):
            assert title in header, header
        assert notes(app) == [] or all("error" not in n.lower() for n in notes(app))
