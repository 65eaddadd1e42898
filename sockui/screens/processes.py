"""The group-by-process view (``g``): every process that holds sockets, with its counts per binding state.

Counting is proportional to the snapshot (100k sockets, thousands of processes), so :func:`group_by_process`
runs in this screen's worker and the screen says "counting…" until the counts arrive. A process's sockets
become tree leaves only when its node is expanded, at most :data:`MAX_LEAVES` of them. Choosing a socket
closes the view and the main table's cursor goes to it. Labels are ``Text`` built from
:func:`~sockui.model.format.safe` strings, never markup: process and user names are untrusted.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import chain
from operator import attrgetter
from typing import ClassVar, Self

from rich.cells import cell_len
from rich.text import Span, Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Static, Tree
from textual.widgets.tree import NodeID, TreeNode
from textual.worker import Worker, WorkerState, get_current_worker

from sockui.model import coverage
from sockui.model import format as fmt
from sockui.model.columns import endpoint_order, proto_label
from sockui.model.socket import Binding as SockBinding
from sockui.model.socket import Snapshot, SocketRecord
from sockui.widgets.columns import fit

#: Socket leaves listed under one process at most; a "… N more" leaf says how many are left out.
MAX_LEAVES = 500
#: Process nodes added at a time; a "… N more processes" node adds the next batch when chosen.
MAX_PROCESS_NODES = 1000
#: Label columns are at most this wide; a longer name is cut with an ellipsis (one odd name must not
#: push every line right, nor leave its own line out of step with the others).
MAX_NAME_WIDTH = 24
#: A user name has at most 32 characters (useradd), plus the brackets: only an escaped one is cut.
MAX_USER_WIDTH = 34
MAX_LOCAL_WIDTH = 44
#: Binding states in label order, and their rank when sorting a process's sockets.
STATES: tuple[SockBinding, ...] = tuple(SockBinding)
_RANK = {state: i for i, state in enumerate(STATES)}
OWNERLESS_LABEL = "(no visible owner)"
COUNTING = "counting…"
HINT = "↑↓ move  enter/space expand or choose  ← collapse  → expand  esc close"


@dataclass(frozen=True, slots=True)
class ProcessGroup:
    """The sockets of one process (``pid`` None: of no visible process) and their counts per state."""

    pid: int | None
    #: Process name, already made safe ('' for the ownerless group).
    name: str
    #: The user most of its sockets belong to, made safe ('' when unknown).
    user: str
    #: Sockets per binding state, in :data:`STATES` order.
    counts: tuple[int, ...]
    #: Listening first, then connected, bound, unbound (each in snapshot order).
    sockets: tuple[SocketRecord, ...]

    @property
    def total(self) -> int:
        """How many sockets the process holds."""
        return len(self.sockets)


@dataclass(frozen=True, slots=True)
class Grouping:
    """What the view shows: the processes (most sockets first, then by pid) and the ownerless group."""

    groups: tuple[ProcessGroup, ...]
    ownerless: ProcessGroup
    #: One aligned label per group of :attr:`groups`, then one for :attr:`ownerless`.
    labels: tuple[Text, ...]


@dataclass(frozen=True, slots=True)
class MoreLeaf:
    """The data of the "… N more" leaf that ends a capped list."""

    group: ProcessGroup


@dataclass(frozen=True, slots=True)
class MoreProcesses:
    """The data of the "… N more processes" node: choosing it adds the next batch from ``start``."""

    start: int


NodeData = ProcessGroup | SocketRecord | MoreLeaf | MoreProcesses


def socket_order(sock: SocketRecord) -> tuple[object, ...]:
    """Listening first, then connected, bound, unbound; by local then remote endpoint within a state."""
    return (_RANK.get(sock.binding, 9), endpoint_order(sock.local), endpoint_order(sock.remote), sock.key)


def _make_group(
    pid: int | None, name: str, sockets: Iterable[SocketRecord], users: Mapping[int, str]
) -> ProcessGroup:
    by_state: list[list[SocketRecord]] = [[] for _ in STATES]
    for sock in sockets:
        by_state[_RANK.get(sock.binding, len(STATES) - 1)].append(sock)
    ordered = tuple(chain.from_iterable(by_state))
    user = ""
    if pid is not None and ordered:
        uid = Counter(map(attrgetter("uid"), ordered)).most_common(1)[0][0]
        if uid is not None:
            user = fmt.safe(users[uid]) if uid in users else str(uid)
    return ProcessGroup(pid, name, user, tuple(len(s) for s in by_state), ordered)


def group_by_process(snapshot: Snapshot) -> Grouping:
    """Group ``snapshot``'s sockets by owning process, count them and build the labels.

    Proportional to the snapshot (and builds its index if nobody has yet): call it in a worker thread.
    A socket held by several processes counts under each of them. Within a group, sockets are only
    partitioned by state here (sorting 100k of them would hold the GIL for a second); the few shown
    when a node is expanded are sorted then.
    """
    groups: list[ProcessGroup] = []
    for pid, sockets in snapshot.index.by_pid.items():
        name = next((o.name for o in sockets[0].owners if o.pid == pid), "")
        groups.append(_make_group(pid, fmt.safe(name), sockets, snapshot.users))
    groups.sort(key=lambda g: (-g.total, g.pid))
    ownerless = _make_group(None, "", (s for s in snapshot.sockets if not s.owners), snapshot.users)
    return Grouping(tuple(groups), ownerless, _labels([*groups, ownerless]))


class _Line:
    """Builds one label: plain text plus style spans (``Text.append`` is ten times slower)."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.spans: list[Span] = []
        self.length = 0

    def add(self, text: str, style: str = "", width: int = 0) -> None:
        """Append ``text`` (already safe), styled, padded with spaces to ``width`` cells."""
        if style and text:
            self.spans.append(Span(self.length, self.length + len(text), style))
        pad = width - cell_len(text) if width else 0
        if pad > 0:
            text += " " * pad
        self.parts.append(text)
        self.length += len(text)

    def text(self) -> Text:
        """The finished label."""
        return Text("".join(self.parts), spans=self.spans, no_wrap=True, end="")


