"""Pilot tests against real sockets the test opens: the end-to-end truth of the TUI on this kernel.

Proves: the filter narrows the table to a listener's port; ``p`` jumps from a client to the accepted
server-side socket (held by this very process) and back; each ``b`` step lists only sockets of that
binding class, with a bound UDP socket under ``bound`` and a bare ``socket()`` under ``unbound``; and
a socket closed by the test lingers as "closed", then leaves on a later refresh while the cursor stays
on the socket it was on.
"""

from __future__ import annotations

import os
import socket

from sockui.app import SockuiApp
from sockui.model.socket import Binding, InetEndpoint

from .conftest import Loopback, SocketBag
from .support import (
    ONE_SNAPSHOT,
    inode,
    keys_of,
    move_cursor_to,
    record_by_inode,
    row_status,
    settle,
    wait_for_key,
    wait_for_snapshot,
    wait_until,
)

SIZE = (160, 45)
#: For waits spanning several real refreshes.
LONG = 60.0


async def test_filter_then_pair_jump_and_back(loopback: Loopback) -> None:
    app = SockuiApp(interval=ONE_SNAPSHOT)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_snapshot(pilot, app)
        await pilot.press("slash", *f"port {loopback.port}", "enter")
        await settle(pilot, app)
        table = app.main.table
        assert not app.main.query_one("#filter-bar").display, "enter applied the filter and closed the bar"

        inodes = {inode(loopback.listener), inode(loopback.client), inode(loopback.server)}
        shown = {r.inode for r in table.records()}
        assert inodes <= shown, "the listener, the client and the accepted socket are all listed"
        for rec in table.records():
            ports = {ep.port for ep in (rec.local, rec.remote) if isinstance(ep, InetEndpoint)}
            assert loopback.port in ports, f"{rec} does not match 'port {loopback.port}'"

        client = record_by_inode(table, inode(loopback.client))
        server = record_by_inode(table, inode(loopback.server))
        assert client is not None and server is not None
        # The client's local port is the ephemeral one; the accepted socket has the listener's port.
        assert getattr(client.local, "port", None) == loopback.client.getsockname()[1]
        assert getattr(server.local, "port", None) == loopback.port

        await move_cursor_to(pilot, table, client.key)
        await pilot.press("p")
        landed = table.cursor_record
        assert landed is not None and landed.key == server.key, "p lands on the accepted (server-side) socket"
        assert landed.inode == inode(loopback.server)
        assert os.getpid() in landed.pids, "the accepted socket is held by the test process"

        await pilot.press("p")
        back = table.cursor_record
        assert back is not None and back.key == client.key, "p again goes back to the client"
        assert back.inode == inode(loopback.client)


async def test_binding_cycle_lists_only_that_class(bag: SocketBag, loopback: Loopback) -> None:
    udp = bag.new(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    bare = bag.new()  # socket() and nothing else: in no kernel table, found through /proc
    expected_class = {
        inode(loopback.listener): Binding.LISTENING,
        inode(loopback.client): Binding.CONNECTED,
        inode(loopback.server): Binding.CONNECTED,
        inode(udp): Binding.BOUND,
        inode(bare): Binding.UNBOUND,
    }
    app = SockuiApp(interval=ONE_SNAPSHOT)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_snapshot(pilot, app)
        table = app.main.table
        everything = {r.inode for r in table.records()}
        assert set(expected_class) <= everything, "with no filter every socket of the test is listed"

        for binding in (Binding.LISTENING, Binding.CONNECTED, Binding.BOUND, Binding.UNBOUND):
            await pilot.press("b")
            await settle(pilot, app)
            assert app.main.view.binding is binding
            records = table.records()
            assert records, f"nothing listed under {binding}"
            wrong = [r for r in records if r.binding is not binding]
            assert not wrong, f"under {binding} the table lists {wrong[:3]}"
            mine = {r.inode for r in records if r.inode in expected_class}
            assert mine == {ino for ino, cls in expected_class.items() if cls is binding}

        await pilot.press("b")
        await settle(pilot, app)
        assert app.main.view.binding is None, "b after unbound comes back to all"
        assert set(expected_class) <= {r.inode for r in table.records()}


async def test_closed_socket_leaves_and_cursor_stays(bag: SocketBag) -> None:
    first, second = bag.listener(), bag.listener()
    # The victim sorts above the keeper (Local column, by port): when its row goes, the keeper's
    # line number changes, so only a keyed cursor stays on it.
    victim, keeper = sorted((first, second), key=lambda s: s.getsockname()[1])
    ports = f"port {victim.getsockname()[1]} or port {keeper.getsockname()[1]}"
    # pid too: another process may use the same port number on another address.
    app = SockuiApp(filter_text=f"pid {os.getpid()} and ({ports})", interval=0.3)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_snapshot(pilot, app)
        table = app.main.table
        victim_rec = record_by_inode(table, inode(victim))
        keeper_rec = record_by_inode(table, inode(keeper))
        assert victim_rec is not None and keeper_rec is not None
        assert keys_of(table) == [victim_rec.key, keeper_rec.key]
        await move_cursor_to(pilot, table, keeper_rec.key)

        victim.close()
        statuses: set[str | None] = set()

        def gone() -> bool:
            statuses.add(row_status(table, victim_rec.key))
            return victim_rec.key not in keys_of(table)

        # Two refreshes are needed (closed, then gone after its moment); a refresh of a machine with
        # 100k sockets costs seconds and the loop then waits twice that, hence the long deadline.
        await wait_until(pilot, gone, timeout=LONG, what="the closed socket's row to go")
        assert "closed" in statuses, f"the row never showed as closed before leaving (saw {statuses})"
        cursor = table.cursor_record
        assert cursor is not None and cursor.key == keeper_rec.key, "the cursor stayed on its socket"
        assert keys_of(table) == [keeper_rec.key]
        # Still gone on the next refresh (not a flicker).
        await wait_for_snapshot(pilot, app, app.snapshots_applied, timeout=LONG)
        await wait_for_key(pilot, table, victim_rec.key, present=False)
        assert table.cursor_record is not None and table.cursor_record.key == keeper_rec.key
