"""A bare App that shows one modal screen and keeps what it dismissed with, for Pilot tests of modals.

The modal screens (processes view, column chooser) need nothing from SockuiApp: testing them on a
minimal host keeps their tests independent of the main screen and of any collector.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from typing import Any

from rich.console import Console
from textual.app import App
from textual.pilot import Pilot
from textual.screen import Screen

from sockui.model.socket import Binding, Family, InetEndpoint, Owner, Proto, SocketRecord, SockType

TIMEOUT = 30.0


class Host(App[None]):
    """Pushes the screen ``make()`` builds at start; ``results`` collects what it dismissed with."""

    def __init__(self, make: Callable[[], Screen[Any]]) -> None:
        super().__init__()
        self.make = make
        self.results: list[Any] = []
        self.modal: Screen[Any] | None = None

    def on_mount(self) -> None:
        self.modal = self.make()
        self.push_screen(self.modal, callback=self.results.append)

    @property
    def modal_open(self) -> bool:
        return self.modal is not None and self.screen is self.modal


async def wait_until(
    pilot: Pilot[Any], predicate: Callable[[], Any], what: str, timeout: float = TIMEOUT
) -> Any:
    """Let the app run until ``predicate()`` is truthy; return its value (raise at the deadline)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        await pilot.pause(0.02)


def screen_lines(app: App[Any]) -> list[str]:
    """What the terminal shows, one string per line, styles dropped."""
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
    console.print(app.screen._compositor.render_update(full=True, screen_stack=app._background_screens))
    return console.export_text(styles=False).splitlines()


def find_on_screen(app: App[Any], needle: str) -> tuple[int, int] | None:
    """(x, y) of the first cell of ``needle`` on screen (single-width characters before it assumed)."""
    for y, line in enumerate(screen_lines(app)):
        x = line.find(needle)
        if x >= 0:
            return x, y
    return None


def record(
    key: int,
    binding: Binding = Binding.CONNECTED,
    *,
    owners: tuple[tuple[int, str], ...] = ((4242, "srv"),),
    port: int = 1000,
    uid: int | None = 0,
) -> SocketRecord:
    """A hand-made TCP record on 127.0.0.1:``port`` in the given binding state (key = ``key``)."""
    state = {
        Binding.LISTENING: "LISTEN",
        Binding.CONNECTED: "ESTABLISHED",
        Binding.BOUND: "CLOSE",
        Binding.UNBOUND: "CLOSE",
    }[binding]
    return SocketRecord(
        proto=Proto.TCP,
        family=Family.IPV4,
        type=SockType.STREAM,
        state=state if owners else "TIME_WAIT",
        binding=binding,
        local=None if binding is Binding.UNBOUND else InetEndpoint("127.0.0.1", port),
        remote=InetEndpoint("127.0.0.2", 40_000 + key % 20_000) if binding is Binding.CONNECTED else None,
        inode=0 if not owners else 500_000 + key,
        uid=uid,
        owners=tuple(Owner(pid, 3 + i, name) for i, (pid, name) in enumerate(sorted(owners))),
        cookie=key,
    )
