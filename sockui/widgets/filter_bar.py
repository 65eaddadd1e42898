"""The filter expression line: an Input shown by ``/``, with the error and its caret below it.

Enter parses the expression (the same parser as ``--filter``); a bad one stays in the input with
the problem pointed at, and the previous filter stays in force. Escape clears the filter.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Input, Static

from sockui.model.filters import Filter, FilterError, parse
from sockui.model.services import NO_SERVICES, ServiceTable

PROMPT = "/"


class FilterBar(Vertical):
    """Hidden until the user presses ``/``."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "clear", "Clear filter", show=False)]

    @dataclass
    class Applied(Message):
        """A valid filter was entered (an empty one clears)."""

        filter: Filter

    class Closed(Message):
        """The bar was dismissed; focus should go back to the table."""

    def compose(self) -> ComposeResult:
        """The input and the error line under it."""
        yield Input(
            placeholder="filter: tcp and port 443, listening, proc nginx …  (Enter applies, Esc clears)",
            id="filter-input",
            compact=True,
        )
        yield Static("", id="filter-error", markup=False)

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002 - Textual's parameter name
        super().__init__(id=id)
        self._services = NO_SERVICES

    def open(self, current: str, services: ServiceTable) -> None:
        """Show the bar with the current expression, ready to edit; ``services`` names ports."""
        self._services = services
        self.display = True
        box = self.query_one(Input)
        box.value = current
        box.cursor_position = len(current)
        # Focus now, not via call_later: keys typed (or pasted) right after "/" are already queued
        # and must land in the input, not in the table.
        self.screen.set_focus(box)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        """Parse; on success apply and close, on error point at the column."""
        event.stop()
        error = self.query_one("#filter-error", Static)
        try:
            flt = parse(event.value, self._services)
        except FilterError as exc:
            error.update(error_text(exc, event.value))
            error.display = True
            return
        error.display = False
        self.post_message(self.Applied(flt))
        self.close()

    def on_input_changed(self, event: Input.Changed) -> None:
        """Editing hides a stale error."""
        self.query_one("#filter-error", Static).display = False

    def action_clear(self) -> None:
        """Escape: drop the filter entirely and close."""
        self.query_one(Input).value = ""
        self.query_one("#filter-error", Static).display = False
        self.post_message(self.Applied(parse("", self._services)))
        self.close()

    def close(self) -> None:
        """Hide the bar and hand focus back."""
        self.display = False
        self.post_message(self.Closed())


def error_text(exc: FilterError, expr: str) -> Text:
    """The message and a caret line aligned under the input text (plain Text, never markup)."""
    rendered = exc.render(expr).splitlines()
    message = rendered[0] if rendered else exc.message
    caret = rendered[2][2:] if len(rendered) > 2 else ""
    text = Text()
    # The compact Input draws its text right at the left edge, so the caret needs no extra offset.
    text.append(caret, style="bold red")
    text.append("  " + message, style="red")
    return text
