"""The main table: a virtual list of sockets that renders only the visible lines.

Textual's DataTable takes seconds to load 50k rows, so this is a ScrollView with ``render_line``
(like Textual's Log). Everything proportional to the number of rows happens in a worker: a
:class:`~sockui.model.view.Derived` arrives with the rows in order, their positions, and what is
new, changed or closed since the rows on screen. Applying one here costs the same for 10 rows or
100k: the cursor follows its socket by key, new rows are green for a few seconds, rows whose state
changed yellow, closed rows red (struck through) for a moment at their old place. Cells are
formatted lazily, for visible lines only, and cached per record.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding, BindingType
from textual.cache import LRUCache
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from sockui.model.columns import NETNS, TITLES
from sockui.model.socket import SocketRecord
from sockui.model.view import Derived
from sockui.widgets.columns import GAP, MARKER_WIDTH, MARKERS, Layout, cells, fit, layout

NEW_FOR = 3.0
CHANGED_FOR = 3.0
CLOSED_FOR = 1.5
#: Characters a press of ``left``/``right`` slides long cells by.
PAN_STEP = 8


class SocketTable(ScrollView, can_focus=True):
    """Every socket that passes the filters, one per line, with a sticky header line."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "socket-table--header",
        "socket-table--sorted",
        "socket-table--cursor",
        "socket-table--new",
        "socket-table--changed",
        "socket-table--closed",
    }

    BINDINGS: ClassVar[list[BindingType]] = [
        # No vi keys: k kills and j is free (the key contract in docs/spec.md section 6).
        Binding("up", "cursor(-1)", "Up", show=False),
        Binding("down", "cursor(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home", "jump_end(0)", "First", show=False),
        Binding("end", "jump_end(1)", "Last", show=False),
        Binding("left", "pan(-1)", "Pan left", show=False, tooltip="slide long paths and names back"),
        Binding("right", "pan(1)", "Pan right", show=False, tooltip="slide long paths and names sideways"),
    ]

    @dataclass
    class CursorMoved(Message):
        """The highlighted socket changed (or its record was refreshed)."""

        record: SocketRecord | None

    @dataclass
    class HeaderClicked(Message):
        """The user clicked a column title: sort by it."""

        column: str

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002 - Textual's own parameter name
        super().__init__(id=id)
        self._derived: Derived | None = None
        self._rows: list[SocketRecord] = []
        self._positions: dict[int, int] = {}
        self._cursor = 0
        self._users: Mapping[int, str] = {}
        self._sort_column = "Local"
        self._sort_reverse = False
        self._shown: tuple[str, ...] = TITLES
        #: The Netns column is drawn (if chosen) only while the sockets span namespaces.
        self._spans_namespaces = False
        self._pan = 0
        self._layout: Layout = layout(80)
        self._layout_width = 80
        self._cells: LRUCache[int, tuple[SocketRecord, dict[str, str]]] = LRUCache(4096)
        #: key -> (status, until): "new" and "changed" rows fade, "closed" ones leave, at ``until``.
        self._status: dict[int, tuple[str, float]] = {}
        #: When the earliest highlight ends (inf: none), so the fade timer skips idle ticks cheaply.
        self._next_expiry = float("inf")

    def on_mount(self) -> None:
        """Fade highlights on a timer: pure UI state, no I/O, so an interval is fine here."""
        self.set_interval(0.5, self._fade)

    def _fade(self) -> None:
        if time.monotonic() >= self._next_expiry and self.expire():
            self.refresh()

    # -- data ----------------------------------------------------------------------------------

    @property
    def row_count(self) -> int:
        """Rows currently listed (closed rows still lingering included)."""
        return len(self._rows)

    @property
    def derived(self) -> Derived | None:
        """What the table was last given (the base the next diff is computed against)."""
        return self._derived

    @property
    def cursor_record(self) -> SocketRecord | None:
        """The socket under the cursor."""
        if 0 <= self._cursor < len(self._rows):
            return self._rows[self._cursor]
        return None

    @property
    def cursor_index(self) -> int:
        """Position of the cursor in the rows."""
        return self._cursor

    @property
    def cursor_key(self) -> int | None:
        """Key of the socket under the cursor."""
        record = self.cursor_record
        return record.key if record is not None else None

    def records(self) -> list[SocketRecord]:
        """Records in display order (for tests and the copy/export paths)."""
        return list(self._rows)

    def status_of(self, key: int) -> str:
        """The highlight of a row: '' | 'new' | 'changed' | 'closed'."""
        entry = self._status.get(key)
        return entry[0] if entry is not None else ""

    def is_closed(self, key: int) -> bool:
        """True when the row of ``key`` stays on screen although its socket is gone."""
        return self.status_of(key) == "closed"

    def apply(self, derived: Derived, highlight: bool, now: float | None = None) -> None:
        """Show ``derived``: swap the rows in, mark what changed, keep the cursor on its socket.

        ``highlight`` is False when the change came from the view (a new filter): nothing changed
        on the machine, so nothing is marked new, and closed rows leave at once.
        """
        now = time.monotonic() if now is None else now
        cursor_key = self.cursor_key
        old_cursor, old_top = self._cursor, self.scroll_offset.y
        visible = max(1, self.size.height - 1)
        cursor_was_visible = old_top <= old_cursor < old_top + visible
        anchor = self._rows[old_top].key if old_top < len(self._rows) else None
        status = self._status
        if highlight:
            for key in derived.new:
                status[key] = ("new", now + NEW_FOR)
            for key in derived.changed:
                status[key] = ("changed", now + CHANGED_FOR)
            for key in derived.closed:
                entry = status.get(key)
                if entry is None or entry[0] != "closed":
                    status[key] = ("closed", now + CLOSED_FOR)
        rows, positions = derived.rows, derived.positions
        if derived.closed and not highlight:
            # Closed rows only mean something as news: a view change drops them.
            rows = [r for r in rows if r.key not in derived.closed]
            positions = {r.key: i for i, r in enumerate(rows)}
        self._derived, self._rows, self._positions = derived, rows, positions
        self._users = derived.snapshot.users
        if derived.view.sort_column != self._sort_column:
            self._layout_width = -1  # the sort column is kept in the layout (see columns.layout)
        self._sort_column, self._sort_reverse = derived.view.sort_column, derived.view.sort_reverse
        self._next_expiry = min((until for _s, until in status.values()), default=float("inf"))
        new_cursor = positions.get(cursor_key) if cursor_key is not None else None
        self._cursor = min(old_cursor, max(0, len(rows) - 1)) if new_cursor is None else new_cursor
        self.virtual_size = Size(self.size.width, len(rows) + 1)
        if cursor_was_visible:
            # Keep the cursor on the same screen line, so rows do not jump under the reader.
            self.scroll_to(y=max(0, old_top + self._cursor - old_cursor), animate=False)
            self._scroll_cursor_into_view()
        elif anchor is not None and anchor in positions:
            # The user scrolled away from the cursor (mouse wheel): keep what they are looking at.
            self.scroll_to(y=positions[anchor], animate=False)
        self.refresh()
        self.post_message(self.CursorMoved(self.cursor_record))

    def expire(self, now: float | None = None) -> bool:
        """End highlights whose time has passed, and drop closed rows (but the cursor's); True if any."""
        now = time.monotonic() if now is None else now
        cursor_key = self.cursor_key
        gone: set[int] = set()
        faded = False
        for key, (status, until) in list(self._status.items()):
            if until > now:
                continue
            if status == "closed":
                if key == cursor_key:
                    continue  # kept, marked closed, until the user moves off it
                gone.add(key)
            del self._status[key]
            faded = True
        self._next_expiry = min((until for _s, until in self._status.values()), default=float("inf"))
        if gone:
            # A new list, not an edit: the rows are shared with the Derived a worker may be reading.
            # One pass over the rows, but only when a closed row leaves between two refreshes.
            self._rows = [r for r in self._rows if r.key not in gone]
            self._positions = {r.key: i for i, r in enumerate(self._rows)}
            self._cursor = self._positions.get(cursor_key, self._cursor) if cursor_key is not None else 0
            self._cursor = min(self._cursor, max(0, len(self._rows) - 1))
            self.virtual_size = Size(self.size.width, len(self._rows) + 1)
            self._scroll_cursor_into_view()
        return faded

    @property
    def has_highlights(self) -> bool:
        """True while some row is green, yellow or red."""
        return bool(self._status)

    # -- cursor --------------------------------------------------------------------------------

    def move_to_key(self, key: int) -> bool:
        """Put the cursor on the socket with ``key``; False when it is not listed."""
        pos = self._positions.get(key)
        if pos is None:
            return False
        self._set_cursor(pos)
        return True

    def _set_cursor(self, pos: int) -> None:
        pos = max(0, min(pos, len(self._rows) - 1))
        if pos == self._cursor:
            return
        old, top = self._cursor, self.scroll_offset.y
        self._cursor = pos
        self._scroll_cursor_into_view()
        if self.scroll_offset.y == top:
            # Only the two rows whose highlight changed: repainting the whole visible table for a
            # one-row move cost 15-30 ms per key press (row y is line y + 1, under the header).
            self.refresh_lines(old + 1)
            self.refresh_lines(pos + 1)
        else:
            self.refresh()
        self.post_message(self.CursorMoved(self.cursor_record))

    def _scroll_cursor_into_view(self) -> None:
        visible = max(1, self.size.height - 1)
        top = self.scroll_offset.y
        if self._cursor < top:
            self.scroll_to(y=self._cursor, animate=False)
        elif self._cursor >= top + visible:
            self.scroll_to(y=self._cursor - visible + 1, animate=False)

    def action_cursor(self, delta: int) -> None:
        """Move the cursor up or down."""
        self._set_cursor(self._cursor + delta)

    def action_page(self, direction: int) -> None:
        """Move a screenful."""
        self._set_cursor(self._cursor + direction * max(1, self.size.height - 2))

    def action_jump_end(self, end: int) -> None:
        """First or last row."""
        self._set_cursor(len(self._rows) - 1 if end else 0)

    def on_click(self, event: events.Click) -> None:
        """Click a title to sort by it, a row to select it."""
        if event.y == 0:
            column = self._current_layout().column_at(event.x + self.scroll_offset.x)
            if column:
                self.post_message(self.HeaderClicked(column))
            return
        self._set_cursor(self.scroll_offset.y + event.y - 1)

    def on_resize(self, event: events.Resize) -> None:
        """Keep the cursor in view at the new height."""
        self.virtual_size = Size(event.size.width, len(self._rows) + 1)
        self._scroll_cursor_into_view()

    # -- rendering -----------------------------------------------------------------------------

    def set_columns(self, shown: tuple[str, ...]) -> None:
        """Show only these columns (the column chooser)."""
        self._shown = shown
        self._layout_width = -1
        self.refresh()

    def show_namespaces(self, spans: bool) -> None:
        """Draw the Netns column (when chosen) only when the snapshot spans network namespaces."""
        if spans != self._spans_namespaces:
            self._spans_namespaces = spans
            self._layout_width = -1
            self.refresh()

    @property
    def drawn_columns(self) -> tuple[str, ...]:
        """The chosen columns less those with nothing to tell here (Netns on a one-namespace host)."""
        if self._spans_namespaces:
            return self._shown
        return tuple(t for t in self._shown if t != NETNS)

    def action_pan(self, delta: int) -> None:
        """``left``/``right``: slide long cells (paths, process names) sideways to read what is cut."""
        self._pan = max(0, min(self._pan + delta * PAN_STEP, 400))
        self.refresh()

    def _current_layout(self) -> Layout:
        """The column layout for the width the rows really get.

        Asked at render time, not on resize: the vertical scrollbar comes and goes with the number
        of rows, and takes its width from the rows when it does.
        """
        width = self.scrollable_content_region.width
        if width != self._layout_width:
            self._layout = layout(width, self.drawn_columns, keep=self._sort_column)
            self._layout_width = width
        return self._layout

    def render_line(self, y: int) -> Strip:
        """Line 0 is the header; line y shows row ``scroll_y + y - 1``."""
        width = self.scrollable_content_region.width
        if y == 0:
            return self._header(width)
        index = self.scroll_offset.y + y - 1
        if index >= len(self._rows):
            if index == 0 and self._derived is not None:
                return self._empty_line(width)
            return Strip.blank(width, self.rich_style)
        record = self._rows[index]
        style = self.rich_style
        status = self.status_of(record.key)
        if status:
            style += self.get_component_rich_style(f"socket-table--{status}")
        if index == self._cursor:
            style += self.get_component_rich_style("socket-table--cursor")
        text = MARKERS[status] + " " + self._line_text(record, width - MARKER_WIDTH)
        return Strip([Segment(text, style)], width)

    def _empty_line(self, width: int) -> Strip:
        """Nothing to list: say why, rather than show a blank table."""
        assert self._derived is not None
        described = self._derived.view.describe()
        text = f"  no sockets match: {described}   (a: show all)" if described else "  no sockets"
        style = self.rich_style + Style(italic=True)
        return Strip([Segment(fit(text, width), style)], width)

    def _line_text(self, record: SocketRecord, width: int) -> str:
        cached = self._cells.get(record.key)
        if cached is None or cached[0] is not record:
            cached = (record, cells(record, self._users))
            self._cells[record.key] = cached
        values = cached[1]
        lay = self._current_layout()
        pan = self._pan
        parts = [
            fit(values[c.title], w, c.right, c.cut_middle, pan if c.pans else 0)
            for c, w in zip(lay.columns, lay.widths, strict=True)
        ]
        return fit((" " * GAP).join(parts), width)

    def _header(self, width: int) -> Strip:
        lay = self._current_layout()
        base = self.rich_style + self.get_component_rich_style("socket-table--header")
        sorted_style = base + self.get_component_rich_style("socket-table--sorted")
        segments: list[Segment] = [Segment("◀ " if self._pan else " " * MARKER_WIDTH, base)]
        used = MARKER_WIDTH
        for col, w in zip(lay.columns, lay.widths, strict=True):
            title = col.title
            style: Style = base
            if title == self._sort_column:
                title += " ▼" if self._sort_reverse else " ▲"
                style = sorted_style
            text = fit(title, w, col.right)
            if used > MARKER_WIDTH:
                segments.append(Segment(" " * GAP, base))
                used += GAP
            segments.append(Segment(text, style))
            used += w
        if used < width:
            segments.append(Segment(" " * (width - used), base))
        return Strip(segments).crop(0, width)
