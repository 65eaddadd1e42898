"""The confirm dialogs of the two actions that change the machine: kill the owner (``k``), close (``d``).

Both show exactly what will be hit and the equivalent shell command, start with the focus on
Cancel, confirm with ``y`` (or the button) and cancel with ``n`` or ``esc``. The action runs in a
worker; the dialog then stays open with the outcome in plain words, and offers the next step when
there is one (KILL for a process that outlived TERM, killing the owner of a socket the kernel
cannot close). Everything from the system is shown as Text, never as markup.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, RadioButton, RadioSet, Static

from sockui.model import format as fmt
from sockui.model.actions import SIGNALS, Actions, Outcome, ProcessChoice
from sockui.model.columns import local_cell, proto_label, remote_cell
from sockui.model.socket import SocketRecord

#: Owners offered at most (a preforking server can share a socket among hundreds).
MAX_CHOICES = 8


def _tuple(sock: SocketRecord) -> str:
    """``unix/str /run/x.sock 4242 -> * 4243``: the table's cells, which are escaped already.

    Shown with ``still_safe``: ``safe`` again would double every backslash of a hostile path.
    """
    remote = remote_cell(sock)
    return f"{proto_label(sock)} {local_cell(sock) or '*'}" + (f" -> {remote}" if remote else "")


class _ActionDialog(ModalScreen[str | None]):
    """What both dialogs share: keys, the result line, running the action once."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "confirm", "Yes", tooltip="do it"),
        Binding("n,escape", "cancel", "No", tooltip="cancel"),
    ]

    @dataclass
    class Done(Message):
        """The action's outcome, from the worker."""

        outcome: Outcome

    def __init__(self, actions: Actions) -> None:
        super().__init__()
        self.actions = actions
        self.running = False
        self.outcome: Outcome | None = None

    def compose_buttons(self, verb: str) -> ComposeResult:
        """Cancel first (and focused), then the action; docked at the bottom of the box.

        Docked so that on a short terminal (40x12) what is cut is the description, which scrolls,
        never the two buttons that say which key does what, nor the outcome.
        """
        with Vertical(classes="dialog-foot"):
            with Horizontal(classes="dialog-buttons"):
                yield Button("Cancel (n)", id="cancel", variant="primary")
                yield Button(f"{verb} (y)", id="confirm", variant="error")
            yield Static("", id="dialog-result", markup=False)

    def on_mount(self) -> None:
        """Focus on Cancel: Enter after a mistyped key must not act."""
        self._fit(self.app.size.height)
        self.query_one("#cancel", Button).focus()
        # Focusing scrolls the box; on a short terminal the top (what will be hit) must show first.
        box = self.query_one("#dialog-box")
        self.call_after_refresh(box.scroll_home, animate=False)

    def on_resize(self) -> None:
        """Keep the compact layout in step with the terminal."""
        self._fit(self.app.size.height)

    def _fit(self, height: int) -> None:
        """Below 32 rows, drop the padding and margins: on 12 rows they took half the box."""
        self.set_class(height < 32, "-compact")

    @on(Button.Pressed, "#cancel")
    def _cancel_pressed(self) -> None:
        self.action_cancel()

    @on(Button.Pressed, "#confirm")
    def _confirm_pressed(self) -> None:
        self.action_confirm()

    def action_cancel(self) -> None:
        """Close; after an outcome, this is just "close"."""
        self.dismiss(None)

    def action_confirm(self) -> None:
        """Run the action once (a second ``y`` while it runs, or after, does nothing)."""
        if self.running or self.outcome is not None or not self.ready():
            return
        self.running = True
        self.show_result(Text("working…", style="italic"))
        self.start_work()

    def ready(self) -> bool:
        """Whether there is something to act on."""
        return True

    def start_work(self) -> None:
        """Start the worker."""
        raise NotImplementedError

    @on(Done)
    def _done(self, message: Done) -> None:
        self.running = False
        self.outcome = message.outcome
        outcome = message.outcome
        text = Text(fmt.safe(outcome.message), style="bold green" if outcome.ok else "bold red")
        if outcome.offer == "kill" and self.offers_kill():
            text.append("\nk: kill the owner instead", style="bold yellow")
        self.show_result(text)
        # Done: one way out remains (another "y" would only repeat what was just reported).
        self.query_one("#confirm", Button).display = False
        self.query_one("#cancel", Button).label = "Close (esc)"

    def offers_kill(self) -> bool:
        """Whether ``k`` can kill an owner from this dialog."""
        return False

    def show_result(self, text: Text) -> None:
        """The line under the buttons."""
        self.query_one("#dialog-result", Static).update(text)


