"""Events from snapshots and destroy messages, merged without duplicates; the bounded history ring.

Hand-made records and messages: the kernel side (real destroy messages) is tested in
tests/collect/test_destroy_events.py and end to end in tests/collect/test_events_cli.py.
"""

from __future__ import annotations

import json
import struct

from sockui.model.event_export import event_json, event_line
from sockui.model.history import (
    CLOSED,
    OPENED,
    REMAIN_NOTE,
    STATE,
    Destroyed,
    EventTracker,
    HistoryRing,
    SocketEvent,
)
from sockui.model.socket import Binding, Family, InetEndpoint, Owner, Proto, Snapshot, SocketRecord, SockType


def tcp(
    cookie: int, lport: int, rport: int | None, state: str = "ESTABLISHED", pid: int = 10
) -> SocketRecord:
    listening = rport is None
    return SocketRecord(
        proto=Proto.TCP,
        family=Family.IPV4,
        type=SockType.STREAM,
        state="LISTEN" if listening else state,
        binding=Binding.LISTENING if listening else Binding.CONNECTED,
        local=InetEndpoint("127.0.0.1", lport),
        remote=None if rport is None else InetEndpoint("127.0.0.1", rport),
        inode=cookie + 1000,
        uid=0,
        owners=(Owner(pid, 3, "nginx"),),
        cookie=cookie,
        netns=7,
        netns_label="host",
    )


def unix(inode: int) -> SocketRecord:
    return SocketRecord(
        proto=Proto.UNIX,
        family=Family.UNIX,
        type=SockType.STREAM,
        state="ESTABLISHED",
        binding=Binding.CONNECTED,
        local=None,
        remote=None,
        inode=inode,
        uid=0,
    )


def snap(at: float, *sockets: SocketRecord) -> Snapshot:
    return Snapshot(sockets=sockets, taken_at=at)


def info(sent: int, received: int, retrans: int) -> bytes:
    """A tcp_info: ``sent`` payload bytes (plus 5 retransmitted), acked counting a SYN and a FIN."""
    buf = bytearray(232)
    struct.pack_into("I", buf, 100, retrans)
    struct.pack_into("QQ", buf, 120, sent + 2, received)
    struct.pack_into("QQ", buf, 200, sent + 5, 5)
    return bytes(buf)


def destroyed(
    cookie: int, lport: int, rport: int | None, at: float, tcp_info: bytes | None = None
) -> Destroyed:
    return Destroyed(
        time=at,
        proto=Proto.TCP,
        family=Family.IPV4,
        local=InetEndpoint("127.0.0.1", lport),
        remote=None if rport is None else InetEndpoint("127.0.0.1", rport),
        cookie=cookie,
        netns=7,
        tcp_info=tcp_info,
    )


def kinds(events: list[SocketEvent]) -> list[tuple[str, int | None]]:
    return [(e.kind, e.record.cookie if e.record.cookie is not None else -e.record.inode) for e in events]


def test_first_snapshot_is_the_baseline_then_opened_and_state() -> None:
    tracker = EventTracker()
    assert tracker.snapshot(snap(100.0, tcp(1, 80, None), tcp(2, 80, 5000))) == []
    events = tracker.snapshot(snap(101.0, tcp(1, 80, None), tcp(2, 80, 5000, "CLOSE_WAIT"), tcp(3, 80, 5001)))
    assert kinds(events) == [(STATE, 2), (OPENED, 3)]
    assert events[0].previous_state == "ESTABLISHED" and events[0].record.state == "CLOSE_WAIT"
    assert events[1].first_seen == 101.0


def test_unix_close_comes_from_the_snapshot_at_once() -> None:
    tracker = EventTracker()
    tracker.snapshot(snap(100.0, unix(55)))
    tracker.snapshot(snap(101.0, unix(55)))
    events = tracker.snapshot(snap(102.0))
    assert kinds(events) == [(CLOSED, -55)]
    assert events[0].source == "snapshot" and events[0].lifetime == 2.0


