"""Socket tables from /proc/net: RAW sockets on kernels without raw diag, everything when netlink is refused.

Netlink is preferred everywhere. This file serves two cases:

- ``/proc/net/raw{,6}`` for RAW sockets on kernels built without CONFIG_INET_RAW_DIAG, whose raw dump
  fails inside NLMSG_DONE with -ENOENT (docs/sock_diag.md section 2): ss falls back the same way.
- every table (``tcp``, ``tcp6``, ``udp``, ``udp6``, ``raw``, ``raw6``, ``unix``) when sockui may not
  create a NETLINK_SOCK_DIAG socket at all (a seccomp filter or an LSM refusing it, a kernel without
  sock_diag). What these files lack, the records lack: no cookies (TIME_WAIT and request sockets,
  which have no inode either, get a synthetic key), no tcp_info, no UNIX peers or owner uids, and
  TCP sockets that are only bound are in no file (they show as unbound through their fds).

The inet files are the kernel's own seq_file output: numbers only. ``/proc/net/unix`` ends each line
with the socket's path, the one field a user chooses: a path holding a newline can forge a line.
Such a line still has to parse as a whole entry (the regular expression below), but nothing can tell
a forged entry from a real one; that is the price of this fallback, which is why it is one.
"""

from __future__ import annotations

import hashlib
import re
import socket

from sockui.collect.inet_diag import AF_INET, AF_INET6, IPPROTO_RAW, IPPROTO_TCP, IPPROTO_UDP, InetSocket
from sockui.collect.unix_diag import UnixSocket
from sockui.model.kernel import TCP_CLOSE, TCP_ESTABLISHED, TCP_LISTEN

_FILES = {IPPROTO_TCP: "tcp", IPPROTO_UDP: "udp", IPPROTO_RAW: "raw"}

#: Set on synthetic cookies (for sockets with neither cookie nor inode): kernel cookies are a counter
#: that never gets near it, so the two cannot collide.
SYNTHETIC_COOKIE = 1 << 63

#: ``__SO_ACCEPTCON`` in the Flags column: a listening socket.
_SO_ACCEPTCON = 0x10000
#: ``SS_CONNECTED`` in the St column (the socket's state, not the kernel sk_state unix_diag gives).
_SS_CONNECTED = 3
#: ``%pK: %08X %08X %08X %04X %02X %5lu`` and, for a named socket, a space and the name.
_UNIX_LINE = re.compile(
    rb"[0-9A-Fa-f]+: [0-9A-Fa-f]{8} [0-9A-Fa-f]{8} ([0-9A-Fa-f]{8}) ([0-9A-Fa-f]{4}) ([0-9A-Fa-f]{2}) +(\d+)"
    rb"(?: (.*))?"
)


def _address(hex_addr: str, family: int) -> str:
    """Kernel hex dumps each 32-bit word of the address in host (little-endian) order."""
    raw = bytes.fromhex(hex_addr)
    fixed = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    return socket.inet_ntop(family, fixed)


def synthetic_cookie(
    netns: int, family: int, protocol: int, src: str, sport: int, dst: str, dport: int
) -> int:
    """A stable key for a socket with no inode (TIME_WAIT, a request socket): from its 4-tuple.

    The same connection keeps its tuple from one read to the next, so it keeps its key; the
    namespace is part of it because 127.0.0.1 tuples repeat in every namespace.
    """
    text = f"{netns}/{family}/{protocol}/{src}/{sport}/{dst}/{dport}".encode()
    digest = hashlib.blake2b(text, digest_size=8).digest()
    return SYNTHETIC_COOKIE | (int.from_bytes(digest, "big") >> 1)


def parse_inet_table(text: str, family: int, protocol: int, netns: int = 0) -> list[InetSocket]:
    """Parse /proc/net/{tcp,udp,raw} (family AF_INET) or their ``6`` twins (AF_INET6).

    The columns are shared: ``sl local rem st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout
    inode ...``. Malformed lines are skipped: the file is read while sockets come and go. For RAW
    sockets the local "port" is the protocol number, as in a raw dump.
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
            src, sport = _address(laddr, family), int(lport, 16)
            dst, dport = _address(raddr, family), int(rport, 16)
        except (ValueError, OSError):
            continue
        cookie = 0
        if not inode and protocol != IPPROTO_RAW:
            cookie = synthetic_cookie(netns, family, protocol, src, sport, dst, dport)
        result.append(
            InetSocket(
                family,
                protocol,
                state,
                src,
                sport,
                dst,
                dport,
                0,
                cookie,
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
    return result


def parse_raw_table(text: str, family: int) -> list[InetSocket]:
    """Parse the contents of /proc/net/raw (family AF_INET) or /proc/net/raw6 (AF_INET6)."""
    return parse_inet_table(text, family, IPPROTO_RAW)


def read_inet(proc_dir: str, family: int, protocol: int, netns: int = 0) -> list[InetSocket]:
    """One family and protocol from ``proc_dir``/net; empty when the file is missing (no IPv6, no procfs)."""
    assert family in (AF_INET, AF_INET6)
    name = _FILES[protocol] + ("6" if family == AF_INET6 else "")
    try:
        with open(f"{proc_dir}/net/{name}", encoding="ascii", errors="replace") as fh:
            return parse_inet_table(fh.read(), family, protocol, netns)
    except OSError:
        return []


def read_raw(proc_root: str, family: int) -> list[InetSocket]:
    """RAW sockets of one family from procfs; empty when the file is missing (no IPv6, no procfs)."""
    return read_inet(proc_root, family, IPPROTO_RAW)


def parse_unix_table(data: bytes) -> list[UnixSocket]:
    """Parse /proc/net/unix: ``Num RefCount Protocol Flags Type St Inode Path``.

    The state is told the way unix_diag tells it (10 listening, 1 connected, 7 otherwise); there is
    no peer, no queue, no uid. Names are decoded like unix_diag's: abstract ones start with ``@``
    (the kernel prints their NUL bytes as ``@`` too), bytes that are not UTF-8 survive.
    """
    result: list[UnixSocket] = []
    for line in data.split(b"\n")[1:]:
        match = _UNIX_LINE.fullmatch(line)
        if match is None:
            continue
        flags, stype, st, inode, path = match.groups()
        if int(flags, 16) & _SO_ACCEPTCON:
            state = TCP_LISTEN
        elif int(st, 16) == _SS_CONNECTED:
            state = TCP_ESTABLISHED
        else:
            state = TCP_CLOSE
        name = path.decode("utf-8", "surrogateescape") if path else None
        result.append(UnixSocket(int(stype, 16), state, int(inode), 0, name, 0, (), 0, 0, None, 0))
    return result


def read_unix(proc_dir: str) -> list[UnixSocket]:
    """Every UNIX socket of ``proc_dir``'s namespace; empty when the file cannot be read."""
    try:
        with open(f"{proc_dir}/net/unix", "rb") as fh:
            return parse_unix_table(fh.read())
    except OSError:
        return []
