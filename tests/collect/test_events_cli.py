"""``sockui --events`` end to end: real loopback connections, the real kernel, sockui as a subprocess.

Proves, as root and as nobody:

- a burst of 200 short connections (each carrying its own number of bytes both ways) gives one
  ``closed`` line per socket, client and accepted side, never two: sockets no refresh saw are reported
  from the kernel's destroy messages, with ``bytes_sent`` exactly what that side sent and
  ``bytes_received`` that plus at most the peer's FIN;
- one connection the test drives through open, half-close and close shows as ``opened``, ``state``
  (client FIN_WAIT2, server CLOSE_WAIT) and ``closed``, in that order, with its inode, owner (hidden
  from nobody) and final counters;
- every line is one JSON object with the documented keys in the documented order;
- Ctrl-C (SIGINT) ends it with status 0 and no traceback; a reader that goes away (``| head -n 1``)
  ends it at its next write, status 0, nothing but sockui's own notes on stderr;
- ``--events`` with ``--once`` (or an output format of ``--once``) is refused with status 2.

Readiness is observed, never slept for: the test closes probe connections until the first ``closed``
line about one of them comes out (destroy messages are then being heard, and the baseline snapshot is
taken). Absence of late duplicates is proven with sentinels: connections opened until one's ``opened``
line carries a snapshot time past the close grace, so any close a snapshot could still report has been
written before it. Every process is killed and reaped, every socket closed, even on failure.

TIME_WAIT remains of a connection no refresh saw: the kernel makes socket cookies lazily, so such a
connection has cookie 0 when its TIME_WAIT mini-socket is made (inet_twsk_alloc copies it); the destroy
message then generates one for the freed socket and the first dump of the TIME_WAIT another. The remain
must be neither ``opened`` nor, when it ends (60 s later, or ``ss -K``), ``closed`` a second time.
"""

from __future__ import annotations

import collections
import contextlib
import functools
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

from sockui.model.history import EventTracker

from .holders import AS_NOBODY, read_line
from .netns_support import nobody_env
from .scenario import SocketBag

