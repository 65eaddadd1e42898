r"""Deliver copied text by every route that applies (OSC 52, tmux, the desktop clipboard), never hanging.

:func:`copy` runs in a worker thread. It never raises, never takes much longer than its timeout, and
nothing it starts can write to the terminal. The routes:

- **terminal**: an OSC 52 sequence (``ESC ] 52 ; c ; <base64> BEL``) handed to ``write_terminal``, which
  the app makes write through Textual's driver. BEL rather than ST (``ESC \``) ends it: every terminal
  that knows OSC 52 accepts BEL, and inside tmux's passthrough an ST would have to be told apart from
  the one that ends the passthrough itself. It works over SSH, when the terminal allows it.
- **tmux** (``$TMUX`` set): ``tmux load-buffer -w -``. Facts checked on tmux 3.3a (tests/app):
  tmux ignores an application's OSC 52 unless ``set-clipboard`` is ``on`` (the default is ``external``);
  the passthrough form (``ESC P tmux; ... ESC \``) is dropped unless ``allow-passthrough`` is ``on``
  (3.3+; off by default). ``load-buffer -w`` (tmux >= 3.2) sets a tmux buffer *and* sends it to the
  attached client's terminal clipboard whatever ``set-clipboard`` says, when that terminal has the
  ``clipboard`` feature (``Ms``). So inside tmux the terminal route still writes the plain sequence
  (it is what reaches the outer terminal when ``set-clipboard`` is ``on``) and the tmux route does the
  rest. A tmux older than 3.2 rejects ``-w`` with a usage error: then ``load-buffer -`` alone, and
  the terminal route also writes the passthrough form, which tmux before 3.3 always lets through.
- **clipboard** (``DISPLAY`` or ``WAYLAND_DISPLAY`` set): the helper pyperclip 1.11 would pick, in
  its order (``wl-copy`` on Wayland, else ``xclip``, else ``xsel``), run here rather than through
  pyperclip: pyperclip lets the helper inherit our stdout and stderr (xclip's "Can't open display"
  lands on the TUI), waits for it without a timeout (a wedged X server hangs it forever), ignores its
  exit status, and reads ``os.environ`` once per process. Without any of them, pyperclip itself runs,
  in a child Python, for its other mechanisms. The helper gets the text on a pipe,
  ``/dev/null`` as stdout, a temporary file as stderr (a pipe would keep us waiting on the daemon
  xclip forks to own the selection), its own session (no controlling terminal), and is killed with
  its process group when the timeout expires.
"""

from __future__ import annotations

import base64
import contextlib
import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import IO

from sockui.model import format as fmt

__all__ = [
    "CLIPBOARD",
    "TERMINAL",
    "TMUX",
    "Delivery",
    "copy",
    "describe",
    "osc52",
    "osc52_for_tmux_passthrough",
]

TERMINAL = "terminal"
TMUX = "tmux"
CLIPBOARD = "clipboard"

#: How long a helper killed at the timeout gets to be reaped, and how long past the timeout a route
#: thread may take before :func:`copy` stops waiting for it.
_REAP = 0.2
_GRACE = 0.4
_MAX_DETAIL = 200
_MAX_WHAT = 60


@dataclass(frozen=True, slots=True)
class Delivery:
    """What happened on one route.

    ``ok`` with ``detail`` saying how, or not ``ok`` with the failure in plain words. ``attempted`` is
    False for a route that does not apply here (no display, not inside tmux, no terminal writer): it
    is reported, but not as a failure.
    """

    route: str
    ok: bool
    detail: str
    attempted: bool = True


def _utf8(text: str) -> bytes:
    """UTF-8, with undecodable bytes (surrogateescape) restored; never raises."""
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace")


def osc52(text: str) -> str:
    """The OSC 52 "set clipboard" sequence for ``text``: ``ESC ] 52 ; c ; <base64 of UTF-8> BEL``."""
    return "\x1b]52;c;" + base64.b64encode(_utf8(text)).decode("ascii") + "\x07"


