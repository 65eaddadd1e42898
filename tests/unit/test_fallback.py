"""The portable psutil collector, run for real on this Linux machine (psutil works here too)."""

from __future__ import annotations

import os
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from sockui.collect.fallback import _classify, collect_portable
from sockui.model.socket import Binding, Family, InetEndpoint, Owner, Proto, Snapshot, SockType, UnixEndpoint


@pytest.fixture(scope="module")
def listener() -> Iterator[socket.socket]:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        yield sock


@pytest.fixture(scope="module")
def snapshot_with(listener: socket.socket) -> Iterator[tuple[Snapshot, socket.socket, socket.socket, str]]:
    """A snapshot taken while this process holds a TCP listener, a bound UDP socket and a UNIX listener.

    Module-scoped: psutil walks every socket of the machine (~0.7 s with 20k of them), once is enough.
    """
    with (
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp,
        socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as unix,
        tempfile.TemporaryDirectory(prefix="sockui-fallback-") as tmp,
    ):
        udp.bind(("127.0.0.1", 0))
        path = str(Path(tmp) / "fb.sock")
        unix.bind(path)
        unix.listen(1)
        yield collect_portable(), udp, unix, path


def test_lists_our_tcp_listener(
    snapshot_with: tuple[Snapshot, socket.socket, socket.socket, str], listener: socket.socket
) -> None:
    snapshot = snapshot_with[0]
    port = listener.getsockname()[1]
    ours = [
        s for s in snapshot.sockets if s.proto is Proto.TCP and s.local == InetEndpoint("127.0.0.1", port)
    ]
    assert len(ours) == 1
    sock = ours[0]
    assert (sock.state, sock.binding, sock.family, sock.type) == (
        "LISTEN",
        Binding.LISTENING,
        Family.IPV4,
        SockType.STREAM,
    )
    assert sock.remote is None
    assert sock.owners == (Owner(os.getpid(), listener.fileno(), sock.owners[0].name),)
    assert sock.owners[0].name  # psutil found our process name
    assert sock.cookie is not None and sock.cookie > 0  # a synthetic key stands in for the cookie
    assert sock.inode == 0


def test_lists_our_bound_udp(snapshot_with: tuple[Snapshot, socket.socket, socket.socket, str]) -> None:
    snapshot, udp, _unix, _path = snapshot_with
    port = udp.getsockname()[1]
    ours = [
        s for s in snapshot.sockets if s.proto is Proto.UDP and s.local == InetEndpoint("127.0.0.1", port)
    ]
    assert len(ours) == 1
    assert (ours[0].state, ours[0].binding, ours[0].remote) == ("UNCONN", Binding.BOUND, None)
    assert [o.pid for o in ours[0].owners] == [os.getpid()]


def test_lists_our_unix_socket(snapshot_with: tuple[Snapshot, socket.socket, socket.socket, str]) -> None:
    snapshot, _udp, unix, path = snapshot_with
    ours = [s for s in snapshot.sockets if s.proto is Proto.UNIX and s.local == UnixEndpoint(path)]
    assert len(ours) == 1
    # psutil cannot tell a UNIX listener from a bound socket: documented as a reduced feature.
    assert ours[0].binding is Binding.BOUND
    assert [o.fd for o in ours[0].owners] == [unix.fileno()]


def test_snapshot_is_marked_reduced(
    snapshot_with: tuple[Snapshot, socket.socket, socket.socket, str],
) -> None:
    snapshot = snapshot_with[0]
    assert snapshot.reduced is True
    assert any("reduced" in w for w in snapshot.warnings)
    assert snapshot.ownerless == sum(1 for s in snapshot.sockets if not s.owners)
    keys = [s.key for s in snapshot.sockets]
    assert len(set(keys)) == len(keys)  # synthetic keys do not collide


@pytest.mark.parametrize(
    ("proto", "status", "local", "remote", "expected"),
    [
        (Proto.TCP, "LISTEN", InetEndpoint("0.0.0.0", 80), None, ("LISTEN", Binding.LISTENING)),
        (
            Proto.TCP,
            "ESTABLISHED",
            InetEndpoint("10.0.0.1", 5),
            InetEndpoint("1.1.1.1", 443),
            ("ESTABLISHED", Binding.CONNECTED),
        ),
        (
            Proto.TCP,
            "TIME_WAIT",
            InetEndpoint("10.0.0.1", 5),
            InetEndpoint("1.1.1.1", 443),
            ("TIME_WAIT", Binding.CONNECTED),
        ),
        (Proto.TCP, "NONE", InetEndpoint("0.0.0.0", 9000), None, ("BOUND_INACTIVE", Binding.BOUND)),
        (Proto.TCP, "CLOSE", None, None, ("UNCONN", Binding.UNBOUND)),
        (Proto.UDP, "NONE", InetEndpoint("127.0.0.1", 53), None, ("UNCONN", Binding.BOUND)),
        (
            Proto.UDP,
            "NONE",
            InetEndpoint("127.0.0.1", 4000),
            InetEndpoint("127.0.0.1", 53),
            ("ESTABLISHED", Binding.CONNECTED),
        ),
        (Proto.UDP, "NONE", None, None, ("UNCONN", Binding.UNBOUND)),
        (
            Proto.UNIX,
            "NONE",
            UnixEndpoint(None),
            UnixEndpoint("/run/x.sock"),
            ("ESTABLISHED", Binding.CONNECTED),
        ),
        (Proto.UNIX, "NONE", UnixEndpoint("/run/x.sock"), UnixEndpoint(None), ("UNCONN", Binding.BOUND)),
        (Proto.UNIX, "NONE", UnixEndpoint(None), UnixEndpoint(None), ("UNCONN", Binding.UNBOUND)),
    ],
)
def test_classify(
    proto: Proto,
    status: str,
    local: InetEndpoint | UnixEndpoint | None,
    remote: InetEndpoint | UnixEndpoint | None,
    expected: tuple[str, Binding],
) -> None:
    assert _classify(proto, status, local, remote) == expected
