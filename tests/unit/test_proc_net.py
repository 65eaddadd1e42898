"""The /proc/net/raw{,6} fallback parser on hand-written tables (addresses as little-endian hex words)."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from sockui.collect.inet_diag import IPPROTO_RAW
from sockui.collect.proc_net import parse_raw_table, read_raw

HEADER = (
    "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode "
    "ref pointer drops"
)
HEADER6 = (
    "  sl  local_address                         remote_address                        st tx_queue "
    "rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops"
)


def row(
    local: str = "0100007F:0001", queues: str = "00000000:00000000", uid: str = "0", inode: str = "99"
) -> str:
    """One table line with the given fields and harmless others."""
    return f"   9: {local} 00000000:0000 07 {queues} 00:00000000 00000000 {uid} 0 {inode} 2 ff 0"


# 127.0.0.1 is 7F000001 in network order; the kernel prints the 32-bit word in host order: 0100007F.
RAW4 = "\n".join(
    [
        HEADER,
        "   1: 0100007F:0001 00000000:0000 07 00000010:00000200 00:00000000 00000000     0        0 4242 2 "
        "ffff8881 0",
        "   2: 1401A8C0:00FF 0101A8C0:0000 01 00000000:00000000 00:00000000 00000000  1000        0 4243 2 "
        "ffff8882 0",
        "",
    ]
)

# ::1, 2001:db8::5 and ::ffff:10.1.2.3, each 32-bit word byte-swapped.
RAW6 = "\n".join(
    [
        HEADER6,
        "   3: 00000000000000000000000001000000:003A 00000000000000000000000000000000:0000 07 "
        "00000000:00000000 00:00000000 00000000     0        0 5001 2 ffff8883 0",
        "   4: B80D0120000000000000000005000000:0011 0000000000000000FFFF00000302010A:0000 01 "
        "00000000:00000000 00:00000000 00000000   101        0 5002 2 ffff8884 0",
    ]
)


def test_ipv4_table() -> None:
    first, second = parse_raw_table(RAW4, socket.AF_INET)
    assert (first.src, first.sport, first.dst, first.dport) == ("127.0.0.1", 1, "0.0.0.0", 0)
    assert (first.state, first.inode, first.uid) == (7, 4242, 0)
    assert (first.wqueue, first.rqueue) == (0x10, 0x200)  # tx_queue:rx_queue
    assert first.family == socket.AF_INET and first.protocol == IPPROTO_RAW
    assert (first.cookie, first.tcp_info, first.cong) == (0, None, None)
    assert (second.src, second.sport, second.dst) == ("192.168.1.20", 255, "192.168.1.1")
    assert (second.state, second.uid, second.inode) == (1, 1000, 4243)


def test_ipv6_table() -> None:
    first, second = parse_raw_table(RAW6, socket.AF_INET6)
    assert (first.src, first.sport, first.dst) == ("::1", 58, "::")
    assert (first.inode, first.family) == (5001, socket.AF_INET6)
    assert (second.src, second.sport) == ("2001:db8::5", 17)
    assert second.dst == "::ffff:10.1.2.3"
    assert (second.state, second.uid, second.inode) == (1, 101, 5002)


@pytest.mark.parametrize(
    "bad",
    [
        "   9: 0100007F:0001 00000000:0000 07",  # too few fields
        row(local="0100007F0001"),  # no colon
        row(local="0100007G:0001"),  # not hex
        row(local="010007F:0001"),  # odd number of hex digits
        row(local="0100007F00:0001"),  # 5 bytes: no such address
        row(queues="0000000000000000"),  # queues without their colon
        row(uid="x"),
        row(inode="inode"),
    ],
)
def test_malformed_lines_are_skipped(bad: str) -> None:
    lines = RAW4.splitlines()
    text = "\n".join([lines[0], bad, lines[1], lines[2]])
    assert [s.inode for s in parse_raw_table(text, socket.AF_INET)] == [4242, 4243]


def test_header_only_and_empty() -> None:
    assert parse_raw_table(HEADER + "\n", socket.AF_INET) == []
    assert parse_raw_table("", socket.AF_INET) == []


def test_ipv4_address_in_ipv6_table_is_skipped() -> None:
    lines = RAW6.splitlines()
    wrong = row(inode="77")
    parsed = parse_raw_table("\n".join([lines[0], wrong, lines[1]]), socket.AF_INET6)
    assert [s.inode for s in parsed] == [5001]


def test_read_raw_from_fake_proc(tmp_path: Path) -> None:
    (tmp_path / "net").mkdir()
    (tmp_path / "net" / "raw").write_text(RAW4, encoding="ascii")
    (tmp_path / "net" / "raw6").write_text(RAW6, encoding="ascii")
    assert [s.inode for s in read_raw(str(tmp_path), socket.AF_INET)] == [4242, 4243]
    assert [s.inode for s in read_raw(str(tmp_path), socket.AF_INET6)] == [5001, 5002]


def test_read_raw_missing_file(tmp_path: Path) -> None:
    assert read_raw(str(tmp_path), socket.AF_INET) == []
    assert read_raw(str(tmp_path / "nowhere"), socket.AF_INET6) == []


def test_read_raw_real_socket() -> None:
    try:
        raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    except PermissionError:
        pytest.skip("opening a RAW socket needs CAP_NET_RAW")
    with raw:
        raw.bind(("127.0.0.1", 0))
        inode = os.fstat(raw.fileno()).st_ino
        ours = [s for s in read_raw("/proc", socket.AF_INET) if s.inode == inode]
    assert len(ours) == 1
    assert (ours[0].src, ours[0].sport, ours[0].uid) == ("127.0.0.1", socket.IPPROTO_ICMP, os.getuid())
