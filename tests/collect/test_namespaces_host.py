"""Every network namespace on the host, end to end: ``sockui --once`` lists them all, named (as root).

Two namespaces made with ``ip netns add`` (A and B) are joined by a veth pair (10.231.N.1/30 in A, .2 in
B, N random). In A a TCP server listens on A's veth address; in B a client connects to it over the veth
and A accepts. Both also listen on 127.0.0.1 with the same port, and in each a loopback client bound to
the same local port is connected to its own namespace's listener: the same 4-tuple in two namespaces.
B also holds a bound UDP socket. The tests prove that:

- the collector and ``--once --json`` / ``--jsonl`` / ``--csv`` list every one of those sockets with the
  namespace it lives in (``netns.inode`` is the inode of ``/run/netns/NAME``, ``netns.name`` the
  ``ip netns`` name) and their real binding state, and ``processes[]`` entries carry ``container``;
- the veth connection is paired across namespaces (each end's ``peer_inode`` is the other's inode),
  while loopback pairs only within a namespace (the identical loopback 4-tuples of A and B pair with
  their own namespace's end, never with each other; the two same-port listeners have no peer);
- ``--filter 'netns NAME'`` keeps exactly that namespace's rows (globs, case-insensitive);
- a process in a cgroup shaped like a docker container's (``<cgroup2>/sockui-test-*/docker/<64 hex>``)
  and alone in a network namespace of its own gets the container's 12-hex short id as its
  ``processes[].container`` and as its sockets' ``netns.name``; a second process of that container in
  our own namespace keeps ``netns.name == "host"`` but has the container too; ``--filter 'container
  <6 hex>*'`` selects the sockets of both, and nothing else;
- run as nobody, ``--once --json`` lists only its own namespace's sockets (every ``netns.name`` is
  ``host``, none of the namespaces' sockets appear), exits 0 without a traceback and says on stderr how
  many namespaces it could not show and that the sockets of nobody's own process inside one are not
  listed.

Namespaces are deleted (which takes the veth pair with them), processes reaped and cgroups removed
(processes moved back first) by ExitStack finalizers, also when a test fails. Children report their
sockets' inodes with a JSON line once the sockets exist; nothing waits by sleeping.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from sockui.collect.snapshot import Collector
from sockui.model.socket import Binding, Snapshot, SocketRecord

from .holders import AS_NOBODY, run_sockui
from .netns_support import (
    CHILD_PRELUDE,
    UNSHARE_LO_UP,
    Child,
    add_netns,
    cgroup2_mount,
    cgroup_tree,
    in_netns,
    inode_of_path,
    move_to_cgroup,
    netns_of_pid,
    ns_path,
    random_tag,
    require_root_and,
    rows_by_inode,
    run,
    run_sockui_as_nobody,
    socket_inodes,
    spawn,
)

#: In A: a listener on the veth address (argv[2]), a loopback listener and a loopback connection to it;
#: reports, then accepts the client from B over the veth and reports that.
SERVER = (
    CHILD_PRELUDE
    + r"""
def ino(s):
    return os.fstat(s.fileno()).st_ino
srv = socket.create_server((sys.argv[2], 0))
lo = socket.create_server(("127.0.0.1", 0))
lc = socket.socket()
lc.bind(("127.0.0.1", 0))
lc.connect(lo.getsockname())
ls, _ = lo.accept()
report(pid=os.getpid(), port=srv.getsockname()[1], lo_port=lo.getsockname()[1],
       lo_cport=lc.getsockname()[1],
       inodes={"listener": ino(srv), "lo_listener": ino(lo), "lo_client": ino(lc), "lo_server": ino(ls)})
conn, peer = srv.accept()
report(peer=list(peer), inode=ino(conn))
sys.stdin.read()
"""
)

#: In B: the same loopback listener port and loopback client port as A's, a UDP socket bound to B's veth
#: address, and a client of A's server over the veth.
#: argv: server address, server port, loopback port, loopback client port, own veth address.
CLIENT = (
    CHILD_PRELUDE
    + r"""
def ino(s):
    return os.fstat(s.fileno()).st_ino
