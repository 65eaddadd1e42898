"""What the kill and close dialogs may ask for, as an interface: the screens never touch the system.

The implementation is ``act/actions.py`` (signals through pidfds, SOCK_DESTROY through netlink); the
dialogs receive it, and tests can give them a fake. Outcomes are plain words for the user.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass
from typing import Protocol

from sockui.model.socket import SocketRecord

#: (signal, short name, what it does), in the order the kill dialog offers them; TERM first.
SIGNALS: tuple[tuple[signal.Signals, str, str], ...] = (
    (signal.SIGTERM, "TERM", "ask it to exit; it may clean up first (the usual way)"),
    (signal.SIGINT, "INT", "interrupt it, as Ctrl+C in its terminal would"),
    (signal.SIGHUP, "HUP", "hang up; many daemons reload their configuration instead of exiting"),
    (signal.SIGKILL, "KILL", "end it at once; it cannot clean up or refuse"),
)


@dataclass(frozen=True)
class ProcessChoice:
    """A process as the kill dialog shows it, read when the dialog opened (its start time pins it).

    Strings are raw, as read from the system: whoever shows them makes them safe.
    """

    pid: int
    start_time: float | None
    name: str
    user: str
    cmdline: str
    #: Why it cannot be chosen (exited, not readable), or None.
    problem: str | None = None


@dataclass(frozen=True)
class Outcome:
    """What an action did, in plain words (raw: it may quote a process name; shown escaped)."""

    ok: bool
    message: str
    #: "kill": offer to kill the owner instead (a socket the kernel cannot close); "sigkill": the
    #: process outlived the signal, offer SIGKILL; None: nothing more to offer.
    offer: str | None = None


class Actions(Protocol):
    """Kill an owner, close a socket."""

    def describe(self, pid: int) -> ProcessChoice:
        """Read what the dialog shows about ``pid`` (from a worker: it reads /proc)."""
        ...

    def kill(self, choice: ProcessChoice, sig: signal.Signals, wait: float) -> Outcome:
        """Signal the process chosen (only if it is still that process) and wait up to ``wait`` s."""
        ...

    def kill_command(self, pids: list[int], sig: signal.Signals) -> str:
        """The equivalent shell command (``kill -TERM 1234``)."""
        ...

    def close_refusal(self, sock: SocketRecord) -> str | None:
        """Why ``sock`` cannot be closed from outside at all (before asking), or None."""
        ...

    def close(self, sock: SocketRecord) -> Outcome:
        """Close ``sock`` (SOCK_DESTROY) and say only what was seen afterwards."""
        ...

    def close_command(self, sock: SocketRecord) -> str:
        """The equivalent ``ss -K`` command."""
        ...
