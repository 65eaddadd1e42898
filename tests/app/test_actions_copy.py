"""Copy (``c`` menu, ``y``) from the table: the exact texts, the routes they take, and never a hang.

In Pilot, on the test's own loopback connection: each accelerator of the menu hands exactly its text
to the clipboard code (a spy around the real ``clipboard.copy``, which still runs), the OSC 52
sequence written to the terminal carries that text, and the notification names the text and the
route. ``y`` copies the 4-tuple of a connection and the address of a listener. With ``DISPLAY`` set
and a fake ``xclip`` that never answers (the only way to get a wedged clipboard helper on demand),
the table keeps taking keys while the copy waits, and the notification reports the timeout within
about two seconds; the fake is killed and reaped. In a private tmux server, ``c t`` and ``y`` put the
exact texts in tmux's buffer.
"""

from __future__ import annotations

import base64
import os
import re
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import psutil
import pytest
from textual.pilot import Pilot

from sockui.act import clipboard
from sockui.app import SockuiApp
from sockui.model import format as fmt
from sockui.model.copytext import COPY_KEYS, copy_items, quick_text
from sockui.model.socket import SocketRecord
from sockui.screens.copy_menu import CopyMenuScreen

from .actions_support import open_on, record_where, wait_screen
from .conftest import Loopback, Tmux
from .support import ONE_SNAPSHOT, inode, screen_text, wait_for_snapshot, wait_until

SIZE = (160, 45)
OSC52 = re.compile("\x1b\\]52;c;([A-Za-z0-9+/=]*)\x07")

#: The table's header line (with a Netns column when the host has several namespaces).
HEADER = re.compile(r"\s*Proto\s+(?:Netns\s+)?State")


class CopySpy:
    """Wraps the real ``clipboard.copy``: records each text the app asks to copy, then lets it run."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.texts: list[str] = []
        self.finished = 0
        real = clipboard.copy

        def spy(text: str, **kwargs: Any) -> list[clipboard.Delivery]:
            self.texts.append(text)
            try:
                return real(text, **kwargs)
            finally:
                self.finished += 1

        monkeypatch.setattr(clipboard, "copy", spy)


class TerminalTap:
    """Keeps the OSC 52 sequences the app writes to its (headless) terminal driver."""

    def __init__(self, app: SockuiApp, monkeypatch: pytest.MonkeyPatch) -> None:
        self.texts: list[str] = []
        driver = app._driver  # no public handle on the driver in Textual 8.2.8
        assert driver is not None
        original = driver.write

        def write(data: str) -> None:
            self.texts += [base64.b64decode(m).decode() for m in OSC52.findall(data)]
            original(data)

        monkeypatch.setattr(driver, "write", write)


@pytest.fixture
def no_clipboards(monkeypatch: pytest.MonkeyPatch) -> None:
    """Neither inside tmux nor on a desktop: the terminal (OSC 52) is the only route."""
    for name in ("TMUX", "DISPLAY", "WAYLAND_DISPLAY"):
        monkeypatch.delenv(name, raising=False)


def notes(app: SockuiApp) -> list[str]:
    return [str(n.message) for n in app._notifications]  # no public list of notifications


def shown(text: str) -> str:
    """How the notification quotes a text (one line, cut at 60 characters)."""
    return text if len(text) <= 60 else text[:59] + "…"


def terminal_only(text: str) -> str:
    return f"sent {shown(text)} to the terminal clipboard (OSC 52)"


def expected_texts(record: SocketRecord, local: int, remote: int) -> dict[str, str]:
    """What each menu key copies for the client end 127.0.0.1:local -> 127.0.0.1:remote, written out."""
    a, b = f"127.0.0.1:{local}", f"127.0.0.1:{remote}"
    both = (
        f"(src host 127.0.0.1 and src port {local} and dst host 127.0.0.1 and dst port {remote}) or "
        f"(src host 127.0.0.1 and src port {remote} and dst host 127.0.0.1 and dst port {local})"
    )
    model = {item.key: item.text for item in copy_items(record)}
    return {
        "l": a,
        "r": b,
        "t": f"tcp {a} -> {b}",
        "s": f"ss -tan 'src {a} and dst {b}'",
        "k": f"ss -K -tan 'src {a} and dst {b}'",
        "d": f"tcp and ({both})",
        "j": str(model["j"]),
        "p": f"{os.getpid()} {fmt.safe(' '.join(psutil.Process().cmdline()))}",
    }


async def test_copy_menu_keys_copy_exact_texts(
    loopback: Loopback, no_clipboards: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    spy = CopySpy(monkeypatch)
    app = SockuiApp(filter_text=f"port {loopback.port}", interval=ONE_SNAPSHOT)
    async with app.run_test(size=SIZE) as pilot:
        tap = TerminalTap(app, monkeypatch)
        await wait_for_snapshot(pilot, app)
        record = record_where(app, inode(loopback.client))
        assert record is not None
        local = loopback.client.getsockname()[1]
        expected = expected_texts(record, local, loopback.port)
        model = {item.key: item.text for item in copy_items(record)}
        assert {k: v for k, v in expected.items() if k != "p"} == {k: v for k, v in model.items() if k != "p"}
        assert '"local"' in expected["j"] and f"{local}" in expected["j"]
        assert set(expected) == set(COPY_KEYS)

        for key in COPY_KEYS:
            app.clear_notifications()
            await open_on(pilot, app, record, "c")
            await menu_ready(pilot, app, expected["p"])
            spy.texts.clear()
            await pilot.press(key)
            await delivered(pilot, app, spy, tap, expected[key])
            assert app.screen is app.main, "choosing closed the menu"


async def menu_ready(pilot: Pilot[Any], app: SockuiApp, owners_text: str) -> None:
    """The copy menu is up and has read the owners' command lines (a worker does, for ``p``)."""
    menu = await wait_screen(pilot, app, CopyMenuScreen)
    await wait_until(pilot, lambda: menu.items[-1].text == owners_text, what="the owners' cmdlines")


