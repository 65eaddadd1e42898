"""The detail pane: endpoints, the pair (local peer, a listener's clients), owners, TCP internals.

All text is built as ``rich.text.Text`` from plain strings already made safe by the model, so a
process that calls itself ``[@click=app.quit]`` shows exactly that and clicking it does nothing.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.message import Message
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option
from textual.worker import get_current_worker

from sockui.model import coverage, describe
from sockui.model import format as fmt
from sockui.model.process import DetailSource, ProcessInfo
from sockui.model.socket import InetEndpoint, Snapshot, SocketRecord
from sockui.model.tcpinfo import TcpDetails, decode

MAX_CLIENTS = 500
#: Process details for at most this many owners of one socket (a forking server can have hundreds).
MAX_DETAILED_OWNERS = 8
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
        cmdline = fmt.clip(fmt.safe(" ".join(info.cmdline)), MAX_CMDLINE) or "(none: kernel thread or zombie)"
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
    """Shown beside or below the table for the selected socket.

    It owns the fetching of what the snapshot does not carry (process details, tcp_info, reverse
    DNS): a worker asks the injected :class:`DetailSource` and posts the answer back here.
    """

    @dataclass
    class JumpRequested(Message):
        """The user chose a socket in the pane's list (a client, the listener): go to its row."""

        key: int

    @dataclass
    class DetailsReady(Message):
        """What the worker fetched for the socket ``key``."""

        key: int
        processes: tuple[ProcessInfo, ...]
        tcp: TcpDetails | None
        hostname: str | None = None

        def can_replace(self, message: Message) -> bool:
            """Details of an older selection are worthless once newer ones arrive."""
            return isinstance(message, DetailPanel.DetailsReady)

    def __init__(self, details: DetailSource, *, id: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id)
        self._details = details
        self._record: SocketRecord | None = None
        self._snapshot: Snapshot | None = None
        self._link_keys: list[int] = []

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
        """Show ``sock`` from ``snapshot``; a worker fetches the rest when the socket is a new one."""
        same = self._record is not None and sock is not None and self._record.key == sock.key
        self._record = sock
        self._snapshot = snapshot
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
        links = list(pair.clients[:MAX_CLIENTS])
        if pair.listener is not None:
            links.insert(0, pair.listener)
        self._show_links(links, pair.listener)
        if not same:
            owners = section("Owners", [("owners", describe.owners_text(sock)), ("", "loading details…")])
            self.query_one("#detail-owners", Static).update(owners)
            self.query_one("#detail-tcp", Static).update("")
            self._load(sock)

    def _show_links(self, links: list[SocketRecord], listener: SocketRecord | None) -> None:
        """The sockets one can jump to from here: the listener that accepted it, or its clients."""
        options = self.query_one(OptionList)
        keys = [s.key for s in links]
        options.display = bool(keys)
        if keys == self._link_keys:
            return
        self._link_keys = keys
        options.clear_options()
        for sock in links:
            if sock is listener:
                label = Text("accepted by ", style="dim")
                label.append(f"{fmt.endpoint(sock.local)}  {fmt.process_column(sock) or '-'}")
            else:
                label = Text(f"{fmt.endpoint(sock.remote):<24} {fmt.process_column(sock) or '-'}")
            options.add_option(Option(label, id=str(sock.key)))
        options.highlighted = 0  # the first Tab into the list shows where the focus is

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        """Enter on a listed socket jumps to its row."""
        event.stop()
        if event.option.id is not None:
            self.post_message(self.JumpRequested(int(event.option.id)))

    @work(thread=True, exclusive=True, group="details", exit_on_error=False)
    def _load(self, record: SocketRecord) -> None:
        worker = get_current_worker()
        source = self._details
        infos = tuple(source.process_info(pid) for pid in record.pids[:MAX_DETAILED_OWNERS])
        tcp = source.tcp_details(record)
        remote = record.remote
        hostname = source.hostname(remote.address) if isinstance(remote, InetEndpoint) else None
        if not worker.is_cancelled:
            self.post_message(self.DetailsReady(record.key, infos, tcp, hostname))

    @on(DetailsReady)
    def _details_ready(self, message: DetailsReady) -> None:
        message.stop()
        sock, snapshot = self._record, self._snapshot
        if sock is None or snapshot is None or sock.key != message.key:
            return
        blocks: list[Text] = []
        if message.hostname:
            blocks.append(section("Remote host", [("name", fmt.safe(message.hostname))]))
        if not message.processes:
            lines = [("owners", describe.owners_text(sock))]
            if sock.inode and snapshot.hidden_owners:
                reason = coverage.hidden_owners_reason(snapshot)
                lines.append(
                    ("note", f"some processes' fd tables are not readable ({reason}): owners may be hidden")
                )
            blocks.append(section("Owners", lines))
        for info in message.processes:
            fds = ",".join(str(o.fd) for o in sock.owners if o.pid == info.pid)
            others = len(snapshot.index.sockets_of(info.pid)) - 1
            blocks.append(section(f"Owner {info.pid}", process_lines(info, fds, max(0, others))))
        self.query_one("#detail-owners", Static).update(Text("\n\n").join(blocks))
        # A listener has no flow to describe: its tcp_info is all zeros.
        tcp = message.tcp
        lines = tcp_lines(tcp) if tcp is not None and sock.state != "LISTEN" else []
        self.query_one("#detail-tcp", Static).update(section("TCP internals", lines) if lines else "")
