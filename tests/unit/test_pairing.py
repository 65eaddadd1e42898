"""Pairing on hand-made flows and records: local peers of inet flows, and a listener's accepted clients."""

from __future__ import annotations

import pytest

from sockui.model.pairing import (
    BoundFlow,
    ConnectedFlow,
    accepted_by,
    index_by_key,
    inet_peers,
    normalize_address,
)
from sockui.model.socket import (
    Binding,
    Endpoint,
    Family,
    InetEndpoint,
    Proto,
    SocketRecord,
    SockType,
    UnixEndpoint,
)


def flow(
    key: int, laddr: str, lport: int, raddr: str, rport: int, proto: str = "tcp", closing: bool = False
) -> ConnectedFlow:
    return (key, proto, laddr, lport, raddr, rport, closing)


def udp(key: int, laddr: str, lport: int, raddr: str, rport: int) -> ConnectedFlow:
    return flow(key, laddr, lport, raddr, rport, proto="udp")


def bound(key: int, laddr: str, lport: int) -> BoundFlow:
    return (key, laddr, lport)


# --- normalize_address ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "normal"),
    [
        ("::ffff:127.0.0.1", "127.0.0.1"),
        ("::ffff:10.1.2.3", "10.1.2.3"),
        ("127.0.0.1", "127.0.0.1"),
        ("::1", "::1"),
        ("::ffff:a01:203", "::ffff:a01:203"),  # not dotted: not a mapped address in inet_ntop form
        ("2001:db8::ffff:1", "2001:db8::ffff:1"),
    ],
)
def test_normalize_address(address: str, normal: str) -> None:
    assert normalize_address(address) == normal


# --- TCP ----------------------------------------------------------------------------------------------


def test_tcp_reversed_four_tuples_pair_both_ways() -> None:
    peers = inet_peers(
        [
            flow(1, "127.0.0.1", 50000, "127.0.0.1", 8080),
            flow(2, "127.0.0.1", 8080, "127.0.0.1", 50000),
            flow(3, "10.0.0.5", 51000, "93.184.216.34", 443),  # remote end: no local peer
        ]
    )
    assert peers == {1: 2, 2: 1}


def test_tcp_needs_every_field_reversed() -> None:
    peers = inet_peers(
        [
            flow(1, "127.0.0.1", 50000, "127.0.0.1", 8080),
            flow(2, "127.0.0.2", 8080, "127.0.0.1", 50000),  # other local address
            flow(3, "127.0.0.1", 8081, "127.0.0.1", 50000),  # other port
            flow(4, "127.0.0.1", 8080, "127.0.0.1", 50001),  # other remote port
        ]
    )
    assert peers == {}


def test_tcp_and_udp_do_not_pair() -> None:
    peers = inet_peers(
        [flow(1, "127.0.0.1", 5000, "127.0.0.1", 6000), udp(2, "127.0.0.1", 6000, "127.0.0.1", 5000)]
    )
    assert peers == {}


def test_v4_mapped_end_pairs_with_plain_v4_end() -> None:
    # A dual-stack listener's accepted socket (AF_INET6 dump) and its IPv4 client (AF_INET dump).
    peers = inet_peers(
        [
            flow(1, "::ffff:127.0.0.1", 8080, "::ffff:127.0.0.1", 50000),
            flow(2, "127.0.0.1", 50000, "127.0.0.1", 8080),
        ]
    )
    assert peers == {1: 2, 2: 1}


def test_ipv6_flows_pair() -> None:
    peers = inet_peers([flow(1, "::1", 40000, "::1", 22), flow(2, "::1", 22, "::1", 40000)])
    assert peers == {1: 2, 2: 1}


@pytest.mark.parametrize("time_wait_first", [True, False])
def test_live_socket_beats_time_wait_on_same_tuple(time_wait_first: bool) -> None:
    time_wait = flow(10, "127.0.0.1", 40000, "127.0.0.1", 8080, closing=True)
    live = flow(11, "127.0.0.1", 40000, "127.0.0.1", 8080)
    server = flow(12, "127.0.0.1", 8080, "127.0.0.1", 40000)
    flows = [time_wait, live, server] if time_wait_first else [server, live, time_wait]
    peers = inet_peers(flows)
    assert peers[12] == 11
    assert peers[11] == 12


def test_time_wait_alone_still_pairs() -> None:
    peers = inet_peers(
        [
            flow(1, "127.0.0.1", 40000, "127.0.0.1", 8080, closing=True),
            flow(2, "127.0.0.1", 8080, "127.0.0.1", 40000),
        ]
    )
    assert peers == {1: 2, 2: 1}


def test_self_connected_socket_is_not_its_own_peer() -> None:
    assert inet_peers([flow(1, "127.0.0.1", 5000, "127.0.0.1", 5000)]) == {}


