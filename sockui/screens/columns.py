"""The column chooser (``C``): which columns the main table shows.

A SelectionList of every column title, the shown ones checked. Proto and Local identify a row, so they
are always shown: listed checked and disabled (the cursor skips them). Space toggles, enter applies,
escape cancels. The result keeps the canonical column order whatever order things were toggled in.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import SelectionList, Static
from textual.widgets.selection_list import Selection

from sockui.model.columns import NETNS

#: Columns that cannot be hidden: without them a row does not say which socket it is.
MANDATORY: tuple[str, ...] = ("Proto", "Local")
HINT = "↑↓ move  space show/hide  enter apply  esc cancel"
EMPTY_CHOICE = "Choose at least one column."


def chosen_titles(all_titles: tuple[str, ...], selected: set[str]) -> tuple[str, ...]:
    """The titles to show, in the order of ``all_titles``: the selected ones plus the mandatory ones."""
    return tuple(t for t in all_titles if t in selected or t in MANDATORY)


def _label(title: str) -> str:
    """A column's line in the list, with what is special about it."""
    if title in MANDATORY:
        return f"{title}  (always shown)"
    if title == NETNS:
        return f"{title}  (when sockets span network namespaces)"
    return title


class ColumnsScreen(ModalScreen[tuple[str, ...] | None]):
    """Dismisses with the titles to show (canonical order, never empty), or None when cancelled."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "cancel", "Cancel"),
        # priority: the SelectionList would take enter as "toggle".
        Binding("enter", "apply", "Apply", priority=True),
    ]

    DEFAULT_CSS = """
    #columns-title, #columns-message, #columns-help { height: auto; }
    #columns-list { height: auto; }
    """

    def __init__(self, all_titles: tuple[str, ...], shown: tuple[str, ...]) -> None:
        """``all_titles`` in canonical order; ``shown``: those shown now (unknown titles are ignored)."""
        super().__init__()
        self.all_titles = all_titles
        self.shown = frozenset(shown) | frozenset(MANDATORY)
        #: What the message line says ('' for nothing).
        self.message = ""

    def compose(self) -> ComposeResult:
        """A title, the list of columns, a line for messages and a line of keys."""
        selections = [
            Selection(
                Text(_label(title)),
                title,
                initial_state=title in self.shown,
                disabled=title in MANDATORY,
            )
            for title in self.all_titles
        ]
        with Vertical(id="columns-box"):
            yield Static(Text("Columns", style="bold"), id="columns-title")
            yield SelectionList[str](*selections, id="columns-list")
            yield Static(Text(""), id="columns-message")
            yield Static(Text(HINT, style="dim"), id="columns-help")

    @property
    def selection_list(self) -> SelectionList[str]:
        """The list of columns."""
        return self.query_one("#columns-list", SelectionList)

    def on_mount(self) -> None:
        """Focus the list, cursor on the first column that can be toggled."""
        selection_list = self.selection_list
        selection_list.focus()
        selection_list.action_first()

    @on(SelectionList.SelectedChanged)
    def _changed(self, event: SelectionList.SelectedChanged[str]) -> None:
        """Keep the mandatory columns checked (they are disabled, but code could still uncheck them)."""
        selected = set(event.selection_list.selected)
        for title in MANDATORY:
            if title in self.all_titles and title not in selected:
                event.selection_list.select(title)
                self.say(f"{title} is always shown.")
                return
        if self.message == EMPTY_CHOICE and selected:
            self.say("")

    def say(self, message: str) -> None:
        """Show ``message`` (plain text) above the keys."""
        self.message = message
        self.query_one("#columns-message", Static).update(Text(message, style="bold"))

    def action_apply(self) -> None:
        """Close with the chosen titles; an empty choice is refused."""
        titles = chosen_titles(self.all_titles, set(self.selection_list.selected))
        if not titles:
            self.say(EMPTY_CHOICE)
            self.app.bell()
            return
        self.dismiss(titles)

    def action_cancel(self) -> None:
        """Close without changing anything."""
        self.dismiss(None)
