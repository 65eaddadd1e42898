"""Column layout of the main table: which columns fit a width, how wide each is, how cells are cut.

Kept apart from the widget so layout rules can be tested without a screen: at 80 columns the less
important columns (queues, user, fd) give way to Local, Remote and Process; nothing is ever cut
without an ellipsis, and endpoints are cut in the middle (``127.0…0.1:5353`` reads as cut, where
``…0.0.1:5353`` reads like a real address). Each row starts with a one-cell marker, so new,
changed and closing rows are told apart without colour (``NO_COLOR``, colour-blind users).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from rich.cells import cell_len, set_cell_size

from sockui.model.columns import BY_TITLE, DEFAULT_TITLES, NETNS, TITLES, cells

__all__ = [
    "ALL_COLUMNS",
    "ELLIPSIS",
    "GAP",
    "MARKERS",
    "MARKER_WIDTH",
    "Column",
    "Layout",
    "cells",
    "fit",
    "layout",
]

GAP = 1
ELLIPSIS = "…"
#: The marker cell and the gap after it.
MARKER_WIDTH = 2
#: The marker of each row status: the colour says it too, but not only the colour.
MARKERS = {"": " ", "new": "+", "changed": "~", "closed": "-"}


@dataclass(frozen=True)
class Column:
    """One column: its title, width (None = flexible), share of spare room, how it is cut."""

    title: str
    width: int | None
    share: int = 0
    #: Lower numbers are dropped first when the screen is narrow (0 = never dropped).
    drop_order: int = 0
    minimum: int = 8
    #: A wider width taken when the screen has room (State: BOUND_INACTIVE needs 14).
    wide: int | None = None
    #: Cut in the middle: an endpoint's port and a path's file name matter as much as its start.
    cut_middle: bool = False
    #: Long cells here can be panned sideways (``left``/``right``) to read what the cut hides.
    pans: bool = False

    @property
    def right(self) -> bool:
        """Right-aligned, as the model's column definition says (numbers)."""
        return BY_TITLE[self.title].right


#: How the model's columns (:data:`sockui.model.columns.COLUMNS`) are drawn, in the same order.
ALL_COLUMNS: tuple[Column, ...] = (
    Column("Proto", 8),
    # Cut in the middle: compose names share prefixes (project-web-1, project-web-2).
    Column("Netns", 12, drop_order=5, cut_middle=True, pans=True),
    Column("State", 11, wide=14),
    Column("Local", None, share=3, minimum=21, cut_middle=True, pans=True),
    Column("Remote", None, share=3, minimum=21, cut_middle=True, pans=True),
    Column("Process", None, share=3, minimum=12, pans=True),
    Column("Fd", 5, drop_order=3),
    Column("User", 8, drop_order=4),
    # 8: room for "Recv-Q ▲", the title with its sort arrow.
    Column("Recv-Q", 8, drop_order=2),
    Column("Send-Q", 8, drop_order=1),
    Column("Rate", 12, drop_order=2),
)
assert tuple(c.title for c in ALL_COLUMNS) == TITLES

#: Columns the chooser cannot hide: a row without them means nothing.
MANDATORY = ("Proto", "Local")


@dataclass(frozen=True)
class Layout:
    """Columns that fit, with their resolved widths and x offsets (after the marker)."""

    columns: tuple[Column, ...]
    widths: tuple[int, ...]
    offsets: tuple[int, ...]

    def column_at(self, x: int) -> str | None:
        """Title of the column under screen column ``x`` (marker included in ``x``)."""
        x -= MARKER_WIDTH
        for col, off, width in zip(self.columns, self.offsets, self.widths, strict=True):
            if off <= x < off + width + GAP:
                return col.title
        return None


def layout(total: int, shown: Iterable[str] | None = None, keep: str | None = None) -> Layout:
    """Fit the ``shown`` columns into ``total`` cells, dropping the least important first.

    By default every column but Netns, which the table adds only when sockets span namespaces.
    ``keep`` (the sort column) is never dropped: rows in an order nobody can see look shuffled.
    """
    wanted = set(DEFAULT_TITLES if shown is None else shown) - ({NETNS} if shown is None else set())
    columns = [c for c in ALL_COLUMNS if c.title in wanted]
    total -= MARKER_WIDTH

    def fixed_width(c: Column, wide: bool) -> int:
        return (c.wide or c.width or 0) if wide else (c.width or 0)

    def flexible_room(cols: list[Column], wide: bool) -> int:
        return total - sum(fixed_width(c, wide) for c in cols) - GAP * (len(cols) - 1)

    def minimums(cols: list[Column]) -> int:
        return sum(c.minimum for c in cols if c.width is None)

    wide = flexible_room(columns, True) >= minimums(columns) + 40
    droppable = sorted((c for c in columns if c.drop_order and c.title != keep), key=lambda c: c.drop_order)
    while droppable and flexible_room(columns, wide) < minimums(columns):
        columns.remove(droppable.pop(0))
    room = max(0, flexible_room(columns, wide))
    flex = [c for c in columns if c.width is None]
    # Each flexible column gets its minimum first (when it fits), then a share of what is left.
    base = {c.title: (c.minimum if room >= minimums(columns) else 0) for c in flex}
    spare = room - sum(base.values())
    shares = sum(c.share for c in flex) or 1
    flex_widths = {c.title: base[c.title] + spare * c.share // shares for c in flex}
    if flex:  # hand the rounding remainder to the last flexible column
        flex_widths[flex[-1].title] += room - sum(flex_widths.values())
    widths = tuple(
        fixed_width(c, wide) if c.width is not None else max(1, flex_widths[c.title]) for c in columns
    )
    offsets: list[int] = []
    x = 0
    for w in widths:
        offsets.append(x)
        x += w + GAP
    return Layout(tuple(columns), widths, tuple(offsets))


def fit(text: str, width: int, right: bool = False, cut_middle: bool = False, pan: int = 0) -> str:
    """Pad or cut ``text`` to exactly ``width`` cells; a cut is marked with an ellipsis.

    ``pan`` skips that many characters of a text too long for its column (sideways scrolling), the
    skipped start marked with an ellipsis too.
    """
    if width <= 0:
        return ""
    length = cell_len(text)
    if length > width:
        if pan > 0:
            text = ELLIPSIS + text[min(pan, len(text) - 1) :]
            if cell_len(text) <= width:
                return text + " " * (width - cell_len(text))
            return set_cell_size(text, width - 1) + ELLIPSIS
        if cut_middle and width >= 5:
            keep = width - 1
            head = set_cell_size(text, (keep + 1) // 2).rstrip()
            tail = set_cell_size(text[::-1], keep - cell_len(head))[::-1]
            cut = head + ELLIPSIS + tail
            return cut + " " * (width - cell_len(cut))
        return set_cell_size(text, width - 1) + ELLIPSIS
    pad = " " * (width - length)
    return pad + text if right else text + pad
