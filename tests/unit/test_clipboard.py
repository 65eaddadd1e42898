"""Clipboard delivery: the OSC 52 sequences, which routes are tried, and that no helper can hang or print.

The clipboard helpers are fakes: small shell scripts named xclip, xsel, wl-copy or tmux, written into
tmp_path and put on the PATH given to ``copy()`` (no monkeypatching; the code runs them exactly as it
would run the real ones). Fakes stand in where the real thing cannot misbehave on demand: a helper
that never answers (a wedged X server), one that forks a daemon and exits (as xclip does), a tmux older
than 3.2. Where the real program is installed, it is used too: xclip with a display that has no X
server, tmux with a server that is not running. Every process a fake starts is killed at the end.
"""

from __future__ import annotations

import base64
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest

from sockui.act.clipboard import (
    CLIPBOARD,
    TERMINAL,
    TMUX,
    Delivery,
    copy,
    describe,
    osc52,
    osc52_for_tmux_passthrough,
)

SLEEP = shutil.which("sleep") or "/bin/sleep"
CAT = shutil.which("cat") or "/bin/cat"


def decode_osc52(seq: str) -> bytes:
    assert seq.startswith("\x1b]52;c;") and seq.endswith("\x07")
    payload = seq[len("\x1b]52;c;") : -1]
    assert payload.isascii() and "\x1b" not in payload and "\x07" not in payload
    return base64.b64decode(payload, validate=True)


@pytest.mark.parametrize("text", ["127.0.0.1:5000 -> 127.0.0.1:80", "名前 café ✓ 🙂", "a\nb\x1b[2J", ""])
def test_osc52_is_well_formed_and_carries_exactly_the_text(text: str) -> None:
    assert decode_osc52(osc52(text)) == text.encode("utf-8")


def test_osc52_keeps_undecodable_bytes() -> None:
    assert decode_osc52(osc52("/tmp/\udcff.sock")) == b"/tmp/\xff.sock"
    decode_osc52(osc52("lone \ud800 surrogate"))  # not a surrogateescape byte: replaced, no exception


def test_tmux_passthrough_wraps_the_sequence_with_esc_doubled() -> None:
    seq = osc52_for_tmux_passthrough("x")
    assert seq.startswith("\x1bPtmux;") and seq.endswith("\x1b\\")
    inner = seq[len("\x1bPtmux;") : -2]
    assert "\x1b" not in inner.replace("\x1b\x1b", "")  # every ESC inside is doubled
    assert inner.replace("\x1b\x1b", "\x1b") == osc52("x")


# -- fakes ---------------------------------------------------------------------------------------------


class Fakes:
    """A directory of fake helpers; every process they record in ``pids`` is killed at the end."""

    def __init__(self, root: Path) -> None:
        self.bin = root / "bin"
        self.bin.mkdir()
        self.pids = root / "pids"
        self.root = root

    def add(self, name: str, body: str) -> None:
        script = self.bin / name
        script.write_text(f'#!/bin/sh\necho $$ >> "{self.pids}"\n{body}\n')
        script.chmod(0o755)

    def env(self, **extra: str) -> dict[str, str]:
        """Only the fakes on PATH (the scripts call programs by absolute path)."""
        return {"PATH": str(self.bin), **extra}

    def started(self) -> list[int]:
        try:
            return [int(line) for line in self.pids.read_text().split()]
        except FileNotFoundError:
            return []

    def kill_all(self) -> None:
        for pid in self.started():
            with contextlib.suppress(OSError):
                os.killpg(pid, signal.SIGKILL)  # each helper leads its own process group


@pytest.fixture
def fakes(tmp_path: Path) -> Iterator[Fakes]:
    helpers = Fakes(tmp_path)
    try:
        yield helpers
    finally:
        helpers.kill_all()


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, IndexError):
        return False


def copy_with_deadline(
    text: str,
    env: Mapping[str, str],
    timeout: float,
    write_terminal: Callable[[str], None] | None = None,
) -> list[Delivery]:
    """Run copy() in a thread and fail unless it returns within ``timeout + 0.5`` s."""
    box: list[list[Delivery]] = []

    def run() -> None:
        box.append(copy(text, env=env, timeout=timeout, write_terminal=write_terminal))

    worker = threading.Thread(target=run, daemon=True)
    started = time.monotonic()
    worker.start()
    worker.join(timeout + 0.5)
    elapsed = time.monotonic() - started
    assert not worker.is_alive(), f"copy() still running after {elapsed:.2f} s"
    assert box, "copy() raised"
    return box[0]


def by_route(deliveries: list[Delivery]) -> dict[str, Delivery]:
    assert [d.route for d in deliveries] == [TERMINAL, TMUX, CLIPBOARD]
    return {d.route: d for d in deliveries}


# -- which routes ----------------------------------------------------------------------------------------


