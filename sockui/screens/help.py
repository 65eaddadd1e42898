"""The ``?`` help screen: every key, grouped."""

from __future__ import annotations

from typing import ClassVar

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

KEYS: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    (
        "Filter",
        (
            ("/", "filter expression (Enter applies, Esc clears); e.g. tcp and port 443"),
            ("esc", "clear the filter expression"),
            ("b", "cycle binding filter: all → listening → connected → bound → unbound"),
            ("t  u  x", "show/hide TCP, UDP, UNIX"),
            ("s  r", "sort by the next column / reverse (or click a column title)"),
        ),
    ),
    (
        "Explore",
        (
            ("↑ ↓ PgUp PgDn Home End", "move (also j k g G)"),
            ("enter", "show/hide the detail pane"),
            ("p", "jump to the pair (the other end on this host); again to come back"),
            ("o", "owners view: the processes holding the socket and their other sockets"),
            ("tab", "move focus (e.g. into a listener's client list; enter jumps)"),
        ),
    ),
    (
        "App",
        (
            ("space", "pause / resume live updates"),
            ("?", "this help"),
            ("q", "quit"),
        ),
    ),
)


class HelpScreen(ModalScreen[None]):
    """Lists every key; any of escape, q or ? closes it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark", "dismiss", "Close"),
    ]

    def compose(self) -> ComposeResult:
        """One table per group."""
        with VerticalScroll(id="help-box"):
            yield Static("sockui keys", id="help-title")
            for title, keys in KEYS:
                table = Table(title=title, title_justify="left", show_header=False, box=None, padding=(0, 2))
                table.add_column(style="bold")
                table.add_column()
                for key, what in keys:
                    table.add_row(key, what)
                yield Static(table)
