"""inet_diag decoding of captured kernel replies, and the requests the collector builds.

The bytes in ``tests/data`` were dumped from real sockets by ``tests/data/capture.py``; ``sockets.json``
holds what that script knew about each socket (inode, cookie, ports) while it was open.
"""

from __future__ import annotations

import json
import socket
import struct
from pathlib import Path
from typing import Any

import pytest

from sockui.collect import inet_diag
from sockui.collect.inet_diag import AddressCache, InetSocket, build_exact, build_request, decode
from sockui.collect.netlink import SOCK_DIAG_BY_FAMILY, iter_messages

DATA = Path(__file__).resolve().parent.parent / "data"
META: dict[str, Any] = json.loads((DATA / "sockets.json").read_text(encoding="utf-8"))
FACTS: dict[str, dict[str, Any]] = META["sockets"]

TCP_ESTABLISHED = 1
TCP_TIME_WAIT = 6


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


def payloads(name: str) -> list[memoryview]:
    """The data-message payloads of a capture (datagram files are walked, payload files read as is)."""
    if name.endswith(".payloads.nl"):
        return [memoryview(r) for r in read_records(name)]
    return [p for d in read_records(name) for t, _f, _s, p in iter_messages(d) if t == SOCK_DIAG_BY_FAMILY]


def decoded(name: str, attrs: bool = True) -> list[InetSocket]:
    protocol = META["dumps"][name]["protocol"]
    cache = AddressCache()
    items = [decode(p, protocol, cache, attrs) for p in payloads(name)]
    assert all(i is not None for i in items)
    return [i for i in items if i is not None]


def by_inode(name: str, role: str, attrs: bool = True) -> InetSocket:
    inode = FACTS[role]["inode"]
    matches = [s for s in decoded(name, attrs) if s.inode == inode]
    assert len(matches) == 1, f"{role} (inode {inode}) in {name}"
    return matches[0]


def assert_matches_facts(item: InetSocket, role: str) -> None:
    """Every field the capture script knew: endpoints, inode, cookie, uid."""
    facts = FACTS[role]
    assert (item.src, item.sport) == tuple(facts["local"])
    if "remote" in facts:
        assert (item.dst, item.dport) == tuple(facts["remote"])
    assert item.inode == facts["inode"]
    assert item.cookie == facts["cookie"]
    assert item.uid == facts["uid"]


# --- captured TCP -----------------------------------------------------------------------------------


def test_tcp4_listener() -> None:
    item = by_inode("tcp4_local.dgrams.nl", "tcp4_listener")
    assert_matches_facts(item, "tcp4_listener")
    assert item.family == socket.AF_INET
    assert item.protocol == inet_diag.IPPROTO_TCP
    assert item.state == inet_diag.TCP_LISTEN
    assert (item.dst, item.dport) == ("0.0.0.0", 0)
    assert item.wqueue == 8  # a listener's wqueue is its backlog
    assert item.rqueue == 0


def test_tcp4_accepted_side_and_unread_bytes() -> None:
    item = by_inode("tcp4_local.dgrams.nl", "tcp4_server")
    assert_matches_facts(item, "tcp4_server")
    assert item.state == TCP_ESTABLISHED
    assert item.rqueue == FACTS["tcp4_server"]["unread"]


def test_tcp4_client_seen_from_remote_port_dump() -> None:
    item = by_inode("tcp4_remote.dgrams.nl", "tcp4_client")
    assert_matches_facts(item, "tcp4_client")
    assert item.state == TCP_ESTABLISHED
    assert item.dport == FACTS["tcp4_listener"]["local"][1]


def test_time_wait_entry() -> None:
    facts = FACTS["tcp4_time_wait"]
    matches = [s for s in decoded("tcp4_remote.dgrams.nl") if s.state == TCP_TIME_WAIT]
    assert len(matches) == 1
    item = matches[0]
    assert (item.src, item.sport, item.dst, item.dport) == (*facts["local"], *facts["remote"])
    # No inode, no uid, but the cookie of the live socket it was; the TIME_WAIT timer runs for ~60 s.
    assert (item.inode, item.uid) == (0, 0)
    assert item.cookie == facts["cookie"]
    assert item.timer == 3
    assert 0 < item.expires <= 60_000


def test_tcp6_addresses_compressed() -> None:
    listener = by_inode("tcp6_local.dgrams.nl", "tcp6_listener")
    assert_matches_facts(listener, "tcp6_listener")
    assert listener.family == socket.AF_INET6
    assert (listener.src, listener.dst) == ("::1", "::")
    server = by_inode("tcp6_local.dgrams.nl", "tcp6_server")
    assert_matches_facts(server, "tcp6_server")
    client = by_inode("tcp6_remote.dgrams.nl", "tcp6_client")
    assert_matches_facts(client, "tcp6_client")
    assert client.dport == listener.sport


