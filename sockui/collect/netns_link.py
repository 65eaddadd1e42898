"""A sock_diag socket in the network namespace of one socket, for the follow view and the close action.

The collector keeps one netlink socket per namespace for its dumps; the follow poller and a close
request run in other threads and must not share those (one user per socket). They ask here: a socket
of our own namespace gets a plain :class:`NetlinkSocket`; one of another namespace gets a socket made
inside it (:func:`netns.open_in_netns`), found by inode through the socket's owners, the bind mounts
of ``ip netns`` and docker, and as a last resort every process (only when the others fail: a walk of
/proc costs milliseconds per thousand processes, paid once per namespace and action).
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterable

from sockui.collect.netlink import RECV_TIMEOUT, NetlinkSocket
from sockui.collect.netns import RUN_DIRS, NetnsError, open_in_netns
from sockui.collect.procfs import list_pids


def own_netns(proc_root: str = "/proc") -> int:
    """The inode of the network namespace sockui runs in (0 when it cannot be read)."""
    try:
        return os.stat(f"{proc_root}/self/ns/net").st_ino
    except OSError:
        return 0


def _same(path: str, inode: int) -> bool:
    try:
        return os.stat(path).st_ino == inode
    except OSError:
        return False


def find_netns_path(inode: int, pids: Iterable[int] = (), proc_root: str = "/proc") -> str | None:
    """A path that opens network namespace ``inode``: a holder's, a bind mount, any process's; or None."""
    for pid in pids:
        path = f"{proc_root}/{pid}/ns/net"
        if _same(path, inode):
            return path
    for directory in RUN_DIRS:
        try:
            entries = sorted(os.listdir(directory))
        except OSError:
            continue
        for entry in entries:
            path = os.path.join(directory, entry)
            if _same(path, inode):
                return path
    for pid in list_pids(proc_root):
        path = f"{proc_root}/{pid}/ns/net"
        if _same(path, inode):
            return path
    return None


def netlink_in(
    inode: int, pids: Iterable[int] = (), timeout: float = RECV_TIMEOUT, proc_root: str = "/proc"
) -> NetlinkSocket:
    """A sock_diag socket that sees the tables of network namespace ``inode`` (0: our own).

    Raises :class:`NetnsError` (a plain sentence) when the namespace cannot be found or entered, and
    OSError when no netlink socket can be made at all.
    """
    if inode == 0 or inode == own_netns(proc_root):
        return NetlinkSocket(timeout=timeout)
    path = find_netns_path(inode, pids, proc_root)
    if path is None:
        raise NetnsError(
            errno.ENOENT, f"network namespace net:[{inode}] is gone (no process or mount holds it)", ""
        )
    return open_in_netns(path, lambda: NetlinkSocket(timeout=timeout), expect_inode=inode)
