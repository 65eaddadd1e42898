"""Network namespaces as the views know them: a label, how many sockets, whether they could be read."""

from __future__ import annotations

from dataclasses import dataclass

#: The label of sockui's own namespace.
HOST = "host"


@dataclass(frozen=True, slots=True)
class NamespaceInfo:
    """One network namespace in use."""

    inode: int
    #: ``host``, the ``ip netns`` name, a container's name or short id, ``pod <uid>``, ``net:[INODE]``.
    label: str
    #: True for the namespace sockui runs in.
    own: bool
    #: The ``ip netns`` name, when it has one (``ss -N`` takes it).
    ip_name: str | None = None
    #: The container (name or short id) its processes are in, when they agree on one.
    container: str | None = None
    #: A process inside it (for ``nsenter -t PID -n``), or None when only a mount holds it.
    pid: int | None = None
    #: A path to enter it by (a bind mount or /proc/PID/ns/net); None when none could be opened.
    path: str | None = None
    #: Why its sockets are not listed (could not be entered), or None when they are.
    unread: str | None = None
