"""Processes and sockets vanishing mid-read never crash the collector nor leave a wrong owner behind.

A child churns as fast as it can (sockets of every kind opened and closed, children forked that open a
socket and exit) while this test collects ~50 snapshots, alternating a fresh Collector and one kept
across refreshes (the incremental owner map). No call raises; the sockets this process and a steady
child hold the whole time are listed in every snapshot with exactly their real (pid, fd) owners; no
(pid, fd) is ever claimed by two sockets; and any owner naming this process is a real fd of ours holding
that socket. A kept Collector must also follow an fd number reused for another socket between two
refreshes (close one socket, open another, which gets the same fd number).
"""

from __future__ import annotations

import json
import os
import socket

import pytest

from sockui.collect.snapshot import Collector
from sockui.model.socket import Snapshot

from .holders import Holder, HolderPool
from .scenario import SocketBag, inode_of

#: Collections per collector kind (fresh, kept): ~50 snapshots in all.
ROUNDS = 25


def _steady_sockets(bag: SocketBag) -> list[socket.socket]:
    listener = bag.new()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    client = bag.new()
    client.connect(listener.getsockname())
    server = bag.add(listener.accept()[0])
    udp = bag.new(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    left, right = socket.socketpair()
    bare = bag.new(socket.AF_INET6, socket.SOCK_DGRAM)
    return [listener, client, server, udp, bag.add(left), bag.add(right), bare]


def _check(snapshot: Snapshot, expected: dict[int, set[tuple[int, int]]], holder: Holder) -> None:
    me = os.getpid()
    holder_fds = {int(fd) for fd in holder.report["fds"].values()}
    seen: dict[tuple[int, int], int] = {}
    listed: dict[int, set[tuple[int, int]]] = {}
    for record in snapshot.sockets:
        owners = {(o.pid, o.fd) for o in record.owners}
        assert len(owners) == len(record.owners), f"duplicate owner in {record}"
        if record.inode in expected:
            assert record.inode not in listed, f"inode {record.inode} listed twice"
            listed[record.inode] = owners
        for pid, fd in owners:
            assert (pid, fd) not in seen, (
                f"({pid}, {fd}) claimed by inodes {seen[(pid, fd)]} and {record.inode}"
            )
            seen[(pid, fd)] = record.inode
            if pid == me:
                assert os.fstat(fd).st_ino == record.inode, f"our fd {fd} is not inode {record.inode}"
            elif pid == holder.pid:
                assert fd in holder_fds, f"the steady child has no socket at fd {fd}"
    assert listed == expected


def test_collect_during_churn(bag: SocketBag, holders: HolderPool) -> None:
    steady = _steady_sockets(bag)
    shared = steady[3]
    holder = holders.spawn([shared])
    me = os.getpid()
    expected = {inode_of(s): {(me, s.fileno())} for s in steady}
    expected[inode_of(shared)].add((holder.pid, holder.fd_for(shared.fileno())))
    churner = holders.spawn(mode="churn")

    def fresh() -> Snapshot:
        with Collector() as collector:
            return collector.collect()

    with Collector() as kept:
        for _ in range(ROUNDS):
            for collect in (fresh, kept.collect):
                _check(collect(), expected, holder)
            assert churner.proc.poll() is None, "the churning child died"
    holders.holders.remove(churner)
    tail = churner.stop()
    rounds = json.loads(tail)["rounds"]
    assert rounds >= ROUNDS, f"the child churned only {rounds} times: the test proved little"


@pytest.mark.parametrize("old_kind", ["unbound", "bound"])
@pytest.mark.parametrize("new_kind", ["unbound", "listening"])
def test_kept_collector_follows_reused_fd(old_kind: str, new_kind: str, bag: SocketBag) -> None:
    """Close a socket and open another between two refreshes: the new one takes the same fd number."""
    me = os.getpid()
    with Collector() as kept:
        old = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if old_kind == "bound":
            old.bind(("127.0.0.1", 0))
            old.listen(1)
        fd, old_inode = old.fileno(), inode_of(old)
        try:
            kept.collect()  # the first refresh walks everything (in a forked child)
            first = kept.collect()  # now the map is kept and updated incrementally
            listed = [r for r in first.sockets if r.inode == old_inode]
            assert len(listed) == 1, listed
            assert [(o.pid, o.fd) for o in listed[0].owners] == [(me, fd)]
        finally:
            old.close()
        new = bag.new(socket.AF_INET6, socket.SOCK_DGRAM if new_kind == "unbound" else socket.SOCK_STREAM)
        if new_kind == "listening":
            new.bind(("::1", 0))
            new.listen(1)
        assert new.fileno() == fd, "precondition: the kernel reuses the lowest free fd number"
        new_inode = inode_of(new)

        second = kept.collect()
        stale = [r for r in second.sockets if r.inode == old_inode]
        assert stale == [], f"closed socket still listed: {stale}"
        now = [r for r in second.sockets if r.inode == new_inode]
        assert len(now) == 1, f"new socket (inode {new_inode}) listed {len(now)} times"
        assert [(o.pid, o.fd) for o in now[0].owners] == [(me, fd)]
        assert now[0].proto.value == ("udp" if new_kind == "unbound" else "tcp")
        assert now[0].family.value == "ipv6"


def test_kept_collector_drops_exited_holder(bag: SocketBag, holders: HolderPool) -> None:
    """A child sharing our socket exits: the next refresh of a kept Collector lists only us."""
    me = os.getpid()
    sock = bag.new(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    inode = inode_of(sock)
    holder = holders.spawn([sock])

    def owners(snapshot: Snapshot) -> list[tuple[int, int]]:
        found = [r for r in snapshot.sockets if r.inode == inode]
        assert len(found) == 1, found
        return [(o.pid, o.fd) for o in found[0].owners]

    with Collector() as kept:
        kept.collect()
        both = sorted([(me, sock.fileno()), (holder.pid, holder.fd_for(sock.fileno()))])
        assert owners(kept.collect()) == both
        holders.holders.remove(holder)
        holder.stop()  # exits and is reaped: its pid is gone from /proc
        assert owners(kept.collect()) == [(me, sock.fileno())]


def test_cancel_stops_a_collection() -> None:
    """Quitting the app cancels a refresh in flight: collect() must stop at its next checkpoint."""
    from sockui.collect.snapshot import CollectCancelledError, Collector

    with Collector() as collector:
        collector.collect()  # a normal collection works
        collector.cancel()
        with pytest.raises(CollectCancelledError):
            collector.collect()


def test_kept_collector_follows_an_fd_moved_to_another_socket(bag: SocketBag) -> None:
    """``dup2`` puts another socket at an fd number while the socket it held stays open elsewhere.

    Nothing the cheap signals watch changes: the fd count is the same and no socket vanished from
    the kernel's tables. Without re-reading the links of shared sockets, a kept Collector kept
    showing this process as holding the old socket at that fd, and the new socket without that
    owner, until the next full walk (30 s later). Found by tests/app/test_churn_tui.py.
    """
    me = os.getpid()
    old = bag.new(socket.AF_INET, socket.SOCK_DGRAM)
    old.bind(("127.0.0.1", 0))
    new = bag.new(socket.AF_INET6 if socket.has_ipv6 else socket.AF_INET, socket.SOCK_DGRAM)
    new.bind(("::1" if new.family == socket.AF_INET6 else "127.0.0.1", 0))
    moved = os.dup(old.fileno())  # the fd that will move: old is held at two fds for now
    try:

        def owners(snapshot: Snapshot, sock: socket.socket) -> list[tuple[int, int]]:
            found = [r for r in snapshot.sockets if r.inode == inode_of(sock)]
            assert len(found) == 1, found
            return [(o.pid, o.fd) for o in found[0].owners]

        with Collector() as kept:
            kept.collect()  # the first refresh walks everything
            before = kept.collect()  # incremental from here on
            assert owners(before, old) == sorted([(me, old.fileno()), (me, moved)])
            assert owners(before, new) == [(me, new.fileno())]
            os.dup2(new.fileno(), moved)  # atomically: moved now holds new; old lives on
            after = kept.collect()
            assert owners(after, old) == [(me, old.fileno())], "the moved fd is no longer old's"
            assert owners(after, new) == sorted([(me, new.fileno()), (me, moved)])
    finally:
        os.close(moved)