server, own = sys.argv[2], sys.argv[6]
port, lo_port, lo_cport = (int(arg) for arg in sys.argv[3:6])
lo = socket.create_server(("127.0.0.1", lo_port))
lc = socket.socket()
lc.bind(("127.0.0.1", lo_cport))
lc.connect(("127.0.0.1", lo_port))
ls, _ = lo.accept()
udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
udp.bind((own, 0))
cli = socket.create_connection((server, port), timeout=10)
report(pid=os.getpid(), local=list(cli.getsockname()),
       inodes={"lo_listener": ino(lo), "lo_client": ino(lc), "lo_server": ino(ls), "udp": ino(udp),
               "client": ino(cli)})
sys.stdin.read()
"""
)

#: A process holding a TCP listener on 127.0.0.1 and a bound UDP socket, wherever it runs.
HOLDER = (
    CHILD_PRELUDE
    + r"""
def ino(s):
    return os.fstat(s.fileno()).st_ino
lst = socket.create_server(("127.0.0.1", 0))
udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
udp.bind(("127.0.0.1", 0))
report(pid=os.getpid(), inodes={"listener": ino(lst), "udp": ino(udp)})
sys.stdin.read()
"""
)

#: The netns note of sockui/model/coverage.py, as ``--once`` prints it on stderr.
NETNS_NOTE = re.compile(
    r"^sockui: (\d+|some) network namespaces? not shown \((.+)\): (\d+) sockets? held by their processes "
    r"not listed$",
    re.MULTILINE,
)

#: What each socket made in A and B is (binding state as ``--json`` spells it).
BINDINGS = {
    "listener": "listening",
    "lo_listener": "listening",
    "lo_client": "connected",
    "lo_server": "connected",
    "accepted": "connected",
    "client": "connected",
    "udp": "bound",
}


@dataclass
class Pair:
    """Namespaces A and B, joined by a veth pair, and the sockets their processes hold."""

    tag: str
    a: str
    b: str
    server_addr: str
    client_addr: str
    server: Child
    client: Child
    #: name -> inode, for the sockets held in A and in B ("accepted" is A's end of the veth connection).
    in_a: dict[str, int]
    in_b: dict[str, int]

    @property
    def inode_a(self) -> int:
        return inode_of_path(ns_path(self.a))

    @property
    def inode_b(self) -> int:
        return inode_of_path(ns_path(self.b))

    def all_made(self) -> Iterator[tuple[str, str, int]]:
        """(namespace name, socket name, inode) of every socket made."""
        for name, inode in self.in_a.items():
            yield self.a, name, inode
        for name, inode in self.in_b.items():
            yield self.b, name, inode

    def still_there(self) -> None:
        """Both children are alive and still hold every socket (else the test proves nothing)."""
        for child, made in ((self.server, self.in_a), (self.client, self.in_b)):
            assert child.proc.poll() is None, "a child died"
            assert set(made.values()) <= socket_inodes(child.pid)


@pytest.fixture(scope="module")
def pair() -> Iterator[Pair]:
    require_root_and("ip")
    tag = random_tag()
    subnet = f"10.231.{secrets.randbelow(250) + 1}"
    server_addr, client_addr = f"{subnet}.1", f"{subnet}.2"
    with contextlib.ExitStack() as stack:
        a = add_netns(stack, f"sockui-test-{tag}-a")
        b = add_netns(stack, f"sockui-test-{tag}-b")
        # Made inside A with its other end moved to B: the host never has it; deleting A removes both.
        veth_a, veth_b = f"sk{tag}a", f"sk{tag}b"
        probe = run_or_reason("ip", "-n", a, "link", "add", veth_a, "type", "veth", "peer", "name", veth_b)
        if probe is not None:
            pytest.skip(f"cannot make a veth pair here: {probe}")
        run("ip", "-n", a, "link", "set", veth_b, "netns", b)
        run("ip", "-n", a, "addr", "add", f"{server_addr}/30", "dev", veth_a)
        run("ip", "-n", b, "addr", "add", f"{client_addr}/30", "dev", veth_b)
        run("ip", "-n", a, "link", "set", veth_a, "up")
        run("ip", "-n", b, "link", "set", veth_b, "up")
        server = spawn(stack, in_netns(a), SERVER, server_addr)
        ports = (server.report["port"], server.report["lo_port"], server.report["lo_cport"])
        client = spawn(stack, in_netns(b), CLIENT, server_addr, *map(str, ports), client_addr)
        accepted = server.line()
        assert accepted["peer"] == client.report["local"], (accepted, client.report)
        assert client.report["local"][0] == client_addr, "the client did not go over the veth"
        in_a = {**server.report["inodes"], "accepted": accepted["inode"]}
        in_b = dict(client.report["inodes"])
        assert netns_of_pid(server.pid) == inode_of_path(ns_path(a))
        assert netns_of_pid(client.pid) == inode_of_path(ns_path(b))
        yield Pair(tag, a, b, server_addr, client_addr, server, client, in_a, in_b)


def run_or_reason(*args: str) -> str | None:
    """Run a command; None when it worked, else its stderr."""
    try:
        run(*args)
    except AssertionError as exc:
        return str(exc)
    return None


def once(*args: str) -> tuple[list[dict[str, Any]], str]:
    """``sockui --once ARGS`` (as root): its JSON output and stderr; exit status 0, no traceback."""
    result = run_sockui("--once", *args)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    if "--csv" in args:
        return list(csv.DictReader(io.StringIO(result.stdout))), result.stderr
    if "--jsonl" in args:
        return [json.loads(line) for line in result.stdout.splitlines() if line.strip()], result.stderr
    rows: list[dict[str, Any]] = json.loads(result.stdout)
    return rows, result.stderr


@pytest.fixture(scope="module")
def pair_json(pair: Pair) -> dict[int, dict[str, Any]]:
    """``sockui --once --json`` taken while the pair is up, by inode."""
    rows, _ = once("--json")
    pair.still_there()
    return rows_by_inode(rows)


# -- the collector (what export and filters are built on) ---------------------------------------------


def _collect() -> Snapshot:
    with Collector() as collector:
        return collector.collect()


def _by_inode(snapshot: Snapshot) -> dict[int, SocketRecord]:
    return {r.inode: r for r in snapshot.sockets if r.inode}


def test_collector_lists_both_namespaces_with_names_and_peers(pair: Pair) -> None:
    snapshot = _collect()
    pair.still_there()
    records = _by_inode(snapshot)
    for ns_name, name, inode in pair.all_made():
        record = records.get(inode)
        assert record is not None, f"{ns_name} {name} not listed"
        assert record.netns == inode_of_path(ns_path(ns_name)), (name, record)
        assert record.netns_label == ns_name, (name, record)
        assert record.binding == Binding(BINDINGS[name]), (name, record)
    a, b = pair.in_a, pair.in_b
    assert records[b["client"]].peer_inode == a["accepted"]
    assert records[a["accepted"]].peer_inode == b["client"]
    for made in (a, b):
        assert records[made["lo_client"]].peer_inode == made["lo_server"]
        assert records[made["lo_server"]].peer_inode == made["lo_client"]
        assert records[made["lo_listener"]].peer_inode is None
    for ns_name in (pair.a, pair.b):
        info = snapshot.namespaces[inode_of_path(ns_path(ns_name))]
        assert (info.label, info.ip_name, info.own, info.unread) == (ns_name, ns_name, False, None)
    assert snapshot.other_netns == 0


# -- sockui --once ------------------------------------------------------------------------------------


def test_once_json_names_each_socket_by_its_namespace(
    pair: Pair, pair_json: dict[int, dict[str, Any]]
) -> None:
    for ns_name, name, inode in pair.all_made():
        row = pair_json.get(inode)
        assert row is not None, f"{ns_name} {name} not listed"
        assert row["netns"] == {"inode": inode_of_path(ns_path(ns_name)), "name": ns_name}, (name, row)
        assert row["binding"] == BINDINGS[name], (name, row)
        holder = pair.server if ns_name == pair.a else pair.client
        assert [p["pid"] for p in row["processes"]] == [holder.pid], (name, row)
        for process in row["processes"]:
            assert "container" in process, row
            assert process["container"] is None or isinstance(process["container"], str), row
    assert pair.inode_a != pair.inode_b
    # Ours is "host", with our own namespace's inode.
    own = inode_of_path("/proc/self/ns/net")
    hosts = [row for row in pair_json.values() if row["netns"]["name"] == "host"]
    assert hosts and all(row["netns"]["inode"] == own for row in hosts)


def test_veth_connection_is_paired_across_namespaces(
    pair: Pair, pair_json: dict[int, dict[str, Any]]
) -> None:
    client, accepted = pair_json[pair.in_b["client"]], pair_json[pair.in_a["accepted"]]
    assert (
        client["local"]
        == accepted["remote"]
        == {"address": pair.client_addr, "port": client["local"]["port"]}
    )
    assert client["netns"]["name"] == pair.b and accepted["netns"]["name"] == pair.a
    assert client["peer_inode"] == pair.in_a["accepted"]
    assert accepted["peer_inode"] == pair.in_b["client"]


def test_same_loopback_tuple_in_two_namespaces_pairs_within_each(
    pair: Pair, pair_json: dict[int, dict[str, Any]]
) -> None:
    a, b = pair.in_a, pair.in_b
    # The test is only meaningful if the two namespaces really hold the same loopback 4-tuples.
    for name in ("lo_listener", "lo_client", "lo_server"):
        assert pair_json[a[name]]["local"] == pair_json[b[name]]["local"], name
        assert pair_json[a[name]]["remote"] == pair_json[b[name]]["remote"], name
    assert pair_json[a["lo_listener"]]["peer_inode"] is None
    assert pair_json[b["lo_listener"]]["peer_inode"] is None
    for made in (a, b):
        assert pair_json[made["lo_client"]]["peer_inode"] == made["lo_server"]
        assert pair_json[made["lo_server"]]["peer_inode"] == made["lo_client"]


def test_filter_netns_keeps_only_that_namespace(pair: Pair) -> None:
    rows, _ = once("--json", "--filter", f"netns {pair.a}")
    assert {row["netns"]["name"] for row in rows} == {pair.a}, rows
    assert set(pair.in_a.values()) <= {row["inode"] for row in rows}
    assert all(row["netns"]["inode"] == pair.inode_a for row in rows)

    # A glob, in the other case: both of ours, nothing else.
    rows, _ = once("--json", "--filter", f"netns SOCKUI-TEST-{pair.tag.upper()}-?")
    assert {row["netns"]["name"] for row in rows} == {pair.a, pair.b}, rows
    assert set(pair.in_a.values()) | set(pair.in_b.values()) <= {row["inode"] for row in rows}

    rows, _ = once("--json", "--filter", f"not netns {pair.a}")
    assert rows and pair.a not in {row["netns"]["name"] for row in rows}
    assert set(pair.in_b.values()) <= {row["inode"] for row in rows}


def test_jsonl_and_csv_carry_the_namespace(pair: Pair) -> None:
    lines, _ = once("--jsonl")
    by_inode = rows_by_inode(lines)
    for ns_name, name, inode in pair.all_made():
        assert by_inode[inode]["netns"] == {"inode": inode_of_path(ns_path(ns_name)), "name": ns_name}, name
        assert all("container" in p for p in by_inode[inode]["processes"]), name
    table, _ = once("--csv")
    assert table and {"netns_inode", "netns_name"} <= set(table[0]), list(table[0])
    csv_rows = {int(row["inode"]): row for row in table if row["inode"] not in ("", "0")}
    for ns_name, name, inode in pair.all_made():
        row = csv_rows[inode]
        assert (row["netns_name"], row["netns_inode"]) == (ns_name, str(inode_of_path(ns_path(ns_name)))), (
            name
        )
    pair.still_there()


# -- a container ----------------------------------------------------------------------------------


@dataclass
class Boxed:
    """A fake docker container: its id, a child alone in its own namespace, a child in ours."""

    ident: str
    alone: Child
    sharing: Child

    @property
    def short(self) -> str:
        return self.ident[:12]


@pytest.fixture(scope="module")
def boxed() -> Iterator[Boxed]:
    require_root_and("unshare", "ip")
    mount = cgroup2_mount()
    if mount is None:
        pytest.skip("no cgroup v2 hierarchy is mounted")
    if not os.access(mount, os.W_OK):
        pytest.skip(f"the cgroup v2 hierarchy at {mount} is not writable")
    ident = secrets.token_hex(32)
    with contextlib.ExitStack() as stack:
        try:
            leaf = stack.enter_context(cgroup_tree(mount, f"sockui-test-{random_tag()}/docker/{ident}"))
        except OSError as exc:
            pytest.skip(f"cannot make cgroups under {mount}: {exc}")
        # Started after the cgroups: the stack stops them first, so the cgroups are empty when removed.
        alone = spawn(stack, UNSHARE_LO_UP, HOLDER)
        sharing = spawn(stack, [], HOLDER)
        move_to_cgroup(leaf, alone.pid)
        move_to_cgroup(leaf, sharing.pid)
        assert netns_of_pid(alone.pid) != netns_of_pid("self")
        assert netns_of_pid(sharing.pid) == netns_of_pid("self")
        yield Boxed(ident, alone, sharing)


def test_collector_labels_a_containers_namespace_and_owners(boxed: Boxed) -> None:
    snapshot = _collect()
    records = _by_inode(snapshot)
    inode = netns_of_pid(boxed.alone.pid)
    for name, sock in boxed.alone.report["inodes"].items():
        record = records[sock]
        assert (record.netns, record.netns_label) == (inode, boxed.short), (name, record)
        assert [(o.pid, o.container) for o in record.owners] == [(boxed.alone.pid, boxed.short)], name
    for name, sock in boxed.sharing.report["inodes"].items():
        record = records[sock]
        assert record.netns_label == "host", (name, record)
        assert [(o.pid, o.container) for o in record.owners] == [(boxed.sharing.pid, boxed.short)], name
    info = snapshot.namespaces[inode]
    assert (info.label, info.container, info.unread) == (boxed.short, boxed.short, None)


def test_once_json_labels_a_containers_sockets_with_its_short_id(boxed: Boxed) -> None:
    rows, _ = once("--json")
    by_inode = rows_by_inode(rows)
    inode = netns_of_pid(boxed.alone.pid)
    for name, sock in boxed.alone.report["inodes"].items():
        row = by_inode[sock]
        assert row["netns"] == {"inode": inode, "name": boxed.short}, (name, row)
        assert [(p["pid"], p["container"]) for p in row["processes"]] == [(boxed.alone.pid, boxed.short)], (
            name,
            row,
        )
    for name, sock in boxed.sharing.report["inodes"].items():
        row = by_inode[sock]
        assert row["netns"]["name"] == "host", (name, row)
        assert [(p["pid"], p["container"]) for p in row["processes"]] == [(boxed.sharing.pid, boxed.short)]


def test_filter_container_selects_its_sockets_only(boxed: Boxed) -> None:
    rows, _ = once("--json", "--filter", f"container {boxed.ident[:6]}*")
    made = set(boxed.alone.report["inodes"].values()) | set(boxed.sharing.report["inodes"].values())
    assert made <= {row["inode"] for row in rows}, rows
    for row in rows:
        labels = {p["container"] for p in row["processes"]} | {row["netns"]["name"]}
        assert boxed.short in labels, row
    # No other container's, and not the host's sockets that are not the container's.
    rows, _ = once("--json", "--filter", f"container {boxed.ident[:6]}* and netns host")
    assert {row["inode"] for row in rows} == set(boxed.sharing.report["inodes"].values()), rows


# -- as nobody ------------------------------------------------------------------------------------


def test_nobody_lists_only_its_own_namespace_and_says_what_is_missing(pair: Pair) -> None:
    require_root_and("setpriv")
    with contextlib.ExitStack() as stack:
        # A process of nobody's own inside A: nobody can read its fd table (same uid) but not enter A.
        mine = spawn(stack, [*in_netns(pair.a), *AS_NOBODY], HOLDER)
        assert os.stat(f"/proc/{mine.pid}").st_uid == 65534
        result = run_sockui_as_nobody("--once", "--json")
        assert mine.proc.poll() is None
        pair.still_there()
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    rows: list[dict[str, Any]] = json.loads(result.stdout)
    assert rows, "nobody listed nothing at all"
    own = inode_of_path("/proc/self/ns/net")
    assert {(row["netns"]["name"], row["netns"]["inode"]) for row in rows} == {("host", own)}
    listed = {row["inode"] for row in rows}
    theirs = {*pair.in_a.values(), *pair.in_b.values(), *mine.report["inodes"].values()}
    assert not listed & theirs, "sockets of namespaces nobody cannot enter were listed"
    notes = NETNS_NOTE.findall(result.stderr)
    assert len(notes) == 1, f"no (or more than one) netns note on stderr: {result.stderr!r}"
    spaces, why, sockets = notes[0]
    assert spaces != "some" and int(spaces) >= 2, notes[0]  # A and B at least
    assert why, notes[0]
    assert int(sockets) >= len(mine.report["inodes"]), notes[0]
