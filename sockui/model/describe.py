"""Plain-text descriptions for the detail pane: endpoints with service and scope, the pair, owners.

Pure functions over a snapshot; widgets only style the (label, value) pairs returned here. Every
value that came from the system has already been through :func:`format.safe`.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from sockui.model import format as fmt
from sockui.model.pairing import normalize_address
from sockui.model.services import ServiceTable
from sockui.model.socket import Binding, Endpoint, InetEndpoint, Proto, Snapshot, SocketRecord

Line = tuple[str, str]

_SHARED = ipaddress.ip_network("100.64.0.0/10")


def scope(address: str) -> str:
    """Loopback / private / link-local / multicast / unspecified / public, for an IP address."""
    try:
        ip = ipaddress.ip_address(normalize_address(address.split("%", 1)[0]))
    except ValueError:
        return "unknown"
    if ip.is_unspecified:
        return "any address"
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local"
    if ip.is_multicast:
        return "multicast"
    if ip.is_private:
        return "private"
    if ip.version == 4 and ip in _SHARED:
        return "shared (carrier-grade NAT)"
    if not ip.is_global:
        return "reserved"
    return "public"


def service(ep: InetEndpoint, proto: Proto, services: ServiceTable) -> str | None:
    """The well-known service name of a port, if any (``https``, ``ssh``)."""
    if proto not in (Proto.TCP, Proto.UDP):
        return None
    return services.name(ep.port, proto.value)


def endpoint_text(ep: Endpoint | None, proto: Proto, services: ServiceTable) -> str:
    """``127.0.0.1:443 (https, loopback)``; a UNIX path; ``-`` for none."""
    if ep is None:
        return "-"
    text = fmt.endpoint(ep)
    if not isinstance(ep, InetEndpoint):
        return text if text != "*" else "(unnamed)"
    extras = [s for s in (service(ep, proto, services), scope(ep.address)) if s]
    return f"{text} ({', '.join(extras)})" if extras else text


def owners_text(sock: SocketRecord) -> str:
    """``1234/nginx fd 7, 1240/nginx fd 7`` or a reason there is none."""
    if not sock.owners:
        reason = no_owner_reason(sock)
        return f"none: {reason}" if reason else "none visible"
    return ", ".join(f"{fmt.owner(o)} fd {o.fd}" for o in sock.owners)


def no_owner_reason(sock: SocketRecord) -> str | None:
    """Why no process can hold ``sock``, when the kernel says so; None when one might (hidden).

    A TCP socket with no inode has no file any process could hold: either its process closed it and
    the kernel is finishing the close (TIME_WAIT, FIN_WAIT2, LAST_ACK...), or it is a connection
    being set up that no accept() has taken yet (SYN_RECV). Blaming unreadable fd tables for those
    ("owners hidden") sent people looking for a process that does not exist.
    """
    if sock.proto is not Proto.TCP or sock.inode or sock.owners:
        return None
    if sock.state == "SYN_RECV":
        return "no accept() has taken this connection yet (SYN_RECV)"
    return f"its process closed it and the kernel is finishing the close ({sock.state})"


@dataclass(frozen=True)
class Pair:
    """The other end of a socket as the detail pane shows it."""

    #: The local peer's record when the other end is on this host.
    local: SocketRecord | None
    #: A listener's accepted connections (its clients' server-side sockets).
    clients: tuple[SocketRecord, ...]
    #: Lines describing the other end (remote address facts, or why there is none).
    lines: tuple[Line, ...]
    #: For an accepted connection: the listener that accepted it.
    listener: SocketRecord | None = None


def pair(sock: SocketRecord, snapshot: Snapshot) -> Pair:
    """Describe the other end of ``sock`` within ``snapshot`` (lookups only: see ``snapshot.index``)."""
    index = snapshot.index
    if sock.binding is Binding.LISTENING:
        clients = index.clients_of(sock)
        return Pair(None, clients, (("clients", f"{len(clients)} accepted connection(s)"),))
    peer = index.peer(sock)
    lines: list[Line] = []
    if peer is not None:
        where = "on this host"
        if peer.netns != sock.netns and peer.netns_label:
            where = f"on this host, network namespace {fmt.safe(peer.netns_label)}"
        lines.append(("peer", f"{fmt.endpoint(peer.local) or '*'}  {where}"))
        lines.append(("process", owners_text(peer)))
    elif sock.binding is Binding.CONNECTED and isinstance(sock.remote, InetEndpoint):
        remote = sock.remote
        lines.append(("remote", endpoint_text(remote, sock.proto, snapshot.services)))
        where = scope(remote.address)
        if where == "loopback":
            lines.append(
                ("note", "loopback peer not in this snapshot (closed, or another network namespace)")
            )
    elif sock.proto is Proto.UNIX and sock.binding is Binding.CONNECTED:
        lines.append(("peer", "not accepted yet, or already closed"))
    else:
        lines.append(("peer", "none: not connected"))
    listener = index.listener_of(sock)
    if listener is not None:
        owner = fmt.process_column(listener) or "owner not visible"
        lines.append(("accepted", f"by listener {fmt.endpoint(listener.local)} ({owner})"))
    return Pair(peer, (), tuple(lines), listener)


def endpoint_lines(sock: SocketRecord, services: ServiceTable) -> list[Line]:
    """The Endpoints section."""
    lines: list[Line] = [
        (
            "socket",
            f"{sock.proto.value} {sock.family.value} {sock.type.value}  {sock.state}  ({sock.binding.value})",
        ),
        ("local", endpoint_text(sock.local, sock.proto, services)),
        ("remote", endpoint_text(sock.remote, sock.proto, services)),
        ("inode", str(sock.inode) if sock.inode else "none (no socket file: e.g. TIME_WAIT)"),
        ("queues", f"recv {sock.recv_q}  send {sock.send_q}"),
    ]
    if sock.pending:
        lines.append(("pending", f"{len(sock.pending)} client(s) waiting to be accepted"))
    if sock.netns_label:
        lines.append(("netns", f"{fmt.safe(sock.netns_label)}  (net:[{sock.netns}])"))
    containers = list(dict.fromkeys(o.container for o in sock.owners if o.container))
    if containers:
        lines.append(("container", ", ".join(fmt.safe(c) for c in containers)))
    return lines
