"""Per-snapshot lookups on hand-made records: a listener's clients, a process's sockets, peers by key."""

from __future__ import annotations

from sockui.model.index import build_index
from sockui.model.socket import (
    Binding,
    Endpoint,
    Family,
    InetEndpoint,
    Owner,
    Proto,
    SocketRecord,
    SockType,
    UnixEndpoint,
)


def accepted_by(listener: SocketRecord, sockets: list[SocketRecord]) -> list[SocketRecord]:
    """The listener's clients in a snapshot of ``sockets`` plus the listener itself."""
    world = sockets if listener in sockets else [listener, *sockets]
    return list(build_index(world).clients_of(listener))


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


def test_by_key() -> None:
    world = tcp_world()
    index = build_index(world)
    assert set(index.by_key) == {1, 2, 3, 4, 5, 6, 7}
    assert index.by_key[4] is world[3]
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
    assert build_index([no_cookie]).by_key == {-77: no_cookie}


def test_listener_of_accepted_connections() -> None:
    world = tcp_world()
    index = build_index(world)
    assert index.listener_of(world[1]) is world[0]
    assert index.listener_of(world[3]) is world[0]
    assert index.listener_of(world[2]) is None  # the client side was not accepted by anyone here
    assert index.listener_of(world[4]) is None  # port 8081 has no listener


def test_sockets_of_each_process_once() -> None:
    a = rec(1, binding=Binding.LISTENING, local=ep("0.0.0.0", 80))
    b = rec(2, local=ep("10.0.0.1", 80), remote=ep("10.0.0.2", 5))
    # A process holding one socket under two fds, and a forked child holding it too.
    a = a._replace(owners=(Owner(10, 3, "srv"), Owner(10, 7, "srv"), Owner(11, 3, "srv")))
    b = b._replace(owners=(Owner(11, 4, "srv"),))
    index = build_index([a, b])
    assert [s.key for s in index.sockets_of(10)] == [1]
    assert [s.key for s in index.sockets_of(11)] == [1, 2]
    assert index.sockets_of(12) == ()


def test_peer() -> None:
    a = rec(1, local=ep("127.0.0.1", 1), remote=ep("127.0.0.1", 2))._replace(peer_key=2)
    b = rec(2, local=ep("127.0.0.1", 2), remote=ep("127.0.0.1", 1))._replace(peer_key=1)
    gone = rec(3, local=ep("127.0.0.1", 3), remote=ep("127.0.0.1", 4))._replace(peer_key=99)
    index = build_index([a, b, gone])
    assert index.peer(a) is b and index.peer(b) is a
    assert index.peer(gone) is None


def test_listeners_and_clients_stay_in_their_namespace() -> None:
    """The same port listening in two namespaces: each accepted socket belongs to its own namespace's."""
    host_listener = rec(1, binding=Binding.LISTENING, local=ep("0.0.0.0", 80))._replace(netns=1)
    web_listener = rec(2, binding=Binding.LISTENING, local=ep("0.0.0.0", 80))._replace(netns=2)
    host_conn = rec(3, local=ep("10.0.0.5", 80), remote=ep("10.0.0.9", 5000))._replace(netns=1)
    web_conn = rec(4, local=ep("172.17.0.2", 80), remote=ep("172.17.0.1", 6000))._replace(netns=2)
    unix_a = rec(5, proto=Proto.UNIX, family=Family.UNIX, binding=Binding.LISTENING)
    unix_a = unix_a._replace(local=UnixEndpoint("@bus"), netns=1)
    unix_b = unix_a._replace(cookie=6, inode=6, netns=2)
    accepted_b = rec(7, proto=Proto.UNIX, family=Family.UNIX)._replace(local=UnixEndpoint("@bus"), netns=2)
    index = build_index([host_listener, web_listener, host_conn, web_conn, unix_a, unix_b, accepted_b])
    assert keys(list(index.clients_of(host_listener))) == [3]
    assert keys(list(index.clients_of(web_listener))) == [4]
    assert index.listener_of(accepted_b) == unix_b
    assert index.clients_of(unix_a) == ()
    assert index.spans_namespaces
    assert index.by_netns == {
        1: {Binding.LISTENING: 2, Binding.CONNECTED: 1},
        2: {Binding.LISTENING: 2, Binding.CONNECTED: 2},
    }


def test_processes_per_namespace() -> None:
    owned = rec(1, binding=Binding.LISTENING, local=ep("0.0.0.0", 80))._replace(
        netns=7, owners=(Owner(10, 3, "nginx"), Owner(11, 3, "nginx"))
    )
    index = build_index([owned, rec(2)._replace(netns=7)])
    assert index.netns_pids == {7: {10: "nginx", 11: "nginx"}}
    assert not index.spans_namespaces
