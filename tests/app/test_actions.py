"""The kill (``k``) and close (``d``) dialogs against real processes and real connections.

Every process signalled is a child this test started (``action_child.py``: it prints the signal it
got), every connection closed is the test's own loopback connection with a child at one end; both are
torn down by fixtures whatever happens. The app runs as root here, as the real collector needs.

Proves, for kill: the dialog names the child's pid, name and cmdline (escaped), the shell equivalent,
and starts with the focus on Cancel; ``y`` sends TERM and the child gets TERM and exits, which the
dialog reports; INT chosen by keyboard in the signal list (shift+tab, down, enter) is what the child
gets; ``n`` and ``esc`` close the dialog without signalling anything; a child that ignores TERM is
reported still running and ``K`` then KILLs it. For close: the dialog shows the tuple, the owner and
the ``ss -K`` command; ``y`` aborts the chosen socket (its owner sees ECONNABORTED, the peer a reset)
and the dialog says closed; ``n``/``esc`` leave the connection working; a UNIX socket is refused at
once and ``k`` there switches to the kill dialog for the same socket, which then works.
"""

from __future__ import annotations

import os
import pwd
import re
import select
import signal
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Button, RadioButton, RadioSet, Static

from sockui.act.destroy import UNIX_REFUSED
from sockui.app import SockuiApp
from sockui.screens.dialogs import CloseScreen, KillScreen

from .actions_support import (
    CHILD_ARGS_SHOWN,
    CHILD_NAME_SHOWN,
    Child,
    Children,
    echo_roundtrip,
    open_on,
    record_of_pid,
    result_text,
    wait_screen,
)
from .conftest import SocketBag
from .support import ONE_SNAPSHOT, screen_text, wait_for_snapshot, wait_until

SIZE = (160, 45)


@pytest.fixture
def children() -> Iterator[Children]:
    kids = Children()
    try:
        yield kids
    finally:
        kids.close()


def process_label(dialog: KillScreen) -> str:
    """The text of the first process entry of the kill dialog."""
    button = dialog.query_one("#kill-process", RadioSet).query(RadioButton).first()
    return str(button.label)


def static(dialog: KillScreen | CloseScreen, selector: str) -> str:
    return str(dialog.query_one(selector, Static).content)


async def open_kill(pilot: Pilot[Any], app: SockuiApp, child: Child, state: str | None = None) -> KillScreen:
    """Cursor on the child's socket, ``k``, and wait until the dialog has read the process."""
    await wait_for_snapshot(pilot, app)
    record = record_of_pid(app, child.pid, state)
    assert record is not None, f"no socket of child {child.pid} listed"
    await open_on(pilot, app, record, "k")
    dialog = await wait_screen(pilot, app, KillScreen)
    await wait_until(pilot, lambda: "user " in process_label(dialog), what="the process to be read")
    return dialog


def workers_of(app: SockuiApp, group: str) -> list[object]:
    return [w for w in app.workers if w.group == group]


async def test_kill_shows_the_target_and_term_ends_it(children: Children) -> None:
    child = children.start("report", "listen")
    app = SockuiApp(filter_text=f"port {child.port}", interval=ONE_SNAPSHOT)
    async with app.run_test(size=SIZE) as pilot:
        dialog = await open_kill(pilot, app, child, "LISTEN")
        focused = app.focused
        assert isinstance(focused, Button) and focused.id == "cancel", f"focus starts on {focused}"

        cmdline = f"{sys.executable} -I -S action_child.py report listen {CHILD_ARGS_SHOWN}"
        user = pwd.getpwuid(os.getuid()).pw_name
        label = process_label(dialog)
        shown = cmdline if len(cmdline) <= 120 else cmdline[:119] + "…"  # long ones are cut, and say so
        assert label == f"{child.pid} {CHILD_NAME_SHOWN}  user {user}  {shown}"
        assert CHILD_ARGS_SHOWN in label, "the hostile arguments are shown, escaped"
        assert static(dialog, "#kill-command") == f"same as: kill -TERM {child.pid}"
        assert str(dialog.query_one("#confirm", Button).label) == "Send TERM (y)"
        lines = "\n".join(screen_text(app))
        for shown in (f"tcp 127.0.0.1:{child.port}", f"{child.pid} {CHILD_NAME_SHOWN}", "Cancel (n)"):
            assert shown in lines, f"{shown!r} is not on screen:\n{lines}"
        assert f"kill -TERM {child.pid}" in lines

        await pilot.press("y")
        outcome = await wait_until(pilot, lambda: dialog.outcome, what="the kill's outcome")
        assert child.line() == "signal TERM"
        await wait_until(pilot, lambda: child.proc.poll() is not None, what="the child to exit")
        assert child.proc.returncode == 0
        assert outcome.ok
        # The outcome is raw text; the dialog shows it escaped, as the table shows the name.
        shown = result_text(dialog)
        pattern = rf"process {child.pid} \({re.escape(CHILD_NAME_SHOWN)}\) exited \d+ ms after TERM"
        assert re.fullmatch(pattern, shown), shown
        assert "\x1b" not in shown
        assert not dialog.query_one("#confirm", Button).display, "no second send"
        assert str(dialog.query_one("#cancel", Button).label) == "Close (esc)"
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is app.main, what="the dialog to close")