async def delivered(pilot: Pilot[Any], app: SockuiApp, spy: CopySpy, tap: TerminalTap, text: str) -> None:
    """The copy since ``spy`` was cleared is exactly ``text``: handed to the clipboard code, sent by
    OSC 52, notified."""
    await wait_until(pilot, lambda: spy.texts, what=f"the copy of {text!r}")
    assert spy.texts == [text]
    note = terminal_only(text)
    await wait_until(pilot, lambda: note in notes(app), what=f"the notification {note!r}")
    assert tap.texts[-1] == text, "the OSC 52 sequence carries the text itself"


async def test_y_copies_the_tuple_and_a_listener_its_address(
    loopback: Loopback, no_clipboards: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    spy = CopySpy(monkeypatch)
    app = SockuiApp(filter_text=f"port {loopback.port}", interval=ONE_SNAPSHOT)
    async with app.run_test(size=SIZE) as pilot:
        tap = TerminalTap(app, monkeypatch)
        await wait_for_snapshot(pilot, app)
        local = loopback.client.getsockname()[1]
        cases = [
            (loopback.client, f"tcp 127.0.0.1:{local} -> 127.0.0.1:{loopback.port}"),
            (loopback.listener, f"127.0.0.1:{loopback.port}"),
        ]
        for sock, text in cases:
            record = record_where(app, inode(sock))
            assert record is not None
            spy.texts.clear()
            await open_on(pilot, app, record, "y")
            await delivered(pilot, app, spy, tap, text)


#: A FAKE xclip: it never answers, as the real one does when the X server is wedged. It records its
#: pid, then becomes a long sleep (same pid) that sockui must kill at its timeout.
FAKE_XCLIP = """#!/bin/sh
echo $$ > {pidfile}.tmp && mv {pidfile}.tmp {pidfile}
exec sleep 600
"""


def alive(pid: int) -> bool:
    """The process exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, IndexError):
        return False


def read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text())
    except (FileNotFoundError, ValueError):
        return None


async def test_stuck_clipboard_helper_neither_freezes_nor_hangs(
    loopback: Loopback, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bindir, pidfile = tmp_path / "bin", tmp_path / "xclip.pid"
    bindir.mkdir()
    fake = bindir / "xclip"
    fake.write_text(FAKE_XCLIP.format(pidfile=pidfile))
    fake.chmod(0o755)
    for name in ("TMUX", "WAYLAND_DISPLAY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DISPLAY", ":99")
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ.get('PATH', os.defpath)}")
    spy = CopySpy(monkeypatch)
    app = SockuiApp(filter_text=f"port {loopback.port}", interval=ONE_SNAPSHOT)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await wait_for_snapshot(pilot, app)
            table = app.main.table
            assert table.row_count >= 2 and table.cursor_index == 0
            first = table.cursor_record
            assert first is not None
            started = time.monotonic()
            await pilot.press("y")
            pid = await wait_until(
                pilot, lambda: read_pid(pidfile), what="the fake xclip to start", timeout=10
            )
            await pilot.press("down")
            moved = table.cursor_index
            # The key was handled while the helper hung: the copy has not returned, the fake still runs.
            assert spy.finished == 0 and alive(pid), "the copy was over before the key could be tested"
            assert moved == 1, "the table did not take the key while the copy waited"

            expected = (
                "copy failed: clipboard: xclip did not answer within 1 s; tmux: not inside tmux; "
                "sent to the terminal (OSC 52) only"
            )
            await wait_until(
                pilot, lambda: expected in notes(app), what="the timeout notification", timeout=10
            )
            took = time.monotonic() - started
            assert took < 2.5, f"the copy took {took:.1f} s despite its 1 s timeout"
            assert spy.texts == [quick_text(first)]
            await wait_until(pilot, lambda: not alive(pid), what="the fake xclip to be killed", timeout=5)
    finally:
        pid = read_pid(pidfile)
        if (
            pid is not None
            and alive(pid)
            and Path(f"/proc/{pid}/cmdline").read_bytes() == b"sleep\x00600\x00"
        ):
            os.kill(pid, 9)


# -- tmux end to end --------------------------------------------------------------------------------

#: Cold start plus a first snapshot of a busy machine.
START = 60.0


def poll(server: Tmux, predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    """Re-check ``predicate`` every 50 ms until it is truthy; fail at the deadline, showing the screen."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            screen = server.capture() if server.pane("#{pane_dead}") is not None else "(no pane)"
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}; the screen:\n{screen}")
        time.sleep(0.05)


