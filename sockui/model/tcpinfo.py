"""Decode ``struct tcp_info`` (INET_DIAG_INFO / getsockopt TCP_INFO) into named fields.

Older kernels send a shorter struct: a field is present only when the payload reaches past its end
(docs/sock_diag.md section 4), so every field is optional.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, fields
from typing import NamedTuple

# (name, offset, struct format) for the fields the detail and follow views use.
_LAYOUT: tuple[tuple[str, int, str], ...] = (
    ("retransmits", 2, "B"),
    ("rto_us", 8, "I"),
    ("snd_mss", 16, "I"),
    ("rcv_mss", 20, "I"),
    ("unacked", 24, "I"),
    ("lost", 32, "I"),
    ("retrans", 36, "I"),
    ("last_data_sent_ms", 44, "I"),
    ("last_data_recv_ms", 52, "I"),
    ("last_ack_recv_ms", 56, "I"),
    ("pmtu", 60, "I"),
    ("rtt_us", 68, "I"),
    ("rttvar_us", 72, "I"),
    ("snd_ssthresh", 76, "I"),
    ("snd_cwnd", 80, "I"),
    ("total_retrans", 100, "I"),
    ("pacing_rate", 104, "Q"),
    ("bytes_acked", 120, "Q"),
    ("bytes_received", 128, "Q"),
    ("segs_out", 136, "I"),
    ("segs_in", 140, "I"),
    ("notsent_bytes", 144, "I"),
    ("min_rtt_us", 148, "I"),
    ("delivery_rate", 160, "Q"),
    ("busy_time_us", 168, "Q"),
    ("bytes_sent", 200, "Q"),
    ("bytes_retrans", 208, "Q"),
    ("snd_wnd", 228, "I"),
    ("rcv_wnd", 232, "I"),
)


@dataclass(frozen=True, slots=True)
class TcpInfo:
    """The tcp_info fields sockui shows; None where the kernel's struct is too short to hold them.

    Units follow the kernel: ``*_us`` microseconds, ``*_ms`` milliseconds ago, rates in bytes/s,
    windows and counters in bytes or segments.
    """

    retransmits: int | None = None
    rto_us: int | None = None
    snd_mss: int | None = None
    rcv_mss: int | None = None
    unacked: int | None = None
    lost: int | None = None
    retrans: int | None = None
    last_data_sent_ms: int | None = None
    last_data_recv_ms: int | None = None
    last_ack_recv_ms: int | None = None
    pmtu: int | None = None
    rtt_us: int | None = None
    rttvar_us: int | None = None
    snd_ssthresh: int | None = None
    snd_cwnd: int | None = None
    total_retrans: int | None = None
    pacing_rate: int | None = None
    bytes_acked: int | None = None
    bytes_received: int | None = None
    segs_out: int | None = None
    segs_in: int | None = None
    notsent_bytes: int | None = None
    min_rtt_us: int | None = None
    delivery_rate: int | None = None
    busy_time_us: int | None = None
    bytes_sent: int | None = None
    bytes_retrans: int | None = None
    snd_wnd: int | None = None
    rcv_wnd: int | None = None


_FIELD_NAMES = frozenset(f.name for f in fields(TcpInfo))
assert {name for name, _off, _fmt in _LAYOUT} == _FIELD_NAMES


def decode(raw: bytes) -> TcpInfo:
    """Decode as many fields as ``raw`` holds (the kernel version decides its length)."""
    values: dict[str, int] = {}
    size = len(raw)
    for name, offset, fmt in _LAYOUT:
        end = offset + struct.calcsize("=" + fmt)
        if end <= size:
            values[name] = struct.unpack_from("=" + fmt, raw, offset)[0]
    return TcpInfo(**values)


class TcpDetails(NamedTuple):
    """What an exact query returns for one TCP socket."""

    tcp_info: bytes | None
    congestion: str | None
    recv_q: int
    send_q: int
    state: int