async def test_kill_outcome_shows_the_name_as_the_table_does(children: Children) -> None:
    child = children.start("report", "listen")
    app = SockuiApp(filter_text=f"port {child.port}", interval=ONE_SNAPSHOT)
    async with app.run_test(size=SIZE) as pilot:
        dialog = await open_kill(pilot, app, child, "LISTEN")
        assert f"{child.pid} {CHILD_NAME_SHOWN}" in "\n".join(screen_text(app)), "the table's name"
        await pilot.press("y")
        await wait_until(pilot, lambda: dialog.outcome, what="the kill's outcome")
        shown = result_text(dialog)
        pattern = rf"process {child.pid} \({re.escape(CHILD_NAME_SHOWN)}\) exited \d+ ms after TERM"
        assert re.fullmatch(pattern, shown), f"the dialog says {shown!r}"


async def test_kill_with_int_chosen_by_keyboard(children: Children) -> None:
    child = children.start("report", "listen")
    app = SockuiApp(filter_text=f"port {child.port}", interval=ONE_SNAPSHOT)
    async with app.run_test(size=SIZE) as pilot:
        dialog = await open_kill(pilot, app, child, "LISTEN")
        # From Cancel, shift+tab goes back to the signal list; down highlights INT, enter chooses it.
        await pilot.press("shift+tab")
        focused = app.focused
        assert isinstance(focused, RadioSet) and focused.id == "kill-signal", f"focus is on {focused}"
        await pilot.press("down", "enter")
        await wait_until(
            pilot, lambda: dialog.chosen_signal is signal.SIGINT, what="INT to be chosen", timeout=5
        )
        assert static(dialog, "#kill-command") == f"same as: kill -INT {child.pid}"
        assert str(dialog.query_one("#confirm", Button).label) == "Send INT (y)"

        await pilot.press("y")
        outcome = await wait_until(pilot, lambda: dialog.outcome, what="the kill's outcome")
        assert child.line() == "signal INT", "the child got INT, not the default TERM"
        await wait_until(pilot, lambda: child.proc.poll() is not None, what="the child to exit")
        assert outcome.ok and outcome.message.endswith(" ms after INT"), outcome.message


@pytest.mark.parametrize("key", ["n", "escape"])
async def test_kill_cancelled_leaves_the_child_alone(children: Children, key: str) -> None:
    child = children.start("report", "listen")
    app = SockuiApp(filter_text=f"port {child.port}", interval=ONE_SNAPSHOT)
    async with app.run_test(size=SIZE) as pilot:
        dialog = await open_kill(pilot, app, child, "LISTEN")
        await pilot.press(key)
        await wait_until(pilot, lambda: app.screen is app.main, what=f"{key} to close the dialog")
        assert dialog.outcome is None and not dialog.running
        assert not workers_of(app, "kill"), "no kill was started"
        assert child.proc.poll() is None, "the child still runs"
        assert child.proc.stdout is not None
        assert not select.select([child.proc.stdout], [], [], 0)[0], "the child reported a signal"


async def test_kill_outlived_then_capital_k_sends_kill(children: Children) -> None:
    child = children.start("ignore-term", "listen")
    app = SockuiApp(filter_text=f"port {child.port}", interval=ONE_SNAPSHOT)
    async with app.run_test(size=SIZE) as pilot:
        dialog = await open_kill(pilot, app, child, "LISTEN")
        await pilot.press("y")
        outcome = await wait_until(pilot, lambda: dialog.outcome, what="the TERM outcome")
        assert not outcome.ok and outcome.offer == "sigkill"
        assert outcome.message == f"process {child.pid} is still running 2 s after TERM; K sends KILL"
        assert result_text(dialog) == outcome.message
        assert child.proc.poll() is None

        await pilot.press("K")
        killed = await wait_until(
            pilot, lambda: dialog.outcome if dialog.outcome is not outcome else None, what="the KILL outcome"
        )
        await wait_until(pilot, lambda: child.proc.poll() is not None, what="the child to die")
        assert child.proc.returncode == -signal.SIGKILL
        pattern = rf"process {child.pid} \({re.escape(CHILD_NAME_SHOWN)}\) exited \d+ ms after KILL"
        assert killed.ok and re.fullmatch(pattern, result_text(dialog)), result_text(dialog)


# -- close ------------------------------------------------------------------------------------------