def test_tcp_close_waits_for_the_destroy_message_and_takes_its_counters() -> None:
    tracker = EventTracker(grace=3.0)
    tracker.snapshot(snap(100.0, tcp(1, 80, None), tcp(2, 80, 5000)))
    assert tracker.snapshot(snap(101.0, tcp(1, 80, None))) == []  # gone: a destroy message should come
    events = tracker.destroyed([destroyed(2, 80, 5000, 101.2, info(1234, 99, 3))])
    assert kinds(events) == [(CLOSED, 2)]
    closed = events[0]
    assert (closed.bytes_sent, closed.bytes_received, closed.retransmits) == (1234, 99, 3)
    assert closed.record.owners == (Owner(10, 3, "nginx"),)  # what the snapshot knew
    assert closed.record.state == "ESTABLISHED" and closed.source == "destroy"
    assert closed.lifetime is not None and abs(closed.lifetime - 1.2) < 1e-9
    # Neither the same message again nor the grace period brings a second close.
    assert tracker.destroyed([destroyed(2, 80, 5000, 101.3)]) == []
    assert tracker.snapshot(snap(110.0, tcp(1, 80, None))) == []


def test_tcp_close_from_the_snapshot_when_no_message_came() -> None:
    tracker = EventTracker(grace=3.0)
    tracker.snapshot(snap(100.0, tcp(2, 80, 5000)))
    assert tracker.snapshot(snap(101.0)) == []
    assert tracker.snapshot(snap(102.0)) == []
    events = tracker.snapshot(snap(104.5))
    assert kinds(events) == [(CLOSED, 2)]
    assert events[0].source == "snapshot" and events[0].time == 101.0


def test_time_wait_remains_of_a_destroyed_socket_are_not_news() -> None:
    tracker = EventTracker()
    tracker.snapshot(snap(100.0, tcp(2, 5000, 80)))
    assert kinds(tracker.destroyed([destroyed(2, 5000, 80, 100.5)])) == [(CLOSED, 2)]
    # The dumps still show cookie 2, now in TIME_WAIT, then it expires.
    assert tracker.snapshot(snap(101.0, tcp(2, 5000, 80, "TIME_WAIT"))) == []
    assert tracker.snapshot(snap(102.0)) == []


def remain(cookie: int, lport: int, rport: int, state: str = "TIME_WAIT") -> SocketRecord:
    """What a dump shows of a closed connection: no inode, no owner."""
    return tcp(cookie, lport, rport, state)._replace(inode=0, owners=())


def test_remains_of_a_connection_no_snapshot_saw_are_neither_opened_nor_closed_again() -> None:
    # The kernel makes cookies lazily: the destroy message (cookie 50) and the TIME_WAIT remain's first
    # dump (cookie 51) of one connection no snapshot saw carry different cookies.
    tracker = EventTracker(grace=3.0)
    tracker.snapshot(snap(100.0, tcp(1, 80, None)))
    assert kinds(tracker.destroyed([destroyed(50, 40000, 80, 100.2)])) == [(CLOSED, 50)]
    assert tracker.snapshot(snap(101.0, tcp(1, 80, None), remain(51, 40000, 80, "FIN_WAIT2"))) == []
    # Its substate changing is no news either, and neither is it going (60 s later, or ss -K).
    assert tracker.snapshot(snap(102.0, tcp(1, 80, None), remain(51, 40000, 80))) == []
    assert tracker.snapshot(snap(103.0, tcp(1, 80, None))) == []
    assert tracker.snapshot(snap(110.0, tcp(1, 80, None))) == []
    # Remains already there at the start are not closed when they go.
    tracker = EventTracker(grace=3.0)
    tracker.snapshot(snap(100.0, remain(60, 40001, 80)))
    assert tracker.snapshot(snap(101.0)) == [] and tracker.snapshot(snap(105.0)) == []
    # A live socket with no process (an orphan) that a destroy message then closes is still closed once.
    tracker = EventTracker(grace=3.0)
    tracker.snapshot(snap(100.0))
    assert tracker.snapshot(snap(101.0, remain(70, 40002, 80, "FIN_WAIT2"))) == []
    assert kinds(tracker.destroyed([destroyed(70, 40002, 80, 101.5)])) == [(CLOSED, 70)]
    assert tracker.snapshot(snap(102.0)) == [] and tracker.snapshot(snap(106.0)) == []


