"""sockui sees the same TCP/UDP sockets as the kernel's own tool: parity with `ss -tuan` under load.

With a few hundred loopback connections held by the test, the multiset of (proto, local address, local
port, remote address, remote port, state) that `sockui --once --json` prints is compared with two `ss`
reads taken just before and just after it. Only sockets that appeared or vanished between the reads may
differ: everything sockui lists must be in one of the ss reads, and everything in both ss reads must be
in sockui. ss is used here as an oracle only; sockui never runs it.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
from collections import Counter
from collections.abc import Iterator

import pytest

from .holders import run_sockui
from .scenario import SocketBag, ipv6_loopback_works

#: (proto, local address, local port, remote address, remote port, state); no remote = ("", 0).
Flow = tuple[str, str, int, str, int, str]

#: ss state names -> kernel names as sockui spells them.
SS_STATES = {
    "ESTAB": "ESTABLISHED",
    "SYN-SENT": "SYN_SENT",
    "SYN-RECV": "SYN_RECV",
    "FIN-WAIT-1": "FIN_WAIT1",
    "FIN-WAIT-2": "FIN_WAIT2",
    "TIME-WAIT": "TIME_WAIT",
    "CLOSE-WAIT": "CLOSE_WAIT",
    "LAST-ACK": "LAST_ACK",
    "LISTEN": "LISTEN",
    "CLOSING": "CLOSING",
    "UNCONN": "UNCONN",
}

LOAD_V4 = 300
LOAD_V6 = 100


def parse_endpoint(text: str) -> tuple[str, int]:
    """``127.0.0.1:80``, ``[::1]:80``, ``[fe80::1]%eth0:123``, ``127.0.0.53%lo:53``, ``*:*`` -> (addr, port).

    ``*`` as an address is the IPv6 wildcard of a dual-stack socket; ``*`` as a port means none.
    """
    address, _, port = text.rpartition(":")
    address = address.split("%", 1)[0]  # interface scope
    if address.startswith("[") and address.endswith("]"):
        address = address[1:-1]
    if address == "*":
        address = "::"
    return address, 0 if port == "*" else int(port)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:80", ("127.0.0.1", 80)),
        ("[::1]:8080", ("::1", 8080)),
        ("[fe80::1]%eth0:123", ("fe80::1", 123)),
        ("127.0.0.53%lo:53", ("127.0.0.53", 53)),
        ("[::ffff:127.0.0.1]:5432", ("::ffff:127.0.0.1", 5432)),
        ("*:5353", ("::", 5353)),
        ("0.0.0.0:*", ("0.0.0.0", 0)),
        ("[::]:*", ("::", 0)),
        ("*:*", ("::", 0)),
    ],
)
def test_parse_ss_endpoint(text: str, expected: tuple[str, int]) -> None:
    """The oracle's own parser reads every form ss prints."""
    assert parse_endpoint(text) == expected


def ss_flows() -> Counter[Flow]:
    out = subprocess.run(["ss", "-H", "-tuan"], capture_output=True, text=True, check=True, timeout=30).stdout
    flows: Counter[Flow] = Counter()
    for line in out.splitlines():
        fields = line.split()
        if len(fields) < 6:
            continue
        netid, state, _rq, _sq, local, remote = fields[:6]
        if netid == "tcp" and state in ("UNCONN", "BOUND-INACTIVE"):
            continue  # bound-inactive TCP: only newer ss shows it, sockui always does; not compared
        laddr, lport = parse_endpoint(local)
        raddr, rport = parse_endpoint(remote)
        if rport == 0:
            raddr = ""
        flows[(netid, laddr, lport, raddr, rport, SS_STATES.get(state, state))] += 1
    return flows


def sockui_flows() -> Counter[Flow]:
    result = run_sockui("--once", "--json", "--filter", "tcp or udp")
    assert result.returncode == 0, result.stderr
    flows: Counter[Flow] = Counter()
    for obj in json.loads(result.stdout):
        assert obj["proto"] in ("tcp", "udp"), obj
        if obj["state"] == "BOUND_INACTIVE" or obj["binding"] == "unbound":
            continue  # not in ss 6.1's view / in no kernel table at all
        if obj["netns"]["name"] != "host":
            continue  # ss sees one namespace (ours); sockui sees them all
        remote = obj["remote"] or {"address": "", "port": 0}
        flows[
            (
                obj["proto"],
                obj["local"]["address"],
                obj["local"]["port"],
                remote["address"],
                remote["port"],
                obj["state"],
            )
        ] += 1
    return flows


@pytest.fixture
def load(bag: SocketBag) -> Iterator[list[Flow]]:
    """Hundreds of loopback connections (both ends held here) and a few UDP sockets; their flows."""
    flows: list[Flow] = []
    plans = [("127.0.0.1", socket.AF_INET, LOAD_V4)]
    if ipv6_loopback_works():
        plans.append(("::1", socket.AF_INET6, LOAD_V6))
    for host, family, count in plans:
        listener = bag.new(family)
        listener.bind((host, 0))
        listener.listen(count + 16)
        port = listener.getsockname()[1]
        flows.append(("tcp", host, port, "", 0, "LISTEN"))
        clients = []
        for _ in range(count):
            client = bag.new(family)
            client.connect((host, port))
            clients.append(client)
        for client in clients:
            server = bag.add(listener.accept()[0])
            c_local, s_local = client.getsockname()[:2], server.getsockname()[:2]
            flows.append(("tcp", *c_local, *s_local, "ESTABLISHED"))
            flows.append(("tcp", *s_local, *server.getpeername()[:2], "ESTABLISHED"))
        udp = bag.new(family, socket.SOCK_DGRAM)
        udp.bind((host, 0))
        flows.append(("udp", host, udp.getsockname()[1], "", 0, "UNCONN"))
    yield flows


def test_tcp_udp_flows_match_ss(load: list[Flow]) -> None:
    if shutil.which("ss") is None:
        pytest.skip("ss (iproute2) is not installed: nothing to compare with (CI installs it)")
    before = ss_flows()
    ours = sockui_flows()
    after = ss_flows()
    assert ours, "sockui listed no TCP/UDP socket at all"

    surely_there = before & after  # in both ss reads: existed the whole time
    maybe_there = before | after  # in either read
    extra = ours - maybe_there
    missing = surely_there - ours
    assert not extra, f"sockui lists flows ss never saw: {sorted(extra)[:20]}"
    assert not missing, f"sockui misses flows ss saw before and after: {sorted(missing)[:20]}"

    # The comparison covered the load: every one of our flows is in all three views, exactly once.
    for flow in load:
        assert ours[flow] == 1, flow
        assert surely_there[flow] == 1, flow
