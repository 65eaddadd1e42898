"""A filter or sort that fails in its worker is said, and the status does not say "filtering…" for ever.

The failure is a bug by definition (``derive`` raises nothing on purpose), so it cannot be made real:
``derive`` is replaced by one that raises, with a message that holds an escape sequence and markup
(an exception's text may quote what the system gave). Everything else is the real app on real sockets.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sockui.app import SockuiApp
from sockui.screens import main as main_screen

from .scripted import notes, wait_for_note
from .support import ONE_SNAPSHOT, screen_text, wait_for_snapshot, wait_until


def broken_derive(*args: Any, **kwargs: Any) -> None:
    raise RuntimeError("boom \x1b]0;pwn\x07 [@click=app.quit]x[/]")


async def test_failed_filter_is_said_and_not_left_filtering(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    app = SockuiApp(interval=ONE_SNAPSHOT, report_crashes=True)
    async with app.run_test(size=(120, 30), notifications=True) as pilot:
        await wait_for_snapshot(pilot, app)
        before = app.main.table.row_count
        monkeypatch.setattr(main_screen, "derive", broken_derive)
        await pilot.press("slash", *"tcp", "enter")
        said = await wait_for_note(pilot, app, "Could not filter or sort the rows")
        assert "RuntimeError: boom \\e]0;pwn\\x07 [@click=app.quit]x[/]" in said, said
        reports = list((tmp_path / "sockui").glob("*"))
        assert len(reports) == 1 and "RuntimeError" in reports[0].read_text(), reports
        assert str(reports[0]) in said, said
        assert not any(n.markup for n in app._notifications)

        def status() -> str | None:
            top = screen_text(app)[0]
            return top if "filtering" not in top else None

        top = await wait_until(pilot, status, what="the status without 'filtering…'")
        assert "filter tcp" in top, top
        assert app.main.table.row_count == before, "the rows on screen stay as they were"
        assert app.is_running and len(notes(app)) == 1
