"""What a snapshot could not see, and why, worded once for the status bar, stderr and the detail pane."""

from __future__ import annotations

from sockui.model.netns import NamespaceInfo
from sockui.model.socket import Snapshot


def _plural(n: int, word: str, suffix: str = "s") -> str:
    return f"{n} {word}{suffix if n != 1 else ''}"


def hidden_owners_reason(snapshot: Snapshot) -> str:
    """Why owners are hidden, in a few words (for the status bar)."""
    if snapshot.euid == 0:
        return "unreadable even by root"
    return "unreadable without root"


def privilege_note(snapshot: Snapshot) -> str | None:
    """What lack of privilege hid, in one sentence; None when nothing was hidden."""
    if not snapshot.hidden_owners:
        return None
    # No process counted but owners hidden: /proc does not even list the processes (hidepid=2).
    what = (
        _plural(snapshot.unreadable_pids, "process", "es")
        if snapshot.unreadable_pids
        else "other users' processes"
    )
    if snapshot.euid == 0:
        why = "are not readable even by root here (ptrace restrictions, e.g. a container's init)"
    else:
        why = (
            "are not readable by this user (run as root, or with CAP_SYS_PTRACE and "
            "CAP_DAC_READ_SEARCH, to see them)"
        )
    return f"owners of {_plural(snapshot.hidden_owners, 'socket')} are hidden: the fd tables of {what} {why}"


def unread_namespaces(snapshot: Snapshot) -> list[NamespaceInfo]:
    """The network namespaces in use whose sockets could not be read (no privilege to enter them)."""
    return [ns for ns in snapshot.namespaces.values() if ns.unread is not None]


def netns_note(snapshot: Snapshot) -> str | None:
    """What is missing because some network namespaces could not be read; None when nothing is.

    Worded as ``N network namespaces not shown (why): M sockets held by their processes not listed``;
    the count of sockets covers only what their processes' fd tables showed.
    """
    unread = unread_namespaces(snapshot)
    if not unread and not snapshot.other_netns:
        return None
    why = unread[0].unread if len({ns.unread for ns in unread}) == 1 else None
    if why is None:
        why = (
            "entering them needs root or CAP_SYS_ADMIN" if snapshot.euid != 0 else "they could not be entered"
        )
    count = len(unread) or "some"
    spaces = "network namespace" if count == 1 else "network namespaces"
    sockets = _plural(snapshot.other_netns, "socket")
    return f"{count} {spaces} not shown ({why}): {sockets} held by their processes not listed"


def notes(snapshot: Snapshot) -> list[str]:
    """Every blind spot of ``snapshot``, one sentence each (warnings first)."""
    result = list(snapshot.warnings)
    for note in (privilege_note(snapshot), netns_note(snapshot)):
        if note:
            result.append(note)
    return result
