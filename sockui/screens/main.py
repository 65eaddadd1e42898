"""The main screen: status, filter bar, the socket table and the detail pane, and their keys.

User input only changes view state (filters, sort, selection); rows are re-derived from the current
snapshot with pure model functions. Nothing here reads the kernel: process details and TCP internals
are fetched by a worker thread owned by the app.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.events import Resize
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Input

from sockui.model import describe
from sockui.model import format as fmt
from sockui.model.filters import Filter, parse
from sockui.model.socket import Proto, Snapshot, SocketRecord
from sockui.model.view import Counts, Derived, ViewState, sort_key
from sockui.widgets.columns import ALL_COLUMNS
from sockui.widgets.detail_panel import DetailPanel
from sockui.widgets.filter_bar import FilterBar
from sockui.widgets.socket_table import SocketTable
from sockui.widgets.status_bar import StatusBar

#: Below this width the detail pane goes under the table instead of beside it.
NARROW = 130


class MainScreen(Screen[None]):
    """Everything the user sees first."""

    BINDINGS: ClassVar[list[BindingType]] = [
        # Priority: handled as the key arrives, so keys typed right after "/" reach the input even in
        # one burst (a paste, tmux send-keys). check_action lets "/" through once the input has focus.
        Binding("slash", "filter", "Filter", priority=True),
        Binding("b", "binding", "Binding"),
        # Shown in the ? help; the footer keeps to what fits 80 columns.
        Binding("t", "proto('tcp')", "TCP", show=False),
        Binding("u", "proto('udp')", "UDP", show=False),
        Binding("x", "proto('unix')", "UNIX", show=False),
        Binding("enter", "detail", "Detail"),
        Binding("p", "pair", "Pair"),
        Binding("o", "owners", "Owners"),
        Binding("s", "sort", "Sort", show=False),
        Binding("r", "reverse", "Reverse", show=False),
        Binding("escape", "clear_filter", "Clear filter", show=False),
    ]

    def __init__(self, view: ViewState) -> None:
        super().__init__()
        self.view = view
        self.snapshot: Snapshot | None = None
        self.by_key: dict[int, SocketRecord] = {}
        self.services: describe.Services = {}
        self.paused = False
        self.error: str | None = None
        self._history: list[int] = []
        self._counts: Counts | None = None

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
        self.table.set_sort(
            self.view.sort_column, self.view.sort_reverse, sort_key(self.view.sort_column, {})
        )
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

    class ViewChanged(Message):
        """The user changed what the table shows; the app derives new rows in a worker."""

        def __init__(self, view: ViewState) -> None:
            super().__init__()
            self.view = view

    def apply_snapshot(self, snapshot: Snapshot, by_key: dict[int, SocketRecord], derived: Derived) -> None:
        """A new snapshot: diff its rows into the table, refresh the status and the detail pane."""
        self.snapshot = snapshot
        self.by_key = by_key
        self.error = None
        if derived.view is not self.view:
            # The view changed while the worker ran: its rows are stale; ask again.
            self.post_message(self.ViewChanged(self.view))
            return
        self._apply(derived, alive=by_key.__contains__)

    def apply_rows(self, derived: Derived) -> None:
        """Rows for a new view (no highlights: nothing changed on the machine)."""
        if derived.view is self.view and derived.snapshot is self.snapshot:
            self._apply(derived, alive=None)

    def _apply(self, derived: Derived, alive: Callable[[int], bool] | None) -> None:
        view = derived.view
        self.table.set_sort(
            view.sort_column, view.sort_reverse, sort_key(view.sort_column, derived.snapshot.users)
        )
        self.table.update_rows(derived.rows, derived.snapshot.users, alive)
        self._counts = derived.counts
        self._show_status()
        self._show_detail()

    def _show_status(self) -> None:
        counts = self._counts if self.snapshot is not None else None
        self.query_one(StatusBar).show(self.snapshot, counts, self.view, self.paused, self.error)

    def _show_detail(self) -> None:
        panel = self.detail
        if not panel.display or self.snapshot is None:
            return
        record = self.table.cursor_record
        panel.show(record, self.snapshot, self.by_key, self.services)
        if record is not None:
            self.app.call_later(self.app.load_details, record)  # type: ignore[attr-defined]

    def show_failure(self, error: str) -> None:
        """A refresh failed: say so, keep the last good snapshot."""
        self.error = error
        self._show_status()

    def set_paused(self, paused: bool) -> None:
        """Reflect the pause state."""
        self.paused = paused
        self.set_class(paused, "-paused")
        self._show_status()

    # -- events --------------------------------------------------------------------------------

    @on(SocketTable.CursorMoved)
    def _cursor_moved(self, event: SocketTable.CursorMoved) -> None:
        if self.detail.display and self.snapshot is not None:
            current = self.detail.record
            if event.record is None or current is None or current.key != event.record.key:
                self._show_detail()
            elif event.record is not current:
                self.detail.show(event.record, self.snapshot, self.by_key, self.services)

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
        self.post_message(self.ViewChanged(view))

    def _set_filter(self, flt: Filter) -> None:
        self._set_view(replace(self.view, filter=flt))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Let ``/`` be typed into the filter input instead of reopening it."""
        return not (action == "filter" and isinstance(self.focused, Input))

    def action_filter(self) -> None:
        """``/``: edit the filter expression."""
        self.query_one(FilterBar).open(self.view.filter.source)

    def action_clear_filter(self) -> None:
        """``escape``: drop the filter expression (binding and protocol toggles stay)."""
        if not self.view.filter.is_empty:
            self._set_filter(parse(""))

    def action_binding(self) -> None:
        """``b``: cycle the binding filter."""
        self._set_view(self.view.next_binding())

    def action_proto(self, name: str) -> None:
        """``t`` ``u`` ``x``: toggle a protocol."""
        self._set_view(self.view.toggle_proto(Proto(name)))

    def action_sort(self) -> None:
        """``s``: sort by the next column."""
        titles = [c.title for c in ALL_COLUMNS]
        index = titles.index(self.view.sort_column) if self.view.sort_column in titles else 0
        column = titles[(index + 1) % len(titles)]
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

    def jump_to(self, key: int, remember: bool) -> bool:
        """Move the cursor to socket ``key``, explaining why not when it is not shown."""
        origin = self.table.cursor_record
        if self.table.move_to_key(key):
            if remember and origin is not None and origin.key != key:
                self._history.append(origin.key)
            return True
        target = self.by_key.get(key)
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
        if record is None:
            return
        if record.peer_key is not None and record.peer_key in self.by_key:
            self.jump_to(record.peer_key, remember=True)
            return
        if self.snapshot is not None:
            clients = describe.pair(record, self.snapshot, self.by_key, self.services).clients
            if clients:
                self.jump_to(clients[0].key, remember=True)
                return
        while self._history:
            if self.jump_to(self._history.pop(), remember=False):
                return
        self.notify("No local pair: the other end is not on this host, or the socket is not connected.")

    def action_owners(self) -> None:
        """``o``: open the owners view of the selected socket."""
        record = self.table.cursor_record
        if record is None or self.snapshot is None:
            return
        if not record.owners:
            hidden = " (owners hidden: not enough privilege)" if self.snapshot.hidden_owners else ""
            self.notify(f"No process holds this socket{hidden}.", markup=False)
            return
        self.app.open_owners(record)  # type: ignore[attr-defined]
