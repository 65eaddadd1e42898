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
#: remote port, closing, network namespace). ``closing`` (TIME_WAIT and the like) loses to a live
#: socket on the same 4-tuple. Plain tuples, not objects: pairing runs over every socket each refresh.
ConnectedFlow = tuple[int, str, str, int, str, int, bool, int]
#: A bound, unconnected UDP socket: (key, local address, local port, network namespace).
BoundFlow = tuple[int, str, int, int]

#: Stands for "more than one namespace has this 4-tuple": no pair is claimed.
_AMBIGUOUS = -1


def is_loopback(address: str) -> bool:
    """127.0.0.0/8 and ::1 (folded addresses): they mean "this host" in each namespace separately."""
    return address.startswith("127.") or address == "::1"


def inet_peers(connected: Iterable[ConnectedFlow], bound_udp: Iterable[BoundFlow] = ()) -> dict[int, int]:
    """Map each connected socket's key to the key of its local other end, where there is one.

    TCP: the exact reversed 4-tuple. UDP: the reversed 4-tuple of a connected socket, or else the
    socket bound to the remote address and port (a server's unconnected socket, possibly on the
    wildcard address). A server socket has many clients, so the map is not symmetric for UDP.

    Across network namespaces: two ends on a veth pair or a bridge pair like two ends on loopback.
    A loopback address only pairs within its own namespace (127.0.0.1 in two namespaces is two
    hosts), and so does a wildcard-bound UDP server (which namespace owns an address is not known
    here). When a 4-tuple is found in more than one namespace, nobody can tell which is meant: no
    pair rather than a guess.
    """
    # Runs over every connected socket each refresh: memoise address folding (few distinct
    # addresses), and let a live socket win over a closing one on the same 4-tuple without sorting.
    folded: dict[str, str] = {}

    def norm(address: str) -> str:
        text = folded.get(address)
        if text is None:
            text = folded[address] = normalize_address(address)
        return text

    FlowKey = tuple[str, str, int, str, int, int]  # noqa: N806 - a local type alias
    by_tuple: dict[FlowKey, tuple[int, int, bool]] = {}
    keyed: list[tuple[int, FlowKey, int]] = []
    for key, proto, laddr, lport, raddr, rport, closing, netns in connected:
        laddr = norm(laddr)
        raddr = norm(raddr)
        scope = netns if is_loopback(laddr) or is_loopback(raddr) else 0
        flow = (proto, laddr, lport, raddr, rport, scope)
        seen = by_tuple.get(flow)
        if seen is None or (seen[1] == netns and seen[2] and not closing):
            by_tuple[flow] = (key, netns, closing)
        elif seen[1] != netns and not (closing or seen[2]):
            by_tuple[flow] = (_AMBIGUOUS, netns, False)
        keyed.append((key, (proto, raddr, rport, laddr, lport, scope), netns))
    bound: dict[tuple[str, int, int], int] = {}
    for key, laddr, lport, netns in bound_udp:
        laddr = norm(laddr)
        scope = netns if is_loopback(laddr) or laddr in _WILDCARDS else 0
        where = (laddr, lport, scope)
        bound[where] = _AMBIGUOUS if where in bound and scope == 0 else key
    peers: dict[int, int] = {}
    get = by_tuple.get
    for key, reverse, netns in keyed:
        found = get(reverse)
        other = found[0] if found is not None else None
        if other is None and reverse[0] == Proto.UDP and bound:
            _proto, raddr, rport, _laddr, _lport, scope = reverse
            other = bound.get((raddr, rport, scope))
            # An IPv6 destination can only reach an IPv6 socket; an IPv4 one either kind (dual stack).
            for wildcard in _WILDCARDS if ":" not in raddr else _WILDCARDS[1:]:
                if other is not None:
                    break
                other = bound.get((wildcard, rport, netns))
        if other is not None and other != key and other != _AMBIGUOUS:
            peers[key] = other
    return peers
