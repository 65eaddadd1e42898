"""The group-by-process view (``g``), driven by Pilot on a bare host app with hand-made snapshots.

Proves: one node per process with its counts per binding state and total, most sockets first then by
pid, a socket shared by two processes counted under both, the ownerless sockets in their own node last;
the counts come from a worker thread while the screen says "counting…" and keeps handling keys (also
for a 20k-socket snapshot); expanding a process lists its sockets (listening first), at most
MAX_LEAVES of them and a "… N more" leaf; choosing a socket dismisses with its key, escape/q/g with
None; ← and → collapse and expand; processes beyond MAX_PROCESS_NODES come in batches on demand;
hostile process and user names show escaped and literal, and clicking them runs no action.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from rich.text import Text
from textual.pilot import Pilot
from textual.widgets import Static

import sockui.screens.processes as processes
from sockui.model.socket import Binding, Snapshot, SocketRecord
from sockui.screens.processes import (
    COUNTING,
    Grouping,
    MoreLeaf,
    MoreProcesses,
    ProcessesScreen,
    ProcessGroup,
)

from .modal_host import Host, find_on_screen, record, screen_lines, wait_until

SIZE = (150, 40)
L, C, B, U = Binding.LISTENING, Binding.CONNECTED, Binding.BOUND, Binding.UNBOUND
HOSTILE = "\x1b[31m[@click=app.quit]x"
HOSTILE_SHOWN = r"\e[31m[@click=app.quit]x"
TIMEOUT = 30.0


def snapshot(sockets: list[SocketRecord], users: dict[int, str] | None = None) -> Snapshot:
    return Snapshot(sockets=tuple(sockets), taken_at=time.time(), users=users or {0: "root", 1000: "bob"})


def sample() -> Snapshot:
    """nginx (10): 2 listening + 3 connected, one of them shared with 40; db (20): 5 connected + 1
    unbound; 30 and 31: 2 each (tie: by pid); 5: 1 bound; two TIME_WAIT sockets with no owner."""
    socks = [
        record(1, L, owners=((10, "nginx"),), port=80),
        record(2, L, owners=((10, "nginx"),), port=443),
        record(3, C, owners=((10, "nginx"),), port=443),
        record(4, C, owners=((10, "nginx"),), port=443),
        record(5, C, owners=((10, "nginx"), (40, "nginx-worker")), port=443),
        *[record(10 + i, C, owners=((20, "db"),), port=5432, uid=1000) for i in range(5)],
        record(16, U, owners=((20, "db"),), uid=1000),
        record(20, C, owners=((31, "b"),), port=7001),
        record(21, B, owners=((31, "b"),), port=7002),
        record(22, C, owners=((30, "a"),), port=7003),
        record(23, C, owners=((30, "a"),), port=7004),
        record(24, B, owners=((5, "small"),), port=9000),
        record(30, C, owners=(), port=443),
        record(31, C, owners=(), port=80),
    ]
    return snapshot(socks)


def screen_of(host: Host) -> ProcessesScreen:
    assert isinstance(host.modal, ProcessesScreen)
    return host.modal


async def counted(pilot: Pilot[Any], host: Host) -> ProcessesScreen:
    screen = screen_of(host)
    await wait_until(pilot, lambda: screen.grouping is not None, "the counts")
    await pilot.pause()
    return screen


def title(screen: ProcessesScreen) -> str:
    return str(screen.query_one("#processes-title", Static).content)


def top_nodes(screen: ProcessesScreen) -> list[Any]:
    return [node.data for node in screen.process_tree.root.children]


def label(screen: ProcessesScreen, index: int) -> str:
    text = screen.process_tree.root.children[index].label
    assert isinstance(text, Text)
    return text.plain


def words(text: str) -> str:
    return " ".join(text.split())


async def test_counts_per_process_and_order() -> None:
    host = Host(lambda: ProcessesScreen(sample()))
    async with host.run_test(size=SIZE) as pilot:
        screen = await counted(pilot, host)
        data = top_nodes(screen)
        assert all(isinstance(d, ProcessGroup) for d in data)
        assert [d.pid for d in data] == [20, 10, 30, 31, 5, 40, None], (
            "most first, ties by pid, ownerless last"
        )
        assert {d.pid: (d.counts, d.total) for d in data} == {
            20: ((0, 5, 0, 1), 6),
            10: ((2, 3, 0, 0), 5),
            30: ((0, 2, 0, 0), 2),
            31: ((0, 1, 1, 0), 2),
            5: ((0, 0, 1, 0), 1),
            40: ((0, 1, 0, 0), 1),
            None: ((0, 2, 0, 0), 2),
        }
        assert [words(label(screen, i)) for i in range(len(data))] == [
            "20 db (bob) listening 0 connected 5 bound 0 unbound 1 = 6",
            "10 nginx (root) listening 2 connected 3 bound 0 unbound 0 = 5",
            "30 a (root) listening 0 connected 2 bound 0 unbound 0 = 2",
            "31 b (root) listening 0 connected 1 bound 1 unbound 0 = 2",
            "5 small (root) listening 0 connected 0 bound 1 unbound 0 = 1",
            "40 nginx-worker (root) listening 0 connected 1 bound 0 unbound 0 = 1",
            "(no visible owner) listening 0 connected 2 bound 0 unbound 0 = 2",
        ]
        # Aligned: the counts start in the same column on every line.
        assert len({label(screen, i).index("listening") for i in range(len(data))}) == 1
        assert title(screen).startswith(
            "Processes · 6 processes · 18 sockets · 2 with no visible owner · as of "
        )
        assert COUNTING not in title(screen)
        lines = screen_lines(host)
        assert find_on_screen(host, "20 db") is not None, lines
        assert host.focused is screen.process_tree, "focus starts on the tree"
        assert screen.process_tree.cursor_line == 0


async def test_counting_happens_in_a_worker_while_keys_still_work(monkeypatch: pytest.MonkeyPatch) -> None:
    """20k sockets in 400 processes: the count is held back until the test has seen "counting…"."""
    release = threading.Event()
    threads: list[threading.Thread] = []
    real = processes.group_by_process

    def gated(snap: Snapshot) -> Grouping:
        threads.append(threading.current_thread())
        assert release.wait(TIMEOUT)
        return real(snap)

    monkeypatch.setattr(processes, "group_by_process", gated)
    socks = [
        record(i, L if i < 400 else C, owners=((1000 + i % 400, f"w{i % 400}"),), port=i % 60_000)
        for i in range(20_000)
    ]
    socks += [record(20_000 + i, C, owners=()) for i in range(300)]
    host = Host(lambda: ProcessesScreen(snapshot(socks)))
    async with host.run_test(size=SIZE) as pilot:
        screen = screen_of(host)
        await wait_until(pilot, lambda: threads, "the worker to start")
        assert threads[0] is not threading.main_thread()
        assert title(screen).startswith(f"Processes · {COUNTING} · 20300 sockets · as of ")
        assert find_on_screen(host, COUNTING) is not None
        # The UI thread is free: keys are handled while the count is pending.
        for key in ("down", "up", "right", "left", "space"):
            await pilot.press(key)
        assert host.modal_open and COUNTING in title(screen)
        release.set()
        screen = await counted(pilot, host)
        assert COUNTING not in title(screen)
        assert title(screen).startswith(
            "Processes · 400 processes · 20300 sockets · 300 with no visible owner"
        )
        data = top_nodes(screen)
        assert len(data) == 401
        groups = [d for d in data if isinstance(d, ProcessGroup)]
        assert sum(g.total for g in groups) == 20_300
        assert all(g.total == 50 and g.counts == (1, 49, 0, 0) for g in groups if g.pid is not None)
        assert [g.pid for g in groups[:3]] == [1000, 1001, 1002]
        assert groups[-1].pid is None and groups[-1].total == 300


async def test_expand_lists_sockets_and_choosing_one_dismisses_with_its_key() -> None:
    host = Host(lambda: ProcessesScreen(sample()))
    async with host.run_test(size=SIZE) as pilot:
        screen = await counted(pilot, host)
        tree = screen.process_tree
        await pilot.press("down")  # nginx
        await pilot.press("enter")
        nginx = tree.root.children[1]
        await wait_until(pilot, lambda: nginx.children, "nginx's sockets")
        assert nginx.is_expanded
        keys = [c.data.key for c in nginx.children if isinstance(c.data, SocketRecord)]
        assert keys == [1, 2, 3, 4, 5], "listening first, then by local endpoint"
        leaves = [words(c.label.plain) for c in nginx.children if isinstance(c.label, Text)]
        assert leaves[0] == "tcp LISTEN 127.0.0.1:80 fd 3"
        assert leaves[2].startswith("tcp ESTABLISHED 127.0.0.1:443 → 127.0.0.2:40003 fd 3")
        assert find_on_screen(host, "127.0.0.1:80") is not None
        await pilot.press("down", "down", "down")  # the first connection, key 3
        assert tree.cursor_node is not None and tree.cursor_node.data is nginx.children[2].data
        await pilot.press("enter")
        await wait_until(pilot, lambda: host.results, "the dismissal")
        assert host.results == [3]
        assert not host.modal_open


@pytest.mark.parametrize("key", ["escape", "q", "g"])
async def test_close_keys_dismiss_with_none(key: str) -> None:
    host = Host(lambda: ProcessesScreen(sample()))
    async with host.run_test(size=SIZE) as pilot:
        await counted(pilot, host)
        await pilot.press("enter")  # expand something first: still None
        await pilot.press(key)
        await wait_until(pilot, lambda: host.results, "the dismissal")
        assert host.results == [None]


async def test_escape_while_counting(monkeypatch: pytest.MonkeyPatch) -> None:
    release = threading.Event()
    real = processes.group_by_process

    def gated(snap: Snapshot) -> Grouping:
        release.wait(TIMEOUT)
        return real(snap)

    monkeypatch.setattr(processes, "group_by_process", gated)
    host = Host(lambda: ProcessesScreen(sample()))
    async with host.run_test(size=SIZE) as pilot:
        await pilot.press("escape")
        await wait_until(pilot, lambda: host.results, "the dismissal")
        assert host.results == [None]
        release.set()
        await pilot.pause(0.1)
        assert host.results == [None], "a count that arrives after closing changes nothing"


async def test_left_and_right_collapse_and_expand() -> None:
    host = Host(lambda: ProcessesScreen(sample()))
    async with host.run_test(size=SIZE) as pilot:
        screen = await counted(pilot, host)
        tree = screen.process_tree
        db = tree.root.children[0]
        await pilot.press("right")
        await wait_until(pilot, lambda: db.children, "db's sockets")
        assert db.is_expanded
        await pilot.press("right")
        assert tree.cursor_node is db.children[0], "→ on an expanded node goes to its first child"
        await pilot.press("left")
        assert tree.cursor_node is db, "← on a leaf goes to its process"
        await pilot.press("left")
        assert db.is_collapsed
        await pilot.press("space")
        assert db.is_expanded, "space toggles"
        await pilot.press("enter")
        assert db.is_collapsed, "enter toggles a process"
        assert host.modal_open


async def test_leaves_are_capped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(processes, "MAX_LEAVES", 20)
    socks = [record(i, C, owners=((7, "busy"),), port=2000 + i) for i in range(25)]
    socks += [record(100 + i, C, owners=(), port=3000 + i) for i in range(23)]
    host = Host(lambda: ProcessesScreen(snapshot(socks)))
    async with host.run_test(size=SIZE) as pilot:
        screen = await counted(pilot, host)
        busy, ownerless = screen.process_tree.root.children
        busy.expand()
        ownerless.expand()
        await wait_until(pilot, lambda: busy.children and ownerless.children, "the leaves")
        assert len(busy.children) == 21
        more = busy.children[-1]
        assert isinstance(more.data, MoreLeaf) and isinstance(more.label, Text)
        assert more.label.plain.startswith("… 5 more") and "pid 7" in more.label.plain
        assert len(ownerless.children) == 21 and ownerless.children[-1].label
        screen.process_tree.select_node(more)
        await pilot.pause()
        assert host.modal_open and not host.results, "the '… more' leaf is not a socket"
        # Choosing an ownerless socket jumps to it too.
        screen.process_tree.select_node(ownerless.children[0])
        await wait_until(pilot, lambda: host.results, "the dismissal")
        assert host.results == [100]


async def test_processes_come_in_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(processes, "MAX_PROCESS_NODES", 3)
    socks = [
        record(pid * 100 + i, C, owners=((pid, f"p{pid}"),)) for pid in range(1, 8) for i in range(10 - pid)
    ]
    socks.append(record(5000, C, owners=()))
    host = Host(lambda: ProcessesScreen(snapshot(socks)))
    async with host.run_test(size=SIZE) as pilot:
        screen = await counted(pilot, host)
        data = top_nodes(screen)
        assert [d.pid for d in data[:3]] == [1, 2, 3]
        assert isinstance(data[3], MoreProcesses)
        assert words(label(screen, 3)) == "… 4 more processes, 18 sockets (enter: show more)"
        assert data[4].pid is None
        await pilot.press("down", "down", "down", "enter")
        data = top_nodes(screen)
        assert [getattr(d, "pid", "more") for d in data] == [1, 2, 3, 4, 5, 6, "more", None]
        assert screen.process_tree.cursor_node is not None
        assert screen.process_tree.cursor_node.data is data[3], (
            "the cursor is on the first newly shown process"
        )
        await pilot.press("down", "down", "down", "enter")
        assert [getattr(d, "pid", "more") for d in top_nodes(screen)] == [1, 2, 3, 4, 5, 6, 7, None]


async def test_hostile_names_are_shown_literally_and_clicking_them_does_nothing() -> None:
    socks = [
        record(1, L, owners=((66, HOSTILE),), port=8080, uid=1001),
        record(2, C, owners=((66, HOSTILE),), port=8080, uid=1001),
        record(3, C, owners=((77, "[bold]plain[/bold]"),), uid=1001),
    ]
    users = {1001: "\x1b]0;pwn\x07[@click=app.quit]u"}
    host = Host(lambda: ProcessesScreen(snapshot(socks, users)))
    async with host.run_test(size=SIZE) as pilot:
        screen = await counted(pilot, host)
        assert words(label(screen, 0)).startswith(
            f"66 {HOSTILE_SHOWN} " + r"(\e]0;pwn\x07[@click=app.quit]u)"
        )
        assert words(label(screen, 1)).startswith("77 [bold]plain[/bold]")
        spot = find_on_screen(host, HOSTILE_SHOWN)
        assert spot is not None, screen_lines(host)
        assert find_on_screen(host, "[bold]plain[/bold]") is not None
        assert find_on_screen(host, "[@click=app.quit]u") is not None
        node = screen.process_tree.root.children[0]
        x, y = spot
        await pilot.click(offset=(x + HOSTILE_SHOWN.index("[@") + 2, y))
        await pilot.pause()
        assert host.is_running and host.return_code is None, "the click ran no action"
        assert host.modal_open and node.is_expanded, "a click on a label toggles it, as on any label"
        user = find_on_screen(host, "[@click=app.quit]u")
        assert user is not None
        await pilot.click(offset=(user[0] + 3, user[1]))
        await pilot.pause()
        assert host.is_running and host.return_code is None and host.modal_open
        assert node.is_collapsed


async def test_empty_snapshot() -> None:
    host = Host(lambda: ProcessesScreen(snapshot([])))
    async with host.run_test(size=SIZE) as pilot:
        screen = await counted(pilot, host)
        assert top_nodes(screen) == []
        assert title(screen).startswith("Processes · 0 processes · 0 sockets · as of ")
        await pilot.press("down", "enter", "right", "left", "space")
        assert host.modal_open
        await pilot.press("escape")
        await wait_until(pilot, lambda: host.results, "the dismissal")
        assert host.results == [None]
