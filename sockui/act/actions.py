"""The real :class:`~sockui.model.actions.Actions`: pidfd signals and netlink SOCK_DESTROY."""

from __future__ import annotations

import signal

import psutil

from sockui.act import destroy as destroy_mod
from sockui.act import signals
from sockui.collect.process import read_cmdline
from sockui.model.actions import Outcome, ProcessChoice
from sockui.model.socket import SocketRecord

#: How long to wait for a process to exit before saying it is still running.
EXIT_WAIT = 2.0


class SystemActions:
    """Acts on this machine. Every method may block: call them from worker threads."""

    def describe(self, pid: int) -> ProcessChoice:
        """Start time, name, user and cmdline of ``pid`` (all made safe to show)."""
        target = signals.read_target(pid)
        if isinstance(target, str):
            return ProcessChoice(pid, None, "", "", "", problem=target)
        try:
            proc = psutil.Process(pid)
            with proc.oneshot():
                user = proc.username()
                cmdline = " ".join(read_cmdline(pid))
        except (psutil.NoSuchProcess, FileNotFoundError, ProcessLookupError):
            return ProcessChoice(pid, None, "", "", "", problem=f"process {pid} has exited")
        except (psutil.Error, OSError):
            user, cmdline = "?", ""
        # Raw text: the dialog makes it safe where it shows it (once: escaping twice doubles backslashes).
        return ProcessChoice(pid, target.start_time, target.name, user, cmdline)

    def kill(self, choice: ProcessChoice, sig: signal.Signals, wait: float = EXIT_WAIT) -> Outcome:
        """Open the process by pidfd, check it is the one chosen, signal it, wait for its exit."""
        handle = signals.open_target(choice.pid, choice.start_time)
        if isinstance(handle, str):
            return Outcome(False, handle)
        with handle:
            problem = signals.send(handle, sig)
            if problem is not None:
                return Outcome(False, problem)
            name = sig.name.removeprefix("SIG")
            took = signals.wait_exit(handle, wait)
        if took is not None:
            return Outcome(
                True, f"process {choice.pid} ({choice.name}) exited {took * 1000:.0f} ms after {name}"
            )
        offer = "sigkill" if sig != signal.SIGKILL else None
        more = "; K sends KILL" if offer else ""
        return Outcome(False, f"process {choice.pid} is still running {wait:.0f} s after {name}{more}", offer)

    def kill_command(self, pids: list[int], sig: signal.Signals) -> str:
        """``kill -TERM 1234``."""
        return signals.shell_command(pids, sig)

    def close_refusal(self, sock: SocketRecord) -> str | None:
        """Why the kernel cannot close ``sock`` from outside, if it cannot."""
        return destroy_mod.cannot_destroy(sock)

    def close(self, sock: SocketRecord) -> Outcome:
        """SOCK_DESTROY by cookie, then a look to see it gone."""
        result = destroy_mod.destroy(sock)
        if result.ok:
            note = f" ({result.note})" if result.note else ""
            return Outcome(True, f"closed{note}")
        return Outcome(False, result.reason or "not closed", "kill" if result.offer_kill else None)

    def close_command(self, sock: SocketRecord) -> str:
        """``ss -K ...``."""
        return destroy_mod.ss_kill_command(sock)
