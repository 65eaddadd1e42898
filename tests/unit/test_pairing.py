"""Pairing on hand-made flows and records: local peers of inet flows, and a listener's accepted clients."""

from __future__ import annotations

import pytest

from sockui.model.pairing import (
    BoundFlow,
    ConnectedFlow,
    inet_peers,
    normalize_address,
)

HOST = 4026531840


def flow(
    key: int,
    laddr: str,
    lport: int,
    raddr: str,
    rport: int,
    proto: str = "tcp",
    closing: bool = False,
    netns: int = HOST,
) -> ConnectedFlow:
    return (key, proto, laddr, lport, raddr, rport, closing, netns)


def udp(key: int, laddr: str, lport: int, raddr: str, rport: int, netns: int = HOST) -> ConnectedFlow:
    return flow(key, laddr, lport, raddr, rport, proto="udp", netns=netns)


def bound(key: int, laddr: str, lport: int, netns: int = HOST) -> BoundFlow:
    return (key, laddr, lport, netns)


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


# --- across network namespaces --------------------------------------------------------------------------

A, B = 4026532001, 4026532002


def test_a_veth_connection_pairs_across_namespaces() -> None:
    peers = inet_peers(
        [
            flow(1, "10.9.0.2", 40000, "10.9.0.1", 80, netns=A),
            flow(2, "10.9.0.1", 80, "10.9.0.2", 40000, netns=B),
        ]
    )
    assert peers == {1: 2, 2: 1}


def test_loopback_never_pairs_across_namespaces() -> None:
    # The same loopback 4-tuple in two namespaces: two different hosts, each pairs within its own.
    peers = inet_peers(
        [
            flow(1, "127.0.0.1", 5000, "127.0.0.1", 80, netns=A),
            flow(2, "127.0.0.1", 80, "127.0.0.1", 5000, netns=A),
            flow(3, "127.0.0.1", 5000, "127.0.0.1", 80, netns=B),
        ]
    )
    assert peers == {1: 2, 2: 1}
    assert 3 not in peers, "namespace B's loopback socket has no peer in B"


def test_a_tuple_in_two_namespaces_is_ambiguous_not_guessed() -> None:
    # Two containers with the same private address, each with a client of the same 4-tuple: the
    # reverse end in a third namespace cannot tell which one it talks to.
    peers = inet_peers(
        [
            flow(1, "172.17.0.2", 40000, "172.17.0.1", 80, netns=A),
            flow(2, "172.17.0.2", 40000, "172.17.0.1", 80, netns=B),
            flow(3, "172.17.0.1", 80, "172.17.0.2", 40000, netns=HOST),
        ]
    )
    assert 3 not in peers
    assert peers.get(1) == 3 and peers.get(2) == 3, "each client still finds the one server end"


def test_udp_wildcard_server_only_serves_its_own_namespace() -> None:
    peers = inet_peers(
        [
            udp(1, "10.9.0.2", 5353, "10.9.0.1", 53, netns=A),
            udp(2, "127.0.0.1", 5353, "127.0.0.1", 53, netns=B),
        ],
        [bound(10, "0.0.0.0", 53, netns=B)],
    )
    assert peers == {2: 10}
