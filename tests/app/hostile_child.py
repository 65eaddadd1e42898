"""A child process with a hostile name, holding a loopback listener, for the TUI's hostile-text tests.

Run as ``python -I -S hostile_child.py ARG...`` with the name's bytes, hex-encoded, in the environment
(``SOCKUI_TEST_NAME``); the arguments are only there to make the cmdline hostile too. The child dies
with its parent (``PR_SET_PDEATHSIG``), renames itself (``PR_SET_NAME``, which the kernel cuts at 15
bytes), listens on 127.0.0.1, prints the port, then prints ``accepted`` for each connection it takes
and holds them all until its stdin reaches EOF. Stdlib only, so it starts fast.

Optional, for the tests of the other views (``test_hostile_views.py``):

- ``SOCKUI_TEST_UID`` / ``SOCKUI_TEST_GID``: become that user before making any socket, so the sockets
  belong to it (the kernel records the creator's uid) and the User column shows its name. Dropping
  privileges clears the death signal, so it is armed again afterwards.
- ``SOCKUI_TEST_UNIX``: comma-separated hex names of UNIX stream listeners to hold too; a name starting
  with a NUL byte is abstract (and may hold more NULs), any other is a filesystem path (left for the
  test to remove).
- A ``close`` line on stdin closes every accepted connection with a reset (no TIME_WAIT), then prints
  ``closed``: a connection that lives shorter than a refresh, for the history view.
"""

from __future__ import annotations

import ctypes
import os
import select
import signal
import socket
import struct
import sys

_PR_SET_PDEATHSIG = 1
_PR_SET_NAME = 15
#: SO_LINGER {on, 0}: close() resets the connection instead of leaving a TIME_WAIT socket behind.
_LINGER_RESET = struct.pack("ii", 1, 0)


def _arm(libc: ctypes.CDLL, parent: int) -> bool:
    """Die with the parent; False when it is already gone (the signal was armed too late)."""
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    return os.getppid() == parent


def main() -> int:
    libc = ctypes.CDLL(None, use_errno=True)
    parent = os.getppid()
    if parent == 1 or not _arm(libc, parent):  # the parent died before the death signal was armed
        return 1
    uid = os.environ.get("SOCKUI_TEST_UID")
    if uid is not None:
        gid = int(os.environ.get("SOCKUI_TEST_GID", "65534"))
        os.setgroups([])
        os.setresgid(gid, gid, gid)
        os.setresuid(int(uid), int(uid), int(uid))
        if not _arm(libc, parent):
            return 1
    name = bytes.fromhex(os.environ["SOCKUI_TEST_NAME"])
    if libc.prctl(_PR_SET_NAME, ctypes.c_char_p(name), 0, 0, 0) != 0:
        return 2
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    held = [listener]
    for hexname in filter(None, os.environ.get("SOCKUI_TEST_UNIX", "").split(",")):
        unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        unix.bind(bytes.fromhex(hexname))
        unix.listen(1)
        held.append(unix)
    out = sys.stdout
    out.write(f"{listener.getsockname()[1]}\n")
    out.flush()
    accepted: list[socket.socket] = []
    while True:
        ready, _, _ = select.select([sys.stdin, listener], [], [])
        if listener in ready:
            conn, _ = listener.accept()
            accepted.append(conn)
            out.write("accepted\n")
            out.flush()
        if sys.stdin in ready:
            data = os.read(sys.stdin.fileno(), 4096)
            if not data:
                break
            if b"close" in data:
                for conn in accepted:
                    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
                    conn.close()
                accepted.clear()
                out.write("closed\n")
                out.flush()
    for sock in held + accepted:
        sock.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
