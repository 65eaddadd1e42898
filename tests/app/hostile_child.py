"""A child process with a hostile name, holding a loopback listener, for the TUI's hostile-text tests.

Run as ``python -I -S hostile_child.py ARG...`` with the name's bytes, hex-encoded, in the environment
(``SOCKUI_TEST_NAME``); the arguments are only there to make the cmdline hostile too. The child dies
with its parent (``PR_SET_PDEATHSIG``), renames itself (``PR_SET_NAME``, which the kernel cuts at 15
bytes), listens on 127.0.0.1, prints the port, then prints ``accepted`` for each connection it takes
and holds them all until its stdin reaches EOF. Stdlib only, so it starts fast.
"""

from __future__ import annotations

import ctypes
import os
import select
import signal
import socket
import sys

_PR_SET_PDEATHSIG = 1
_PR_SET_NAME = 15


def main() -> int:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() == 1:  # the parent died before the death signal was armed
        return 1
    name = bytes.fromhex(os.environ["SOCKUI_TEST_NAME"])
    if libc.prctl(_PR_SET_NAME, ctypes.c_char_p(name), 0, 0, 0) != 0:
        return 2
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    out = sys.stdout
    out.write(f"{listener.getsockname()[1]}\n")
    out.flush()
    held = [listener]
    while True:
        ready, _, _ = select.select([sys.stdin, listener], [], [])
        if listener in ready:
            conn, _ = listener.accept()
            held.append(conn)
            out.write("accepted\n")
            out.flush()
        if sys.stdin in ready and not os.read(sys.stdin.fileno(), 4096):
            break
    for sock in held:
        sock.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
