"""Exact sock_diag queries about one socket (tcp_info for the detail and follow views).

A dump with tcp_info for every socket costs ~1.5x a plain one; an exact query costs ~4 µs
(docs/sock_diag.md section 1), so the views ask for the few sockets they show.
"""

from __future__ import annotations

from sockui.collect import inet_diag
from sockui.collect.netlink import NetlinkError, NetlinkSocket
from sockui.model.socket import Family, InetEndpoint, Proto, SocketRecord
from sockui.model.tcpinfo import TcpDetails


def tcp_details(sock: SocketRecord, nl: NetlinkSocket | None = None) -> TcpDetails | None:
    """Query one TCP socket by its 4-tuple and cookie; None when it is gone or not queryable.

    TCP exact queries take the socket's own orientation: local in src, remote in dst (UDP's are
    swapped, which is why this only handles TCP).
    """
    if sock.proto is not Proto.TCP or not isinstance(sock.local, InetEndpoint):
        return None
    family = inet_diag.AF_INET6 if sock.family is Family.IPV6 else inet_diag.AF_INET
    remote = sock.remote if isinstance(sock.remote, InetEndpoint) else None
    request = inet_diag.build_exact(
        family,
        inet_diag.IPPROTO_TCP,
        sock.local.address,
        sock.local.port,
        remote.address if remote else "",
        remote.port if remote else 0,
        sock.cookie,
        ext=inet_diag.EXT_INFO | inet_diag.EXT_CONG,
    )
    own = nl is None
    link = nl or NetlinkSocket()
    try:
        replies = link.request(request)
    except (NetlinkError, OSError, ValueError):
        return None
    finally:
        if own:
            link.close()
    for payload in replies:
        item = inet_diag.decode(payload, inet_diag.IPPROTO_TCP, inet_diag.AddressCache())
        if item is not None:
            return TcpDetails(item.tcp_info, item.cong, item.rqueue, item.wqueue, item.state)
    return None