def _labels(groups: Sequence[ProcessGroup]) -> tuple[Text, ...]:
    processes = [g for g in groups if g.pid is not None]
    pid_w = max((len(str(g.pid)) for g in processes), default=1)
    name_w = min(MAX_NAME_WIDTH, max((cell_len(g.name) for g in processes), default=0))
    if any(g.pid is None and g.total for g in groups):
        name_w = max(name_w, cell_len(OWNERLESS_LABEL) - pid_w - 1)
    user_w = min(MAX_USER_WIDTH, max((cell_len(g.user) + 2 for g in processes if g.user), default=0))
    count_w = len(str(max((max(g.counts) for g in groups), default=0)))
    return tuple(_label(g, pid_w, name_w, user_w, count_w) for g in groups)


def _label(group: ProcessGroup, pid_w: int, name_w: int, user_w: int, count_w: int) -> Text:
    line = _Line()
    if group.pid is None:
        line.add(OWNERLESS_LABEL, "italic", pid_w + 1 + name_w)
    else:
        line.add(str(group.pid).rjust(pid_w), "bold")
        line.add(" ")
        line.add(fit(group.name, name_w), width=name_w)
    line.add("  ")
    line.add(f"({fit(group.user, user_w - 2).rstrip()})" if group.user else "", "dim", user_w)
    for state, count in zip(STATES, group.counts, strict=True):
        line.add(f"  {state.value} ")
        line.add(str(count).rjust(count_w), "dim" if count == 0 else "")
    line.add(f"  = {group.total}", "bold")
    return line.text()


