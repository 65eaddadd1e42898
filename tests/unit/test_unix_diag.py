"""unix_diag decoding of captured kernel replies: names, peers, pending clients, queues, uid.

``tests/data/unix.payloads.nl`` holds the replies for the UNIX sockets ``tests/data/capture.py`` opened
(a listener with an accepted and a pending client, a socketpair, an abstract datagram name with a
newline and a non-UTF-8 byte, its unnamed client, an unbound socket); ``sockets.json`` their facts.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import pytest

from sockui.collect import unix_diag
from sockui.collect.unix_diag import UnixSocket, build_request, decode, decode_name

DATA = Path(__file__).resolve().parent.parent / "data"
META: dict[str, Any] = json.loads((DATA / "sockets.json").read_text(encoding="utf-8"))
FACTS: dict[str, dict[str, Any]] = META["sockets"]


def read_records(name: str) -> list[bytes]:
    """The records of one ``*.nl`` capture: u32 little-endian length, then that many bytes."""
    blob = (DATA / name).read_bytes()
    records: list[bytes] = []
    off = 0
    while off < len(blob):
        (size,) = struct.unpack_from("<I", blob, off)
        records.append(blob[off + 4 : off + 4 + size])
        off += 4 + size
    return records


PAYLOADS: dict[int, bytes] = {struct.unpack_from("=I", p, 4)[0]: p for p in read_records("unix.payloads.nl")}


def raw(role: str) -> bytes:
    return PAYLOADS[FACTS[role]["inode"]]


def sock(role: str) -> UnixSocket:
    item = decode(memoryview(raw(role)))
    assert item is not None
    assert item.inode == FACTS[role]["inode"]
    assert item.cookie == FACTS[role]["cookie"]
    assert item.uid == FACTS[role]["uid"]
    return item


def inode(role: str) -> int:
    return int(FACTS[role]["inode"])


def test_every_captured_socket_decodes() -> None:
    roles = [r for r in FACTS if r.startswith("unix_")]
    assert {inode(r) for r in roles} == set(PAYLOADS)
    for role in roles:
        sock(role)


def test_listener_name_icons_and_backlog() -> None:
    item = sock("unix_listener")
    assert item.type == unix_diag.SOCK_STREAM
    assert item.state == unix_diag.TCP_LISTEN
    assert item.name == FACTS["unix_listener"]["name"]  # trailing NUL stripped
    assert item.name is not None and not item.name.endswith("\0")
    assert item.peer == 0
    # The client left in the accept queue, by its own inode; RQLEN = (queued, backlog).
    assert item.icons == (inode("unix_pending"),)
    assert (item.rqueue, item.wqueue) == (1, FACTS["unix_listener"]["backlog"])


def test_accepted_side_reports_listener_name_and_unread_bytes() -> None:
    item = sock("unix_server")
    assert item.state == unix_diag.TCP_ESTABLISHED
    assert item.name == FACTS["unix_server"]["name"]
    assert item.peer == inode("unix_client")
    assert item.rqueue == FACTS["unix_server"]["unread"]
    assert item.icons == ()


def test_client_is_unnamed_and_points_at_accepted_side() -> None:
    item = sock("unix_client")
    assert item.name is None
    assert item.peer == inode("unix_server")
    assert item.state == unix_diag.TCP_ESTABLISHED


def test_pending_client_has_no_peer_yet() -> None:
    item = sock("unix_pending")
    assert (item.state, item.peer, item.name) == (unix_diag.TCP_ESTABLISHED, 0, None)


def test_socketpair_ends_point_at_each_other() -> None:
    a, b = sock("unix_pair_a"), sock("unix_pair_b")
    assert (a.peer, b.peer) == (b.inode, a.inode)
    assert a.name is None and b.name is None


def test_abstract_name_with_hostile_bytes() -> None:
    item = sock("unix_abstract")
    expected_raw = bytes.fromhex(FACTS["unix_abstract"]["name_hex"])
    assert expected_raw.startswith(b"\0")
    assert item.name is not None and item.name.startswith("@")
    # The newline is kept; the byte that is not UTF-8 survives as a lone surrogate and round-trips.
    assert "\n" in item.name
    assert "\udcff" in item.name
    assert item.name[1:].encode("utf-8", "surrogateescape") == expected_raw[1:]
    assert item.type == unix_diag.SOCK_DGRAM
    # Somebody connected to this bound datagram socket: state 1, yet it has no peer of its own.
    assert (item.state, item.peer) == (unix_diag.TCP_ESTABLISHED, 0)


def test_abstract_client_points_at_server() -> None:
    item = sock("unix_abstract_client")
    assert item.name is None
    assert item.peer == inode("unix_abstract")
    assert item.type == unix_diag.SOCK_DGRAM


def test_unbound_socket() -> None:
    item = sock("unix_unbound")
    assert (item.name, item.peer, item.state, item.icons) == (None, 0, unix_diag.TCP_CLOSE, ())


def test_too_short_message_is_none() -> None:
    assert decode(memoryview(raw("unix_listener")[: unix_diag.MSG_SIZE - 1])) is None
    assert decode(memoryview(b"")) is None


def test_header_only_message() -> None:
    item = decode(memoryview(raw("unix_listener")[: unix_diag.MSG_SIZE]))
    assert item is not None
    assert item.inode == inode("unix_listener")
    assert (item.name, item.uid, item.icons) == (None, None, ())


def attribute_spans(payload: bytes) -> dict[int, tuple[int, int]]:
    """Attribute type -> (offset, length) in a captured payload, walked with struct alone."""
    spans: dict[int, tuple[int, int]] = {}
    off = unix_diag.MSG_SIZE
    while off + 4 <= len(payload):
        length, atype = struct.unpack_from("=HH", payload, off)
        spans[atype] = (off, length)
        off += (length + 3) & ~3
    return spans


def test_truncated_last_attribute_keeps_what_came_before() -> None:
    whole = raw("unix_server")
    spans = attribute_spans(whole)
    last_type = max(spans, key=lambda t: spans[t][0])
    assert last_type == unix_diag.UNIX_DIAG_UID  # the kernel sends UID last (unix/diag.c)
    off, length = spans[last_type]
    item = decode(memoryview(whole[: off + length - 1]))
    assert item is not None
    full = sock("unix_server")
    assert item.uid is None
    assert item._replace(uid=full.uid) == full


def test_truncated_first_attribute_keeps_header_fields() -> None:
    whole = raw("unix_server")
    off, length = attribute_spans(whole)[unix_diag.UNIX_DIAG_NAME]
    item = decode(memoryview(whole[: off + length - 3]))
    assert item is not None
    assert (item.inode, item.cookie, item.type, item.state) == (
        inode("unix_server"),
        FACTS["unix_server"]["cookie"],
        unix_diag.SOCK_STREAM,
        unix_diag.TCP_ESTABLISHED,
    )
    assert (item.name, item.peer, item.uid) == (None, 0, None)


def test_unknown_attributes_are_ignored() -> None:
    whole = raw("unix_listener")
    unknown = struct.pack("=HH", 7, 42) + b"abc" + b"\0" + struct.pack("=HH", 8, 0x3FF0) + b"wxyz"
    assert decode(memoryview(whole + unknown)) == decode(memoryview(whole))


def test_short_attribute_values_are_skipped() -> None:
    header = raw("unix_client")[: unix_diag.MSG_SIZE]
    short = b"".join(
        struct.pack("=HH", 6, atype) + b"\1\2" + b"\0\0"
        for atype in (unix_diag.UNIX_DIAG_PEER, unix_diag.UNIX_DIAG_RQLEN, unix_diag.UNIX_DIAG_UID)
    )
    item = decode(memoryview(header + short))
    assert item is not None
    assert (item.peer, item.rqueue, item.wqueue, item.uid) == (0, 0, 0, None)


def test_shutdown_attribute() -> None:
    header = raw("unix_client")[: unix_diag.MSG_SIZE]
    attr = struct.pack("=HHB", 5, unix_diag.UNIX_DIAG_SHUTDOWN, 2) + bytes(3)
    item = decode(memoryview(header + attr))
    assert item is not None and item.shutdown == 2


@pytest.mark.parametrize(
    ("raw_name", "text"),
    [
        (b"/run/x.sock\0", "/run/x.sock"),
        (b"/run/x.sock", "/run/x.sock"),
        (b"\0abstract", "@abstract"),
        (b"\0with\0nul\0", "@with\0nul\0"),  # abstract names keep every byte, NULs included
        (b"\x0012345", "@12345"),  # autobind: NUL + 5 hex digits
        (b"/tmp/\xff\xfe\0", "/tmp/\udcff\udcfe"),
        (b"\0", "@"),
    ],
)
def test_decode_name(raw_name: bytes, text: str) -> None:
    assert decode_name(raw_name) == text


def test_build_request_layout() -> None:
    req = build_request()
    assert len(req) == 24
    family, protocol, _pad, states, ino, show, ck_lo, ck_hi = struct.unpack("=BBHIIIII", req)
    assert (family, protocol, states, ino) == (1, 0, 0xFFFFFFFF, 0)
    assert (ck_lo, ck_hi) == (0xFFFFFFFF, 0xFFFFFFFF)
    for bit in (
        unix_diag.UDIAG_SHOW_NAME,
        unix_diag.UDIAG_SHOW_PEER,
        unix_diag.UDIAG_SHOW_ICONS,
        unix_diag.UDIAG_SHOW_RQLEN,
        unix_diag.UDIAG_SHOW_UID,
    ):
        assert show & bit
