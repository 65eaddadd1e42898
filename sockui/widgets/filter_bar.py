"""The filter expression line: an Input shown by ``/``, applied as you type.

Each pause in typing parses the expression (the same parser as ``--filter``) and, when it is valid,
previews it on the table. Enter keeps it; Escape cancels the edit and puts back the filter that was
active before ``/``; an empty expression clears the filter. A bad expression is pointed at with a
caret under the column and never applied; a doubtful one (``prot 8765``) is applied and the doubt
shown under it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.message import Message
from textual.timer import Timer
from textual.widgets import Input, Static

from sockui.model.filters import Filter, FilterError, parse
from sockui.model.services import NO_SERVICES, ServiceTable

#: Seconds of quiet typing before the expression is previewed (filtering 100k sockets takes a while).
DEBOUNCE = 0.25


class FilterBar(Vertical):
    """Hidden until the user presses ``/``."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "escape", "cancel", "Cancel edit", show=False, tooltip="cancel the edit: the old filter stays"
        ),
    ]

    @dataclass
    class Changed(Message):
        """A valid expression was typed: preview it (not yet kept)."""

        filter: Filter

    @dataclass
    class Applied(Message):
        """The edit ended: ``filter`` is the one to keep (Enter), or the one from before (Escape)."""

        filter: Filter

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002 - Textual's parameter name
        super().__init__(id=id)
        self._services = NO_SERVICES
        self._previous: Filter = parse("")
        self._previewed: Filter | None = None
        self._timer: Timer | None = None

    def compose(self) -> ComposeResult:
        """The input and the error line under it."""
        yield Input(
            placeholder="filter: tcp and port 443, listening, proc nginx …  (Enter keeps, Esc cancels)",
            id="filter-input",
            compact=True,
            # Refining an expression is the common case: typing must add to it, not replace it.
            select_on_focus=False,
        )
        yield Static("", id="filter-error", markup=False)

    @property
    def editing(self) -> bool:
        """True while the bar is open."""
        return bool(self.display)

    def open(self, current: Filter, services: ServiceTable) -> None:
        """Show the bar with the current expression, cursor at its end, ready to refine."""
        self._services = services
        self._previous = current
        self._previewed = None
        self.display = True
        box = self.query_one(Input)
        box.value = current.source
        box.cursor_position = len(current.source)
        self._show_problem(None)
        # Focus now, not via call_later: keys typed (or pasted) right after "/" are already queued
        # and must land in the input, not in the table.
        self.screen.set_focus(box)

    def on_input_changed(self, event: Input.Changed) -> None:
        """Preview once typing pauses."""
        event.stop()
        if not self.editing:
            return
        if self._timer is not None:
            self._timer.stop()
        self._timer = self.set_timer(DEBOUNCE, self._preview)

    def _parse(self, text: str) -> Filter | None:
        try:
            flt = parse(text, self._services)
        except FilterError as exc:
            self._show_problem(error_text(exc, text))
            return None
        self._show_problem(warning_text(flt) if flt.warnings else None)
        return flt

    def _preview(self) -> None:
        if not self.editing:
            return
        flt = self._parse(self.query_one(Input).value)
        if flt is not None and flt != self._previewed:
            self._previewed = flt
            self.post_message(self.Changed(flt))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        """Enter: keep a valid expression and close; a bad one stays, pointed at."""
        event.stop()
        flt = self._parse(event.value)
        if flt is not None:
            self._close(flt)

    def action_cancel(self) -> None:
        """Escape: the edit is dropped and the filter from before ``/`` comes back."""
        self._close(self._previous)

    def _close(self, flt: Filter) -> None:
        if self._timer is not None:
            self._timer.stop()
        self.display = False
        self._show_problem(None)
        self.post_message(self.Applied(flt))

    def _show_problem(self, text: Text | None) -> None:
        error = self.query_one("#filter-error", Static)
        error.update(text or "")
        error.display = text is not None


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


def warning_text(flt: Filter) -> Text:
    """The first doubt about an accepted expression, with a caret under it."""
    warning = flt.warnings[0]
    rendered = FilterError(warning.message, warning.column, warning.length).render(flt.source)
    caret = rendered.splitlines()[2][2:]
    text = Text()
    text.append(caret, style="bold yellow")
    text.append("  " + rendered.splitlines()[0], style="yellow")
    return text