def test_without_a_listener_a_remain_is_the_close_of_its_connection() -> None:
    tracker = EventTracker(destroy_events=False)
    tracker.snapshot(snap(100.0))
    events = tracker.snapshot(snap(101.0, remain(51, 40000, 80)))
    assert kinds(events) == [(CLOSED, 51)] and events[0].note == REMAIN_NOTE
    assert tracker.snapshot(snap(102.0)) == []  # said once
    # A connection seen alive, then in TIME_WAIT, closes when the remain goes (nothing else says it).
    tracker.snapshot(snap(103.0, tcp(2, 40003, 80)))
    assert kinds(tracker.snapshot(snap(104.0, tcp(2, 40003, 80, "TIME_WAIT")))) == [(STATE, 2)]
    assert kinds(tracker.snapshot(snap(105.0))) == [(CLOSED, 2)]


def test_a_connection_no_snapshot_saw_names_the_listeners_owner() -> None:
    tracker = EventTracker()
    tracker.snapshot(snap(100.0, tcp(1, 8080, None, pid=4242)))
    events = tracker.destroyed([destroyed(99, 8080, 40000, 100.3, info(10, 20, 0))])
    assert kinds(events) == [(CLOSED, 99)]
    event = events[0]
    assert event.first_seen is None and event.lifetime is None and event.record.owners == ()
    assert event.note.startswith("lived < one refresh; likely 4242 nginx"), event.note
    assert event.record.netns_label == ""  # the snapshot named no namespaces
    # An outbound one (no listener on its port): no guess.
    assert tracker.destroyed([destroyed(98, 40001, 8080, 100.4)])[0].note == "lived < one refresh"


def test_closes_say_whether_a_listener_accepted_them() -> None:
    """inbound: True on a listener's port (this side served), False otherwise (ephemeral), None: no tuple."""
    tracker = EventTracker(destroy_events=False)
    tracker.snapshot(snap(100.0, tcp(1, 80, None), tcp(2, 80, 5000), tcp(3, 5001, 443), unix(55)))
    # The listener closes with its connection: the snapshot before still knew it listened.
    gone = tracker.snapshot(snap(101.0))
    events = {e.record.cookie if e.record.cookie is not None else -e.record.inode: e for e in gone}
    assert events[2].inbound is True and events[3].inbound is False and events[-55].inbound is None
    assert events[1].inbound is None, "a listener is no connection"
    tracker = EventTracker()
    tracker.snapshot(snap(100.0, tcp(1, 8080, None)))
    made = tracker.destroyed([destroyed(99, 8080, 40000, 100.3), destroyed(98, 40000, 8080, 100.3)])
    assert [e.inbound for e in made] == [True, False]


def test_ring_keeps_the_last_n() -> None:
    ring = HistoryRing(3)
    events = [SocketEvent(float(i), CLOSED, tcp(i, 80, 5000 + i)) for i in range(4)]
    assert ring.extend(events) == 4
    assert [e.record.cookie for e in ring.items()] == [1, 2, 3]
    assert (len(ring), ring.added) == (3, 4)
    serial = ring.serial
    assert ring.extend([SocketEvent(5.0, OPENED, tcp(5, 80, 1))]) == 0  # only closes are history
    assert ring.serial == serial


def test_event_json() -> None:
    tracker = EventTracker()
    tracker.snapshot(snap(100.0, tcp(2, 80, 5000)))
    closed = tracker.destroyed([destroyed(2, 80, 5000, 100.5, info(7, 8, 1))])[0]
    obj = json.loads(event_line(closed))
    assert obj == event_json(closed)
    assert list(obj)[:3] == ["time", "event", "proto"]
    assert (obj["event"], obj["bytes_sent"], obj["bytes_received"], obj["retransmits"]) == ("closed", 7, 8, 1)
    assert obj["lifetime"] == 0.5 and obj["local"] == {"address": "127.0.0.1", "port": 80}
    assert obj["netns"] == {"inode": 7, "name": "host"}
    assert obj["inbound"] is False, "no listener on port 80 was seen"
    state = SocketEvent(1.0, STATE, tcp(3, 80, 1, "CLOSE_WAIT"), previous_state="ESTABLISHED")
    assert json.loads(event_line(state))["previous_state"] == "ESTABLISHED"
    assert "bytes_sent" not in json.loads(event_line(SocketEvent(1.0, OPENED, tcp(3, 80, 1))))
