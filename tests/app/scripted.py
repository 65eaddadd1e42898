"""Scripted-snapshot helpers for the first-ten-minutes and SVG snapshot tests.

A :class:`FixedSource` hands the app exactly the records the test staged, with a fixed time stamp and
collection time (so screenshots do not depend on the clock) and whatever blind-spot numbers the test
chose; :class:`FakeDetails` answers the detail views without reading the system. Record builders make
UDP and UNIX records to go with :func:`support.tcp`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

from textual.pilot import Pilot

from sockui.app import SockuiApp
from sockui.model.process import ProcessInfo
from sockui.model.socket import (
    Binding,
    Family,
    InetEndpoint,
    Owner,
    Proto,
    Snapshot,
    SocketRecord,
    SockType,
    UnixEndpoint,
)
from sockui.model.tcpinfo import TcpDetails

from .support import tcp, wait_for_snapshot, wait_until

#: No timer-driven refresh during a test: each one is triggered by the test.
NEVER = 3600.0
#: 2026-01-02 03:04:05 UTC: the time stamp of every fixed snapshot.
FIXED_TIME = 1_767_323_045.0


class FixedSource:
    """A snapshot source the test drives, with a fixed ``taken_at`` and blind-spot counters."""

    def __init__(
        self,
        sockets: Iterable[SocketRecord] = (),
        *,
        taken_at: float = FIXED_TIME,
        duration: float = 0.012,
        euid: int | None = 0,
        hidden_owners: int = 0,
        users: dict[int, str] | None = None,
    ) -> None:
        self._lock = threading.Lock()
        self._sockets: tuple[SocketRecord, ...] = tuple(sockets)
        self.taken_at = taken_at
        self.duration = duration
        self.euid = euid
        self.hidden_owners = hidden_owners
        self.users = users if users is not None else {0: "root"}
        self.collects = 0

    def stage(self, sockets: Iterable[SocketRecord]) -> None:
        """The sockets the next collection returns."""
        with self._lock:
            self._sockets = tuple(sockets)

    def collect(self) -> Snapshot:
        with self._lock:
            self.collects += 1
            return Snapshot(
                sockets=self._sockets,
                taken_at=self.taken_at,
                duration=self.duration,
                euid=self.euid,
                hidden_owners=self.hidden_owners,
                users=self.users,
            )

    def cancel(self) -> None:
        pass

    def close(self) -> None:
        pass


class FakeDetails:
    """A :class:`~sockui.model.process.DetailSource` with fixed answers: nothing read from the system."""

    def __init__(self, names: dict[int, str] | None = None) -> None:
        """``names``: pid -> process name (default "srv")."""
        self.names = names or {}

    def process_info(self, pid: int) -> ProcessInfo:
        name = self.names.get(pid, "srv")
        return ProcessInfo(
            pid,
            False,
            name=name,
            cmdline=(f"/usr/bin/{name}", "--config", f"/etc/{name}.conf"),
            user="root",
            parents=((1, "init"),),
            started=FIXED_TIME - 3600,
            rss=12 * 1048576,
        )

    def tcp_details(self, sock: SocketRecord) -> TcpDetails | None:
        return None

    def hostname(self, address: str) -> str | None:
        return None


def scripted_app(source: FixedSource, filter_text: str = "") -> SockuiApp:
    """The app on ``source``, with fixed process details and no timed refresh."""
    return SockuiApp(filter_text=filter_text, interval=NEVER, source=lambda: source, details=FakeDetails())


async def refresh(pilot: Pilot[Any], app: SockuiApp) -> None:
    """Collect the staged snapshot now and wait until it is applied."""
    before = app.snapshots_applied
    app.refresh_now()
    await wait_for_snapshot(pilot, app, before)


def notes(app: SockuiApp) -> list[str]:
    """The messages of the notifications currently shown (``run_test(notifications=True)``)."""
    # No public accessor in Textual 8.2.8; the toasts are built from this collection.
    return [str(n.message) for n in app._notifications]


async def wait_for_note(pilot: Pilot[Any], app: SockuiApp, needle: str) -> str:
    """The first notification containing ``needle``, once it is posted."""
    found = await wait_until(
        pilot,
        lambda: next((m for m in notes(app) if needle in m), ""),
        timeout=10.0,
        what=f"a notification containing {needle!r}",
        fail=False,
    )
    assert found, f"no notification contains {needle!r}: {notes(app)}"
    return str(found)


def at(record: SocketRecord, address: str, port: int | None = None) -> SocketRecord:
    """``record`` with its local address (and port) replaced."""
    local = record.local
    assert isinstance(local, InetEndpoint)
    return record._replace(local=InetEndpoint(address, local.port if port is None else port))


def udp(cookie: int, port: int, *, pid: int = 4242, name: str = "srv") -> SocketRecord:
    """A bound, unconnected UDP socket on 127.0.0.1:``port``."""
    return tcp(cookie, port, pid=pid, name=name)._replace(
        proto=Proto.UDP,
        type=SockType.DGRAM,
        state="UNCONN",
        binding=Binding.BOUND,
        remote=None,
    )


def unix(
    cookie: int,
    path: str | None,
    *,
    inode: int,
    state: str = "ESTABLISHED",
    peer_inode: int | None = None,
    remote: str | None = None,
    pid: int = 4242,
    name: str = "srv",
    fd: int = 3,
) -> SocketRecord:
    """A UNIX stream socket: listening on ``path`` (state LISTEN) or connected (to ``remote``)."""
    listening = state == "LISTEN"
    connected = peer_inode is not None or remote is not None
    return SocketRecord(
        proto=Proto.UNIX,
        family=Family.UNIX,
        type=SockType.STREAM,
        state=state,
        binding=Binding.LISTENING if listening else Binding.CONNECTED if connected else Binding.BOUND,
        local=UnixEndpoint(path),
        remote=UnixEndpoint(remote) if connected else None,
        inode=inode,
        uid=0,
        owners=(Owner(pid, fd, name),),
        cookie=cookie,
        peer_inode=peer_inode,
    )
