"""Hostile text reaches no other view unescaped: processes, namespaces, history, follow, help, copy, dialogs.

``test_hostile.py`` covers the table, the detail pane, the owners view and one notification. Here a
cast of real child processes (``hostile_child.py``) does the rest. Each renamed itself (PR_SET_NAME)
to an escape sequence (an OSC 52 clipboard write ended by ST, cursor moves, a BEL, a CR, a newline),
Textual markup, a right-to-left override, zero-width and wide characters (CJK, emoji) or bytes that are
not UTF-8; each has a hostile cmdline (OSC 0 title change, OSC 52, markup, bidi, 4 KB). The "boss"
runs as a temporary user made with ``useradd --badname`` whose name holds markup, U+202E, CJK and
U+200B (useradd refuses control characters in a name, even with --badname), and holds an abstract
UNIX listener whose name holds NULs, an OSC 0 title change, markup, U+202E, CJK and an emoji; another
holds a filesystem UNIX socket whose path holds a newline and an escape sequence.

Every check reads what the app renders: each segment of every screen line (the compositor's strips)
holds no raw control, bidi, zero-width character or lone surrogate; each line is exactly the screen's
width in cells (a wide character counted right, nothing split by a raw newline); hostile text is shown
literally and none of its cells carries a click action; clicking it runs nothing. The kill and close
dialogs are opened, read and cancelled (nothing is signalled). In a real terminal (tmux), the pane
title, bell flag and paste buffers prove no escape sequence got through.

Mocked: nothing but the clipboard's absence (no tmux, no display: the terminal's OSC 52 is the only
route, as in test_actions_copy.py); the copied text is read back from the sequence the app writes.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import pwd
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from collect.netns_support import (
    UNSHARE_LO_UP,
    cgroup2_mount,
    cgroup_tree,
    move_to_cgroup,
    require_root_and,
)
from rich.cells import cell_len
from textual._compositor import LayoutUpdate
from textual.pilot import Pilot
from textual.widgets import DataTable, OptionList, RadioButton, Static

from sockui.app import SockuiApp
from sockui.model.history import SocketEvent
from sockui.model.socket import Binding, SocketRecord
from sockui.screens.copy_menu import CopyMenuScreen
from sockui.screens.dialogs import CloseScreen, KillScreen
from sockui.screens.follow import FollowListScreen, FollowScreen
from sockui.screens.help import HelpScreen
from sockui.screens.history import HistoryScreen
from sockui.screens.namespaces import NamespacesScreen
from sockui.screens.narrow import NarrowScreen
from sockui.screens.processes import ProcessesScreen, ProcessGroup

from .actions_support import wait_screen
from .conftest import HERE, Hostile, Tmux, read_line, stop_child
from .support import ONE_SNAPSHOT, move_cursor_to, settle, static_text, wait_for_snapshot, wait_until
from .test_actions_copy import OSC52, no_clipboards, notes  # noqa: F401 (no_clipboards: a fixture)
from .test_tmux import START_TIMEOUT, poll, quit_and_wait

SIZE = (200, 50)

#: Never on screen raw: C0 and C1 controls (newline included: lines are split by the compositor, not
#: by text), DEL, bidi marks, embeddings, overrides and isolates, zero-width characters, BOM, lone
#: surrogates (undecodable bytes).
RAW = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff\ud800-\udfff]")

#: Arguments after the script: the cmdline every child shows (OSC 0 and OSC 52, cursor moves, a
#: newline, markup and a link, a bidi override, 4 KB).
ARGS = (
    "[@click=app.quit]x[/]",
    "\x1b]0;pwn\x07",
    "\x1b]52;c;cHdu\x07",
    "\x1b[2J\x1b[H",
    "two\nlines",
    "[link=https://x]x[/link]",
    "\u202eevil",
    "L" * 4096,
)
ARGS_SHOWN = (
    r"[@click=app.quit]x[/] \e]0;pwn\x07 \e]52;c;cHdu\x07 \e[2J\e[H two\nlines [link=https://x]x[/link] "
    r"\u202eevil " + "L" * 4096
)
#: The whole command line as sockui shows it (``p`` copies it).
CMDLINE_SHOWN = f"{sys.executable} -I -S hostile_child.py {ARGS_SHOWN}"

#: (name given to prctl, as sockui shows it); at most 15 bytes each.
BOSS_NAME = (b"\x1b]52;c;cHdu\x1b\\", r"\e]52;c;cHdu\e\\")  # OSC 52 "pwn" to the clipboard, ST-ended
OTHER_NAMES = (
    (b"[@click=quit]x", "[@click=quit]x"),
    ("\u202eevil名\u200b".encode(), r"\u202eevil名\u200b"),
    ("😀\x1b[2J\x1b[H\r".encode(), r"😀\e[2J\e[H\r"),
    (b"\xff\x9b\x07\nA", r"\xff\x9b\x07\nA"),
)


# -- the cast ---------------------------------------------------------------------------------------------


@dataclass
class User:
    """The temporary user with a hostile name, or root's when none could be made."""

    name: str
    uid: int
    gid: int
    shown: str
    made: bool


