"""The history view (``h``): closed connections, newest first, counted, filtered, detailed, followed.

End to end (real collector, real kernel): the test makes 20 short loopback connections to a listener of
its own, from 127.0.0.1, 127.0.0.2 and 127.0.0.3, each carrying its own number of bytes, all closed
before a refresh can see them. The history view lists every client and accepted socket (heard from the
kernel's destroy messages) with the bytes each sent; ``/`` + ``port P`` narrows the view to those and
the title says how many match; the count lines add up to the rows per remote address and per local
port; ``enter`` shows every field of the entry; ``esc`` closes the detail, then the view.

Scripted (a source replaying a list of snapshots, ``taken_at`` 100, 101, 103, 105…): a UNIX socket
gone from a snapshot is closed at once; a TCP socket gone is closed at once too when closes can only
come from snapshots (a scripted source: no destroy listener), and only after the 3 s grace of snapshot
time when a destroy listener runs (the real keeper, as with the real collector); entries are listed
newest first; ``f`` on an entry follows its tuple. The ring bound: ``history=5`` keeps the last 5 of
every close seen, and the title says so.
"""

from __future__ import annotations

import re
import socket
import threading
from collections import Counter
from collections.abc import Sequence
from typing import Any

from textual.pilot import Pilot
from textual.widgets import DataTable, Input, Static

from sockui.app import SockuiApp
from sockui.collect.history import HistoryKeeper
from sockui.model.follow import FlowId
from sockui.model.history import SocketEvent
from sockui.model.socket import InetEndpoint, Snapshot, SocketRecord
from sockui.screens.follow import FollowScreen
from sockui.screens.history import HistoryScreen

from .conftest import SocketBag
from .scripted import NEVER, FakeDetails, refresh, unix
from .support import static_text, tcp, wait_for_snapshot, wait_until

SIZE = (160, 45)
#: Where the 20 connections come from: (source address, how many).
SOURCES = (("127.0.0.1", 10), ("127.0.0.2", 5), ("127.0.0.3", 5))


# -- helpers ----------------------------------------------------------------------------------------------


def history_screen(app: SockuiApp) -> HistoryScreen | None:
    return app.screen if isinstance(app.screen, HistoryScreen) else None


async def open_history(pilot: Pilot[Any], app: SockuiApp) -> HistoryScreen:
    await pilot.press("h")
    screen: HistoryScreen = await wait_until(pilot, lambda: history_screen(app), what="the history view")
    return screen


def title(screen: HistoryScreen) -> str:
    return static_text(screen.query_one("#history-title", Static))


Ports = list[tuple[int, int]]


def counts(screen: HistoryScreen) -> tuple[list[tuple[str, int]], Ports, Ports]:
    """The three count lines parsed: [(remote address, n)], [(served port, n)], [(used port, n)]."""
    lines = static_text(screen.query_one("#history-counts", Static)).split("\n")
    heads = ("by remote ", "by local port (inbound) ", "by remote port (outbound) ")
    assert len(lines) == 3 and all(line.startswith(h) for line, h in zip(lines, heads, strict=True)), lines
    by_remote, served, used = (line.removeprefix(h) for line, h in zip(lines, heads, strict=True))
    remotes = [(a, int(n)) for a, n in re.findall(r"(\S+) ×(\d+)", by_remote)]
    return (
        remotes,
        [(int(p), int(n)) for p, n in re.findall(r"(\d+) ×(\d+)", served)],
        [(int(p), int(n)) for p, n in re.findall(r"(\d+) ×(\d+)", used)],
    )


def rows(screen: HistoryScreen) -> tuple[SocketEvent, ...]:
    """The entries the table lists, top to bottom (checked against the table's cells)."""
    view = screen.view
    if view is None:
        return ()
    table = screen.query_one("#history-table", DataTable)
    if table.row_count != len(view.rows):
        return ()  # the table is being refilled
    return view.rows


def cells(screen: HistoryScreen, index: int) -> list[str]:
    table = screen.query_one("#history-table", DataTable)
    return [str(cell) for cell in table.get_row_at(index)]


def tuple_of(event: SocketEvent) -> tuple[str, int, str, int] | None:
    local, remote = event.record.local, event.record.remote
    if isinstance(local, InetEndpoint) and isinstance(remote, InetEndpoint):
        return local.address, local.port, remote.address, remote.port
    return None


def recv_exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        assert chunk, f"peer closed after {len(data)} of {size} bytes"
        data += chunk
    return data


