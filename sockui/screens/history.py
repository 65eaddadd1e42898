"""The history view (``h``): closed connections, newest first, filterable, with counts at the top.

Entries come from the app's :class:`~sockui.model.history.HistoryRing` (destroy messages and snapshot
differences, see ``collect/history.py``). The ring holds up to 100k entries: filtering, counting and
choosing the rows to show run in this screen's worker, and at most :data:`MAX_ROWS` newest rows go
into the table. The view looks at the ring once a second and redoes that work only when the ring or
the filter changed. Every string from the system is made safe (``format.safe``) and put in ``Text``,
never markup.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, Static
from textual.worker import get_current_worker

from sockui.model import format as fmt
from sockui.model.filters import Filter, FilterError, parse
from sockui.model.history import HistoryRing, SocketEvent
from sockui.model.services import ServiceTable
from sockui.model.socket import InetEndpoint, SocketRecord

#: Rows put in the table at most (the newest matching ones); the title says how many matched.
MAX_ROWS = 5000
#: Entries named in each count line.
TOP = 5
TITLES = ("Closed", "Proto", "Local", "Remote", "Last state", "Lived", "Sent", "Received", "Process", "Note")


@dataclass(frozen=True, slots=True)
class HistoryView:
    """What the worker hands the screen: rows to show and the counts over every matching entry."""

    rows: tuple[SocketEvent, ...]
    matched: int
    kept: int
    by_remote: tuple[tuple[str, int], ...]
    #: Local ports of inbound connections (the ports this host serves on).
    by_port: tuple[tuple[int, int], ...]
    #: Remote ports of outbound connections (the services this host uses).
    by_remote_port: tuple[tuple[int, int], ...]
    serial: int
    source: str


def history_view(ring: HistoryRing, flt: Filter, users: dict[int, str]) -> HistoryView:
    """Filter the ring, count by remote address and service port, keep the newest :data:`MAX_ROWS`.

    Ports are counted on the side that is a service: the local port of an inbound connection, the
    remote port of an outbound one. An outbound connection's local port is ephemeral (a new one each
    time), so counting it listed five ports seen once each and hid the port being hammered.
    """
    serial = ring.serial
    items = ring.items()
    matched = [e for e in items if flt.matches(e.record, users)]
    remotes: Counter[str] = Counter()
    served: Counter[int] = Counter()
    used: Counter[int] = Counter()
    for e in matched:
        local, remote = e.record.local, e.record.remote
        if isinstance(remote, InetEndpoint):
            remotes[remote.address] += 1
            if e.inbound and isinstance(local, InetEndpoint):
                served[local.port] += 1
            elif e.inbound is False:
                used[remote.port] += 1
    newest = tuple(reversed(matched[-MAX_ROWS:]))
    return HistoryView(
        newest,
        len(matched),
        len(items),
        tuple(remotes.most_common(TOP)),
        tuple(served.most_common(TOP)),
        tuple(used.most_common(TOP)),
        serial,
        flt.source,
    )


def _lived(event: SocketEvent) -> str:
    if event.lifetime is None:
        return "< refresh" if event.note.startswith("lived <") else "?"
    if event.lifetime < 60:
        return f"{event.lifetime:.1f}s"
    return f"{event.lifetime / 60:.0f}m"


def _count(value: int | None) -> str:
    return "" if value is None else fmt.human_bytes(value)


def event_cells(event: SocketEvent) -> tuple[Text, ...]:
    """One table row of plain, safe text."""
    record = event.record
    return (
        Text(time.strftime("%H:%M:%S", time.localtime(event.time))),
        Text(record.proto.value),
        Text(fmt.endpoint(record.local)),
        Text(fmt.endpoint(record.remote)),
        Text(record.state),
        Text(_lived(event), justify="right"),
        Text(_count(event.bytes_sent), justify="right"),
        Text(_count(event.bytes_received), justify="right"),
        Text(fmt.process_column(record)),
        # The model made the note safe (it may name the likely owner): escaping again would double
        # its backslashes.
        Text(fmt.still_safe(event.note), style="dim"),
    )


def event_detail(event: SocketEvent) -> Text:
    """Every field of one entry, one per line (plain text)."""
    record = event.record
    lines = [
        ("closed", time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(event.time))),
        ("socket", f"{record.proto.value} {record.family.value}  last state {record.state}"),
        ("local", fmt.endpoint(record.local) or "-"),
        ("remote", fmt.endpoint(record.remote) or "-"),
        ("process", fmt.process_column(record) or "none seen"),
        ("netns", fmt.safe(record.netns_label) or "-"),
        ("lived", _lived(event)),
        ("seen", "by a kernel destroy message" if event.source == "destroy" else "gone from a snapshot"),
    ]
    if event.bytes_sent is not None or event.bytes_received is not None:
        sent, received = _count(event.bytes_sent), _count(event.bytes_received)
        lines.append(("bytes", f"sent {sent}  received {received}  retransmits {event.retransmits}"))
    if event.note:
        lines.append(("note", fmt.still_safe(event.note)))
    text = Text()
    for label, value in lines:
        text.append(f"{label:>8} ", style="dim")
        text.append(value + "\n")
    return text


class HistoryScreen(Screen[None]):
    """Closed connections; ``esc`` back to the table."""

    LIVE = True

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back", tooltip="close the detail, or back to the table"),
        Binding("slash", "filter", "Filter", tooltip="filter the history (same expressions as the table)"),
        Binding("enter", "detail", "Detail", tooltip="every field of the entry"),
        Binding("f", "follow", "Follow", tooltip="follow this tuple if it comes back"),
    ]

    DEFAULT_CSS = """
    HistoryScreen #history-title { height: 1; padding: 0 1; }
    HistoryScreen #history-counts { height: 3; padding: 0 1; color: $text-muted; }
    HistoryScreen #history-filter { height: 3; }
    HistoryScreen #history-error { height: auto; padding: 0 1; color: $error; }
    HistoryScreen #history-table { height: 1fr; }
    HistoryScreen #history-detail { height: auto; max-height: 12; padding: 0 1; border-top: solid $accent; }
    """

    @dataclass
    class Ready(Message):
        """The worker's result."""

        view: HistoryView

    @dataclass
    class FollowTuple(Message):
        """``f``: follow this entry's tuple (the app's follow machinery takes it)."""

        record: SocketRecord

    def __init__(
        self, ring: HistoryRing, services: ServiceTable, users: dict[int, str], overflows: int = 0
    ) -> None:
        super().__init__()
        self.ring = ring
        self.services = services
        self.users = users
        self.overflows = overflows
        self.filter = Filter("", services)
        self.view: HistoryView | None = None
        self._asked: tuple[int, str] | None = None

    def compose(self) -> ComposeResult:
        """Title, counts, filter line, table, detail, footer."""
        with Vertical():
            yield Static(Text("Closed connections", style="bold"), id="history-title")
            yield Static("", id="history-counts")
            yield Input(placeholder="/ filter: e.g. port 443 or dst 10.0.0.0/8", id="history-filter")
            yield Static("", id="history-error")
            yield DataTable(id="history-table", cursor_type="row", zebra_stripes=True)
            yield Static("", id="history-detail")
        yield Footer()

    def on_mount(self) -> None:
        """Columns, the first load, then a look at the ring every second."""
        table = self.query_one(DataTable)
        for title in TITLES:
            table.add_column(title, key=title)
        self.query_one("#history-filter", Input).display = False
        self.query_one("#history-detail", Static).display = False
        table.focus()
        self._reload()
        self.set_interval(1.0, self._reload)

    def _reload(self) -> None:
        asked = (self.ring.serial, self.filter.source)
        if asked != self._asked:
            self._asked = asked
            self._compute(self.filter)

    @work(thread=True, exclusive=True, group="history", exit_on_error=False)
    def _compute(self, flt: Filter) -> None:
        view = history_view(self.ring, flt, self.users)
        if not get_current_worker().is_cancelled:
            self.post_message(self.Ready(view))

    @on(Ready)
    def _ready(self, message: Ready) -> None:
        view = message.view
        if view.source != self.filter.source:
            return
        self.view = view
        table = self.query_one(DataTable)
        key = self._cursor_key()
        table.clear()
        for index, event in enumerate(view.rows):
            table.add_row(*event_cells(event), key=str(index))
        if key is not None:
            for index, event in enumerate(view.rows):
                if (event.time, event.record.key) == key:
                    table.move_cursor(row=index)
                    break
        title = f"Closed connections: {view.matched:,}"
        if view.source:
            title += f" matching (of {view.kept:,} kept)"
        else:
            title += f" kept (of {self.ring.added:,} seen; the last {self.ring.size:,} are kept)"
        if len(view.rows) < view.matched:
            title += f", newest {len(view.rows):,} listed"
        if self.overflows:
            title += f"  · destroy messages lost {self.overflows} time(s): kernel buffer full"
        self.query_one("#history-title", Static).update(Text(title, style="bold"))
        remotes = "  ".join(f"{fmt.safe(a)} ×{n}" for a, n in view.by_remote) or "-"
        ports = "  ".join(f"{p} ×{n}" for p, n in view.by_port) or "-"
        used = "  ".join(f"{p} ×{n}" for p, n in view.by_remote_port) or "-"
        counts = Text()
        counts.append("by remote ", style="dim")
        counts.append(remotes + "\n")
        counts.append("by local port (inbound) ", style="dim")
        counts.append(ports + "\n")
        counts.append("by remote port (outbound) ", style="dim")
        counts.append(used)
        self.query_one("#history-counts", Static).update(counts)

    def _cursor_key(self) -> tuple[float, int] | None:
        event = self.current
        return (event.time, event.record.key) if event is not None else None

    @property
    def current(self) -> SocketEvent | None:
        """The entry under the cursor."""
        view = self.view
        table = self.query_one(DataTable)
        if view is None or not view.rows or not 0 <= table.cursor_row < len(view.rows):
            return None
        return view.rows[table.cursor_row]

    # -- keys ----------------------------------------------------------------------------------

    def action_filter(self) -> None:
        """``/``: edit the filter, applied as you type."""
        box = self.query_one("#history-filter", Input)
        box.display = True
        box.value = self.filter.source
        box.cursor_position = len(box.value)
        box.focus()

    @on(Input.Changed, "#history-filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        error = self.query_one("#history-error", Static)
        try:
            self.filter = parse(event.value, self.services)
        except FilterError as exc:
            error.update(Text(exc.render(event.value)))
            return
        error.update("")
        self._reload()

    @on(Input.Submitted, "#history-filter")
    def _filter_submitted(self) -> None:
        self.query_one(DataTable).focus()

    @on(DataTable.RowSelected)
    def _row_selected(self) -> None:
        self.action_detail()

    def action_detail(self) -> None:
        """``enter``: every field of the entry, under the table (again: hide it)."""
        panel = self.query_one("#history-detail", Static)
        event = self.current
        if event is None:
            return
        panel.update(event_detail(event))
        panel.display = True

    def action_follow(self) -> None:
        """``f``: follow the entry's tuple; the follow view waits for it to come back."""
        event = self.current
        if event is not None:
            self.app.post_message(self.FollowTuple(event.record))

    def action_back(self) -> None:
        """``esc``: close the filter line, then the detail, then the view."""
        box = self.query_one("#history-filter", Input)
        panel = self.query_one("#history-detail", Static)
        if box.has_focus:
            box.display = bool(self.filter.source)
            self.query_one(DataTable).focus()
        elif panel.display:
            panel.display = False
        else:
            self.dismiss(None)
