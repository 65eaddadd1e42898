"""Child processes that hold sockets for the collector tests, and the small waiting helpers they need.

A holder is this very file run as a script (``python -I -S holders.py CONFIG``; stdlib only, so it
starts fast). It arms ``PR_SET_PDEATHSIG`` so it dies with the test process, optionally renames itself
(``PR_SET_NAME``), takes over the socket fds the parent passed it (moving each one to a new fd number,
so a test can tell the two holders' fds apart), reports one JSON line on stdout and then:

- ``hold``: waits for EOF on stdin (the parent closing it, or dying);
- ``churn``: creates and closes sockets of every kind and forks short-lived children that open a
  socket and exit, as fast as it can, until EOF on stdin; it then reports how many rounds it ran.

The parent side (:func:`spawn_holder`, :class:`Holder`) waits for the report with a deadline and always
reaps the child: EOF first, SIGKILL for a child that does not leave in time.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

_PR_SET_PDEATHSIG = 1
_PR_SET_NAME = 15
#: Holders move inherited fds to this number or above, away from the parent's numbers.
MOVED_FD_BASE = 100
#: SO_LINGER {on, 0}: close() resets the connection instead of leaving TIME_WAIT behind.
LINGER_RESET = struct.pack("ii", 1, 0)


# -- waiting ------------------------------------------------------------------------------------------


def wait_for(
    predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.01, what: str = "condition"
) -> Any:
    """Poll ``predicate`` until it returns something truthy, and return that; fail at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:.1f} s waiting for {what}")
        time.sleep(interval)


def read_line(stream: Any, timeout: float) -> bytes:
    """One line from a pipe, within ``timeout`` seconds; b'' at EOF."""
    fd = stream.fileno()
    deadline = time.monotonic() + timeout
    chunks: list[bytes] = []
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"no line from the child within {timeout:.1f} s (got {b''.join(chunks)!r})")
        ready, _, _ = select.select([fd], [], [], remaining)
        if not ready:
            continue
        byte = os.read(fd, 1)
        if not byte:
            return b"".join(chunks)
        chunks.append(byte)
        if byte == b"\n":
            return b"".join(chunks)


# -- running sockui -----------------------------------------------------------------------------------

#: What ``setpriv`` needs to run a command as nobody with no supplementary groups.
AS_NOBODY = ("setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups")


def run_sockui(
    *args: str, as_nobody: bool = False, timeout: float = 60.0
) -> subprocess.CompletedProcess[str]:
    """``python -m sockui ARGS`` in a subprocess (the interpreter running the tests); text output."""
    command = [sys.executable, "-m", "sockui", *args]
    if as_nobody:
        command = [*AS_NOBODY, *command]
    return subprocess.run(
        command,
        capture_output=True,
        text=True,
        encoding="utf-8",
        errors="surrogateescape",
        timeout=timeout,
        cwd="/",
        check=False,
    )


# -- parent side --------------------------------------------------------------------------------------


@dataclass
class Holder:
    """A running holder process and what it reported."""

    proc: subprocess.Popen[bytes]
    report: dict[str, Any] = field(default_factory=dict)

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def comm(self) -> str:
        """The process name as the kernel has it (``/proc/PID/comm``), decoded like sockui decodes it."""
        return bytes.fromhex(self.report["comm"]).decode("utf-8", "surrogateescape")

    def fd_for(self, parent_fd: int) -> int:
        """The fd number under which the child holds the socket the parent passed as ``parent_fd``."""
        return int(self.report["fds"][str(parent_fd)])

    def stop(self, timeout: float = 5.0) -> bytes:
        """EOF on stdin, wait for the exit (SIGKILL after ``timeout``); return what it printed last."""
        tail = b""
        if self.proc.stdin is not None:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()
        try:
            if self.proc.stdout is not None and self.proc.poll() is None:
                with contextlib.suppress(AssertionError, OSError, ValueError):
                    tail = read_line(self.proc.stdout, timeout)
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            if self.proc.stdout is not None:
                with contextlib.suppress(OSError):
                    self.proc.stdout.close()
        return tail


