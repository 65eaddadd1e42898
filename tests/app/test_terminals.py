"""Broken terminals and crashes, end to end: the installed ``sockui`` in real terminals (tmux panes, ptys).

Proves:

- at 40x12 every screen and pane opens on its key and closes with Escape, the app staying alive, and
  the table keeps its header and row;
- a storm of 50 window resizes in 5 s (40x12 <-> 200x60) while refreshing every 0.2 s: no crash, the
  final layout is the final size's (status on top, footer on the last line, reaching the right edge),
  and a key still works;
- TERM=xterm, TERM=screen-256color, NO_COLOR=1, LANG=C/LC_ALL=C (also with Python's UTF-8 mode off):
  the table shows, glyphs are drawn as glyphs, q quits with 0, and the terminal is as it was before
  (termios settings identical, alternate screen left, mouse reporting off, cursor shown, autowrap on);
- without a terminal on stdin, stdout or stderr the TUI does not start: one line on stderr, status 2,
  nothing in the pipe; ``--once`` into a pipe still prints the table;
- a failing refresh (the real collector out of file descriptors) is said in the status line, the
  last good rows stay, and the app recovers; a failing first refresh is said too (Pilot);
- an exception on the UI thread: the terminal is restored, one line on stderr names a private crash
  report holding the traceback, the exit status is not 0.

Each test has its own tmux server (``tmux -L``), killed in a finalizer; XDG_CONFIG_HOME and
XDG_STATE_HOME point into the test's tmp_path, so no configuration or crash report is left behind.
"""

from __future__ import annotations

import contextlib
import errno
import os
import pty
import re
import resource
import select
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path

import pytest

from sockui.app import SockuiApp
from sockui.model.socket import Snapshot

from .conftest import SocketBag, Tmux
from .support import ONE_SNAPSHOT, ScriptedSource, tcp, wait_for_snapshot, wait_until
from .test_tmux import START_TIMEOUT, poll, quit_and_wait

#: Runs the command given as "$@", then reports in the pane how it went and whether the terminal's
#: termios settings are what they were before; ``exec cat`` keeps the pane (and its terminal state)
#: alive for the checks, until the tmux server is killed.
AFTER_SHELL = (
    'before=$(stty -g); "$@"; rc=$?; after=$(stty -g); '
    'if [ "$before" = "$after" ]; then tty=restored; else tty=CHANGED; fi; '
    'printf "\\nsockui-exit %s tty %s\\n" "$rc" "$tty"; exec cat'
)
EXITED = re.compile(r"sockui-exit (\d+) tty (\w+)")

#: Terminal modes as tmux sees them, and what a shell expects once a full-screen program has left:
#: main screen, cursor shown, autowrap on, no mouse reporting of any kind.
MODES = {
    "alternate_on": "0",
    "cursor_flag": "1",
    "wrap_flag": "1",
    "mouse_any_flag": "0",
    "mouse_all_flag": "0",
    "mouse_sgr_flag": "0",
    "mouse_button_flag": "0",
    "mouse_standard_flag": "0",
}

#: A table header line (with a Netns column when the host has several namespaces).
HEADER = re.compile(r"^\s*Proto\s+(?:Netns\s+)?State")
LISTENER_ROW = re.compile(r"^.\s*tcp\s+(?:\S+\s+)?LISTEN\s")


def sockui_env(tmp_path: Path, *extra: str) -> list[str]:
    """``env`` with a private config and state directory (nothing of the user's is read or written)."""
    return ["env", f"XDG_CONFIG_HOME={tmp_path / 'config'}", f"XDG_STATE_HOME={tmp_path / 'state'}", *extra]


def capture(tmux: Tmux) -> str:
    """The pane's text with wrapped lines joined (a long stderr line stays one line)."""
    return tmux.run("capture-pane", "-p", "-J", "-t", "main").stdout


def modes(tmux: Tmux) -> dict[str, str | None]:
    return {name: tmux.pane(f"#{{{name}}}") for name in MODES}


def wait_exited(tmux: Tmux, timeout: float = 20.0) -> tuple[int, str, str]:
    """Wait for :data:`AFTER_SHELL`'s report: (sockui's exit status, 'restored' or 'CHANGED', screen)."""

    def report() -> tuple[int, str, str] | None:
        screen = capture(tmux)
        found = EXITED.search(screen)
        return (int(found.group(1)), found.group(2), screen) if found else None

    result = poll(report, timeout, "sockui to exit")
    assert isinstance(result, tuple)
    return result


