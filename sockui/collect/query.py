"""Exact sock_diag queries about one socket (tcp_info for the detail and follow views).

A dump with tcp_info for every socket costs ~1.5x a plain one; an exact query costs ~4 µs
(docs/sock_diag.md section 1), so the views ask for the few sockets they show.
"""

from __future__ import annotations

import errno

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
    if sock.ifindex:  # bound to an interface: the kernel's lookup needs it (docs/sock_diag.md §6)
        request = inet_diag.with_ifindex(request, sock.ifindex)
    own = nl is None
    try:
        link = nl or NetlinkSocket()
    except OSError:
        return None  # netlink refused here (a sandbox): no TCP internals to show, not a failure
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


def exact_request(sock: SocketRecord, *, destroy: bool = False) -> bytes | None:
    """The request naming exactly this TCP or UDP socket (its cookie and interface too), or None.

    None when the record cannot name a kernel socket: not TCP/UDP, no local address, no cookie
    (found only through /proc). Orientation (docs/sock_diag.md sections 2 and 6): TCP queries and
    destroys, and UDP destroys, carry the local end in src; UDP queries carry it in dst.

    Args:
        sock: the socket as a snapshot listed it.
        destroy: build the SOCK_DESTROY body rather than an exact query.
    """
    if sock.proto not in (Proto.TCP, Proto.UDP) or not isinstance(sock.local, InetEndpoint):
        return None
    if sock.cookie is None:
        return None
    family = inet_diag.AF_INET6 if sock.family is Family.IPV6 else inet_diag.AF_INET
    protocol = inet_diag.IPPROTO_TCP if sock.proto is Proto.TCP else inet_diag.IPPROTO_UDP
    local = (sock.local.address, sock.local.port)
    remote = (sock.remote.address, sock.remote.port) if isinstance(sock.remote, InetEndpoint) else ("", 0)
    if sock.proto is Proto.UDP and not destroy:
        local, remote = remote, local
    request = inet_diag.build_exact(family, protocol, *local, *remote, sock.cookie)
    return inet_diag.with_ifindex(request, sock.ifindex) if sock.ifindex else request


def port_entries(sock: SocketRecord, nl: NetlinkSocket) -> list[inet_diag.InetSocket]:
    """Every kernel entry of the socket's protocol and family on its local port, found by a dump.

    Raises :class:`NetlinkError` or OSError when the dump fails; an empty list means none is left.
    """
    if sock.proto not in (Proto.TCP, Proto.UDP) or not isinstance(sock.local, InetEndpoint):
        return []
    family = inet_diag.AF_INET6 if sock.family is Family.IPV6 else inet_diag.AF_INET
    protocol = inet_diag.IPPROTO_TCP if sock.proto is Proto.TCP else inet_diag.IPPROTO_UDP
    port = sock.local.port
    addrs = inet_diag.AddressCache()
    found = []
    for payload in nl.dump(inet_diag.build_port_request(family, protocol, port)):
        item = inet_diag.decode(payload, protocol, addrs, attrs=False)
        if item is not None and item.sport == port:  # bound-inactive entries escape the kernel's filter
            found.append(item)
    return found


def locate(sock: SocketRecord, nl: NetlinkSocket) -> inet_diag.InetSocket | None:
    """The kernel's current entry for this very socket (same cookie), or None when it is gone.

    The exact query answers first. Its ENOENT or ESTALE does not prove the socket gone: the lookup
    behind it cannot reach bound-inactive TCP sockets, and among SO_REUSEPORT sockets sharing an
    address it reaches one only. A dump of the local port settles it. Raises :class:`NetlinkError`
    or OSError for any other failure.
    """
    request = exact_request(sock)
    if request is None or sock.cookie is None:
        return None
    protocol = inet_diag.IPPROTO_TCP if sock.proto is Proto.TCP else inet_diag.IPPROTO_UDP
    try:
        replies = nl.request(request)
    except NetlinkError as exc:
        if exc.errno not in (errno.ENOENT, errno.ESTALE):
            raise
    else:
        for payload in replies:
            item = inet_diag.decode(payload, protocol, inet_diag.AddressCache(), attrs=False)
            if item is not None and item.cookie == sock.cookie:
                return item
    return next((item for item in port_entries(sock, nl) if item.cookie == sock.cookie), None)