def osc52_for_tmux_passthrough(text: str) -> str:
    r""":func:`osc52` wrapped for tmux's passthrough: ``ESC P tmux; <seq, ESC doubled> ESC \``."""
    return "\x1bPtmux;" + osc52(text).replace("\x1b", "\x1b\x1b") + "\x1b\\"


# -- running a helper --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Outcome:
    #: Exit status; None when it did not finish in time or did not start.
    status: int | None
    #: What it wrote on stderr (capped), or why it did not start.
    error: str = ""
    timed_out: bool = False


def _first_line(text: str) -> str:
    line = next((part.strip() for part in text.splitlines() if part.strip()), "")
    return fmt.clip(fmt.safe(line), _MAX_DETAIL)


def _kill(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the helper's whole process group (it leads its own session), then reap it briefly."""
    with contextlib.suppress(OSError):
        os.killpg(proc.pid, signal.SIGKILL)
    if proc.stdin is not None:
        with contextlib.suppress(OSError):
            proc.stdin.close()
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(_REAP)


def _run(argv: Sequence[str], data: bytes, env: Mapping[str, str], timeout: float) -> _Outcome:
    """Run ``argv`` with ``data`` on stdin, nothing reaching our terminal, for at most ``timeout`` s."""
    with contextlib.ExitStack() as stack:
        err: IO[bytes] | int
        try:
            err = stack.enter_context(tempfile.TemporaryFile())
        except OSError:
            err = subprocess.DEVNULL  # no writable temporary directory: lose the message, not the copy
        try:
            proc = subprocess.Popen(
                list(argv),
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=err,
                env=dict(env),
                start_new_session=True,
            )
        except OSError as exc:
            return _Outcome(None, fmt.safe(exc.strerror or str(exc)))
        try:
            proc.communicate(data, timeout=max(timeout, 0.01))
        except subprocess.TimeoutExpired:
            _kill(proc)
            return _Outcome(None, timed_out=True)
        except OSError as exc:  # stdin closed under us in a way communicate() does not absorb
            _kill(proc)
            return _Outcome(None, fmt.safe(exc.strerror or str(exc)))
        message = ""
        if not isinstance(err, int):
            err.seek(0)
            message = err.read(4096).decode("utf-8", "replace")
        return _Outcome(proc.returncode, message)


def _failure(name: str, outcome: _Outcome, timeout: float, *, quote: bool = True) -> str:
    """The failure in plain words; ``quote``: prefix the helper's own message with its name."""
    if outcome.timed_out:
        return f"{name} did not answer within {timeout:g} s"
    if outcome.status is None:
        return f"{name} could not start: {outcome.error}"
    line = _first_line(outcome.error)
    if not line:
        return f"{name} exited with status {outcome.status}"
    return f"{name}: {line}" if quote else line


def _which(name: str, env: Mapping[str, str]) -> str | None:
    return shutil.which(name, path=env.get("PATH", os.defpath))


# -- routes ------------------------------------------------------------------------------------------


def _tmux_route(data: bytes, env: Mapping[str, str], timeout: float) -> tuple[Delivery, bool]:
    """(what happened, whether this tmux rejected ``-w`` as too old)."""
    exe = _which("tmux", env)
    if exe is None:
        return Delivery(TMUX, False, "$TMUX is set but tmux is not on PATH"), False
    started = time.monotonic()
    outcome = _run([exe, "load-buffer", "-w", "-"], data, env, timeout)
    if outcome.status == 0:
        return Delivery(TMUX, True, "tmux buffer and its client's clipboard (load-buffer -w)"), False
    too_old = outcome.status is not None and (
        "unknown flag" in outcome.error or outcome.error.lstrip().startswith("usage:")
    )
    if too_old:
        remaining = max(0.01, timeout - (time.monotonic() - started))
        outcome = _run([exe, "load-buffer", "-"], data, env, remaining)
        if outcome.status == 0:
            return Delivery(TMUX, True, "tmux buffer (tmux older than 3.2: no -w)"), True
    # Reported as "tmux: <what tmux said>" (the route's name is the prefix).
    return Delivery(TMUX, False, _failure("tmux", outcome, timeout, quote=False)), too_old


#: Run in a child Python when no helper is installed: pyperclip's other mechanisms (Qt, GTK, klipper).
_PYPERCLIP = (
    "import sys\n"
    "try:\n"
    "    import pyperclip\n"
    "    pyperclip.copy(sys.stdin.buffer.read().decode('utf-8', 'surrogateescape'))\n"
    "except Exception as exc:\n"
    "    missing = type(exc).__name__.startswith('Pyperclip')\n"
    "    why = 'no clipboard mechanism found' if missing else str(exc).strip() or type(exc).__name__\n"
    "    print(why.splitlines()[0], file=sys.stderr)\n"
    "    sys.exit(1)\n"
)


def _clipboard_helper(env: Mapping[str, str]) -> tuple[list[str] | None, str]:
    """(argv that copies stdin to the desktop clipboard, its name), or (None, why there is none).

    The helper pyperclip would pick, run directly (see the module docstring for why not through
    pyperclip in this process); when none of those is installed, pyperclip itself, in a child Python
    under the same guard, for the mechanisms it knows beyond them (Qt, GTK, klipper).
    """
    wayland, x11 = bool(env.get("WAYLAND_DISPLAY")), bool(env.get("DISPLAY"))
    if not wayland and not x11:
        return None, "no display"
    candidates: list[tuple[str, list[str]]] = []
    if wayland:
        candidates.append(("wl-copy", []))
    if x11:
        candidates += [("xclip", ["-selection", "clipboard"]), ("xsel", ["--clipboard", "--input"])]
    for name, args in candidates:
        exe = _which(name, env)
        if exe is not None:
            return [exe, *args], name
    if importlib.util.find_spec("pyperclip") is not None:
        return [sys.executable, "-I", "-c", _PYPERCLIP], "pyperclip"
    return None, f"no {' or '.join(name for name, _ in candidates)} installed"


def _clipboard_route(
    argv: list[str], name: str, data: bytes, env: Mapping[str, str], timeout: float
) -> Delivery:
    outcome = _run(argv, data, env, timeout)
    if outcome.status == 0:
        return Delivery(CLIPBOARD, True, name)
    return Delivery(CLIPBOARD, False, _failure(name, outcome, timeout))


def _terminal_route(write_terminal: Callable[[str], None], sequence: str, what: str) -> Delivery:
    try:
        write_terminal(sequence)
    except Exception as exc:  # the writer is the app's: whatever it raises is a failed route, not ours
        return Delivery(
            TERMINAL, False, f"could not write {what}: {_first_line(str(exc)) or type(exc).__name__}"
        )
    return Delivery(TERMINAL, True, f"{what} sent")


class _Worker(threading.Thread):
    """A daemon thread computing one route's :class:`Delivery` (never left blocking interpreter exit)."""

    def __init__(self, route: str, work: Callable[[], Delivery]) -> None:
        super().__init__(name=f"sockui-copy-{route}", daemon=True)
        self.route = route
        self.work = work
        self.result: Delivery | None = None

    def run(self) -> None:
        try:
            self.result = self.work()
        except Exception as exc:  # never let a route's bug escape copy()
            self.result = Delivery(self.route, False, f"internal error: {_first_line(repr(exc))}")


def copy(
    text: str,
    *,
    env: Mapping[str, str] | None = None,
    timeout: float = 1.0,
    write_terminal: Callable[[str], None] | None = None,
) -> list[Delivery]:
    """Send ``text`` by every route that applies, the helpers in parallel, each within ``timeout``.

    Args:
        text: what to copy (already escaped for display by the caller, if it came from the system).
        env: the environment deciding the routes and given to helpers; ``os.environ`` by default.
        timeout: seconds each helper may take; :func:`copy` returns within about ``timeout + 0.5``.
        write_terminal: writes a string to the terminal (the app's, through its driver); None: no
            terminal route.

    Returns:
        One :class:`Delivery` per route, terminal, tmux, clipboard, in that order. Never raises.
    """
    try:
        return _copy(text, os.environ if env is None else env, timeout, write_terminal)
    except Exception as exc:  # never raise: the caller is a worker that can only notify
        return [Delivery(TERMINAL, False, f"internal error: {_first_line(repr(exc))}")]


def _copy(
    text: str, env: Mapping[str, str], timeout: float, write_terminal: Callable[[str], None] | None
) -> list[Delivery]:
    deadline = time.monotonic() + timeout + _GRACE
    data = _utf8(text)
    results: dict[str, Delivery] = {}
    workers: list[_Worker] = []
    old_tmux = threading.Event()

    if env.get("TMUX"):

        def tmux_work() -> Delivery:
            delivery, too_old = _tmux_route(data, env, timeout)
            if too_old:
                old_tmux.set()
            return delivery

        workers.append(_Worker(TMUX, tmux_work))
    else:
        results[TMUX] = Delivery(TMUX, False, "not inside tmux", attempted=False)

    argv, name = _clipboard_helper(env)
    if argv is not None:
        workers.append(_Worker(CLIPBOARD, lambda: _clipboard_route(argv, name, data, env, timeout)))
    else:
        results[CLIPBOARD] = Delivery(CLIPBOARD, False, name, attempted=name != "no display")

    for worker in workers:
        worker.start()
    if write_terminal is None:
        results[TERMINAL] = Delivery(TERMINAL, False, "no terminal to write to", attempted=False)
    else:
        results[TERMINAL] = _terminal_route(write_terminal, osc52(text), "OSC 52")
    for worker in workers:
        worker.join(max(0.0, deadline - time.monotonic()))
        results[worker.route] = worker.result or Delivery(
            worker.route, False, f"{worker.route} did not answer within {timeout:g} s"
        )
    if old_tmux.is_set() and write_terminal is not None and results[TERMINAL].ok:
        # tmux < 3.2 could not pass the text on (no -w) and drops a plain OSC 52 unless set-clipboard
        # is on; before 3.3 it always lets the passthrough form through to the outer terminal.
        results[TERMINAL] = _terminal_route(
            write_terminal, osc52_for_tmux_passthrough(text), "OSC 52 (also as tmux passthrough)"
        )
    return [results[TERMINAL], results[TMUX], results[CLIPBOARD]]


# -- the notification --------------------------------------------------------------------------------


def _visible(text: str, limit: int) -> str:
    """One line with control characters escaped, shortened to ``limit`` characters."""
    if any(ch != "\\" and fmt.safe(ch) != ch for ch in text):
        text = fmt.safe(text)
    return fmt.clip(text, limit)


def describe(deliveries: Sequence[Delivery], what: str) -> str:
    """The one-line notification for a copy of ``what``.

    Examples: ``copied 127.0.0.1:5000 -> 127.0.0.1:80 (terminal, tmux)``; over SSH with nothing but
    the terminal, ``sent 127.0.0.1:80 to the terminal clipboard (OSC 52)`` (whether the terminal
    honoured it cannot be known); ``copy failed: tmux: no server running on /tmp/tmux-0/default;
    clipboard: no display; sent to the terminal (OSC 52) only``. Failures come first, then the routes
    that did not apply and why (they explain where the text did not go).
    """
    shown = _visible(what, _MAX_WHAT)
    done = [d for d in deliveries if d.attempted and d.ok]
    failed = [d for d in deliveries if d.attempted and not d.ok]
    skipped = [d for d in deliveries if not d.attempted]
    confirmed = [d for d in done if d.route != TERMINAL]

    def reasons(items: Sequence[Delivery]) -> str:
        return "; ".join(f"{d.route}: {_visible(d.detail, _MAX_DETAIL)}" for d in items)

    if confirmed:
        message = f"copied {shown} ({', '.join(d.route for d in done)})"
        return f"{message}; {reasons(failed)}" if failed else message
    terminal_sent = any(d.route == TERMINAL for d in done)
    if terminal_sent and not failed:
        return f"sent {shown} to the terminal clipboard (OSC 52)"
    if terminal_sent:
        return f"copy failed: {reasons(failed + skipped)}; sent to the terminal (OSC 52) only"
    return f"copy failed: {reasons(failed + skipped) or 'no route to a clipboard'}"
