"""Netlink framing: message and attribute walks on captured and hand-made bytes, and the dump loop.

The captured datagrams come from ``tests/data/capture.py`` (format at its top). The dump loop is run
twice over: against the real kernel for the error paths a kernel really takes, and over scripted
datagrams for the paths a kernel only takes under races (a stale sequence number, EBUSY).
"""

from __future__ import annotations

import errno
import json
import os
import socket
import struct
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from sockui.collect import inet_diag, netlink, unix_diag
from sockui.collect.netlink import (
    NLM_F_MULTI,
    NLMSG_DONE,
    NLMSG_ERROR,
    NLMSG_NOOP,
    SOCK_DIAG_BY_FAMILY,
    NetlinkError,
    NetlinkProtocolError,
    NetlinkSocket,
    error_code,
    iter_attrs,
    iter_messages,
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
    assert off == len(blob), f"{name}: trailing bytes"
    return records


def nlmsg(mtype: int, payload: bytes, *, seq: int = 1, flags: int = NLM_F_MULTI, pad: bool = True) -> bytes:
    """One netlink message; ``pad`` adds the alignment bytes the next message would start after."""
    msg = struct.pack("=IHHII", 16 + len(payload), mtype, flags, seq, 0) + payload
    return msg + bytes(-len(msg) % 4) if pad else msg


def nlattr(atype: int, payload: bytes) -> bytes:
    """One attribute, padded to 4 bytes (the length field does not count the padding)."""
    attr = struct.pack("=HH", 4 + len(payload), atype) + payload
    return attr + bytes(-len(attr) % 4)


def errno_payload(code: int) -> bytes:
    return struct.pack("=i", code)


# --- iter_messages ---------------------------------------------------------------------------------

DGRAM_FILES = sorted(name for name in META["dumps"] if name.endswith(".dgrams.nl"))


@pytest.mark.parametrize("name", DGRAM_FILES)
def test_captured_datagrams_walk_exactly_to_done(name: str) -> None:
    datagrams = read_records(name)
    messages = [m for d in datagrams for m in iter_messages(d)]
    # Every message belongs to the one dump (sequence 1 of a fresh socket) and is part of a multipart
    # reply; the stream ends with exactly one DONE, the last message of the last datagram.
    assert {seq for _t, _f, seq, _p in messages} == {1}
    assert all(flags & NLM_F_MULTI for _t, flags, _s, _p in messages)
    types = [t for t, _f, _s, _p in messages]
    assert types[-1] == NLMSG_DONE
    assert types.count(NLMSG_DONE) == 1
    assert set(types[:-1]) <= {SOCK_DIAG_BY_FAMILY}
    # The walk accounts for every byte: aligned message lengths add up to the datagram size.
    for d in datagrams:
        total = sum((16 + len(p) + 3) & ~3 for _t, _f, _s, p in iter_messages(d))
        assert total == len(d)


def test_captured_multi_message_datagram() -> None:
    first = read_records("tcp4_local.dgrams.nl")[0]
    messages = list(iter_messages(first))
    assert len(messages) == 2  # listener and accepted socket in one datagram
    for mtype, _flags, _seq, payload in messages:
        assert mtype == SOCK_DIAG_BY_FAMILY
        # inet_diag_msg.idiag_family is the first byte of each payload
        assert payload[0] == socket.AF_INET
    inodes = {struct.unpack_from("=I", p, 68)[0] for _t, _f, _s, p in messages}
    assert inodes == {META["sockets"]["tcp4_listener"]["inode"], META["sockets"]["tcp4_server"]["inode"]}


def test_messages_with_padding_between_them() -> None:
    # A 5-byte payload: length 21, next message 24 bytes later.
    data = nlmsg(20, b"ABCDE", seq=7) + nlmsg(NLMSG_DONE, errno_payload(0), seq=7)
    assert len(data) == 24 + 20
    messages = list(iter_messages(data))
    assert [(t, s, bytes(p)) for t, _f, s, p in messages] == [
        (20, 7, b"ABCDE"),
        (NLMSG_DONE, 7, errno_payload(0)),
    ]


def test_last_message_may_end_without_padding() -> None:
    data = nlmsg(20, b"xyz", pad=False)
    assert [bytes(p) for _t, _f, _s, p in iter_messages(data)] == [b"xyz"]


def test_truncated_message_raises() -> None:
    whole = nlmsg(20, bytes(72)) + nlmsg(20, bytes(72))
    truncated = whole[:-10]
    walk = iter_messages(truncated)
    assert len(next(walk)[3]) == 72  # the complete first message is still delivered
    with pytest.raises(NetlinkProtocolError):
        next(walk)


def test_length_shorter_than_header_raises() -> None:
    bogus = struct.pack("=IHHII", 8, 20, 0, 1, 0) + bytes(8)
    with pytest.raises(NetlinkProtocolError):
        list(iter_messages(bogus))


def test_captured_datagram_cut_short_raises() -> None:
    first = read_records("tcp4_local.dgrams.nl")[0]
    with pytest.raises(NetlinkProtocolError):
        list(iter_messages(first[:-1]))


# --- iter_attrs ------------------------------------------------------------------------------------


def test_attribute_with_odd_length_then_next() -> None:
    buf = memoryview(nlattr(8, b"\x01") + nlattr(2, b"\x05") + nlattr(7, struct.pack("=I", 42)))
    assert nlattr(8, b"\x01")[:2] == struct.pack("=H", 5)  # the length field says 5 ...
    attrs = [(t, bytes(v)) for t, v in iter_attrs(buf)]
    # ... and the next attribute is found 8 bytes later, after the padding.
    assert attrs == [(8, b"\x01"), (2, b"\x05"), (7, struct.pack("=I", 42))]


def test_attributes_from_offset() -> None:
    buf = memoryview(b"HEAD" * 4 + nlattr(1, b"abcd"))
    assert [(t, bytes(v)) for t, v in iter_attrs(buf, 16)] == [(1, b"abcd")]


def test_attribute_type_flags_are_masked() -> None:
    nested = 0x8000 | 3  # NLA_F_NESTED
    byte_order = 0x4000 | 4  # NLA_F_NET_BYTEORDER
    buf = memoryview(nlattr(nested, b"\0\0\0\0") + nlattr(byte_order, b"\1\1\1\1"))
    assert [t for t, _v in iter_attrs(buf)] == [3, 4]


def test_truncated_attribute_stops_quietly() -> None:
    good = nlattr(1, b"abcd")
    cut = nlattr(2, b"0123456789")[:-4]  # its length field runs past the end of the buffer
    assert [(t, bytes(v)) for t, v in iter_attrs(memoryview(good + cut))] == [(1, b"abcd")]


def test_attribute_length_below_header_stops() -> None:
    zero = struct.pack("=HH", 0, 1) + b"more bytes that must not loop forever"
    assert list(iter_attrs(memoryview(zero))) == []


def test_trailing_bytes_shorter_than_a_header_are_ignored() -> None:
    assert [t for t, _v in iter_attrs(memoryview(nlattr(1, b"ab") + b"\x01\x02"))] == [1]


# --- error_code ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "code"), [(errno_payload(-2), -2), (errno_payload(0), 0), (b"", 0), (b"\xfe\xff", 0)]
)
def test_error_code(payload: bytes, code: int) -> None:
    assert error_code(memoryview(payload)) == code