def spawn_holder(
    socks: Sequence[socket.socket] = (),
    *,
    name: bytes | None = None,
    mode: str = "hold",
    as_nobody: bool = False,
    timeout: float = 10.0,
) -> Holder:
    """Start a holder that takes over ``socks`` (the parent keeps its own copies) and wait for its report.

    ``as_nobody`` runs it through setpriv as uid/gid 65534 (setpriv execs, so the pid stays the same).
    """
    fds = [s.fileno() for s in socks]
    config = {
        "parent": os.getpid(),
        "fds": fds,
        "name": name.hex() if name is not None else None,
        "mode": mode,
    }
    proc = subprocess.Popen(
        [*(AS_NOBODY if as_nobody else ()), sys.executable, "-I", "-S", __file__, json.dumps(config)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        pass_fds=fds,
    )
    holder = Holder(proc)
    try:
        assert proc.stdout is not None
        line = read_line(proc.stdout, timeout)
        if not line:
            raise AssertionError(f"holder exited before reporting (status {proc.wait(timeout)})")
        holder.report = json.loads(line)
    except BaseException:
        holder.stop()
        raise
    return holder


class HolderPool:
    """Holder processes started by one test; all of them are stopped and reaped at the end."""

    def __init__(self) -> None:
        self.holders: list[Holder] = []

    def spawn(self, socks: Sequence[socket.socket] = (), **kwargs: Any) -> Holder:
        holder = spawn_holder(socks, **kwargs)
        self.holders.append(holder)
        return holder

    def close(self) -> None:
        while self.holders:
            self.holders.pop().stop()


# -- child side ---------------------------------------------------------------------------------------


def _arm_child(parent: int, name: bytes | None) -> None:
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # the parent died before the death signal was armed
        os._exit(1)
    if name is not None:
        libc.prctl(_PR_SET_NAME, ctypes.c_char_p(name), 0, 0, 0)


def _eof_on_stdin() -> bool:
    ready, _, _ = select.select([0], [], [], 0)
    return bool(ready) and not os.read(0, 4096)


def _churn_round() -> None:
    """Open and close sockets of every kind; fork a child that does the same and exits at once."""
    listener = socket.create_server(("127.0.0.1", 0))
    client = socket.create_connection(listener.getsockname())
    server, _ = listener.accept()
    for s in (client, server):
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER_RESET)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    left, right = socket.socketpair()
    bare = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    pid = os.fork()
    if pid == 0:
        try:
            extra = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            extra.bind(("127.0.0.1", 0))
        finally:
            os._exit(0)
    for s in (server, client, listener, udp, left, right, bare):
        s.close()
    os.waitpid(pid, 0)


def _child_main(config: dict[str, Any]) -> None:
    _arm_child(config["parent"], bytes.fromhex(config["name"]) if config["name"] else None)
    moved: dict[str, int] = {}
    for fd in config["fds"]:
        new = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, MOVED_FD_BASE)
        os.close(fd)
        moved[str(fd)] = new
    if config["mode"] == "churn":
        _churn_round()
    with open("/proc/self/comm", "rb") as fh:
        comm = fh.read().removesuffix(b"\n")
    report = {"pid": os.getpid(), "comm": comm.hex(), "fds": moved}
    sys.stdout.write(json.dumps(report) + "\n")
    sys.stdout.flush()
    if config["mode"] == "churn":
        rounds = 1
        while not _eof_on_stdin():
            _churn_round()
            rounds += 1
        sys.stdout.write(json.dumps({"rounds": rounds}) + "\n")
        sys.stdout.flush()
        return
    while os.read(0, 4096):
        pass


if __name__ == "__main__":
    _child_main(json.loads(sys.argv[1]))


def without_container(processes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``processes`` of a JSON row without their ``container`` key, after checking it is there.

    What the container label is depends on where the tests run (a CI container, a systemd unit):
    these tests compare pids, names and fds; the namespace tests check labels they made themselves.
    """
    for entry in processes:
        assert "container" in entry, entry
        assert entry["container"] is None or isinstance(entry["container"], str), entry
    return [{k: v for k, v in entry.items() if k != "container"} for entry in processes]
