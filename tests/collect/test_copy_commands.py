"""The copy menu's commands against real sockets: the ss command finds exactly the socket, ss -K closes it.

Each test opens real sockets, takes the socket's record from a real snapshot (the collector, as the TUI
does), and runs the copied text the way a user would: ``sh -c '<command>'`` for the ``s`` and ``k``
commands, ``tcpdump -d '<filter>'`` for the ``d`` filter. Next to each socket sits a decoy that a
sloppier filter would also match (an accepted connection on a listener's address, a connected UDP
socket sharing a bound one's address), so "exactly one row" means the filter is exact.
"""

from __future__ import annotations

import errno
import os
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from sockui.collect.snapshot import Collector
from sockui.model.copytext import copy_items
from sockui.model.socket import SocketRecord

from .scenario import SocketBag, inode_of, ipv6_loopback_works

V6 = pytest.mark.skipif(not ipv6_loopback_works(), reason="no IPv6 loopback here")
ROOT = pytest.mark.skipif(os.geteuid() != 0, reason="ss -K needs root (CAP_NET_ADMIN)")


def record_of(sock: socket.socket) -> SocketRecord:
    """The socket's record in a fresh snapshot."""
    inode = inode_of(sock)
    with Collector(owners=False) as collector:
        found = [s for s in collector.collect().sockets if s.inode == inode]
    assert len(found) == 1, f"inode {inode}: {found}"
    return found[0]


def text(record: SocketRecord, key: str) -> str:
    item = next(i for i in copy_items(record) if i.key == key)
    assert item.text is not None, item.why_not
    assert "\n" not in item.text and "\x1b" not in item.text
    return item.text


def shell(command: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        ["sh", "-c", command], capture_output=True, text=True, timeout=30, cwd=cwd, errors="replace"
    )
    assert result.returncode == 0 and not result.stderr, f"{command}: {result.stderr}"
    return result


def inet_rows(command: str) -> list[str]:
    """The socket rows ss prints (its header line dropped)."""
    lines = shell(command).stdout.splitlines()
    assert lines and "Local Address:Port" in lines[0], lines
    return lines[1:]


def loopback_pair(
    bag: SocketBag, family: int, host: str
) -> tuple[socket.socket, socket.socket, socket.socket]:
    """(listener, client, accepted) over ``host``."""
    listener = bag.new(family)
    listener.bind((host, 0))
    listener.listen(4)
    client = bag.add(socket.create_connection(listener.getsockname()[:2], timeout=5))
    server, _ = listener.accept()
    bag.add(server)
    return listener, client, server


def test_ss_selects_one_tcp_v4_connection(bag: SocketBag) -> None:
    listener, client, server = loopback_pair(bag, socket.AF_INET, "127.0.0.1")
    lport, cport = listener.getsockname()[1], client.getsockname()[1]
    for sock, local, remote in ((client, cport, lport), (server, lport, cport)):
        command = text(record_of(sock), "s")
        assert command == f"ss -tan 'src 127.0.0.1:{local} and dst 127.0.0.1:{remote}'"
        (row,) = inet_rows(command)
        assert row.startswith("ESTAB") and f"127.0.0.1:{local} " in row and f"127.0.0.1:{remote} " in row


@V6
def test_ss_selects_one_tcp_v6_listener(bag: SocketBag) -> None:
    listener, _, _ = loopback_pair(bag, socket.AF_INET6, "::1")  # the accepted socket shares [::1]:port
    port = listener.getsockname()[1]
    command = text(record_of(listener), "s")
    assert command == f"ss -tln 'src [::1]:{port}'"
    (row,) = inet_rows(command)
    assert row.startswith("LISTEN") and f"[::1]:{port} " in row


@V6
def test_ss_selects_one_ipv4_mapped_connection(bag: SocketBag) -> None:
    listener = bag.new(socket.AF_INET6)
    listener.bind(("::", 0))
    listener.listen(4)
    port = listener.getsockname()[1]
    client = bag.add(socket.create_connection(("127.0.0.1", port), timeout=5))
    server, _ = listener.accept()
    bag.add(server)
    command = text(record_of(server), "s")
    assert command == (
        f"ss -tan 'src [::ffff:127.0.0.1]:{port} and dst [::ffff:127.0.0.1]:{client.getsockname()[1]}'"
    )
    (row,) = inet_rows(command)
    assert row.startswith("ESTAB")


def test_ss_selects_one_bound_udp_socket(bag: SocketBag) -> None:
    bound = bag.new(socket.AF_INET, socket.SOCK_DGRAM)
    bound.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    bound.bind(("127.0.0.1", 0))
    port = bound.getsockname()[1]
    decoy = bag.new(socket.AF_INET, socket.SOCK_DGRAM)  # same local address, but connected
    decoy.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    decoy.bind(("127.0.0.1", port))
    decoy.connect(("127.0.0.1", 9))
    command = text(record_of(bound), "s")
    assert command == f"ss -uln 'src 127.0.0.1:{port}'"
    (row,) = inet_rows(command)
    assert row.startswith("UNCONN") and f"127.0.0.1:{port} " in row
    connected = text(record_of(decoy), "s")
    assert connected == f"ss -uan 'src 127.0.0.1:{port} and dst 127.0.0.1:9'"
    (row,) = inet_rows(connected)
    assert "127.0.0.1:9 " in row


