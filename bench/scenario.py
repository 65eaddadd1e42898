"""A reusable scale scenario: N real loopback TCP connections held open by helper processes.

The hard ``RLIMIT_NOFILE`` on the benchmark machines is 20000 and cannot be raised, so one process
cannot hold 50k connections (100k sockets). :class:`Scenario` spreads them over child processes,
each holding at most ``max_fds_per_child`` descriptors: a child opens a few listeners (127.0.0.1 and,
when available, ::1, on kernel-chosen ports), connects its share of clients to them, accepts every
connection and keeps both ends open until the parent lets go. The parent itself holds none of
these sockets, only one pipe pair per child.

Children report readiness as one JSON line on their stdout pipe; the parent waits for all of them
with a deadline. A child exits when its stdin reaches EOF (the parent closed it or died) or when
the parent dies (``PR_SET_PDEATHSIG``), and :meth:`Scenario.close` kills whatever is left, so no
helper outlives the benchmark even on Ctrl-C or a crash.

Every socket gets ``SO_LINGER {1, 0}``: tearing the scenario down resets the connections instead of
leaving 50k TIME_WAIT entries behind, which would pollute the next run and eat ephemeral ports.

Usable as a library (``with Scenario.build(10_000) as sc: ...``) or standalone, to hold a scenario
open for manual poking (``python bench/scenario.py --connections 10000``; Ctrl-C to stop).
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import errno
import json
import math
import os
import resource
import selectors
import signal
import socket
import struct
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

#: Descriptors one child may use for sockets; leaves headroom under the 20000 hard limit.
DEFAULT_MAX_FDS_PER_CHILD = 8000
#: One listener port per this many connections (at least two listeners per child).
DEFAULT_CONNECTIONS_PER_PORT = 5000
#: Share of the connections that go to ::1 listeners when IPv6 loopback works.
IPV6_SHARE = 0.25
#: Clients connected before the child drains the accept queue; kept well under the backlog so that
#: no SYN is ever dropped (a dropped SYN costs a one-second retransmission).
CONNECT_BATCH = 512
LISTEN_BACKLOG = 4096
#: Descriptors a child needs besides its sockets (stdio, interpreter internals, selectors).
CHILD_FD_OVERHEAD = 64

_LINGER_RESET = struct.pack("ii", 1, 0)
_PR_SET_PDEATHSIG = 1


class ScenarioError(RuntimeError):
    """The scenario could not be built (limits, a child failing, the deadline passing)."""


@dataclass(frozen=True, slots=True)
class ListenerSpec:
    """One listener a child opens, and how many clients it connects to it."""

    host: str
    connections: int


@dataclass(frozen=True, slots=True)
class ChildReport:
    """What a child reported once its connections were all established."""

    pid: int
    listeners: tuple[tuple[str, int], ...]
    connections: int
    sockets: int
    build_seconds: float


@dataclass(slots=True)
class Scenario:
    """A set of helper processes holding ``connections`` loopback TCP connections open."""

    connections: int
    children: list[subprocess.Popen[bytes]] = field(default_factory=list)
    reports: list[ChildReport] = field(default_factory=list)
    build_seconds: float = 0.0

    # -- construction ---------------------------------------------------------------------------------

    @classmethod
    def build(
        cls,
        connections: int,
        *,
        max_fds_per_child: int = DEFAULT_MAX_FDS_PER_CHILD,
        connections_per_port: int = DEFAULT_CONNECTIONS_PER_PORT,
        ipv6: bool = True,
        timeout: float = 300.0,
        progress: bool = False,
    ) -> Scenario:
        """Start the children and wait until every connection is established.

        Raises :class:`ScenarioError` (after killing the children) on failure or timeout.
        """
        plans = plan_children(
            connections,
            max_fds_per_child=max_fds_per_child,
            connections_per_port=connections_per_port,
            ipv6=ipv6 and ipv6_loopback_works(),
        )
        preflight(plans, max_fds_per_child)
        scenario = cls(connections=connections)
        start = time.perf_counter()
        try:
            for plan in plans:
                scenario.children.append(_spawn_child(plan))
            scenario.reports = _wait_ready(scenario.children, deadline=start + timeout, progress=progress)
        except BaseException:
            scenario.close()
            raise
        scenario.build_seconds = time.perf_counter() - start
        return scenario

    # -- facts ----------------------------------------------------------------------------------------

    @property
    def sockets(self) -> int:
        """Sockets the children hold: two per connection plus the listeners."""
        return sum(r.sockets for r in self.reports)

    @property
    def listeners(self) -> list[tuple[str, int]]:
        """Every listening (host, port) of the scenario."""
        return [lst for r in self.reports for lst in r.listeners]

    @property
    def pids(self) -> list[int]:
        """Pids of the helper processes."""
        return [c.pid for c in self.children]

    # -- teardown -------------------------------------------------------------------------------------

    def close(self) -> None:
        """Stop every child: EOF on stdin, then SIGKILL for the stragglers. Idempotent."""
        for child in self.children:
            if child.stdin is not None:
                with contextlib.suppress(OSError):
                    child.stdin.close()
        deadline = time.monotonic() + 5.0
        for child in self.children:
            try:
                child.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
        for child in self.children:
            if child.poll() is None:
                child.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(timeout=5.0)
            if child.stdout is not None:
                with contextlib.suppress(OSError):
                    child.stdout.close()
        self.children.clear()

    def __enter__(self) -> Scenario:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


# -- planning and checks -------------------------------------------------------------------------------


def plan_children(
    connections: int,
    *,
    max_fds_per_child: int = DEFAULT_MAX_FDS_PER_CHILD,
    connections_per_port: int = DEFAULT_CONNECTIONS_PER_PORT,
    ipv6: bool = True,
) -> list[list[ListenerSpec]]:
    """Split ``connections`` over children; each child gets a list of listeners with their loads."""
    if connections < 1:
        raise ScenarioError("need at least one connection")
    # Two descriptors per connection plus a handful of listeners must fit in the budget.
    per_child_cap = (max_fds_per_child - 16) // 2
    if per_child_cap < 1:
        raise ScenarioError(f"max_fds_per_child={max_fds_per_child} is too small")
    n_children = math.ceil(connections / per_child_cap)
    base, extra = divmod(connections, n_children)
    plans: list[list[ListenerSpec]] = []
    for i in range(n_children):
        share = base + (1 if i < extra else 0)
        v6 = round(share * IPV6_SHARE) if ipv6 and share >= 4 else 0
        v4 = share - v6
        listeners = _split("127.0.0.1", v4, connections_per_port)
        if v6:
            listeners += _split("::1", v6, connections_per_port)
        plans.append(listeners)
    return plans


def _split(host: str, connections: int, per_port: int) -> list[ListenerSpec]:
    if connections <= 0:
        return []
    ports = max(1, math.ceil(connections / per_port))
    base, extra = divmod(connections, ports)
    return [ListenerSpec(host, base + (1 if i < extra else 0)) for i in range(ports)]


def ephemeral_port_count() -> int:
    """Size of ``net.ipv4.ip_local_port_range`` (shared by IPv4 and IPv6)."""
    try:
        low, high = map(int, Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    except (OSError, ValueError):
        return 28232  # the kernel default range 32768-60999
    return high - low + 1


def preflight(plans: list[list[ListenerSpec]], max_fds_per_child: int) -> None:
    """Fail early, with a clear message, when the machine cannot hold the planned scenario."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    limit = hard if hard != resource.RLIM_INFINITY else max_fds_per_child + CHILD_FD_OVERHEAD
    if max_fds_per_child + CHILD_FD_OVERHEAD > limit:
        raise ScenarioError(
            f"max_fds_per_child={max_fds_per_child} does not fit under the hard RLIMIT_NOFILE {hard}"
        )
    # Each client takes a local port that must be unique per destination (ip, port); ports are
    # shared between destinations, so the limit is per listener. Keep 10% headroom for the
    # listeners themselves and whatever else runs on the machine.
    ports = ephemeral_port_count()
    busiest = max(spec.connections for plan in plans for spec in plan)
    if busiest > ports * 0.9:
        raise ScenarioError(
            f"{busiest} connections to one listener but only {ports} ephemeral ports; "
            "lower connections_per_port"
        )
    total = sum(spec.connections for plan in plans for spec in plan)
    try:
        ct_max = int(Path("/proc/sys/net/netfilter/nf_conntrack_max").read_text())
    except (OSError, ValueError):
        ct_max = 0
    if ct_max and total > ct_max * 0.9:
        print(
            f"warning: {total} connections near nf_conntrack_max={ct_max}; connects may stall",
            file=sys.stderr,
        )