# -- end to end ---------------------------------------------------------------------------------------------


async def test_history_of_real_connections_counts_filter_detail(bag: SocketBag) -> None:
    listener = bag.listener()
    port = listener.getsockname()[1]
    app = SockuiApp(interval=0.5)
    async with app.run_test(size=SIZE) as pilot:
        # The first snapshot started the destroy listener: closes from now on are heard.
        await wait_for_snapshot(pilot, app)
        # (client tuple, server tuple) -> bytes the client sent (the server sends nothing back).
        made: dict[tuple[tuple[str, int, str, int], tuple[str, int, str, int]], int] = {}
        k = 0
        for address, many in SOURCES:
            for _ in range(many):
                k += 1
                client = bag.new()
                client.settimeout(10)
                client.bind((address, 0))
                client.connect(("127.0.0.1", port))
                server, _ = listener.accept()
                bag.add(server)
                server.settimeout(10)
                client.sendall(b"x" * k)
                recv_exactly(server, k)
                cport = client.getsockname()[1]
                made[(address, cport, "127.0.0.1", port), ("127.0.0.1", port, address, cport)] = k
                client.close()
                server.close()
        clients = {c: n for (c, _), n in made.items()}
        servers = {s: n for (_, s), n in made.items()}

        screen = await open_history(pilot, app)

        def listed() -> dict[tuple[str, int, str, int], SocketEvent] | None:
            found = {tuple_of(e): e for e in rows(screen)}
            if not set(clients) | set(servers) <= set(found):
                return None
            return {t: e for t, e in found.items() if t is not None and (t in clients or t in servers)}

        mine = await wait_until(pilot, listed, what="the 40 closes in the history view")
        assert "kept (of" in title(screen), title(screen)
        for key, event in mine.items():
            assert event.record.proto.value == "tcp"
            assert event.source == "destroy", event
            if event.lifetime is None:  # no refresh saw it: it lived less than one
                assert event.note.startswith("lived < one refresh"), event
            if key in clients:
                assert event.bytes_sent == clients[key], event
                assert event.bytes_received in (0, 1), event
            else:
                assert event.bytes_sent == 0, event
                assert event.bytes_received in (servers[key], servers[key] + 1), event

        # Cells of one row: the client that sent the most, found by its place in the table.
        last_client = max(clients, key=clients.__getitem__)
        index = next(i for i, e in enumerate(rows(screen)) if tuple_of(e) == last_client)
        row = cells(screen, index)
        assert row[1:4] == ["tcp", f"{last_client[0]}:{last_client[1]}", f"127.0.0.1:{port}"], row
        assert row[6] == f"{clients[last_client]} B", row
        if mine[last_client].lifetime is None:
            assert row[5] == "< refresh", row

        # / + port P: only those; the title says "matching".
        await pilot.press("slash", *f"port {port}")
        assert screen.query_one("#history-filter", Input).has_focus

        def filtered() -> tuple[SocketEvent, ...]:
            view = screen.view
            if view is None or view.source != f"port {port}" or "matching" not in title(screen):
                return ()
            return rows(screen)

        shown = await wait_until(pilot, filtered, what="the filtered history")
        assert static_text(screen.query_one("#history-error", Static)) == ""
        shown_tuples = [tuple_of(e) for e in shown]
        assert sorted(t for t in shown_tuples if t is not None) == sorted([*clients, *servers])
        assert len(shown) == 2 * sum(n for _, n in SOURCES) == 40
        assert title(screen).startswith("Closed connections: 40 matching (of "), title(screen)
        kept = re.search(r"of ([\d,]+) kept", title(screen))
        assert kept is not None and int(kept.group(1).replace(",", "")) >= 40, title(screen)
        times = [e.time for e in shown]
        assert times == sorted(times, reverse=True), "newest first"

        # The count lines add up: per remote address, per port served and per port used.
        remotes, served, used = counts(screen)
        per_remote = Counter(
            e.record.remote.address for e in shown if isinstance(e.record.remote, InetEndpoint)
        )
        assert dict(remotes) == dict(per_remote), (remotes, per_remote)
        assert dict(remotes) == {"127.0.0.1": 10 + 20, "127.0.0.2": 5, "127.0.0.3": 5}
        assert [n for _, n in remotes] == sorted((n for _, n in remotes), reverse=True)
        # The 20 accepted sockets were served on the listener's port; the 20 clients used it. The clients'
        # ephemeral local ports (20 different ones) are counted nowhere.
        assert served == [(port, 20)], served
        assert used == [(port, 20)], used
        assert [e.inbound for e in shown].count(True) == 20 and [e.inbound for e in shown].count(False) == 20

        # enter: the filter line hands over to the table; enter again: the detail of the top entry.
        await pilot.press("enter")
        table = screen.query_one("#history-table", DataTable)
        assert table.has_focus
        detail = screen.query_one("#history-detail", Static)
        assert not detail.display
        await pilot.press("enter")
        await wait_until(pilot, lambda: detail.display, what="the detail")
        top = shown[table.cursor_row]
        text = static_text(detail)
        local, remote = top.record.local, top.record.remote
        assert isinstance(local, InetEndpoint) and isinstance(remote, InetEndpoint)
        assert f"{local.address}:{local.port}" in text and f"{remote.address}:{remote.port}" in text, text
        assert "by a kernel destroy message" in text and f"sent {top.bytes_sent} B" in text, text

        await pilot.press("escape")
        assert not detail.display and app.screen is screen, "esc closed the detail, not the view"
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is app.main, what="back to the table")


