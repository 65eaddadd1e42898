"""Network namespaces found, entered and read: two real namespaces joined by a veth pair (as root).

Namespaces A and B (``ip netns add sockui-test-<random>-a/-b``) are joined by a veth pair (10.213.N.1/24
in A, .2 in B). A server in A listens on the veth address; a client in B connects to it over the veth;
both also listen on 127.0.0.1 with the same port. The tests check that :func:`discover` lists both by
their ``ip netns`` names next to our own namespace, that a NetlinkSocket made by :func:`open_in_netns`
reads the tables of the namespace it was made in (the server's listener in A only), that the calling
thread never changes namespace, and what the kernel does with socket cookies and inodes across
namespaces. Everything is removed by finalizers (processes reaped, namespaces deleted), also on failure.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from sockui.collect import inet_diag, netns
from sockui.collect.netlink import NetlinkSocket
from sockui.collect.netns import NetnsError, discover, open_in_netns
from sockui.collect.netns_labels import SOURCE_HOST, SOURCE_IP_NETNS, label_namespaces
from sockui.collect.netns_sockets import NetnsSockets

from .netns_support import (
    CHILD_PRELUDE,
    IDLE,
    Child,
    add_netns,
    dump_inet,
    in_netns,
    inode_of_path,
    ns_path,
    random_tag,
    require_root_and,
    run,
    socket_inodes,
    spawn,
    thread_netns,
)

SERVER_PORT = 47100
LOOPBACK_PORT = 47123

#: In A: a listener on the veth address and one on loopback; reports, accepts one client, reports again.
SERVER = (
    CHILD_PRELUDE
    + r"""
srv = socket.create_server((sys.argv[2], int(sys.argv[3])))
lo = socket.create_server(("127.0.0.1", int(sys.argv[4])))
report(pid=os.getpid())
conn, peer = srv.accept()
report(accepted=list(peer))
sys.stdin.read()
"""
)

#: In B: a loopback listener on the same port as A's, and a client of A's server over the veth.
CLIENT = (
    CHILD_PRELUDE
    + r"""