@dataclass
class Cast:
    """The children, their sockets, and how sockui must show every hostile string."""

    boss: Hostile  # runs as :attr:`user`; holds a TCP listener and the abstract UNIX listener
    others: list[Hostile]  # run as root; ``others[0]`` also holds the filesystem UNIX socket
    user: User
    abstract: str  # as sockui decodes it: "@" and the name, NULs included
    abstract_shown: str
    path: str
    path_shown: str

    @property
    def everyone(self) -> list[Hostile]:
        return [self.boss, *self.others]


def run_quietly(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), capture_output=True, text=True, timeout=30, check=False)


def retry(*args: str) -> subprocess.CompletedProcess[str]:
    """useradd/userdel, again while another process holds the passwd lock (other tests run meanwhile)."""
    deadline = time.monotonic() + 20.0
    while True:
        result = run_quietly(*args)
        if result.returncode == 0 or "lock" not in result.stderr or time.monotonic() > deadline:
            return result
        time.sleep(0.1)  # nothing to poll: the lock holder says nothing when it is done


@contextlib.contextmanager
def hostile_user(tag: str) -> Iterator[User]:
    """A user named with markup, U+202E, CJK and U+200B (at most 32 bytes), deleted at the end.

    Falls back to the running user's own name when it cannot be made (not root, no useradd, a
    useradd without ``--badname``): the checks of the User column then use that name.
    """
    name = f"s{tag}[@click=app.quit]\u202e名\u200b"
    made = False
    if os.geteuid() == 0 and shutil.which("useradd") and shutil.which("userdel"):
        made = (
            retry("useradd", "--badname", "-M", "-N", "-r", "-s", "/usr/sbin/nologin", name).returncode == 0
        )
    try:
        if made:
            entry = pwd.getpwnam(name)
            yield User(name, entry.pw_uid, entry.pw_gid, rf"s{tag}[@click=app.quit]\u202e名\u200b", True)
        else:
            entry = pwd.getpwuid(os.getuid())
            yield User(entry.pw_name, entry.pw_uid, entry.pw_gid, entry.pw_name, False)
    finally:
        if made:
            result = retry("userdel", name)
            assert result.returncode == 0, f"could not remove the test user {name!r}: {result.stderr}"