def test_error_code_of_captured_raw_done() -> None:
    messages = [m for d in read_records("raw4.dgrams.nl") for m in iter_messages(d)]
    code = error_code(messages[-1][3])
    # ENOENT on a kernel without CONFIG_INET_RAW_DIAG (the machine the data was captured on); 0 with it.
    assert code in (0, -errno.ENOENT)
    assert messages[-1][0] == NLMSG_DONE


# --- NetlinkSocket against the kernel --------------------------------------------------------------


def raw_diag_missing() -> bool:
    """True when this kernel has no raw diag (the RAW dump fails inside DONE)."""
    with NetlinkSocket() as nl:
        try:
            list(nl.dump(inet_diag.build_request(socket.AF_INET, inet_diag.IPPROTO_RAW)))
        except NetlinkError:
            return True
    return False


def test_dump_raises_on_done_with_error() -> None:
    if not raw_diag_missing():
        pytest.skip("this kernel has CONFIG_INET_RAW_DIAG: RAW dumps succeed")
    with NetlinkSocket() as nl, pytest.raises(NetlinkError) as info:
        list(nl.dump(inet_diag.build_request(socket.AF_INET, inet_diag.IPPROTO_RAW)))
    assert info.value.errno == errno.ENOENT
    assert isinstance(info.value, OSError)


