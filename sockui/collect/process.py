"""Process details for the owners views, through psutil (called from worker threads only).

A process can exit between any two reads: every field that cannot be read is left None, and the
``gone`` flag says the process no longer exists, so a stale owner is never shown as current.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TypeVar

import psutil

from sockui.model.process import ProcessInfo

_T = TypeVar("_T")


class _Reader:
    """Calls psutil getters, turning per-field failures into None and remembering denials."""

    def __init__(self) -> None:
        self.denied = False

    def get(self, getter: Callable[[], _T]) -> _T | None:
        try:
            return getter()
        except (psutil.AccessDenied, PermissionError):
            self.denied = True
        except (psutil.ZombieProcess, OSError):
            pass
        return None


def read_cmdline(pid: int) -> list[str]:
    """``/proc/PID/cmdline`` split at its NULs, every byte as the process holds it; raises OSError.

    Not psutil's ``cmdline()``: psutil 7 reads the file in text mode with universal newlines, so an
    argument's CR came out as LF and CRLF as one LF, and sockui showed an argument that was not there.
    Undecodable bytes are kept as surrogates (as ``os.fsdecode`` does), shown escaped by the views.
    """
    with open(f"/proc/{pid}/cmdline", "rb") as fh:
        data = fh.read()
    # Programs that rewrite their argv in place (setproctitle: nginx, postgres...) leave NUL padding
    # behind, which would read as a tail of empty arguments (and, joined, a run of spaces).
    data = data.rstrip(b"\0")
    if not data:
        return []  # a kernel thread or a zombie
    return os.fsdecode(data).split("\0")


def process_info(pid: int) -> ProcessInfo:
    """Read one process's details; never raises for a vanished or forbidden process."""
    try:
        proc = psutil.Process(pid)
        read = _Reader()
        with proc.oneshot():
            name = read.get(proc.name)
            cmdline = read.get(lambda: read_cmdline(pid))
            user = read.get(proc.username)
            started = read.get(proc.create_time)
            memory = read.get(proc.memory_info)
        parents: list[tuple[int, str]] = []
        for parent in read.get(proc.parents) or []:
            parents.append((parent.pid, read.get(parent.name) or "?"))
    except psutil.NoSuchProcess:
        return ProcessInfo(pid, gone=True, note="process has exited")
    except (psutil.Error, OSError) as exc:
        return ProcessInfo(pid, gone=False, note=f"cannot read: {type(exc).__name__}")
    return ProcessInfo(
        pid,
        gone=False,
        name=name,
        cmdline=tuple(cmdline) if cmdline is not None else None,
        user=user,
        parents=tuple(parents),
        started=started,
        rss=memory.rss if memory is not None else None,
        note="some details need more privilege" if read.denied else None,
    )
