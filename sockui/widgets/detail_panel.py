"""The detail pane: endpoints, the pair (local peer, a listener's clients), owners, TCP internals.

All text is built as ``rich.text.Text`` from plain strings already made safe by the model, so a
process that calls itself ``[@click=app.quit]`` shows exactly that and clicking it does nothing.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.message import Message
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from sockui.model import describe
from sockui.model import format as fmt
from sockui.model.process import ProcessInfo
from sockui.model.socket import Snapshot, SocketRecord
from sockui.model.tcpinfo import TcpDetails, decode

MAX_CLIENTS = 500
MAX_CMDLINE = 400


def section(title: str, lines: Iterable[describe.Line]) -> Text:
    """A titled block of ``label  value`` lines."""
    text = Text()
    text.append(title, style="bold underline")
    for label, value in lines:
        text.append("\n")
        text.append(f"{label:>9} ", style="dim")
        text.append(value)
    return text


def process_lines(info: ProcessInfo, fd_list: str, others: int) -> list[describe.Line]:
    """Lines for one owning process."""
    lines: list[describe.Line] = [("pid", f"{info.pid}  fd {fd_list}")]
    if info.gone:
        lines.append(("state", "exited since the last refresh"))
        return lines
    if info.name is not None:
        lines.append(("name", fmt.safe(info.name)))
    if info.cmdline is not None:
        cmdline = fmt.safe(" ".join(info.cmdline)) or "(none: kernel thread or zombie)"
        if len(cmdline) > MAX_CMDLINE:
            cmdline = cmdline[: MAX_CMDLINE - 1] + "…"
        lines.append(("cmdline", cmdline))
    if info.user is not None:
        lines.append(("user", fmt.safe(info.user)))
    if info.parents:
        lines.append(("parents", " ← ".join(f"{pid} {fmt.safe(name)}" for pid, name in info.parents)))
    if info.started is not None:
        lines.append(("started", time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(info.started))))
    if info.rss is not None:
        lines.append(("memory", f"{info.rss / 1048576:.1f} MiB RSS"))
    lines.append(("sockets", f"{others} other socket(s) in this process  (o: owners view)"))
    if info.note:
        lines.append(("note", info.note))
    return lines


def tcp_lines(details: TcpDetails) -> list[describe.Line]:
    """TCP internals from an exact query."""
    lines: list[describe.Line] = []
    if details.congestion:
        lines.append(("cong", fmt.safe(details.congestion)))
    if details.tcp_info:
        info = decode(details.tcp_info)
        if info.rtt_us is not None:
            lines.append(("rtt", f"{info.rtt_us / 1000:.3f} ms ± {(info.rttvar_us or 0) / 1000:.3f}"))
        if info.snd_cwnd is not None:
            lines.append(("cwnd", f"{info.snd_cwnd} segments, mss {info.snd_mss}"))
        if info.bytes_sent is not None or info.bytes_received is not None:
            lines.append(
                ("bytes", f"sent {info.bytes_sent}  acked {info.bytes_acked}  received {info.bytes_received}")
            )
        if info.total_retrans is not None:
            lines.append(("retrans", f"{info.total_retrans} total, {info.retransmits} now"))
        if info.delivery_rate is not None:
            lines.append(("delivery", f"{info.delivery_rate * 8 / 1e6:.1f} Mbit/s"))
    return lines


class DetailPanel(VerticalScroll):
    """Shown beside or below the table for the selected socket."""

    @dataclass
    class JumpRequested(Message):
        """The user chose a socket in the clients list: move the table cursor to it."""

        key: int

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002 - Textual's parameter name
        super().__init__(id=id)
        self._record: SocketRecord | None = None
        self._client_keys: list[int] = []

    def compose(self) -> ComposeResult:
        """Sections, top to bottom."""
        yield Static("", id="detail-endpoints", markup=False)
        yield Static("", id="detail-pair", markup=False)
        yield OptionList(id="detail-clients")
        yield Static("", id="detail-owners", markup=False)
        yield Static("", id="detail-tcp", markup=False)

    @property
    def record(self) -> SocketRecord | None:
        """The socket shown."""
        return self._record

    def show(self, sock: SocketRecord | None, snapshot: Snapshot, closed: bool = False) -> None:
        """Show ``sock``; process details and TCP internals follow with :meth:`show_details`."""
        same = self._record is not None and sock is not None and self._record.key == sock.key
        self._record = sock
        if sock is None:
            self.query_one("#detail-endpoints", Static).update(Text("no socket selected", style="dim"))
            for sid in ("#detail-pair", "#detail-owners", "#detail-tcp"):
                self.query_one(sid, Static).update("")
            self.query_one(OptionList).display = False
            return
        endpoints = section("Endpoints", describe.endpoint_lines(sock, snapshot.services))
        if closed:
            endpoints.append("\n")
            endpoints.append("CLOSED: gone since the last refresh (shown until you move)", style="bold red")
        self.query_one("#detail-endpoints", Static).update(endpoints)
        pair = describe.pair(sock, snapshot)
        self.query_one("#detail-pair", Static).update(section("Pair  (p: jump)", pair.lines))
        self._show_clients(pair.clients)
        if not same:
            owners = section("Owners", [("owners", describe.owners_text(sock)), ("", "loading details…")])
            self.query_one("#detail-owners", Static).update(owners)
            self.query_one("#detail-tcp", Static).update("")

    def _show_clients(self, clients: tuple[SocketRecord, ...]) -> None:
        options = self.query_one(OptionList)
        keys = [c.key for c in clients[:MAX_CLIENTS]]
        options.display = bool(keys)
        if keys == self._client_keys:
            return
        self._client_keys = keys
        options.clear_options()
        for client in clients[:MAX_CLIENTS]:
            label = Text(f"{fmt.endpoint(client.remote):<24} {fmt.process_column(client) or '-'}")
            options.add_option(Option(label, id=str(client.key)))

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        """Enter on a client jumps to its row."""
        event.stop()
        if event.option.id is not None:
            self.post_message(self.JumpRequested(int(event.option.id)))

    def show_details(
        self,
        sock: SocketRecord,
        processes: tuple[ProcessInfo, ...],
        tcp: TcpDetails | None,
        snapshot: Snapshot,
        hostname: str | None = None,
    ) -> None:
        """Fill in what the worker fetched (psutil details, tcp_info, reverse DNS) for the shown socket."""
        if self._record is None or self._record.key != sock.key:
            return
        blocks: list[Text] = []
        if hostname:
            blocks.append(section("Remote host", [("name", fmt.safe(hostname))]))
        if not processes:
            lines = [("owners", describe.owners_text(sock))]
            if sock.inode and snapshot.hidden_owners:
                lines.append(("note", "some processes' fd tables are not readable: owners may be hidden"))
            blocks.append(section("Owners", lines))
        for info in processes:
            fds = ",".join(str(o.fd) for o in sock.owners if o.pid == info.pid)
            others = len(snapshot.index.sockets_of(info.pid)) - 1
            blocks.append(section(f"Owner {info.pid}", process_lines(info, fds, max(0, others))))
        self.query_one("#detail-owners", Static).update(Text("\n\n").join(blocks))
        # A listener has no flow to describe: its tcp_info is all zeros.
        lines = tcp_lines(tcp) if tcp is not None and sock.state != "LISTEN" else []
        self.query_one("#detail-tcp", Static).update(section("TCP internals", lines) if lines else "")