def test_v4_mapped_addresses_in_ipv6_dump() -> None:
    listener = by_inode("dual_local.dgrams.nl", "dual_listener")
    server = by_inode("dual_local.dgrams.nl", "dual_server")
    assert listener.family == server.family == socket.AF_INET6
    assert listener.src == "::ffff:127.0.0.1"
    assert (server.src, server.dst) == ("::ffff:127.0.0.1", "::ffff:127.0.0.1")
    assert_matches_facts(server, "dual_server")
    # The IPv4 client of the same flow is in the AF_INET dump, plain dotted quad.
    client = by_inode("dual_remote.dgrams.nl", "dual_client")
    assert client.family == socket.AF_INET
    assert (client.src, client.sport) == ("127.0.0.1", server.dport)


def test_every_ipv6_address_is_canonical_text() -> None:
    for name in (
        "tcp6_local.dgrams.nl",
        "tcp6_remote.dgrams.nl",
        "dual_local.dgrams.nl",
        "udp6_local.dgrams.nl",
    ):
        for item in decoded(name):
            for address in (item.src, item.dst):
                packed = socket.inet_pton(socket.AF_INET6, address)
                assert address == socket.inet_ntop(socket.AF_INET6, packed) == address.lower()


def test_bound_inactive_reported_as_close() -> None:
    (item,) = decoded("tcp4_bound_inactive.payloads.nl")
    assert item.state == inet_diag.TCP_CLOSE
    assert_matches_facts(item, "tcp4_bound")
    assert item.tcp_info is None  # bound-inactive entries never carry INFO


# --- tcp_info only when asked -----------------------------------------------------------------------


@pytest.mark.parametrize("family", ["tcp4", "tcp6"])
def test_tcp_info_only_with_ext_info(family: str) -> None:
    plain = decoded(f"{family}_local.dgrams.nl")
    with_info = decoded(f"{family}_local_info.dgrams.nl")
    assert META["dumps"][f"{family}_local_info.dgrams.nl"]["ext"] & inet_diag.EXT_INFO
    assert META["dumps"][f"{family}_local.dgrams.nl"]["ext"] == 0
    assert all(s.tcp_info is None and s.cong is None for s in plain)
    assert with_info and all(s.tcp_info is not None for s in with_info)
    for s in with_info:
        assert s.tcp_info is not None
        assert len(s.tcp_info) >= 104  # at least the fields every supported kernel has
        assert s.tcp_info[0] == s.state  # tcp_info starts with the same state byte
        assert s.cong and s.cong.isascii() and "\0" not in s.cong
    # Same sockets, same header fields, whether or not the extensions were asked for.
    strip = [s._replace(tcp_info=None, cong=None) for s in with_info]
    assert sorted(strip, key=lambda s: s.inode) == sorted(plain, key=lambda s: s.inode)


@pytest.mark.parametrize("family", ["tcp4", "tcp6"])
def test_info_counters_read_in_place(family: str) -> None:
    """The rates' counters, read without decoding: the same numbers as the whole tcp_info's."""
    name = f"{family}_local_info.dgrams.nl"
    raw = payloads(name)
    for payload, item in zip(raw, decoded(name), strict=True):
        assert item.tcp_info is not None
        acked, received = struct.unpack_from("=QQ", item.tcp_info, 120)
        assert inet_diag.info_counters(payload) == (acked, received)
        # Cut inside the attribute, or with none at all: no counters, nothing raised.
        assert inet_diag.info_counters(payload[: inet_diag.MSG_SIZE + 8 + 100]) is None
        assert inet_diag.info_counters(payload[: inet_diag.MSG_SIZE]) is None
    for payload in payloads(f"{family}_local.dgrams.nl"):  # asked without INFO
        assert inet_diag.info_counters(payload) is None


def test_attrs_false_skips_the_attributes() -> None:
    item = by_inode("tcp4_local_info.dgrams.nl", "tcp4_server", attrs=False)
    assert item.tcp_info is None and item.cong is None
    assert_matches_facts(item, "tcp4_server")


# --- captured UDP -----------------------------------------------------------------------------------


def test_udp_bound_and_connected() -> None:
    server = by_inode("udp4_local.dgrams.nl", "udp4_server")
    assert_matches_facts(server, "udp4_server")
    assert server.protocol == inet_diag.IPPROTO_UDP
    assert server.state == inet_diag.TCP_CLOSE  # bound, unconnected
    assert server.rqueue > 0  # one unread datagram (memory, not payload bytes)
    client = by_inode("udp4_remote.dgrams.nl", "udp4_client")
    assert_matches_facts(client, "udp4_client")
    assert client.state == TCP_ESTABLISHED
    v6 = by_inode("udp6_local.dgrams.nl", "udp6_server")
    assert_matches_facts(v6, "udp6_server")
    assert v6.dst == "::"


# --- malformed input --------------------------------------------------------------------------------


