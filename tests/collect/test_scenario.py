"""`sockui --once --json` describes every kind of socket exactly, checked field by field.

The test process opens one socket of each kind docs/spec.md sections 2 and 5 name (TCP listeners on
127.0.0.1 and ::1 with a connected pair each, TIME_WAIT, UDP bound and connected, TCP bound-inactive,
bare socket()s, UNIX listener/client/accepted, bound dgram, socketpair, abstract name, a socket shared
with a child), runs the real command line once, and checks each socket, found by inode (TIME_WAIT by
its 4-tuple), against what the kernel and the process table say: proto, family, type, state, binding,
local, remote, uid, owners (pid and fd, both holders of the shared one) and peer inode. It also checks
the schema's key set and order and its value shapes on every object of the output.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from .holders import run_sockui, without_container
from .scenario import BOUND_INACTIVE_KERNEL, Scenario, SocketBag, find_by_inode, inode_of, own_comm

#: docs/spec.md section 5, in order.
JSON_KEYS = [
    "proto",
    "family",
    "type",
    "state",
    "binding",
    "local",
    "remote",
    "inode",
    "uid",
    "processes",
    "peer_inode",
    "netns",
]
TCP_STATES = {
    "LISTEN",
    "ESTABLISHED",
    "SYN_SENT",
    "SYN_RECV",
    "FIN_WAIT1",
    "FIN_WAIT2",
    "TIME_WAIT",
    "CLOSE",
    "CLOSE_WAIT",
    "LAST_ACK",
    "CLOSING",
    "BOUND_INACTIVE",
}
OTHER_STATES = {"ESTABLISHED", "LISTEN", "UNCONN"}


@pytest.fixture(scope="module")
def output(scenario_tw: Scenario) -> list[dict[str, Any]]:
    """One run of ``python -m sockui --once --json`` while the whole scenario (TIME_WAIT included) is up."""
    result = run_sockui("--once", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert isinstance(data, list)
    return data


def inet(address: str, port: int) -> dict[str, Any]:
    return {"address": address, "port": port}


def path(value: str | None) -> dict[str, Any]:
    return {"path": value}


def _expect(sc: Scenario) -> dict[str, dict[str, Any]]:
    """What each scenario socket must look like (processes and uid are checked separately)."""

    def local(key: str) -> dict[str, Any]:
        address, port = sc.socks[key].getsockname()[:2]
        return inet(address, port)

    def remote(key: str) -> dict[str, Any]:
        address, port = sc.socks[key].getpeername()[:2]
        return inet(address, port)

    def tcp_pair(prefix: str, family: str) -> dict[str, dict[str, Any]]:
        client, server = f"{prefix}_client", f"{prefix}_server"
        common = {"proto": "tcp", "family": family, "type": "stream", "state": "ESTABLISHED"}
        return {
            f"{prefix}_listener": {
                **common,
                "state": "LISTEN",
                "binding": "listening",
                "local": local(f"{prefix}_listener"),
                "remote": None,
                "peer_inode": None,
            },
            client: {
                **common,
                "binding": "connected",
                "local": local(client),
                "remote": remote(client),
                "peer_inode": sc.inode(server),
            },
            server: {
                **common,
                "binding": "connected",
                "local": local(server),
                "remote": remote(server),
                "peer_inode": sc.inode(client),
            },
        }

    def mapped() -> dict[str, dict[str, Any]]:
        stream = {"proto": "tcp", "type": "stream"}
        return {
            "tcp_mapped_listener": {
                **stream,
                "family": "ipv6",
                "state": "LISTEN",
                "binding": "listening",
                "local": local("tcp_mapped_listener"),
                "remote": None,
                "peer_inode": None,
            },
            "tcp_mapped_client": {
                **stream,
                "family": "ipv4",
                "state": "ESTABLISHED",
                "binding": "connected",
                "local": local("tcp_mapped_client"),
                "remote": inet("127.0.0.1", sc.port("tcp_mapped_listener")),
                "peer_inode": sc.inode("tcp_mapped_server"),
            },
            "tcp_mapped_server": {
                **stream,
                "family": "ipv6",
                "state": "ESTABLISHED",
                "binding": "connected",
                "local": inet("::ffff:127.0.0.1", sc.port("tcp_mapped_listener")),
                "remote": inet("::ffff:127.0.0.1", sc.port("tcp_mapped_client")),
                "peer_inode": sc.inode("tcp_mapped_client"),
            },
        }

    unbound = {"state": "UNCONN", "binding": "unbound", "local": None, "remote": None, "peer_inode": None}
    tcp_bound: dict[str, Any]
    if BOUND_INACTIVE_KERNEL:
        tcp_bound = {"state": "BOUND_INACTIVE", "binding": "bound", "local": local("tcp_bound")}
    else:
        tcp_bound = {"state": "UNCONN", "binding": "unbound", "local": None}
    unix = {"proto": "unix", "family": "unix", "type": "stream"}
    expected: dict[str, dict[str, Any]] = {
        **tcp_pair("tcp4", "ipv4"),
        **(tcp_pair("tcp6", "ipv6") if sc.ipv6 else {}),
        **(mapped() if sc.ipv6 else {}),
        "tcp_bound": {
            "proto": "tcp",
            "family": "ipv4",
            "type": "stream",
            "remote": None,
            "peer_inode": None,
            **tcp_bound,
        },
        "tcp_bare": {"proto": "tcp", "family": "ipv4", "type": "stream", **unbound},
        "udp6_bare": {"proto": "udp", "family": "ipv6", "type": "dgram", **unbound},
        "udp_bound": {
            "proto": "udp",
            "family": "ipv4",
            "type": "dgram",
            "state": "UNCONN",
            "binding": "bound",
            "local": local("udp_bound"),
            "remote": None,
            "peer_inode": None,
        },
        "udp_connected": {
            "proto": "udp",
            "family": "ipv4",
            "type": "dgram",
            "state": "ESTABLISHED",
            "binding": "connected",
            "local": local("udp_connected"),
            "remote": local("udp_bound"),
            "peer_inode": sc.inode("udp_bound"),
        },
        "unix_listener": {
            **unix,
            "state": "LISTEN",
            "binding": "listening",
            "local": path(sc.unix_path),
            "remote": None,
            "peer_inode": None,
        },
        "unix_client": {
            **unix,
            "state": "ESTABLISHED",
            "binding": "connected",
            "local": path(None),
            "remote": path(sc.unix_path),
            "peer_inode": sc.inode("unix_server"),
        },
        "unix_server": {
            **unix,
            "state": "ESTABLISHED",
            "binding": "connected",
            "local": path(sc.unix_path),
            "remote": path(None),
            "peer_inode": sc.inode("unix_client"),
        },
        "unix_dgram": {
            **unix,
            "type": "dgram",
            "state": "UNCONN",
            "binding": "bound",
            "local": path(sc.dgram_path),
            "remote": None,
            "peer_inode": None,
        },
        "unix_dgram_client": {
            **unix,
            "type": "dgram",
            "state": "ESTABLISHED",
            "binding": "connected",
            "local": path(None),
            "remote": path(sc.dgram_path),
            "peer_inode": sc.inode("unix_dgram"),
        },
        "pair_a": {
            **unix,
            "state": "ESTABLISHED",
            "binding": "connected",
            "local": path(None),
            "remote": path(None),
            "peer_inode": sc.inode("pair_b"),
        },
        "pair_b": {
            **unix,
            "state": "ESTABLISHED",
            "binding": "connected",
            "local": path(None),
            "remote": path(None),
            "peer_inode": sc.inode("pair_a"),
        },
        "unix_abstract": {
            **unix,
            "state": "LISTEN",
            "binding": "listening",
            "local": path("@" + sc.abstract_name),
            "remote": None,
            "peer_inode": None,
        },
        "unix_bare": {**unix, **unbound},
        "shared": {
            "proto": "tcp",
            "family": "ipv4",
            "type": "stream",
            "state": "LISTEN",
            "binding": "listening",
            "local": local("shared"),
            "remote": None,
            "peer_inode": None,
        },
    }
    return expected


SOCKET_KEYS = [
    "tcp4_listener",
    "tcp4_client",
    "tcp4_server",
    "tcp6_listener",
    "tcp6_client",
    "tcp6_server",
    "tcp_mapped_listener",
    "tcp_mapped_client",
    "tcp_mapped_server",
    "tcp_bound",
    "tcp_bare",
    "udp6_bare",
    "udp_bound",
    "udp_connected",
    "unix_listener",
    "unix_client",
    "unix_server",
    "unix_dgram",
    "unix_dgram_client",
    "pair_a",
    "pair_b",
    "unix_abstract",
    "unix_bare",
    "shared",
]


@pytest.mark.parametrize("key", SOCKET_KEYS)
def test_socket_described_exactly(key: str, scenario_tw: Scenario, output: list[dict[str, Any]]) -> None:
    sc = scenario_tw
    if key not in sc.socks:
        pytest.skip("no IPv6 loopback on this machine")
    expected = _expect(sc)[key]
    got = find_by_inode(output, sc.inode(key))
    assert {k: got[k] for k in expected} == expected
    assert got["uid"] == os.geteuid()


@pytest.mark.parametrize("key", [k for k in SOCKET_KEYS if k != "shared"])
def test_owner_is_this_process_and_fd(key: str, scenario_tw: Scenario, output: list[dict[str, Any]]) -> None:
    sc = scenario_tw
    if key not in sc.socks:
        pytest.skip("no IPv6 loopback on this machine")
    got = find_by_inode(output, sc.inode(key))
    assert without_container(got["processes"]) == [{"pid": sc.pid, "name": sc.comm, "fd": sc.fd(key)}]


def test_shared_socket_lists_both_holders(scenario_tw: Scenario, output: list[dict[str, Any]]) -> None:
    sc = scenario_tw
    assert sc.holder is not None
    child_fd = sc.holder.fd_for(sc.fd("shared"))
    assert child_fd != sc.fd("shared")
    # The child's fd really is the same socket (checked through /proc, independently of sockui).
    assert os.stat(f"/proc/{sc.holder.pid}/fd/{child_fd}").st_ino == sc.inode("shared")
    expected = sorted(
        [
            {"pid": sc.pid, "name": sc.comm, "fd": sc.fd("shared")},
            {"pid": sc.holder.pid, "name": sc.holder.comm, "fd": child_fd},
        ],
        key=lambda o: (o["pid"], o["fd"]),
    )
    got = find_by_inode(output, sc.inode("shared"))
    assert without_container(got["processes"]) == expected


def test_time_wait_has_no_inode_and_no_owner(scenario_tw: Scenario, output: list[dict[str, Any]]) -> None:
    assert scenario_tw.time_wait is not None
    laddr, lport, raddr, rport = scenario_tw.time_wait
    found = [
        o
        for o in output
        if o["proto"] == "tcp" and o["local"] == inet(laddr, lport) and o["remote"] == inet(raddr, rport)
    ]
    assert len(found) == 1, found
    tw = found[0]
    assert tw["state"] == "TIME_WAIT"
    assert tw["binding"] == "connected"
    assert tw["family"] == "ipv4"
    assert tw["type"] == "stream"
    assert tw["inode"] == 0
    assert tw["processes"] == []
    assert tw["peer_inode"] is None


def _check_endpoint(ep: Any, family: str) -> None:
    assert isinstance(ep, dict)
    if family == "unix":
        assert list(ep) == ["path"]
        assert ep["path"] is None or isinstance(ep["path"], str)
        return
    assert list(ep) == ["address", "port"]
    assert isinstance(ep["port"], int) and not isinstance(ep["port"], bool)
    assert 0 <= ep["port"] <= 65535
    af = socket.AF_INET if family == "ipv4" else socket.AF_INET6
    # Canonical text: what inet_ntop prints (compressed, lowercase; RFC 5952).
    assert socket.inet_ntop(af, socket.inet_pton(af, ep["address"])) == ep["address"]


def test_every_object_follows_the_schema(output: list[dict[str, Any]]) -> None:
    assert output, "the machine has sockets: at least this test's"
    for obj in output:
        assert list(obj) == JSON_KEYS, obj
        assert obj["proto"] in {"tcp", "udp", "unix", "raw"}
        assert obj["family"] in {"ipv4", "ipv6", "unix"}
        assert obj["type"] in {"stream", "dgram", "seqpacket", "raw"}
        assert (obj["family"] == "unix") == (obj["proto"] == "unix"), obj
        # An unbound socket is UNCONN whatever its protocol (docs/spec.md section 5).
        states = TCP_STATES if obj["proto"] == "tcp" and obj["binding"] != "unbound" else OTHER_STATES
        assert obj["state"] in states, obj
        assert obj["binding"] in {"listening", "connected", "bound", "unbound"}
        assert (obj["remote"] is not None) == (obj["binding"] == "connected"), obj
        if obj["binding"] == "unbound":
            assert obj["local"] is None and obj["state"] == "UNCONN", obj
        else:
            _check_endpoint(obj["local"], obj["family"])
        if obj["remote"] is not None:
            _check_endpoint(obj["remote"], obj["family"])
        assert isinstance(obj["inode"], int) and obj["inode"] >= 0
        assert obj["uid"] is None or isinstance(obj["uid"], int)
        assert isinstance(obj["processes"], list)
        for proc in obj["processes"]:
            assert list(proc) == ["pid", "name", "fd", "container"], proc
            assert isinstance(proc["pid"], int) and isinstance(proc["fd"], int)
            assert isinstance(proc["name"], str)
            assert proc["container"] is None or isinstance(proc["container"], str)
        assert obj["peer_inode"] is None or (isinstance(obj["peer_inode"], int) and obj["peer_inode"] > 0)
        assert list(obj["netns"]) == ["inode", "name"], obj
        assert isinstance(obj["netns"]["inode"], int) and obj["netns"]["inode"] > 0, obj
        assert isinstance(obj["netns"]["name"], str) and obj["netns"]["name"], obj
    own = os.stat("/proc/self/ns/net").st_ino
    assert {o["netns"]["name"] for o in output if o["netns"]["inode"] == own} == {"host"}


def test_owners_in_this_process_are_real_fds(scenario_tw: Scenario, output: list[dict[str, Any]]) -> None:
    """No phantom owner: every (our pid, fd) reported holds exactly that socket in our fd table."""
    mine = [(o, p["fd"]) for o in output for p in o["processes"] if p["pid"] == scenario_tw.pid]
    assert len(mine) >= len(scenario_tw.socks)
    for obj, fd in mine:
        assert os.fstat(fd).st_ino == obj["inode"], obj


def test_every_scenario_socket_listed_once(scenario_tw: Scenario, output: list[dict[str, Any]]) -> None:
    inodes = [o["inode"] for o in output]
    for key, inode in scenario_tw.own_inodes().items():
        assert inodes.count(inode) == 1, key


def test_peers_point_back(scenario_tw: Scenario, output: list[dict[str, Any]]) -> None:
    """TCP loopback pairs, the UNIX client/accepted pair and socketpair ends name each other.

    (A UNIX dgram client names the bound socket it connected to, but not the other way round: the
    kernel gives the bound socket no peer; test_socket_described_exactly checks both.)
    """
    sc = scenario_tw
    pairs = [
        ("tcp4_client", "tcp4_server"),
        ("unix_client", "unix_server"),
        ("pair_a", "pair_b"),
    ]
    if sc.ipv6:
        pairs += [("tcp6_client", "tcp6_server"), ("tcp_mapped_client", "tcp_mapped_server")]
    by_inode: Callable[[str], dict[str, Any]] = lambda key: find_by_inode(output, sc.inode(key))  # noqa: E731
    for a, b in pairs:
        assert by_inode(a)["peer_inode"] == inode_of(sc.socks[b])
        assert by_inode(b)["peer_inode"] == inode_of(sc.socks[a])


@pytest.mark.parametrize("kind", ["udp", "unix", "unbound"])
def test_socket_held_twice_by_one_process(kind: str, bag: SocketBag, tmp_path: Path) -> None:
    """A process holding one socket under two fds (dup) is listed with both."""
    if kind == "udp":
        sock = bag.new(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.1", 0))
    elif kind == "unix":
        sock = bag.new(socket.AF_UNIX, socket.SOCK_DGRAM)
        bag.bind_unix(sock, str(tmp_path / "twice.sock"))
    else:
        sock = bag.new(socket.AF_INET6, socket.SOCK_STREAM)
    twin = bag.add(sock.dup())
    result = run_sockui("--once", "--json", "--filter", f"pid {os.getpid()} and {kind}")
    assert result.returncode == 0, result.stderr
    got = find_by_inode(json.loads(result.stdout), inode_of(sock))
    fds = sorted([sock.fileno(), twin.fileno()])
    assert without_container(got["processes"]) == [
        {"pid": os.getpid(), "name": own_comm(), "fd": fd} for fd in fds
    ]
