"""Fuzzing the netlink decoders with damaged kernel replies: each fails only the way its docstring says.

The decoders run on every refresh and on every destroy event, on bytes from the kernel: whatever those
bytes are (a newer kernel's layout, a short read, a bug), a decoder may only do what it documents:

- ``netlink.iter_messages`` raises :class:`NetlinkProtocolError` (an OSError the refresh loop handles);
- ``netlink.iter_attrs`` stops quietly at a truncated attribute; ``netlink.error_code`` gives 0 when short;
- ``inet_diag.decode`` and ``unix_diag.decode`` return None only for a message shorter than its struct;
- ``inet_diag.info_counters`` returns None without a long enough INET_DIAG_INFO;
- ``events.decode_datagram`` never raises, it counts what it could not trust;
- ``tcpinfo.decode`` leaves a field None exactly when the struct is too short to hold it.

Anything else escaping (IndexError, struct.error, UnicodeDecodeError, ValueError...) would end a refresh
or the listener thread. The inputs start from the real captures in ``tests/data`` (as
tests/unit/test_inet_diag.py reads them) and are cut at every length, have every byte flipped and every
length field set to the values that break walks (0, 3, one past, huge), then hypothesis mixes those
damages with appended and inserted garbage. Hypothesis runs derandomized so CI sees the same inputs.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sockui.collect import events, inet_diag, netlink, unix_diag
from sockui.collect.netlink import NetlinkProtocolError
from sockui.model import tcpinfo

#: As in test_fuzz_filters.py: derandomized for CI, no example database, no deadline on a shared machine.
FUZZ = settings(
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=600,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

DATA = Path(__file__).resolve().parent.parent / "data"
META: dict[str, Any] = json.loads((DATA / "sockets.json").read_text(encoding="utf-8"))


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


# --- seeds: the captures, and where their length fields are --------------------------------------


@dataclass(frozen=True)
class Seed:
    """A captured buffer and the offsets of its length fields, worked out here and not by the decoders."""

    name: str
    data: bytes
    #: (offset, struct format) of every nlmsg_len ("=I") and nla_len ("=H") in ``data``.
    lengths: tuple[tuple[int, str], ...]


def _attr_lengths(data: bytes, start: int, end: int) -> Iterator[tuple[int, str]]:
    off = start
    while off + 4 <= end:
        (length,) = struct.unpack_from("=H", data, off)
        yield off, "=H"
        if length < 4:
            return
        off += (length + 3) & ~3


def _datagram_lengths(data: bytes, header: int) -> Iterator[tuple[int, str]]:
    """nlmsg_len fields, and the nla_len fields after each message's fixed ``header``-byte struct."""
    off = 0
    while off + 16 <= len(data):
        (length,) = struct.unpack_from("=I", data, off)
        yield off, "=I"
        (mtype,) = struct.unpack_from("=H", data, off + 4)
        if mtype == netlink.SOCK_DIAG_BY_FAMILY:
            yield from _attr_lengths(data, off + 16 + header, off + length)
        off += (length + 3) & ~3


def _seeds() -> tuple[list[Seed], list[Seed], list[Seed], list[bytes]]:
    datagrams: list[Seed] = []
    inet: list[Seed] = []
    for name in sorted(META["dumps"]):
        for i, record in enumerate(read_records(name)):
            label = f"{name}#{i}"
            if name.startswith("unix"):
                continue
            if name.endswith(".payloads.nl"):
                inet.append(
                    Seed(label, record, tuple(_attr_lengths(record, inet_diag.MSG_SIZE, len(record))))
                )
                continue
            datagrams.append(Seed(label, record, tuple(_datagram_lengths(record, inet_diag.MSG_SIZE))))
            for mtype, _flags, _seq, payload in netlink.iter_messages(record):
                if mtype == netlink.SOCK_DIAG_BY_FAMILY:
                    body = bytes(payload)
                    lengths = tuple(_attr_lengths(body, inet_diag.MSG_SIZE, len(body)))
                    inet.append(Seed(f"{label}/{len(inet)}", body, lengths))
    unix = [
        Seed(f"unix#{i}", r, tuple(_attr_lengths(r, unix_diag.MSG_SIZE, len(r))))
        for i, r in enumerate(read_records("unix.payloads.nl"))
    ]
    infos = [
        bytes(value)
        for seed in inet
        for atype, value in netlink.iter_attrs(memoryview(seed.data), inet_diag.MSG_SIZE)
        if atype == inet_diag.INET_DIAG_INFO
    ]
    return datagrams, inet, unix, infos


