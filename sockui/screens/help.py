"""The ``?`` help screen, generated from the bindings that are active where it was opened.

Nothing is written twice: each key's line comes from its Binding (its description, and the longer
``tooltip`` where there is one), so the help cannot drift from what the keys do, and a key that is
disabled (``check_action``, e.g. under ``--read-only``) is not listed.
"""

from __future__ import annotations

from typing import Any, ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Static

#: (section, keys, what they do).
HelpEntry = tuple[str, str, str]

#: Section titles by where a binding is declared.
_SECTIONS = {"SocketTable": "Move", "MainScreen": "Explore and filter", "SockuiApp": "App"}


def help_entries(screen: Screen[Any]) -> list[HelpEntry]:
    """The active bindings of ``screen``, keys of one action merged (``↑ k``), in declaration order."""
    merged: dict[tuple[int, str], tuple[str, list[str], str]] = {}
    for active in screen.active_bindings.values():
        binding = active.binding
        section = _SECTIONS.get(type(active.node).__name__, type(active.node).__name__)
        key = screen.app.get_key_display(binding)
        what = binding.tooltip or binding.description
        slot = (id(active.node), binding.action)
        if slot in merged:
            merged[slot][1].append(key)
        else:
            merged[slot] = (section, [key], what)
    order = {title: i for i, title in enumerate(_SECTIONS.values())}
    entries = [(section, "  ".join(keys), what) for section, keys, what in merged.values()]
    return sorted(entries, key=lambda e: order.get(e[0], len(order)))


class HelpScreen(ModalScreen[None]):
    """Lists every key; any of escape, q or ? closes it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark", "dismiss", "Close"),
    ]

    def __init__(self, entries: list[HelpEntry]) -> None:
        super().__init__()
        self.entries = entries

    def compose(self) -> ComposeResult:
        """One table per section."""
        with VerticalScroll(id="help-box"):
            yield Static("sockui keys", id="help-title")
            sections: dict[str, Table] = {}
            for section, keys, what in self.entries:
                table = sections.get(section)
                if table is None:
                    table = sections[section] = Table(
                        title=section, title_justify="left", show_header=False, box=None, padding=(0, 2)
                    )
                    table.add_column(style="bold", no_wrap=True)
                    table.add_column()
                table.add_row(Text(keys), Text(what))
            for table in sections.values():
                yield Static(table)