def test_too_short_message_is_none() -> None:
    payload = payloads("tcp4_local.dgrams.nl")[0]
    assert decode(payload[: inet_diag.MSG_SIZE - 1], 6, AddressCache()) is None
    assert decode(memoryview(b""), 6, AddressCache()) is None
    assert decode(payload[: inet_diag.MSG_SIZE], 6, AddressCache()) is not None


def test_truncated_attribute_keeps_header_fields() -> None:
    name = "tcp4_local_info.dgrams.nl"
    whole = next(
        p for p in payloads(name) if struct.unpack_from("=I", p, 68)[0] == FACTS["tcp4_server"]["inode"]
    )
    # Cut inside the INFO attribute: its length now runs past the end of the message.
    cut = whole[: inet_diag.MSG_SIZE + 40]
    item = decode(cut, 6, AddressCache())
    assert item is not None
    assert_matches_facts(item, "tcp4_server")
    assert item.rqueue == FACTS["tcp4_server"]["unread"]
    assert item.tcp_info is None


def test_unknown_attributes_are_ignored() -> None:
    whole = bytes(payloads("tcp4_local_info.dgrams.nl")[0])
    unknown = struct.pack("=HH", 9, 99) + b"hello" + bytes(3) + struct.pack("=HH", 4, 0x3FFF)
    base = decode(memoryview(whole), 6, AddressCache())
    extended = decode(memoryview(whole + unknown), 6, AddressCache())
    assert base is not None and extended == base


def test_protocol_attribute_overrides_protocol() -> None:
    # RAW replies name the real protocol in INET_DIAG_PROTOCOL (10): e.g. ICMP (1) under a RAW dump.
    header = bytes(payloads("udp4_local.dgrams.nl")[0][: inet_diag.MSG_SIZE])
    attr = struct.pack("=HHB", 5, inet_diag.INET_DIAG_PROTOCOL, 1) + bytes(3)
    item = decode(memoryview(header + attr), inet_diag.IPPROTO_RAW, AddressCache())
    assert item is not None and item.protocol == 1
    plain = decode(memoryview(header), inet_diag.IPPROTO_RAW, AddressCache())
    assert plain is not None and plain.protocol == inet_diag.IPPROTO_RAW


def test_congestion_name_stops_at_nul() -> None:
    header = bytes(payloads("tcp4_local.dgrams.nl")[0][: inet_diag.MSG_SIZE])
    attr = struct.pack("=HH", 4 + 8, inet_diag.INET_DIAG_CONG) + b"cubic\0\0\0"
    item = decode(memoryview(header + attr), 6, AddressCache())
    assert item is not None and item.cong == "cubic"


def test_cookie_combines_both_words() -> None:
    header = bytearray(payloads("tcp4_local.dgrams.nl")[0][: inet_diag.MSG_SIZE])
    struct.pack_into("=II", header, 4 + 40, 0x89ABCDEF, 0x01234567)  # sockid at 4, cookie at +40
    item = decode(memoryview(bytes(header)), 6, AddressCache())
    assert item is not None and item.cookie == 0x0123456789ABCDEF


# --- requests ---------------------------------------------------------------------------------------


def test_build_request_layout() -> None:
    req = build_request(socket.AF_INET6, inet_diag.IPPROTO_UDP, ext=inet_diag.EXT_INFO, states=0x402)
    assert len(req) == 56
    assert struct.unpack_from("=BBBBI", req) == (socket.AF_INET6, 17, 2, 0, 0x402)
    assert req[8:48] == bytes(40)  # ports, addresses, ifindex: no filter
    assert req[48:] == b"\xff" * 8  # no cookie


def test_build_exact_layout() -> None:
    req = build_exact(
        socket.AF_INET6, 6, "::1", 443, "2001:db8::7", 51000, 0x0000000200000001, ext=2, raw_protocol=0
    )
    assert len(req) == 56
    assert struct.unpack_from(">HH", req, 8) == (443, 51000)
    assert req[12:28] == socket.inet_pton(socket.AF_INET6, "::1")
    assert req[28:44] == socket.inet_pton(socket.AF_INET6, "2001:db8::7")
    assert struct.unpack_from("=III", req, 44) == (0, 1, 2)
    v4 = build_exact(socket.AF_INET, 17, "10.0.0.1", 53, "", 0, None)
    assert v4[12:28] == bytes([10, 0, 0, 1]) + bytes(12)
    assert v4[28:44] == bytes(16)
    assert v4[48:] == b"\xff" * 8


def test_address_cache_text() -> None:
    cache = AddressCache()
    assert cache.v4(bytes([192, 168, 1, 2]) + bytes(12)) == "192.168.1.2"
    mapped = bytes(10) + b"\xff\xff" + bytes([10, 1, 2, 3])
    assert cache.v6(mapped) == "::ffff:10.1.2.3"
    upper = socket.inet_pton(socket.AF_INET6, "2001:DB8:0:0:0:0:0:1")
    assert cache.v6(upper) == "2001:db8::1"
    assert cache.v6(upper) is cache.v6(upper)  # memoised