def leaf_labels(group: ProcessGroup, sockets: Sequence[SocketRecord]) -> list[Text]:
    """One aligned line per socket: protocol, state, local, remote (and the process's fds)."""
    locals_ = [fmt.endpoint(s.local) or "-" for s in sockets]
    local_w = min(MAX_LOCAL_WIDTH, max((cell_len(lo) for lo in locals_), default=0))
    labels = []
    for sock, local in zip(sockets, locals_, strict=True):
        line = _Line()
        line.add(proto_label(sock), width=9)
        line.add(fmt.safe(sock.state), width=12)
        # Cut in the middle, as the table does: a path's end tells sockets apart.
        line.add(fit(local, local_w, cut_middle=True), width=local_w)
        remote = fmt.endpoint(sock.remote)
        if remote:
            line.add(f"  → {remote}")
        if group.pid is not None:
            line.add("  fd " + ",".join(str(o.fd) for o in sock.owners if o.pid == group.pid), "dim")
        labels.append(line.text())
    return labels


class ProcessTree(Tree[NodeData]):
    """A Tree whose labels are never parsed as markup, with ← and → to collapse and expand."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("left", "collapse_or_parent", "Collapse", show=False),
        Binding("right", "expand_or_child", "Expand", show=False),
    ]

    def __init__(self, label: str, *, id: str | None = None) -> None:
        super().__init__(label, id=id)
        self._widths: dict[NodeID, int] = {}

    def process_label(self, label: str | Text) -> Text:
        """Plain ``Text`` as it is (Tree would parse a ``str`` as markup; labels here are one line)."""
        return Text(label) if isinstance(label, str) else label

    def get_label_width(self, node: TreeNode[NodeData]) -> int:
        """Width from the label alone, once per node: Tree renders every label on every expand."""
        width = self._widths.get(node.id)
        if width is None:
            icon = cell_len(self.ICON_NODE) if node.allow_expand else 0
            width = self._widths[node.id] = self.process_label(node.label).cell_len + icon
        return width

    def clear(self) -> Self:
        """Remove every node (node ids start again from 0, so forget their widths)."""
        self._widths.clear()
        return super().clear()

    def action_collapse_or_parent(self) -> None:
        """Collapse the node under the cursor, or go up to its parent."""
        node = self.cursor_node
        if node is None:
            return
        if node.allow_expand and node.is_expanded:
            node.collapse()
        elif node.parent is not None and not node.parent.is_root:
            self.move_cursor(node.parent)

    def action_expand_or_child(self) -> None:
        """Expand the node under the cursor, or go down to its first child."""
        node = self.cursor_node
        if node is None or not node.allow_expand:
            return
        if node.is_collapsed:
            node.expand()
        elif node.children:
            self.move_cursor(node.children[0])


class ProcessesScreen(ModalScreen[int | None]):
    """Dismisses with the key of the chosen socket, or None."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,g", "close", "Close"),
    ]

    DEFAULT_CSS = """
    #processes-title, #processes-help { height: auto; }
    #processes-tree { height: 1fr; }
    """

    @dataclass
    class Counted(Message):
        """The grouping computed by this screen's worker."""

        grouping: Grouping

    def __init__(self, snapshot: Snapshot) -> None:
        """Shows ``snapshot`` as it is: the view does not follow later refreshes."""
        super().__init__()
        self.snapshot = snapshot
        #: Set when the counts arrive from the worker.
        self.grouping: Grouping | None = None

    def compose(self) -> ComposeResult:
        """A title line, the tree of processes and a line of keys."""
        with Vertical(id="processes-box"):
            yield Static(self._title(), id="processes-title")
            tree = ProcessTree("processes", id="processes-tree")
            tree.show_root = False
            yield tree
            yield Static(Text(HINT, style="dim"), id="processes-help")

    @property
    def process_tree(self) -> ProcessTree:
        """The tree of processes."""
        return self.query_one("#processes-tree", ProcessTree)

    def on_mount(self) -> None:
        """Focus the tree and start counting."""
        self.process_tree.focus()
        self._count()

    @work(thread=True, exclusive=True, group="processes", exit_on_error=False)
    def _count(self) -> None:
        grouping = group_by_process(self.snapshot)
        if not get_current_worker().is_cancelled:
            self.post_message(self.Counted(grouping))

    @on(Counted)
    def _counted(self, message: Counted) -> None:
        self.grouping = grouping = message.grouping
        self.query_one("#processes-title", Static).update(self._title())
        tree = self.process_tree
        tree.clear()
        self._add_processes(0)
        if grouping.ownerless.total:
            tree.root.add(grouping.labels[-1], data=grouping.ownerless)
        tree.cursor_line = 0

    def _add_processes(self, start: int, at: int | None = None) -> None:
        """Add the nodes of processes ``start`` to ``start + MAX_PROCESS_NODES``, then a "more" node.

        Each node added to a mounted Tree costs ~50 µs, and every expand re-lays out every line: a
        host with thousands of processes would make each key slow, hence batches.
        """
        assert self.grouping is not None
        groups = self.grouping.groups
        root = self.process_tree.root
        end = min(len(groups), start + MAX_PROCESS_NODES)
        for i, (group, label) in enumerate(
            zip(groups[start:end], self.grouping.labels[start:end], strict=True)
        ):
            root.add(label, data=group, before=None if at is None else at + i)
        if end < len(groups):
            rest = sum(g.total for g in groups[end:])
            label = Text(
                f"… {len(groups) - end} more processes, {rest} sockets (enter: show more)", style="dim"
            )
            root.add(
                label,
                data=MoreProcesses(end),
                before=None if at is None else at + end - start,
                allow_expand=False,
            )

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """A failed count is said in the title rather than leaving "counting…" up forever."""
        if event.worker.group.startswith("processes") and event.state is WorkerState.ERROR:
            error = fmt.safe(str(event.worker.error))
            self.query_one("#processes-title", Static).update(Text(f"Processes: failed: {error}"))

    def _title(self) -> Text:
        sockets = len(self.snapshot.sockets)
        when = time.strftime("%H:%M:%S", time.localtime(self.snapshot.taken_at))
        parts = [f"{sockets} sockets", f"as of {when}"]
        if self.grouping is None:
            parts.insert(0, COUNTING)
        else:
            parts.insert(0, f"{len(self.grouping.groups)} processes")
            if self.grouping.ownerless.total:
                parts.insert(2, f"{self.grouping.ownerless.total} with no visible owner")
        title = Text("Processes", style="bold")
        title.append(" · " + " · ".join(parts))
        if self.snapshot.hidden_owners:
            reason = coverage.hidden_owners_reason(self.snapshot)
            title.append(f"  (owners of {self.snapshot.hidden_owners} may be hidden: {reason})", style="dim")
        return title

    @on(Tree.NodeExpanded)
    def _expanded(self, event: Tree.NodeExpanded[NodeData]) -> None:
        """Add a process's socket leaves the first time it is expanded (at most MAX_LEAVES, sorted)."""
        node = event.node
        group = node.data
        if not isinstance(group, ProcessGroup) or node.children:
            return
        shown = sorted(group.sockets[:MAX_LEAVES], key=socket_order)
        for sock, label in zip(shown, leaf_labels(group, shown), strict=True):
            node.add_leaf(label, data=sock)
        if group.total > len(shown):
            more = Text(f"… {group.total - len(shown)} more", style="dim")
            if group.pid is not None:
                more.append(f" (filter 'pid {group.pid}' in the main view to see them all)", style="dim")
            node.add_leaf(more, data=MoreLeaf(group))

    @on(Tree.NodeSelected)
    def _selected(self, event: Tree.NodeSelected[NodeData]) -> None:
        """Enter on a socket: close and jump to it (on a process, the tree toggles it)."""
        node = event.node
        data = node.data
        if isinstance(data, SocketRecord):
            event.stop()
            self.dismiss(data.key)
        elif isinstance(data, MoreProcesses):
            event.stop()
            at = node.siblings.index(node)
            node.remove()
            self._add_processes(data.start, at)

    def action_close(self) -> None:
        """Close without jumping."""
        self.dismiss(None)
