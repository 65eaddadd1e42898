"""When closing is refused, and when kill and close are not there at all (``--read-only``).

Proves: sockui running as nobody (``setpriv``) is refused by the kernel when it tries to close a
root-owned loopback connection the test made, says that root / CAP_NET_ADMIN is needed, and the
connection still carries data; the dialog shows that refusal in plain words, disables the action and
lets ``k`` switch to killing the owner (here the refusal comes from a fake, see
:class:`NeedsRootActions`); under ``read_only`` ``k`` and ``d`` open nothing and are gone from the
footer, the help screen and the command palette, while without it they are there (the same test, so
the checks can fail).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.command import CommandPalette
from textual.pilot import Pilot
from textual.widgets import Button

from sockui.act.actions import SystemActions
from sockui.act.destroy import NEEDS_ROOT
from sockui.app import SockuiApp
from sockui.model.actions import Outcome
from sockui.model.socket import SocketRecord
from sockui.screens.dialogs import CloseScreen, KillScreen
from sockui.screens.help import HelpScreen, help_actions

from .actions_support import Children, echo_roundtrip, open_on, record_of_pid, result_text, wait_screen
from .conftest import Loopback, SocketBag
from .support import ONE_SNAPSHOT, inode, screen_showing, screen_text, wait_for_snapshot, wait_until

SIZE = (160, 45)
ROOT = Path(__file__).resolve().parents[2]
AS_NOBODY = ("setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups")

#: Run as nobody: find the socket with inode argv[1] and ask sockui's real actions to close it.
NOBODY_CLOSE = r"""
import json, sys
from sockui.act.actions import SystemActions
from sockui.collect.snapshot import Collector
inode = int(sys.argv[1])
with Collector(owners=False) as collector:
    rec = next(r for r in collector.collect().sockets if r.inode == inode)