def ipv6_loopback_works() -> bool:
    """True when a socket can bind ::1 (IPv6 enabled with loopback configured)."""
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
    except OSError:
        return False
    return True


# -- parent side of the pipes ---------------------------------------------------------------------------


def _spawn_child(plan: list[ListenerSpec]) -> subprocess.Popen[bytes]:
    spec = json.dumps([[s.host, s.connections] for s in plan])
    return subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), "--child", spec],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        close_fds=True,
        # Ctrl-C goes to the parent only; the parent then tears the children down in order.
        start_new_session=True,
    )


def _wait_ready(
    children: list[subprocess.Popen[bytes]], *, deadline: float, progress: bool
) -> list[ChildReport]:
    """Read one JSON line from every child, until ``deadline`` (a perf_counter value)."""
    reports: dict[int, ChildReport] = {}
    buffers: dict[int, bytes] = {}
    with selectors.DefaultSelector() as sel:
        for proc in children:
            if proc.stdout is None:
                raise ScenarioError("child started without a stdout pipe")
            sel.register(proc.stdout, selectors.EVENT_READ, proc)
            buffers[proc.pid] = b""
        while len(reports) < len(children):
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                raise ScenarioError(f"timed out: {len(reports)}/{len(children)} children ready")
            for key, _ in sel.select(timeout=min(remaining, 1.0)):
                child: subprocess.Popen[bytes] = key.data
                chunk = os.read(key.fd, 65536)
                if not chunk:
                    sel.unregister(key.fileobj)
                    code = child.wait()
                    raise ScenarioError(f"child {child.pid} exited with status {code} before being ready")
                buffers[child.pid] += chunk
                if b"\n" not in buffers[child.pid]:
                    continue
                line = buffers[child.pid].split(b"\n", 1)[0]
                msg = json.loads(line)
                if "error" in msg:
                    raise ScenarioError(f"child {child.pid}: {msg['error']}")
                reports[child.pid] = ChildReport(
                    pid=child.pid,
                    listeners=tuple((h, p) for h, p in msg["listeners"]),
                    connections=msg["connections"],
                    sockets=msg["sockets"],
                    build_seconds=msg["build_seconds"],
                )
                sel.unregister(key.fileobj)
                if progress:
                    print(
                        f"  child {child.pid}: {msg['connections']} connections "
                        f"in {msg['build_seconds']:.2f}s ({len(reports)}/{len(children)})",
                        file=sys.stderr,
                    )
    return [reports[c.pid] for c in children]