lo = socket.create_server(("127.0.0.1", int(sys.argv[4])))
cli = socket.create_connection((sys.argv[2], int(sys.argv[3])), timeout=10)
report(pid=os.getpid(), local=list(cli.getsockname()))
sys.stdin.read()
"""
)


@dataclass
class Pair:
    """Namespaces A and B, the veth subnet, and the processes in them."""

    a: str
    b: str
    server_addr: str
    client_addr: str
    server: Child
    client: Child


@pytest.fixture(scope="module")
def pair() -> Iterator[Pair]:
    require_root_and("ip")
    tag = random_tag()
    subnet = f"10.213.{secrets.randbelow(250) + 1}"
    with contextlib.ExitStack() as stack:
        a = add_netns(stack, f"sockui-test-{tag}-a")
        b = add_netns(stack, f"sockui-test-{tag}-b")
        run("ip", "-n", a, "link", "add", "veth0", "type", "veth", "peer", "name", "veth1", "netns", b)
        run("ip", "-n", a, "addr", "add", f"{subnet}.1/24", "dev", "veth0")
        run("ip", "-n", b, "addr", "add", f"{subnet}.2/24", "dev", "veth1")
        run("ip", "-n", a, "link", "set", "veth0", "up")
        run("ip", "-n", b, "link", "set", "veth1", "up")
        args = (f"{subnet}.1", str(SERVER_PORT), str(LOOPBACK_PORT))
        server = spawn(stack, in_netns(a), SERVER, *args)
        client = spawn(stack, in_netns(b), CLIENT, *args)
        accepted = server.line()
        assert accepted["accepted"] == client.report["local"]
        yield Pair(a, b, f"{subnet}.1", f"{subnet}.2", server, client)


def _listeners(socks: list[inet_diag.InetSocket], port: int) -> list[inet_diag.InetSocket]:
    return [s for s in socks if s.state == inet_diag.TCP_LISTEN and s.sport == port]


def test_discover_lists_both_namespaces_by_name_and_ours_as_host(pair: Pair) -> None:
    found = discover()
    own = found.own
    assert own is not None and own.inode == thread_netns() == inode_of_path("/proc/self/ns/net")
    assert os.getpid() in own.pids
    by_name = {name: ns for ns in found.namespaces for name in ns.names}
    a, b = by_name[pair.a], by_name[pair.b]
    assert (a.inode, b.inode) == (
        inode_of_path(f"/run/netns/{pair.a}"),
        inode_of_path(f"/run/netns/{pair.b}"),
    )
    assert len({own.inode, a.inode, b.inode}) == 3
    assert not a.own and not b.own
    assert a.path == ns_path(pair.a) and a.pid is None, "a bind mount is preferred to a pid"
    assert pair.server.pid in a.pids and pair.server.pid not in b.pids + own.pids
    assert pair.client.pid in b.pids and pair.client.pid not in a.pids + own.pids
    assert found.get(a.inode) is a
    labels = label_namespaces(found)
    assert (labels[own.inode].label, labels[own.inode].source) == ("host", SOURCE_HOST)
    assert (labels[a.inode].label, labels[a.inode].source) == (pair.a, SOURCE_IP_NETNS)
    assert labels[b.inode].label == pair.b


def test_socket_made_inside_reads_that_namespace_and_the_caller_stays(pair: Pair) -> None:
    before = thread_netns()
    with (
        open_in_netns(ns_path(pair.a), NetlinkSocket) as in_a,
        open_in_netns(ns_path(pair.b), NetlinkSocket) as in_b,
        NetlinkSocket() as here,
    ):
        assert thread_netns() == before
        assert inode_of_path("/proc/self/ns/net") == before
        socks_a, socks_b, socks_host = dump_inet(in_a), dump_inet(in_b), dump_inet(here)
        # Dumps run from this thread, after the helper threads are gone: still their namespaces.
        assert thread_netns() == before
    server_held = socket_inodes(pair.server.pid)
    client_held = socket_inodes(pair.client.pid)

    listener = [s for s in _listeners(socks_a, SERVER_PORT) if s.src == pair.server_addr]
    assert len(listener) == 1 and listener[0].inode in server_held
    accepted = [s for s in socks_a if s.sport == SERVER_PORT and s.dst == pair.client_addr]
    assert len(accepted) == 1 and accepted[0].state == 1  # ESTABLISHED
    assert not _listeners(socks_b, SERVER_PORT) and not _listeners(socks_host, SERVER_PORT)
    client = [s for s in socks_b if s.dst == pair.server_addr and s.dport == SERVER_PORT]
    assert len(client) == 1 and client[0].inode in client_held and client[0].src == pair.client_addr
    assert not [s for s in socks_host if pair.server_addr in (s.src, s.dst)]

    # The same loopback port in both namespaces: one listener each, held by that namespace's process.
    (lo_a,) = [s for s in _listeners(socks_a, LOOPBACK_PORT) if s.src == "127.0.0.1"]
    (lo_b,) = [s for s in _listeners(socks_b, LOOPBACK_PORT) if s.src == "127.0.0.1"]
    assert lo_a.inode in server_held and lo_b.inode in client_held


def test_cookies_and_inodes_are_unique_across_namespaces(pair: Pair) -> None:
    """Facts the merged table relies on: on this kernel neither cookies nor inodes repeat across
    namespaces (both come from global counters), so either can key a socket machine-wide."""
    tables: list[list[inet_diag.InetSocket]] = []
    for path in (ns_path(pair.a), ns_path(pair.b)):
        with open_in_netns(path, NetlinkSocket) as sock:
            tables.append(dump_inet(sock) + dump_inet(sock, inet_diag.IPPROTO_UDP))
    with NetlinkSocket() as sock:
        tables.append(dump_inet(sock) + dump_inet(sock, inet_diag.IPPROTO_UDP))
    cookies = [{s.cookie for s in table} for table in tables]
    inodes = [{s.inode for s in table if s.inode} for table in tables]
    assert all(cookies[:2]) and all(inodes[:2])
    for i in range(3):
        for j in range(i + 1, 3):
            assert not cookies[i] & cookies[j], (i, j)
            assert not inodes[i] & inodes[j], (i, j)


def test_helper_thread_really_is_inside_and_errors_are_plain(pair: Pair) -> None:
    before = thread_netns()
    target = inode_of_path(ns_path(pair.a))
    assert open_in_netns(ns_path(pair.a), thread_netns) == target
    # Through a process's link too, guarded against pid reuse by the expected inode.
    assert open_in_netns(f"/proc/{pair.server.pid}/ns/net", thread_netns, expect_inode=target) == target

    with pytest.raises(NetnsError) as gone:
        open_in_netns("/run/netns/sockui-test-does-not-exist", NetlinkSocket)
    assert gone.value.errno == errno.ENOENT and str(gone.value).startswith("the network namespace is gone")
    with pytest.raises(NetnsError) as stale:
        open_in_netns(ns_path(pair.a), NetlinkSocket, expect_inode=target + 1)
    assert stale.value.errno == errno.ESTALE
    with pytest.raises(NetnsError) as wrong:
        open_in_netns("/proc/self/ns/uts", NetlinkSocket)
    assert wrong.value.errno == errno.EINVAL and str(wrong.value) == "this is not a network namespace"

    def refuse() -> NetlinkSocket:
        raise ValueError("factory failed")

    with pytest.raises(ValueError, match="factory failed"):
        open_in_netns(ns_path(pair.a), refuse)
    assert thread_netns() == before


def test_netns_sockets_follow_namespaces_as_they_come_and_go(pair: Pair) -> None:
    with contextlib.ExitStack() as stack:
        sockets = stack.enter_context(NetnsSockets())
        first = discover()
        sockets.update(first)
        inode_a = inode_of_path(ns_path(pair.a))
        own = first.own
        assert own is not None
        in_a = sockets.for_namespace(inode_a)
        assert in_a is not None and sockets.for_namespace(own.inode) is not None
        assert not sockets.failures, sockets.failures
        assert [s for s in _listeners(dump_inet(in_a), SERVER_PORT) if s.src == pair.server_addr]

        extra = stack.enter_context(contextlib.ExitStack())
        name_c = add_netns(extra, f"sockui-test-{random_tag()}-c")
        idle = spawn(extra, in_netns(name_c), IDLE)
        inode_c = inode_of_path(ns_path(name_c))
        sockets.update(discover())
        in_c = sockets.for_namespace(inode_c)
        assert in_c is not None
        assert sockets.for_namespace(inode_a) is in_a, "kept across refreshes"
        assert dump_inet(in_c) == []

        extra.close()  # the idle process reaped, ``ip netns del`` done
        assert idle.proc.poll() is not None
        # Our socket still pins the namespace: it is deleted yet still answers.
        assert dump_inet(in_c) == []
        later = discover()
        assert later.get(inode_c) is None
        sockets.update(later)
        assert sockets.for_namespace(inode_c) is None and in_c.broken, "closed once the namespace vanished"

        # A socket that broke (a dump left half read) is replaced at the next update.
        in_a.broken = True
        sockets.update(later)
        renewed = sockets.for_namespace(inode_a)
        assert renewed is not None and renewed is not in_a and not renewed.broken
    assert sockets.for_namespace(inode_a) is None and len(sockets) == 0


def test_netns_sockets_reports_what_it_could_not_open(pair: Pair) -> None:
    def no_fds() -> NetlinkSocket:
        raise OSError(errno.EMFILE, os.strerror(errno.EMFILE))

    found = discover()
    with NetnsSockets(no_fds) as sockets:
        sockets.update(found)
        assert len(sockets) == 0
        assert set(sockets.failures) == {ns.inode for ns in found.namespaces}
        own = found.own
        assert own is not None
        assert sockets.failures[own.inode] == "cannot open a sock_diag socket there: Too many open files"


def test_discover_reads_a_fake_run_dir_and_skips_what_is_not_a_namespace(tmp_path: Path, pair: Pair) -> None:
    """Entries of a run dir that are not network namespaces (a plain file, a mount namespace) are ignored."""
    run_dir = str(tmp_path / "netns")
    os.mkdir(run_dir)
    with open(os.path.join(run_dir, "plain"), "w", encoding="ascii"):
        pass
    os.symlink("/proc/self/ns/mnt", os.path.join(run_dir, "mnt"))
    os.symlink(ns_path(pair.a), os.path.join(run_dir, "alias\x1b[31m"))
    found = discover(run_dirs=(run_dir,), named_dirs=(run_dir,))
    a = found.get(inode_of_path(ns_path(pair.a)))
    assert a is not None and a.names == ("alias\x1b[31m",)
    assert a.mounts == (os.path.join(run_dir, "alias\x1b[31m"),)
    assert found.get(inode_of_path("/proc/self/ns/mnt")) is None
    assert all(ns.names == () for ns in found.namespaces if ns is not a)


def test_unreadable_processes_are_counted() -> None:
    """Root is refused some processes' ns links here (a sandbox's init): they are counted, not fatal."""
    require_root_and()
    refused = 0
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                os.stat(f"/proc/{pid}/ns/net")
            except PermissionError:
                refused += 1
            except OSError:
                pass
    found = discover()
    # Processes come and go between the two walks; the count is of the same order, never negative.
    assert found.unreadable_pids >= 0
    if refused == 0:
        assert found.unreadable_pids <= 1
    else:
        assert found.unreadable_pids >= 1
    assert found.complete == (found.unreadable_pids == 0 and not found.unopenable)


def test_kernel_threads_are_told_apart(tmp_path: Path) -> None:
    """Unprivileged, every kernel thread's ns link is refused: they must not swell the unreadable count."""
    if not os.path.exists("/proc/2/stat"):
        pytest.skip("no pid 2 (kthreadd) visible here")
    assert netns._is_kernel_thread("/proc", 2)
    assert not netns._is_kernel_thread("/proc", os.getpid())
    fake = tmp_path / "7"
    fake.mkdir()
    # A process may call itself anything, ") 0 0 0 0 0 2097152" included: only the last ")" counts.
    (fake / "stat").write_bytes(b"7 (x) 0 0 0 0 0 2097152) S 1 7 7 0 -1 4194560 0 0\n")
    assert not netns._is_kernel_thread(str(tmp_path), 7)
    assert not netns._is_kernel_thread(str(tmp_path), 8)


def test_a_factory_that_hangs_times_out_and_what_it_made_is_closed(pair: Pair) -> None:
    release = threading.Event()
    made: list[NetlinkSocket] = []

    def slow() -> NetlinkSocket:
        release.wait(30)
        made.append(NetlinkSocket())
        return made[-1]

    with pytest.raises(NetnsError) as late:
        open_in_netns(ns_path(pair.a), slow, timeout=0.05)
    assert late.value.errno == errno.ETIMEDOUT
    helpers = [t for t in threading.enumerate() if t.name == "sockui-netns"]
    release.set()
    for thread in helpers:
        thread.join(30)
    assert len(made) == 1 and made[0].broken, "the abandoned socket was closed"