#: Every line: these first, in this order (``time``, ``event``, then the ``--json`` schema).
COMMON_KEYS = [
    "time",
    "event",
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
#: What each kind of event adds, after the common keys.
EXTRA_KEYS = {
    "opened": [],
    "state": ["previous_state"],
    "closed": ["lifetime", "note", "inbound"],
}
TCP_CLOSED_KEYS = ["bytes_sent", "bytes_received", "retransmits"]

BURST = 200
#: The close grace of the tracker (seconds of snapshot time a TCP close waits for its destroy message).
GRACE = EventTracker().grace
#: Generous deadlines: a loaded 2-core box, a refresh of a busy machine.
DEADLINE = 60.0


# -- the sockui process -------------------------------------------------------------------------------


@contextlib.contextmanager
def sigint_reaches_children() -> Iterator[None]:
    """While starting a child: SIGINT handled (not ignored) here, so the child starts with the default.

    A process started with SIGINT ignored (``nohup``, a background job of a non-interactive shell)
    passes that on through exec, and Python then never raises KeyboardInterrupt: the Ctrl-C tests would
    test nothing. A handled signal is reset to the default by exec.
    """
    before = signal.getsignal(signal.SIGINT)
    if before is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        if before is signal.SIG_IGN:
            signal.signal(signal.SIGINT, before)


def check_keys(obj: dict[str, Any], line: str) -> None:
    """The documented keys, in order, with the documented types."""
    kind = obj.get("event")
    assert kind in EXTRA_KEYS, line
    expected = COMMON_KEYS + EXTRA_KEYS[kind]
    if kind == "closed" and obj["proto"] == "tcp":
        expected = expected + TCP_CLOSED_KEYS
    assert list(obj) == expected, f"keys {list(obj)} != {expected}: {line}"
    assert isinstance(obj["time"], float), line
    assert isinstance(obj["processes"], list), line
    assert isinstance(obj["netns"], dict) and list(obj["netns"]) == ["inode", "name"], line
    if kind == "state":
        assert isinstance(obj["previous_state"], str) and obj["previous_state"] != obj["state"], line
    if kind == "closed":
        assert obj["lifetime"] is None or (isinstance(obj["lifetime"], float | int) and obj["lifetime"] >= 0)
        assert isinstance(obj["note"], str), line
        assert obj["inbound"] in (True, False, None), line
        if obj["proto"] == "tcp":
            for key in TCP_CLOSED_KEYS:
                assert obj[key] is None or (isinstance(obj[key], int) and obj[key] >= 0), line


@dataclass
class Events:
    """A running ``sockui --events`` and every line it printed so far (read without blocking)."""

    proc: subprocess.Popen[bytes]
    lines: list[str] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    eof: bool = False
    _partial: bytes = b""

    def _take(self, data: bytes) -> None:
        self._partial += data
        *complete, self._partial = self._partial.split(b"\n")
        for raw in complete:
            line = raw.decode("ascii")  # documented: ASCII only, one object per line
            obj = json.loads(line)
            assert isinstance(obj, dict), line
            check_keys(obj, line)
            self.lines.append(line)
            self.events.append(obj)

    def pump(self, timeout: float) -> None:
        """Read what is there, waiting up to ``timeout`` seconds for something."""
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        while not self.eof:
            remaining = max(0.0, deadline - time.monotonic())
            if not select.select([fd], [], [], remaining)[0]:
                return
            data = os.read(fd, 1 << 16)
            if not data:
                self.eof = True
                assert not self._partial, f"a line without its newline at the end: {self._partial!r}"
                return
            self._take(data)
            deadline = time.monotonic()  # take whatever else is already there, then return

    def until(self, done: Callable[[], Any], timeout: float = DEADLINE, what: str = "events") -> Any:
        """Read until ``done()`` is truthy and return it; fail at the deadline (or when sockui exits)."""
        deadline = time.monotonic() + timeout
        while True:
            value = done()
            if value:
                return value
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self.eof:
                state = "sockui exited" if self.eof else f"timed out after {timeout:.0f} s"
                raise AssertionError(
                    f"{state} waiting for {what}; {len(self.lines)} lines, the last: {self.lines[-3:]}"
                )
            self.pump(min(remaining, 0.5))

    def interrupt(self, timeout: float = 15.0) -> tuple[int, str]:
        """SIGINT (Ctrl-C); read the rest of stdout; the exit status and stderr."""
        self.proc.send_signal(signal.SIGINT)
        deadline = time.monotonic() + timeout
        while not self.eof:
            if time.monotonic() >= deadline:
                raise AssertionError(f"sockui --events still running {timeout:.0f} s after SIGINT")
            self.pump(deadline - time.monotonic())
        return self.proc.wait(timeout=timeout), self.stderr(timeout)

    def stderr(self, timeout: float = 15.0) -> str:
        assert self.proc.stderr is not None
        fd = self.proc.stderr.fileno()
        chunks: list[bytes] = []
        deadline = time.monotonic() + timeout
        while select.select([fd], [], [], max(0.0, deadline - time.monotonic()))[0]:
            data = os.read(fd, 1 << 16)
            if not data:
                break
            chunks.append(data)
        return b"".join(chunks).decode("utf-8", "replace")


class EventsRunner:
    """``sockui --events`` processes a test started; each killed (if still running) and reaped at the end."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, *args: str, as_nobody: bool = False) -> Events:
        command = [sys.executable, "-m", "sockui", "--events", *args]
        env: dict[str, str] | None = None
        if as_nobody:
            command = [*AS_NOBODY, *command]
            env = nobody_env()
        with sigint_reaches_children():
            proc = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                cwd="/",
                env=env,
            )
        self.procs.append(proc)
        return Events(proc)

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=30)
            for stream in (proc.stdout, proc.stderr):
                if stream is not None:
                    with contextlib.suppress(OSError):
                        stream.close()


@pytest.fixture
def runner() -> Iterator[EventsRunner]:
    events = EventsRunner()
    try:
        yield events
    finally:
        events.close()


@pytest.fixture(scope="module")
def nobody_can_run() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to switch to nobody (and to hold sockets whose owner nobody cannot see)")
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv (util-linux) is not installed")
    probe = subprocess.run(
        [*AS_NOBODY, sys.executable, "-c", "import sockui.events_cli"],
        capture_output=True,
        text=True,
        cwd="/",
        env=nobody_env(),
        timeout=30,
        check=False,
    )
    if probe.returncode != 0:
        pytest.skip(f"nobody cannot run {sys.executable} -m sockui here: {probe.stderr.strip()[-300:]}")


# -- connections --------------------------------------------------------------------------------------


def port_of(endpoint: Any) -> int | None:
    return endpoint.get("port") if isinstance(endpoint, dict) else None


def is_tuple(event: dict[str, Any], local_port: int, remote_port: int, address: str = "127.0.0.1") -> bool:
    """The event is about the socket ``address:local_port -> 127.0.0.1-ish:remote_port``."""
    local, remote = event["local"], event["remote"]
    return (
        isinstance(local, dict)
        and isinstance(remote, dict)
        and local.get("address") == address
        and local.get("port") == local_port
        and remote.get("port") == remote_port
    )


def listener(bag: SocketBag) -> socket.socket:
    sock = bag.new()
    sock.bind(("127.0.0.1", 0))
    sock.listen(BURST + 16)
    return sock


def connect(bag: SocketBag, lsock: socket.socket) -> tuple[socket.socket, socket.socket]:
    """A loopback connection to ``lsock``: (client, accepted socket), both in ``bag``."""
    client = bag.add(socket.create_connection(lsock.getsockname(), timeout=10))
    server, _ = lsock.accept()
    bag.add(server)
    server.settimeout(10)
    return client, server


def recv_exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        assert chunk, f"peer closed after {len(data)} of {size} bytes"
        data += chunk
    return data


def closed_about(events: Events, port: int) -> bool:
    """Some ``closed`` line names ``port`` (as its local or its remote port)."""
    return any(
        e["event"] == "closed" and port in (port_of(e["local"]), port_of(e["remote"])) for e in events.events
    )


def wait_ready(events: Events, bag: SocketBag, lsock: socket.socket, timeout: float = DEADLINE) -> set[int]:
    """Close probe connections until sockui reports one closed; the client ports of every probe.

    Destroy messages are heard from the first snapshot on (the baseline): a probe's ``closed`` line
    means connections made from now on are news, and their closes will be heard.
    """
    probes: set[int] = set()
    deadline = time.monotonic() + timeout
    while True:
        client, server = connect(bag, lsock)
        probe = client.getsockname()[1]
        probes.add(probe)
        client.close()
        server.close()
        wait = time.monotonic() + 1.0
        while time.monotonic() < wait and not events.eof:
            events.pump(0.2)
            if closed_about(events, probe):
                return probes
        if events.eof or time.monotonic() >= deadline:
            raise AssertionError(
                f"sockui --events never reported a probe's close (exit status {events.proc.poll()}, "
                f"stderr {events.stderr(1.0) if events.eof else '(still running)'!r})"
            )


def opened_after(events: Events, start: int, local_port: int, remote_port: int) -> dict[str, Any] | None:
    """The first ``opened`` line from index ``start`` on about ``127.0.0.1:local_port -> :remote_port``."""
    return next(
        (e for e in events.events[start:] if e["event"] == "opened" and is_tuple(e, local_port, remote_port)),
        None,
    )


def past_the_grace(events: Events, bag: SocketBag, lsock: socket.socket) -> None:
    """Open sentinel connections until one is reported opened by a snapshot ``GRACE`` seconds after the first.

    Every socket that left the snapshots before the first sentinel was seen is either closed by then or
    pending since no later than that snapshot: a close from the snapshots alone (no destroy message)
    comes with the first snapshot past the grace, in the same write as, and before, that sentinel's line.
    """
    port = lsock.getsockname()[1]
    first: float | None = None
    deadline = time.monotonic() + DEADLINE
    while True:
        start = len(events.events)
        client, _ = connect(bag, lsock)
        sentinel = client.getsockname()[1]
        seen = events.until(
            functools.partial(opened_after, events, start, sentinel, port),
            timeout=max(1.0, deadline - time.monotonic()),
            what=f"the sentinel {sentinel} opened",
        )
        if first is None:
            first = float(seen["time"])
        elif seen["time"] >= first + GRACE:
            return


def closed_with_bytes(events: Events) -> collections.Counter[tuple[str, int, int, int | None]]:
    """Closed TCP lines keyed by (local address, local port, remote port, bytes_sent)."""
    return collections.Counter(
        (e["local"]["address"], e["local"]["port"], e["remote"]["port"], e["bytes_sent"])
        for e in events.events
        if e["event"] == "closed"
        and e["proto"] == "tcp"
        and isinstance(e["local"], dict)
        and isinstance(e["remote"], dict)
    )


def assert_interrupted_cleanly(events: Events) -> None:
    status, stderr = events.interrupt()
    assert status == 0, f"exit status {status} after SIGINT; stderr: {stderr}"
    assert "Traceback" not in stderr and "Exception" not in stderr, stderr
    # Only sockui's own notes (e.g. owners hidden), each on a line of its own.
    assert all(line.startswith("sockui: ") for line in stderr.splitlines()), stderr


# -- the tests ----------------------------------------------------------------------------------------


def test_200_short_connections_each_closed_once_with_exact_bytes(
    runner: EventsRunner, bag: SocketBag
) -> None:
    lsock = listener(bag)
    port = lsock.getsockname()[1]
    events = runner.start("--interval", "2", "--filter", f"port {port}")
    wait_ready(events, bag, lsock)

    # Connection i carries k = i + 1 bytes each way (the server echoes them): the byte counts tell
    # apart two connections that got the same client port (tcp_tw_reuse lets loopback reuse a
    # 4-tuple still in TIME_WAIT). Even ones are closed by the client first, odd ones by the server.
    expected: dict[int, int] = {}  # k -> client port
    started = time.monotonic()
    for i in range(BURST):
        k = i + 1
        client, server = connect(bag, lsock)
        client.settimeout(10)
        client.sendall(b"c" * k)
        server.sendall(recv_exactly(server, k))
        assert recv_exactly(client, k) == b"c" * k
        expected[k] = client.getsockname()[1]
        for sock in (client, server) if i % 2 == 0 else (server, client):
            sock.close()
    took = time.monotonic() - started

    def client_key(k: int) -> tuple[str, int, int, int | None]:
        return ("127.0.0.1", expected[k], port, k)

    def server_key(k: int) -> tuple[str, int, int, int | None]:
        return ("127.0.0.1", port, expected[k], k)

    wanted = {client_key(k) for k in expected} | {server_key(k) for k in expected}
    assert len(wanted) == 2 * BURST

    def all_closed() -> bool:
        return wanted <= set(closed_with_bytes(events))

    events.until(all_closed, what=f"{2 * BURST} closed lines")
    past_the_grace(events, bag, lsock)
    assert_interrupted_cleanly(events)

    counts = closed_with_bytes(events)
    twice = {key: n for key, n in counts.items() if key in wanted and n != 1}
    assert not twice, f"reported more than once (took {took:.2f} s): {twice}"
    # Nothing else closed on those tuples with other counters: no second report with other numbers.
    tuples = {(a, lp, rp) for a, lp, rp, _ in wanted}
    stray = [key for key in counts if key[:3] in tuples and key not in wanted and key[3] != 0]
    assert not stray, f"closes on the burst's tuples with unexpected bytes_sent: {stray[:5]}"

    by_key = {
        (e["local"]["address"], e["local"]["port"], e["remote"]["port"], e["bytes_sent"]): e
        for e in events.events
        if e["event"] == "closed" and isinstance(e["local"], dict) and isinstance(e["remote"], dict)
    }
    unseen = 0
    for k in expected:
        for key in (client_key(k), server_key(k)):
            event = by_key[key]
            assert event["proto"] == "tcp" and event["state"] in {
                "CLOSE",
                "ESTABLISHED",
                "FIN_WAIT1",
                "FIN_WAIT2",
                "CLOSE_WAIT",
                "LAST_ACK",
                "TIME_WAIT",
                "CLOSING",
            }, event
            assert event["bytes_received"] in (k, k + 1), (k, event)
            assert event["retransmits"] is not None, event
            # The accepted side was on the listener's port; the client's port was its own.
            assert event["inbound"] is (key == server_key(k)), (key, event)
            if event["lifetime"] is None:
                unseen += 1
                assert event["note"].startswith("lived < one refresh"), event
    # With a 2 s refresh most of a ~1 s burst lives and dies between two snapshots: those closes can
    # only have come from the kernel's destroy messages.
    assert unseen >= BURST, f"only {unseen} of {2 * BURST} closes were of sockets no snapshot saw"


def one_connection_lifecycle(events: Events, bag: SocketBag, lsock: socket.socket, as_nobody: bool) -> None:
    """Open, half-close and close one connection; its lines come in that order with the right contents."""
    port = lsock.getsockname()[1]
    wait_ready(events, bag, lsock)
    start = len(events.events)
    client, server = connect(bag, lsock)
    cport = client.getsockname()[1]
    inodes = {"client": os.fstat(client.fileno()).st_ino, "server": os.fstat(server.fileno()).st_ino}
    fds = {"client": client.fileno(), "server": server.fileno()}

    def mine(side: str) -> list[dict[str, Any]]:
        local, remote = (cport, port) if side == "client" else (port, cport)
        return [e for e in events.events[start:] if is_tuple(e, local, remote)]

    def kinds(side: str) -> list[str]:
        return [e["event"] for e in mine(side)]

    events.until(lambda: "opened" in kinds("client") and "opened" in kinds("server"), what="both opened")

    client.sendall(b"hello")
    assert recv_exactly(server, 5) == b"hello"
    server.sendall(b"hey")
    client.settimeout(10)
    assert recv_exactly(client, 3) == b"hey"
    client.shutdown(socket.SHUT_WR)
    assert server.recv(1) == b"", "the server end saw the client's FIN"

    def changed(side: str, state: str) -> bool:
        return any(e["event"] == "state" and e["state"] == state for e in mine(side))

    events.until(
        lambda: changed("client", "FIN_WAIT2") and changed("server", "CLOSE_WAIT"),
        what="client FIN_WAIT2 and server CLOSE_WAIT",
    )
    # The client closes first, before the server's FIN: it has received the payload only. The
    # server closes after the client's FIN: it counts it.
    client.close()
    server.close()
    events.until(lambda: "closed" in kinds("client") and "closed" in kinds("server"), what="both closed")
    assert_interrupted_cleanly(events)

    for side, sent, received in (("client", 5, 3), ("server", 3, 5 + 1)):
        lines = mine(side)
        assert [e["event"] for e in lines] == ["opened", "state", "closed"], (side, lines)
        opened, state, closed = lines
        assert opened["state"] == "ESTABLISHED", opened
        assert state["previous_state"] == "ESTABLISHED", state
        assert state["state"] == ("FIN_WAIT2" if side == "client" else "CLOSE_WAIT"), state
        assert closed["state"] == state["state"], "closed: the state it was last seen in"
        assert opened["time"] <= state["time"] <= closed["time"], lines
        for event in lines:
            assert (event["proto"], event["family"], event["type"]) == ("tcp", "ipv4", "stream"), event
            assert event["binding"] == "connected", event
            assert event["inode"] == inodes[side], (side, event)
            assert event["uid"] == 0, event
            if as_nobody:
                # The test (root) holds both ends: nobody may not see root's fd tables.
                assert event["processes"] == [], event
            else:
                owners = [(p["pid"], p["fd"]) for p in event["processes"]]
                assert owners == [(os.getpid(), fds[side])], event
        assert closed["lifetime"] is not None and closed["lifetime"] >= 0, closed
        assert closed["lifetime"] >= state["time"] - opened["time"] - 1e-3, closed
        assert closed["note"] == "", closed
        assert (closed["bytes_sent"], closed["bytes_received"]) == (sent, received), (side, closed)
        assert closed["retransmits"] == 0, closed
    peer_inodes = {side: mine(side)[0]["peer_inode"] for side in ("client", "server")}
    assert peer_inodes == {"client": inodes["server"], "server": inodes["client"]}


def test_one_connection_opened_state_closed_then_ctrl_c(runner: EventsRunner, bag: SocketBag) -> None:
    lsock = listener(bag)
    events = runner.start("--interval", "0.5", "--filter", f"port {lsock.getsockname()[1]}")
    one_connection_lifecycle(events, bag, lsock, as_nobody=False)


def test_as_nobody_sees_the_events_with_owners_hidden(
    nobody_can_run: None, runner: EventsRunner, bag: SocketBag
) -> None:
    lsock = listener(bag)
    events = runner.start("--interval", "0.5", "--filter", f"port {lsock.getsockname()[1]}", as_nobody=True)
    one_connection_lifecycle(events, bag, lsock, as_nobody=True)


def test_reader_closing_the_pipe_ends_it_quietly(runner: EventsRunner, bag: SocketBag) -> None:
    """``sockui --events | head -n 1``: the next write after the reader left ends sockui, status 0."""
    lsock = listener(bag)
    events = runner.start("--interval", "0.5", "--filter", f"port {lsock.getsockname()[1]}")
    assert events.proc.stdout is not None
    # The first line, read as head reads it; then head exits.
    client, server = connect(bag, lsock)
    client.close()
    server.close()
    first = b""
    deadline = time.monotonic() + DEADLINE
    while not first:
        ready = select.select([events.proc.stdout.fileno()], [], [], 0.5)[0]
        if ready:
            first = read_line(events.proc.stdout, 10.0)
            assert first, f"sockui exited first: {events.proc.wait(10)} {events.stderr(1.0)!r}"
        elif time.monotonic() >= deadline:
            raise AssertionError("sockui --events printed nothing")
        else:  # not listening yet (no snapshot yet): another probe
            client, server = connect(bag, lsock)
            client.close()
            server.close()
    obj = json.loads(first)
    check_keys(obj, first.decode())
    events.proc.stdout.close()

    closed_at = time.monotonic()
    while events.proc.poll() is None:  # something to write, so that sockui finds the reader gone
        assert time.monotonic() - closed_at < 15.0, "sockui --events still running with nobody reading"
        client, server = connect(bag, lsock)
        client.close()
        server.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            events.proc.wait(timeout=0.05)
    took = time.monotonic() - closed_at
    stderr = events.stderr()
    assert events.proc.returncode == 0, stderr
    assert took < 10.0, f"sockui took {took:.1f} s to notice"
    assert "Traceback" not in stderr and "Exception" not in stderr and "BrokenPipe" not in stderr, stderr
    assert all(line.startswith("sockui: ") for line in stderr.splitlines()), stderr


@pytest.mark.parametrize("other", [["--once"], ["--json"], ["--jsonl"], ["--csv"], ["--once", "--json"]])
def test_events_with_once_or_a_format_is_refused(other: Sequence[str]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "sockui", "--events", *other],
        capture_output=True,
        text=True,
        cwd="/",
        timeout=60,
        check=False,
    )
    assert result.returncode == 2, result
    assert result.stdout == ""
    assert "--events" in result.stderr and "Traceback" not in result.stderr, result.stderr


# -- TIME_WAIT remains of a connection no snapshot saw ------------------------------------------------


def first_closed(events: Events, local_port: int, remote_port: int) -> dict[str, Any] | None:
    return next(
        (e for e in events.events if e["event"] == "closed" and is_tuple(e, local_port, remote_port)), None
    )


def unseen_client_close(events: Events, bag: SocketBag, lsock: socket.socket) -> tuple[int, int]:
    """A connection closed (client first) before any snapshot saw it: (client port, its list index).

    Retried in the unlikely case a snapshot caught it (its close then has a lifetime): only a socket no
    dump ever saw keeps a zero cookie.
    """
    port = lsock.getsockname()[1]
    for _ in range(20):
        client, server = connect(bag, lsock)
        cport = client.getsockname()[1]
        client.close()  # first: the client's side becomes TIME_WAIT
        server.close()

        closed = events.until(
            functools.partial(first_closed, events, cport, port), what=f"the close of client {cport}"
        )
        if closed["lifetime"] is None:
            return cport, events.events.index(closed)
    raise AssertionError("every connection was seen by a snapshot")


def time_wait_listed(cport: int, port: int) -> bool:
    listed = subprocess.run(
        ["ss", "-Htan", "state", "time-wait", f"( sport = :{cport} and dport = :{port} )"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return bool(listed.stdout.strip())


def test_time_wait_remains_of_an_unseen_connection_are_not_opened(
    runner: EventsRunner, bag: SocketBag
) -> None:
    if shutil.which("ss") is None:
        pytest.skip("ss (iproute2) is not installed")
    lsock = listener(bag)
    port = lsock.getsockname()[1]
    events = runner.start("--interval", "0.5", "--filter", f"port {port}")
    wait_ready(events, bag, lsock)
    cport, _ = unseen_client_close(events, bag, lsock)
    assert time_wait_listed(cport, port), "the client's side is in TIME_WAIT"
    # A snapshot taken after the close (it shows the sentinel) has shown the TIME_WAIT too.
    start = len(events.events)
    sentinel, _ = connect(bag, lsock)
    events.until(
        functools.partial(opened_after, events, start, sentinel.getsockname()[1], port), what="the sentinel"
    )
    assert_interrupted_cleanly(events)
    again = [e for e in events.events if e["event"] == "opened" and is_tuple(e, cport, port)]
    assert not again, f"the remains of a connection already reported closed, reported opened: {again}"


def test_time_wait_ending_does_not_close_the_connection_again(runner: EventsRunner, bag: SocketBag) -> None:
    """The TIME_WAIT would end by itself after 60 s; ``ss -K`` ends it now (neither sends a message)."""
    if os.geteuid() != 0 or shutil.which("ss") is None:
        pytest.skip("needs root and ss (iproute2) to end a TIME_WAIT socket (SOCK_DESTROY)")
    lsock = listener(bag)
    port = lsock.getsockname()[1]
    events = runner.start("--interval", "0.5", "--filter", f"port {port}")
    wait_ready(events, bag, lsock)
    cport, _ = unseen_client_close(events, bag, lsock)
    start = len(events.events)
    sentinel, _ = connect(bag, lsock)
    events.until(
        functools.partial(opened_after, events, start, sentinel.getsockname()[1], port), what="the sentinel"
    )
    subprocess.run(
        ["ss", "-K", "-Htan", "state", "time-wait", f"( sport = :{cport} and dport = :{port} )"],
        capture_output=True,
        timeout=30,
        check=True,
    )
    assert not time_wait_listed(cport, port), "ss -K ended the TIME_WAIT"
    past_the_grace(events, bag, lsock)
    assert_interrupted_cleanly(events)
    closes = [e for e in events.events if e["event"] == "closed" and is_tuple(e, cport, port)]
    assert len(closes) == 1, f"one connection, {len(closes)} closes: {closes}"
