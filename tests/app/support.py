"""Helpers shared by the TUI tests: polling with a deadline, screen text, scripted sources, records."""

from __future__ import annotations

import io
import os
import socket
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from rich.console import Console
from textual.pilot import Pilot
from textual.widgets import Static

from sockui.app import SockuiApp
from sockui.model.socket import (
    Binding,
    Family,
    InetEndpoint,
    Owner,
    Proto,
    Snapshot,
    SocketRecord,
    SockType,
)
from sockui.screens.owners import OwnersScreen
from sockui.widgets.socket_table import SocketTable

#: Refresh interval for tests whose sockets all exist before the app starts: the first snapshot has
#: them, and no later refresh re-applies a busy machine's 100k records under the test's feet.
ONE_SNAPSHOT = 3600.0
#: Generous: the first real snapshot of a busy machine can take a second, a loaded CI box more.
DEFAULT_TIMEOUT = 30.0


async def wait_until(
    pilot: Pilot[Any],
    predicate: Callable[[], Any],
    timeout: float = DEFAULT_TIMEOUT,
    what: str = "condition",
    *,
    fail: bool = True,
) -> Any:
    """Let the app run until ``predicate()`` is truthy and return its value.

    At the deadline: raise, or with ``fail=False`` return the last (falsy) value so that the caller
    can assert with a message describing the final state.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            if not fail:
                return value
            raise AssertionError(f"timed out after {timeout:.1f} s waiting for {what}")
        await pilot.pause(0.05)


async def settle(pilot: Pilot[Any], app: SockuiApp) -> None:
    """Wait until the table shows the rows of the current view.

    A view change (filter, ``b``, sort) only posts a message; the rows are derived in a worker thread
    and applied when it reports. Wait until no worker but the refresh loop's is active, then let the
    app handle what they posted.
    """
    await pilot.pause()
    await wait_until(
        pilot,
        lambda: not [w for w in app.workers if w.group != "collect" and not w.is_finished],
        what="the view's rows",
    )
    await pilot.pause()


async def wait_for_snapshot(
    pilot: Pilot[Any], app: SockuiApp, after: int = 0, timeout: float = DEFAULT_TIMEOUT
) -> None:
    """Wait until the app has applied more than ``after`` snapshots, then until it is idle."""
    await wait_until(pilot, lambda: app.snapshots_applied > after, timeout, f"snapshot {after + 1}")
    await settle(pilot, app)


async def wait_for_key(pilot: Pilot[Any], table: SocketTable, key: int, present: bool = True) -> None:
    """Wait until the socket ``key`` is (or is no longer) listed in ``table``."""
    word = "listed" if present else "gone"
    await wait_until(pilot, lambda: (key in keys_of(table)) is present, what=f"socket {key} {word}")


def keys_of(table: SocketTable) -> list[int]:
    """Keys of the listed rows, in display order."""
    return [r.key for r in table.records()]


def inode(sock: socket.socket) -> int:
    """The socket's inode: what sockui knows it by (``record.inode``)."""
    return os.fstat(sock.fileno()).st_ino


def record_by_inode(table: SocketTable, ino: int) -> SocketRecord | None:
    """The listed record of the socket with inode ``ino``."""
    return next((r for r in table.records() if r.inode == ino), None)


def row_status(table: SocketTable, key: int) -> str | None:
    """The highlight of a row ('' | 'new' | 'changed' | 'closed'), None if not listed."""
    if key not in keys_of(table):
        return None
    return table.status_of(key)


async def move_cursor_to(pilot: Pilot[Any], table: SocketTable, key: int) -> None:
    """Move the cursor with the arrow keys, as a user would, onto the row of socket ``key``."""
    for _ in range(table.row_count + 1):
        current = table.cursor_record
        if current is not None and current.key == key:
            return
        order = keys_of(table)
        if key not in order or current is None:
            raise AssertionError(f"socket {key} is not listed")
        await pilot.press("down" if order.index(key) > order.index(current.key) else "up")
    raise AssertionError(f"cursor never reached socket {key}")


def screen_text(app: SockuiApp) -> list[str]:
    """What the terminal shows, one string per screen line, styles dropped (as a screenshot would)."""
    width, height = app.size
    console = Console(
        width=width,
        height=height,
        file=io.StringIO(),
        force_terminal=True,
        color_system="truecolor",
        record=True,
        legacy_windows=False,
        safe_box=False,
    )
    # No public API gives the screen's text in Textual 8.2.8 (export_screenshot renders like this, to SVG).
    console.print(app.screen._compositor.render_update(full=True, screen_stack=app._background_screens))
    return console.export_text(styles=False).splitlines()


def static_text(widget: Static) -> str:
    """The plain text a Static shows (its content is always built as Text by sockui)."""
    return str(widget.content)


def text_with(widget: Static, needle: str) -> str:
    """The Static's text once it contains ``needle``, else '' (a predicate for :func:`wait_until`)."""
    text = static_text(widget)
    return text if needle in text else ""


def find_on_screen(lines: list[str], needle: str) -> tuple[int, int] | None:
    """(x, y) of the first cell of ``needle`` on screen, if shown (single-width characters assumed)."""
    for y, line in enumerate(lines):
        x = line.find(needle)
        if x >= 0:
            return x, y
    return None


def owners_screen(app: SockuiApp) -> OwnersScreen | None:
    """The owners view when it is the active screen (a predicate for :func:`wait_until`)."""
    return app.screen if isinstance(app.screen, OwnersScreen) else None


def screen_showing(app: SockuiApp, needle: str) -> list[str] | None:
    """The screen lines if ``needle`` is on screen, else None (a predicate for :func:`wait_until`)."""
    lines = screen_text(app)
    return lines if find_on_screen(lines, needle) is not None else None


# -- scripted sources ------------------------------------------------------------------------------------


class ScriptedSource:
    """A snapshot source the test drives: ``collect()`` returns whatever the test last staged."""

    def __init__(self, sockets: Iterable[SocketRecord] = ()) -> None:
        self._lock = threading.Lock()
        self._sockets: tuple[SocketRecord, ...] = tuple(sockets)
        self.collects = 0
        self.closed = False

    def stage(self, sockets: Iterable[SocketRecord]) -> None:
        """The sockets the next collection returns."""
        with self._lock:
            self._sockets = tuple(sockets)

    def collect(self) -> Snapshot:
        with self._lock:
            self.collects += 1
            return Snapshot(sockets=self._sockets, taken_at=time.time(), duration=0.001, users={0: "root"})

    def cancel(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True


def tcp(
    cookie: int,
    port: int,
    state: str = "ESTABLISHED",
    *,
    remote_port: int | None = 4000,
    pid: int = 4242,
    name: str = "srv",
    peer_key: int | None = None,
) -> SocketRecord:
    """A hand-made TCP record on 127.0.0.1:``port`` (key = ``cookie``)."""
    listening = state == "LISTEN"
    return SocketRecord(
        proto=Proto.TCP,
        family=Family.IPV4,
        type=SockType.STREAM,
        state=state,
        binding=Binding.LISTENING if listening else Binding.CONNECTED,
        local=InetEndpoint("127.0.0.1", port),
        remote=None if listening or remote_port is None else InetEndpoint("127.0.0.1", remote_port),
        inode=100_000 + cookie,
        uid=0,
        owners=(Owner(pid, 3, name),),
        cookie=cookie,
        peer_key=peer_key,
    )