# -- scripted -----------------------------------------------------------------------------------------------


class Replay:
    """A snapshot source replaying ``snapshots`` one per collection (the last one again at the end)."""

    def __init__(self, snapshots: Sequence[Snapshot]) -> None:
        self._lock = threading.Lock()
        self._snapshots = list(snapshots)
        self.collects = 0

    def add(self, snapshot: Snapshot) -> None:
        with self._lock:
            self._snapshots.append(snapshot)

    def collect(self) -> Snapshot:
        with self._lock:
            snapshot = self._snapshots[min(self.collects, len(self._snapshots) - 1)]
            self.collects += 1
            return snapshot

    def cancel(self) -> None:
        pass

    def close(self) -> None:
        pass


def snap(at: float, *sockets: SocketRecord) -> Snapshot:
    return Snapshot(sockets=sockets, taken_at=at, duration=0.001, users={0: "root"})


LISTENER = tcp(10, 5000, "LISTEN", name="srv")
CONN_A = tcp(11, 5000, remote_port=4001, name="srv")
CONN_B = tcp(12, 5000, remote_port=4002, name="srv")
UNIX_U = unix(13, None, inode=9013, remote="/run/x.sock", name="cli")


def scripted(source: Replay, history: int = 100_000) -> SockuiApp:
    return SockuiApp(interval=NEVER, source=lambda: source, details=FakeDetails(), history=history)


async def replay(pilot: Pilot[Any], app: SockuiApp, source: Replay, upto: int) -> None:
    """Collect until ``upto`` snapshots were taken."""
    while source.collects < upto:
        await refresh(pilot, app)


def keys(events: Sequence[SocketEvent]) -> list[int]:
    return [e.record.key for e in events]


async def test_scripted_closes_newest_first_and_follow_a_tuple() -> None:
    # Without a destroy listener (a scripted source) every close comes from the snapshots, at once.
    source = Replay(
        [
            snap(100.0, LISTENER, CONN_A, CONN_B, UNIX_U),
            snap(101.0, LISTENER, CONN_B),  # U and A gone
            snap(105.0, LISTENER),  # B gone
        ]
    )
    app = scripted(source)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_snapshot(pilot, app)
        await replay(pilot, app, source, 2)
        screen = await open_history(pilot, app)
        first = await wait_until(pilot, lambda: rows(screen), what="the first closes")
        assert sorted(keys(first)) == sorted([UNIX_U.key, CONN_A.key]), first
        assert {e.time for e in first} == {101.0}
        assert title(screen).startswith("Closed connections: 2 kept (of 2 seen"), title(screen)
        assert [e.lifetime for e in first] == [1.0, 1.0], "seen at 100, gone at 101"

        # The view stays live: B's close (at 105) comes on top.
        await replay(pilot, app, source, 3)
        listed = await wait_until(pilot, lambda: len(rows(screen)) == 3 and rows(screen), what="B's close")
        assert listed[0].record.key == CONN_B.key and listed[0].time == 105.0, listed
        assert [e.time for e in listed] == sorted((e.time for e in listed), reverse=True), "newest first"
        assert cells(screen, 0)[2:5] == ["127.0.0.1:5000", "127.0.0.1:4002", "ESTABLISHED"]
        assert cells(screen, 0)[5] == "5.0s", "lived from 100 to 105"
        remotes, served, used = counts(screen)
        assert dict(remotes) == {"127.0.0.1": 2}, "the UNIX socket has no address"
        assert dict(served) == {5000: 2} and used == [], "accepted by the listener on 5000"

        # f on A: the follow view, pinned to A's tuple.
        table = screen.query_one("#history-table", DataTable)
        table.focus()
        index = keys(listed).index(CONN_A.key)
        while table.cursor_row != index:
            await pilot.press("down" if table.cursor_row < index else "up")
        assert screen.current is not None and screen.current.record.key == CONN_A.key
        await pilot.press("f")
        follow = await wait_until(
            pilot,
            lambda: app.screen if isinstance(app.screen, FollowScreen) else None,
            what="the follow view",
        )
        assert follow.flow == FlowId.of(CONN_A)
        assert app.follows.get(FlowId.of(CONN_A)) is not None
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is screen, what="back to the history view")


