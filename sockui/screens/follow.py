"""The follow view (``f``): one socket over time — its states, its TCP internals, its throughput.

It stays after the socket closes (saying when, and the last state seen) and keeps its numbers; if the
same 4-tuple comes back, the timeline goes on with a new incarnation. Several sockets can be followed:
``[`` and ``]`` switch between them, ``F`` lists them. The numbers come from the follow poller (four
exact queries a second) through the app, which calls :meth:`FollowScreen.refresh_view`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen, Screen
from textual.widgets import Footer, OptionList, Sparkline, Static
from textual.widgets.option_list import Option

from sockui.model import format as fmt
from sockui.model.follow import FlowId, FollowStore, FollowTimeline
from sockui.model.socket import Proto
from sockui.model.tcpinfo import TcpInfo


def _clock(when: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(when)) + f".{int(when * 1000) % 1000:03d}"


def headline(timeline: FollowTimeline, position: int, count: int) -> Text:
    """``Following tcp a -> b  ESTABLISHED  [1/2]``, or when and how it closed."""
    text = Text("Following ", style="bold")
    text.append(timeline.flow.label(), style="bold")
    text.append("   ")
    if timeline.closed and timeline.closed_at is not None:
        last = f", last state {timeline.state}" if timeline.state else ""
        text.append(f"CLOSED at {_clock(timeline.closed_at)}{last}", style="bold red")
    elif timeline.state:
        text.append(timeline.state, style="bold green")
    else:
        text.append("looking…", style="italic")
    if timeline.incarnation > 1:
        text.append(f"   incarnation {timeline.incarnation}", style="yellow")
    if count > 1:
        text.append(f"   [{position + 1}/{count}]", style="dim")
    if timeline.error:
        text.append(f"\n{fmt.safe(timeline.error)}", style="red")
    return text


def events_text(timeline: FollowTimeline) -> Text:
    """The state timeline, oldest first, each with its time."""
    text = Text()
    for event in timeline.events:
        if text.plain:
            text.append("\n")
        text.append(_clock(event.time), style="dim")
        # Built from safe parts by the model ("owners: 12/name fd 3"): escaped again, every
        # backslash would double.
        text.append("  " + fmt.still_safe(event.text))
    return text or Text("nothing seen yet", style="dim")


def _line(text: Text, label: str, value: str) -> None:
    if text.plain:
        text.append("\n")
    text.append(f"{label:>12} ", style="dim")
    text.append(value)


def _ms(micros: int | None) -> str:
    return "-" if micros is None else f"{micros / 1000:.3f} ms"


def internals_text(timeline: FollowTimeline) -> Text:
    """TCP internals (or the queues of a listener, a UDP or UNIX socket) from the newest look."""
    text = Text()
    last = timeline.last
    if last is None:
        return Text("no numbers yet", style="dim")
    flow = timeline.flow
    if flow.listening and flow.proto is Proto.TCP:
        _line(text, "accept queue", f"{last.recv_q} waiting, backlog {last.send_q}")
        _line(text, "accepted", f"{len(timeline.clients)} while followed")
        return text
    info: TcpInfo | None = timeline.info
    if info is None:
        _line(text, "queues", f"recv {last.recv_q}  send {last.send_q}")
        return text
    if timeline.last_info is not None and timeline.last_info.congestion:
        _line(text, "congestion", fmt.safe(timeline.last_info.congestion))
    _line(text, "rtt", f"{_ms(info.rtt_us)} ± {_ms(info.rttvar_us)}  (min {_ms(info.min_rtt_us)})")
    ssthresh = "∞" if info.snd_ssthresh is not None and info.snd_ssthresh >= 0x7FFFFFFF else info.snd_ssthresh
    _line(text, "cwnd", f"{info.snd_cwnd} × {info.snd_mss} B, ssthresh {ssthresh}")
    _line(text, "retransmits", f"{info.total_retrans} total, {info.retransmits} now")
    sent = info.bytes_sent if info.bytes_sent is not None else info.bytes_acked
    _line(text, "bytes", f"sent {sent}  acked {info.bytes_acked}  received {info.bytes_received}")
    _line(text, "unacked", f"{info.unacked} segments, not sent {info.notsent_bytes} bytes")
    _line(text, "delivery", fmt.human_rate(info.delivery_rate))
    pacing = info.pacing_rate
    _line(text, "pacing", "unlimited" if pacing is not None and pacing >= 2**63 else fmt.human_rate(pacing))
    _line(text, "queues", f"recv {last.recv_q}  send {last.send_q}")
    return text


class FollowScreen(Screen[None]):
    """One followed socket at a time; the table keeps refreshing underneath."""

    #: The table's refreshes go on while this screen is up (owners and new clients come from them).
    LIVE = True

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back", tooltip="back to the table, the cursor where it was"),
        Binding("left_square_bracket", "switch(-1)", "Previous", tooltip="the previous followed socket"),
        Binding("right_square_bracket", "switch(1)", "Next", tooltip="the next followed socket"),
        Binding("u", "unfollow", "Unfollow", tooltip="stop following this socket"),
        Binding("F", "list", "Followed", tooltip="every followed socket"),
    ]

    def __init__(self, store: FollowStore, flow: FlowId) -> None:
        super().__init__()
        self.store = store
        self.flow = flow

    def compose(self) -> ComposeResult:
        """Headline; the timeline on the left; internals and the two sparklines on the right."""
        with Vertical(id="follow-box"):
            yield Static("", id="follow-title", markup=False)
            with Horizontal(id="follow-body"):
                with VerticalScroll(id="follow-events-box"):
                    yield Static("", id="follow-events", markup=False)
                with Vertical(id="follow-right"):
                    yield Static("", id="follow-internals", markup=False)
                    for direction in ("send", "recv"):
                        with Vertical(classes="follow-rate"):
                            yield Static(
                                "", id=f"follow-{direction}-now", classes="follow-rate-now", markup=False
                            )
                            yield Sparkline([0.0], id=f"follow-{direction}", classes="follow-spark")
        yield Footer()

    def on_mount(self) -> None:
        """Draw what is known already."""
        self.refresh_view()

    @property
    def timeline(self) -> FollowTimeline | None:
        """The timeline shown."""
        return self.store.get(self.flow)

    def refresh_view(self) -> None:
        """Redraw from the timeline (after each look)."""
        timeline = self.timeline
        if timeline is None:
            return
        timelines = self.store.timelines
        position = next((i for i, t in enumerate(timelines) if t.flow == self.flow), 0)
        self.query_one("#follow-title", Static).update(headline(timeline, position, len(timelines)))
        events = self.query_one("#follow-events", Static)
        events.update(events_text(timeline))
        self.query_one("#follow-events-box", VerticalScroll).border_title = "timeline"
        self.query_one("#follow-internals", Static).border_title = (
            "TCP internals" if timeline.info is not None else "numbers"
        )
        self.query_one("#follow-events-box", VerticalScroll).scroll_end(animate=False)
        self.query_one("#follow-internals", Static).update(internals_text(timeline))
        flow = timeline.flow
        throughput = flow.proto is Proto.TCP and not flow.listening
        for row in self.query(".follow-rate"):
            row.display = throughput
        sends, recvs = timeline.rates()
        last = timeline.samples[-1] if timeline.samples else None
        for direction, data, now in (
            ("send", sends, last.send_rate if last else None),
            ("recv", recvs, last.recv_rate if last else None),
        ):
            spark = self.query_one(f"#follow-{direction}", Sparkline)
            peak = max(data, default=0.0)
            # A flat series would be drawn as full bars (Sparkline scales min..max): show none.
            spark.display = peak > 0
            spark.data = data or [0.0]
            label = Text(f"{direction:<5}", style="bold")
            label.append(f"{fmt.human_rate(now):>12}", style="bold")
            label.append(f"   peak {fmt.human_rate(peak)} over the last {len(data) / 4:.0f} s", style="dim")
            self.query_one(f"#follow-{direction}-now", Static).update(label)

    def action_back(self) -> None:
        """Back to the table."""
        self.dismiss(None)

    def action_switch(self, step: int) -> None:
        """Show the previous / next followed socket."""
        timelines = self.store.timelines
        if len(timelines) < 2:
            return
        index = next((i for i, t in enumerate(timelines) if t.flow == self.flow), 0)
        self.flow = timelines[(index + step) % len(timelines)].flow
        self.refresh_view()

    def action_unfollow(self) -> None:
        """Stop following this socket (the app stops the poller's look too)."""
        self.dismiss(None)
        self.app.post_message(Unfollow(self.flow))

    def action_list(self) -> None:
        """``F``: every followed socket."""

        def chosen(flow: FlowId | None) -> None:
            if flow is not None:
                self.flow = flow
                self.refresh_view()

        self.app.push_screen(FollowListScreen(self.store), chosen)


class FollowListScreen(ModalScreen[FlowId | None]):
    """``F``: the followed sockets; enter shows one."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,q,F", "close", "Close")]

    def __init__(self, store: FollowStore) -> None:
        super().__init__()
        self.flows = [t.flow for t in store.timelines]
        self.labels = [self._label(t) for t in store.timelines]

    @staticmethod
    def _label(timeline: FollowTimeline) -> Text:
        text = Text(timeline.flow.label())
        state = f"closed ({timeline.state})" if timeline.closed else timeline.state or "…"
        text.append(f"   {state}", style="red" if timeline.closed else "green")
        return text

    def compose(self) -> ComposeResult:
        """The list, or why it is empty."""
        with Vertical(id="follow-list-box"):
            yield Static(Text(f"Followed sockets ({len(self.flows)})", style="bold"), id="follow-list-title")
            if self.flows:
                yield OptionList(*(Option(label, id=str(i)) for i, label in enumerate(self.labels)))
            else:
                yield Static(Text("Nothing followed yet: f on a row follows it.", style="dim"))
            yield Static(Text("enter: show   esc: close", style="dim"))

    def on_mount(self) -> None:
        """Keyboard first."""
        for options in self.query(OptionList):
            options.highlighted = 0
            options.focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        """Enter: show this one."""
        event.stop()
        if event.option.id is not None:
            self.dismiss(self.flows[int(event.option.id)])

    def action_close(self) -> None:
        """Nothing chosen."""
        self.dismiss(None)


@dataclass
class Unfollow(Message):
    """Stop following ``flow`` (posted to the app)."""

    flow: FlowId