def test_tcp_ignores_bound_udp() -> None:
    peers = inet_peers([flow(1, "127.0.0.1", 50000, "127.0.0.1", 53)], [bound(2, "127.0.0.1", 53)])
    assert peers == {}


# --- UDP ----------------------------------------------------------------------------------------------


def test_udp_connected_pair() -> None:
    peers = inet_peers(
        [udp(1, "127.0.0.1", 4000, "127.0.0.1", 5000), udp(2, "127.0.0.1", 5000, "127.0.0.1", 4000)]
    )
    assert peers == {1: 2, 2: 1}


def test_udp_client_to_bound_server_exact_address() -> None:
    peers = inet_peers(
        [udp(1, "127.0.0.1", 43000, "127.0.0.53", 53)],
        [bound(2, "127.0.0.53", 53), bound(3, "127.0.0.1", 53)],
    )
    # A server has many clients: the client points at it, not the other way round.
    assert peers == {1: 2}


@pytest.mark.parametrize(
    ("client", "server"),
    [
        (udp(1, "127.0.0.1", 43000, "127.0.0.1", 5353), bound(2, "0.0.0.0", 5353)),
        (udp(1, "::1", 43000, "::1", 5353), bound(2, "::", 5353)),
        (udp(1, "127.0.0.1", 43000, "127.0.0.1", 5353), bound(2, "::", 5353)),  # dual-stack server
        (udp(1, "::ffff:127.0.0.1", 43000, "::ffff:127.0.0.1", 5353), bound(2, "0.0.0.0", 5353)),
        (udp(1, "127.0.0.1", 43000, "127.0.0.1", 5353), bound(2, "::ffff:127.0.0.1", 5353)),
    ],
)
def test_udp_client_to_wildcard_or_mapped_server(client: ConnectedFlow, server: BoundFlow) -> None:
    assert inet_peers([client], [server]) == {1: 2}


def test_udp_exact_server_beats_wildcard() -> None:
    client = udp(1, "127.0.0.1", 43000, "127.0.0.1", 53)
    for order in (
        [bound(2, "0.0.0.0", 53), bound(3, "127.0.0.1", 53)],
        [bound(3, "127.0.0.1", 53), bound(2, "0.0.0.0", 53)],
    ):
        assert inet_peers([client], order) == {1: 3}


def test_udp_connected_peer_beats_bound_server() -> None:
    peers = inet_peers(
        [udp(1, "127.0.0.1", 4000, "127.0.0.1", 5000), udp(2, "127.0.0.1", 5000, "127.0.0.1", 4000)],
        [bound(3, "0.0.0.0", 5000)],
    )
    assert peers == {1: 2, 2: 1}


def test_udp_wrong_port_or_address_no_server() -> None:
    peers = inet_peers(
        [udp(1, "127.0.0.1", 43000, "127.0.0.1", 53)],
        [bound(2, "127.0.0.1", 54), bound(3, "127.0.0.2", 53)],
    )
    assert peers == {}


def test_udp_ipv6_client_is_not_served_by_ipv4_wildcard() -> None:
    # An AF_INET socket bound to 0.0.0.0 never receives IPv6 datagrams: a client connected to
    # [::1]:5353 does not talk to it. Fails today: inet_peers tries both wildcards for any address.
    assert inet_peers([udp(1, "::1", 43000, "::1", 5353)], [bound(2, "0.0.0.0", 5353)]) == {}


# --- accepted_by ----------------------------------------------------------------------------------------


def rec(
    key: int,
    *,
    proto: Proto = Proto.TCP,
    family: Family = Family.IPV4,
    binding: Binding = Binding.CONNECTED,
    local: Endpoint | None = None,
    remote: Endpoint | None = None,
) -> SocketRecord:
    state = {Binding.LISTENING: "LISTEN", Binding.CONNECTED: "ESTABLISHED"}.get(binding, "UNCONN")
    stype = SockType.DGRAM if proto is Proto.UDP else SockType.STREAM
    return SocketRecord(
        proto=proto,
        family=family,
        type=stype,
        state=state,
        binding=binding,
        local=local,
        remote=remote,
        inode=key,
        uid=0,
        cookie=key,
    )


def ep(address: str, port: int) -> InetEndpoint:
    return InetEndpoint(address, port)


def keys(records: list[SocketRecord]) -> list[int]:
    return [r.key for r in records]


def tcp_world() -> list[SocketRecord]:
    return [
        rec(1, binding=Binding.LISTENING, local=ep("0.0.0.0", 8080)),
        rec(2, local=ep("127.0.0.1", 8080), remote=ep("127.0.0.1", 50000)),  # accepted
        rec(3, local=ep("127.0.0.1", 50000), remote=ep("127.0.0.1", 8080)),  # its client
        rec(4, local=ep("10.0.0.5", 8080), remote=ep("198.51.100.7", 40000)),  # accepted, remote client
        rec(5, local=ep("10.0.0.5", 8081), remote=ep("198.51.100.7", 40001)),  # other port
        rec(6, proto=Proto.UDP, local=ep("127.0.0.1", 8080), remote=ep("127.0.0.1", 9)),  # UDP
        rec(7, binding=Binding.BOUND, local=ep("127.0.0.1", 8080)),  # bound, not a connection
    ]