def table_with_row(tmux: Tmux) -> str | None:
    """The screen once the table's header, our listener's row and the table's footer are drawn.

    The test filters the table to its listener's port: the one row is that listener.
    """
    screen = tmux.capture()
    lines = screen.splitlines()
    # Filtered to the port: the one row is our listener (at 40 columns its address is cut to "12…93").
    row = bool(lines) and "shown 1/" in lines[0] and any(LISTENER_ROW.match(line) for line in lines)
    # The footer gets the table's keys a moment after the first rows (once the table has the focus).
    footer = bool(lines) and "b Binding" in lines[-1]
    if any(HEADER.match(line) for line in lines) and row and footer:
        return screen
    return None


def sockui_pid(tmux: Tmux) -> int:
    """The pid of the pane's sockui: the only child of the pane's shell (``env`` execs it)."""
    shell = int(tmux.pane("#{pane_pid}") or 0)
    children = Path(f"/proc/{shell}/task/{shell}/children").read_text().split()
    assert len(children) == 1, f"the pane's shell has children {children}"
    pid = int(children[0])
    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    assert any(part.endswith(b"sockui") for part in cmdline), cmdline
    return pid


# -- 40x12 ---------------------------------------------------------------------------------------------


def showing(text: str) -> Callable[[str], bool]:
    return lambda screen: text in screen


def hiding(text: str) -> Callable[[str], bool]:
    return lambda screen: text not in screen


#: Key (tmux's name) and how its view is recognised on screen: every view reachable from the table
#: with one key. ``f`` follows the listener (a full screen); ``/`` and ``ctrl+f`` open an input line
#: (the footer then drops the table's keys; the find line shows its placeholder).
SCREENS: tuple[tuple[str, Callable[[str], bool]], ...] = (
    ("?", showing("sockui keys")),
    ("o", showing("Owners of tcp")),
    ("g", showing("Processes")),
    ("n", showing("Network namespaces")),
    ("h", showing("Closed connections")),
    ("F", showing("Followed sockets")),
    ("c", showing("Copy")),
    ("Enter", showing("Endpoints")),
    ("C", showing("Columns")),
    ("=", showing("Narrow the table")),
    ("k", showing("Kill the process")),
    ("d", showing("Close this socket")),
    ("f", showing("Following tcp")),
    ("/", hiding("b Binding")),
    ("C-f", showing("find:")),
)


def view_open(tmux: Tmux, opened: Callable[[str], bool]) -> bool:
    return opened(tmux.capture())


def view_closed(tmux: Tmux, opened: Callable[[str], bool]) -> bool:
    """The view is gone and the table, our row and the table's footer are back."""
    return not opened(tmux.capture()) and table_with_row(tmux) is not None


def test_every_screen_opens_and_closes_at_40x12(
    tmux: Tmux, sockui_script: Path, bag: SocketBag, tmp_path: Path
) -> None:
    port = bag.listener().getsockname()[1]
    tmux.start([*sockui_env(tmp_path), str(sockui_script), "--filter", f"port {port}"], 40, 12)
    main = poll(lambda: table_with_row(tmux), START_TIMEOUT, "the table and our row at 40x12")
    assert isinstance(main, str)
    lines = main.splitlines()
    assert len(lines) <= 12 and all(len(line) <= 40 for line in lines), main
    assert f"filter port {port}" in lines[0] and "shown 1/" in lines[0], main
    for key, opened in SCREENS:
        tmux.send(key)
        poll(partial(view_open, tmux, opened), 15.0, f"the view of {key!r} at 40x12")
        tmux.send("Escape")
        poll(partial(view_closed, tmux, opened), 15.0, f"Escape to close the view of {key!r}")
        assert tmux.exit_status() is None, f"sockui exited after {key!r} + Escape:\n{tmux.capture()}"
    quit_and_wait(tmux)


# -- a resize storm ------------------------------------------------------------------------------------

STORM_SIZES = ((40, 12), (200, 60))
STORM_RESIZES = 50
STORM_SECONDS = 5.0


def laid_out_for(tmux: Tmux, width: int, height: int) -> str | None:
    """The screen if its layout is the one of ``width`` x ``height``, else None.

    Status on the first line, the table's header on the third, the footer on the last line with its
    right-aligned ``^p Commands`` ending one column short of the right edge: a layout made for any
    other size puts the footer on another line or ends it elsewhere.
    """
    screen = tmux.capture()
    lines = screen.rstrip("\n").split("\n")
    if len(lines) != height or any(len(line) > width for line in lines):
        return None
    footer = lines[-1].rstrip()
    if not (footer.endswith("^p Commands") and len(footer) == width - 1):
        return None
    if "shown 1/" not in lines[0] or not HEADER.match(lines[2]) or not LISTENER_ROW.match(lines[3]):
        return None
    return screen


