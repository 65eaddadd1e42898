"""The main screen: status, filter and find lines, the socket table and the detail pane, and their keys.

User input only changes view state (filters, sort, selection); rows are re-derived from the current
snapshot by this screen's worker, details fetched by the detail pane's: the UI thread never scans the
snapshot and never reads the kernel. The app hands the screen snapshots and hears back when it wants
refreshes held (paused, or covered by a dialog). Escape means "back": it closes the innermost thing
open (an edit, the detail pane) and never throws a filter away; ``a`` shows everything again.
"""

from __future__ import annotations

import dataclasses
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
from textual.worker import Worker, WorkerState, get_current_worker

from sockui import crash
from sockui.model import coverage, describe
from sockui.model import format as fmt
from sockui.model.actions import Actions
from sockui.model.columns import DEFAULT_TITLES, RATE, TITLES
from sockui.model.copytext import quick_text
from sockui.model.filters import Filter, FilterError, parse
from sockui.model.process import DetailSource
from sockui.model.services import ServiceTable
from sockui.model.socket import Binding as SocketBinding
from sockui.model.socket import Proto, Snapshot, SocketRecord
from sockui.model.view import Derived, ViewState, derive
from sockui.screens.columns import ColumnsScreen
from sockui.screens.copy_menu import CopyChoice, CopyMenuScreen
from sockui.screens.dialogs import CloseScreen, KillScreen
from sockui.screens.help import HelpScreen, help_entries
from sockui.screens.namespaces import NamespacesScreen, netns_filter
from sockui.screens.narrow import NarrowScreen, narrowed
from sockui.screens.owners import OwnersScreen
from sockui.screens.processes import ProcessesScreen
from sockui.widgets.detail_panel import DetailPanel
from sockui.widgets.filter_bar import FilterBar
from sockui.widgets.find_bar import FindBar
from sockui.widgets.socket_table import SocketTable
from sockui.widgets.status_bar import StatusBar, StatusState

#: Below this width the detail pane goes under the table instead of beside it.
NARROW = 130
#: Jumps remembered for ``backspace``.
MAX_HISTORY = 100


#: Actions bound to keys that are also text (see the priority note under MainScreen.BINDINGS), with
#: and without their parameters (check_action gets the bare name).
_TYPED_ACTIONS = frozenset(
    {
        "filter",
        "binding",
        "proto('tcp')",
        "proto('udp')",
        "proto('unix')",
        "proto('raw')",
        "narrow",
        "show_all",
        "sort",
        "reverse",
        "pair",
        "back",
        "owners",
        "processes",
        "namespaces",
        "history",
        "follow",
        "followed",
        "columns",
        "copy",
        "copy_tuple",
        "kill",
        "close_socket",
        "toggle_pause",
        "help",
    }
)
_BARE_ACTIONS = frozenset(a.split("(", 1)[0] for a in _TYPED_ACTIONS)