async def test_scripted_tcp_close_waits_for_the_grace_with_a_listener() -> None:
    # With destroy messages heard (the real keeper, as with the real collector), a TCP socket gone from a
    # snapshot is closed only when no message named it within 3 s of snapshot time, at the time it went.
    # The listener hears the host's real closes too: the view is filtered to the scripted sockets.
    source = Replay(
        [
            snap(100.0, LISTENER, CONN_A, CONN_B, UNIX_U),
            snap(101.0, LISTENER, CONN_B),  # U gone: closed at once; A gone: wait
            snap(103.0, LISTENER, CONN_B),  # 2 s: A still waits
            snap(104.5, LISTENER),  # 3.5 s: A closed (at 101); B gone: waits
        ]
    )
    app = scripted(source)
    app.keeper = HistoryKeeper(app.history, listen=True)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_snapshot(pilot, app)
        screen = await open_history(pilot, app)
        await pilot.press("slash", *"(unix or port 5000) and pid 4242", "enter")

        def scripted_rows(n: int) -> tuple[SocketEvent, ...]:
            found = rows(screen)
            view = screen.view
            return found if view is not None and view.source and len(found) == n else ()

        await replay(pilot, app, source, 2)
        after_101 = await wait_until(pilot, lambda: scripted_rows(1), what="U's close")
        assert keys(after_101) == [UNIX_U.key]
        await replay(pilot, app, source, 3)
        # The keeper took snapshot 3 before it was applied: what it closed is in the ring now.
        scripted_keys = {CONN_A.key, CONN_B.key, UNIX_U.key}
        assert [e.record.key for e in app.history.items() if e.record.key in scripted_keys] == [UNIX_U.key], (
            "A waits for its destroy message (2 s < 3 s)"
        )
        await replay(pilot, app, source, 4)
        after_105 = await wait_until(pilot, lambda: scripted_rows(2), what="A's close after the grace")
        assert keys(after_105) == [CONN_A.key, UNIX_U.key], "newest first"
        closed_a = after_105[0]
        assert closed_a.time == 101.0 and closed_a.lifetime == 1.0 and closed_a.source == "snapshot"


async def test_ring_bound_keeps_the_last_n_and_says_so() -> None:
    socks = [unix(100 + i, None, inode=9100 + i, remote=f"/run/s{i}.sock") for i in range(9)]
    source = Replay(
        [
            snap(100.0, *socks),
            snap(101.0, *socks[3:]),  # 3 closed
            snap(102.0, *socks[7:]),  # 4 more
            snap(103.0, *socks[8:]),  # 1 more: 8 seen, the last 5 kept
        ]
    )
    app = scripted(source, history=5)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_snapshot(pilot, app)
        await replay(pilot, app, source, 4)
        screen = await open_history(pilot, app)
        listed = await wait_until(pilot, lambda: rows(screen), what="the kept closes")
        assert title(screen) == "Closed connections: 5 kept (of 8 seen; the last 5 are kept)", title(screen)
        assert listed[0].record.key == socks[7].key and listed[0].time == 103.0, "the newest on top"
        assert set(keys(listed)) == {s.key for s in socks[3:8]}, "the 5 newest; the 3 oldest dropped"
        # One more while the view is open: still 5, of 9.
        source.add(snap(104.0))
        await replay(pilot, app, source, 5)
        await wait_until(
            pilot, lambda: "of 9 seen" in title(screen), what="the title to count the ninth close"
        )
        assert title(screen) == "Closed connections: 5 kept (of 9 seen; the last 5 are kept)"
        assert rows(screen)[0].record.key == socks[8].key
        assert len(rows(screen)) == 5
