"""struct tcp_info decoding: a full 280-byte struct packed at the documented offsets, a short one from an
older kernel, and the real thing from ``getsockopt(TCP_INFO)`` on a loopback connection.
"""

from __future__ import annotations

import dataclasses
import socket
import struct
import time
from collections.abc import Iterator

import pytest

from sockui.model.tcpinfo import TcpDetails, TcpInfo, decode

# The whole kernel struct as of Linux 6.18 (include/uapi/linux/tcp.h; docs/sock_diag.md section 4),
# field by field, so the test does not borrow the decoder's own table.
KERNEL_FIELDS: tuple[tuple[str, str], ...] = (
    ("state", "B"),
    ("ca_state", "B"),
    ("retransmits", "B"),
    ("probes", "B"),
    ("backoff", "B"),
    ("options", "B"),
    ("wscale", "B"),
    ("flags", "B"),
    ("rto", "I"),
    ("ato", "I"),
    ("snd_mss", "I"),
    ("rcv_mss", "I"),
    ("unacked", "I"),
    ("sacked", "I"),
    ("lost", "I"),
    ("retrans", "I"),
    ("fackets", "I"),
    ("last_data_sent", "I"),
    ("last_ack_sent", "I"),
    ("last_data_recv", "I"),
    ("last_ack_recv", "I"),
    ("pmtu", "I"),
    ("rcv_ssthresh", "I"),
    ("rtt", "I"),
    ("rttvar", "I"),
    ("snd_ssthresh", "I"),
    ("snd_cwnd", "I"),
    ("advmss", "I"),
    ("reordering", "I"),
    ("rcv_rtt", "I"),
    ("rcv_space", "I"),
    ("total_retrans", "I"),
    ("pacing_rate", "Q"),
    ("max_pacing_rate", "Q"),
    ("bytes_acked", "Q"),
    ("bytes_received", "Q"),
    ("segs_out", "I"),
    ("segs_in", "I"),
    ("notsent_bytes", "I"),
    ("min_rtt", "I"),
    ("data_segs_in", "I"),
    ("data_segs_out", "I"),
    ("delivery_rate", "Q"),
    ("busy_time", "Q"),
    ("rwnd_limited", "Q"),
    ("sndbuf_limited", "Q"),
    ("delivered", "I"),
    ("delivered_ce", "I"),
    ("bytes_sent", "Q"),
    ("bytes_retrans", "Q"),
    ("dsack_dups", "I"),
    ("reord_seen", "I"),
    ("rcv_ooopack", "I"),
    ("snd_wnd", "I"),
    ("rcv_wnd", "I"),
    ("rehash", "I"),
    ("total_rto", "H"),
    ("total_rto_recoveries", "H"),
    ("total_rto_time", "I"),
    ("received_ce", "I"),
    ("delivered_e1_bytes", "I"),
    ("delivered_e0_bytes", "I"),
    ("delivered_ce_bytes", "I"),
    ("received_e1_bytes", "I"),
    ("received_e0_bytes", "I"),
    ("received_ce_bytes", "I"),
    ("ecn_bits", "I"),
)
KERNEL_STRUCT = struct.Struct("=" + "".join(fmt for _name, fmt in KERNEL_FIELDS))

# Kernel field -> TcpInfo field, for the fields sockui decodes.
DECODED = {
    "retransmits": "retransmits",
    "rto": "rto_us",
    "snd_mss": "snd_mss",
    "rcv_mss": "rcv_mss",
    "unacked": "unacked",
    "lost": "lost",
    "retrans": "retrans",
    "last_data_sent": "last_data_sent_ms",
    "last_data_recv": "last_data_recv_ms",
    "last_ack_recv": "last_ack_recv_ms",
    "pmtu": "pmtu",
    "rtt": "rtt_us",
    "rttvar": "rttvar_us",
    "snd_ssthresh": "snd_ssthresh",
    "snd_cwnd": "snd_cwnd",
    "total_retrans": "total_retrans",
    "pacing_rate": "pacing_rate",
    "bytes_acked": "bytes_acked",
    "bytes_received": "bytes_received",
    "segs_out": "segs_out",
    "segs_in": "segs_in",
    "notsent_bytes": "notsent_bytes",
    "min_rtt": "min_rtt_us",
    "delivery_rate": "delivery_rate",
    "busy_time": "busy_time_us",
    "bytes_sent": "bytes_sent",
    "bytes_retrans": "bytes_retrans",
    "snd_wnd": "snd_wnd",
    "rcv_wnd": "rcv_wnd",
}


def offset_of(name: str) -> int:
    fmt = "="
    for field, code in KERNEL_FIELDS:
        if field == name:
            return struct.calcsize(fmt)
        fmt += code
    raise KeyError(name)