def test_resize_storm_while_refreshing(
    tmux: Tmux, sockui_script: Path, bag: SocketBag, tmp_path: Path
) -> None:
    port = bag.listener().getsockname()[1]
    command = [*sockui_env(tmp_path), str(sockui_script), "--interval", "0.2", "--filter", f"port {port}"]
    tmux.start(command, 120, 30)
    poll(lambda: laid_out_for(tmux, 120, 30), START_TIMEOUT, "the table at 120x30")
    started = time.monotonic()
    width, height = STORM_SIZES[0]
    for n in range(STORM_RESIZES):
        width, height = STORM_SIZES[n % 2]
        tmux.run("resize-window", "-t", "main", "-x", str(width), "-y", str(height))
        # Pacing, not synchronisation: the storm is meant to outrun the app.
        time.sleep(max(0.0, started + (n + 1) * STORM_SECONDS / STORM_RESIZES - time.monotonic()))
    assert tmux.exit_status() is None, f"sockui died in the resize storm:\n{capture(tmux)}"
    poll(lambda: laid_out_for(tmux, width, height), 20.0, f"the layout of the final size {width}x{height}")

    tmux.send("Space")  # still answering keys: pause shows at once
    screen = poll(lambda: "PAUSED" in tmux.capture() and laid_out_for(tmux, width, height), 15.0, "PAUSED")
    assert "Traceback" not in str(screen)
    quit_and_wait(tmux)


# -- TERM, NO_COLOR, LANG ------------------------------------------------------------------------------

#: Glyphs sockui and Textual draw in every layout: the sort arrow, the status separator, the footer's.
GLYPHS = ("▲", "│", "▏")


@pytest.mark.parametrize(
    "extra",
    [
        pytest.param(("TERM=xterm",), id="xterm"),
        pytest.param(("TERM=screen-256color",), id="screen-256color"),
        pytest.param(("NO_COLOR=1",), id="no-color"),
        # Python itself switches to UTF-8 under the C locale (PEP 538/540)...
        pytest.param(("LANG=C", "LC_ALL=C"), id="lang-c"),
        # ...unless told not to: then stderr (where Textual draws) is ASCII with backslashreplace.
        pytest.param(("LANG=C", "LC_ALL=C", "PYTHONUTF8=0", "PYTHONCOERCECLOCALE=0"), id="lang-c-no-utf8"),
    ],
)
def test_terminal_kinds_start_draw_and_restore(
    tmux: Tmux, sockui_script: Path, bag: SocketBag, tmp_path: Path, extra: tuple[str, ...]
) -> None:
    port = bag.listener().getsockname()[1]
    command = [*sockui_env(tmp_path, *extra), str(sockui_script), "--filter", f"port {port}"]
    tmux.start(["sh", "-c", AFTER_SHELL, "sh", *command], 100, 20)
    before = modes(tmux)
    assert before == MODES, f"the pane did not start in a shell's modes: {before}"
    screen = poll(lambda: table_with_row(tmux), START_TIMEOUT, f"the table with {' '.join(extra)}")
    assert isinstance(screen, str)
    for glyph in GLYPHS:
        assert glyph in screen, f"{glyph!r} not drawn with {' '.join(extra)}:\n{screen}"
    assert "\\u" not in screen, f"glyphs drawn as escapes:\n{screen}"
    assert modes(tmux)["alternate_on"] == "1", "sockui did not take the alternate screen"

    tmux.send("q")
    status, tty, after = wait_exited(tmux)
    assert status == 0, after
    assert tty == "restored", f"the termios settings differ after sockui:\n{after}"
    assert modes(tmux) == MODES, "terminal modes not restored"
    assert "Traceback" not in after and "Error" not in after, after
    # Back on the main screen: the shell's report is there, the table is not.
    assert not any(HEADER.match(line) for line in after.splitlines()), after


# -- no terminal ---------------------------------------------------------------------------------------

NO_TERMINAL = re.compile(
    r"^sockui: the TUI needs a terminal, and (\w+) is not one; use --once for a snapshot$"
)


