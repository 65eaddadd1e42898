"""The find line (``ctrl+f``): an expression that moves the cursor between matches, hiding nothing.

Same language as the filter. Enter finds the next match after the cursor and closes the line; the
expression stays, so ``F3`` (``shift+F3``) moves to the next (previous) match afterwards, as in htop.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Input, Static

from sockui.model.filters import Filter, FilterError, parse
from sockui.model.services import NO_SERVICES, ServiceTable
from sockui.widgets.filter_bar import error_text


class FindBar(Vertical):
    """Hidden until ``ctrl+f``."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel", show=False)]

    @dataclass
    class Submitted(Message):
        """Find ``filter`` from the cursor on."""

        filter: Filter

    @dataclass
    class Closed(Message):
        """The line was closed without a search."""

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002 - Textual's parameter name
        super().__init__(id=id)
        self._services = NO_SERVICES

    def compose(self) -> ComposeResult:
        """The input and the error line under it."""
        yield Input(
            placeholder="find: proc nginx, port 5432, 10.0.0.7 …  (Enter finds, F3 next, Esc closes)",
            id="find-input",
            compact=True,
            select_on_focus=False,
        )
        yield Static("", id="find-error", markup=False)

    def open(self, current: Filter | None, services: ServiceTable) -> None:
        """Show the line with the last expression, ready to edit."""
        self._services = services
        self.display = True
        box = self.query_one(Input)
        box.value = current.source if current is not None else ""
        box.cursor_position = len(box.value)
        self.query_one("#find-error", Static).display = False
        self.screen.set_focus(box)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        """Enter: find (a bad expression stays, pointed at)."""
        event.stop()
        error = self.query_one("#find-error", Static)
        try:
            flt = parse(event.value, self._services)
        except FilterError as exc:
            error.update(error_text(exc, event.value))
            error.display = True
            return
        self.display = False
        self.post_message(self.Submitted(flt))

    def action_cancel(self) -> None:
        """Escape: close, nothing searched."""
        self.display = False
        self.post_message(self.Closed())