def start_child(
    name: bytes,
    shown: str,
    *,
    user: User | None = None,
    unix: tuple[bytes, ...] = (),
    prefix: tuple[str, ...] = (),
) -> Hostile:
    """``hostile_child.py`` with ``name`` and the hostile ``ARGS``; it prints its port once listening."""
    env = {**os.environ, "SOCKUI_TEST_NAME": name.hex(), "SOCKUI_TEST_UNIX": ",".join(u.hex() for u in unix)}
    if user is not None and user.made:
        env |= {"SOCKUI_TEST_UID": str(user.uid), "SOCKUI_TEST_GID": str(user.gid)}
    proc = subprocess.Popen(
        [*prefix, sys.executable, "-I", "-S", "hostile_child.py", *ARGS],
        cwd=HERE,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        port = int(read_line(proc, 10.0))
    except BaseException:
        stop_child(proc)
        raise
    return Hostile(proc, port, name, shown)


def remove(path: bytes) -> None:
    """The socket file, if the child made it (it does not remove it: a bound name outlives its socket)."""
    if os.path.lexists(path):
        os.unlink(path)


def stop_all(children: list[Hostile]) -> None:
    for child in children:
        stop_child(child.proc)


@pytest.fixture(scope="module")
def cast(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cast]:
    """Every child, stopped and reaped at the end; then the socket file and the user are removed."""
    tag = secrets.token_hex(2)[:3]
    raw_abstract = b"\0\0\x1b]0;pwn\x07[@click=quit]" + "\u202e名😀".encode() + tag.encode()
    raw_path = os.fsencode(tmp_path_factory.mktemp("hostile")) + b"/p\n\x1b[31m[b]\xe5\x90\x8d.sock"
    assert len(raw_path) < 108, "the temporary directory is too deep for a UNIX socket path"
    path = raw_path.decode("utf-8", "surrogateescape")
    with contextlib.ExitStack() as stack:
        user = stack.enter_context(hostile_user(tag))  # removed last: its process must be gone first
        stack.callback(remove, raw_path)
        children: list[Hostile] = []
        stack.callback(stop_all, children)
        boss = start_child(*BOSS_NAME, user=user, unix=(raw_abstract,))
        children.append(boss)
        for index, (name, shown) in enumerate(OTHER_NAMES):
            children.append(start_child(name, shown, unix=(raw_path,) if index == 0 else ()))
        yield Cast(
            boss=boss,
            others=children[1:],
            user=user,
            abstract="@" + raw_abstract[1:].decode("utf-8", "surrogateescape"),
            abstract_shown=r"@\x00\e]0;pwn\x07[@click=quit]\u202e名😀" + tag,
            path=path,
            path_shown=f"{path.rsplit('/', 1)[0]}/" + r"p\n\e[31m[b]名.sock",
        )


# -- what is on screen -----------------------------------------------------------------------------------


def rendered(app: SockuiApp) -> list[str]:
    """The screen's lines, after checking every segment the terminal would get.

    No raw control, bidi or zero-width character in any segment's text (escape sequences the terminal
    gets come from styles only), and every line exactly as wide as the screen, in cells.
    """
    width, height = app.size
    # No public API gives the rendered screen in Textual 8.2.8: the compositor, as support.screen_text.
    update = app.screen._compositor.render_update(full=True, screen_stack=app._background_screens)
    assert isinstance(update, LayoutUpdate)
    lines: list[str] = []
    for y, strips in enumerate(update.strips):
        text = "".join(segment.text for strip in strips for segment in strip)
        bad = RAW.search(text)
        assert bad is None, f"raw {bad.group()!r} on screen line {y}: {text!r}"
        assert cell_len(text) == width, f"line {y} is {cell_len(text)} cells wide, not {width}: {text!r}"
        lines.append(text)
    assert len(lines) == height
    return lines


def spot(lines: list[str], needle: str) -> tuple[int, int] | None:
    """(x in cells, y) where ``needle`` starts on screen (wide characters before it count twice)."""
    for y, line in enumerate(lines):
        index = line.find(needle)
        if index >= 0:
            return cell_len(line[:index]), y
    return None


def inert(app: SockuiApp, lines: list[str], *needles: str) -> None:
    """Each needle is on screen as it is written, and none of its cells carries a click action."""
    for needle in needles:
        where = spot(lines, needle)
        assert where is not None, f"{needle!r} is not on screen:\n" + "\n".join(lines)
        x, y = where
        for dx in range(cell_len(needle)):
            assert "@click" not in app.screen.get_style_at(x + dx, y).meta, f"{needle!r} is live at {x + dx}"


async def click(pilot: Pilot[Any], app: SockuiApp, needle: str) -> None:
    """Click the middle of ``needle`` on screen; the app must still run (live markup would quit it)."""
    where = spot(rendered(app), needle)
    assert where is not None, f"{needle!r} is not on screen"
    await pilot.click(offset=(where[0] + cell_len(needle) // 2, where[1]))
    await pilot.pause()
    assert app.is_running and app.return_code is None, f"clicking {needle!r} ended the app"


async def showing(pilot: Pilot[Any], app: SockuiApp, needle: str) -> list[str]:
    """The checked screen lines, once ``needle`` is on screen."""
    lines: list[str] = await wait_until(
        pilot, lambda: (lambda ls: ls if spot(ls, needle) else None)(rendered(app)), what=repr(needle)
    )
    return lines


def record_of(app: SockuiApp, pid: int, proto: str = "tcp", path: str | None = None) -> SocketRecord:
    """The listed listener of ``pid`` (a TCP one, or the UNIX one bound to ``path``)."""
    for rec in app.main.table.records():
        listening = pid in rec.pids and rec.binding is Binding.LISTENING and rec.proto.value == proto
        if listening and (path is None or getattr(rec.local, "path", None) == path):
            return rec
    raise AssertionError(f"no {proto} listener of {pid} listed")


async def back_to_main(pilot: Pilot[Any], app: SockuiApp, *keys: str) -> None:
    await pilot.press(*keys)
    await wait_until(pilot, lambda: app.screen is app.main, what="the main screen again")


def alive(child: Hostile) -> bool:
    return child.proc.poll() is None


# -- processes view (g) ------------------------------------------------------------------------------


async def test_processes_view_labels_leaves_and_a_hidden_jump(cast: Cast) -> None:
    boss = cast.boss
    app = SockuiApp(filter_text=f"port {boss.port}", interval=ONE_SNAPSHOT)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await wait_for_snapshot(pilot, app)
        await pilot.press("g")
        screen = await wait_screen(pilot, app, ProcessesScreen)
        await wait_until(pilot, lambda: screen.grouping is not None, what="the counts")
        tree = screen.process_tree
        nodes = {n.data.pid: n for n in tree.root.children if isinstance(n.data, ProcessGroup)}
        labels = {c.pid: nodes[c.pid].label.plain for c in cast.everyone}  # type: ignore[union-attr]
        for child in cast.everyone:
            assert f"{child.pid} {child.shown} " in labels[child.pid], labels[child.pid]
            assert not RAW.search(labels[child.pid]), labels[child.pid]
        # The user column is cut to its width (an escaped name can be longer than any real one).
        boss_user = labels[boss.pid].split("(", 1)[1].split(")", 1)[0]
        assert cast.user.shown.startswith(boss_user.rstrip("…")), boss_user
        # Escaped, wide and long names alike: the counts start in the same cell on every line.
        starts = {cell_len(label[: label.index("  listening ")]) for label in labels.values()}
        assert len(starts) == 1, "process lines are misaligned:\n" + "\n".join(labels.values())

        # The boss's sockets, as a user opens them: cursor on its line, then right.
        tree.move_cursor(nodes[boss.pid])
        await pilot.press("right")
        node = nodes[boss.pid]
        await wait_until(pilot, lambda: len(node.children) == 2, what="the boss's sockets")
        leaves = [leaf.label.plain for leaf in node.children]  # type: ignore[union-attr]
        assert any(f"127.0.0.1:{boss.port}" in leaf for leaf in leaves), leaves
        unix_leaf = next(leaf for leaf in leaves if leaf.startswith("unix"))
        assert cast.abstract_shown[:20] in unix_leaf and not RAW.search(unix_leaf), unix_leaf
        fds = {cell_len(leaf[: leaf.index("  fd ")]) for leaf in leaves}
        assert len(fds) == 1, "socket lines are misaligned:\n" + "\n".join(leaves)

        lines = await showing(pilot, app, f"{boss.pid} {boss.shown}")
        inert(app, lines, f"{boss.pid} {boss.shown}", cast.abstract_shown)
        # A click on the UNIX line's markup chooses that socket, as a click on any line does; the
        # filter hides it, which a notification says, the name and path in it escaped.
        app.clear_notifications()
        await click(pilot, app, r"\x07[@click=quit]")
        await wait_until(pilot, lambda: app.screen is app.main, what="the view to close on the choice")
        said = await wait_until(pilot, lambda: [n for n in app._notifications if "hidden" in n.message])
        expected = (
            f"{cast.abstract_shown} ({boss.pid} {boss.shown}) is hidden by the filter; a shows everything."
        )
        assert said[0].message == expected and not said[0].markup, said[0].message
        lines = await showing(pilot, app, "hidden by the filter")
        inert(app, lines, r"\x07[@click=quit]")
        assert app.main.view.filter.source == f"port {boss.port}", "nothing changed the filter"


# -- namespaces view (n), with a real container label --------------------------------------------------

#: An LXC-style cgroup name (``lxc.payload.<name>``): sockui labels the process and its network
#: namespace with ``<name>``. A cgroup name can hold anything but "/" and a newline.
LABEL = "[@click=quit]\x1b]0;pwn\x07名😀\u202e\r" + "\x01" * 150
LABEL_SHOWN = r"[@click=quit]\e]0;pwn\x07名😀\u202e\r" + r"\x01" * 150
#: The start of it, which a cut label keeps.
HEAD = r"[@click=quit]\e]0;pwn\x07名😀"


async def test_namespaces_view_shows_a_real_hostile_container(cast: Cast) -> None:
    require_root_and("unshare", "ip")
    mount = cgroup2_mount()
    if mount is None or not os.access(mount, os.W_OK):
        pytest.skip("no writable cgroup v2 hierarchy: a container label cannot be made")
    with contextlib.ExitStack() as stack:
        try:
            leaf = stack.enter_context(
                cgroup_tree(mount, f"sockui-test-{secrets.token_hex(3)}/lxc.payload.{LABEL}")
            )
        except OSError as exc:
            pytest.skip(f"cannot make a cgroup under {mount}: {exc}")
        name, shown = OTHER_NAMES[1]
        boxed = start_child(name, shown, prefix=tuple(UNSHARE_LO_UP))
        stack.callback(stop_child, boxed.proc)  # runs before the cgroup is removed
        move_to_cgroup(leaf, boxed.pid)
        netns = os.stat(f"/proc/{boxed.pid}/ns/net").st_ino
        app = SockuiApp(filter_text=f"pid {boxed.pid}", interval=ONE_SNAPSHOT)
        async with app.run_test(size=SIZE) as pilot:
            await wait_for_snapshot(pilot, app)
            await wait_until(pilot, lambda: app.main.table.records(), what="the boxed child's listener")
            assert {r.netns_label for r in app.main.table.records()} == {LABEL}, "labelled by its cgroup"

            await pilot.press("n")
            screen = await wait_screen(pilot, app, NamespacesScreen)
            table = screen.query_one(DataTable)
            row = [str(cell) for cell in table.get_row(str(netns))]
            assert row[0].startswith(HEAD) and row[0].endswith(r"\x01") and "…" in row[0], row[0]
            assert cell_len(row[0]) == 64, f"a {cell_len(LABEL_SHOWN)}-cell label is not cut: {row[0]!r}"
            assert not RAW.search(row[0]), row[0]
            assert shown in row[8] and not RAW.search(row[8]), row[8]
            # The rows stay aligned: the inode starts where its title does, after any label.
            for _ in range(table.row_count):
                if table.cursor_row == table.get_row_index(str(netns)):
                    break
                await pilot.press("down")
            lines = await showing(pilot, app, HEAD)
            header = next(line for line in lines if "Namespace" in line and "Inode" in line)
            mine = next(line for line in lines if str(netns) in line)
            assert cell_len(mine[: mine.index(str(netns))]) == cell_len(header[: header.index("Inode")])
            inert(app, lines, HEAD, shown)
            # A click on the highlighted row's label (its markup inert) chooses it, as enter does: the
            # table is filtered to the namespace by inode, since the label cannot be typed in a filter.
            await click(pilot, app, HEAD)
            await wait_until(pilot, lambda: app.screen is app.main, what="the table, filtered")
            await settle(pilot, app)
            assert app.main.view.filter.source.endswith(f"netns {netns}"), app.main.view.filter.source
            assert [o.pid for r in app.main.table.records() for o in r.owners] == [boxed.pid]
            rendered(app)  # the Netns cell and the status bar: checked as every line is

            await pilot.press("equals_sign")
            menu = await wait_screen(pilot, app, NarrowScreen)
            options = menu.query_one(OptionList)
            prompts = [str(options.get_option_at_index(i).prompt) for i in range(options.option_count)]
            # The label is cut in the middle to fit the menu; choosing it would add "netns INODE".
            prompt = next((p for p in prompts if p.startswith("network namespace [@click=quit]")), "")
            assert prompt.endswith(r"\x01" + f"   netns {netns}") and "…" in prompt, prompt
            assert cell_len(prompt) < 100, f"not cut: {prompt!r}"
            lines = await showing(pilot, app, "network namespace")
            inert(app, lines, r"[@click=quit]\e]0;")  # the choice wraps in the menu: the label's start
            await back_to_main(pilot, app, "escape")
            assert app.is_running and app.return_code is None


# -- history (h) and follow (f, F) --------------------------------------------------------------------


def entries_at(screen: HistoryScreen, port: int) -> list[SocketEvent] | None:
    """The listed entries whose local port is ``port``, newest first (None while the table refills)."""
    view = screen.view
    table = screen.query_one("#history-table", DataTable)
    if view is None or table.row_count != len(view.rows):
        return None
    return [e for e in view.rows if getattr(e.record.local, "port", None) == port]


def more_entries(screen: HistoryScreen, port: int, seen: int) -> bool:
    """More than ``seen`` entries at ``port`` are listed."""
    return len(entries_at(screen, port) or []) > seen


def short_connection(boss: Hostile) -> None:
    """A connection to the boss that it resets at once: it lives far less than a refresh."""
    with socket.create_connection(("127.0.0.1", boss.port), timeout=10):
        boss.wait_accepted()
        assert boss.proc.stdin is not None
        boss.proc.stdin.write(b"close\n")
        boss.proc.stdin.flush()
        assert read_line(boss.proc, 10.0) == b"closed"


async def test_history_and_follow_name_the_hostile_owner(cast: Cast) -> None:
    boss = cast.boss
    app = SockuiApp(filter_text=f"pid {boss.pid}", interval=ONE_SNAPSHOT)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_snapshot(pilot, app)
        await pilot.press("h")
        screen = await wait_screen(pilot, app, HistoryScreen)
        # The history lists every close on the machine (other tests make many): only the boss's side.
        await pilot.press("slash", *f"sport {boss.port}", "enter")
        await wait_until(
            pilot, lambda: screen.view is not None and screen.view.source == f"sport {boss.port}"
        )
        # Only the kernel's destroy message tells of a connection no refresh saw, and the history then
        # guesses its owner from the listener on its port. A refresh may still run (one follows a first
        # snapshot whose owners were pending) and see it: then it is an ordinary entry; try again.
        note = (
            f"lived < one refresh; likely {boss.pid} {boss.shown} (owner of the listener on port {boss.port})"
        )
        newest: SocketEvent | None = None
        for _attempt in range(5):
            await wait_until(pilot, lambda: entries_at(screen, boss.port) is not None, what="the history")
            seen = len(entries_at(screen, boss.port) or [])
            short_connection(boss)
            await wait_until(
                pilot, partial(more_entries, screen, boss.port, seen), what="the reset connection"
            )
            newest = (entries_at(screen, boss.port) or [])[0]
            if "likely" in newest.note:
                break
        assert newest is not None and newest.note == note, f"{newest}: the note is escaped once, not twice"
        table = screen.query_one("#history-table", DataTable)
        assert screen.view is not None
        index = screen.view.rows.index(newest)
        assert str(table.get_row_at(index)[-1]) == note, "the Note cell shows it as the model made it"
        while table.cursor_row != index:
            await pilot.press("down")
        await pilot.press("enter")
        detail = screen.query_one("#history-detail", Static)
        await wait_until(pilot, lambda: f"    note {note}" in static_text(detail), what="the entry's detail")
        lines = await showing(pilot, app, f"note {note}")
        inert(app, lines, f"likely {boss.pid} {boss.shown} (owner")
        await back_to_main(pilot, app, "escape", "escape")

        # Following the boss's listener: a refresh names its owner in the timeline, escaped once.
        listener = record_of(app, boss.pid)
        await move_cursor_to(pilot, app.main.table, listener.key)
        await pilot.press("f")
        follow = await wait_screen(pilot, app, FollowScreen)
        app.refresh_now()
        owners = f"owners: {boss.pid}/{boss.shown} fd {listener.owners[0].fd}"
        events = follow.query_one("#follow-events", Static)
        await wait_until(pilot, lambda: "owners:" in static_text(events), what="the owners in the timeline")
        assert owners in static_text(events), static_text(events)
        inert(app, await showing(pilot, app, owners), owners)
        await back_to_main(pilot, app, "escape")

        # Following the abstract UNIX listener: its name (NULs, OSC 0, markup) heads the view.
        abstract = record_of(app, boss.pid, "unix", cast.abstract)
        await move_cursor_to(pilot, app.main.table, abstract.key)
        await pilot.press("f")
        follow = await wait_screen(pilot, app, FollowScreen)
        title = static_text(follow.query_one("#follow-title", Static))
        assert title.startswith(f"Following unix {cast.abstract_shown} (inode {abstract.inode})"), title
        inert(app, await showing(pilot, app, cast.abstract_shown), cast.abstract_shown)
        await click(pilot, app, r"\x07[@click=quit]")
        await pilot.press("F")
        listing = await wait_screen(pilot, app, FollowListScreen)
        options = listing.query_one(OptionList)
        prompts = [str(options.get_option_at_index(i).prompt) for i in range(options.option_count)]
        assert any(p.startswith(f"unix {cast.abstract_shown} (inode {abstract.inode})") for p in prompts)
        inert(app, await showing(pilot, app, "Followed sockets"), cast.abstract_shown)
        await pilot.press("escape")
        await back_to_main(pilot, app, "escape")
        assert app.is_running and app.return_code is None


# -- help, copy menu, kill and close dialogs, narrow menu -------------------------------------------


class RawTap:
    """Every string the app writes to its (headless) terminal driver; the copies are OSC 52 there."""

    def __init__(self, app: SockuiApp, monkeypatch: pytest.MonkeyPatch) -> None:
        self.writes: list[str] = []
        driver = app._driver  # no public handle on the driver in Textual 8.2.8
        assert driver is not None
        original = driver.write

        def write(data: str) -> None:
            if "\x1b]52;" in data:
                self.writes.append(data)
            original(data)

        monkeypatch.setattr(driver, "write", write)

    def copied(self) -> list[str]:
        """The texts copied so far, each checked to be one OSC 52 sequence and nothing else."""
        texts = []
        for data in self.writes:
            match = OSC52.fullmatch(data)
            assert match is not None, f"not exactly one OSC 52 sequence: {data[:200]!r}"
            texts.append(base64.b64decode(match.group(1)).decode("utf-8", "surrogateescape"))
        return texts


async def copy_with(pilot: Pilot[Any], app: SockuiApp, tap: RawTap, record: SocketRecord, key: str) -> str:
    """Open the copy menu on ``record``, wait for the owners' cmdlines, press ``key``: the copied text."""
    before = len(tap.writes)
    await move_cursor_to(pilot, app.main.table, record.key)
    await pilot.press("c")
    menu = await wait_screen(pilot, app, CopyMenuScreen)
    await wait_until(pilot, lambda: menu.items[-1].text and "hostile_child" in menu.items[-1].text)
    await pilot.press(key)
    await wait_until(pilot, lambda: len(tap.writes) > before, what=f"the copy of {key!r}")
    return tap.copied()[-1]


def notes_with(app: SockuiApp, word: str) -> list[str]:
    return [n for n in notes(app) if word in n]


@pytest.mark.usefixtures("no_clipboards")
async def test_help_copy_dialogs_and_narrow(cast: Cast, monkeypatch: pytest.MonkeyPatch) -> None:
    boss, keeper = cast.boss, cast.others[0]
    app = SockuiApp(filter_text=f"pid {boss.pid} or pid {keeper.pid}", interval=ONE_SNAPSHOT)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        tap = RawTap(app, monkeypatch)
        await wait_for_snapshot(pilot, app)
        tcp = record_of(app, boss.pid)
        abstract = record_of(app, boss.pid, "unix", cast.abstract)
        path = record_of(app, keeper.pid, "unix", cast.path)
        rows = rendered(app)
        boss_rows = [line for line in rows if f"{boss.pid} {boss.shown}" in line]
        assert len(boss_rows) == 2 and all(cast.user.shown[:6] in line for line in boss_rows), boss_rows

        # Help: over the hostile rows, nothing but the keys and inert text.
        await pilot.press("question_mark")
        await wait_screen(pilot, app, HelpScreen)
        await showing(pilot, app, "sockui keys")
        await back_to_main(pilot, app, "escape")

        # The copy menu: names shown escaped and cut, the copied texts whole, one OSC 52 each.
        await move_cursor_to(pilot, app.main.table, abstract.key)
        await pilot.press("c")
        menu = await wait_screen(pilot, app, CopyMenuScreen)
        await wait_until(pilot, lambda: menu.items[-1].text and "hostile_child" in menu.items[-1].text)
        options = menu.query_one(OptionList)
        prompts = {
            o.id: str(o.prompt) for o in (options.get_option_at_index(i) for i in range(options.option_count))
        }
        assert prompts["l"].endswith(cast.abstract_shown), prompts["l"]
        # One line, cut where the box ends (its width, not PREVIEW, decides here), marked as cut.
        shown_p = prompts["p"].partition("pid and command line")[2].strip()
        assert shown_p.endswith("…") and "\n" not in prompts["p"], prompts["p"]
        assert f"{boss.pid} {CMDLINE_SHOWN}".startswith(shown_p[:-1]) and len(shown_p) > 40, shown_p
        inert(app, await showing(pilot, app, r"\x07[@click=quit]"), cast.abstract_shown)
        app.clear_notifications()
        await pilot.press("p")
        await wait_until(pilot, lambda: tap.writes, what="the copy of p")
        assert tap.copied() == [f"{boss.pid} {CMDLINE_SHOWN}"], "the whole command line, 4 KB, escaped"
        said = await wait_until(pilot, lambda: notes_with(app, "terminal clipboard"), what="the notification")
        text = f"{boss.pid} {CMDLINE_SHOWN}"
        assert said == [f"sent {text[:59]}… to the terminal clipboard (OSC 52)"], said
        await showing(pilot, app, "terminal clipboard")
        app.clear_notifications()
        assert await copy_with(pilot, app, tap, abstract, "l") == cast.abstract_shown
        said = await wait_until(pilot, lambda: notes_with(app, "terminal clipboard"), what="the notification")
        assert said == [f"sent {cast.abstract_shown} to the terminal clipboard (OSC 52)"], said
        assert not any(n.markup for n in app._notifications)
        inert(app, await showing(pilot, app, "terminal clipboard"), r"\x07[@click=quit]")

        copied = await copy_with(pilot, app, tap, abstract, "j")
        assert copied.isascii() and "\n" not in copied, copied
        row = json.loads(copied)
        assert row["local"] == {"path": cast.abstract}, "the exact name, NULs and all"
        assert [(p["pid"], p["name"]) for p in row["processes"]] == [
            (boss.pid, BOSS_NAME[0].decode("utf-8", "surrogateescape"))
        ]
        copied = await copy_with(pilot, app, tap, abstract, "s")
        assert copied.startswith("ss -xln 'src @") and not RAW.search(copied), copied
        assert await copy_with(pilot, app, tap, path, "l") == cast.path_shown

        # Kill: who it would hit, as the system names it, escaped; cancelled, nothing is signalled.
        await move_cursor_to(pilot, app.main.table, tcp.key)
        await pilot.press("k")
        kill = await wait_screen(pilot, app, KillScreen)
        await wait_until(pilot, lambda: kill.choices, what="the process read")
        label = str(kill.query_one("#kill-process").query_one(RadioButton).label)
        # Cut at 120 and marked as cut; where the cut falls depends on the interpreter's path.
        expected = f"{boss.pid} {boss.shown}  user {cast.user.shown}  {CMDLINE_SHOWN[:119]}…"
        assert label == expected, f"{label!r} != {expected!r}"
        inert(app, await showing(pilot, app, f"{boss.pid} {boss.shown}  user"), f"user {cast.user.shown}")
        await back_to_main(pilot, app, "escape")
        assert alive(boss), "escape signalled nothing"

        # Close: the path and the holder, escaped; the kernel cannot close UNIX sockets anyway.
        await move_cursor_to(pilot, app.main.table, path.key)
        await pilot.press("d")
        await wait_screen(pilot, app, CloseScreen)
        lines = await showing(pilot, app, f"held by {keeper.pid} {keeper.shown}")
        inert(app, lines, f"unix/str {cast.path_shown} {path.inode}", f"held by {keeper.pid} {keeper.shown}")
        await back_to_main(pilot, app, "n")
        assert alive(keeper) and path.key in [r.key for r in app.main.table.records()]

        # Narrow: every choice escaped; choosing the hostile process name or path narrows to exactly it.
        await move_cursor_to(pilot, app.main.table, abstract.key)
        await pilot.press("equals_sign")
        narrow = await wait_screen(pilot, app, NarrowScreen)
        options = narrow.query_one(OptionList)
        prompts_list = [str(options.get_option_at_index(i).prompt) for i in range(options.option_count)]
        assert f"every process named {boss.shown}   proc '?]52;c;cHdu?\\\\'" in prompts_list, prompts_list
        assert any(
            p.startswith(f"UNIX path {cast.abstract_shown}   path '@??]0;pwn?[[]@click=quit]?名")
            for p in prompts_list
        ), prompts_list
        inert(app, await showing(pilot, app, "every process named"), f"every process named {boss.shown}")
        await back_to_main(pilot, app, "escape")

        for meaning, keys in (
            ("every process named", {tcp.key, abstract.key}),
            ("UNIX path", {abstract.key}),
        ):
            app.main.table.move_to_key(abstract.key)
            await pilot.press("equals_sign")
            narrow = await wait_screen(pilot, app, NarrowScreen)
            options = narrow.query_one(OptionList)
            target = next(
                i
                for i in range(options.option_count)
                if str(options.get_option_at_index(i).prompt).startswith(meaning)
            )
            while options.highlighted != target:
                await pilot.press("down")
            app.clear_notifications()
            await back_to_main(pilot, app, "enter")
            await settle(pilot, app)
            assert {r.key for r in app.main.table.records()} == keys, app.main.view.filter.source
            assert not notes_with(app, "Cannot filter"), notes(app)
        # The filter line shows the expression as typed: no control character was put in it.
        await pilot.press("slash")
        inert(app, await showing(pilot, app, "proc '?]52;c;cHdu?\\\\'"), "proc '?]52;c;cHdu?\\\\'")
        await pilot.press("escape")
        assert app.is_running and app.return_code is None


# -- outputs and a real terminal ----------------------------------------------------------------------


def test_once_table_user_column(cast: Cast) -> None:
    """``--once``: the hostile user's name escaped in the User column, which stays aligned."""
    boss, keeper = cast.boss, cast.others[0]
    result = subprocess.run(
        [sys.executable, "-m", "sockui", "--once", "--filter", f"pid {boss.pid} or pid {keeper.pid}"],
        capture_output=True,
        text=True,
        encoding="utf-8",
        errors="surrogateescape",
        timeout=60,
        cwd="/",
        check=False,
    )
    assert result.returncode == 0, result.stderr
    header, *rows = result.stdout.splitlines()
    assert len(rows) == 4, result.stdout
    assert not any(RAW.search(line) for line in rows), result.stdout
    column = cell_len(header[: header.index("User")])
    for row in rows:
        user = cast.user.shown if f"{boss.pid} {boss.shown}" in row else pwd.getpwuid(os.getuid()).pw_name
        assert cell_len(row[: row.rindex(f" {user} ") + 1]) == column, f"User not aligned:\n{header}\n{row}"


def test_real_terminal_gets_no_escape_sequence(cast: Cast, tmux: Tmux, sockui_script: Path) -> None:
    """In tmux: the names and cmdlines show escaped, and the pane's title, bell and buffers are untouched.

    A raw OSC 0 would retitle the pane ("pwn"), a raw BEL would flag the window, a raw OSC 52 would fill
    a paste buffer (set-clipboard on: tmux takes the clipboard writes of its panes).
    """
    boss, keeper = cast.boss, cast.others[0]
    tmux.start([str(sockui_script), "--filter", f"pid {boss.pid} or pid {keeper.pid}"], 200, 50)
    # Set before sockui can draw anything (it first starts Python and takes a snapshot).
    tmux.run("set-option", "-g", "set-clipboard", "on")
    title = tmux.pane("#{pane_title}")

    def table() -> str | None:
        screen = tmux.capture()
        return (
            screen
            if all(c.shown in screen for c in (boss, keeper)) and cast.path_shown[-12:] in screen
            else None
        )

    poll(table, START_TIMEOUT, "the hostile rows")
    tmux.send("Enter")  # the detail pane: the cursor row's owner and its cmdline
    screen = poll(
        lambda: (lambda s: s if r"\e]52;c;cHdu\x07" in s else None)(tmux.capture()), 30.0, "cmdline"
    )
    # The markup shows as text. Not "hostile_child.py [@click=..." on one line: the pane wraps the cmdline
    # at spaces, and where it wraps depends on the interpreter's path (CI checks out elsewhere).
    assert isinstance(screen, str) and "[@click=app.quit]x[/]" in screen, screen
    colours = tmux.run("capture-pane", "-p", "-e", "-t", "main").stdout
    leftover = re.sub(r"\x1b\[[0-9;:]*m", "", colours)  # -e writes the cells' colours as SGR, nothing else
    assert not RAW.search(leftover.replace("\n", "")), repr(RAW.search(leftover.replace("\n", "")))
    assert tmux.pane("#{pane_title}") == title, f"the pane was retitled: {tmux.pane('#{pane_title}')!r}"
    assert tmux.pane("#{window_bell_flag}") == "0", "a BEL reached the terminal"
    assert tmux.run("list-buffers").stdout == "", "an OSC 52 clipboard write reached the terminal"
    quit_and_wait(tmux)
