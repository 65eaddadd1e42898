"""Fixtures of the TUI tests: real sockets, hostile child processes and tmux servers, all torn down.

Every fixture cleans up in a finalizer, also when the test fails: sockets are closed (connected TCP
ones with SO_LINGER 0, so no TIME_WAIT is left behind), children get EOF then SIGKILL and are reaped,
tmux servers are killed.
"""

from __future__ import annotations

import contextlib
import os
import select
import shlex
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

#: SO_LINGER {on, 0}: close() resets a connection instead of leaving a TIME_WAIT socket around.
LINGER_RESET = struct.pack("ii", 1, 0)
HERE = Path(__file__).resolve().parent


# -- sockets ---------------------------------------------------------------------------------------------


class SocketBag:
    """Sockets a test opened; the fixture closes whatever is still open."""

    def __init__(self) -> None:
        self.socks: list[socket.socket] = []

    def add(self, sock: socket.socket) -> socket.socket:
        self.socks.append(sock)
        return sock

    def new(self, family: int = socket.AF_INET, kind: int = socket.SOCK_STREAM) -> socket.socket:
        return self.add(socket.socket(family, kind))

    def listener(self) -> socket.socket:
        sock = self.new()
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        return sock

    def close(self) -> None:
        while self.socks:
            close_quietly(self.socks.pop())


def close_quietly(sock: socket.socket) -> None:
    """Close with a reset (no TIME_WAIT); an already closed socket is fine."""
    if sock.fileno() < 0:
        return
    if sock.type == socket.SOCK_STREAM:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER_RESET)
    sock.close()


@pytest.fixture
def bag() -> Iterator[SocketBag]:
    """A per-test place for sockets, closed whatever happens."""
    socks = SocketBag()
    try:
        yield socks
    finally:
        socks.close()


@dataclass
class Loopback:
    """A loopback TCP listener with one connected client and the accepted (server-side) socket."""

    listener: socket.socket
    client: socket.socket
    server: socket.socket

    @property
    def port(self) -> int:
        return int(self.listener.getsockname()[1])


@pytest.fixture
def loopback(bag: SocketBag) -> Loopback:
    """Listener, client and accepted socket, all held by the test process."""
    listener = bag.listener()
    client = bag.add(socket.create_connection(listener.getsockname(), timeout=5))
    server, _ = listener.accept()
    bag.add(server)
    return Loopback(listener, client, server)


# -- child processes with hostile names ----------------------------------------------------------------

#: Arguments that make the children's cmdline hostile too (it shows in the detail and owners views).
HOSTILE_ARGS: tuple[str, ...] = ("[@click=app.quit]x[/]", "\x1b[2J\x1b[31mred", "two\nlines", "[/bold]")

#: (name given to prctl, what sockui must show). The kernel keeps 15 bytes of a name.
HOSTILE_NAMES: tuple[tuple[bytes, str], ...] = (
    (b"\x1b[31m\n[/bold]", r"\e[31m\n[/bold]"),
    (b"[@click=quit]x", "[@click=quit]x"),
    (b"[@click=app.quit]x[/]", "[@click=app.qui"),
    (b"\x1b]0;pwn\x07\xff\r", r"\e]0;pwn\x07\xff\r"),
    ("\u202eevil名".encode(), r"\u202eevil名"),
)


@dataclass
class Hostile:
    """One running child: its process, listening port and the name sockui must display."""

    proc: subprocess.Popen[bytes]
    port: int
    name: bytes
    shown: str

    @property
    def pid(self) -> int:
        return self.proc.pid

    def wait_accepted(self, timeout: float = 10.0) -> None:
        """Block until the child reports it accepted a connection."""
        line = read_line(self.proc, timeout)
        if line != b"accepted":
            raise AssertionError(f"child {self.pid} said {line!r} instead of accepting")


def read_line(proc: subprocess.Popen[bytes], timeout: float) -> bytes:
    """One line from a child's stdout within ``timeout`` seconds (b'' at EOF)."""
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    deadline = time.monotonic() + timeout
    data = b""
    while not data.endswith(b"\n"):
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
            raise AssertionError(f"child {proc.pid} did not answer within {timeout:.0f} s")
        chunk = os.read(fd, 1)
        if not chunk:
            break
        data += chunk
    return data.rstrip(b"\n")