def unix_rows(output: str) -> list[str]:
    """Rows of ``ss -x`` output: each starts with its Netid (a raw newline in a name splits a row)."""
    return [line for line in output.splitlines() if line.startswith(("u_str", "u_dgr", "u_seq"))]


def test_ss_selects_a_unix_listener_whose_path_is_hostile(bag: SocketBag, tmp_path: Path) -> None:
    # Blanks, glob characters, a newline followed by a command, an escape sequence: the copied
    # command must stay one command and still find the socket.
    path = str(tmp_path / "s *\n;touch pwned;\x1b[2J.sock")
    listener = bag.new(socket.AF_UNIX)
    bag.bind_unix(listener, path)
    listener.listen(4)
    client = bag.new(socket.AF_UNIX)
    client.connect(path)  # the accepted end has the same name: -l leaves it out
    command = text(record_of(listener), "s")
    assert command.startswith("ss -xln 'src ") and command.count("'") == 2
    result = shell(command, cwd=tmp_path)
    assert not (tmp_path / "pwned").exists()
    rows = unix_rows(result.stdout)
    assert len(rows) == 1 and rows[0].startswith("u_str LISTEN"), result.stdout
    assert f" {inode_of(listener)} " in result.stdout


def test_ss_selects_an_abstract_unix_socket(bag: SocketBag) -> None:
    name = f"sockui-test-{os.getpid()}-abstract"
    sock = bag.new(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(b"\0" + name.encode())
    command = text(record_of(sock), "s")
    assert command == f"ss -xln 'src @{name}'"
    result = shell(command)
    rows = unix_rows(result.stdout)
    assert len(rows) == 1 and f"@{name} {inode_of(sock)} " in rows[0], result.stdout


@ROOT
def test_ss_kill_closes_a_tcp_connection(bag: SocketBag) -> None:
    _, client, server = loopback_pair(bag, socket.AF_INET, "127.0.0.1")
    command = text(record_of(client), "k")
    assert command.startswith("ss -K -tan ")
    (row,) = inet_rows(command)  # ss -K prints what it closed
    server.settimeout(10)
    try:
        data = server.recv(1)
    except ConnectionResetError:
        data = b""
    assert data == b""  # the peer sees the reset (or EOF), not a live connection
    client.settimeout(10)
    with pytest.raises(OSError) as killed:
        client.recv(1)
    assert killed.value.errno == errno.ECONNABORTED


@ROOT
def test_ss_kill_closes_a_bound_udp_socket(bag: SocketBag) -> None:
    sock = bag.new(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    command = text(record_of(sock), "k")
    assert command == f"ss -K -uln 'src 127.0.0.1:{sock.getsockname()[1]}'"
    (row,) = inet_rows(command)
    sock.settimeout(10)
    with pytest.raises(OSError) as killed:
        sock.recv(1)
    assert killed.value.errno == errno.ECONNABORTED


def filter_sockets(bag: SocketBag) -> list[socket.socket]:
    """One socket of each shape the tcpdump filter distinguishes."""
    listener, client, _ = loopback_pair(bag, socket.AF_INET, "127.0.0.1")
    wildcard = bag.new(socket.AF_INET)
    wildcard.bind(("0.0.0.0", 0))
    wildcard.listen(1)
    udp = bag.new(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    udp_connected = bag.new(socket.AF_INET, socket.SOCK_DGRAM)
    udp_connected.connect(udp.getsockname())
    socks = [listener, client, wildcard, udp, udp_connected]
    if ipv6_loopback_works():
        listener6, client6, _ = loopback_pair(bag, socket.AF_INET6, "::1")
        any6 = bag.new(socket.AF_INET6)
        any6.bind(("::", 0))
        any6.listen(1)
        mapped = bag.add(socket.create_connection(("127.0.0.1", any6.getsockname()[1]), timeout=5))
        accepted, _ = any6.accept()
        socks += [listener6, client6, any6, mapped, bag.add(accepted)]
    if os.geteuid() == 0:
        raw = bag.add(socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP))
        raw.bind(("127.0.0.1", 0))
        socks.append(raw)
    return socks


def test_tcpdump_filters_compile(bag: SocketBag) -> None:
    tcpdump = shutil.which("tcpdump")
    if tcpdump is None:
        pytest.skip("tcpdump is not installed (apt-get install tcpdump; .ci/run installs it)")
    for sock in filter_sockets(bag):
        expression = text(record_of(sock), "d")
        # -y EN10MB: compile for Ethernet framing without opening an interface (no privilege needed).
        result = subprocess.run(
            [tcpdump, "-y", "EN10MB", "-d", expression], capture_output=True, text=True, timeout=30
        )
        assert result.returncode == 0, f"{expression}: {result.stderr}"
        assert result.stdout.startswith("(000)"), result.stdout
