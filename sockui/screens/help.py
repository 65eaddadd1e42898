"""The ``?`` help screen, generated from the bindings that are active where it was opened.

Nothing is written twice: each key's line comes from its Binding (its description, and the longer
``tooltip`` where there is one), so the help cannot drift from what the keys do, and a key that is
disabled (``check_action``, e.g. under ``--read-only``) is not listed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.dom import DOMNode
from textual.screen import ModalScreen, Screen
from textual.widgets import Static

from sockui.model.filter_help import FILTER_SYNTAX

#: (section, keys, what they do).
HelpEntry = tuple[str, str, str]

#: Section titles by where a binding is declared.
_SECTIONS = {"SocketTable": "Move", "MainScreen": "Explore and filter", "SockuiApp": "App"}


@dataclass
class _Action:
    section: str
    keys: list[str]
    binding: Binding
    node: DOMNode


def _actions(screen: Screen[Any]) -> list[_Action]:
    """The active bindings of ``screen`` by action, keys of one action merged, sections in order."""
    merged: dict[tuple[int, str], _Action] = {}
    for active in screen.active_bindings.values():
        binding = active.binding
        if binding.system:
            continue
        slot = (id(active.node), binding.action)
        key = screen.app.get_key_display(binding)
        if slot in merged:
            merged[slot].keys.append(key)
        else:
            section = _SECTIONS.get(type(active.node).__name__, type(active.node).__name__)
            merged[slot] = _Action(section, [key], binding, active.node)
    order = {title: i for i, title in enumerate(_SECTIONS.values())}
    return sorted(merged.values(), key=lambda a: order.get(a.section, len(order)))


def help_entries(screen: Screen[Any]) -> list[HelpEntry]:
    """(section, keys, what they do) for every active binding of ``screen``."""
    return [
        (a.section, "  ".join(a.keys), a.binding.tooltip or a.binding.description) for a in _actions(screen)
    ]


def help_actions(screen: Screen[Any]) -> list[tuple[str, str, Callable[[], Awaitable[Any]]]]:
    """(name, what it does with its keys, run it) for the command palette."""
    result: list[tuple[str, str, Callable[[], Awaitable[Any]]]] = []
    for action in _actions(screen):
        binding = action.binding
        what = binding.tooltip or binding.description
        run = partial(screen.app.run_action, binding.action, action.node)
        result.append((binding.description or what, f"{what}  ({' '.join(action.keys)})", run))
    return result


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
            syntax = Table(
                title="Filter expressions (/ and --filter)",
                title_justify="left",
                show_header=False,
                box=None,
                padding=(0, 2),
            )
            syntax.add_column(style="bold", no_wrap=True)
            syntax.add_column()
            for form, meaning in FILTER_SYNTAX:
                syntax.add_row(Text(form), Text(meaning))
            yield Static(syntax)