DATAGRAMS, INET, UNIX, TCP_INFOS = _seeds()


def test_the_seeds_cover_every_decoder() -> None:
    # Fuzzing from nothing would mostly test the length checks at the top: make sure the real thing is here.
    assert len(DATAGRAMS) >= 10 and len(INET) >= 10 and len(UNIX) >= 5 and TCP_INFOS
    assert all(any(fmt == "=H" for _off, fmt in seed.lengths) for seed in INET + UNIX)
    assert all(len(info) >= 232 for info in TCP_INFOS)


# --- what each decoder may do --------------------------------------------------------------------

_GROUPS = (0, events.GROUP_TCP4, events.GROUP_UDP4, events.GROUP_TCP6, events.GROUP_UDP6, 0x3, 0x10)
_ADDRS = inet_diag.AddressCache()


def _views(data: bytes) -> tuple[memoryview, memoryview]:
    """The two kinds of buffer the collectors hand over: a copy (dumps) and a reused bytearray (events)."""
    return memoryview(data), memoryview(bytearray(data))[: len(data)]


def check_attrs(buf: memoryview, start: int) -> None:
    """iter_attrs stops quietly, and soon; each value is exactly what its header claims, all inside."""
    off = start  # where the next attribute starts, followed here independently of iter_attrs
    for count, (atype, value) in enumerate(netlink.iter_attrs(buf, start)):
        assert count <= len(buf) // 4, "the walk does not advance"
        (length,) = struct.unpack_from("=H", buf, off)
        assert len(value) == length - 4 and off + length <= len(buf)
        assert 0 <= atype <= netlink.NLA_TYPE_MASK
        off += (length + 3) & ~3


def check_inet(data: bytes) -> None:
    for view in _views(data):
        # With attributes (the TCP dumps asking for INFO) and without (attrs=False skips the walk).
        for protocol, attrs in ((inet_diag.IPPROTO_TCP, True), (inet_diag.IPPROTO_UDP, False)):
            item = inet_diag.decode(view, protocol, _ADDRS, attrs)
            assert (item is None) == (len(data) < inet_diag.MSG_SIZE)
            if item is None:
                continue
            assert isinstance(item.src, str) and isinstance(item.dst, str)
            assert 0 <= item.sport <= 0xFFFF and 0 <= item.dport <= 0xFFFF
            assert 0 <= item.protocol <= 0xFF and 0 <= item.cookie < 2**64
            assert item.cong is None or isinstance(item.cong, str)
            if not attrs:
                assert (item.tcp_info, item.cong, item.protocol) == (None, None, protocol)
            elif item.tcp_info is not None:
                check_tcpinfo(item.tcp_info)
        counters = inet_diag.info_counters(view)
        assert counters is None or all(isinstance(c, int) and 0 <= c < 2**64 for c in counters)
        check_attrs(view, inet_diag.MSG_SIZE)


def check_unix(data: bytes) -> None:
    for view in _views(data):
        item = unix_diag.decode(view)
        assert (item is None) == (len(data) < unix_diag.MSG_SIZE)
        if item is None:
            continue
        assert item.name is None or isinstance(item.name, str)
        assert all(isinstance(i, int) for i in item.icons)
        assert item.uid is None or 0 <= item.uid < 2**32
        check_attrs(view, unix_diag.MSG_SIZE)


_TCPINFO_SIZES = {name: offset + struct.calcsize("=" + fmt) for name, offset, fmt in tcpinfo._LAYOUT}


def check_tcpinfo(raw: bytes) -> None:
    info = tcpinfo.decode(raw)
    for f in fields(info):
        value = getattr(info, f.name)
        assert (value is None) == (_TCPINFO_SIZES[f.name] > len(raw)), f.name


def check_datagram(data: bytes, groups: tuple[int, ...] = (0, events.GROUP_TCP4)) -> None:
    """Messages walk or stop with NetlinkProtocolError; the destroy-event decoder only counts damage.

    Payloads get the light check here: their own damage is the inet and unix seeds' business.
    """
    for view in _views(data):
        off = 0  # where the next message starts, followed here independently of iter_messages
        try:
            for mtype, _flags, _seq, payload in netlink.iter_messages(view):
                (length,) = struct.unpack_from("=I", data, off)
                assert len(payload) == length - 16 and off + length <= len(data)
                off += (length + 3) & ~3
                assert isinstance(mtype, int)
                assert isinstance(netlink.error_code(payload), int)
                if mtype == netlink.SOCK_DIAG_BY_FAMILY:
                    item = inet_diag.decode(payload, inet_diag.IPPROTO_TCP, _ADDRS)
                    assert (item is None) == (len(payload) < inet_diag.MSG_SIZE)
        except NetlinkProtocolError as exc:
            assert isinstance(exc, OSError)
    for group in groups:
        found, malformed = events.decode_datagram(_views(data)[1], group, 4026531840, 12.5, _ADDRS)
        assert malformed >= 0 and (found or malformed), "a datagram is events or something malformed"
        for event in found:
            assert event.sock.protocol != 0 and (event.netns, event.time) == (4026531840, 12.5)


