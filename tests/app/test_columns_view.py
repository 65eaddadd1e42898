"""The column chooser (``C``), driven by Pilot on a bare host app.

Proves: every column is listed with the shown ones checked and Proto and Local checked, disabled and
marked "always shown"; space toggles, enter applies and dismisses with the chosen titles in the
canonical order whatever order they were toggled in; the mandatory columns cannot be unchecked (the
cursor skips them, a click does nothing, unchecking them in code is undone with a message) and are in
the result even when the caller's list lacked them; an empty choice is refused with a message and the
screen stays; escape dismisses with None.
"""

from __future__ import annotations

from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import SelectionList, Static

from sockui.model.columns import TITLES
from sockui.screens.columns import EMPTY_CHOICE, MANDATORY, ColumnsScreen, chosen_titles

from .modal_host import Host, find_on_screen, screen_lines, wait_until

SIZE = (100, 30)
SHOWN = ("Proto", "State", "Local", "Remote", "Process", "User")


def screen_of(host: Host) -> ColumnsScreen:
    assert isinstance(host.modal, ColumnsScreen)
    return host.modal


def listing(host: Host) -> SelectionList[str]:
    return screen_of(host).selection_list


def message(host: Host) -> str:
    return str(screen_of(host).query_one("#columns-message", Static).content)


async def move_to(pilot: Pilot[Any], host: Host, title: str) -> None:
    """Move the highlight with the arrow keys, as a user would, onto ``title``."""
    sl = listing(host)
    target = TITLES.index(title)
    for _ in range(len(TITLES) + 1):
        if sl.highlighted == target:
            return
        assert sl.highlighted is not None
        await pilot.press("down" if target > sl.highlighted else "up")
    raise AssertionError(f"never reached {title}")


async def test_lists_every_column_with_the_shown_ones_checked() -> None:
    host = Host(lambda: ColumnsScreen(TITLES, SHOWN))
    async with host.run_test(size=SIZE) as pilot:
        await pilot.pause()
        sl = listing(host)
        assert host.focused is sl
        assert [sl.get_option_at_index(i).value for i in range(sl.option_count)] == list(TITLES)
        assert set(sl.selected) == set(SHOWN)
        for title in MANDATORY:
            option = sl.get_option_at_index(TITLES.index(title))
            assert option.disabled
        lines = screen_lines(host)
        assert find_on_screen(host, "Proto  (always shown)") is not None, lines
        assert find_on_screen(host, "Local  (always shown)") is not None, lines
        assert find_on_screen(host, "space show/hide") is not None, lines
        assert sl.highlighted == TITLES.index("Netns"), "the cursor starts on the first column it can toggle"
        assert find_on_screen(host, "Netns  (when sockets span network namespaces)") is not None, lines


async def test_toggle_and_apply_in_canonical_order() -> None:
    host = Host(lambda: ColumnsScreen(TITLES, SHOWN))
    async with host.run_test(size=SIZE) as pilot:
        await pilot.pause()
        # Toggled in a scrambled order: Send-Q on, Remote off, Fd on, State off.
        for title in ("Send-Q", "Remote", "Fd", "State"):
            await move_to(pilot, host, title)
            await pilot.press("space")
        await pilot.press("enter")
        await wait_until(pilot, lambda: host.results, "the dismissal")
        assert host.results == [("Proto", "Local", "Process", "Fd", "User", "Send-Q")]


async def test_mandatory_columns_cannot_be_removed() -> None:
    host = Host(lambda: ColumnsScreen(TITLES, ("Remote",)))
    async with host.run_test(size=SIZE) as pilot:
        await pilot.pause()
        sl = listing(host)
        assert set(sl.selected) == {"Proto", "Local", "Remote"}, (
            "mandatory ones are checked even if not passed"
        )
        # The cursor skips them.
        await move_to(pilot, host, "Netns")
        await pilot.press("up")
        assert sl.highlighted == len(TITLES) - 1, "up from Netns wraps around, past Proto"
        await pilot.press("down", "down")
        assert sl.highlighted == TITLES.index("State"), "down from the last wraps around, past Proto"
        await pilot.press("down")
        assert sl.highlighted == TITLES.index("Remote"), "down from State skips Local"
        # A click on Proto changes nothing.
        spot = find_on_screen(host, "Proto  (always shown)")
        assert spot is not None
        await pilot.click(offset=spot)
        await pilot.pause()
        assert "Proto" in sl.selected
        # Unchecked by code: put back, with a word of explanation.
        sl.deselect("Local")
        await wait_until(pilot, lambda: "Local" in sl.selected, "Local checked again")
        assert message(host) == "Local is always shown."
        # Everything optional off: Proto and Local remain.
        sl.deselect("Remote")
        await pilot.pause()
        await pilot.press("enter")
        await wait_until(pilot, lambda: host.results, "the dismissal")
        assert host.results == [("Proto", "Local")]


async def test_empty_choice_is_refused() -> None:
    host = Host(lambda: ColumnsScreen(("A", "B"), ("A",)))
    async with host.run_test(size=SIZE) as pilot:
        await pilot.pause()
        sl = listing(host)
        assert sl.highlighted == 0
        await pilot.press("space")
        assert sl.selected == []
        await pilot.press("enter")
        await pilot.pause()
        assert host.results == [] and host.modal_open, "the screen stays"
        assert message(host) == EMPTY_CHOICE
        assert find_on_screen(host, EMPTY_CHOICE) is not None
        await pilot.press("down", "space")
        assert message(host) == "", "the message goes once the choice changes"
        await pilot.press("enter")
        await wait_until(pilot, lambda: host.results, "the dismissal")
        assert host.results == [("B",)]


@pytest.mark.parametrize("key", ["escape", "q"])
async def test_escape_cancels(key: str) -> None:
    host = Host(lambda: ColumnsScreen(TITLES, SHOWN))
    async with host.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("space")  # a change, then cancelled
        await pilot.press(key)
        await wait_until(pilot, lambda: host.results, "the dismissal")
        assert host.results == [None]


def test_chosen_titles_keeps_canonical_order_and_mandatory() -> None:
    assert chosen_titles(TITLES, {"User", "Remote"}) == ("Proto", "Local", "Remote", "User")
    assert chosen_titles(TITLES, {"Nope"}) == ("Proto", "Local")
    assert chosen_titles(("A", "B"), set()) == ()