class KillScreen(_ActionDialog):
    """``k``: send a signal to a process that holds the socket. Dismisses with None."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("K", "sigkill", "KILL", show=False, tooltip="send KILL after a signal was outlived"),
    ]

    def __init__(self, sock: SocketRecord, actions: Actions) -> None:
        super().__init__(actions)
        self.sock = sock
        self.pids = list(sock.pids[:MAX_CHOICES])
        self.choices: dict[int, ProcessChoice] = {}

    def compose(self) -> ComposeResult:
        """Who, which signal, the shell command, the buttons."""
        with Vertical(id="dialog-box"):
            yield Static(Text("Kill the process holding", style="bold"), id="dialog-title")
            yield Static(Text(fmt.still_safe(_tuple(self.sock))), classes="dialog-what")
            with RadioSet(id="kill-process"):
                for index, pid in enumerate(self.pids):
                    name = next((o.name for o in self.sock.owners if o.pid == pid), "")
                    yield RadioButton(Text(f"{pid} {fmt.safe(name)}  (reading…)"), value=index == 0)
            with RadioSet(id="kill-signal"):
                for index, (_sig, name, meaning) in enumerate(SIGNALS):
                    yield RadioButton(Text(f"{name:<5} {meaning}"), value=index == 0)
            yield Static("", id="kill-command", markup=False)
            yield from self.compose_buttons("Send")

    def on_mount(self) -> None:
        """Read the processes (a worker: /proc), show the command, focus Cancel."""
        super().on_mount()
        self._show_command()
        self._read_processes()

    @work(thread=True, exclusive=True, group="kill-read", exit_on_error=False)
    def _read_processes(self) -> None:
        choices = {pid: self.actions.describe(pid) for pid in self.pids}
        self.app.call_from_thread(self._show_processes, choices)

    def _show_processes(self, choices: dict[int, ProcessChoice]) -> None:
        self.choices = choices
        buttons = list(self.query_one("#kill-process", RadioSet).query(RadioButton))
        for button, pid in zip(buttons, self.pids, strict=False):
            choice = choices[pid]
            if choice.problem:
                button.label = Text(f"{pid}  {fmt.safe(choice.problem)}", style="red")
                button.disabled = True
            else:
                label = Text(f"{pid} {fmt.safe(choice.name)}  user {fmt.safe(choice.user)}  ")
                label.append(fmt.clip(fmt.safe(choice.cmdline), 120), style="dim")
                button.label = label

    @property
    def pid(self) -> int | None:
        """The process chosen."""
        index = self.query_one("#kill-process", RadioSet).pressed_index
        return self.pids[index] if 0 <= index < len(self.pids) else None

    @property
    def chosen_signal(self) -> signal.Signals:
        """The signal chosen."""
        index = self.query_one("#kill-signal", RadioSet).pressed_index
        return SIGNALS[max(0, index)][0]

    @on(RadioSet.Changed)
    def _changed(self) -> None:
        self._show_command()

    def _show_command(self) -> None:
        pid = self.pid
        command = self.actions.kill_command([pid], self.chosen_signal) if pid is not None else ""
        text = Text("same as: ", style="dim")
        text.append(command)
        self.query_one("#kill-command", Static).update(text)
        name = next(n for sig, n, _m in SIGNALS if sig == self.chosen_signal)
        self.query_one("#confirm", Button).label = f"Send {name} (y)"

    def ready(self) -> bool:
        """A readable process is chosen."""
        pid = self.pid
        choice = self.choices.get(pid) if pid is not None else None
        if choice is None:
            self.show_result(
                Text("still reading the process…" if pid else "no process chosen", style="yellow")
            )
            return False
        if choice.problem:
            self.show_result(Text(fmt.safe(choice.problem), style="red"))
            return False
        return True

    def start_work(self) -> None:
        """Signal the chosen process in a worker."""
        pid = self.pid
        assert pid is not None
        self._kill(self.choices[pid], self.chosen_signal)

    @work(thread=True, exclusive=True, group="kill", exit_on_error=False)
    def _kill(self, choice: ProcessChoice, sig: signal.Signals) -> None:
        self.post_message(self.Done(self.actions.kill(choice, sig, 2.0)))

    def action_sigkill(self) -> None:
        """``K`` after a process outlived the signal: KILL it."""
        pid = self.pid
        if self.outcome is None or self.outcome.offer != "sigkill" or self.running or pid is None:
            return
        self.outcome = None
        self.running = True
        self.show_result(Text("sending KILL…", style="italic"))
        self._kill(self.choices[pid], signal.SIGKILL)


class CloseScreen(_ActionDialog):
    """``d``: close the socket as ``ss -K`` does. Dismisses with "kill" to kill the owner instead."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("k", "kill_instead", "Kill owner", show=False, tooltip="kill the owner instead"),
    ]

    def __init__(self, sock: SocketRecord, actions: Actions) -> None:
        super().__init__(actions)
        self.sock = sock
        self.refusal = actions.close_refusal(sock)

    def compose(self) -> ComposeResult:
        """The socket, its owner, the command, the buttons."""
        with Vertical(id="dialog-box"):
            yield Static(Text("Close this socket", style="bold"), id="dialog-title")
            yield Static(Text(fmt.still_safe(_tuple(self.sock))), classes="dialog-what")
            owner = fmt.process_column(self.sock) or "no visible owner"
            yield Static(Text(f"held by {owner}"), classes="dialog-what")
            command = self.actions.close_command(self.sock)
            if command:
                text = Text("same as: ", style="dim")
                text.append(command)
                yield Static(text, id="close-command")
            yield from self.compose_buttons("Close")

    def on_mount(self) -> None:
        """Say at once when the kernel cannot close it."""
        super().on_mount()
        if self.refusal:
            self.query_one("#confirm", Button).disabled = True
            hint = "  (k: kill the owner instead)" if self.sock.owners else ""
            self.show_result(Text(fmt.safe(self.refusal) + hint, style="yellow"))

    def ready(self) -> bool:
        """Not when the kernel cannot do it."""
        return self.refusal is None

    def start_work(self) -> None:
        """SOCK_DESTROY in a worker."""
        self._close()

    @work(thread=True, exclusive=True, group="close", exit_on_error=False)
    def _close(self) -> None:
        self.post_message(self.Done(self.actions.close(self.sock)))

    def offers_kill(self) -> bool:
        """A socket with a visible owner can be dealt with by killing it."""
        return bool(self.sock.owners)

    def action_kill_instead(self) -> None:
        """``k``: the kernel could not close it; kill its owner instead."""
        offered = self.refusal is not None or (self.outcome is not None and self.outcome.offer == "kill")
        if offered and self.sock.owners:
            self.dismiss("kill")
