"""Column layout of the main table: which columns fit a width, how wide each is, how cells are cut.

Kept apart from the widget so layout rules can be tested without a screen: at 80 columns the less
important columns (queues, user, fd) give way to Local, Remote and Process; nothing is ever cut
without an ellipsis.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.cells import cell_len, set_cell_size

from sockui.model.columns import BY_TITLE, cells

__all__ = ["ALL_COLUMNS", "ELLIPSIS", "GAP", "Column", "Layout", "cells", "fit", "layout"]

GAP = 1
ELLIPSIS = "…"


@dataclass(frozen=True)
class Column:
    """One column: its title, preferred width (None = flexible), share of spare room, alignment."""

    title: str
    width: int | None
    share: int = 0
    #: Lower numbers are dropped first when the screen is narrow (0 = never dropped).
    drop_order: int = 0
    minimum: int = 8
    #: Cut from the left: an endpoint's port matters more than its address's first characters.
    cut_left: bool = False

    @property
    def right(self) -> bool:
        """Right-aligned, as the model's column definition says (numbers)."""
        return BY_TITLE[self.title].right


#: How the model's columns (:data:`sockui.model.columns.COLUMNS`) are drawn, in the same order.
ALL_COLUMNS: tuple[Column, ...] = (
    Column("Proto", 8),
    Column("State", 11),
    Column("Local", None, share=3, minimum=21, cut_left=True),
    Column("Remote", None, share=3, minimum=21, cut_left=True),
    Column("Process", None, share=3, minimum=12),
    Column("Fd", 5, drop_order=3),
    Column("User", 8, drop_order=4),
    Column("Recv-Q", 7, drop_order=2),
    Column("Send-Q", 7, drop_order=1),
)


@dataclass(frozen=True)
class Layout:
    """Columns that fit, with their resolved widths and x offsets."""

    columns: tuple[Column, ...]
    widths: tuple[int, ...]
    offsets: tuple[int, ...]

    def column_at(self, x: int) -> str | None:
        """Title of the column under screen column ``x``."""
        for col, off, width in zip(self.columns, self.offsets, self.widths, strict=True):
            if off <= x < off + width + GAP:
                return col.title
        return None


def layout(total: int) -> Layout:
    """Fit the columns into ``total`` cells, dropping the least important first."""
    columns = list(ALL_COLUMNS)

    def flexible_room(cols: list[Column]) -> int:
        fixed = sum(c.width or 0 for c in cols)
        return total - fixed - GAP * (len(cols) - 1)

    droppable = sorted((c for c in columns if c.drop_order), key=lambda c: c.drop_order)
    while droppable and flexible_room(columns) < sum(c.minimum for c in columns if c.width is None):
        columns.remove(droppable.pop(0))
    room = max(0, flexible_room(columns))
    flex = [c for c in columns if c.width is None]
    # Each flexible column gets its minimum first (when it fits), then a share of what is left.
    minimums = sum(c.minimum for c in flex)
    base = {c.title: (c.minimum if room >= minimums else 0) for c in flex}
    spare = room - sum(base.values())
    shares = sum(c.share for c in flex) or 1
    flex_widths = {c.title: base[c.title] + spare * c.share // shares for c in flex}
    if flex:  # hand the rounding remainder to the last flexible column
        flex_widths[flex[-1].title] += room - sum(flex_widths.values())
    widths = tuple(c.width if c.width is not None else max(1, flex_widths[c.title]) for c in columns)
    offsets: list[int] = []
    x = 0
    for w in widths:
        offsets.append(x)
        x += w + GAP
    return Layout(tuple(columns), widths, tuple(offsets))


def fit(text: str, width: int, right: bool = False, cut_left: bool = False) -> str:
    """Pad or cut ``text`` to exactly ``width`` cells; a cut is marked with an ellipsis."""
    if width <= 0:
        return ""
    length = cell_len(text)
    if length > width:
        if cut_left:
            return ELLIPSIS + set_cell_size(text[::-1], width - 1)[::-1]
        return set_cell_size(text, width - 1) + ELLIPSIS
    pad = " " * (width - length)
    return pad + text if right else text + pad