def test_dump_raises_on_nlmsg_error_for_unknown_family() -> None:
    # sock_diag has no handler for AF_UNSPEC: the kernel answers with NLMSG_ERROR -ENOENT.
    with NetlinkSocket() as nl, pytest.raises(NetlinkError) as info:
        list(nl.dump(inet_diag.build_request(socket.AF_UNSPEC, inet_diag.IPPROTO_TCP)))
    assert info.value.errno == errno.ENOENT


def test_dump_raises_einval_for_family_out_of_range() -> None:
    with NetlinkSocket() as nl, pytest.raises(NetlinkError) as info:
        list(nl.dump(inet_diag.build_request(250, inet_diag.IPPROTO_TCP)))
    assert info.value.errno == errno.EINVAL


def test_socket_usable_after_error_and_dump_finds_own_listener() -> None:
    with socket.socket() as listener, NetlinkSocket() as nl:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        with pytest.raises(NetlinkError):
            list(nl.dump(inet_diag.build_request(socket.AF_UNSPEC, inet_diag.IPPROTO_TCP)))
        # The next request on the same socket gets its own reply, not leftovers of the failed one.
        addrs = inet_diag.AddressCache()
        found = [
            item
            for payload in nl.dump(inet_diag.build_request(socket.AF_INET, inet_diag.IPPROTO_TCP))
            if (item := inet_diag.decode(payload, inet_diag.IPPROTO_TCP, addrs)) is not None
        ]
        port = listener.getsockname()[1]
        ours = [s for s in found if s.sport == port and s.src == "127.0.0.1"]
        assert len(ours) == 1
        assert ours[0].state == inet_diag.TCP_LISTEN


def test_exact_request_for_missing_socket_raises() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # bound, never listening: no listener or flow on this port
    request = inet_diag.build_exact(
        socket.AF_INET, inet_diag.IPPROTO_TCP, "127.0.0.1", port, "127.0.0.1", 9, None
    )
    with NetlinkSocket() as nl, pytest.raises(NetlinkError) as info:
        nl.request(request)
    assert info.value.errno == errno.ENOENT


def test_exact_request_finds_listener() -> None:
    with socket.socket() as listener, NetlinkSocket() as nl:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        request = inet_diag.build_exact(socket.AF_INET, inet_diag.IPPROTO_TCP, "127.0.0.1", port, "", 0, None)
        replies = nl.request(request)
        assert len(replies) == 1
        item = inet_diag.decode(replies[0], inet_diag.IPPROTO_TCP, inet_diag.AddressCache())
        assert item is not None
        assert (item.sport, item.state) == (port, inet_diag.TCP_LISTEN)
        assert item.inode == os.fstat(listener.fileno()).st_ino


# --- the dump loop over scripted datagrams ---------------------------------------------------------


