"""Copy inside a real tmux: the text lands in its buffer, and ``load-buffer -w`` reaches the outer terminal.

A small script (clipboard_child.py) runs in a pane of a private tmux server, so ``$TMUX`` is set as it
is for a user, and calls ``copy()``. First: ``show-buffer`` gives back exactly the text. Then the
outer terminal: a second private tmux server plays the user's terminal (with ``set-clipboard on`` it
turns an OSC 52 it receives into a buffer of its own), its pane runs a client attached to the first
server, and the copy must arrive there through ``load-buffer -w`` alone (the script writes no OSC 52
itself), with the inner server's ``set-clipboard`` at its default (``external``) and even ``off``.
Both servers are killed whatever happens.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from .conftest import Tmux

HERE = Path(__file__).resolve().parent
CHILD = HERE / "clipboard_child.py"
TEXT = "some text → 127.0.0.1:80 名"


def poll(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    """Re-check ``predicate`` every 50 ms until it is truthy; fail at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.05)


def finished(server: Tmux, report: Path) -> dict[str, list[Any]]:
    """Wait for the child to exit cleanly and return its deliveries by route."""
    poll(lambda: server.exit_status() is not None, 30.0, "the copy script to exit")
    screen = server.capture() if server.pane("#{pane_dead}") is not None else ""
    assert server.exit_status() == 0, screen
    return {row[0]: row for row in json.loads(report.read_text())}


def buffer_of(server: Tmux) -> str | None:
    result = server.run("show-buffer", check=False)
    return result.stdout if result.returncode == 0 else None


def test_copy_inside_tmux_fills_the_tmux_buffer(tmux: Tmux, tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    tmux.start([sys.executable, str(CHILD), TEXT, str(report), "terminal"], 80, 24)
    routes = finished(tmux, report)
    assert routes["tmux"][1:] == [True, "tmux buffer and its client's clipboard (load-buffer -w)", True]
    assert routes["terminal"][1] is True
    assert buffer_of(tmux) == TEXT


@pytest.mark.parametrize("set_clipboard", ["external", "off"])
def test_load_buffer_w_reaches_the_outer_terminal(tmux: Tmux, tmp_path: Path, set_clipboard: str) -> None:
    outer = tmux
    inner = Tmux(tmp_path / "inner-status")
    report = tmp_path / "report.json"
    try:
        # The inner pane waits for a line before copying, so that the outer client is attached first.
        waiting = [
            "sh",
            "-c",
            'read go && exec "$@"',
            "sh",
            sys.executable,
            str(CHILD),
            TEXT,
            str(report),
            "none",
        ]
        inner.start(waiting, 80, 24)
        inner.run("set-option", "-g", "set-clipboard", set_clipboard)
        # The outer "terminal" can set the clipboard (as tmux assumes for xterm*): say so for any TERM.
        inner.run("set-option", "-as", "terminal-features", ",*:clipboard")
        attach = ["env", "-u", "TMUX", "tmux", "-L", inner.name, "-f", "/dev/null", "attach", "-t", "main"]
        outer.start(attach, 80, 24)
        outer.run("set-option", "-g", "set-clipboard", "on")
        poll(lambda: inner.run("list-clients").stdout.strip(), 15.0, "the outer pane's client to attach")
        inner.send("go", "Enter")
        routes = finished(inner, report)
        assert routes["tmux"][1] is True, routes
        assert buffer_of(inner) == TEXT
        assert poll(lambda: buffer_of(outer), 10.0, "the outer terminal's clipboard") == TEXT
    finally:
        outer.kill()
        inner.kill()
