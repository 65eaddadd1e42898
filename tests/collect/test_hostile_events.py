"""``sockui --events`` about a process with a hostile name: valid JSON lines, ASCII, exact strings.

The child is the TUI tests' ``hostile_child.py``: it renames itself (PR_SET_NAME) to an escape sequence,
a BEL, a byte that is not UTF-8, a newline, a bidi override and markup, listens on loopback, accepts,
and resets what it accepted when asked. Through ``sockui --events`` (a subprocess, the real kernel):

- a connection that lives across refreshes is ``opened`` and ``closed`` with the child as its owner,
  the name exactly as the kernel has it (surrogateescape round trip);
- a connection the child resets at once, which no refresh sees, is ``closed`` from the kernel's destroy
  message, and its note names the listener's owner as the likely one, escaped once (a sentence for
  people: ``\\e``, ``\\x07``...), never raw;
- every line is one JSON object with the documented keys, ASCII only, nothing raw in it.

Readiness is observed, never slept for (``wait_ready`` of test_events_cli.py). The child is stopped and
reaped, sockui killed and reaped, every socket closed, also on failure.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from .holders import read_line
from .scenario import SocketBag
from .test_events_cli import Events, EventsRunner, listener, wait_ready

#: The TUI tests' child (stdlib only): listens, prints its port, "accepted", "closed" on "close".
CHILD = Path(__file__).resolve().parents[1] / "app" / "hostile_child.py"
#: 15 bytes: OSC 0 (a title change) cut short by a BEL, a byte that is not UTF-8, a newline, U+202E,
#: a markup closing tag.
NAME = b"\x1b]0;p\x07\xff\n\xe2\x80\xae[/b]"
#: How a sentence for people (the note) writes it.
NAME_SHOWN = r"\e]0;p\x07\xff\n\u202e[/b]"
#: What must never be in a line: it is ASCII, and no control character may be raw in it.
RAW = re.compile("[\x00-\x1f\x7f]")


@pytest.fixture
def runner() -> Iterator[EventsRunner]:
    events = EventsRunner()
    try:
        yield events
    finally:
        events.close()


class Child:
    """The running ``hostile_child.py``; stopped (EOF, then SIGKILL) and reaped by :meth:`stop`."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-I", "-S", str(CHILD)],
            env={**os.environ, "SOCKUI_TEST_NAME": NAME.hex()},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        try:
            self.port = int(self.line())
        except BaseException:
            self.stop()
            raise

    @property
    def pid(self) -> int:
        return self.proc.pid

    def line(self) -> bytes:
        assert self.proc.stdout is not None
        return read_line(self.proc.stdout, 10.0).rstrip(b"\n")

    def reset_accepted(self) -> None:
        """Reset every connection it accepted (RST: nothing lingers in TIME_WAIT)."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(b"close\n")
        self.proc.stdin.flush()
        assert self.line() == b"closed"

    def stop(self) -> None:
        if self.proc.stdin is not None:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


@pytest.fixture
def child() -> Iterator[Child]:
    running = Child()
    try:
        yield running
    finally:
        running.stop()


def about(event: dict[str, Any], kind: str, local_port: int, remote_port: int | None = None) -> bool:
    """``event`` is a ``kind`` line about the socket on ``local_port`` (and ``remote_port``, if given)."""
    local, remote = event["local"], event["remote"]
    return (
        event["event"] == kind
        and isinstance(local, dict)
        and local.get("port") == local_port
        and (remote_port is None or (isinstance(remote, dict) and remote.get("port") == remote_port))
    )


def owned_by_child(event: dict[str, Any], child: Child) -> None:
    """The child is the socket's only owner, its name exact (a lone surrogate for the byte 0xff)."""
    names = [(p["pid"], p["name"]) for p in event["processes"]]
    assert names == [(child.pid, NAME.decode("utf-8", "surrogateescape"))], names


def closed_since(events: Events, start: int, port: int) -> dict[str, Any] | None:
    """The first ``closed`` line from index ``start`` on about the socket on ``port``."""
    return next((e for e in events.events[start:] if about(e, "closed", port)), None)


def test_hostile_process_connection_opened_and_closed(
    runner: EventsRunner, bag: SocketBag, child: Child
) -> None:
    probe = listener(bag)
    events = runner.start(
        "--interval", "0.5", "--filter", f"port {child.port} or port {probe.getsockname()[1]}"
    )
    wait_ready(events, bag, probe)

    # Long enough for a refresh to see it: opened, owned by the child; then the child resets it.
    client = bag.add(socket.create_connection(("127.0.0.1", child.port), timeout=10))
    assert child.line() == b"accepted"
    mine = client.getsockname()[1]
    opened = events.until(
        lambda: next((e for e in events.events if about(e, "opened", child.port, mine)), None),
        what="the child's side opened",
    )
    owned_by_child(opened, child)
    start = len(events.events)
    child.reset_accepted()
    client.close()
    closed = events.until(partial(closed_since, events, start, child.port), what="the child's side closed")
    owned_by_child(closed, child)

    # Too short for any refresh: only the destroy message tells, and the note names the likely owner.
    # A refresh may still catch one (every half second): then it is an ordinary close; try again.
    note = (
        f"lived < one refresh; likely {child.pid} {NAME_SHOWN} (owner of the listener on port {child.port})"
    )
    for _attempt in range(10):
        start = len(events.events)
        with socket.create_connection(("127.0.0.1", child.port), timeout=10):
            assert child.line() == b"accepted"
            child.reset_accepted()
        unseen = events.until(partial(closed_since, events, start, child.port), what="the short one closed")
        if unseen["note"]:
            break
    assert unseen["note"] == note, unseen["note"]
    assert unseen["processes"] == [], "no refresh saw its owner: the note only guesses"

    for line in events.lines:
        assert line.isascii() and not RAW.search(line), line  # one line each, nothing raw
    assert any(f"{child.pid}" in line for line in events.lines)
    assert_ends_cleanly(events)


def assert_ends_cleanly(events: Events) -> None:
    status, stderr = events.interrupt()
    assert status == 0 and "Traceback" not in stderr, stderr
