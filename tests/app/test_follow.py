"""The follow view on a real loopback connection: live states, byte counters, the close, the tuple kept.

The test owns both ends. It follows its client end from the table (``f``), sends 1,000,000 bytes,
then closes the server end first (the client goes to CLOSE_WAIT) and the client end (LAST_ACK, then
gone): the view must have shown ESTABLISHED, the closing states with times, "closed", counters that
grew by what was sent, and still name the 4-tuple afterwards. The numbers come from the follow
poller's exact netlink queries, not from the table's refreshes (whose interval here is an hour).
"""

from __future__ import annotations

import os
import socket

from sockui.app import SockuiApp
from sockui.model.follow import FollowTimeline
from sockui.screens.follow import FollowScreen

from .conftest import SocketBag
from .support import ONE_SNAPSHOT, move_cursor_to, screen_text, wait_for_snapshot, wait_until

SIZE = (120, 36)
PAYLOAD = 1_000_000


def _follow_screen(app: SockuiApp) -> FollowScreen | None:
    return app.screen if isinstance(app.screen, FollowScreen) else None


async def test_follow_a_connection_through_its_close(bag: SocketBag) -> None:
    listener = bag.listener()
    port = listener.getsockname()[1]
    client = bag.add(socket.create_connection(("127.0.0.1", port), timeout=5))
    server, _ = listener.accept()
    bag.add(server)
    client_port = client.getsockname()[1]
    app = SockuiApp(filter_text=f"port {port} and pid {os.getpid()}", interval=ONE_SNAPSHOT)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_snapshot(pilot, app)
        table = app.main.table
        row = next(
            r for r in table.records() if r.local is not None and getattr(r.local, "port", 0) == client_port
        )
        await move_cursor_to(pilot, table, row.key)
        await pilot.press("f")
        screen = await wait_until(pilot, lambda: _follow_screen(app), what="the follow view")
        timeline = screen.timeline
        assert isinstance(timeline, FollowTimeline)
        await wait_until(pilot, lambda: timeline.state == "ESTABLISHED", what="ESTABLISHED seen live")
        # It opens with the state the table showed, at the table's time; the owners come after it.
        await wait_until(pilot, lambda: len(timeline.events) >= 2, what="the owners in the timeline")
        first, snapshot = timeline.events[0], app.main.snapshot
        assert snapshot is not None and first.text == "ESTABLISHED", timeline.events
        assert first.time == snapshot.taken_at, (first, snapshot.taken_at)
        assert timeline.events[1].text.startswith(f"owners: {os.getpid()}/"), timeline.events

        client.sendall(b"x" * PAYLOAD)
        received = 0
        server.settimeout(10)
        while received < PAYLOAD:
            chunk = server.recv(1 << 20)
            assert chunk, "the server end closed early"
            received += len(chunk)

        def acked() -> int:
            info = timeline.info
            return (info.bytes_acked or 0) if info is not None else 0

        await wait_until(pilot, lambda: acked() >= PAYLOAD, what="1,000,000 bytes acked in tcp_info")
        # The kernel counts the SYN as one acked byte; nothing else was sent.
        assert PAYLOAD <= acked() <= PAYLOAD + 1, acked()
        assert any(s.send_rate for s in timeline.samples), "a send rate was measured"

        server.close()
        await wait_until(
            pilot, lambda: timeline.state == "CLOSE_WAIT", what="CLOSE_WAIT after the peer's FIN"
        )
        client.close()
        await wait_until(pilot, lambda: timeline.closed, what="the close")

        texts = [e.text for e in timeline.events]
        assert texts.index("ESTABLISHED") < texts.index("CLOSE_WAIT")
        closing = [t for t in texts if t.startswith("closed")]
        assert closing and "last state" in closing[0], texts
        times = [e.time for e in timeline.events]
        assert times == sorted(times), "timeline in time order"
        # After the close: the view stays, says so, names the tuple and keeps the numbers.
        await pilot.pause()
        shown = "\n".join(screen_text(app))
        tuple_text = f"127.0.0.1:{client_port} -> 127.0.0.1:{port}"
        assert tuple_text in shown and "CLOSED at" in shown, shown
        assert "CLOSE_WAIT" in shown and "ESTABLISHED" in shown
        assert f"acked {acked()}" in shown, "the last numbers are kept after close"

        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is app.main, what="back to the table")
        assert table.cursor_record is not None and table.cursor_record.key == row.key, "cursor where it was"