@contextlib.contextmanager
def terminal() -> Iterator[tuple[int, int]]:
    """A pty pair (master, slave), both closed at the end."""
    master, slave = pty.openpty()
    try:
        yield master, slave
    finally:
        os.close(master)
        with contextlib.suppress(OSError):
            os.close(slave)


def read_all(fd: int, timeout: float) -> bytes:
    """What can be read from ``fd`` until EOF (a pty master: EIO once the slave side is closed)."""
    data = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not select.select([fd], [], [], max(0.0, deadline - time.monotonic()))[0]:
            break
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            break
        if not chunk:
            break
        data += chunk
    return data


def run_without(stream: str, sockui_script: Path, tmp_path: Path) -> tuple[int, str, bytes]:
    """Run the TUI with ``stream`` not a terminal and the two others a real one (a pty).

    stdin: /dev/null (``sockui < /dev/null``); stdout, stderr: a pipe (``sockui | cat``,
    ``sockui 2>&1 | cat``... the latter being stderr's case). Returns the exit status, the terminal's
    text and what reached the pipe.
    """
    with terminal() as (master, slave):
        streams: dict[str, int] = {"stdin": slave, "stdout": slave, "stderr": slave}
        streams[stream] = subprocess.DEVNULL if stream == "stdin" else subprocess.PIPE
        env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "config"), "TERM": "xterm-256color"}
        proc = subprocess.Popen(
            [str(sockui_script)],
            stdin=streams["stdin"],
            stdout=streams["stdout"],
            stderr=streams["stderr"],
            env=env,
            start_new_session=True,
        )
        try:
            os.close(slave)
            piped = b""
            if stream != "stdin":
                pipe = proc.stdout if stream == "stdout" else proc.stderr
                assert pipe is not None
                piped = read_all(pipe.fileno(), 20.0)
                pipe.close()
            status = proc.wait(timeout=20)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        shown = read_all(master, 2.0).decode(errors="replace")
    return status, shown, piped


@pytest.mark.parametrize("stream", ["stdin", "stdout", "stderr"])
def test_tui_refuses_to_start_without_a_terminal(stream: str, sockui_script: Path, tmp_path: Path) -> None:
    status, shown, piped = run_without(stream, sockui_script, tmp_path)
    said = shown if stream != "stderr" else piped.decode(errors="replace")
    lines = [line for line in said.replace("\r", "").split("\n") if line]
    assert len(lines) == 1 and NO_TERMINAL.match(lines[0]), f"not one clear line: {said!r}"
    assert NO_TERMINAL.match(lines[0]).group(1) == stream  # type: ignore[union-attr]
    assert status == 2
    if stream == "stdout":
        assert piped == b"", f"written into the pipe: {piped[:200]!r}"
    assert "\x1b" not in shown, f"the TUI started: {shown[:200]!r}"


