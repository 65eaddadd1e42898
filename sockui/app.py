"""SockuiApp: wires the refresh loop to the screens.

The loop (:mod:`sockui.collect.loop`) owns the collector and the one thread that calls it; in that
thread it also builds the snapshot's index and derives the table's rows, then posts the result
here. The app hands it to the main screen and tells the loop when to hold (the screen is paused or
covered). Workers and the loop only post messages; they never touch widgets.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import ClassVar

from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import Footer

from sockui import crash
from sockui.act import clipboard
from sockui.act.actions import SystemActions
from sockui.collect.details import SystemDetails
from sockui.collect.follow import FollowPoller
from sockui.collect.history import HistoryKeeper
from sockui.collect.loop import RefreshLoop, SnapshotSource
from sockui.collect.snapshot import Collector
from sockui.commands import ActionCommands
from sockui.config import Config, save_config
from sockui.gcpolicy import GcPolicy
from sockui.messages import CollectFailed, FollowObserved, SnapshotReady
from sockui.model import format as fmt
from sockui.model.actions import Actions
from sockui.model.columns import DEFAULT_TITLES, RATE, TITLES
from sockui.model.filters import parse
from sockui.model.follow import FlowId, FollowStore
from sockui.model.history import DEFAULT_HISTORY, HistoryRing
from sockui.model.process import DetailSource
from sockui.model.services import NO_SERVICES, ServiceTable
from sockui.model.socket import Snapshot
from sockui.model.view import ViewState, derive
from sockui.screens.follow import FollowListScreen, FollowScreen, Unfollow
from sockui.screens.history import HistoryScreen
from sockui.screens.main import MainScreen

__all__ = ["SnapshotSource", "SockuiApp"]


def _keep_footers_from_hoarding_keys() -> None:
    """Work around a leak of Textual 8.2.8's Footer: it hoards the keys it drew on every screen switch.

    Each FooterKey ``data_bind``s ``compact`` to its Footer, a watcher the Footer drops only when
    ``compact`` changes, which it never does here; and a footer recomposes its keys whenever the
    bindings change, i.e. on every screen switch. So every switch (``f`` then escape, ``?`` then
    escape) left a dozen dead keys alive with their render caches: ~0.5 MB each time, for good
    (tests/app/test_churn_tui.py, which switches views during a minute of churn). Before a footer
    composes new keys, the watchers of keys already removed are dropped, as Textual itself does when
    ``compact`` changes.
    """
    compose = Footer.compose

    def compose_without_dead_watchers(self: Footer) -> ComposeResult:
        watchers = getattr(self, "__watchers", {}).get("compact")
        if watchers:  # (node, callback) pairs; no public API lists or removes them in Textual 8.2.8
            watchers[:] = [(node, callback) for node, callback in watchers if not node._closing]
        yield from compose(self)

    Footer.compose = compose_without_dead_watchers  # type: ignore[method-assign]


_keep_footers_from_hoarding_keys()


class SockuiApp(App[int]):
    """The live socket explorer."""

    CSS_PATH = "app.tcss"
    TITLE = "sockui"
    COMMANDS = App.COMMANDS | {ActionCommands}

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit", tooltip="quit"),
        # As in every terminal tool (Textual's default only says how to quit).
        Binding("ctrl+c", "quit", "Quit", show=False, priority=True, tooltip="quit"),
        Binding("ctrl+p", "command_palette", "Commands", show=False, tooltip="command palette: every action"),
    ]

    def __init__(
        self,
        filter_text: str = "",
        interval: float = 1.0,
        read_only: bool = False,
        resolve: bool = False,
        services: ServiceTable = NO_SERVICES,
        source: Callable[[], SnapshotSource] | None = None,
        details: DetailSource | None = None,
        actions: Actions | None = None,
        config: Config | None = None,
        config_file: Path | None = None,
        history: int = DEFAULT_HISTORY,
        report_crashes: bool = False,
    ) -> None:
        """Set the app up.

        Args:
            filter_text: the expression to start with (``--filter``), already known to parse.
            interval: seconds between refreshes.
            read_only: no kill/close actions.
            resolve: reverse DNS for remote addresses in the detail pane.
            services: port names (from /etc/services).
            source: builds the snapshot source (tests pass scripted ones).
            details: answers the detail views' questions (tests pass fakes).
            actions: kills and closes (tests pass fakes); ignored with ``read_only``.
            config: remembered columns and sort; None: defaults, and nothing is saved.
            config_file: where to save changes to ``config`` (None: the default place).
            history: closed connections kept for the history view.
            report_crashes: write an unexpected exception's traceback to a crash report file
                (:mod:`sockui.crash`) instead of printing it on exit (the CLI; tests keep Textual's
                way, so that nothing is left behind and Pilot re-raises as usual).
        """
        super().__init__()
        self.interval = interval
        self.read_only = read_only
        self.config = config
        self._config_file = config_file
        view = ViewState(filter=parse(filter_text, services))
        columns = DEFAULT_TITLES
        if config is not None:
            if config.sort_column in TITLES:
                view = replace(view, sort_column=config.sort_column, sort_reverse=config.sort_reverse)
            columns = config.columns or DEFAULT_TITLES
        #: Read by the collector's thread before each refresh: tcp_info (rates) only while shown.
        self.rates_wanted = RATE in columns or view.sort_column == RATE
        acting: Actions | None = None if read_only else (actions or SystemActions())
        self.main = MainScreen(view, services, details or SystemDetails(resolve), columns, acting)
        self.loop: RefreshLoop[SnapshotReady] = RefreshLoop(
            source
            or (
                lambda: Collector(
                    services=services, quick_start=True, tcp_info_wanted=lambda: self.rates_wanted
                )
            ),
            interval=interval,
            prepare=self._prepare,
            deliver=self._post,
            fail=lambda error: self._post(CollectFailed(error)),
        )
        self.snapshots_applied = 0
        self._warned: set[str] = set()
        self.gc_policy = GcPolicy()
        #: Followed sockets: their timelines (UI thread) and the poller that looks at them.
        self.follows = FollowStore()
        self.poller = FollowPoller(lambda observations: self._post(FollowObserved(observations)))
        #: Closed connections: destroy messages (real collector only) and snapshot differences.
        self.history = HistoryRing(history)
        self.keeper = HistoryKeeper(self.history, listen=source is None)
        self.report_crashes = report_crashes
        #: The first unexpected exception (the app exits on it), and the report holding its traceback.
        self.crash: BaseException | None = None
        self.crash_report: Path | None = None

    def _handle_exception(self, error: Exception) -> None:
        """An unexpected exception (a key handler, a timer, a failing worker): the app exits.

        Textual 8.2.8 has no public hook for this. Its own handling stays (return code 1, Pilot
        re-raises, the app closes and restores the terminal); only the long traceback it would print
        on exit is replaced by the report file, which ``cli.main`` names in one line. If the report
        cannot be written, Textual's traceback is kept so that nothing is lost.
        """
        if self.report_crashes:
            if self.crash is None:
                self.crash_report = crash.write_report(error)
            elif self.crash_report is not None:
                crash.append_report(self.crash_report, error)
        if self.crash is None:
            self.crash = error
        kept = len(self._exit_renderables)
        super()._handle_exception(error)
        if self.crash_report is not None:
            del self._exit_renderables[kept:]

    @property
    def paused(self) -> bool:
        """True while the user has paused live updates (the main screen holds the state)."""
        return self.main.paused

    def on_mount(self) -> None:
        """Show the main screen and start reading."""
        self.gc_policy.install()
        self.set_interval(15.0, self.gc_policy.maybe_collect)
        self.push_screen(self.main)
        self.loop.start()

    def on_key(self) -> None:
        """Every key press (for the garbage collector's idea of "idle")."""
        self.gc_policy.user_input()

    def on_unmount(self) -> None:
        """Stop the threads: a refresh in flight is cancelled, the collector closed by its thread."""
        self.loop.stop()
        self.poller.stop()
        self.keeper.stop()

    async def action_quit(self) -> None:
        """``q``: quit at once, even in the middle of a multi-second refresh."""
        self.loop.stop(timeout=0)
        self.poller.stop(timeout=0)
        self.keeper.stop()
        await super().action_quit()

    # -- the refresh loop ----------------------------------------------------------------------

    def _post(self, message: Message) -> None:
        """From the loop's thread (post_message is thread-safe)."""
        self.post_message(message)

    def _prepare(self, snapshot: Snapshot) -> SnapshotReady:
        """In the loop's thread: everything proportional to the snapshot's size."""
        _ = snapshot.index  # built here, never on the UI thread
        self.keeper.on_snapshot(snapshot)  # opened/state/closed, into the history ring
        main = self.main
        # Plain attribute reads of immutable values: what the screen showed when this started. If
        # it changes meanwhile, the screen notices (the derived rows name their view and base).
        derived = derive(snapshot, main.view, main.derived, main.cursor_key)
        return SnapshotReady(snapshot, derived)

    @on(SnapshotReady)
    def _snapshot_ready(self, message: SnapshotReady) -> None:
        if self.main.paused:
            return  # a refresh that was running when the user paused: keep the picture still
        if not self.main.is_attached:
            return  # the app is quitting: the screen is closed, its widgets gone
        self.main.apply_snapshot(message.snapshot, message.derived)
        self.snapshots_applied += 1
        if message.snapshot.owners_pending:
            self.loop.refresh_now()  # the owners come with the next one: no need to wait a period
        self.follows.observe_snapshot(message.snapshot)
        self.gc_policy.snapshot_shown()
        for note in message.snapshot.warnings:
            if note not in self._warned:  # degraded data is said once, not every second
                self._warned.add(note)
                self.notify(fmt.safe(note), severity="warning", timeout=8, markup=False)

    @on(CollectFailed)
    def _collect_failed(self, message: CollectFailed) -> None:
        if self.main.is_attached:  # else the app is quitting: the screen is closed
            self.main.show_failure(message.error)

    @on(MainScreen.LiveChanged)
    def _live_changed(self, message: MainScreen.LiveChanged) -> None:
        self.loop.hold(not message.live)
        if message.live and message.now:
            self.loop.refresh_now()

    # -- followed sockets ----------------------------------------------------------------------

    @on(MainScreen.FollowRequested)
    def _follow_requested(self, message: MainScreen.FollowRequested) -> None:
        flow = FlowId.of(message.record)
        timeline = self.follows.add(flow)
        snapshot = self.main.snapshot
        # A live row (not a closed row or a history entry): the timeline starts with its state now.
        if snapshot is not None and (current := snapshot.index.by_key.get(message.record.key)) is not None:
            timeline.seed(current, snapshot.taken_at)
            timeline.observe_snapshot(snapshot)  # its owners (and a listener's clients) as of then
        self.poller.follow(flow)
        self.push_screen(FollowScreen(self.follows, flow))

    @on(HistoryScreen.FollowTuple)
    def _follow_tuple(self, message: HistoryScreen.FollowTuple) -> None:
        self._follow_requested(MainScreen.FollowRequested(message.record))

    @on(MainScreen.HistoryRequested)
    def _history_requested(self) -> None:
        snapshot = self.main.snapshot
        users = dict(snapshot.users) if snapshot is not None else {}
        self.push_screen(HistoryScreen(self.history, self.main.services, users, self.keeper.overflows))

    @on(MainScreen.FollowListRequested)
    def _follow_list_requested(self) -> None:
        def chosen(flow: FlowId | None) -> None:
            if flow is not None:
                self.push_screen(FollowScreen(self.follows, flow))

        self.push_screen(FollowListScreen(self.follows), chosen)

    @on(FollowObserved)
    def _follow_observed(self, message: FollowObserved) -> None:
        self.follows.observe(message.observations)
        for screen in self.screen_stack:
            # Only a view with widgets: one pushed but not composed yet (its on_mount draws the
            # store), or closing while the app quits (still in the stack), has none.
            if isinstance(screen, FollowScreen) and screen.is_mounted and screen.is_attached:
                screen.refresh_view()

    @on(Unfollow)
    def _unfollow(self, message: Unfollow) -> None:
        self.follows.remove(message.flow)
        self.poller.unfollow(message.flow)

    # -- copy --------------------------------------------------------------------------------------

    @on(MainScreen.CopyRequested)
    def _copy_requested(self, message: MainScreen.CopyRequested) -> None:
        self._copy(message.text)

    @work(thread=True, group="copy", exit_on_error=False)
    def _copy(self, text: str) -> None:
        """Every clipboard route, each with a timeout: a stuck helper cannot hang anything."""
        deliveries = clipboard.copy(text, env=os.environ, write_terminal=self._write_terminal)
        message = clipboard.describe(deliveries, text)
        ok = any(d.ok for d in deliveries)
        self.call_from_thread(self.notify, message, severity="information" if ok else "error", markup=False)

    def _write_terminal(self, sequence: str) -> None:
        """From the copy worker: write an escape sequence (OSC 52) to the terminal, on the UI thread."""

        def write() -> None:
            # No public raw-write API in Textual 8.2.8 (copy_to_clipboard builds its own OSC 52 and
            # cannot send tmux's passthrough form): the driver writes what the terminal gets.
            driver = self._driver
            if driver is None:
                raise OSError("no terminal (headless)")
            driver.write(sequence)
            driver.flush()

        self.call_from_thread(write)

    @on(MainScreen.PreferencesChanged)
    def _preferences_changed(self, message: MainScreen.PreferencesChanged) -> None:
        wanted = RATE in message.columns or message.sort_column == RATE
        if wanted and not self.rates_wanted:
            self.loop.refresh_now()  # a rate needs two samples: start now
        self.rates_wanted = wanted
        if self.config is None:
            return  # --no-config: neither read nor written
        self.config = Config(message.columns, message.sort_column, message.sort_reverse)
        self._save_config(self.config)

    @work(thread=True, exclusive=True, group="config", exit_on_error=False)
    def _save_config(self, config: Config) -> None:
        error = save_config(config, self._config_file)
        if error is not None:
            self.call_from_thread(self.notify, error, severity="warning", markup=False)

    def refresh_now(self) -> None:
        """Collect at once (or right after the refresh in flight)."""
        self.loop.refresh_now()