class ScriptedSocket:
    """A stand-in kernel socket: records what is sent, hands out prepared datagrams in order."""

    def __init__(self, datagrams: list[bytes]) -> None:
        self.datagrams = list(datagrams)
        self.sent: list[bytes] = []
        self.closed = False

    def bind(self, address: tuple[int, int]) -> None:
        pass

    def setsockopt(self, level: int, option: int, value: bytes) -> None:
        pass

    def sendto(self, data: bytes, address: tuple[int, int]) -> int:
        self.sent.append(data)
        return len(data)

    def recv_into(self, buf: bytearray) -> int:
        if not self.datagrams:
            # A real socket would block here for ever (or until SO_RCVTIMEO): the loop must not ask.
            raise AssertionError("read past the end of the reply: the dump loop did not stop")
        data = self.datagrams.pop(0)
        buf[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def scripted(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[ScriptedSocket]]:
    """Make NetlinkSocket() build a ScriptedSocket (only inside the netlink module's namespace)."""
    made: list[ScriptedSocket] = []

    def factory(*_args: int) -> ScriptedSocket:
        sock = ScriptedSocket([])
        made.append(sock)
        return sock

    fake = SimpleNamespace(
        socket=factory,
        AF_NETLINK=socket.AF_NETLINK,
        SOCK_RAW=socket.SOCK_RAW,
        SOL_SOCKET=socket.SOL_SOCKET,
        SO_RCVTIMEO=socket.SO_RCVTIMEO,
    )
    monkeypatch.setattr(netlink, "socket", fake)
    yield made


def scripted_socket(made: list[ScriptedSocket], datagrams: list[bytes]) -> NetlinkSocket:
    nl = NetlinkSocket()
    made[-1].datagrams = list(datagrams)
    return nl


def test_replayed_capture_yields_each_payload(scripted: list[ScriptedSocket]) -> None:
    datagrams = read_records("tcp4_remote.dgrams.nl")
    nl = scripted_socket(scripted, datagrams)
    payloads = [bytes(p) for p in nl.dump(b"request")]
    expected = [bytes(p) for d in datagrams for t, _f, _s, p in iter_messages(d) if t == SOCK_DIAG_BY_FAMILY]
    assert payloads == expected and len(payloads) == 2
    # The request went out as one REQUEST|DUMP message with sequence 1.
    length, mtype, flags, seq, _pid = struct.unpack_from("=IHHII", scripted[-1].sent[0])
    assert (length, mtype, flags, seq) == (16 + 7, SOCK_DIAG_BY_FAMILY, 0x301, 1)
    assert scripted[-1].sent[0][16:] == b"request"


def test_payloads_stay_valid_after_later_recvs(scripted: list[ScriptedSocket]) -> None:
    first = nlmsg(20, b"first!!!")
    second = nlmsg(20, b"second!!")
    nl = scripted_socket(scripted, [first, second, nlmsg(NLMSG_DONE, errno_payload(0))])
    kept = list(nl.dump(b""))  # views kept while the buffer is refilled by the next recv
    assert [bytes(p) for p in kept] == [b"first!!!", b"second!!"]


def test_stale_sequence_and_noop_are_skipped(scripted: list[ScriptedSocket]) -> None:
    datagrams = [
        # Left over from an abandoned dump (sequence 0): not ours, even its DONE.
        nlmsg(20, b"stale", seq=0) + nlmsg(NLMSG_DONE, errno_payload(0), seq=0),
        nlmsg(NLMSG_NOOP, b"") + nlmsg(20, b"mine"),
        nlmsg(20, b"more"),
        nlmsg(NLMSG_DONE, errno_payload(0)),
    ]
    nl = scripted_socket(scripted, datagrams)
    assert [bytes(p) for p in nl.dump(b"")] == [b"mine", b"more"]
    assert scripted[-1].datagrams == []
    assert not nl.broken


def test_ebusy_for_our_request_is_an_error_not_a_wait(scripted: list[ScriptedSocket]) -> None:
    """What the kernel does when a dump is still running on the socket: it refuses ours with EBUSY
    (our sequence number) and goes on sending the old dump's messages; none of ours will ever come.
    Waiting for them would block in recv for ever (the scripted socket raises instead)."""
    datagrams = [
        nlmsg(20, b"old", seq=0),
        nlmsg(NLMSG_ERROR, errno_payload(-errno.EBUSY) + bytes(16), flags=0) + nlmsg(20, b"old2", seq=0),
        nlmsg(NLMSG_DONE, errno_payload(0), seq=0),
    ]
    nl = scripted_socket(scripted, datagrams)
    with pytest.raises(NetlinkError) as info:
        list(nl.dump(b""))
    assert info.value.errno == errno.EBUSY


def test_abandoned_dump_marks_the_socket_broken(scripted: list[ScriptedSocket]) -> None:
    datagrams = [nlmsg(20, b"a"), nlmsg(20, b"b"), nlmsg(NLMSG_DONE, errno_payload(0))]
    nl = scripted_socket(scripted, datagrams)
    walk = nl.dump(b"")
    assert bytes(next(walk)) == b"a"
    walk.close()  # the consumer stopped (an exception, a cancel): the rest is still queued
    assert nl.broken


def test_kernel_refuses_a_second_dump_on_a_busy_socket() -> None:
    """The real kernel: a dump left half read makes the next request on the socket fail with EBUSY.

    Enough UNIX sockets are opened that the dump spans several datagrams; the first dump is read for
    one datagram only, then a second dump is asked for on the same socket. It must fail promptly
    (the old code waited for ever), and a fresh socket must work.
    """
    pairs = [socket.socketpair() for _ in range(400)]
    try:
        with NetlinkSocket(timeout=5.0) as nl:
            first = nl.dump(unix_diag.build_request())
            next(first)  # one message read: the kernel has more of this dump queued
            with pytest.raises(NetlinkError) as info:
                list(nl.dump(unix_diag.build_request()))
            assert info.value.errno == errno.EBUSY
            assert nl.broken
            first.close()
        with NetlinkSocket(timeout=5.0) as fresh:
            inodes = {
                item.inode for p in fresh.dump(unix_diag.build_request()) if (item := unix_diag.decode(p))
            }
        assert {os.fstat(a.fileno()).st_ino for a, _b in pairs} <= inodes
    finally:
        for a, b in pairs:
            a.close()
            b.close()


def test_silent_kernel_times_out() -> None:
    """No reply at all (here: no request sent) ends in TimeoutError after SO_RCVTIMEO, not a hang."""
    with NetlinkSocket(timeout=0.2) as nl, pytest.raises(TimeoutError):
        nl._recv()


def test_done_stops_without_reading_further(scripted: list[ScriptedSocket]) -> None:
    nl = scripted_socket(scripted, [nlmsg(20, b"a") + nlmsg(NLMSG_DONE, errno_payload(0)), b"unread"])
    assert [bytes(p) for p in nl.dump(b"")] == [b"a"]
    assert scripted[-1].datagrams == [b"unread"]


@pytest.mark.parametrize("mtype", [NLMSG_ERROR, NLMSG_DONE])
def test_negative_code_raises_netlink_error(scripted: list[ScriptedSocket], mtype: int) -> None:
    nl = scripted_socket(scripted, [nlmsg(20, b"a") + nlmsg(mtype, errno_payload(-errno.EPERM))])
    walk = nl.dump(b"")
    assert bytes(next(walk)) == b"a"
    with pytest.raises(NetlinkError) as info:
        next(walk)
    assert info.value.errno == errno.EPERM
    assert info.value.strerror == "Operation not permitted"


def test_error_zero_ends_a_dump(scripted: list[ScriptedSocket]) -> None:
    nl = scripted_socket(scripted, [nlmsg(20, b"a"), nlmsg(NLMSG_ERROR, errno_payload(0) + bytes(16))])
    assert [bytes(p) for p in nl.dump(b"")] == [b"a"]


def test_truncated_datagram_in_dump_raises_protocol_error(scripted: list[ScriptedSocket]) -> None:
    nl = scripted_socket(scripted, [nlmsg(20, bytes(40))[:-8]])
    with pytest.raises(NetlinkProtocolError):
        list(nl.dump(b""))


def test_request_collects_replies_until_ack(scripted: list[ScriptedSocket]) -> None:
    datagrams = [
        nlmsg(20, b"old", seq=0, flags=0),
        nlmsg(20, b"reply", flags=0),
        nlmsg(NLMSG_ERROR, errno_payload(0) + bytes(16), flags=0x100),
    ]
    nl = scripted_socket(scripted, datagrams)
    assert [bytes(p) for p in nl.request(b"q")] == [b"reply"]
    _length, _mtype, flags, _seq, _pid = struct.unpack_from("=IHHII", scripted[-1].sent[0])
    assert flags == 0x5  # REQUEST|ACK, no DUMP


def test_request_raises_on_negative_ack(scripted: list[ScriptedSocket]) -> None:
    nl = scripted_socket(scripted, [nlmsg(NLMSG_ERROR, errno_payload(-errno.ESTALE) + bytes(16))])
    with pytest.raises(NetlinkError) as info:
        nl.request(b"q")
    assert info.value.errno == errno.ESTALE


def test_sequence_numbers_advance_per_request(scripted: list[ScriptedSocket]) -> None:
    done = [nlmsg(NLMSG_DONE, errno_payload(0), seq=1), nlmsg(NLMSG_DONE, errno_payload(0), seq=2)]
    nl = scripted_socket(scripted, done)
    assert list(nl.dump(b"")) == []
    assert list(nl.dump(b"")) == []
    seqs = [struct.unpack_from("=IHHII", sent)[3] for sent in scripted[-1].sent]
    assert seqs == [1, 2]


def test_context_manager_closes(scripted: list[ScriptedSocket]) -> None:
    with NetlinkSocket():
        pass
    assert scripted[-1].closed
