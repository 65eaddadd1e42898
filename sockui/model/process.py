"""Process details as the owners views show them (filled by ``collect.process``)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ProcessInfo:
    """What the owners view shows about one process. All strings are untrusted."""

    pid: int
    gone: bool
    name: str | None = None
    cmdline: tuple[str, ...] | None = None
    user: str | None = None
    #: (pid, name) from the parent up to pid 1.
    parents: tuple[tuple[int, str], ...] = ()
    #: Start time, seconds since the epoch.
    started: float | None = None
    rss: int | None = None
    #: Why some fields are missing ("access denied"), for the view to say.
    note: str | None = None