def test_once_into_a_pipe_still_works(sockui_script: Path, bag: SocketBag, tmp_path: Path) -> None:
    port = bag.listener().getsockname()[1]
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "config")}
    done = subprocess.run(
        [str(sockui_script), "--once", "--filter", f"port {port}"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout.decode().splitlines()
    assert HEADER.match(out[0]), out
    assert any(f"127.0.0.1:{port}" in line and str(os.getpid()) in line for line in out), out
    assert b"Traceback" not in done.stderr and b"\x1b" not in done.stdout


# -- a failing refresh ---------------------------------------------------------------------------------

REFRESH_FAILED = "refresh failed: OSError: [Errno 24] Too many open files"


def test_failing_refresh_is_shown_and_the_app_recovers(
    tmux: Tmux, sockui_script: Path, bag: SocketBag, tmp_path: Path
) -> None:
    """The collector fails for real: the running sockui is taken to the end of its file descriptors.

    No test hook and no fake source: ``prlimit`` lowers the process's RLIMIT_NOFILE to 3 from the
    outside, which is what a machine out of descriptors (or a too-low ``ulimit -n``) does to a
    refresh (listing /proc, opening fd directories and sock_diag sockets all need a new descriptor),
    while the UI thread, which opens nothing, goes on. The limit is then put back.
    """
    port = bag.listener().getsockname()[1]
    command = [*sockui_env(tmp_path), str(sockui_script), "--interval", "0.2", "--filter", f"port {port}"]
    tmux.start(command, 160, 24)
    poll(lambda: table_with_row(tmux), START_TIMEOUT, "the table and our row")
    pid = sockui_pid(tmux)
    limits = resource.prlimit(pid, resource.RLIMIT_NOFILE)
    try:
        resource.prlimit(pid, resource.RLIMIT_NOFILE, (3, limits[1]))

        def failure_shown() -> str | None:
            screen = tmux.capture()
            return screen if REFRESH_FAILED in screen.splitlines()[0] else None

        screen = poll(failure_shown, 20.0, "the failed refresh in the status line")
        # The last good snapshot stays: our row, not "shown 0/0".
        assert table_with_row(tmux) is not None, f"the rows went with the failure:\n{screen}"
    finally:
        with contextlib.suppress(ProcessLookupError):
            resource.prlimit(pid, resource.RLIMIT_NOFILE, limits)

    def recovered() -> str | None:
        screen = table_with_row(tmux)
        return screen if screen is not None and "refresh failed" not in screen else None

    poll(recovered, 20.0, "a good refresh to clear the failure")
    quit_and_wait(tmux)


class FailingFirstSource(ScriptedSource):
    """Fails every collect with EMFILE until :meth:`recover`, then lists its staged sockets.

    A fake, unlike the test above: no real way makes exactly the *first* refresh of a real sockui
    fail (a low ``ulimit -n`` set before the start hits Textual's own start-up as often as the
    collector). The failure is the one the real collector raises in that case.
    """

    def __init__(self) -> None:
        super().__init__([tcp(1, 8080, "LISTEN")])
        self.failing = True

    def recover(self) -> None:
        self.failing = False

    def collect(self) -> Snapshot:
        if self.failing:
            raise OSError(errno.EMFILE, "Too many open files", "/proc")
        return super().collect()


async def test_failing_first_refresh_is_shown_before_any_snapshot() -> None:
    source = FailingFirstSource()
    app = SockuiApp(interval=ONE_SNAPSHOT, source=lambda: source)
    async with app.run_test(size=(120, 20)) as pilot:
        status = app.main.status
        line = await wait_until(
            pilot, lambda: "refresh failed" in status.text and status.text, what="the failure in the status"
        )
        assert REFRESH_FAILED in line and "reading sockets" not in line, line
        assert app.snapshots_applied == 0
        source.recover()
        app.refresh_now()
        await wait_for_snapshot(pilot, app)
        assert "refresh failed" not in app.main.status.text and "shown 1/1" in app.main.status.text


# -- a crash on the UI thread --------------------------------------------------------------------------

#: sockui's command line with one real key handler replaced by one that raises: ``p`` (jump to the
#: pair) fails on the UI thread as a bug would. Done in the test's own launcher, so that sockui
#: carries no test hook; everything else is the installed package's ``cli.main``.
CRASHING_SOCKUI = """
import sys
from sockui import cli
from sockui.screens.main import MainScreen

def crash(self: MainScreen) -> None:
    raise RuntimeError("sockui-test-crash: the pair key failed")

MainScreen.action_pair = crash
sys.argv[0] = "sockui"
sys.exit(cli.main())
"""
CRASH_LINE = re.compile(
    r"^sockui: internal error \(RuntimeError: sockui-test-crash: the pair key failed\); "
    r"the traceback is in (/\S+) \(please include it in a bug report\)$",
    re.MULTILINE,
)


def test_crash_on_the_ui_thread_restores_the_terminal_and_keeps_the_traceback(
    tmux: Tmux, bag: SocketBag, tmp_path: Path
) -> None:
    port = bag.listener().getsockname()[1]
    command = [*sockui_env(tmp_path), sys.executable, "-c", CRASHING_SOCKUI, "--filter", f"port {port}"]
    tmux.start(["sh", "-c", AFTER_SHELL, "sh", *command], 160, 24)
    poll(lambda: table_with_row(tmux), START_TIMEOUT, "the table and our row")
    tmux.send("p")
    status, tty, after = wait_exited(tmux)
    assert status != 0, after
    assert tty == "restored", f"the termios settings differ after the crash:\n{after}"
    assert modes(tmux) == MODES, "terminal modes not restored after the crash"
    assert "Traceback" not in after, f"a traceback on the terminal instead of one line:\n{after}"
    found = CRASH_LINE.search(after)
    assert found is not None, f"no line naming the crash report:\n{after}"
    report = Path(found.group(1))
    assert report.parent == tmp_path / "state" / "sockui", report
    assert stat.S_IMODE(report.stat().st_mode) == 0o600, "the report is not private"
    text = report.read_text()
    assert "Traceback (most recent call last)" in text, text
    assert "RuntimeError: sockui-test-crash: the pair key failed" in text and "in crash" in text, text
    assert text.startswith("sockui "), text