def stop_child(proc: subprocess.Popen[bytes]) -> None:
    """EOF on stdin, then SIGKILL if it lingers; always reaped."""
    if proc.stdin is not None:
        with contextlib.suppress(OSError):
            proc.stdin.close()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)
    if proc.stdout is not None:
        proc.stdout.close()


def spawn_hostile(name: bytes, shown: str) -> Hostile:
    proc = subprocess.Popen(
        [sys.executable, "-I", "-S", "hostile_child.py", *HOSTILE_ARGS],
        cwd=HERE,
        env={**os.environ, "SOCKUI_TEST_NAME": name.hex()},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        port = int(read_line(proc, 10.0))
    except BaseException:
        stop_child(proc)
        raise
    return Hostile(proc, port, name, shown)


@pytest.fixture(scope="module")
def hostiles() -> Iterator[list[Hostile]]:
    """One child per hostile name, each listening on its own port; all stopped and reaped at the end."""
    children: list[Hostile] = []
    try:
        for name, shown in HOSTILE_NAMES:
            children.append(spawn_hostile(name, shown))
        yield children
    finally:
        for child in children:
            stop_child(child.proc)


# -- tmux ------------------------------------------------------------------------------------------------


@dataclass
class Tmux:
    """A private tmux server (``tmux -L name``) with no user configuration."""

    status_file: Path
    name: str = field(default_factory=lambda: f"sockui-test-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    server_pid: int | None = None

    @property
    def socket_path(self) -> Path:
        return Path(os.environ.get("TMUX_TMPDIR") or "/tmp") / f"tmux-{os.getuid()}" / self.name

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if k != "TMUX"}
        return subprocess.run(
            ["tmux", "-L", self.name, "-f", "/dev/null", *args],
            capture_output=True,
            text=True,
            timeout=10,
            check=check,
            env=env,
        )

    def start(self, command: list[str], width: int, height: int) -> None:
        """A detached session running ``command``; its exit status goes to :attr:`status_file`.

        tmux's own ``pane_dead_status`` is not reliable (3.3a sometimes marks a pane dead on pty EOF
        and never records the status), hence the small shell wrapper.
        """
        wrapper = ["sh", "-c", f'"$@"; echo $? > {shlex.quote(str(self.status_file))}', "sh", *command]
        self.run("new-session", "-d", "-s", "main", "-x", str(width), "-y", str(height), *wrapper)
        self.server_pid = int(self.run("display-message", "-p", "#{pid}").stdout)
        self.run("set-option", "-t", "main", "-w", "remain-on-exit", "on")

    def capture(self) -> str:
        return self.run("capture-pane", "-p", "-t", "main").stdout

    def pane(self, fmt: str) -> str | None:
        """A pane format variable (``#{pane_dead}``), or None once the session is gone."""
        result = self.run("display-message", "-p", "-t", "main", fmt, check=False)
        return result.stdout.strip() if result.returncode == 0 else None

    def exit_status(self) -> int | None:
        """The command's exit status once it has ended, else None."""
        try:
            text = self.status_file.read_text()
        except FileNotFoundError:
            return None
        return int(text) if text.endswith("\n") else None

    def send(self, *keys: str, literal: bool = False) -> None:
        self.run("send-keys", "-t", "main", *(["-l"] if literal else []), *keys)

    def kill(self) -> None:
        """Kill the server and remove the socket file it leaves behind.

        ``kill-server`` first; if the server does not go (a wedged tmux server ignores it), SIGKILL
        by pid, so that no server outlives the test.
        """
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            self.run("kill-server", check=False)
        deadline = time.monotonic() + 5.0
        while self.server_pid is not None and _alive(self.server_pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if self.server_pid is not None and _alive(self.server_pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.server_pid, signal.SIGKILL)
        self.socket_path.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, IndexError):
        return False


@pytest.fixture
def tmux(tmp_path: Path) -> Iterator[Tmux]:
    """A tmux server of the test's own, killed at the end whatever happened."""
    if shutil.which("tmux") is None:
        pytest.skip("tmux is not installed: the real-terminal end-to-end test needs it")
    server = Tmux(tmp_path / "exit-status")
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture
def sockui_script() -> Path:
    """The ``sockui`` console script of the running interpreter's environment."""
    script = Path(sys.executable).parent / "sockui"
    if not script.exists():
        pytest.skip(f"no sockui console script next to {sys.executable}: install the package first")
    return script
