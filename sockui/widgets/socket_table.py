"""The main table: a virtual list of sockets that renders only the visible lines.

Textual's DataTable takes seconds to load 50k rows, so this is a ScrollView with ``render_line``
(like Textual's Log). Rows live in a keyed store; each snapshot is applied as a diff: rows keep their
key (the socket cookie), the cursor follows its socket, new rows are green for a few seconds, closed
rows red for a moment before they leave, and rows whose state changed yellow. Cells are formatted
lazily, for visible lines only, and cached per record.
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding, BindingType
from textual.cache import LRUCache
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from sockui.model.socket import SocketRecord
from sockui.widgets.columns import GAP, Layout, cells, fit, layout

NEW_FOR = 3.0
CHANGED_FOR = 3.0
CLOSED_FOR = 1.5


@dataclass(slots=True)
class _Row:
    key: int
    record: SocketRecord
    #: "" | "new" | "changed" | "closed"
    status: str = ""
    until: float = 0.0


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
        Binding("up,k", "cursor(-1)", "Up", show=False),
        Binding("down,j", "cursor(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home,g", "jump_end(0)", "First", show=False),
        Binding("end,G", "jump_end(1)", "Last", show=False),
    ]

    class CursorMoved(Message):
        """The highlighted socket changed (or its record was refreshed)."""

        def __init__(self, record: SocketRecord | None) -> None:
            super().__init__()
            self.record = record

    class HeaderClicked(Message):
        """The user clicked a column title: sort by it."""

        def __init__(self, column: str) -> None:
            super().__init__()
            self.column = column

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002 - Textual's own parameter name
        super().__init__(id=id)
        self._rows: list[_Row] = []
        self._positions: dict[int, int] = {}
        self._cursor = 0
        self._users: dict[int, str] = {}
        self._sort_column = "Local"
        self._sort_reverse = False
        self._layout: Layout = layout(80)
        self._cells: LRUCache[int, tuple[SocketRecord, dict[str, str]]] = LRUCache(4096)
        self._sort_key: Callable[[SocketRecord], Any] = lambda s: s.key
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
    def cursor_record(self) -> SocketRecord | None:
        """The socket under the cursor."""
        if 0 <= self._cursor < len(self._rows):
            return self._rows[self._cursor].record
        return None

    def records(self) -> list[SocketRecord]:
        """Records in display order (for tests and the copy/export paths)."""
        return [r.record for r in self._rows]

    def set_sort(self, column: str, reverse: bool, key: Callable[[SocketRecord], Any]) -> None:
        """Record the sort order the rows arrive in (for the header arrow and lingering rows)."""
        self._sort_column, self._sort_reverse, self._sort_key = column, reverse, key
        self.refresh(layout=False)

    def update_rows(
        self,
        records: Sequence[SocketRecord],
        users: dict[int, str],
        alive: Callable[[int], bool] | None,
        now: float | None = None,
    ) -> None:
        """Apply a new set of visible sockets, already sorted, as a keyed diff.

        ``alive`` tells whether a key that left the visible set still exists in the snapshot: only
        sockets that really closed linger in red, at their old place in the order; ones merely
        filtered out leave at once. None means the change came from the view (a new filter), so
        nothing is highlighted. Sorting is the caller's job (done off the UI thread).
        """
        now = time.monotonic() if now is None else now
        highlight = alive is not None and bool(self._rows)
        self._users = users
        cursor_key = self.cursor_record.key if self.cursor_record else None
        old = {r.key: r for r in self._rows}
        rows: list[_Row] = []
        for rec in records:
            prev = old.pop(rec.key, None)
            if prev is None:
                rows.append(_Row(rec.key, rec, "new" if highlight else "", now + NEW_FOR))
                continue
            if highlight and prev.record.state != rec.state:
                prev.status, prev.until = "changed", now + CHANGED_FOR
            elif prev.status == "closed":  # came back (e.g. a filter let it through again)
                prev.status = ""
            prev.record = rec
            rows.append(prev)
        lingering = []
        for prev in old.values():
            if alive is None or alive(prev.key):
                continue
            if prev.status != "closed":
                prev.status, prev.until = "closed", now + CLOSED_FOR
            if prev.until > now:
                lingering.append(prev)
        for row in lingering:
            rows.insert(self._linger_position(rows, row), row)
        self._rows = rows
        self._next_expiry = min((r.until for r in rows if r.status), default=float("inf"))
        self._reindex(cursor_key)

    def expire(self, now: float | None = None) -> bool:
        """Drop closed rows whose moment has passed and clear stale highlights; True if any changed."""
        now = time.monotonic() if now is None else now
        changed = False
        kept: list[_Row] = []
        for row in self._rows:
            if row.status and row.until <= now:
                changed = True
                if row.status == "closed":
                    continue
                row.status = ""
            kept.append(row)
        self._next_expiry = min((r.until for r in kept if r.status), default=float("inf"))
        if changed:
            cursor_key = self.cursor_record.key if self.cursor_record else None
            self._rows = kept
            self._reindex(cursor_key)
        return changed

    @property
    def has_highlights(self) -> bool:
        """True while some row is green, yellow or red."""
        return self._next_expiry != float("inf")

    def _linger_position(self, rows: list[_Row], row: _Row) -> int:
        """Where a closed row stays while it lingers: its place in the sort order."""
        if self._sort_reverse:  # bisect wants ascending order; the old index is close enough
            return min(self._positions.get(row.key, len(rows)), len(rows))
        key = self._sort_key
        return bisect.bisect_left(rows, key(row.record), key=lambda r: key(r.record))

    def _reindex(self, cursor_key: int | None) -> None:
        old_cursor, old_scroll = self._cursor, self.scroll_offset.y
        self._positions = {r.key: i for i, r in enumerate(self._rows)}
        if cursor_key is not None and cursor_key in self._positions:
            self._cursor = self._positions[cursor_key]
        else:  # the cursor's socket left: stay on the same line
            self._cursor = min(old_cursor, max(0, len(self._rows) - 1))
        self.virtual_size = Size(self.size.width, len(self._rows) + 1)
        # Keep the cursor on the same screen line so rows do not jump under the reader.
        if self._cursor != old_cursor:
            self.scroll_to(y=max(0, old_scroll + self._cursor - old_cursor), animate=False)
        self._scroll_cursor_into_view()
        self.refresh()
        self.post_message(self.CursorMoved(self.cursor_record))

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
        self._cursor = pos
        self._scroll_cursor_into_view()
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
            column = self._layout.column_at(event.x + self.scroll_offset.x)
            if column:
                self.post_message(self.HeaderClicked(column))
            return
        self._set_cursor(self.scroll_offset.y + event.y - 1)

    def on_resize(self, event: events.Resize) -> None:
        """Recompute the column layout for the new width."""
        self._layout = layout(self.scrollable_content_region.width or event.size.width)
        self.virtual_size = Size(event.size.width, len(self._rows) + 1)
        self._scroll_cursor_into_view()

    # -- rendering -----------------------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        """Line 0 is the header; line y shows row ``scroll_y + y - 1``."""
        width = self.scrollable_content_region.width
        if y == 0:
            return self._header(width)
        index = self.scroll_offset.y + y - 1
        if index >= len(self._rows):
            return Strip.blank(width, self.rich_style)
        row = self._rows[index]
        style = self.rich_style
        if row.status:
            style += self.get_component_rich_style(f"socket-table--{row.status}")
        if index == self._cursor:
            style += self.get_component_rich_style("socket-table--cursor")
        return Strip([Segment(self._line_text(row, width), style)], width)

    def _line_text(self, row: _Row, width: int) -> str:
        cached = self._cells.get(row.key)
        if cached is None or cached[0] is not row.record:
            cached = (row.record, cells(row.record, self._users))
            self._cells[row.key] = cached
        values = cached[1]
        lay = self._layout
        parts = [
            fit(values[c.title], w, c.right, c.cut_left) for c, w in zip(lay.columns, lay.widths, strict=True)
        ]
        return fit((" " * GAP).join(parts), width)

    def _header(self, width: int) -> Strip:
        lay = self._layout
        base = self.rich_style + self.get_component_rich_style("socket-table--header")
        sorted_style = base + self.get_component_rich_style("socket-table--sorted")
        segments: list[Segment] = []
        used = 0
        for col, w in zip(lay.columns, lay.widths, strict=True):
            title = col.title
            style: Style = base
            if title == self._sort_column:
                title += " ▼" if self._sort_reverse else " ▲"
                style = sorted_style
            text = fit(title, w, col.right)
            if segments:
                segments.append(Segment(" " * GAP, base))
                used += GAP
            segments.append(Segment(text, style))
            used += w
        if used < width:
            segments.append(Segment(" " * (width - used), base))
        return Strip(segments).crop(0, width)
