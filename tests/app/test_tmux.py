"""End to end in a real terminal: the installed ``sockui`` script inside a private tmux server.

Proves: the console script starts in a real pty, draws its header, takes keys typed by a terminal
(``/``, the filter text, Enter) and shows the test's own listener with the test's pid; ``q`` quits it
with exit status 0 and no traceback; at 80x24 it also runs and shows the status and column header;
and ``q`` gives the terminal back promptly even while a (slow) refresh is running.
The tmux server is the test's own (``tmux -L``) and is killed in a finalizer whatever happens.
"""

from __future__ import annotations

import os
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path

from .conftest import SocketBag, Tmux

#: Cold start plus a first snapshot of a busy machine (100k sockets take seconds).
START_TIMEOUT = 60.0

#: The table's header line (with a Netns column when the host has several namespaces).
HEADER = re.compile(r"\s*Proto\s+(?:Netns\s+)?State")


def poll(predicate: Callable[[], object], timeout: float, what: str) -> object:
    """Re-check ``predicate`` every 50 ms until it is truthy; fail at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.05)


def filtered_to(tmux: Tmux, port: int) -> list[str] | None:
    """The table's lines once the filter ``port PORT`` is in force (in the status line and in every
    row) and our listener is shown."""
    lines = tmux.capture().splitlines()
    header = next(
        (i for i, line in enumerate(lines) if re.match(r"\s*Proto\s+(?:Netns\s+)?State", line)), None
    )
    if header is None or not any(f"port {port}" in line for line in lines[:header]):
        return None
    rows = [line for line in lines[header + 1 : -1] if line.strip()]
    # The status shows a new filter at once; the rows follow when a worker has derived them.
    if not all(f":{port}" in row for row in rows):
        return None
    return rows if any(row_of_line(line, port) for line in rows) else None


def row_of_line(line: str, port: int) -> bool:
    """True for the table line of the listener on 127.0.0.1:``port`` held by this process."""
    return re.search(rf"LISTEN\s+127\.0\.0\.1:{port}\s.*\b{os.getpid()}\b", line) is not None


def header_shown(tmux: Tmux) -> str | None:
    """The screen once the status line and the column header are drawn (after a first snapshot)."""
    screen = tmux.capture()
    status = re.search(r"tcp \d+", screen) and re.search(r"listening \d+", screen)
    return screen if status and re.search(r"Proto\s+(?:Netns\s+)?State\s+Local", screen) else None


def quit_and_wait(tmux: Tmux, timeout: float = 20.0) -> float:
    """Press q, wait until sockui has exited, check it exited cleanly; returns how long it took."""
    start = time.monotonic()
    tmux.send("q")
    poll(lambda: tmux.exit_status() is not None, timeout, "sockui to exit after q")
    took = time.monotonic() - start
    poll(lambda: tmux.pane("#{pane_dead}") in ("1", None), 5.0, "the pane to close")
    screen = tmux.capture() if tmux.pane("#{pane_dead}") is not None else ""
    assert tmux.exit_status() == 0, f"sockui exited with status {tmux.exit_status()}:\n{screen.rstrip()}"
    assert "Traceback" not in screen, screen
    return took


def test_filter_and_quit_in_tmux(tmux: Tmux, sockui_script: Path, bag: SocketBag) -> None:
    listener = bag.listener()
    port = listener.getsockname()[1]
    tmux.start([str(sockui_script)], 160, 45)
    poll(lambda: header_shown(tmux), START_TIMEOUT, "the header and a first snapshot")

    tmux.send("/")
    tmux.send(f"port {port}", literal=True)
    tmux.send("Enter")
    rows = poll(
        lambda: filtered_to(tmux, port), START_TIMEOUT, f"port {port} filtered, with pid {os.getpid()}"
    )
    assert isinstance(rows, list)

    quit_and_wait(tmux)


def test_small_terminal(tmux: Tmux, sockui_script: Path, bag: SocketBag) -> None:
    listener = bag.listener()
    port = listener.getsockname()[1]
    tmux.start([str(sockui_script), "--filter", f"port {port}"], 80, 24)
    screen = poll(lambda: header_shown(tmux), START_TIMEOUT, "the header at 80x24")
    assert isinstance(screen, str)
    lines = screen.splitlines()
    assert len(lines) <= 24 and all(len(line) <= 80 for line in lines)
    assert "shown " in lines[0] and "port" in lines[0], f"the status line is not on top:\n{screen}"
    poll(lambda: filtered_to(tmux, port), START_TIMEOUT, f"the row of port {port} at 80 columns")
    quit_and_wait(tmux)


def test_quit_does_not_wait_for_a_running_refresh(tmux: Tmux, tmp_path: Path) -> None:
    """On a big machine a refresh takes seconds: q must give the terminal back at once anyway."""
    marker = tmp_path / "slow-refresh-running"
    tmux.start([sys.executable, str(Path(__file__).with_name("slow_app.py")), "8", str(marker)], 120, 30)
    poll(lambda: header_shown(tmux), START_TIMEOUT, "the first (fast) snapshot")
    poll(marker.exists, START_TIMEOUT, "the second refresh (which sleeps 8 s) to start")
    took = quit_and_wait(tmux, timeout=20.0)
    assert took < 3.0, f"q took {took:.1f} s: the app waited for the running refresh to finish"