actions = SystemActions()
outcome = actions.close(rec)
print(json.dumps({"refusal": actions.close_refusal(rec), "ok": outcome.ok, "message": outcome.message}))
"""


@pytest.fixture
def children() -> Iterator[Children]:
    kids = Children()
    try:
        yield kids
    finally:
        kids.close()


def roundtrip(a: socket.socket, b: socket.socket) -> None:
    """Data still goes both ways between two connected sockets."""
    for x, y in ((a, b), (b, a)):
        x.sendall(b"ping")
        y.settimeout(10)
        assert y.recv(16) == b"ping"


def test_unprivileged_close_is_refused_and_the_connection_works(loopback: Loopback) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to make a root-owned connection and switch to nobody")
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv (util-linux) is not installed")
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [*AS_NOBODY, sys.executable, "-c", NOBODY_CLOSE, str(inode(loopback.client))],
        capture_output=True,
        text=True,
        cwd="/",
        env=env,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    # Nothing refused it up front: the kernel did, and the message says what is needed.
    assert answer == {"refusal": None, "ok": False, "message": NEEDS_ROOT}
    assert "root" in NEEDS_ROOT and "CAP_NET_ADMIN" in NEEDS_ROOT
    roundtrip(loopback.client, loopback.server)


class NeedsRootActions(SystemActions):
    """A fake in ``close()`` only: it answers what :class:`SystemActions` answers without CAP_NET_ADMIN.

    The Pilot app runs as root, so the kernel would close the socket; the refusal itself is proved
    real by the test above. Everything else (reading and signalling processes) is the real thing.
    """

    def __init__(self) -> None:
        self.asked: list[SocketRecord] = []

    def close(self, sock: SocketRecord) -> Outcome:
        self.asked.append(sock)
        return Outcome(False, NEEDS_ROOT, "kill")


async def test_refused_close_in_the_dialog_then_k_kills_instead(children: Children, bag: SocketBag) -> None:
    listener = bag.listener()
    port = listener.getsockname()[1]
    child = children.start("report", "connect", str(port))
    server = bag.add(listener.accept()[0])
    actions = NeedsRootActions()
    app = SockuiApp(filter_text=f"port {port}", interval=ONE_SNAPSHOT, actions=actions)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_snapshot(pilot, app)
        record = record_of_pid(app, child.pid, "ESTABLISHED")
        assert record is not None
        await open_on(pilot, app, record, "d")
        close = await wait_screen(pilot, app, CloseScreen)
        await pilot.press("y")
        outcome = await wait_until(pilot, lambda: close.outcome, what="the refusal")
        assert [r.key for r in actions.asked] == [record.key], "close() was asked once, for this socket"
        assert not outcome.ok and result_text(close) == NEEDS_ROOT + "\nk: kill the owner instead"
        assert NEEDS_ROOT in "\n".join(screen_text(app))
        assert not close.query_one("#confirm", Button).display, "no second try"
        assert str(close.query_one("#cancel", Button).label) == "Close (esc)"

        await pilot.press("k")
        kill = await wait_screen(pilot, app, KillScreen)
        assert kill.sock.key == record.key and kill.pids == [child.pid]
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is app.main, what="back to the table")
    assert echo_roundtrip(server) == b"ping", "the refused close left the connection working"
    assert child.proc.poll() is None


async def test_refused_close_tells_how_to_kill_the_owner(children: Children, bag: SocketBag) -> None:
    listener = bag.listener()
    port = listener.getsockname()[1]
    child = children.start("report", "connect", str(port))
    bag.add(listener.accept()[0])
    app = SockuiApp(filter_text=f"port {port}", interval=ONE_SNAPSHOT, actions=NeedsRootActions())
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_snapshot(pilot, app)
        record = record_of_pid(app, child.pid, "ESTABLISHED")
        assert record is not None
        await open_on(pilot, app, record, "d")
        close = await wait_screen(pilot, app, CloseScreen)
        await pilot.press("y")
        await wait_until(pilot, lambda: close.outcome, what="the refusal")
        lines = "\n".join(screen_text(app))
        assert "k: kill the owner" in lines, f"nothing on screen says k kills the owner:\n{lines}"


# -- read-only --------------------------------------------------------------------------------------


def footer(app: SockuiApp) -> str:
    return screen_text(app)[-1]


async def palette_shows(pilot: Pilot[Any], app: SockuiApp, query: str, hit: str, read_only: bool) -> None:
    """Search the command palette for ``query``: ``hit`` is offered, or (read-only) nothing is."""
    await pilot.press("ctrl+p")
    await wait_until(pilot, lambda: isinstance(app.screen, CommandPalette), what="the command palette")
    await pilot.press(*query)
    expected = "No matches found" if read_only else hit
    lines = await wait_until(pilot, lambda: screen_showing(app, expected), what=f"{expected!r} for {query!r}")
    assert (hit in "\n".join(lines)) is not read_only
    await pilot.press("escape")
    await wait_until(pilot, lambda: app.screen is app.main, what="the palette to close")


@pytest.mark.parametrize("read_only", [False, True], ids=["read-write", "read-only"])
async def test_read_only_has_no_kill_and_no_close(loopback: Loopback, read_only: bool) -> None:
    app = SockuiApp(read_only=read_only, filter_text=f"port {loopback.port}", interval=ONE_SNAPSHOT)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_snapshot(pilot, app)
        record = next(r for r in app.main.table.records() if r.inode == inode(loopback.client))
        shown = footer(app)
        for label in ("k Kill", "d Close"):
            assert (label in shown) is not read_only, f"footer: {shown}"
        if read_only:
            assert "Kill" not in shown and "Close" not in shown, f"footer: {shown}"

        # k and d, then ?: once the help is up, k and d have been handled before it.
        await open_on(pilot, app, record, "k")
        if not read_only:
            await wait_screen(pilot, app, KillScreen)
            await pilot.press("escape")
        await pilot.press("d")
        if not read_only:
            await wait_screen(pilot, app, CloseScreen)
            await pilot.press("escape")
        await pilot.press("question_mark")
        help_screen = await wait_screen(pilot, app, HelpScreen)
        dialogs = [s for s in app.screen_stack if isinstance(s, KillScreen | CloseScreen)]
        assert not dialogs, f"read-only opened {dialogs}"
        keys = {keys for _section, keys, _what in help_screen.entries}
        texts = " ".join(what for _section, _keys, what in help_screen.entries)
        assert ("k" in keys and "d" in keys) is not read_only, keys
        for what in ("kill the owning process", "close the socket as ss -K does"):
            assert (what in texts) is not read_only, texts
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is app.main, what="the help to close")

        offered = {run.args[0] for _name, _help, run in help_actions(app.main)}  # type: ignore[attr-defined]
        assert ({"kill", "close_socket"} <= offered) is not read_only, offered
        assert not ({"kill", "close_socket"} & offered) or not read_only, offered
        await palette_shows(pilot, app, "kill", "kill the owning process", read_only)
        await palette_shows(pilot, app, "close the socket", "close the socket as ss -K does", read_only)