def test_without_display_or_tmux_only_the_terminal_is_tried(
    fakes: Fakes, capfd: pytest.CaptureFixture[str]
) -> None:
    for name in ("xclip", "xsel", "wl-copy", "tmux"):
        fakes.add(name, f"{CAT} > /dev/null")
    writes: list[str] = []
    routes = by_route(copy("hello", env=fakes.env(), write_terminal=writes.append))
    assert writes == [osc52("hello")]
    assert routes[TERMINAL] == Delivery(TERMINAL, True, "OSC 52 sent")
    assert not routes[TMUX].attempted and not routes[CLIPBOARD].attempted
    assert routes[CLIPBOARD].detail == "no display"
    assert fakes.started() == []  # no helper ran
    assert capfd.readouterr() == ("", "")
    assert describe(list(routes.values()), "hello") == "sent hello to the terminal clipboard (OSC 52)"


@pytest.mark.parametrize(
    ("helper", "display"), [("xclip", "DISPLAY"), ("xsel", "DISPLAY"), ("wl-copy", "WAYLAND_DISPLAY")]
)
def test_a_helper_that_never_answers_is_given_up_on_and_killed(
    fakes: Fakes, capfd: pytest.CaptureFixture[str], helper: str, display: str
) -> None:
    # Like xclip talking to a wedged X server; it also tries to print on our stdout and stderr.
    fakes.add(helper, f"echo noise on stdout\necho noise on stderr >&2\nexec {SLEEP} 600")
    env = fakes.env(**{display: ":99"})
    routes = by_route(copy_with_deadline("hello", env, 0.5, write_terminal=lambda s: None))
    assert routes[CLIPBOARD] == Delivery(CLIPBOARD, False, f"{helper} did not answer within 0.5 s")
    (pid,) = fakes.started()
    deadline = time.monotonic() + 5.0
    while alive(pid) and time.monotonic() < deadline:  # killed at the timeout; reaping may lag a loaded host
        time.sleep(0.01)
    assert not alive(pid)
    assert capfd.readouterr() == ("", "")
    message = describe(list(routes.values()), "hello")
    assert message == (
        f"copy failed: clipboard: {helper} did not answer within 0.5 s; tmux: not inside tmux;"
        " sent to the terminal (OSC 52) only"
    )


