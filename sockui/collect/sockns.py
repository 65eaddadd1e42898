"""Which network namespace a socket belongs to, asked of the socket itself (pidfd_getfd + SIOCGSKNS).

A socket belongs to the namespace it was created in, not to the namespace of whoever holds it: a
listener made inside a container and passed over a UNIX socket to a host process is still the
container's. The holder's ``/proc/PID/ns/net`` cannot tell; the socket can. We borrow a copy of the
holder's descriptor (pidfd_getfd(2), Linux >= 5.6, needs ptrace-attach rights: root) and ask it with
the SIOCGSKNS ioctl, which returns a descriptor of its namespace. Only used for the few sockets that
are in none of our tables; when it cannot answer, callers fall back to the holder's namespace.
"""

from __future__ import annotations

import ctypes
import fcntl
import os

#: pidfd_getfd(2): the same number on every architecture (added after the syscall tables merged).
_SYS_PIDFD_GETFD = 438
#: linux/sockios.h
SIOCGSKNS = 0x894C

_libc = ctypes.CDLL(None, use_errno=True)


def socket_netns(pid: int, fd: int) -> int | None:
    """Inode of the network namespace of socket ``fd`` held by ``pid``; None when it cannot be asked."""
    try:
        pidfd = os.pidfd_open(pid)
    except (OSError, AttributeError):
        return None
    try:
        copy = _libc.syscall(_SYS_PIDFD_GETFD, pidfd, fd, 0)
        if copy < 0:
            return None
        try:
            nsfd = fcntl.ioctl(copy, SIOCGSKNS)
            try:
                return os.fstat(nsfd).st_ino
            finally:
                os.close(nsfd)
        except OSError:
            return None
        finally:
            os.close(copy)
    finally:
        os.close(pidfd)