def distinct_values() -> dict[str, int]:
    """A different value in every field, each filling its width so a misplaced read shows."""
    values: dict[str, int] = {}
    for i, (name, code) in enumerate(KERNEL_FIELDS, start=1):
        if code == "B":
            values[name] = i
        elif code == "H":
            values[name] = 0x0100 * i + i
        elif code == "I":
            values[name] = 0x01000000 * (i % 200 + 1) + i
        else:
            values[name] = 0x0100_0000_0000_0000 * (i % 100 + 1) + i
    return values


def pack(values: dict[str, int]) -> bytes:
    return KERNEL_STRUCT.pack(*(values[name] for name, _code in KERNEL_FIELDS))


def test_layout_matches_the_documented_offsets() -> None:
    assert KERNEL_STRUCT.size == 280
    documented = {
        "rto": 8,
        "unacked": 24,
        "last_data_sent": 44,
        "pmtu": 60,
        "rcv_rtt": 92,
        "pacing_rate": 104,
        "bytes_acked": 120,
        "segs_out": 136,
        "delivery_rate": 160,
        "busy_time": 168,
        "delivered": 192,
        "bytes_sent": 200,
        "dsack_dups": 216,
        "snd_wnd": 228,
        "rehash": 236,
        "total_rto": 240,
        "total_rto_time": 244,
        "received_ce": 248,
        "ecn_bits": 276,
    }
    assert {name: offset_of(name) for name in documented} == documented


def test_decode_full_struct() -> None:
    values = distinct_values()
    info = decode(pack(values))
    assert set(DECODED.values()) == {f.name for f in dataclasses.fields(TcpInfo)}
    for kernel_name, field in DECODED.items():
        assert getattr(info, field) == values[kernel_name], field


def test_decode_truncated_struct() -> None:
    values = distinct_values()
    info = decode(pack(values)[:104])  # ends before pacing_rate, as on old kernels
    assert info.rto_us == values["rto"]
    assert info.snd_cwnd == values["snd_cwnd"]
    assert info.total_retrans == values["total_retrans"]  # bytes 100..104: the last one that fits
    for field in (
        "pacing_rate",
        "bytes_acked",
        "bytes_received",
        "segs_out",
        "delivery_rate",
        "bytes_sent",
        "snd_wnd",
        "rcv_wnd",
    ):
        assert getattr(info, field) is None, field


def test_decode_field_cut_in_the_middle_is_none() -> None:
    values = distinct_values()
    info = decode(pack(values)[:127])  # bytes_acked spans 120..128
    assert info.pacing_rate == values["pacing_rate"]
    assert info.bytes_acked is None


@pytest.mark.parametrize("size", [0, 1, 2, 3])
def test_decode_tiny(size: int) -> None:
    info = decode(bytes([9, 9, 5, 9])[:size])
    assert info.retransmits == (5 if size >= 3 else None)
    assert info.rto_us is None


def test_decode_ignores_bytes_beyond_the_struct() -> None:
    values = distinct_values()
    assert decode(pack(values) + b"\xff" * 64) == decode(pack(values))


def test_tcp_details_fields() -> None:
    details = TcpDetails(b"x", "bbr", 1, 2, 10)
    assert (details.tcp_info, details.congestion, details.recv_q, details.send_q, details.state) == (
        b"x",
        "bbr",
        1,
        2,
        10,
    )


# --- the real struct ------------------------------------------------------------------------------------


@pytest.fixture
def connected() -> Iterator[tuple[socket.socket, socket.socket]]:
    """A loopback TCP connection (client, accepted server), closed afterwards."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        client = socket.create_connection(listener.getsockname())
        server, _ = listener.accept()
    try:
        yield client, server
    finally:
        client.close()
        server.close()


def tcp_info(sock: socket.socket) -> TcpInfo:
    return decode(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 512))


def test_real_tcp_info_counts_bytes(connected: tuple[socket.socket, socket.socket]) -> None:
    client, server = connected
    n = 100_000
    client.sendall(b"x" * n)
    received = 0
    while received < n:
        received += len(server.recv(65536))
    deadline = time.monotonic() + 5
    info = tcp_info(client)
    while (info.bytes_acked or 0) < n and time.monotonic() < deadline:
        time.sleep(0.005)
        info = tcp_info(client)
    assert info.bytes_sent is not None and info.bytes_sent >= n
    assert info.bytes_acked is not None and info.bytes_acked >= n
    assert info.segs_out is not None and info.segs_out > 0
    assert info.snd_mss is not None and 0 < info.snd_mss <= 65536
    assert info.rtt_us is not None and info.rtt_us < 5_000_000
    assert info.pmtu is not None and 576 <= info.pmtu <= 65536
    peer = tcp_info(server)
    assert peer.bytes_received is not None and peer.bytes_received >= n
    assert peer.bytes_sent is not None and peer.bytes_sent < n  # the server only sent ACKs


def test_real_tcp_info_state_byte(connected: tuple[socket.socket, socket.socket]) -> None:
    client, _server = connected
    raw = client.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 512)
    assert raw[0] == 1  # ESTABLISHED
    assert len(raw) >= 104
    info = decode(raw)
    assert info.retransmits == 0 and info.lost == 0
