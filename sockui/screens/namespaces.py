"""The namespaces view (``n``): every network namespace in use, its label, socket counts and processes.

One row per namespace: sockui's own (``host``) first, then the others by socket count. The counts come
from the snapshot's index (built in the collect worker), so this screen only reads a few dictionaries:
a host has tens or hundreds of namespaces, not thousands. Namespaces that could not be read (no
privilege to enter them) are listed too, with the reason, so a user sees what is missing and why.
Choosing a row dismisses with a clause selecting the namespace; the main screen then filters to it.
Every label, name and reason is untrusted text: cells are ``Text`` made with ``format.safe``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Static

from sockui.model import format as fmt
from sockui.model.filter_parse import Test, parse_tree
from sockui.model.filters import Filter
from sockui.model.netns import HOST, NamespaceInfo
from sockui.model.socket import Binding as SockBinding
from sockui.model.socket import Snapshot
from sockui.screens.narrow import narrowed, netns_clause, shorten

#: Process names shown in a row; the count says how many there are in all.
MAX_NAMES = 4
#: Cells a label or an About text may take: a cgroup or ``ip netns`` name can be 255 bytes, four times
#: that once escaped, and would push every other column off the screen. A label is cut in the
#: middle (its start and its end tell namespaces apart, as in the table), About at its end.
MAX_LABEL_WIDTH = 64
MAX_ABOUT_WIDTH = 120
HINT = "↑↓ move  enter filter the table to this namespace  esc close"
TITLES = ("Namespace", "Inode", "Sockets", "Listen", "Conn", "Bound", "Unbound", "Procs", "About")


@dataclass(frozen=True, slots=True)
class NamespaceRow:
    """What one row says about one namespace."""

    inode: int
    label: str
    counts: Mapping[SockBinding, int]
    #: pid -> process name of the processes holding its sockets.
    processes: Mapping[int, str]
    info: NamespaceInfo | None

    @property
    def total(self) -> int:
        """Sockets listed in this namespace."""
        return sum(self.counts.values())

    def about(self) -> str:
        """Where the label comes from, or why the namespace's sockets are missing (plain, safe text)."""
        info = self.info
        parts: list[str] = []
        if info is not None and info.unread is not None:
            parts.append(f"not shown: {info.unread}")
        if info is not None and info.ip_name and info.ip_name != self.label:
            parts.append(f"ip netns {info.ip_name}")
        if info is not None and info.container and info.container != self.label:
            parts.append(f"container {info.container}")
        names = sorted(set(self.processes.values()))
        if names:
            shown = ", ".join(names[:MAX_NAMES]) + (", …" if len(names) > MAX_NAMES else "")
            parts.append(shown)
        return fmt.safe("; ".join(parts))


def namespace_rows(snapshot: Snapshot) -> list[NamespaceRow]:
    """One row per namespace seen or with sockets: the own one first, then most sockets first."""
    index = snapshot.index
    inodes = set(snapshot.namespaces) | set(index.by_netns)
    rows = []
    for inode in inodes:
        info = snapshot.namespaces.get(inode)
        label = info.label if info is not None else f"net:[{inode}]"
        rows.append(
            NamespaceRow(inode, label, index.by_netns.get(inode, {}), index.netns_pids.get(inode, {}), info)
        )
    rows.sort(key=lambda r: (not (r.info is not None and r.info.own or r.label == HOST), -r.total, r.label))
    return rows


#: What :func:`netns_filter` appends: "(EXPR) and netns X", X one token.
_APPENDED = re.compile(r"^\((?P<base>.*)\) and netns (?:\S+|'(?:[^'\\]|\\.)*')$", re.DOTALL)


def netns_filter(current: Filter, clause: str) -> str:
    """The current expression narrowed to the namespace of ``clause``.

    A filter that is only a namespace test, or that ends in one this view added, has that test
    replaced rather than narrowed: going from one namespace to the next must not show nothing.
    """
    source = current.source
    appended = _APPENDED.match(source)
    if appended is not None:
        source = appended.group("base")
    tree = parse_tree(source) if source.strip() else None
    if tree is None or (isinstance(tree, Test) and tree.field == "netns"):
        return clause
    return narrowed(source, clause)


class NamespacesScreen(ModalScreen[str | None]):
    """Dismisses with the filter clause that selects the namespace chosen, or None."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,n", "close", "Close"),
    ]

    DEFAULT_CSS = """
    NamespacesScreen { align: center middle; }
    #ns-box { width: 96%; height: 90%; border: round $accent; background: $surface; }
    #ns-title { height: 1; padding: 0 1; }
    #ns-table { height: 1fr; }
    #ns-hint { height: 1; padding: 0 1; color: $text-muted; }
    """

    def __init__(self, snapshot: Snapshot) -> None:
        super().__init__()
        self.rows = namespace_rows(snapshot)
        self.unread = sum(1 for r in self.rows if r.info is not None and r.info.unread is not None)

    def compose(self) -> ComposeResult:
        """A title with the counts, the table, a hint line."""
        with Vertical(id="ns-box"):
            title = Text(f"Network namespaces: {len(self.rows)}", style="bold")
            if self.unread:
                title.append(f"  ({self.unread} not shown: see About)", style="yellow")
            yield Static(title, id="ns-title")
            yield DataTable(id="ns-table", cursor_type="row", zebra_stripes=True)
            yield Static(HINT, id="ns-hint", markup=False)

    def on_mount(self) -> None:
        """Fill the table: labels and names as plain Text, numbers right-aligned."""
        table = self.query_one(DataTable)
        for title in TITLES:
            table.add_column(title, key=title)
        for row in self.rows:
            counts = row.counts
            numbers = (
                row.total,
                counts.get(SockBinding.LISTENING, 0),
                counts.get(SockBinding.CONNECTED, 0),
                counts.get(SockBinding.BOUND, 0),
                counts.get(SockBinding.UNBOUND, 0),
                len(row.processes),
            )
            unread = row.info is not None and row.info.unread is not None
            table.add_row(
                Text(
                    shorten(fmt.safe(row.label), MAX_LABEL_WIDTH, middle=True),
                    style="yellow" if unread else "",
                ),
                Text(str(row.inode)),
                *(Text(str(n), justify="right") for n in numbers),
                Text(shorten(row.about(), MAX_ABOUT_WIDTH), style="dim"),
                key=str(row.inode),
            )
        table.focus()

    @on(DataTable.RowSelected)
    def _chosen(self, event: DataTable.RowSelected) -> None:
        for row in self.rows:
            if str(row.inode) == event.row_key.value:
                self.dismiss(netns_clause(row.label, row.inode))
                return

    def action_close(self) -> None:
        """Back to the table, unchanged."""
        self.dismiss(None)
