"""The status lines above the table: counts, active filters, privilege blind spots, refresh cost."""

from __future__ import annotations

import time

from rich.text import Text
from textual.widgets import Static

from sockui.model import format as fmt
from sockui.model.socket import Binding, Proto, Snapshot
from sockui.model.view import Counts, ViewState


class StatusBar(Static):
    """Two short lines; every part is built as Text, so nothing here is ever parsed as markup."""

    def show(
        self,
        snapshot: Snapshot | None,
        counts: Counts | None,
        view: ViewState,
        paused: bool,
        error: str | None,
    ) -> None:
        """Redraw from the current state."""
        self.update(render_status(snapshot, counts, view, paused, error))


def render_status(
    snapshot: Snapshot | None, counts: Counts | None, view: ViewState, paused: bool, error: str | None
) -> Text:
    """The status text (a pure function, so it can be tested without an app)."""
    text = Text(no_wrap=False, overflow="fold")
    if snapshot is None or counts is None:
        text.append("reading sockets…", style="italic")
        return text
    for proto in (Proto.TCP, Proto.UDP, Proto.UNIX, Proto.RAW):
        style = "bold" if proto in view.protos else "dim strike"
        text.append(f"{proto.value} {counts.by_proto.get(proto, 0)}", style=style)
        text.append("  ")
    text.append("│ ", style="dim")
    for binding in Binding:
        style = "bold reverse" if view.binding is binding else "bold"
        text.append(f"{binding.value} {counts.by_binding.get(binding, 0)}", style=style)
        text.append("  ")
    text.append("\n")
    text.append(f"shown {counts.shown}/{counts.total}", style="bold")
    hidden = counts.total - counts.shown
    if hidden:
        text.append(f"  ({hidden} filtered out)")
    described = view.describe()
    if described:
        text.append("  filter ", style="dim")
        text.append(described, style="bold")
    if snapshot.hidden_owners:
        text.append("  │ ", style="dim")
        text.append(f"owners hidden: {snapshot.hidden_owners} (no privilege)", style="bold yellow")
    if snapshot.reduced:
        text.append("  │ reduced features (psutil)", style="yellow")
    text.append("  │ ", style="dim")
    stamp = time.strftime("%H:%M:%S", time.localtime(snapshot.taken_at))
    text.append(f"{stamp} ({snapshot.duration * 1000:.0f} ms)")
    if paused:
        text.append("  PAUSED", style="bold reverse")
    if error:
        text.append("  refresh failed: ", style="bold red")
        text.append(fmt.safe(error))
    return text
