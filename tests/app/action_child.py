"""A child process for the kill and close tests: holds one socket, reports signals, echoes bytes.

``python -I -S action_child.py SIGNALS MODE [PORT] [ARG...]``, the process name's bytes hex-encoded in
``SOCKUI_TEST_NAME`` (given to ``PR_SET_NAME``; the kernel keeps 15 bytes).

- SIGNALS: ``report`` (TERM, INT and HUP each print ``signal NAME`` and exit 0), ``ignore-term``
  (TERM is ignored; INT and HUP still report), ``default`` (the default actions).
- MODE: ``listen`` (a TCP listener on 127.0.0.1; prints its port), ``connect`` (connects to
  127.0.0.1:PORT; prints its own local port, then echoes whatever arrives and prints ``eof`` or
  ``error ENAME`` when the connection ends or fails), ``unix`` (a UNIX socketpair; prints ``ready``).
- ARG...: ignored; they make the cmdline hostile (control characters, markup).

The child dies with its parent (``PR_SET_PDEATHSIG``) and exits at EOF on stdin. Stdlib only.
"""

from __future__ import annotations

import ctypes
import errno
import os
import select
import signal
import socket
import sys
from types import FrameType

_PR_SET_PDEATHSIG = 1
_PR_SET_NAME = 15


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def report(signum: int, frame: FrameType | None) -> None:
    say(f"signal {signal.Signals(signum).name.removeprefix('SIG')}")
    os._exit(0)


def main() -> int:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() == 1:  # the parent died before the death signal was armed
        return 1
    mode_signals, mode = sys.argv[1], sys.argv[2]
    name = bytes.fromhex(os.environ["SOCKUI_TEST_NAME"])
    if libc.prctl(_PR_SET_NAME, ctypes.c_char_p(name), 0, 0, 0) != 0:
        return 2
    if mode_signals in ("report", "ignore-term"):
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, report)
    if mode_signals == "ignore-term":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)

    held: list[socket.socket] = []
    conn: socket.socket | None = None
    if mode == "listen":
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        held.append(listener)
        say(str(listener.getsockname()[1]))
    elif mode == "connect":
        conn = socket.create_connection(("127.0.0.1", int(sys.argv[3])), timeout=10)
        conn.settimeout(None)
        held.append(conn)
        say(str(conn.getsockname()[1]))
    elif mode == "unix":
        held.extend(socket.socketpair())
        say("ready")
    else:
        return 3

    stdin = sys.stdin.fileno()
    watched = [stdin] + ([conn.fileno()] if conn is not None else [])
    while True:
        ready, _, _ = select.select(watched, [], [])
        if stdin in ready and not os.read(stdin, 4096):
            break
        if conn is not None and conn.fileno() in ready:
            try:
                data = conn.recv(4096)
            except OSError as exc:
                say(f"error {errno.errorcode.get(exc.errno or 0, str(exc.errno))}")
                watched.remove(conn.fileno())
                continue
            if not data:
                say("eof")
                watched.remove(conn.fileno())
                continue
            conn.sendall(data)
    for sock in held:
        sock.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
