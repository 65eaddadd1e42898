"""What a snapshot could not see, and why, worded once for the status bar, stderr and the detail pane."""

from __future__ import annotations

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
    what = _plural(snapshot.unreadable_pids, "process", "es")
    if snapshot.euid == 0:
        why = "are not readable even by root here (ptrace restrictions, e.g. a container's init)"
    else:
        why = (
            "are not readable by this user (run as root, or with CAP_SYS_PTRACE and "
            "CAP_DAC_READ_SEARCH, to see them)"
        )
    return f"owners of {_plural(snapshot.hidden_owners, 'socket')} are hidden: the fd tables of {what} {why}"


def netns_note(snapshot: Snapshot) -> str | None:
    """Sockets left out because they live in other network namespaces; None when there are none."""
    if not snapshot.other_netns:
        return None
    return (
        f"{_plural(snapshot.other_netns, 'socket')} held by processes in other network namespaces "
        "are not listed (this view shows sockui's own namespace)"
    )


def notes(snapshot: Snapshot) -> list[str]:
    """Every blind spot of ``snapshot``, one sentence each (warnings first)."""
    result = list(snapshot.warnings)
    for note in (privilege_note(snapshot), netns_note(snapshot)):
        if note:
            result.append(note)
    return result
