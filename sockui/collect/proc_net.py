"""Fallback reader for /proc/net/raw{,6}: RAW sockets on kernels built without CONFIG_INET_RAW_DIAG.

Netlink is preferred everywhere; this file exists because a raw dump there fails inside NLMSG_DONE
with -ENOENT (docs/sock_diag.md section 2), which is how ss decides to fall back too. The text format
is the kernel's own seq_file output, so it holds no untrusted strings.
"""

from __future__ import annotations

import socket

from sockui.collect.inet_diag import AF_INET, AF_INET6, IPPROTO_RAW, InetSocket


def _address(hex_addr: str, family: int) -> str:
    """Kernel hex dumps each 32-bit word of the address in host (little-endian) order."""
    raw = bytes.fromhex(hex_addr)
    fixed = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    return socket.inet_ntop(family, fixed)


def parse_raw_table(text: str, family: int) -> list[InetSocket]:
    """Parse the contents of /proc/net/raw (family AF_INET) or /proc/net/raw6 (AF_INET6).

    Malformed lines are skipped: the file is read while sockets come and go.
    """
    result: list[InetSocket] = []
    for line in text.splitlines()[1:]:
        parts = line.split()
        if len(parts) < 10:
            continue
        try:
            laddr, lport = parts[1].split(":")
            raddr, rport = parts[2].split(":")
            state = int(parts[3], 16)
            txq, rxq = (int(x, 16) for x in parts[4].split(":"))
            uid = int(parts[7])
            inode = int(parts[9])
            result.append(
                InetSocket(
                    family,
                    IPPROTO_RAW,
                    state,
                    _address(laddr, family),
                    int(lport, 16),
                    _address(raddr, family),
                    int(rport, 16),
                    0,
                    0,
                    rxq,
                    txq,
                    uid,
                    inode,
                    0,
                    0,
                    None,
                    None,
                )
            )
        except (ValueError, OSError):
            continue
    return result


def read_raw(proc_root: str, family: int) -> list[InetSocket]:
    """RAW sockets of one family from procfs; empty when the file is missing (no IPv6, no procfs)."""
    name = "raw" if family == AF_INET else "raw6"
    assert family in (AF_INET, AF_INET6)
    try:
        with open(f"{proc_root}/net/{name}", encoding="ascii", errors="replace") as fh:
            return parse_raw_table(fh.read(), family)
    except OSError:
        return []