class MainScreen(Screen[None]):
    """Everything the user sees first."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "filter", "Filter", tooltip="filter, as you type: tcp and port 443"),
        Binding("ctrl+f", "find", "Find", show=False, tooltip="find: move to rows matching, hide nothing"),
        Binding("f3", "find_next(1)", "Next match", show=False, tooltip="next match of the find"),
        Binding("shift+f3", "find_next(-1)", "Previous match", show=False, tooltip="previous match"),
        Binding("b", "binding", "Binding", tooltip="binding filter: all/listening/connected/bound/unbound"),
        Binding("t", "proto('tcp')", "TCP", show=False, tooltip="show/hide TCP"),
        Binding("u", "proto('udp')", "UDP", show=False, tooltip="show/hide UDP"),
        Binding("x", "proto('unix')", "UNIX", show=False, tooltip="show/hide UNIX"),
        Binding("R", "proto('raw')", "Raw", show=False, tooltip="show/hide raw"),
        Binding("equals_sign", "narrow", "Narrow", show=False, tooltip="narrow to this row's process, port…"),
        Binding("a", "show_all", "All", show=False, tooltip="show all: reset every filter"),
        Binding("s", "sort", "Sort", show=False, tooltip="sort by the next column (or click a title)"),
        Binding("r", "reverse", "Reverse", show=False, tooltip="reverse the sort order"),
        Binding("enter", "detail", "Detail", tooltip="detail pane: endpoints, pair, owners, TCP internals"),
        Binding("p", "pair", "Pair", tooltip="jump to the other end on this host (a listener: a client)"),
        Binding(
            "backspace,ctrl+o", "back", "Back", show=False, tooltip="back to where the last jump came from"
        ),
        Binding("o", "owners", "Owners", tooltip="the processes holding the socket and their other sockets"),
        Binding(
            "g",
            "processes",
            "Procs",
            show=False,
            tooltip="group by process: socket counts per process, expandable",
        ),
        Binding(
            "h", "history", "History", tooltip="closed connections, newest first: counts, filter, detail"
        ),
        Binding("n", "namespaces", "Netns", show=False, tooltip="network namespaces: labels, counts; filter"),
        Binding(
            "f", "follow", "Follow", tooltip="follow this socket live: states, TCP internals, throughput"
        ),
        Binding("F", "followed", "Followed", show=False, tooltip="the followed sockets"),
        Binding("C", "columns", "Columns", show=False, tooltip="choose the columns (remembered)"),
        Binding("c", "copy", "Copy", tooltip="copy: addresses, 4-tuple, ss/tcpdump commands, JSON…"),
        Binding("y", "copy_tuple", "Yank", show=False, tooltip="copy the 4-tuple (a listener: its address)"),
        Binding("k", "kill", "Kill", tooltip="kill the owning process (asks first; choose the signal)"),
        Binding("d", "close_socket", "Close", tooltip="close the socket as ss -K does (asks first)"),
        Binding("escape", "escape", "Close", show=False, tooltip="close the innermost edit or pane"),
        Binding("space", "toggle_pause", "Pause", tooltip="pause / resume live updates"),
        Binding("question_mark", "help", "Help", tooltip="this help"),
    ]
    # Every key a user could type into the filter or find line is a priority binding: handled in the
    # order keys arrive. With "/" alone as one (so that what is typed right after it, in one burst,
    # reaches the input), a key typed just before "/" was still on its way from the table when "/"
    # moved the focus, and the input swallowed it. check_action hands these keys to an input that
    # has the focus.
    BINDINGS = [
        dataclasses.replace(b, priority=True) if isinstance(b, Binding) and b.action in _TYPED_ACTIONS else b
        for b in BINDINGS
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
    class FollowRequested(Message):
        """``f``: follow this socket (the app owns the followed sockets and their poller)."""

        record: SocketRecord

    @dataclass
    class CopyRequested(Message):
        """Deliver ``text`` to the clipboards (the app does it off the UI thread)."""

        text: str
        label: str

    @dataclass
    class FollowListRequested(Message):
        """``F``: show the followed sockets."""

    @dataclass
    class HistoryRequested(Message):
        """``h``: show the closed connections (the app keeps them)."""

    @dataclass
    class PreferencesChanged(Message):
        """Columns or sort changed: worth remembering for the next run."""

        columns: tuple[str, ...]
        sort_column: str
        sort_reverse: bool

    @dataclass
    class FindDone(Message):
        """The find worker's answer: the key of the match, None when nothing matches."""

        key: int | None
        wrapped: bool

    def __init__(
        self,
        view: ViewState,
        services: ServiceTable,
        details: DetailSource,
        columns: tuple[str, ...] = DEFAULT_TITLES,
        actions: Actions | None = None,
    ) -> None:
        """``actions``: what kill and close use; None (``--read-only``) removes both keys."""
        super().__init__()
        self.view = view
        self.columns = columns
        self._actions = actions
        self.services = services
        self._details = details
        self.snapshot: Snapshot | None = None
        self.paused = False
        self.error: str | None = None
        self._busy: str | None = None
        self._history: list[int] = []
        self._suspended = False
        self._find: Filter | None = None
        # Read by worker threads, so plain attributes written by the UI thread (never widget
        # queries, which are not thread-safe): the rows on screen, which the next snapshot's rows
        # are diffed against, and the socket under the cursor, kept on screen if it closes.
        self.derived: Derived | None = None
        self.cursor_key: int | None = None

    def compose(self) -> ComposeResult:
        """Status, filter and find lines, table (+ detail), footer."""
        yield StatusBar(id="status-bar")
        yield FilterBar(id="filter-bar")
        yield FindBar(id="find-bar")
        with Horizontal(id="body"):
            yield SocketTable(id="socket-table")
            yield DetailPanel(self._details, id="detail-panel")
        yield Footer()

    def on_mount(self) -> None:
        """Start hidden bits hidden and focus the table."""
        self.query_one(FilterBar).display = False
        self.query_one(FindBar).display = False
        self.detail.display = False
        self.table.set_columns(self._shown_columns())
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

    @property
    def status(self) -> StatusBar:
        """The status lines."""
        return self.query_one(StatusBar)

    # -- data in -------------------------------------------------------------------------------

    def apply_snapshot(self, snapshot: Snapshot, derived: Derived | None) -> None:
        """A new snapshot: show its rows (derived by the loop's thread), the status and the detail pane."""
        self.snapshot = snapshot
        self.error = None
        shown = self.derived
        if derived is None or derived.view != self.view or derived.base_serial != (shown and shown.serial):
            # The view or the rows on screen changed while the worker ran: derive again.
            self._derive(snapshot, self.view, self.derived if derived is not None else None)
            return
        self._apply(derived, highlight=True)

    @on(RowsReady)
    def _rows_ready(self, message: RowsReady) -> None:
        derived = message.derived
        if derived.view == self.view and derived.snapshot is self.snapshot:
            self._busy = None
            self._apply(derived, highlight=derived.base_serial is not None)

    def _apply(self, derived: Derived, highlight: bool) -> None:
        self.derived = derived
        self.table.show_namespaces(derived.snapshot.index.spans_namespaces)
        self.table.apply(derived, highlight)
        self._show_status()
        self._show_detail()

    def _show_status(self) -> None:
        derived = self.derived
        counts = derived.counts if derived is not None and derived.snapshot is self.snapshot else None
        self.status.show(StatusState(self.snapshot, counts, self.view, self.paused, self.error, self._busy))

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

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """A derive that raised (a bug): say so instead of leaving "filtering…" up for ever.

        The rows on screen stay as they were; the next snapshot tries again.
        """
        worker = event.worker
        if worker.group != "derive" or event.state is not WorkerState.ERROR or worker.error is None:
            return
        self._busy = None
        self._show_status()
        self._report_derive_failure(worker.error)

    @work(thread=True, group="derive-report", exit_on_error=False)
    def _report_derive_failure(self, error: BaseException) -> None:
        """Write the traceback to a report (file I/O: off the UI thread), then notify."""
        path = crash.write_report(error) if getattr(self.app, "report_crashes", False) else None
        detail = fmt.clip(fmt.safe(" ".join(str(error).split())), 120)
        where = f"; the traceback is in {fmt.safe(str(path))}" if path is not None else ""
        message = f"Could not filter or sort the rows ({type(error).__name__}: {detail}){where}"
        self.app.call_from_thread(self.notify, message, severity="error", timeout=30, markup=False)

    # -- live or held --------------------------------------------------------------------------

    def _post_live(self, now: bool = False) -> None:
        self.post_message(self.LiveChanged(not self.paused and not self._suspended, now))

    def on_screen_suspend(self, event: ScreenSuspend) -> None:
        """Another screen covers this one: hold the refreshes, unless that screen lives on them."""
        self._suspended = not getattr(self.app.screen, "LIVE", False)
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
        if not self.detail.display or self.snapshot is None:
            return
        record = self.table.cursor_record
        self.detail.show(record, self.snapshot, record is not None and self.table.is_closed(record.key))

    @on(SocketTable.CursorMoved)
    def _cursor_moved(self, event: SocketTable.CursorMoved) -> None:
        self.cursor_key = event.record.key if event.record is not None else None
        if self.detail.display and self.snapshot is not None:
            current = self.detail.record
            if event.record is None or current is None or event.record is not current:
                self._show_detail()

    @on(DetailPanel.JumpRequested)
    def _jump_requested(self, event: DetailPanel.JumpRequested) -> None:
        self.jump_to(event.key, remember=True)
        self.table.focus()

    def on_resize(self, event: Resize) -> None:
        """Put the detail pane under the table on narrow terminals."""
        self.set_class(event.size.width < NARROW, "-narrow")

    # -- view changes --------------------------------------------------------------------------

    def _set_view(self, view: ViewState, busy: str = "filtering…") -> None:
        if view == self.view:
            return
        if (view.sort_column, view.sort_reverse) != (self.view.sort_column, self.view.sort_reverse):
            self.post_message(self.PreferencesChanged(self.columns, view.sort_column, view.sort_reverse))
        sort_changed = view.sort_column != self.view.sort_column
        self.view = view
        if sort_changed:
            self.table.set_columns(self._shown_columns())
        if self.snapshot is not None:
            self._busy = busy
            self._derive(self.snapshot, view, None)
        self._show_status()

    def _set_filter(self, flt: Filter) -> None:
        self._set_view(replace(self.view, filter=flt))

    def _filter_by(self, expression: str) -> None:
        """Filter by an expression a menu built; one that does not parse is said, never raised."""
        try:
            flt = parse(expression, self.services)
        except FilterError as exc:
            self.notify(f"Cannot filter on that: {exc}", severity="warning", markup=False)
            return
        self._set_filter(flt)

    @on(SocketTable.HeaderClicked)
    def _header_clicked(self, event: SocketTable.HeaderClicked) -> None:
        reverse = not self.view.sort_reverse if event.column == self.view.sort_column else False
        self._set_view(replace(self.view, sort_column=event.column, sort_reverse=reverse), "sorting…")

    @on(FilterBar.Changed)
    def _filter_changed(self, event: FilterBar.Changed) -> None:
        self._set_filter(event.filter)

    @on(FilterBar.Applied)
    def _filter_applied(self, event: FilterBar.Applied) -> None:
        self._set_filter(event.filter)
        self.table.focus()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Keys are text while an input has focus; read-only has no kill or close."""
        if action in ("kill", "close_socket") and self._actions is None:
            return False  # gone from the keys, the footer, the help and the command palette
        if isinstance(self.focused, Input) and action in _BARE_ACTIONS:
            return None  # disabled, not hidden: the key goes on to the input
        return True

    def action_filter(self) -> None:
        """``/``: edit the filter expression, applied as you type."""
        self.query_one(FindBar).display = False
        self.query_one(FilterBar).open(self.view.filter, self.services)

    def action_show_all(self) -> None:
        """``a``: reset every filter (expression, binding, protocols); the sort stays."""
        self._set_view(
            replace(
                ViewState(filter=parse("", self.services)),
                sort_column=self.view.sort_column,
                sort_reverse=self.view.sort_reverse,
            )
        )

    def action_binding(self) -> None:
        """``b``: cycle the binding filter."""
        self._set_view(self.view.next_binding())

    def action_proto(self, name: str) -> None:
        """``t`` ``u`` ``x`` ``R``: toggle a protocol."""
        self._set_view(self.view.toggle_proto(Proto(name)))

    def _shown_columns(self) -> tuple[str, ...]:
        """The chosen columns, plus Rate while sorted by it (a sort one cannot see is a puzzle)."""
        if self.view.sort_column == RATE and RATE not in self.columns:
            return (*self.columns, RATE)
        return self.columns

    def action_sort(self) -> None:
        """``s``: sort by the next column on screen, then by Rate (busiest first), then around again."""
        order = [t for t in TITLES if t in self.table.drawn_columns or t == RATE]
        index = order.index(self.view.sort_column) if self.view.sort_column in order else -1
        column = order[(index + 1) % len(order)]
        self._set_view(replace(self.view, sort_column=column, sort_reverse=False), "sorting…")

    def action_reverse(self) -> None:
        """``r``: reverse the sort order."""
        self._set_view(replace(self.view, sort_reverse=not self.view.sort_reverse), "sorting…")

    def action_narrow(self) -> None:
        """``=``: narrow to the selected row's process, port, remote address or path."""
        record = self.table.cursor_record
        if record is None:
            return

        def chosen(clause: str | None) -> None:
            if clause is not None:
                self._filter_by(narrowed(self.view.filter.source, clause))

        self.app.push_screen(NarrowScreen(record), chosen)

    def action_columns(self) -> None:
        """``C``: choose the columns; the choice is remembered."""

        def chosen(columns: tuple[str, ...] | None) -> None:
            if columns is not None and columns != self.columns:
                self.columns = columns
                self.table.set_columns(self._shown_columns())
                self.post_message(
                    self.PreferencesChanged(columns, self.view.sort_column, self.view.sort_reverse)
                )

        self.app.push_screen(ColumnsScreen(TITLES, self.columns), chosen)

    def action_copy(self) -> None:
        """``c``: the copy menu of the selected socket."""
        record = self.table.cursor_record
        if record is None:
            return

        def chosen(choice: CopyChoice | None) -> None:
            if choice is not None:
                self.post_message(self.CopyRequested(choice.text, choice.label))

        self.app.push_screen(CopyMenuScreen(record, self._details), chosen)

    def action_copy_tuple(self) -> None:
        """``y``: copy the 4-tuple (a listener: its local address) without a menu."""
        record = self.table.cursor_record
        text = quick_text(record) if record is not None else None
        if text is None:
            self.notify("Nothing to copy here: no address.", timeout=2)
        else:
            self.post_message(self.CopyRequested(text, "4-tuple"))

    def action_kill(self) -> None:
        """``k``: kill a process holding the selected socket, after confirmation."""
        record = self.table.cursor_record
        if record is None or self._actions is None:
            return
        if not record.owners:
            self.notify("No visible process holds this socket: nothing to kill.", timeout=3)
            return
        self.app.push_screen(KillScreen(record, self._actions))

    def action_close_socket(self) -> None:
        """``d``: close the selected socket (SOCK_DESTROY), after confirmation."""
        record = self.table.cursor_record
        actions = self._actions
        if record is None or actions is None:
            return

        def then(answer: str | None) -> None:
            if answer == "kill" and actions is not None:
                self.app.push_screen(KillScreen(record, actions))

        self.app.push_screen(CloseScreen(record, actions), then)

    def action_follow(self) -> None:
        """``f``: follow the selected socket over time."""
        record = self.table.cursor_record
        if record is not None:
            self.post_message(self.FollowRequested(record))

    def action_followed(self) -> None:
        """``F``: the followed sockets."""
        self.post_message(self.FollowListRequested())

    def action_history(self) -> None:
        """``h``: the closed connections."""
        self.post_message(self.HistoryRequested())

    def action_processes(self) -> None:
        """``g``: group by process; choosing a socket there jumps to it."""
        if self.snapshot is None:
            return

        def jump(key: int | None) -> None:
            if key is not None:
                self.jump_to(key, remember=True)

        self.app.push_screen(ProcessesScreen(self.snapshot), jump)

    def action_namespaces(self) -> None:
        """``n``: the network namespaces; choosing one filters the table to it."""
        if self.snapshot is None:
            return

        def chosen(clause: str | None) -> None:
            if clause is not None:
                self._filter_by(netns_filter(self.view.filter, clause))

        self.app.push_screen(NamespacesScreen(self.snapshot), chosen)

    # -- find ----------------------------------------------------------------------------------

    def action_find(self) -> None:
        """``ctrl+f``: find rows matching an expression, without hiding any."""
        self.query_one(FilterBar).display = False
        self.query_one(FindBar).open(self._find, self.services)

    @on(FindBar.Submitted)
    def _find_submitted(self, event: FindBar.Submitted) -> None:
        self._find = event.filter
        self.table.focus()
        self.action_find_next(1)

    @on(FindBar.Closed)
    def _find_closed(self) -> None:
        self.table.focus()

    def action_find_next(self, direction: int) -> None:
        """``F3`` / ``shift+F3``: the next / previous row matching the find expression."""
        derived = self.table.derived
        if self._find is None or derived is None:
            self.notify("Nothing to find yet: ctrl+f first.", timeout=3)
            return
        self._search(derived, self._find, self.table.cursor_index, direction)

    @work(thread=True, exclusive=True, group="find", exit_on_error=False)
    def _search(self, derived: Derived, flt: Filter, start: int, direction: int) -> None:
        rows, users = derived.rows, derived.snapshot.users
        count = len(rows)
        worker = get_current_worker()
        for step in range(1, count + 1):
            if not step & 0x1FFF and worker.is_cancelled:
                return
            index = (start + direction * step) % count
            if flt.matches(rows[index], users):
                wrapped = (index <= start) if direction > 0 else (index >= start)
                self.post_message(self.FindDone(rows[index].key, wrapped))
                return
        self.post_message(self.FindDone(None, False))

    @on(FindDone)
    def _find_done(self, message: FindDone) -> None:
        source = self._find.source if self._find is not None else ""
        if message.key is None or not self.table.move_to_key(message.key):
            self.notify(f"No row matches {fmt.safe(source)!r}.", severity="warning", timeout=3, markup=False)
        elif message.wrapped:
            self.notify("Search wrapped around.", timeout=2)

    # -- navigation ----------------------------------------------------------------------------

    def action_escape(self) -> None:
        """``escape``: close the detail pane; with nothing open, say how to clear filters."""
        if self.detail.display:
            self.detail.display = False
            self.table.focus()
        elif self.view.active:
            self.notify("Esc never drops a filter: a shows everything, / edits the filter.", timeout=3)

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
                self._history = [*self._history[-MAX_HISTORY + 1 :], origin.key]
            return True
        target = self.snapshot.index.by_key.get(key) if self.snapshot is not None else None
        if target is None:
            self.notify("That socket has closed.", severity="warning")
        else:
            where = fmt.endpoint(target.local) or "the socket"
            owner = fmt.process_column(target) or "no owner"
            self.notify(
                f"{where} ({owner}) is hidden by the filter; a shows everything.",
                severity="warning",
                markup=False,
            )
        return False

    def action_pair(self) -> None:
        """``p``: jump to the other end (a listener: to its first client); say so when there is none."""
        record = self.table.cursor_record
        if record is None or self.snapshot is None:
            return
        pair = describe.pair(record, self.snapshot)
        target = pair.local or (pair.clients[0] if pair.clients else None)
        if target is not None:
            self.jump_to(target.key, remember=True)
        elif record.binding is SocketBinding.LISTENING:
            self.notify("No client is connected to this listener.", timeout=3)
        else:
            self.notify("No local pair: the other end is not on this host, or the socket is not connected.")

    def action_back(self) -> None:
        """``backspace``: back to where the last jump (pair, owners, client list) came from."""
        while self._history:
            if self.table.move_to_key(self._history.pop()):
                return
        self.notify("No jump to go back from.", timeout=2)

    def action_owners(self) -> None:
        """``o``: open the owners view of the selected socket."""
        record = self.table.cursor_record
        snapshot = self.snapshot
        if record is None or snapshot is None:
            return
        if not record.owners:
            reason = describe.no_owner_reason(record)
            if reason is not None:
                self.notify(f"No process holds this socket: {reason}.", markup=False)
                return
            hidden = (
                f" (owners hidden: {coverage.hidden_owners_reason(snapshot)})"
                if snapshot.hidden_owners
                else ""
            )
            self.notify(f"No process holds this socket{hidden}.", markup=False)
            return

        def jump(key: int | None) -> None:
            if key is not None:
                self.jump_to(key, remember=True)

        self.app.push_screen(OwnersScreen(record, snapshot, self._details.process_info), jump)
