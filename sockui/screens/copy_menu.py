"""The copy menu (``c``): what of the selected socket to copy, each entry with its one-key accelerator.

The entries and their texts come from ``model/copytext.py`` (shared with ``y``); an entry that does
not apply (no remote end, a UNIX socket for ``ss -K``...) is shown dimmed with the reason. The owners'
command lines (entry ``p``) are read by a worker when the menu opens. Choosing dismisses with the
label and the text; the app delivers it (OSC 52, tmux, the desktop clipboard) off the UI thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from sockui.model.copytext import CopyItem, copy_items
from sockui.model.process import DetailSource, ProcessInfo
from sockui.model.socket import SocketRecord

#: Characters of a text shown in the menu (the whole text is copied).
PREVIEW = 70
#: The box's width at most (app.tcss ``#copy-box``), and the cells its frame takes from an entry:
#: border and padding of the box, the list's tall border, an entry's padding, a scrollbar.
BOX_WIDTH = 110
BOX_FRAME = 14
#: Owners whose command lines are read for ``p``.
MAX_OWNERS = 8


@dataclass(frozen=True)
class CopyChoice:
    """What was chosen: a label for the notification, and the text itself."""

    label: str
    text: str


class CopyMenuScreen(ModalScreen[CopyChoice | None]):
    """Dismisses with the chosen entry, or None."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,q", "close", "Close")]

    @dataclass
    class ProcessesRead(Message):
        """The owners' details, for the ``p`` entry."""

        processes: tuple[ProcessInfo, ...]

    def __init__(self, sock: SocketRecord, details: DetailSource) -> None:
        super().__init__()
        self.sock = sock
        self._details = details
        self.items = copy_items(sock)

    def compose(self) -> ComposeResult:
        """The entries, each with its key."""
        with Vertical(id="copy-box"):
            yield Static(Text("Copy…", style="bold"), id="copy-title")
            yield OptionList(*self._options(), id="copy-options")
            yield Static(Text("key or enter: copy   esc: close", style="dim"))

    def _options(self) -> list[Option]:
        width = max(len(item.label) for item in self.items)
        # One line per entry, cut with "…" where the box ends: wrapped, the previews and reasons of
        # an 80-column menu ran under the keys of the next entries (OptionList wraps every prompt).
        cells = max(20, min(BOX_WIDTH, self.app.size.width) - BOX_FRAME)
        options = []
        for item in self.items:
            label = self._label(item, width)
            label.truncate(cells, overflow="ellipsis")
            options.append(Option(label, id=item.key, disabled=item.text is None))
        return options

    def on_resize(self) -> None:
        """Cut the entries again to the new width."""
        self._refill()

    @staticmethod
    def _label(item: CopyItem, width: int) -> Text:
        text = Text()
        text.append(f" {item.key} ", style="bold reverse" if item.text is not None else "dim")
        text.append(f" {item.label:<{width}} ", style="bold" if item.text is not None else "dim")
        if item.text is not None:
            first = item.text.splitlines()[0] if item.text else ""
            more = "…" if len(first) > PREVIEW or "\n" in item.text else ""
            text.append(first[:PREVIEW] + more)
        else:
            text.append(item.why_not or "", style="dim italic")
        return text

    def on_mount(self) -> None:
        """Keyboard first; read the owners' command lines meanwhile."""
        options = self.query_one(OptionList)
        options.highlighted = next((i for i, item in enumerate(self.items) if item.text is not None), 0)
        options.focus()
        if self.sock.owners:
            self._read_processes()

    @work(thread=True, exclusive=True, group="copy-owners", exit_on_error=False)
    def _read_processes(self) -> None:
        infos = tuple(self._details.process_info(pid) for pid in self.sock.pids[:MAX_OWNERS])
        self.post_message(self.ProcessesRead(infos))

    @on(ProcessesRead)
    def _processes_read(self, message: ProcessesRead) -> None:
        self.items = copy_items(self.sock, message.processes)
        self._refill()

    def _refill(self) -> None:
        if not self.is_mounted:
            return
        options = self.query_one(OptionList)
        highlighted = options.highlighted
        options.clear_options()
        options.add_options(self._options())
        options.highlighted = highlighted

    def on_key(self, event: events.Key) -> None:
        """An entry's key chooses it at once."""
        item = next((i for i in self.items if i.key == event.character), None)
        if item is not None:
            event.stop()
            self._choose(item)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        """Enter on an entry."""
        event.stop()
        item = next((i for i in self.items if i.key == event.option.id), None)
        if item is not None:
            self._choose(item)

    def _choose(self, item: CopyItem) -> None:
        if item.text is None:
            self.notify(f"{item.label}: {item.why_not}", severity="warning", timeout=3, markup=False)
            return
        self.dismiss(CopyChoice(item.label, item.text))

    def action_close(self) -> None:
        """Nothing chosen."""
        self.dismiss(None)