async def test_close_resets_the_connection(children: Children, bag: SocketBag) -> None:
    listener = bag.listener()
    port = listener.getsockname()[1]
    child = children.start("default", "connect", str(port))
    server = bag.add(listener.accept()[0])
    app = SockuiApp(filter_text=f"port {port}", interval=ONE_SNAPSHOT)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_snapshot(pilot, app)
        record = record_of_pid(app, child.pid, "ESTABLISHED")
        assert record is not None
        await open_on(pilot, app, record, "d")
        dialog = await wait_screen(pilot, app, CloseScreen)
        focused = app.focused
        assert isinstance(focused, Button) and focused.id == "cancel", f"focus starts on {focused}"
        command = f"ss -K -n -t -4 -a src 127.0.0.1:{child.port} dst 127.0.0.1:{port}"
        assert static(dialog, "#close-command") == f"same as: {command}"
        lines = "\n".join(screen_text(app))
        for shown in (
            f"tcp 127.0.0.1:{child.port} -> 127.0.0.1:{port}",
            f"held by {child.pid} {CHILD_NAME_SHOWN}",
            command,
        ):
            assert shown in lines, f"{shown!r} is not on screen:\n{lines}"

        await pilot.press("y")
        outcome = await wait_until(pilot, lambda: dialog.outcome, what="the close's outcome")
        assert outcome.ok and outcome.message == "closed", outcome
        assert result_text(dialog) == "closed"
        # The chosen socket, the child's, was aborted under it; the peer got a reset.
        assert child.line() == "error ECONNABORTED"
        server.settimeout(10)
        try:
            got = server.recv(16)
        except ConnectionResetError:
            got = b""
        assert got == b"", f"the peer received {got!r} instead of a reset or EOF"
        assert child.proc.poll() is None, "closing the socket left its owner running"


@pytest.mark.parametrize("key", ["n", "escape"])
async def test_close_cancelled_connection_still_works(children: Children, bag: SocketBag, key: str) -> None:
    listener = bag.listener()
    port = listener.getsockname()[1]
    child = children.start("default", "connect", str(port))
    server = bag.add(listener.accept()[0])
    app = SockuiApp(filter_text=f"port {port}", interval=ONE_SNAPSHOT)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_snapshot(pilot, app)
        record = record_of_pid(app, child.pid, "ESTABLISHED")
        assert record is not None
        await open_on(pilot, app, record, "d")
        dialog = await wait_screen(pilot, app, CloseScreen)
        await pilot.press(key)
        await wait_until(pilot, lambda: app.screen is app.main, what=f"{key} to close the dialog")
        assert dialog.outcome is None and not workers_of(app, "close")
    assert echo_roundtrip(server, b"x") == b"x", "the connection no longer carries data"


async def test_close_unix_is_refused_and_k_switches_to_kill(children: Children) -> None:
    child = children.start("report", "unix")
    app = SockuiApp(filter_text=f"pid {child.pid}", interval=ONE_SNAPSHOT)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_snapshot(pilot, app)
        record = record_of_pid(app, child.pid)
        assert record is not None and record.proto.value == "unix", record
        await open_on(pilot, app, record, "d")
        close = await wait_screen(pilot, app, CloseScreen)
        expected = f"{UNIX_REFUSED}  (k: kill the owner instead)"
        assert result_text(close) == expected
        assert close.query_one("#confirm", Button).disabled
        assert not close.query("#close-command"), "no ss -K command for a UNIX socket"
        await pilot.press("y")  # refused: nothing happens
        await pilot.pause()
        assert app.screen is close and close.outcome is None and not workers_of(app, "close")

        await pilot.press("k")
        kill = await wait_screen(pilot, app, KillScreen)
        assert kill.sock.key == record.key and kill.pids == [child.pid]
        await wait_until(pilot, lambda: "user " in process_label(kill), what="the process to be read")
        assert process_label(kill).startswith(f"{child.pid} {CHILD_NAME_SHOWN}  user ")
        await pilot.press("y")
        outcome = await wait_until(pilot, lambda: kill.outcome, what="the kill's outcome")
        assert child.line() == "signal TERM" and outcome.ok, outcome


@pytest.mark.parametrize("size", [(40, 12), (80, 24)])
async def test_small_terminals_show_target_and_keys(children: Children, size: tuple[int, int]) -> None:
    """On 40x12 and 80x24 the dialogs open on what will be hit, with both buttons (and their keys) in view.

    Before, the box grew past the screen and the buttons were cut: nothing said which key confirms.
    """
    child = children.start("report", "listen")
    app = SockuiApp(filter_text=f"port {child.port}", interval=ONE_SNAPSHOT)
    wanted = (f"tcp 127.0.0.1:{child.port}", "Cancel (n)", "(y)")

    def whole() -> str | None:
        lines = "\n".join(screen_text(app))
        return lines if all(w in lines for w in wanted) else None

    def dialog_closed() -> bool:
        return not isinstance(app.screen, KillScreen | CloseScreen)

    async with app.run_test(size=size) as pilot:
        await wait_for_snapshot(pilot, app)
        record = record_of_pid(app, child.pid, "LISTEN")
        assert record is not None
        for key, kind in (("k", KillScreen), ("d", CloseScreen)):
            await open_on(pilot, app, record, key)
            await wait_screen(pilot, app, kind)
            await wait_until(pilot, whole, what=f"the {key} dialog's target and both buttons")
            await pilot.press("n")
            await wait_until(pilot, dialog_closed, what="the dialog to close")
        assert child.proc.poll() is None
