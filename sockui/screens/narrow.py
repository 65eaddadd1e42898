"""The ``=`` menu: narrow the table to what the selected row has (its process, port, remote, path).

Each choice is a filter clause, shown as the expression it adds, so the user learns the language
while using it; choosing one ANDs it with the current expression.
"""

from __future__ import annotations

from typing import ClassVar

from rich.cells import cell_len
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from sockui.model import format as fmt
from sockui.model.socket import InetEndpoint, SocketRecord, UnixEndpoint
from sockui.widgets.columns import fit

#: Cells of a choice's meaning and of its clause at most: a namespace label or a path can be hundreds
#: of characters once escaped, and one choice must not fill the menu. Cut in the middle: both ends tell
#: them apart; choosing still adds the whole clause.
MAX_MEANING_WIDTH = 72
MAX_CLAUSE_WIDTH = 48


def shorten(text: str, width: int, *, middle: bool = False) -> str:
    """``text`` when it fits in ``width`` cells, else cut to exactly that many with an ellipsis."""
    return text if cell_len(text) <= width else fit(text, width, cut_middle=middle)


def quote(word: str) -> str:
    """``word`` as one filter token: bare when it is plain, else single-quoted with escapes."""
    if word and all(c.isalnum() or c in "._-/@:[]*?" for c in word):
        return word
    return "'" + word.replace("\\", "\\\\").replace("'", "\\'") + "'"


def exact(word: str) -> str:
    """A filter word for ``proc`` and ``path`` that matches ``word`` itself, whatever it holds.

    A plain word stays as it is. Names come from the system, though: one with a glob character would
    be read as a pattern (``[@click=quit]x`` as a class of one character, matching ``cx`` but not
    itself), so each of ``*?[`` is put in brackets (``[[]``), which fnmatch reads literally. And a
    filter cannot hold a control character (the parser refuses it; the filter line would show it raw):
    each becomes ``?``, any one character. Such a word is a pattern, matched against the whole name.
    """
    if word.isprintable() and not any(c in word for c in "*?["):
        return word
    return "".join("?" if not c.isprintable() else f"[{c}]" if c in "*?[" else c for c in word)


def netns_clause(label: str, inode: int) -> str:
    """``netns LABEL`` for a plain label; ``netns INODE`` for one a filter cannot spell.

    A label with control characters (a hostile container name) cannot be typed into an expression,
    and ``net:[0]`` stands for sockets whose namespace is unknown (no label at all): the inode names
    both exactly.
    """
    if label and label.isprintable() and label != f"net:[{inode}]":
        return f"netns {quote(label)}"
    return f"netns {inode}"


def narrowing_clauses(sock: SocketRecord) -> list[tuple[str, str]]:
    """(filter clause, what it means) for each thing of ``sock`` a user may narrow to."""
    clauses: list[tuple[str, str]] = []
    for pid in sock.pids[:3]:
        name = next((o.name for o in sock.owners if o.pid == pid), "")
        clauses.append((f"pid {pid}", f"process {pid} {fmt.safe(name)}"))
    if sock.owners:
        name = sock.owners[0].name
        clauses.append((f"proc {quote(exact(name))}", f"every process named {fmt.safe(name)}"))
    if isinstance(sock.local, InetEndpoint):
        clauses.append((f"port {sock.local.port}", f"port {sock.local.port}, either end"))
    if isinstance(sock.remote, InetEndpoint):
        clauses.append((f"dst {sock.remote.address}", f"remote address {sock.remote.address}"))
    for end in (sock.local, sock.remote):
        if isinstance(end, UnixEndpoint) and end.path is not None:
            clauses.append((f"path {quote(exact(end.path))}", f"UNIX path {fmt.safe(end.path)}"))
    if sock.netns_label:
        label = fmt.safe(sock.netns_label)
        clauses.append((netns_clause(sock.netns_label, sock.netns), f"network namespace {label}"))
    clauses.append((f"state {sock.state.lower().replace('_', '-')}", f"state {sock.state}"))
    return list(dict.fromkeys(clauses))


def narrowed(expression: str, clause: str) -> str:
    """The expression with ``clause`` ANDed on."""
    if not expression.strip():
        return clause
    return f"({expression}) and {clause}"


class NarrowScreen(ModalScreen[str | None]):
    """Dismisses with the filter clause chosen, or None."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,q,equals_sign", "close", "Close")]

    def __init__(self, sock: SocketRecord) -> None:
        super().__init__()
        self.clauses = narrowing_clauses(sock)

    def compose(self) -> ComposeResult:
        """The choices, each showing the clause it adds."""
        with Vertical(id="narrow-box"):
            yield Static(Text("Narrow the table to this row's…", style="bold"), id="narrow-title")
            options = []
            for index, (clause, meaning) in enumerate(self.clauses):
                label = Text(shorten(meaning, MAX_MEANING_WIDTH, middle=True))
                # The clause as it will read in the filter (exact() left no control character in it;
                # still_safe, not safe, so that its backslashes are not doubled on screen).
                shown = shorten(fmt.still_safe(clause), MAX_CLAUSE_WIDTH, middle=True)
                label.append(f"   {shown}", style="dim")
                options.append(Option(label, id=str(index)))
            yield OptionList(*options, id="narrow-options")
            yield Static(Text("enter: add to the filter   esc: close", style="dim"))

    def on_mount(self) -> None:
        """Keyboard first: the list has focus, its first choice highlighted."""
        options = self.query_one(OptionList)
        options.highlighted = 0
        options.focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        """Enter: this clause."""
        event.stop()
        if event.option.id is not None:
            self.dismiss(self.clauses[int(event.option.id)][0])

    def action_close(self) -> None:
        """Nothing chosen."""
        self.dismiss(None)
