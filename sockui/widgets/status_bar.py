"""The status lines above the table: what is shown and why, what is hidden and why, how fresh it is.

Laid out for the width it gets, by priority: whatever the width, PAUSED, the active filter and the
shown count come first (the filter cut in the middle if it must be); the rest (hidden owners, other
namespaces, the refresh time, the counts per protocol and binding) fills what room is left. Every part
is built as Text, so nothing here is ever parsed as markup.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from rich.cells import cell_len
from rich.text import Text
from textual.app import RenderResult
from textual.widget import Widget

from sockui.model import coverage
from sockui.model import format as fmt
from sockui.model.socket import Binding, Proto, Snapshot
from sockui.model.view import Counts, ViewState

SEPARATOR = "  "


@dataclass(frozen=True)
class StatusState:
    """Everything the status lines show (set by the main screen)."""

    snapshot: Snapshot | None = None
    counts: Counts | None = None
    view: ViewState | None = None
    paused: bool = False
    error: str | None = None
    #: "filtering…", "sorting…" while a worker derives rows; None when idle.
    busy: str | None = None


class StatusBar(Widget):
    """Two lines, re-laid out for every width."""

    DEFAULT_CSS = """
    StatusBar { height: 2; }
    """

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002 - Textual's parameter name
        super().__init__(id=id)
        self._state = StatusState()

    @property
    def state(self) -> StatusState:
        """What is shown."""
        return self._state

    def show(self, state: StatusState) -> None:
        """Redraw from ``state``."""
        self._state = state
        self.refresh()

    def render(self) -> RenderResult:
        """Both lines, fitted to the current width."""
        return render_status(self._state, max(1, self.content_region.width))

    @property
    def text(self) -> str:
        """The plain text shown at the current width (for tests)."""
        return render_status(self._state, max(1, self.content_region.width)).plain


def _cut_middle(text: str, width: int) -> str:
    """``text`` in at most ``width`` cells, its middle replaced by an ellipsis when too long."""
    if cell_len(text) <= width:
        return text
    if width <= 1:
        return "…"[:width]
    keep = width - 1
    head = text[: (keep + 1) // 2]
    tail = text[len(text) - keep // 2 :] if keep // 2 else ""
    while cell_len(head) + cell_len(tail) > keep and (head or tail):
        head, tail = (head[:-1], tail) if cell_len(head) >= cell_len(tail) else (head, tail[1:])
    return head + "…" + tail


def _fit(pieces: list[tuple[int, Text]], width: int) -> Text:
    """Keep the most important pieces (lowest number) that fit, in their original order."""
    chosen: set[int] = set()
    used = 0
    for index in sorted(range(len(pieces)), key=lambda i: pieces[i][0]):
        extra = cell_len(pieces[index][1].plain) + (cell_len(SEPARATOR) if chosen else 0)
        if used + extra <= width:
            chosen.add(index)
            used += extra
    line = Text(no_wrap=True, overflow="crop")
    for index, (_priority, piece) in enumerate(pieces):
        if index in chosen:
            if line.plain:
                line.append(SEPARATOR)
            line.append_text(piece)
    return line


#: Namespaces named on the counts line (most sockets first); the namespaces view (n) lists them all.
MAX_NETNS_SHOWN = 4


def namespace_counts(snapshot: Snapshot) -> list[tuple[str, int]]:
    """(label, sockets) per network namespace with sockets, most first (few: cheap on the UI thread)."""
    labels = {inode: info.label for inode, info in snapshot.namespaces.items()}
    totals = [
        (labels.get(inode) or f"net:[{inode}]", sum(counts.values()))
        for inode, counts in snapshot.index.by_netns.items()
    ]
    totals.sort(key=lambda item: (-item[1], item[0]))
    return totals


def render_status(state: StatusState, width: int) -> Text:
    """The two status lines (a pure function of the state and the width)."""
    snapshot, counts, view = state.snapshot, state.counts, state.view
    first: list[tuple[int, Text]] = []
    if state.paused:
        first.append((0, Text("PAUSED", style="bold reverse")))
    shown = f"shown {counts.shown}/{counts.total}" if snapshot is not None and counts is not None else ""
    described = view.describe() if view is not None else ""
    if described:
        # Always shown, cut in the middle if the line is too narrow for all of it.
        taken = cell_len("filter ") + (8 if state.paused else 0) + (cell_len(shown) + 2 if shown else 0)
        filt = Text("filter ", style="dim")
        filt.append(_cut_middle(fmt.safe(described), max(1, width - taken)), style="bold")
        first.append((0, filt))
    if snapshot is None or counts is None:
        if state.error:  # the first refresh failed: say why instead of "reading sockets…" for ever
            why = "refresh failed: " + _cut_middle(fmt.safe(state.error), 60)
            first.append((1, Text(why, style="bold red")))
        else:
            first.append((1, Text(state.busy or "reading sockets…", style="italic")))
        return Text("\n").join([_fit(first, width), Text("")])
    first.append((0, Text(shown, style="bold")))
    if state.busy:
        first.append((1, Text(state.busy, style="italic")))
    if state.error:
        first.append((1, Text("refresh failed: " + _cut_middle(fmt.safe(state.error), 60), style="bold red")))
    if snapshot.owners_pending:
        first.append((1, Text("owners loading…", style="italic yellow")))
    if snapshot.hidden_owners:
        reason = coverage.hidden_owners_reason(snapshot)
        first.append((3, Text(f"owners hidden: {snapshot.hidden_owners} ({reason})", style="bold yellow")))
    unread = coverage.unread_namespaces(snapshot)
    if unread or snapshot.other_netns:
        what = f"{len(unread) or 'some'} netns not shown"
        if snapshot.euid != 0:
            what += " (needs root)"
        first.append((4, Text(what, style="yellow")))
    if snapshot.reduced:
        first.append((5, Text("reduced features (psutil)", style="yellow")))
    stamp = time.strftime("%H:%M:%S", time.localtime(snapshot.taken_at))
    first.append((2, Text(f"{stamp} ({snapshot.duration * 1000:.0f} ms)")))

    second: list[tuple[int, Text]] = []
    shown_protos = view.protos if view is not None else frozenset(Proto)
    for rank, proto in enumerate((Proto.TCP, Proto.UDP, Proto.UNIX, Proto.RAW)):
        style = "bold" if proto in shown_protos else "dim strike"
        second.append((rank, Text(f"{proto.value} {counts.by_proto.get(proto, 0)}", style=style)))
    second.append((1, Text("│", style="dim")))
    for rank, binding in enumerate(Binding):
        selected = view is not None and view.binding is binding
        style = "bold reverse" if selected else "bold"
        second.append((rank + 1, Text(f"{binding.value} {counts.by_binding.get(binding, 0)}", style=style)))
    spaces = namespace_counts(snapshot)
    if len(spaces) > 1:
        second.append((5, Text("│", style="dim")))
        second.append((5, Text(f"netns {len(spaces)}:", style="bold")))
        for rank, (label, count) in enumerate(spaces[:MAX_NETNS_SHOWN]):
            second.append((6 + rank, Text(f"{_cut_middle(fmt.safe(label), 16)} {count}")))
    return Text("\n").join([_fit(first, width), _fit(second, width)])
