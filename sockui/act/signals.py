"""Signal a socket's owner without ever hitting another process that reused its pid.

A pid names a process only until it exits; the kernel then gives the number to the next process
created. So sockui never signals a pid: it opens a pidfd (a handle on one process, never on its
successor), then checks through /proc that the process behind the pid still has the start time the
user saw, and that the pidfd's process is still alive at that moment. Both hold only if the pidfd
names the process the user chose; every signal goes through that pidfd.

Typical use (in a worker thread: :func:`wait_exit` blocks)::

    handle = open_target(target.pid, target.start_time)
    if isinstance(handle, str):
        return handle  # plain words for the user
    with handle:
        error = send(handle, signal.SIGTERM)
        waited = wait_exit(handle, 2.0) if error is None else None
"""

from __future__ import annotations

import errno
import os
import pwd
import select
import shlex
import signal
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

import psutil

from sockui.model.actions import SIGNALS as OFFERED

__all__ = [
    "SIGNALS",
    "START_TIME_PRECISION",
    "ProcessHandle",
    "SignalChoice",
    "Target",
    "open_target",
    "read_target",
    "send",
    "shell_command",
    "wait_exit",
]

#: psutil's create_time is /proc/PID/stat's start time in clock ticks: two readings of one process
#: agree exactly, and a different process differs by at least one tick. Half a tick absorbs float
#: rounding. (create_time adds the boot time, which moves when the wall clock is stepped: a refusal
#: after such a step is possible, and safe.)
START_TIME_PRECISION = 0.5 / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Target:
    """A process as the user saw and chose it, taken when the dialog opened."""

    pid: int
    #: psutil's create_time (seconds since the epoch).
    start_time: float
    name: str


class SignalChoice(NamedTuple):
    """One signal the kill dialog offers, with what it means in one line."""

    signal: signal.Signals
    meaning: str

    @property
    def name(self) -> str:
        """The short name the shell uses (``TERM``)."""
        return self.signal.name.removeprefix("SIG")


#: The signals offered, in order; the first is the default (defined once, in the model).
SIGNALS: tuple[SignalChoice, ...] = tuple(SignalChoice(sig, meaning) for sig, _name, meaning in OFFERED)


class ProcessHandle:
    """An open pidfd on one process, plus what was verified about it; close it (or use ``with``)."""

    def __init__(self, pid: int, fd: int, start_time: float, name: str, uid: int | None) -> None:
        self.pid = pid
        self.fd = fd
        #: psutil's create_time of the process, read after the pidfd was opened.
        self.start_time = start_time
        self.name = name
        #: Real uid of the process when it was opened (None if unknown).
        self.uid = uid

    @property
    def closed(self) -> bool:
        """True once :meth:`close` ran."""
        return self.fd < 0

    def close(self) -> None:
        """Close the pidfd (idempotent)."""
        if self.fd >= 0:
            fd, self.fd = self.fd, -1
            os.close(fd)

    def __enter__(self) -> ProcessHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"ProcessHandle(pid={self.pid}, fd={self.fd}, name={self.name!r})"


def _exited(fd: int) -> bool:
    """Whether the pidfd's process has exited (a pidfd polls readable then, zombies included)."""
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(0))


def _thread_of(tid: int) -> int | None:
    """The process a thread id belongs to when it is not that process's own id, else None."""
    try:
        with open(f"/proc/{tid}/status", "rb") as fh:
            for line in fh:
                if line.startswith(b"Tgid:"):
                    tgid = int(line.split()[1])
                    return tgid if tgid != tid else None
    except (OSError, ValueError, IndexError):
        pass
    return None


def _user_name(uid: int | None) -> str:
    if uid is None:
        return "another user"
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def _not_allowed(pid: int, uid: int | None) -> str:
    if os.geteuid() == 0:
        return f"not allowed: the kernel refused to let sockui signal process {pid}, even as root"
    return f"not allowed: process {pid} belongs to user {_user_name(uid)} (run as root)"


def _clock(when: float) -> str:
    """Local time to the hundredth of a second: two start times a tick apart must read differently."""
    seconds, hundredths = divmod(round(when * 100), 100)
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(seconds)) + f".{hundredths:02d}"


def read_target(pid: int) -> Target | str:
    """What the kill dialog shows and later checks: the process's start time and name, or why not."""
    try:
        proc = psutil.Process(pid)
        return Target(pid, proc.create_time(), proc.name())
    except psutil.NoSuchProcess:
        return f"process {pid} has exited"
    except (psutil.Error, OSError) as exc:
        return f"cannot read process {pid}: {exc.__class__.__name__}"