# -- child side ----------------------------------------------------------------------------------------


def _die_with_parent() -> None:
    """Ask the kernel to SIGKILL this process when its parent dies (Linux only; best effort)."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def _raise_nofile() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _listen(host: str) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    lsock = socket.socket(family, socket.SOCK_STREAM)
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind((host, 0))
    lsock.listen(LISTEN_BACKLOG)
    lsock.setblocking(False)
    return lsock


def _accept_all(lsock: socket.socket, want: int, into: list[socket.socket]) -> None:
    """Accept exactly ``want`` pending connections (they are already established by the kernel)."""
    got = 0
    while got < want:
        try:
            conn, _ = lsock.accept()
        except BlockingIOError:
            # The handshake of the last clients may still be in flight; wait for the listener.
            with selectors.DefaultSelector() as sel:
                sel.register(lsock, selectors.EVENT_READ)
                if not sel.select(timeout=10.0):
                    raise ScenarioError(f"accept stalled after {got}/{want} connections") from None
            continue
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
        into.append(conn)
        got += 1


def _build(plan: list[tuple[str, int]]) -> tuple[dict[str, Any], list[socket.socket]]:
    """Open the child's listeners and connections; returns the readiness report and the sockets."""
    start = time.perf_counter()
    held: list[socket.socket] = []
    listeners: list[tuple[str, int]] = []
    for host, count in plan:
        lsock = _listen(host)
        held.append(lsock)
        port = lsock.getsockname()[1]
        listeners.append((host, port))
        done = 0
        while done < count:
            batch = min(CONNECT_BATCH, count - done)
            for _ in range(batch):
                client = socket.socket(lsock.family, socket.SOCK_STREAM)
                client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
                client.connect((host, port))
                held.append(client)
            _accept_all(lsock, batch, held)
            done += batch
    report = {
        "listeners": listeners,
        "connections": sum(c for _, c in plan),
        "sockets": len(held),
        "build_seconds": time.perf_counter() - start,
    }
    return report, held


def child_main(spec: str) -> int:
    """Entry point of a helper process: build, report on stdout, hold until stdin closes."""
    _die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when we stop
    out = sys.stdout.buffer
    try:
        _raise_nofile()
        plan = [(str(h), int(c)) for h, c in json.loads(spec)]
        report, held = _build(plan)
    except Exception as exc:  # report any failure to the parent, which shows it
        name = errno.errorcode.get(exc.errno, "") if isinstance(exc, OSError) and exc.errno else ""
        out.write(json.dumps({"error": f"{type(exc).__name__} {name} {exc}".strip()}).encode() + b"\n")
        out.flush()
        return 1
    out.write(json.dumps(report).encode() + b"\n")
    out.flush()
    # Block until the parent closes our stdin (or dies): then exit, closing every socket with RST.
    while sys.stdin.buffer.read(65536):
        pass
    del held
    return 0


def main(argv: list[str] | None = None) -> int:
    """Standalone use: hold a scenario open until Ctrl-C (or run as a helper with ``--child``)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--child", metavar="SPEC", help=argparse.SUPPRESS)
    parser.add_argument("--connections", type=int, default=10_000)
    parser.add_argument("--max-fds-per-child", type=int, default=DEFAULT_MAX_FDS_PER_CHILD)
    parser.add_argument("--connections-per-port", type=int, default=DEFAULT_CONNECTIONS_PER_PORT)
    parser.add_argument("--no-ipv6", action="store_true", help="listen on 127.0.0.1 only")
    args = parser.parse_args(argv)
    if args.child is not None:
        return child_main(args.child)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        with Scenario.build(
            args.connections,
            max_fds_per_child=args.max_fds_per_child,
            connections_per_port=args.connections_per_port,
            ipv6=not args.no_ipv6,
            progress=True,
        ) as sc:
            print(
                f"{sc.connections} connections, {sc.sockets} sockets in {len(sc.children)} children "
                f"(pids {' '.join(map(str, sc.pids))}), built in {sc.build_seconds:.2f}s; Ctrl-C to stop"
            )
            signal.pause()
    except KeyboardInterrupt:
        return 130
    except ScenarioError as exc:
        print(f"scenario: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