def test_wildcard_listener_clients() -> None:
    world = tcp_world()
    assert keys(accepted_by(world[0], world)) == [2, 4]


def test_specific_listener_clients() -> None:
    world = tcp_world()
    listener = rec(9, binding=Binding.LISTENING, local=ep("127.0.0.1", 8080))
    mapped = rec(10, family=Family.IPV6, local=ep("::ffff:127.0.0.1", 8080), remote=ep("::ffff:127.0.0.1", 5))
    # An AF_INET listener never accepts an IPv6 socket: the mapped one belongs to a [::] listener.
    assert keys(accepted_by(listener, [*world, mapped])) == [2]


def test_dual_stack_listener_clients() -> None:
    listener = rec(1, family=Family.IPV6, binding=Binding.LISTENING, local=ep("::", 443))
    sockets = [
        listener,
        rec(2, family=Family.IPV6, local=ep("::ffff:10.0.0.5", 443), remote=ep("::ffff:198.51.100.7", 1)),
        rec(3, family=Family.IPV6, local=ep("::1", 443), remote=ep("::1", 2)),
        rec(4, family=Family.IPV6, local=ep("::1", 444), remote=ep("::1", 3)),
    ]
    assert keys(accepted_by(listener, sockets)) == [2, 3]


def test_separate_ipv4_and_ipv6_listeners_keep_their_own_clients() -> None:
    # nginx's default "listen 80; listen [::]:80 ipv6only=on": two listeners on one port. Accepted
    # sockets inherit their listener's family, so each listener's clients are those of its family.
    # Fails today: _serves() lets a wildcard listener match any local address, whatever its family.
    v4 = rec(1, binding=Binding.LISTENING, local=ep("0.0.0.0", 80))
    v6 = rec(2, family=Family.IPV6, binding=Binding.LISTENING, local=ep("::", 80))
    v4_client = rec(3, local=ep("10.0.0.5", 80), remote=ep("198.51.100.7", 1000))
    v6_client = rec(4, family=Family.IPV6, local=ep("2001:db8::5", 80), remote=ep("2001:db8::9", 1000))
    sockets = [v4, v6, v4_client, v6_client]
    assert keys(accepted_by(v4, sockets)) == [3]
    assert keys(accepted_by(v6, sockets)) == [4]


def test_unix_listener_clients() -> None:
    path = UnixEndpoint("/run/app.sock")
    listener = rec(1, proto=Proto.UNIX, family=Family.UNIX, binding=Binding.LISTENING, local=path)
    sockets = [
        listener,
        rec(2, proto=Proto.UNIX, family=Family.UNIX, local=path, remote=UnixEndpoint(None)),  # accepted
        rec(3, proto=Proto.UNIX, family=Family.UNIX, local=UnixEndpoint(None), remote=path),  # client
        rec(4, proto=Proto.UNIX, family=Family.UNIX, local=UnixEndpoint("/run/other.sock")),
        rec(5, proto=Proto.UNIX, family=Family.UNIX, local=path, remote=UnixEndpoint(None)),  # accepted
        rec(6, proto=Proto.UNIX, family=Family.UNIX, binding=Binding.BOUND, local=path),
    ]
    assert keys(accepted_by(listener, sockets)) == [2, 5]


def test_abstract_listener_clients() -> None:
    name = UnixEndpoint("@bus")
    listener = rec(1, proto=Proto.UNIX, family=Family.UNIX, binding=Binding.LISTENING, local=name)
    accepted = rec(2, proto=Proto.UNIX, family=Family.UNIX, local=name, remote=UnixEndpoint(None))
    path_twin = rec(
        3, proto=Proto.UNIX, family=Family.UNIX, local=UnixEndpoint("bus"), remote=UnixEndpoint(None)
    )
    assert keys(accepted_by(listener, [listener, accepted, path_twin])) == [2]


def test_not_a_listener_has_no_clients() -> None:
    world = tcp_world()
    assert accepted_by(world[1], world) == []
    nameless = rec(9, binding=Binding.LISTENING, local=None)
    assert accepted_by(nameless, world) == []


def test_index_by_key() -> None:
    world = tcp_world()
    index = index_by_key(world)
    assert set(index) == {1, 2, 3, 4, 5, 6, 7}
    assert index[4] is world[3]
    no_cookie = SocketRecord(
        proto=Proto.TCP,
        family=Family.IPV4,
        type=SockType.STREAM,
        state="ESTABLISHED",
        binding=Binding.CONNECTED,
        local=None,
        remote=None,
        inode=77,
        uid=None,
    )
    assert index_by_key([no_cookie]) == {-77: no_cookie}