def test_a_helper_that_leaves_a_daemon_behind_does_not_hold_copy(
    fakes: Fakes, capfd: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # xclip forks a child that keeps the selection (and our stdout/stderr, if it had them) and exits.
    out = tmp_path / "clipboard"
    fakes.add("xclip", f'{CAT} > "{out}"\n{SLEEP} 600 &\nexit 0')
    routes = by_route(copy_with_deadline("名 ✓", fakes.env(DISPLAY=":0"), 1.0, write_terminal=lambda s: None))
    assert routes[CLIPBOARD] == Delivery(CLIPBOARD, True, "xclip")
    assert out.read_bytes() == "名 ✓".encode()
    assert capfd.readouterr() == ("", "")
    assert describe(list(routes.values()), "名 ✓") == "copied 名 ✓ (terminal, clipboard)"


def test_a_stale_display_with_a_fake_xclip(fakes: Fakes, capfd: pytest.CaptureFixture[str]) -> None:
    fakes.add("xclip", f'{CAT} > /dev/null\necho "Error: Can\'t open display: :99" >&2\nexit 1')
    routes = by_route(copy("x", env=fakes.env(DISPLAY=":99"), timeout=2.0))
    assert routes[CLIPBOARD] == Delivery(CLIPBOARD, False, "xclip: Error: Can't open display: :99")
    assert capfd.readouterr() == ("", "")


def test_a_stale_display_with_the_real_xclip(capfd: pytest.CaptureFixture[str]) -> None:
    if shutil.which("xclip") is None:
        pytest.skip("xclip is not installed (apt-get install xclip)")
    if Path("/tmp/.X11-unix/X99").exists():
        pytest.skip("an X server is listening on :99 here")
    routes = by_route(copy("x", env={"PATH": os.environ["PATH"], "DISPLAY": ":99"}, timeout=5.0))
    assert routes[CLIPBOARD] == Delivery(CLIPBOARD, False, "xclip: Error: Can't open display: :99")
    assert capfd.readouterr() == ("", "")


def test_a_display_without_any_helper(fakes: Fakes, capfd: pytest.CaptureFixture[str]) -> None:
    """No wl-copy, xclip or xsel: pyperclip is asked in a child process (its Qt/GTK/klipper ways);
    here it has none either, and says so in one clean line, nothing on the terminal."""
    routes = by_route(copy("x", env=fakes.env(DISPLAY=":0", WAYLAND_DISPLAY="wayland-0"), timeout=5.0))
    assert routes[CLIPBOARD] == Delivery(CLIPBOARD, False, "pyperclip: no clipboard mechanism found")
    assert capfd.readouterr() == ("", "")


def test_helper_error_text_is_escaped(fakes: Fakes, capfd: pytest.CaptureFixture[str]) -> None:
    fakes.add(
        "xsel", f"{CAT} > /dev/null\nprintf '\\033[2J\\033]0;pwn\\007 boom\\nsecond line\\n' >&2\nexit 3"
    )
    routes = by_route(copy("x", env=fakes.env(DISPLAY=":0")))
    assert routes[CLIPBOARD].detail == "xsel: \\e[2J\\e]0;pwn\\x07 boom"
    message = describe(list(routes.values()), "\x1b[31mred")
    assert "\x1b" not in message and "\x07" not in message
    assert capfd.readouterr() == ("", "")


# -- tmux -----------------------------------------------------------------------------------------------


def test_tmux_older_than_3_2_falls_back_and_uses_the_passthrough(fakes: Fakes, tmp_path: Path) -> None:
    # tmux 3.1 answers "-w" with a usage error; it then loads the buffer without it.
    out = tmp_path / "buffer"
    fakes.add(
        "tmux",
        'for a in "$@"; do [ "$a" = -w ] && { echo "unknown flag -w" >&2;'
        ' echo "usage: load-buffer [-b buffer-name] path" >&2; exit 1; }; done\n'
        f'{CAT} > "{out}"',
    )
    writes: list[str] = []
    routes = by_route(copy("some text", env=fakes.env(TMUX="/tmp/none,1,0"), write_terminal=writes.append))
    assert routes[TMUX] == Delivery(TMUX, True, "tmux buffer (tmux older than 3.2: no -w)")
    assert out.read_text() == "some text"
    assert writes == [osc52("some text"), osc52_for_tmux_passthrough("some text")]
    assert len(fakes.started()) == 2


def test_tmux_with_no_server_says_what_tmux_said(capfd: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    if shutil.which("tmux") is None:
        pytest.skip("tmux is not installed")
    env = {"PATH": os.environ["PATH"], "TMUX": f"{tmp_path}/no-server,1,0"}
    routes = by_route(copy("x", env=env, timeout=5.0, write_terminal=lambda s: None))
    assert not routes[TMUX].ok
    assert routes[TMUX].detail == f"error connecting to {tmp_path}/no-server (No such file or directory)"
    message = describe(list(routes.values()), "x")
    assert message == (
        f"copy failed: tmux: error connecting to {tmp_path}/no-server (No such file or directory);"
        " clipboard: no display; sent to the terminal (OSC 52) only"
    )
    assert capfd.readouterr() == ("", "")


def test_tmux_set_but_not_installed(fakes: Fakes) -> None:
    routes = by_route(copy("x", env=fakes.env(TMUX="/tmp/t,1,0")))
    assert routes[TMUX] == Delivery(TMUX, False, "$TMUX is set but tmux is not on PATH")


# -- never raises ---------------------------------------------------------------------------------------


def test_a_failing_terminal_writer_is_a_failed_route_not_an_exception(fakes: Fakes) -> None:
    def broken(seq: str) -> None:
        raise OSError("driver\x1b[2J gone")

    routes = by_route(copy("x", env=fakes.env(), write_terminal=broken))
    assert routes[TERMINAL] == Delivery(TERMINAL, False, "could not write OSC 52: driver\\e[2J gone")
    assert describe(list(routes.values()), "x") == (
        "copy failed: terminal: could not write OSC 52: driver\\e[2J gone; tmux: not inside tmux;"
        " clipboard: no display"
    )


def test_an_unstartable_helper(fakes: Fakes) -> None:
    (fakes.bin / "xclip").write_text("#!/nonexistent/interpreter\n")
    (fakes.bin / "xclip").chmod(0o755)
    routes = by_route(copy("x", env=fakes.env(DISPLAY=":0")))
    assert routes[CLIPBOARD] == Delivery(CLIPBOARD, False, "xclip could not start: No such file or directory")


# -- the notification ------------------------------------------------------------------------------------


def test_describe_names_every_route_that_worked_and_what_failed() -> None:
    deliveries = [
        Delivery(TERMINAL, True, "OSC 52 sent"),
        Delivery(TMUX, True, "tmux buffer and its client's clipboard (load-buffer -w)"),
        Delivery(CLIPBOARD, False, "xclip did not answer within 1 s"),
    ]
    assert describe(deliveries, "127.0.0.1:5000 → 127.0.0.1:80") == (
        "copied 127.0.0.1:5000 → 127.0.0.1:80 (terminal, tmux); clipboard: xclip did not answer within 1 s"
    )
    assert describe(deliveries[1:2], "x") == "copied x (tmux)"
    long = "x" * 200
    assert describe(deliveries[:1], long) == f"sent {'x' * 59}… to the terminal clipboard (OSC 52)"
    assert describe([], "x") == "copy failed: no route to a clipboard"


def test_clipboard_module_does_not_import_textual() -> None:
    code = (
        "import sys, sockui.act.clipboard; "
        "bad = [m for m in sys.modules if m.split('.')[0] in ('textual', 'rich', 'pyperclip')]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
