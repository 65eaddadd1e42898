"""Pairing: find the other end of a flow when it lives on this host.

Peers come from data, never from the kernel directly for inet sockets: the other end of a TCP
connection on this host is the socket whose 4-tuple is ours reversed, in the same snapshot.
"""

from __future__ import annotations

from collections.abc import Iterable

from sockui.model.socket import Proto

_MAPPED_PREFIX = "::ffff:"
_WILDCARDS = ("0.0.0.0", "::")


def normalize_address(address: str) -> str:
    """Fold IPv4-mapped IPv6 (``::ffff:1.2.3.4``) to plain IPv4, so dual-stack ends compare equal."""
    if address.startswith(_MAPPED_PREFIX) and "." in address:
        return address[len(_MAPPED_PREFIX) :]
    return address


#: A connected inet socket as pairing sees it: (key, proto, local address, local port, remote address,
#: remote port, closing). ``closing`` (TIME_WAIT and the like) loses to a live socket on the same
#: 4-tuple. Plain tuples, not objects: pairing runs over every socket on every refresh.
ConnectedFlow = tuple[int, str, str, int, str, int, bool]
#: A bound, unconnected UDP socket: (key, local address, local port).
BoundFlow = tuple[int, str, int]


def inet_peers(connected: Iterable[ConnectedFlow], bound_udp: Iterable[BoundFlow] = ()) -> dict[int, int]:
    """Map each connected socket's key to the key of its local other end, where there is one.

    TCP: the exact reversed 4-tuple. UDP: the reversed 4-tuple of a connected socket, or else the
    socket bound to the remote address and port (a server's unconnected socket, possibly on the
    wildcard address). A server socket has many clients, so the map is not symmetric for UDP.
    """
    # Runs over every connected socket each refresh: memoise address folding (few distinct
    # addresses), and let a live socket win over a closing one on the same 4-tuple without sorting.
    folded: dict[str, str] = {}

    def norm(address: str) -> str:
        text = folded.get(address)
        if text is None:
            text = folded[address] = normalize_address(address)
        return text

    by_tuple: dict[tuple[str, str, int, str, int], int] = {}
    keyed: list[tuple[int, tuple[str, str, int, str, int]]] = []
    for key, proto, laddr, lport, raddr, rport, closing in connected:
        laddr = norm(laddr)
        raddr = norm(raddr)
        flow = (proto, laddr, lport, raddr, rport)
        if not closing or flow not in by_tuple:
            by_tuple[flow] = key
        keyed.append((key, (proto, raddr, rport, laddr, lport)))
    bound = {(norm(laddr), lport): key for key, laddr, lport in bound_udp}
    peers: dict[int, int] = {}
    get = by_tuple.get
    for key, reverse in keyed:
        other = get(reverse)
        if other is None and reverse[0] == Proto.UDP and bound:
            _proto, raddr, rport, _laddr, _lport = reverse
            other = bound.get((raddr, rport))
            # An IPv6 destination can only reach an IPv6 socket; an IPv4 one either kind (dual stack).
            for wildcard in _WILDCARDS if ":" not in raddr else _WILDCARDS[1:]:
                if other is not None:
                    break
                other = bound.get((wildcard, rport))
        if other is not None and other != key:
            peers[key] = other
    return peers