def check_any(data: bytes) -> None:
    """Bytes of unknown shape: every decoder at once."""
    check_datagram(data)
    check_inet(data)
    check_unix(data)
    check_tcpinfo(data)
    assert isinstance(netlink.error_code(memoryview(data)), int)


# --- systematic damage: every cut, every byte, every length field ----------------------------------

_LENGTH_VALUES = (0, 1, 3, 4, 5, 15, 16, 17, 72, 73)


def _with_length(data: bytes, off: int, fmt: str, value: int) -> bytes:
    buf = bytearray(data)
    struct.pack_into(fmt, buf, off, value & (0xFFFF if fmt == "=H" else 0xFFFFFFFF))
    return bytes(buf)


def _damaged(seed: Seed) -> Iterator[bytes]:
    data = seed.data
    for cut in range(len(data)):
        yield data[:cut]
    for i in range(len(data)):
        for flip in (0xFF, 0x80):
            yield data[:i] + bytes([data[i] ^ flip]) + data[i + 1 :]
    for off, fmt in seed.lengths:
        (current,) = struct.unpack_from(fmt, data, off)
        for value in (*_LENGTH_VALUES, current - 1, current + 1, len(data) - off, len(data) - off + 1, -1):
            yield _with_length(data, off, fmt, value)
        # Every length up to a little past the real one, the buffer ending where that length says:
        # the field is then the last thing in the buffer, so a decoder trusting it reads past the end.
        for value in range(current + 9):
            yield _with_length(data, off, fmt, value)[: off + value]
    for tail in (b"\0", b"\xff" * 3, b"\xff" * 4, b"\x04\x00\x02\x00", b"\x08\x00\x02\x00", bytes(17)):
        yield data + tail


@pytest.mark.parametrize("seed", DATAGRAMS, ids=lambda s: s.name)
def test_damaged_datagrams(seed: Seed) -> None:
    for data in _damaged(seed):
        check_datagram(data)


@pytest.mark.parametrize("seed", INET, ids=lambda s: s.name)
def test_damaged_inet_payloads(seed: Seed) -> None:
    for data in _damaged(seed):
        check_inet(data)


@pytest.mark.parametrize("seed", UNIX, ids=lambda s: s.name)
def test_damaged_unix_payloads(seed: Seed) -> None:
    for data in _damaged(seed):
        check_unix(data)


def test_tcp_info_cut_at_every_length() -> None:
    for info in TCP_INFOS:
        for cut in range(len(info) + 1):
            check_tcpinfo(info[:cut])
        check_tcpinfo(info + bytes(100))


_KNOWN_TYPES = (
    inet_diag.INET_DIAG_INFO,
    inet_diag.INET_DIAG_CONG,
    inet_diag.INET_DIAG_PROTOCOL,
    unix_diag.UNIX_DIAG_NAME,
    unix_diag.UNIX_DIAG_PEER,
    unix_diag.UNIX_DIAG_ICONS,
    unix_diag.UNIX_DIAG_RQLEN,
    unix_diag.UNIX_DIAG_SHUTDOWN,
    unix_diag.UNIX_DIAG_UID,
)


@pytest.mark.parametrize("atype", _KNOWN_TYPES)
def test_every_read_attribute_at_every_length_as_the_last_bytes(atype: int) -> None:
    """Each attribute a decoder reads, of every length from 0 to past tcp_info's, ending the message.

    Last in the message, an attribute shorter than its decoder expects has nothing after it to read
    by mistake: a missing length check shows up as an exception rather than as a wrong value. The
    payload bytes are 0xff so a name is not valid UTF-8 and a count is as large as it gets.
    """
    for header, base in ((inet_diag.MSG_SIZE, INET[0].data), (unix_diag.MSG_SIZE, UNIX[0].data)):
        for length in range(300):
            value = b"\xff" * max(length - 4, 0)
            for claimed in (length, length + 1):
                data = base[:header] + struct.pack("=HH", claimed, atype) + value
                check_inet(data)
                check_unix(data)
                check_datagram(
                    struct.pack("=IHHII", 16 + len(data), netlink.SOCK_DIAG_BY_FAMILY, 0, 0, 0) + data, (1,)
                )


