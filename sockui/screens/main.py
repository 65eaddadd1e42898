"""The main screen: status, filter bar, the socket table and the detail pane, and their keys.

User input only changes view state (filters, sort, selection); rows are re-derived from the current
snapshot by this screen's worker, details fetched by another: the UI thread never scans the snapshot
and never reads the kernel. The screen owns what it shows: the app hands it snapshots and hears back
when it wants refreshes held (paused, or covered by a dialog).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.events import Resize, ScreenResume, ScreenSuspend
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Input
from textual.worker import get_current_worker

from sockui.model import describe
from sockui.model import format as fmt
from sockui.model.columns import TITLES
from sockui.model.filters import Filter, parse
from sockui.model.process import DetailSource, ProcessInfo
from sockui.model.services import ServiceTable
from sockui.model.socket import Proto, Snapshot, SocketRecord
from sockui.model.tcpinfo import TcpDetails
from sockui.model.view import Derived, ViewState, derive
from sockui.screens.help import HelpScreen, help_entries
from sockui.screens.owners import OwnersScreen
from sockui.widgets.detail_panel import DetailPanel
from sockui.widgets.filter_bar import FilterBar
from sockui.widgets.socket_table import SocketTable
from sockui.widgets.status_bar import StatusBar

#: Below this width the detail pane goes under the table instead of beside it.
NARROW = 130
#: Process details for at most this many owners of one socket (a forking server can have hundreds).
MAX_DETAILED_OWNERS = 8


class MainScreen(Screen[None]):
    """Everything the user sees first."""

    BINDINGS: ClassVar[list[BindingType]] = [
        # Priority: handled as the key arrives, so keys typed right after "/" reach the input even in
        # one burst (a paste, tmux send-keys). check_action lets "/" through once the input has focus.
        Binding(
            "slash", "filter", "Filter", priority=True, tooltip="filter expression (e.g. tcp and port 443)"
        ),
        Binding("escape", "clear_filter", "Clear filter", show=False, tooltip="clear the filter expression"),
        Binding(
            "b", "binding", "Binding", tooltip="binding filter: all, listening, connected, bound, unbound"
        ),
        # Shown in the ? help; the footer keeps to what fits 80 columns.
        Binding("t", "proto('tcp')", "TCP", show=False, tooltip="show/hide TCP"),
        Binding("u", "proto('udp')", "UDP", show=False, tooltip="show/hide UDP"),
        Binding("x", "proto('unix')", "UNIX", show=False, tooltip="show/hide UNIX"),
        Binding("s", "sort", "Sort", show=False, tooltip="sort by the next column (or click a title)"),
        Binding("r", "reverse", "Reverse", show=False, tooltip="reverse the sort order"),
        Binding("enter", "detail", "Detail", tooltip="detail pane: endpoints, pair, owners, TCP internals"),
        Binding("p", "pair", "Pair", tooltip="jump to the other end on this host; again to come back"),
        Binding("o", "owners", "Owners", tooltip="the processes holding the socket and their other sockets"),
        Binding("space", "toggle_pause", "Pause", tooltip="pause / resume live updates"),
        Binding("question_mark", "help", "Help", tooltip="this help"),
    ]

    @dataclass
    class LiveChanged(Message):
        """Whether this screen wants snapshots: not while paused or covered by another screen."""

        live: bool
        #: Refresh at once (the user just unpaused): what is on screen may be long out of date.
        now: bool = False

    @dataclass
    class RowsReady(Message):
        """Rows re-derived after a view change (filter, binding, sort), computed off the UI thread."""

        derived: Derived

        def can_replace(self, message: Message) -> bool:
            """Only the rows for the latest view matter."""
            return isinstance(message, MainScreen.RowsReady)

    @dataclass
    class DetailsReady(Message):
        """Process details, TCP internals and reverse DNS for the socket the detail pane shows."""

        key: int
        processes: tuple[ProcessInfo, ...]
        tcp: TcpDetails | None
        hostname: str | None = None

        def can_replace(self, message: Message) -> bool:
            """Details of an older selection are worthless once newer ones arrive."""
            return isinstance(message, MainScreen.DetailsReady)

    def __init__(self, view: ViewState, services: ServiceTable, details: DetailSource) -> None:
        super().__init__()
        self.view = view
        self.services = services
        self._details = details
        self.snapshot: Snapshot | None = None
        self.paused = False
        self.error: str | None = None
        self._history: list[int] = []
        self._suspended = False
        # Read by worker threads, so plain attributes written by the UI thread (never widget
        # queries, which are not thread-safe): the rows on screen, which the next snapshot's rows
        # are diffed against, and the socket under the cursor, kept on screen if it closes.
        self.derived: Derived | None = None
        self.cursor_key: int | None = None

    def compose(self) -> ComposeResult:
        """Status, filter bar, table (+ detail), footer."""
        yield StatusBar(id="status-bar")
        yield FilterBar(id="filter-bar")
        with Horizontal(id="body"):
            yield SocketTable(id="socket-table")
            yield DetailPanel(id="detail-panel")
        yield Footer()

    def on_mount(self) -> None:
        """Start hidden bits hidden and focus the table."""
        self.query_one(FilterBar).display = False
        self.query_one(DetailPanel).display = False
        self.table.focus()
        self._show_status()

    @property
    def table(self) -> SocketTable:
        """The main table widget."""
        return self.query_one(SocketTable)

    @property
    def detail(self) -> DetailPanel:
        """The detail pane widget."""
        return self.query_one(DetailPanel)

    # -- data in -------------------------------------------------------------------------------

    def apply_snapshot(self, snapshot: Snapshot, derived: Derived | None) -> None:
        """A new snapshot: show its rows (derived by the loop's thread), the status and the detail pane."""
        self.snapshot = snapshot
        self.error = None
        if derived is None or derived.view != self.view or derived.base is not self.derived:
            # The view or the rows on screen changed while the worker ran: derive again, here.
            self._derive(snapshot, self.view, self.derived if derived is not None else None)
            return
        self._apply(derived, highlight=True)

    @on(RowsReady)
    def _rows_ready(self, message: RowsReady) -> None:
        derived = message.derived
        if derived.view == self.view and derived.snapshot is self.snapshot:
            self._apply(derived, highlight=derived.base is not None)

    def _apply(self, derived: Derived, highlight: bool) -> None:
        self.derived = derived
        self.table.apply(derived, highlight)
        self._show_status()
        self._show_detail()

    def _show_status(self) -> None:
        derived = self.derived
        counts = derived.counts if derived is not None and derived.snapshot is self.snapshot else None
        self.query_one(StatusBar).show(self.snapshot, counts, self.view, self.paused, self.error)

    def show_failure(self, error: str) -> None:
        """A refresh failed: say so, keep the last good snapshot."""
        self.error = error
        self._show_status()

    @work(thread=True, exclusive=True, group="derive", exit_on_error=False)
    def _derive(self, snapshot: Snapshot, view: ViewState, base: Derived | None) -> None:
        worker = get_current_worker()
        derived = derive(snapshot, view, base, self.cursor_key, lambda: worker.is_cancelled)
        if derived is not None and not worker.is_cancelled:
            self.post_message(self.RowsReady(derived))

    # -- live or held --------------------------------------------------------------------------

    def _post_live(self, now: bool = False) -> None:
        self.post_message(self.LiveChanged(not self.paused and not self._suspended, now))

    def on_screen_suspend(self, event: ScreenSuspend) -> None:
        """Another screen covers this one: nobody sees the table, so hold the refreshes."""
        self._suspended = True
        self._post_live()

    def on_screen_resume(self, event: ScreenResume) -> None:
        """Back on top: refreshes resume (at once if one is due)."""
        if self._suspended:
            self._suspended = False
            self._post_live()

    def action_toggle_pause(self) -> None:
        """``space``: freeze or resume live updates."""
        self.paused = not self.paused
        self.set_class(self.paused, "-paused")
        self._show_status()
        self._post_live(now=not self.paused)

    # -- detail pane ---------------------------------------------------------------------------

    def _show_detail(self) -> None:
        panel = self.detail
        if not panel.display or self.snapshot is None:
            return
        record = self.table.cursor_record
        closed = record is not None and self.table.is_closed(record.key)
        panel.show(record, self.snapshot, closed)
        if record is not None:
            self._load_details(record)

    @work(thread=True, exclusive=True, group="details", exit_on_error=False)
    def _load_details(self, record: SocketRecord) -> None:
        worker = get_current_worker()
        source = self._details
        infos = tuple(source.process_info(pid) for pid in record.pids[:MAX_DETAILED_OWNERS])
        tcp = source.tcp_details(record)
        remote = record.remote
        hostname = (
            source.hostname(remote.address) if remote is not None and hasattr(remote, "address") else None
        )
        if not worker.is_cancelled:
            self.post_message(self.DetailsReady(record.key, infos, tcp, hostname))

    @on(DetailsReady)
    def _details_ready(self, message: DetailsReady) -> None:
        panel = self.detail
        record = panel.record
        if record is None or record.key != message.key or self.snapshot is None:
            return
        panel.show_details(record, message.processes, message.tcp, self.snapshot, message.hostname)

    # -- events --------------------------------------------------------------------------------

    @on(SocketTable.CursorMoved)
    def _cursor_moved(self, event: SocketTable.CursorMoved) -> None:
        self.cursor_key = event.record.key if event.record is not None else None
        if self.detail.display and self.snapshot is not None:
            current = self.detail.record
            if event.record is None or current is None or current.key != event.record.key:
                self._show_detail()
            elif event.record is not current:
                closed = self.table.is_closed(event.record.key)
                self.detail.show(event.record, self.snapshot, closed)

    @on(SocketTable.HeaderClicked)
    def _header_clicked(self, event: SocketTable.HeaderClicked) -> None:
        reverse = not self.view.sort_reverse if event.column == self.view.sort_column else False
        self._set_view(replace(self.view, sort_column=event.column, sort_reverse=reverse))

    @on(FilterBar.Applied)
    def _filter_applied(self, event: FilterBar.Applied) -> None:
        self._set_filter(event.filter)

    @on(FilterBar.Closed)
    def _filter_closed(self) -> None:
        self.set_focus(self.table)

    @on(DetailPanel.JumpRequested)
    def _jump_requested(self, event: DetailPanel.JumpRequested) -> None:
        self.jump_to(event.key, remember=True)
        self.table.focus()

    def on_resize(self, event: Resize) -> None:
        """Put the detail pane under the table on narrow terminals."""
        self.set_class(event.size.width < NARROW, "-narrow")

    # -- actions -------------------------------------------------------------------------------

    def _set_view(self, view: ViewState) -> None:
        self.view = view
        self._show_status()
        if self.snapshot is not None:
            self._derive(self.snapshot, view, None)

    def _set_filter(self, flt: Filter) -> None:
        self._set_view(replace(self.view, filter=flt))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Let ``/`` be typed into the filter input instead of reopening it."""
        return not (action == "filter" and isinstance(self.focused, Input))

    def action_filter(self) -> None:
        """``/``: edit the filter expression."""
        self.query_one(FilterBar).open(self.view.filter.source, self.services)

    def action_clear_filter(self) -> None:
        """``escape``: drop the filter expression (binding and protocol toggles stay)."""
        if not self.view.filter.is_empty:
            self._set_filter(parse("", self.services))

    def action_binding(self) -> None:
        """``b``: cycle the binding filter."""
        self._set_view(self.view.next_binding())

    def action_proto(self, name: str) -> None:
        """``t`` ``u`` ``x``: toggle a protocol."""
        self._set_view(self.view.toggle_proto(Proto(name)))

    def action_sort(self) -> None:
        """``s``: sort by the next column."""
        index = TITLES.index(self.view.sort_column) if self.view.sort_column in TITLES else 0
        column = TITLES[(index + 1) % len(TITLES)]
        self._set_view(replace(self.view, sort_column=column, sort_reverse=False))
        self.notify(f"sorted by {column}", timeout=1.5)

    def action_reverse(self) -> None:
        """``r``: reverse the sort order."""
        self._set_view(replace(self.view, sort_reverse=not self.view.sort_reverse))

    def action_detail(self) -> None:
        """``enter``: show or hide the detail pane."""
        panel = self.detail
        panel.display = not panel.display
        if panel.display:
            self._show_detail()

    def action_help(self) -> None:
        """``?``: every key that works here, from the bindings themselves."""
        self.app.push_screen(HelpScreen(help_entries(self)))

    def jump_to(self, key: int, remember: bool) -> bool:
        """Move the cursor to socket ``key``, explaining why not when it is not shown."""
        origin = self.table.cursor_record
        if self.table.move_to_key(key):
            if remember and origin is not None and origin.key != key:
                self._history.append(origin.key)
            return True
        target = self.snapshot.index.by_key.get(key) if self.snapshot is not None else None
        if target is None:
            self.notify("That socket has closed.", severity="warning")
        else:
            where = fmt.endpoint(target.local) or "the socket"
            owner = fmt.process_column(target) or "no owner"
            self.notify(
                f"{where} ({owner}) is hidden by the filter; Esc clears it.", severity="warning", markup=False
            )
        return False

    def action_pair(self) -> None:
        """``p``: jump to the other end (a listener: to its first client), or back where we came from."""
        record = self.table.cursor_record
        if record is None or self.snapshot is None:
            return
        pair = describe.pair(record, self.snapshot)
        if pair.local is not None:
            self.jump_to(pair.local.key, remember=True)
            return
        if pair.clients:
            self.jump_to(pair.clients[0].key, remember=True)
            return
        while self._history:
            if self.jump_to(self._history.pop(), remember=False):
                return
        self.notify("No local pair: the other end is not on this host, or the socket is not connected.")

    def action_owners(self) -> None:
        """``o``: open the owners view of the selected socket."""
        record = self.table.cursor_record
        snapshot = self.snapshot
        if record is None or snapshot is None:
            return
        if not record.owners:
            hidden = " (owners hidden: not enough privilege)" if snapshot.hidden_owners else ""
            self.notify(f"No process holds this socket{hidden}.", markup=False)
            return

        def jump(key: int | None) -> None:
            if key is not None:
                self.jump_to(key, remember=True)

        self.app.push_screen(OwnersScreen(record, snapshot, self._details.process_info), jump)
