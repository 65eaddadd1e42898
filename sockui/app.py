"""SockuiApp: the refresh loop, the workers, and the screens.

One collector thread at a time: a worker reads a snapshot and posts it; when the app has applied it,
a timer is armed for the next one, so refreshes never overlap and a slow refresh slows the loop down
instead of piling up. Workers only post messages; they never touch widgets.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import ClassVar, Protocol

from textual import on, work
from textual.app import App
from textual.binding import Binding, BindingType
from textual.timer import Timer
from textual.worker import get_current_worker

from sockui.collect.process import process_info
from sockui.collect.query import tcp_details
from sockui.collect.services import load_services
from sockui.collect.snapshot import CollectCancelledError, Collector
from sockui.messages import CollectFailed, DetailsReady, RowsReady, SnapshotReady
from sockui.model import format as fmt
from sockui.model.filters import parse
from sockui.model.pairing import index_by_key
from sockui.model.socket import Snapshot, SocketRecord
from sockui.model.view import ViewState, derive
from sockui.screens.help import HelpScreen
from sockui.screens.main import MainScreen
from sockui.screens.owners import OwnersScreen

#: Process details for at most this many owners of one socket (a forking server can have hundreds).
MAX_DETAILED_OWNERS = 8


class SnapshotSource(Protocol):
    """Anything that produces snapshots: the real Collector, or a scripted one in tests."""

    def collect(self) -> Snapshot:
        """One snapshot."""
        ...

    def close(self) -> None:
        """Release resources."""
        ...


class SockuiApp(App[int]):
    """The live socket explorer."""

    CSS_PATH = "app.tcss"
    TITLE = "sockui"
    ENABLE_COMMAND_PALETTE = False

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("space", "toggle_pause", "Pause"),
        Binding("question_mark", "help", "Help"),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(
        self,
        filter_text: str = "",
        interval: float = 1.0,
        read_only: bool = False,
        resolve: bool = False,
        source: Callable[[], SnapshotSource] | None = None,
    ) -> None:
        super().__init__()
        self.interval = interval
        self.read_only = read_only
        self.resolve = resolve
        self._make_source = source or Collector
        self._source: SnapshotSource | None = None
        self._timer: Timer | None = None
        self.paused = False
        self.main = MainScreen(ViewState(filter=parse(filter_text)))
        self.snapshots_applied = 0
        self._warned: set[str] = set()

    def on_mount(self) -> None:
        """Show the main screen and start reading."""
        self.push_screen(self.main)
        self._load_services()
        self._collect()

    def on_unmount(self) -> None:
        """Stop a refresh in flight (shutdown waits for worker threads), close the netlink socket."""
        self._cancel_source()
        if self._source is not None:
            self._source.close()

    def _cancel_source(self) -> None:
        cancel = getattr(self._source, "cancel", None)
        if callable(cancel):
            cancel()

    async def action_quit(self) -> None:
        """``q``: quit at once, even in the middle of a multi-second refresh."""
        self._cancel_source()
        await super().action_quit()

    # -- the refresh loop ----------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="collect", exit_on_error=False)
    def _collect(self) -> None:
        worker = get_current_worker()
        try:
            if self._source is None:
                self._source = self._make_source()
            snapshot = self._source.collect()
        except CollectCancelledError:
            return
        except Exception as exc:  # noqa: BLE001 - any failure must reach the status bar, not kill the app
            self.post_message(CollectFailed(f"{type(exc).__name__}: {exc}"))
            return
        if worker.is_cancelled:
            return
        # Deriving the rows is as costly as a small refresh: do it here, not on the UI thread.
        derived = derive(snapshot, self.main.view)
        self.post_message(SnapshotReady(snapshot, index_by_key(snapshot.sockets), derived))

    @on(SnapshotReady)
    def _snapshot_ready(self, message: SnapshotReady) -> None:
        if not self.paused:
            self.main.apply_snapshot(message.snapshot, message.by_key, message.derived)
            self.snapshots_applied += 1
            for warning in message.snapshot.warnings:
                if warning not in self._warned:  # degraded data is said once, not every second
                    self._warned.add(warning)
                    self.notify(fmt.safe(warning), severity="warning", timeout=8, markup=False)
        self._schedule(message.snapshot.duration)

    @on(MainScreen.ViewChanged)
    def _view_changed(self, message: MainScreen.ViewChanged) -> None:
        if self.main.snapshot is not None:
            self._derive(self.main.snapshot, message.view)

    @work(thread=True, exclusive=True, group="derive", exit_on_error=False)
    def _derive(self, snapshot: Snapshot, view: ViewState) -> None:
        derived = derive(snapshot, view)
        if not get_current_worker().is_cancelled:
            self.post_message(RowsReady(derived))

    @on(RowsReady)
    def _rows_ready(self, message: RowsReady) -> None:
        self.main.apply_rows(message.derived)

    @on(CollectFailed)
    def _collect_failed(self, message: CollectFailed) -> None:
        self.main.show_failure(message.error)
        self._schedule(0.0)

    def _schedule(self, cost: float) -> None:
        """Arm the next refresh; an expensive refresh stretches the interval (at most 50% busy)."""
        if self._timer is not None:
            self._timer.stop()
        self._timer = self.set_timer(max(self.interval, 2 * cost), self._tick)

    def _tick(self) -> None:
        if self.paused or self.screen is not self.main:
            # Paused, or a modal is open: keep the picture still, look again later.
            self._schedule(0.0)
            return
        self._collect()

    def refresh_now(self) -> None:
        """Collect at once (after unpausing, or from tests)."""
        if self._timer is not None:
            self._timer.stop()
        self._collect()

    def action_toggle_pause(self) -> None:
        """``space``: freeze or resume live updates."""
        self.paused = not self.paused
        self.main.set_paused(self.paused)
        if not self.paused:
            self.refresh_now()

    def action_help(self) -> None:
        """``?``: the key list."""
        self.push_screen(HelpScreen())

    # -- side data -----------------------------------------------------------------------------

    @work(thread=True, group="services", exit_on_error=False)
    def _load_services(self) -> None:
        services = load_services()
        self.call_from_thread(setattr, self.main, "services", services)

    def load_details(self, record: SocketRecord) -> None:
        """Fetch process details and TCP internals for the detail pane (in a worker)."""
        self._details_worker(record)

    @work(thread=True, exclusive=True, group="details", exit_on_error=False)
    def _details_worker(self, record: SocketRecord) -> None:
        infos = tuple(process_info(pid) for pid in record.pids[:MAX_DETAILED_OWNERS])
        tcp = tcp_details(record)
        hostname = None
        if self.resolve and record.remote is not None and hasattr(record.remote, "address"):
            try:
                hostname = socket.gethostbyaddr(record.remote.address)[0]
            except (OSError, UnicodeError):
                hostname = None
        if not get_current_worker().is_cancelled:
            self.post_message(DetailsReady(record.key, infos, tcp, hostname))

    @on(DetailsReady)
    def _details_ready(self, message: DetailsReady) -> None:
        panel = self.main.detail
        record = panel.record
        if record is None or record.key != message.key or self.main.snapshot is None:
            return
        panel.show_details(record, message.processes, message.tcp, self.main.snapshot, message.hostname)

    def open_owners(self, record: SocketRecord) -> None:
        """Open the owners view; choosing a socket there jumps to it."""
        snapshot = self.main.snapshot
        if snapshot is None:
            return

        def jump(key: int | None) -> None:
            if key is not None:
                self.main.jump_to(key, remember=True)

        self.push_screen(OwnersScreen(record, snapshot, process_info), jump)