def open_target(pid: int, expected_start: float | None) -> ProcessHandle | str:
    """Open a pidfd on ``pid`` and check it is still the process the user chose.

    Args:
        pid: the process id the user saw.
        expected_start: its psutil create_time when the user saw it; None skips the identity check
            (the handle then names whatever process holds the pid now).

    Returns:
        An open handle (the caller closes it), or the reason in plain words: the process exited, the
        pid now names a different process, or sockui may not signal it.
    """
    if pid <= 0:
        return f"{pid} is not a process id"
    if pid == os.getpid():
        return f"process {pid} is sockui itself"
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return f"process {pid} has exited"
    except OSError as exc:
        # A thread id that is not its process's id: EINVAL on older kernels, ENOENT on 6.18.
        if exc.errno in (errno.EINVAL, errno.ENOENT) and _thread_of(pid) is not None:
            return f"{pid} is a thread of process {_thread_of(pid)}, not a process"
        if exc.errno == errno.ENOENT:
            return f"process {pid} has exited"
        return f"cannot open process {pid}: {os.strerror(exc.errno or 0)}"
    try:
        checked = _verify(pid, fd, expected_start)
    except BaseException:
        os.close(fd)
        raise
    if isinstance(checked, str):
        os.close(fd)
        return checked
    return ProcessHandle(pid, fd, *checked)


def _verify(pid: int, fd: int, expected_start: float | None) -> tuple[float, str, int | None] | str:
    """(start time, name, uid) of the process behind the open pidfd ``fd``, or why it is refused."""
    # /proc/PID is read only now that the pidfd is open: if the pidfd's process is still alive
    # after the read, the pid named that very process during the read (a pid is reused only after
    # its process has exited), so the start time read is the pidfd's process's.
    try:
        proc = psutil.Process(pid)
        start = proc.create_time()
        name = proc.name()
        uid: int | None = proc.uids().real
    except psutil.NoSuchProcess:
        return f"process {pid} has exited"
    except (psutil.Error, OSError) as exc:
        return f"cannot read process {pid}: {exc.__class__.__name__}"
    if _exited(fd):
        return f"process {pid} has exited"
    if expected_start is not None and abs(start - expected_start) > START_TIME_PRECISION:
        return (
            f"pid {pid} is now a different process ({name}, started {_clock(start)}; "
            f"the one you chose started {_clock(expected_start)})"
        )
    try:
        signal.pidfd_send_signal(fd, 0)  # signal 0: the permission check alone
    except PermissionError:
        return _not_allowed(pid, uid)
    except ProcessLookupError:
        return f"process {pid} has exited"
    return start, name, uid


def send(handle: ProcessHandle, sig: signal.Signals) -> str | None:
    """Send ``sig`` through the pidfd; None when sent, else the reason in plain words.

    Raises:
        ValueError: the handle was closed (a bug in the caller, not something to tell the user).
    """
    if handle.closed:
        raise ValueError("send() on a closed ProcessHandle")
    # A zombie accepts signals and ignores them: say it has exited rather than "sent".
    if _exited(handle.fd):
        return f"process {handle.pid} has already exited"
    try:
        signal.pidfd_send_signal(handle.fd, sig)
    except ProcessLookupError:
        return f"process {handle.pid} has already exited"
    except PermissionError:
        return _not_allowed(handle.pid, handle.uid)
    except OSError as exc:
        return f"could not signal process {handle.pid}: {os.strerror(exc.errno or 0)}"
    return None


def wait_exit(handle: ProcessHandle, timeout: float) -> float | None:
    """Wait up to ``timeout`` seconds for the process to exit; the seconds it took, or None.

    Works for any process, not only our children: the pidfd polls readable when the process exits.
    Blocks the calling thread (run it in a worker).
    """
    if handle.closed:
        raise ValueError("wait_exit() on a closed ProcessHandle")
    started = time.monotonic()
    poller = select.poll()
    poller.register(handle.fd, select.POLLIN)
    if poller.poll(max(0, int(timeout * 1000))):  # restarted after signals with the time left (PEP 475)
        return time.monotonic() - started
    return None


def shell_command(pids: Iterable[int], sig: signal.Signals) -> str:
    """The equivalent shell command, e.g. ``kill -TERM 1234 1240``.

    Note that ``kill`` names pids only: unlike :func:`send`, it would hit a process that took over a
    pid after the one shown exited.
    """
    args = ["kill", f"-{sig.name.removeprefix('SIG')}", *(str(int(pid)) for pid in dict.fromkeys(pids))]
    return shlex.join(args)