# --- random damage, several at once --------------------------------------------------------------


@st.composite
def mutated(draw: st.DrawFn, seeds: list[Seed]) -> bytes:
    """A seed with up to five damages: a cut, a flipped or set byte, a bad length, garbage in or after."""
    seed = draw(st.sampled_from(seeds))
    data = bytearray(seed.data)
    for _ in range(draw(st.integers(1, 5))):
        kind = draw(st.sampled_from(["cut", "flip", "length", "length", "append", "insert", "delete"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "cut":
            del data[at:]
        elif kind == "flip" and data:
            data[at] ^= draw(st.integers(1, 255))
        elif kind == "length" and seed.lengths:
            off, fmt = draw(st.sampled_from(seed.lengths))
            if off + struct.calcsize(fmt) <= len(data):
                top = 0xFFFF if fmt == "=H" else 0xFFFFFFFF
                value = draw(st.one_of(st.sampled_from((*_LENGTH_VALUES, top, top - 3)), st.integers(0, top)))
                struct.pack_into(fmt, data, off, value)
        elif kind == "append":
            data += draw(st.binary(max_size=300))
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=12))
        elif kind == "delete":
            del data[at : at + draw(st.integers(1, 8))]
    return bytes(data)


@FUZZ
@given(mutated(DATAGRAMS), st.sampled_from(_GROUPS))
def test_mutated_datagrams(data: bytes, group: int) -> None:
    check_datagram(data, (group,))


@settings(FUZZ, max_examples=500)
@given(mutated(INET))
def test_mutated_inet_payloads(data: bytes) -> None:
    check_inet(data)


@settings(FUZZ, max_examples=500)
@given(mutated(UNIX))
def test_mutated_unix_payloads(data: bytes) -> None:
    check_unix(data)


@settings(FUZZ, max_examples=300)
@given(st.sampled_from(TCP_INFOS), st.integers(0, 400), st.binary(max_size=64))
def test_mutated_tcp_info(info: bytes, cut: int, tail: bytes) -> None:
    check_tcpinfo(info[:cut] + tail)


@settings(FUZZ, max_examples=800)
@given(st.binary(max_size=600))
def test_random_bytes(data: bytes) -> None:
    check_any(data)


#: Every attribute type a decoder reads (inet: INFO, CONG, PROTOCOL; unix: NAME, PEER, ICONS, RQLEN,
#: SHUTDOWN, UID), with and without the NLA_F_NESTED / NLA_F_NET_BYTEORDER bits, or any type at all.
_ATTR_TYPES = st.one_of(
    st.sampled_from([0, 2, 3, 4, 6, 7, 10]).flatmap(lambda t: st.sampled_from([t, t | 0x8000, t | 0x4000])),
    st.integers(0, 0xFFFF),
)
#: Short values: long ones, up to past tcp_info's counters, are the systematic test's above.
_ATTR_VALUES = st.binary(max_size=16)


@settings(FUZZ, max_examples=300)
@given(
    st.lists(st.tuples(st.integers(0, 0xFFFF), _ATTR_TYPES, _ATTR_VALUES), min_size=1, max_size=6),
    st.sampled_from([inet_diag.MSG_SIZE, unix_diag.MSG_SIZE]),
)
def test_random_attributes_after_a_real_header(attrs: list[tuple[int, int, bytes]], header: int) -> None:
    """Well-framed or not, attributes of any type and length after a real fixed struct.

    Types cover every attribute the decoders read (INFO, CONG, PROTOCOL; NAME, PEER, ICONS, RQLEN, UID,
    SHUTDOWN) with payloads of any size, so each one's own length check is exercised.
    """
    base = (INET if header == inet_diag.MSG_SIZE else UNIX)[0].data[:header]
    body = b"".join(struct.pack("=HH", length, atype) + value for length, atype, value in attrs)
    framed = b"".join(
        struct.pack("=HH", 4 + len(value), atype) + value + bytes(-len(value) % 4)
        for _length, atype, value in attrs
    )
    for data in (base + body, base + framed):
        check_inet(data)
        check_unix(data)
        message = struct.pack("=IHHII", 16 + len(data), netlink.SOCK_DIAG_BY_FAMILY, 2, 1, 0) + data
        check_datagram(message)
