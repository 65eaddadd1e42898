"""The owners view (``o``): each process holding a socket, and every other socket it holds.

A process's socket list is small, so Textual's DataTable is fine here. Choosing a row closes the view
and moves the main table's cursor to that socket. Cells are ``Text``: names and paths are untrusted.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import DataTable, Static
from textual.worker import get_current_worker

from sockui.model import format as fmt
from sockui.model.columns import local_cell, output_order, proto_label, remote_cell
from sockui.model.process import ProcessInfo
from sockui.model.socket import Snapshot, SocketRecord
from sockui.widgets.columns import fit
from sockui.widgets.detail_panel import process_lines, section

#: Process blocks shown at most (a preforking server can share a listener among hundreds).
MAX_PROCESSES = 16
#: Sockets listed per process (a busy server holds tens of thousands; the table must open at once).
MAX_ROWS = 1000


class OwnersScreen(ModalScreen[int | None]):
    """Dismisses with the key of the chosen socket, or None."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,o", "close", "Close"),
    ]

    @dataclass
    class InfoReady(Message):
        """Process details read by this screen's worker."""

        infos: tuple[ProcessInfo, ...]

    def __init__(
        self, record: SocketRecord, snapshot: Snapshot, load_info: Callable[[int], ProcessInfo]
    ) -> None:
        """``load_info`` reads one process's details (psutil): it runs in this screen's worker."""
        super().__init__()
        self.record = record
        self.snapshot = snapshot
        self.pids = record.pids[:MAX_PROCESSES]
        self._load_info = load_info

    def compose(self) -> ComposeResult:
        """A details block and a socket table per owning process."""
        with Vertical(id="owners-box"):
            title = f"Owners of {proto_label(self.record)} {fmt.endpoint(self.record.local) or '(unbound)'}"
            yield Static(Text(title, style="bold"), id="owners-title")
            for pid in self.pids:
                yield Static(
                    Text(f"pid {pid}: loading…", style="dim"), id=f"owner-info-{pid}", classes="owner-info"
                )
                yield DataTable(id=f"owner-sockets-{pid}", classes="owner-sockets", cursor_type="row")
            yield Static(Text("enter: jump to the socket   esc: close", style="dim"), id="owners-help")

    def on_mount(self) -> None:
        """Fill the socket tables from the snapshot (sorted, sized to the screen); details come later."""
        # Fixed widths, endpoints cut in the middle: one long UNIX path must not push Remote and
        # Fd off the screen.
        # The box's inner width, less the fixed columns and DataTable's one cell of padding on
        # each side of every column (5 columns).
        room = max(40, int(self.app.size.width * 0.9) - 6 - 5 - 8 - 11 - 2 * 5 - 1)
        end_width = max(14, room // 2)
        for pid in self.pids:
            table = self.query_one(f"#owner-sockets-{pid}", DataTable)
            table.add_column("Fd", width=5)
            table.add_column("Proto", width=8)
            table.add_column("State", width=11)
            table.add_column("Local", width=end_width)
            table.add_column("Remote", width=end_width)
            sockets = sorted(self.snapshot.index.sockets_of(pid), key=output_order)
            for sock in sockets[:MAX_ROWS]:
                fds = ",".join(str(o.fd) for o in sock.owners if o.pid == pid)
                table.add_row(
                    Text(fds),
                    Text(proto_label(sock)),
                    Text(fit(sock.state, 11)),
                    Text(fit(local_cell(sock), end_width, cut_middle=True)),
                    Text(fit(remote_cell(sock), end_width, cut_middle=True)),
                    key=str(sock.key),
                )
                if sock.key == self.record.key:
                    table.move_cursor(row=table.row_count - 1)
            more = f", the first {MAX_ROWS} shown" if len(sockets) > MAX_ROWS else ""
            table.border_title = f"{len(sockets)} socket{'s' if len(sockets) != 1 else ''}{more}"
        if self.pids:
            self.query_one(f"#owner-sockets-{self.pids[0]}", DataTable).focus()
        # Started only now that the widgets exist, so the details always have somewhere to go.
        self._load()

    @work(thread=True, exclusive=True, group="owners", exit_on_error=False)
    def _load(self) -> None:
        infos = tuple(self._load_info(pid) for pid in self.pids)
        if not get_current_worker().is_cancelled:
            self.post_message(self.InfoReady(infos))

    @on(InfoReady)
    def _info_ready(self, message: InfoReady) -> None:
        self.show_info(message.infos)

    def show_info(self, infos: tuple[ProcessInfo, ...]) -> None:
        """Show process details (from the worker)."""
        for info in infos:
            if info.pid not in self.pids:
                continue
            fds = ",".join(str(o.fd) for o in self.record.owners if o.pid == info.pid)
            others = len(self.snapshot.index.sockets_of(info.pid)) - 1
            lines = [line for line in process_lines(info, fds, max(0, others)) if line[0] != "sockets"]
            self.query_one(f"#owner-info-{info.pid}", Static).update(section(f"Process {info.pid}", lines))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        """Enter on a socket: close and jump to it."""
        event.stop()
        if event.row_key.value is not None:
            self.dismiss(int(event.row_key.value))

    def action_close(self) -> None:
        """Close without jumping."""
        self.dismiss(None)