def buffer_of(server: Tmux) -> str | None:
    result = server.run("show-buffer", check=False)
    return result.stdout if result.returncode == 0 else None


def status_line(server: Tmux) -> str:
    """The first line of the screen (the status line, once sockui has drawn)."""
    lines = server.capture().splitlines()
    return lines[0] if lines else ""


def only_row(server: Tmux, needles: Mapping[str, str]) -> str | None:
    """The screen once exactly one table row is shown and it has every value of ``needles``."""
    screen = server.capture()
    lines = screen.splitlines()
    header = next(
        (i for i, line in enumerate(lines) if re.match(r"\s*Proto\s+(?:Netns\s+)?State", line)), None
    )
    if header is None or not re.search(r"shown 1/\d+", screen):
        return None
    row = lines[header + 1]
    return screen if all(re.search(rf"\b{re.escape(v)}\b", row) for v in needles.values()) else None


def test_copy_in_tmux_fills_the_tmux_buffer(tmux: Tmux, sockui_script: Path, loopback: Loopback) -> None:
    a, b = loopback.port, loopback.client.getsockname()[1]
    tmux.start(
        [
            "env",
            "-u",
            "DISPLAY",
            "-u",
            "WAYLAND_DISPLAY",
            str(sockui_script),
            "--no-config",
            "--interval",
            "3600",
            "--filter",
            f"src 127.0.0.1 and sport {b} and dport {a}",
        ],
        160,
        45,
    )
    tmux.run("set-option", "-g", "set-clipboard", "on")
    assert buffer_of(tmux) is None, "a fresh server has no buffer"
    client = {"state": "ESTABLISHED", "local": f"127.0.0.1:{b}", "remote": f"127.0.0.1:{a}"}
    poll(tmux, lambda: only_row(tmux, client), START, "the connection's row alone")

    tmux.send("c")
    poll(tmux, lambda: "Copy…" in tmux.capture(), 20.0, "the copy menu")
    tmux.send("t")
    text = f"tcp 127.0.0.1:{b} -> 127.0.0.1:{a}"
    assert poll(tmux, lambda: buffer_of(tmux) == text, 20.0, f"tmux's buffer to hold {text!r}")

    # The listener: back to the table, show everything, filter on it, and y. Each key only once the
    # previous one took effect.
    poll(tmux, lambda: "Copy…" not in tmux.capture(), 20.0, "the copy menu to close")
    tmux.send("a")
    poll(tmux, lambda: "filter " not in status_line(tmux), 20.0, "a to drop the filter")
    tmux.send("/")
    tmux.send(f"listening and src 127.0.0.1 and sport {a}", literal=True)
    tmux.send("Enter")
    poll(
        tmux,
        lambda: only_row(tmux, {"state": "LISTEN", "local": f"127.0.0.1:{a}"}),
        START,
        "the listener's row",
    )
    tmux.send("y")
    address = f"127.0.0.1:{a}"
    assert poll(tmux, lambda: buffer_of(tmux) == address, 20.0, f"tmux's buffer to hold {address!r}")

    tmux.send("q")
    poll(tmux, lambda: tmux.exit_status() is not None, 20.0, "sockui to exit")
    assert tmux.exit_status() == 0


@pytest.mark.parametrize("size", [(80, 24), (160, 45)])
async def test_copy_menu_entries_stay_on_one_line(loopback: Loopback, size: tuple[int, int]) -> None:
    """Every entry on one line of its own, cut with "…" at the box's edge, the hint under them in view.

    Wrapped, an 80-column menu ran previews and reasons under the keys of the next entries.
    """
    app = SockuiApp(filter_text=f"port {loopback.port}", interval=ONE_SNAPSHOT)
    async with app.run_test(size=size) as pilot:
        await wait_for_snapshot(pilot, app)
        record = record_where(app, inode(loopback.listener))
        assert record is not None
        await open_on(pilot, app, record, "c")
        await wait_screen(pilot, app, CopyMenuScreen)

        def menu() -> list[str] | None:
            lines = screen_text(app)
            rows = [line for line in lines if re.search(r"▊\s+[a-z] ", line)]
            return (
                rows if len(rows) == len(COPY_KEYS) and any("esc: close" in line for line in lines) else None
            )

        rows = await wait_until(pilot, menu, what="every entry on a line of its own and the hint")
        keys = [re.search(r"▊\s+([a-z]) ", row).group(1) for row in rows]  # type: ignore[union-attr]
        assert keys == list(COPY_KEYS), rows
        assert any(row.rstrip(" ▎│").endswith("…") for row in rows) or size[0] > 80, rows
