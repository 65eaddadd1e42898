"""Portable collector for platforms without sock_diag (macOS, BSD): ``psutil.net_connections``.

Same model, reduced features: no inodes or cookies (keys are synthetic), no queues, no tcp_info, no
raw sockets, no unbound sockets, and UNIX listeners cannot be told from bound sockets. The snapshot is
marked ``reduced`` so every front end can say so.
"""

from __future__ import annotations

import hashlib
import socket
import time
from typing import Any

import psutil

from sockui.model.socket import (
    Binding,
    Endpoint,
    Family,
    InetEndpoint,
    Owner,
    Proto,
    Snapshot,
    SocketRecord,
    SockType,
    UnixEndpoint,
)

_FAMILIES = {socket.AF_INET: Family.IPV4, socket.AF_INET6: Family.IPV6, socket.AF_UNIX: Family.UNIX}
_TYPES = {socket.SOCK_STREAM: SockType.STREAM, socket.SOCK_DGRAM: SockType.DGRAM}
if hasattr(socket, "SOCK_SEQPACKET"):
    _TYPES[socket.SOCK_SEQPACKET] = SockType.SEQPACKET


def _endpoint(addr: Any, family: Family) -> Endpoint | None:
    if family is Family.UNIX:
        return UnixEndpoint(addr or None) if addr is not None else None
    if not addr:
        return None
    return InetEndpoint(str(addr[0]).lower(), int(addr[1]))


def _synthetic_key(*parts: object) -> int:
    """A stable positive id standing in for the kernel cookie, from what identifies the socket."""
    digest = hashlib.blake2b(repr(parts).encode("utf-8", "surrogateescape"), digest_size=7).digest()
    return int.from_bytes(digest, "big") or 1


def _classify(
    proto: Proto, status: str, local: Endpoint | None, remote: Endpoint | None
) -> tuple[str, Binding]:
    if proto is Proto.TCP:
        if status == "LISTEN":
            return "LISTEN", Binding.LISTENING
        if status in ("NONE", "CLOSE", ""):
            return ("BOUND_INACTIVE", Binding.BOUND) if local else ("UNCONN", Binding.UNBOUND)
        return status, Binding.CONNECTED
    if remote is not None and (not isinstance(remote, UnixEndpoint) or remote.path is not None):
        return "ESTABLISHED", Binding.CONNECTED
    if local is not None and (not isinstance(local, UnixEndpoint) or local.path is not None):
        return "UNCONN", Binding.BOUND
    return "UNCONN", Binding.UNBOUND


def collect_portable() -> Snapshot:
    """One snapshot through psutil; access errors reduce what is seen instead of failing."""
    taken_at = time.time()
    start = time.perf_counter()
    warnings = ["reduced features: no sock_diag on this platform (psutil fallback)"]
    try:
        conns = psutil.net_connections(kind="all")
    except psutil.AccessDenied:
        conns = []
        warnings.append("listing sockets needs more privilege on this platform; run as root to see them")
    names: dict[int, str] = {}
    seen: set[int] = set()
    records: list[SocketRecord] = []
    for c in conns:
        family = _FAMILIES.get(c.family)
        stype = _TYPES.get(c.type)
        if family is None or stype is None:
            continue
        proto = Proto.UNIX if family is Family.UNIX else Proto.TCP if stype is SockType.STREAM else Proto.UDP
        local = _endpoint(c.laddr, family)
        remote = _endpoint(c.raddr, family)
        state, binding = _classify(proto, c.status or "", local, remote)
        owners: tuple[Owner, ...] = ()
        if c.pid:
            if c.pid not in names:
                try:
                    names[c.pid] = psutil.Process(c.pid).name()
                except (psutil.Error, OSError):
                    names[c.pid] = ""
            owners = (Owner(c.pid, c.fd if c.fd is not None else -1, names[c.pid]),)
        # Sockets psutil cannot tell apart (unnamed, ownerless UNIX sockets) get a counter mixed in
        # so keys stay unique within the snapshot.
        key = _synthetic_key(proto, local, remote, c.pid, c.fd)
        while key in seen:
            key = _synthetic_key(proto, local, remote, c.pid, c.fd, len(seen))
        seen.add(key)
        records.append(
            SocketRecord(
                proto=proto,
                family=family,
                type=stype,
                state=state,
                binding=binding,
                local=None if binding is Binding.UNBOUND else local,
                remote=remote if binding is Binding.CONNECTED else None,
                inode=0,
                uid=None,
                owners=owners,
                cookie=key,
            )
        )
    return Snapshot(
        sockets=tuple(records),
        taken_at=taken_at,
        duration=time.perf_counter() - start,
        ownerless=sum(1 for r in records if not r.owners),
        reduced=True,
        warnings=tuple(warnings),
    )
