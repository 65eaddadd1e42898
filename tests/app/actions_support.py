"""Shared by the kill, close and copy tests: child processes that hold sockets, and dialog helpers.

Every child is ``action_child.py``, started by the test, killed and reaped by :class:`Children` at the
end whatever happened (EOF on stdin first, SIGKILL if it lingers); it also dies with the test process
(``PR_SET_PDEATHSIG``), so nothing outlives a test run even when pytest itself is killed.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from textual.pilot import Pilot
from textual.screen import Screen
from textual.widgets import Static

from sockui.app import SockuiApp
from sockui.model.socket import SocketRecord

from .conftest import read_line, stop_child
from .support import move_cursor_to, settle, wait_until

HERE = Path(__file__).resolve().parent

#: The name the children give themselves, with an escape sequence in it, and how sockui must show it.
CHILD_NAME = b"victim\x1b[1m"
CHILD_NAME_SHOWN = r"victim\e[1m"
#: Arguments that make the children's cmdline hostile (ignored by the child), and how they must show.
CHILD_ARGS = ("[bold]x", "\x1b[2Jred", "two\nlines")
CHILD_ARGS_SHOWN = r"[bold]x \e[2Jred two\nlines"

ScreenT = TypeVar("ScreenT", bound=Screen[Any])


@dataclass
class Child:
    """A running ``action_child.py``: its process and the first line it printed."""

    proc: subprocess.Popen[bytes]
    first: str

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def port(self) -> int:
        """The port it listens on (``listen``) or its own local port (``connect``)."""
        return int(self.first)

    def line(self, timeout: float = 10.0) -> str:
        """The next line the child prints (``signal TERM``, ``error ECONNABORTED``, ``eof``...)."""
        return read_line(self.proc, timeout).decode()


class Children:
    """The children one test started; :meth:`close` stops and reaps every one."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, signals: str, mode: str, *extra: str) -> Child:
        proc = subprocess.Popen(
            [sys.executable, "-I", "-S", "action_child.py", signals, mode, *extra, *CHILD_ARGS],
            cwd=HERE,
            env={**os.environ, "SOCKUI_TEST_NAME": CHILD_NAME.hex()},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        self.procs.append(proc)
        return Child(proc, read_line(proc, 10.0).decode())

    def close(self) -> None:
        for proc in self.procs:
            stop_child(proc)


def record_of_pid(app: SockuiApp, pid: int, state: str | None = None) -> SocketRecord | None:
    """The listed record held by process ``pid`` (in ``state``, if given)."""
    return next(
        (r for r in app.main.table.records() if pid in r.pids and (state is None or r.state == state)), None
    )


def record_where(app: SockuiApp, inode: int) -> SocketRecord | None:
    """The listed record of the socket with inode ``inode``."""
    return next((r for r in app.main.table.records() if r.inode == inode), None)


async def open_on(pilot: Pilot[Any], app: SockuiApp, record: SocketRecord, key: str) -> None:
    """Put the cursor on ``record``'s row with the arrow keys, then press ``key``."""
    await settle(pilot, app)
    await move_cursor_to(pilot, app.main.table, record.key)
    await pilot.press(key)


async def wait_screen(pilot: Pilot[Any], app: SockuiApp, kind: type[ScreenT]) -> ScreenT:
    """The active screen once it is a ``kind``."""
    screen = await wait_until(
        pilot, lambda: app.screen if isinstance(app.screen, kind) else None, what=kind.__name__
    )
    assert isinstance(screen, kind)
    return screen


def result_text(screen: Screen[Any]) -> str:
    """The line under a dialog's buttons (working…, the outcome, a refusal)."""
    return str(screen.query_one("#dialog-result", Static).content)


def echo_roundtrip(sock: socket.socket, payload: bytes = b"ping") -> bytes:
    """Send ``payload`` to a connected ``action_child.py`` (which echoes it) and return what comes back."""
    sock.settimeout(10)
    sock.sendall(payload)
    got = b""
    while len(got) < len(payload):
        chunk = sock.recv(len(payload) - len(got))
        if not chunk:
            break
        got += chunk
    return got
