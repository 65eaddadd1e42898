"""Benchmark: the sockui TUI as a user runs it, in a real terminal (tmux), at scale, next to ``ss``.

Everything here happens to the installed ``sockui`` console script running in a pty that a private
tmux server owns (``tmux -L <unique name> -f /dev/null``, 160x45, ``window-size manual``), on a real
scenario of N loopback TCP connections (``scenario.py``: 2N established sockets plus listeners, held by
helper processes). Nothing is imported from sockui: what is measured is what reaches the terminal.

1. Time to first table: from launching ``sockui --interval I`` (``tmux new-session``) until
   ``capture-pane -p`` shows the column header (``Proto`` ... ``State``) with a ``tcp`` row under it.
   The screen is polled by running ``tmux capture-pane`` in a loop; the poll period (the error bar)
   is reported. One untimed launch comes first, with Python's bytecode cache pointed outside the
   work tree (``PYTHONPYCACHEPREFIX``), so that this is a user's launch of an installed sockui and
   not a recompilation forced by ``PYTHONDONTWRITEBYTECODE`` (``--no-warm-up`` to skip).
2. Refresh cost: the status line ends with ``HH:MM:SS (NNN ms)``, the wall time and the cost of the
   last refresh (the collector's ``snapshot.duration``, not the UI work that follows). It is sampled
   with ``capture-pane`` every 250 ms for ``--refresh-window`` seconds: median/max of the costs and
   the number of refreshes (distinct stamps). sockui's own CPU use over that window comes from
   ``/proc/PID/task/*/schedstat``.
3. RSS: VmRSS and VmHWM of the sockui process (found under the pane's pid) at first table, exactly
   ``--soak`` seconds later, and at the end.
4. Key to screen while refreshes run: ``Down``/``Up`` alternately (``--presses``), a random 50-300 ms
   apart so that presses land at every phase of the refresh cycle. The cursor row is the table line
   drawn with a background colour no other row has; it is learnt from ``capture-pane -p -e``. The
   latency is measured through tmux control mode (``tmux -C attach``): the key is sent as a
   ``send-keys`` command on the control client's stdin, and everything sockui writes to its pty comes
   back as ``%output`` notifications that this script timestamps on arrival and parses (cursor
   positioning + SGR colours; a small incremental parser, no emulator) to find the first chunk that
   draws the cursor background on the new row. That is the moment the moved cursor reached the
   terminal. Each press is verified afterwards with ``capture-pane -e`` (outside the timing).

   The method's own cost is measured, not guessed: the same loop runs against a trivial "echo app"
   (part of this file) that redraws two rows the instant it reads a key, once on a quiet machine
   before sockui starts and once in a second tmux window while sockui refreshes at scale in the
   first. Those figures are the harness floor (control client, tmux server, pty, wake-ups, parsing)
   under the same load. ``--method poll`` instead polls ``capture-pane -p -e`` over the control
   connection in a tight loop and reports both figures for the same presses plus the poll round trip,
   which is what that method's resolution is. Polling was kept as the alternative, not the default:
   its round trip is ~1-2 ms at best and ~7-9 ms p99 next to a busy sockui, and it loads tmux while
   it measures. A terminal emulator (``pyte``) fed from a pty was ruled out too: in pure Python it
   takes ~3 us per byte, ~8 ms for one 2.7 KB chunk of a Textual frame, which would delay the
   timestamps it is there to take.

   Each press is classed from outside the process: "applying" when a new refresh stamp reached the
   screen between the key and the cursor frame (the UI thread applied a snapshot in the way),
   "refreshing" when sockui's non-main threads (the collector worker) used at least 25% of a CPU
   from 25 ms before the key to the frame (per-thread ``schedstat``, sampled every 5 ms), else
   "idle". The main thread's CPU time during each press is kept, so a slow press can be told apart:
   a busy UI thread, or a UI thread waiting (for the GIL, for a core).
5. Side by side with ss, in the same run: ``ss -tuanxp``, ``ss -tuanx``, ``sockui --once``,
   ``sockui --once --json``, ``--jsonl`` and ``--csv`` as whole processes writing to a pipe read to
   the end (interpreter start-up included), median of ``--runs`` interleaved rounds after one untimed
   warm-up. Peak RSS comes from more runs of each (``--rss-runs``, median) under a small fresh
   wrapper (GNU ``time -f %M``, else a ``python -I -S`` fork/``wait4``): a child's maxrss includes
   the RSS of the process it was forked from, so measuring from this interpreter would report its
   size instead; the wrapper's own floor (running ``true``) is reported. Ratios are against the
   median of ``ss -tuanxp``. Each run is its own process group, killed whole if the benchmark is
   interrupted mid-run (the RSS wrapper's child included).

Everything is torn down on success, failure and Ctrl-C: the tmux servers (``kill-server``, SIGKILL of
the server pid if it lingers, the socket file removed), the sockui process (SIGKILL by pid if it
survived its pty, after checking it is still the same process), the control clients, and the
scenario's helpers. If sockui dies or prints a traceback, the screen is captured into the report
and the remaining TUI phases are skipped.

A benchmark, not a test: it prints figures and asserts nothing. Progress goes to stderr, the report
(markdown tables, ready for bench/RESULTS.md) to stdout, or JSON with ``--json``.

Run: ``python bench/bench_tui.py [--connections 50000] [--interval 1] [--presses 200] [--soak 60]``.
"""

from __future__ import annotations

import argparse
import bisect
import contextlib
import json
import os
import platform
import random
import re
import select
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

_BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(_BENCH)]

from scenario import Scenario, ScenarioError  # noqa: E402

WIDTH, HEIGHT = 160, 45
#: The status line's refresh stamp: wall time and cost of the last refresh.
STAMP = re.compile(r"(\d\d:\d\d:\d\d) \((\d+) ms\)")
SHOWN = re.compile(r"shown (\d+)/(\d+)")
#: A table row's first word (the Proto column: tcp, udp, unix/str, raw, ...), after any padding.
ROW_START = re.compile(r"^\s*[a-z][a-z0-9/]*\s")
#: Escape sequences, for plain text out of ``capture-pane -e`` lines.
ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[ -/]*[0-~]")
SGR = re.compile(r"\x1b\[([0-9;:]*)m")
OCTAL = re.compile(rb"\\[0-7]{3}")
#: CPU sampling period of the sockui threads during the key phase.
CPU_PERIOD = 0.005
#: Share of one CPU that the non-main threads must use around a press for it to count as "refreshing".
REFRESHING_SHARE = 0.25
#: How far before the key the "refreshing" test looks.
REFRESHING_LOOKBACK = 0.025
PRESS_TIMEOUT = 10.0
KINDS = ("refreshing", "applying", "idle")
LABELS = {
    "refreshing": "during a refresh (collector thread busy)",
    "applying": "a snapshot applied during the press",
    "idle": "idle",
}

#: (bg, reverse): what tells the cursor row from the others.
Style = tuple[str, bool]
PLAIN: Style = ("", False)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# -- statistics -----------------------------------------------------------------------------------------


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile; NaN for no values."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[index]


def stats(values: list[float]) -> dict[str, Any]:
    """n/p50/p99/max/mean of millisecond values (None where there are none)."""
    if not values:
        return {"n": 0, "p50": None, "p99": None, "max": None, "mean": None}
    return {
        "n": len(values),
        "p50": round(percentile(values, 50), 3),
        "p99": round(percentile(values, 99), 3),
        "max": round(max(values), 3),
        "mean": round(statistics.fmean(values), 3),
    }


# -- screens: SGR styles, the cursor row, the status line ------------------------------------------------


def apply_sgr(style: Style, params: str) -> Style:
    """The (bg, reverse) style after one SGR sequence's parameters."""
    bg, reverse = style
    parts = params.replace(":", ";").split(";") if params else ["0"]
    i = 0
    while i < len(parts):
        n = int(parts[i]) if parts[i].isdigit() else 0
        if n == 0:
            bg, reverse = "", False
        elif n == 7:
            reverse = True
        elif n == 27:
            reverse = False
        elif 40 <= n <= 47 or 100 <= n <= 107:
            bg = str(n)
        elif n == 49:
            bg = ""
        elif n in (38, 48, 58):
            mode = parts[i + 1] if i + 1 < len(parts) else ""
            width = 2 if mode == "5" else 4 if mode == "2" else 1
            if n == 48:
                bg = ";".join(parts[i + 1 : i + 1 + width])
            i += width
        i += 1
    return bg, reverse


@dataclass
class ScreenInfo:
    """What one ``capture-pane -p -e`` says: the table's rows, the cursor row, the status stamp."""

    text: str
    header_row: int | None = None
    #: Screen rows (1-based) of table lines, with the style of their first cell.
    rows: dict[int, Style] = field(default_factory=dict)
    cursor_row: int | None = None
    cursor_style: Style | None = None
    stamp: tuple[str, int] | None = None

    @property
    def table_span(self) -> tuple[int, int] | None:
        """First and last screen rows the table may draw on (below its header)."""
        if self.header_row is None:
            return None
        return self.header_row + 1, HEIGHT - 1


def analyse_screen(captured: str, cursor_style: Style | None = None) -> ScreenInfo:
    """Find the column header, the table rows with their styles, the cursor row and the stamp.

    tmux's ``capture-pane -e`` writes only style changes, carried over from line to line, so the
    style of each line's first cell is followed through the whole capture. The cursor row is the one
    row in ``cursor_style`` when that is known, else the one row whose style no other row has.
    """
    style = PLAIN
    plain_lines: list[str] = []
    first_styles: list[Style] = []
    for line in captured.split("\n"):
        first: Style | None = None
        pos = 0
        for match in SGR.finditer(line):
            if first is None and ANSI.sub("", line[pos : match.start()]).strip():
                first = style
            style = apply_sgr(style, match.group(1))
            pos = match.end()
        if first is None:
            first = style
        plain_lines.append(ANSI.sub("", line))
        first_styles.append(first)
    text = "\n".join(plain_lines)
    info = ScreenInfo(text=text)
    found = STAMP.search(text)
    if found:
        info.stamp = (found.group(1), int(found.group(2)))
    for index, line in enumerate(plain_lines):
        if re.search(r"\bProto\b", line) and re.search(r"\bState\b", line):
            info.header_row = index + 1
            break
    if info.header_row is None:
        return info
    for index in range(info.header_row, min(len(plain_lines), HEIGHT - 1)):
        if ROW_START.match(plain_lines[index]):
            info.rows[index + 1] = first_styles[index]
    counts: dict[Style, int] = {}
    for st in info.rows.values():
        counts[st] = counts.get(st, 0) + 1
    if cursor_style is not None:
        unique = [row for row, st in info.rows.items() if st == cursor_style]
    else:
        unique = [row for row, st in info.rows.items() if counts[st] == 1]
    if len(info.rows) >= 2 and len(unique) == 1:
        info.cursor_row = unique[0]
        info.cursor_style = info.rows[unique[0]]
    return info


def first_table_shown(screen: str) -> bool:
    """The header (``Proto`` and ``State``) is drawn and a line below it starts with ``tcp`` (after
    any padding the layout puts before the table)."""
    lines = screen.splitlines()
    for index, line in enumerate(lines):
        if re.search(r"\bProto\b", line) and re.search(r"\bState\b", line):
            return any(below.lstrip().startswith("tcp") for below in lines[index + 1 :])
    return False


class StreamParser:
    """Incremental reader of what an application writes to its terminal, just enough to tell which
    row is drawn with which background (cursor positioning, SGR, CR/LF) and what text each row run
    holds (for the refresh stamp). Escape sequences split across chunks are carried over."""

    def __init__(self) -> None:
        self.carry = b""
        self.row = 1
        self.style = PLAIN
        self.run_drawn = False
        self.run_text: list[bytes] = []
        self.run_stamp_seen = False
        #: Text is kept (for the stamp) only on rows above this one: the status lines, not the table.
        self.text_above_row = HEIGHT + 1
        self._sgr: dict[tuple[Style, bytes], Style] = {}

    def feed(self, data: bytes) -> tuple[list[tuple[int, Style]], list[tuple[str, int]]]:
        """Parse one chunk; returns (row, style of its first visible text) draws and refresh stamps."""
        buf = self.carry + data if self.carry else data
        self.carry = b""
        draws: list[tuple[int, Style]] = []
        stamps: list[tuple[str, int]] = []
        pos, end = 0, len(buf)
        while pos < end:
            byte = buf[pos]
            if byte == 0x1B:
                if pos + 1 >= end:
                    self.carry = buf[pos:]
                    break
                kind = buf[pos + 1]
                if kind == 0x5B:  # CSI
                    match = _CSI.match(buf, pos)
                    if match is None:
                        if end - pos < 256:
                            self.carry = buf[pos:]
                            break
                        pos += 2
                        continue
                    final = match.group(2)
                    if final == b"m":
                        key = (self.style, match.group(1))
                        style = self._sgr.get(key)
                        if style is None:
                            style = self._sgr[key] = apply_sgr(self.style, key[1].decode("ascii", "replace"))
                        self.style = style
                    elif final in (b"H", b"f"):
                        self._end_run(stamps)
                        params = match.group(1).split(b";")
                        self.row = int(params[0]) if params[0].isdigit() else 1
                    elif final == b"d":
                        self._end_run(stamps)
                        self.row = int(match.group(1)) if match.group(1).isdigit() else 1
                    pos = match.end()
                elif kind in (0x5D, 0x50):  # OSC, DCS: skip to the terminator
                    stop = _STRING_END.search(buf, pos + 2)
                    if stop is None:
                        if end - pos < 4096:
                            self.carry = buf[pos:]
                            break
                        pos = end
                        continue
                    pos = stop.end()
                else:
                    pos += 2
            elif byte < 0x20 or byte == 0x7F:
                if byte == 0x0A:
                    self._end_run(stamps)
                    self.row += 1
                pos += 1
            else:
                match = _TEXT.match(buf, pos)
                assert match is not None
                if not self.run_drawn and match.group().strip():  # the first visible cell
                    draws.append((self.row, self.style))
                    self.run_drawn = True
                if self.row < self.text_above_row:
                    self.run_text.append(match.group())
                pos = match.end()
        if self.run_text and not self.run_stamp_seen:
            found = STAMP.search(b"".join(self.run_text).decode("utf-8", "replace"))
            if found:
                stamps.append((found.group(1), int(found.group(2))))
                self.run_stamp_seen = True
        return draws, stamps

    def _end_run(self, stamps: list[tuple[str, int]]) -> None:
        if self.run_text and not self.run_stamp_seen:
            found = STAMP.search(b"".join(self.run_text).decode("utf-8", "replace"))
            if found:
                stamps.append((found.group(1), int(found.group(2))))
        self.run_drawn = False
        self.run_text = []
        self.run_stamp_seen = False


_CSI = re.compile(rb"\x1b\[([0-?]*)[ -/]*([@-~])")
_STRING_END = re.compile(rb"\x07|\x1b\\")
_TEXT = re.compile(rb"[^\x00-\x1f\x7f]+")


@dataclass
class PaneTracker:
    """Follows one pane's output stream: where the cursor style is drawn, and refresh stamps."""

    pane: str
    cursor_style: Style | None = None
    span: tuple[int, int] = (1, HEIGHT)
    parser: StreamParser = field(default_factory=StreamParser)
    #: (arrival time, screen row) of every draw in the cursor style within the table.
    cursor_draws: list[tuple[float, int]] = field(default_factory=list)
    #: (arrival time, HH:MM:SS, ms) of every status-line stamp drawn.
    stamps: list[tuple[float, str, int]] = field(default_factory=list)
    chunks: int = 0
    received: int = 0

    def learn(self, info: ScreenInfo) -> bool:
        """Take the cursor style and the table's rows from a capture; False if there is no cursor."""
        if info.cursor_style is None or info.table_span is None:
            return False
        self.cursor_style = info.cursor_style
        self.span = info.table_span
        self.parser.text_above_row = self.span[0]
        return True

    def feed(self, data: bytes, arrived: float) -> None:
        draws, stamps = self.parser.feed(data)
        self.chunks += 1
        self.received += len(data)
        lo, hi = self.span
        for row, style in draws:
            if style == self.cursor_style and lo <= row <= hi:
                self.cursor_draws.append((arrived, row))
        for stamp, ms in stamps:
            self.stamps.append((arrived, stamp, ms))


# -- processes -----------------------------------------------------------------------------------------

_LAUNCH_ENV: dict[str, str] = {}


def launch_env() -> dict[str, str]:
    """The environment of every process launched here (see :func:`set_bytecode_cache`)."""
    return dict(_LAUNCH_ENV or os.environ)


def set_bytecode_cache(prefix: Path | None) -> str:
    """Let the sockui processes cache their bytecode under ``prefix`` (``PYTHONPYCACHEPREFIX``).

    A user's ``pip install`` leaves compiled bytecode behind; an editable install under
    ``PYTHONDONTWRITEBYTECODE=1`` would recompile sockui at every start instead, which is not what a
    user pays. The cache lives outside the work tree. Returns a note for the report.
    """
    _LAUNCH_ENV.clear()
    _LAUNCH_ENV.update(os.environ)
    if prefix is None:
        inherited = "PYTHONDONTWRITEBYTECODE=1" if os.environ.get("PYTHONDONTWRITEBYTECODE") else "default"
        return f"bytecode cache as inherited ({inherited})"
    prefix.mkdir(parents=True, exist_ok=True)
    _LAUNCH_ENV.pop("PYTHONDONTWRITEBYTECODE", None)
    _LAUNCH_ENV["PYTHONPYCACHEPREFIX"] = str(prefix)
    return f"bytecode cached in {prefix}, warmed by one untimed launch"


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of ``pid`` in KiB (empty when it is gone)."""
    out: dict[str, int] = {}
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith(("VmRSS:", "VmHWM:")):
                    key, value = line.split(":", 1)
                    out[key] = int(value.split()[0])
    except OSError:
        return {}
    return out


def proc_start(pid: int) -> int | None:
    """The start time of ``pid`` (clock ticks after boot), None when it is gone or a zombie."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            fields = fh.read().rsplit(b")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return None if fields[0] == b"Z" else int(fields[19])


def children_of(pid: int) -> list[int]:
    kids: list[int] = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                fields = fh.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid:
            kids.append(int(entry))
    return kids


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def find_sockui(pane_pid: int, timeout: float = 10.0) -> int | None:
    """The pane's pid if it runs sockui, else its descendant that does."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        todo = [pane_pid]
        while todo:
            pid = todo.pop()
            if "sockui" in cmdline(pid) and "sh -c" not in cmdline(pid):
                return pid
            todo.extend(children_of(pid))
        time.sleep(0.02)
    return None


def thread_cpu(pid: int) -> tuple[int, int]:
    """CPU time (ns, from schedstat) of the main thread and of all other threads of ``pid``."""
    main = others = 0
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return 0, 0
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat", "rb") as fh:
                ns = int(fh.read().split()[0])
        except (OSError, ValueError, IndexError):
            continue
        if tid == str(pid):
            main = ns
        else:
            others += ns
    return main, others


@dataclass
class CpuSampler:
    """Per-thread CPU of one process over time (main thread vs the rest)."""

    pid: int
    samples: list[tuple[float, int, int]] = field(default_factory=list)
    cost_seconds: list[float] = field(default_factory=list)

    def sample(self) -> tuple[float, int, int]:
        started = time.perf_counter()
        main, others = thread_cpu(self.pid)
        now = time.perf_counter()
        self.samples.append((now, main, others))
        self.cost_seconds.append(now - started)
        return self.samples[-1]

    def at_or_before(self, when: float) -> tuple[float, int, int] | None:
        index = bisect.bisect_right(self.samples, when, key=lambda sample: sample[0])
        return self.samples[index - 1] if index else None


# -- tmux --------------------------------------------------------------------------------------------------


class TmuxServer:
    """A private tmux server with no user configuration, killed for sure by :meth:`kill`."""

    def __init__(self, tag: str) -> None:
        self.name = f"sockui-bench-{os.getpid()}-{tag}-{uuid.uuid4().hex[:6]}"
        self.server_pid: int | None = None
        self.env = {k: v for k, v in launch_env().items() if k not in ("TMUX", "TMUX_PANE")}

    @property
    def socket_path(self) -> Path:
        return Path(os.environ.get("TMUX_TMPDIR") or "/tmp") / f"tmux-{os.getuid()}" / self.name

    def argv(self, *args: str) -> list[str]:
        return ["tmux", "-u", "-L", self.name, "-f", "/dev/null", *args]

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.argv(*args), capture_output=True, text=True, timeout=20, check=check, env=self.env
        )

    def start(self, command: list[str]) -> None:
        """A detached 160x45 session running ``command``; the pane stays readable after it exits."""
        self.run(
            "new-session", "-d", "-s", "main", "-x", str(WIDTH), "-y", str(HEIGHT), *command,
            # Per window: tmux 3.3a crashes on new-window when window-size is manual globally.
            ";", "set-option", "-w", "-t", "main", "window-size", "manual",
            ";", "set-option", "-g", "remain-on-exit", "on",
        )  # fmt: skip
        self.server_pid = int(self.run("display-message", "-p", "#{pid}").stdout)

    def capture(self, target: str = "main") -> str:
        return self.run("capture-pane", "-p", "-t", target).stdout

    def display(self, fmt: str, target: str = "main") -> str | None:
        result = self.run("display-message", "-p", "-t", target, fmt, check=False)
        return result.stdout.strip() if result.returncode == 0 else None

    def kill(self) -> None:
        """``kill-server``, SIGKILL if the server lingers, and remove the socket file."""
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            self.run("kill-server", check=False)
        deadline = time.monotonic() + 5.0
        while self.server_pid is not None and proc_start(self.server_pid) is not None:
            if time.monotonic() > deadline:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.server_pid, signal.SIGKILL)
                break
            time.sleep(0.05)
        self.socket_path.unlink(missing_ok=True)


class ControlClient:
    """A tmux control-mode client (``tmux -C attach``): commands in, ``%output`` notifications out.

    Every read from the client's stdout is timestamped as it returns; each ``%output`` line in it is
    unescaped and handed to the tracker of its pane.
    """

    def __init__(self, server: TmuxServer, target: str) -> None:
        self.proc = subprocess.Popen(
            server.argv("-C", "attach-session", "-t", target),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=server.env,
        )
        assert self.proc.stdout is not None and self.proc.stdin is not None
        self.out_fd = self.proc.stdout.fileno()
        self.in_fd = self.proc.stdin.fileno()
        self.trackers: dict[str, PaneTracker] = {}
        self.buf = b""
        self.block: list[str] | None = None
        self.block_mine = False
        self.sent = 0
        self.replies: dict[int, tuple[bool, list[str]]] = {}
        self.answered = 0
        self.keep: set[int] = set()
        self.exited = False
        self.handling_seconds: list[float] = []

    def send(self, command: str, keep: bool = False) -> tuple[int, float]:
        """Write one command; returns its sequence number and the time just before the write."""
        seq = self.sent
        self.sent += 1
        if keep:
            self.keep.add(seq)
        data = command.encode() + b"\n"
        now = time.perf_counter()
        os.write(self.in_fd, data)
        return seq, now

    def pump(self, timeout: float) -> bool:
        """Wait up to ``timeout`` for output and process it; True when something arrived."""
        if self.exited:
            time.sleep(max(0.0, timeout))
            return False
        ready, _, _ = select.select([self.out_fd], [], [], max(0.0, timeout))
        if not ready:
            return False
        arrived = time.perf_counter()
        data = os.read(self.out_fd, 1 << 20)
        if not data:
            self.exited = True
            return True
        self.buf += data
        *lines, self.buf = self.buf.split(b"\n")
        for line in lines:
            self._line(line, arrived)
        # Output arriving meanwhile is timestamped this much late at most: the method's own lag.
        self.handling_seconds.append(time.perf_counter() - arrived)
        return True

    def _line(self, line: bytes, arrived: float) -> None:
        if self.block is not None:
            if line.startswith((b"%end ", b"%error ")):
                if self.block_mine:
                    seq = self.answered
                    self.answered += 1
                    if seq in self.keep:
                        self.replies[seq] = (line.startswith(b"%end "), self.block)
                self.block = None
            else:
                self.block.append(line.decode("utf-8", "replace"))
            return
        if line.startswith(b"%output "):
            parts = line.split(b" ", 2)
            tracker = self.trackers.get(parts[1].decode())
            if tracker is not None and len(parts) == 3:
                tracker.feed(OCTAL.sub(_unescape, parts[2]), arrived)
        elif line.startswith(b"%begin "):
            fields = line.split()
            self.block = []
            self.block_mine = len(fields) > 3 and int(fields[3]) & 1 == 1
        elif line.startswith(b"%exit"):
            self.exited = True

    def command(
        self, command: str, timeout: float = 10.0, idle: Callable[[], None] | None = None
    ) -> list[str]:
        """Run one command and return its output lines (output notifications keep flowing)."""
        seq, _ = self.send(command, keep=True)
        deadline = time.perf_counter() + timeout
        while seq not in self.replies:
            if self.exited or time.perf_counter() > deadline:
                raise TimeoutError(f"tmux did not answer {command!r}")
            self.pump(min(CPU_PERIOD, max(0.0, deadline - time.perf_counter())))
            if idle is not None:
                idle()
        self.keep.discard(seq)
        ok, lines = self.replies.pop(seq)
        if not ok:
            raise RuntimeError(f"tmux: {command!r} failed: {' '.join(lines)}")
        return lines

    def close(self) -> None:
        with contextlib.suppress(OSError):
            assert self.proc.stdin is not None
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=3)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=3)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


#: tmux control mode writes bytes below 32 and the backslash as three-digit octal escapes.
_OCTAL_BYTES = {b"\\%03o" % n: bytes([n]) for n in range(256)}


def _unescape(match: re.Match[bytes]) -> bytes:
    return _OCTAL_BYTES[match.group()]


# -- the key loop --------------------------------------------------------------------------------------------


@dataclass
class Press:
    """One key press and what the screen did."""

    key: str
    sent: float
    expected_row: int
    latency_ms: float | None = None
    seen_row: int | None = None
    poll_latency_ms: float | None = None
    kind: str = "idle"
    main_cpu_ms: float | None = None
    worker_cpu_ms: float | None = None
    verified: bool = True


@dataclass
class KeyRun:
    """All presses of one key phase, with the measuring method's own figures."""

    presses: list[Press] = field(default_factory=list)
    resyncs: int = 0
    timeouts: int = 0
    poll_rtt_ms: list[float] = field(default_factory=list)
    #: Time spent handling one read of the control client (unescape, parse): the most by which the
    #: arrival of the next chunk can be stamped late.
    handling_ms_max: float = 0.0
    handling_ms_p99: float = 0.0
    cpu_sample_ms_p99: float = 0.0
    screen_on_failure: str | None = None

    def latencies(self, kind: str | None = None, poll: bool = False) -> list[float]:
        out: list[float] = []
        for press in self.presses:
            value = press.poll_latency_ms if poll else press.latency_ms
            if value is not None and (kind is None or press.kind == kind):
                out.append(value)
        return out


class Monitor:
    """Drives the control client and the periodic chores (CPU samples, the soak RSS reading)."""

    def __init__(self, client: ControlClient, sampler: CpuSampler | None = None) -> None:
        self.client = client
        self.sampler = sampler
        self.next_sample = 0.0
        self.soak_at: float | None = None
        self.soak_pid: int | None = None
        self.soak_rss: dict[str, int] | None = None

    def chores(self) -> None:
        now = time.perf_counter()
        if self.sampler is not None and now >= self.next_sample:
            self.sampler.sample()
            self.next_sample = now + CPU_PERIOD
        if self.soak_at is not None and self.soak_rss is None and now >= self.soak_at and self.soak_pid:
            self.soak_rss = proc_status(self.soak_pid)

    def wait(self, seconds: float) -> None:
        """Keep reading and sampling for ``seconds``."""
        deadline = time.perf_counter() + seconds
        while (remaining := deadline - time.perf_counter()) > 0:
            self.client.pump(min(CPU_PERIOD, remaining))
            self.chores()

    def command(self, command: str) -> list[str]:
        return self.client.command(command, idle=self.chores)

    def capture(self, pane: str, cursor_style: Style | None = None) -> ScreenInfo:
        return analyse_screen("\n".join(self.command(f"capture-pane -p -e -t {pane}")), cursor_style)


def wait_for_cursor(monitor: Monitor, pane: str, tracker: PaneTracker, timeout: float) -> ScreenInfo:
    """Until the pane shows a table with a recognisable cursor row; teaches the tracker its style."""
    deadline = time.perf_counter() + timeout
    while True:
        info = monitor.capture(pane)
        if tracker.learn(info):
            return info
        if time.perf_counter() > deadline:
            raise TimeoutError(f"no cursor row recognised on the screen:\n{info.text}")
        monitor.wait(0.1)


def press_keys(
    monitor: Monitor,
    pane: str,
    tracker: PaneTracker,
    presses: int,
    rng: random.Random,
    *,
    poll: bool = False,
    alive: Callable[[], bool] = lambda: True,
    label: str = "",
) -> KeyRun:
    """Press Down/Up alternately ``presses`` times, 50-300 ms apart; time each until the cursor moved."""
    run = KeyRun()
    client = monitor.client
    handled_before = len(client.handling_seconds)
    client.send(f"send-keys -t {pane} Home")
    monitor.wait(0.5)
    info = wait_for_cursor(monitor, pane, tracker, 30.0)
    assert info.cursor_row is not None
    current = info.cursor_row
    if current >= tracker.span[1] - 1:
        raise RuntimeError("the cursor is on the last visible row after Home; cannot alternate Down/Up")
    sampler = monitor.sampler
    for i in range(presses):
        monitor.wait(rng.uniform(0.05, 0.3))
        key = "Down" if i % 2 == 0 else "Up"
        expected = current + 1 if key == "Down" else current - 1
        before_draws = len(tracker.cursor_draws)
        before_stamps = len(tracker.stamps)
        if sampler is not None:
            sampler.sample()
        _, sent = client.send(f"send-keys -t {pane} {key}")
        press = Press(key=key, sent=sent, expected_row=expected)
        deadline = sent + PRESS_TIMEOUT
        seen: tuple[float, int] | None = None
        while time.perf_counter() < deadline:
            if poll and press.poll_latency_ms is None:
                # The poll method under evaluation; the stream keeps being read during the command.
                asked = time.perf_counter()
                polled = monitor.capture(pane, tracker.cursor_style)
                answered = time.perf_counter()
                run.poll_rtt_ms.append((answered - asked) * 1000)
                if polled.cursor_row not in (None, current):
                    press.poll_latency_ms = (answered - sent) * 1000
            else:
                client.pump(min(CPU_PERIOD, max(0.0, deadline - time.perf_counter())))
                monitor.chores()
            if seen is None:
                for arrived, row in tracker.cursor_draws[before_draws:]:
                    if row != current:
                        seen = (arrived, row)
                        break
                else:
                    before_draws = len(tracker.cursor_draws)
            if seen is not None and (not poll or press.poll_latency_ms is not None):
                break
        if sampler is not None:
            sampler.sample()
        if seen is None:
            run.timeouts += 1
            press.verified = False
            run.presses.append(press)
            log(f"  {label}press {i + 1}: no cursor frame within {PRESS_TIMEOUT:.0f} s")
            if not alive():
                run.screen_on_failure = monitor.capture(pane).text
                break
            info = wait_for_cursor(monitor, pane, tracker, 30.0)
            assert info.cursor_row is not None
            current = info.cursor_row
            continue
        press.latency_ms = (seen[0] - sent) * 1000
        press.seen_row = seen[1]
        applied = [s for s in tracker.stamps[before_stamps:] if sent <= s[0] <= seen[0]]
        if sampler is not None:
            start = sampler.at_or_before(sent - REFRESHING_LOOKBACK) or sampler.at_or_before(sent)
            end = sampler.samples[-1]
            at_key = sampler.at_or_before(sent)
            if start is not None and at_key is not None:
                span = max(end[0] - start[0], 1e-6)
                worker_share = max(0, end[2] - start[2]) / 1e9 / span
                press.worker_cpu_ms = max(0, end[2] - at_key[2]) / 1e6
                press.main_cpu_ms = max(0, end[1] - at_key[1]) / 1e6
                if applied:
                    press.kind = "applying"
                elif worker_share >= REFRESHING_SHARE:
                    press.kind = "refreshing"
        elif applied:
            press.kind = "applying"
        # Verify on the screen itself (outside the timing) and follow the cursor if rows moved.
        info = monitor.capture(pane, tracker.cursor_style)
        if info.cursor_row is None or info.cursor_row != seen[1] or seen[1] != expected:
            press.verified = False
            run.resyncs += 1
        current = info.cursor_row if info.cursor_row is not None else seen[1]
        if current >= tracker.span[1] - 1 or current <= tracker.span[0] - 1:
            client.send(f"send-keys -t {pane} Home")
            monitor.wait(0.3)
            info = wait_for_cursor(monitor, pane, tracker, 30.0)
            assert info.cursor_row is not None
            current = info.cursor_row
        run.presses.append(press)
        if (i + 1) % 50 == 0:
            done = run.latencies()
            log(
                f"  {label}{i + 1}/{presses} presses, p50 {percentile(done, 50):.1f} ms, "
                f"max {max(done, default=float('nan')):.1f} ms"
            )
    handling = [x * 1000 for x in client.handling_seconds[handled_before:]]
    if handling:
        run.handling_ms_max = max(handling)
        run.handling_ms_p99 = percentile(handling, 99)
    if sampler is not None and sampler.cost_seconds:
        run.cpu_sample_ms_p99 = percentile([s * 1000 for s in sampler.cost_seconds], 99)
    return run


# -- the echo app: the harness floor -----------------------------------------------------------------------


def echo_app() -> int:
    """A fake table that moves its cursor row the instant it reads Down/Up (``--echo-app``)."""
    import termios
    import tty

    fd_in, fd_out = sys.stdin.fileno(), sys.stdout.fileno()
    saved = termios.tcgetattr(fd_in)
    tty.setraw(fd_in)
    top, count = 4, HEIGHT - 5
    normal, cursor = "\x1b[0m\x1b[38;5;253;48;5;233m", "\x1b[0m\x1b[1;38;5;253;48;5;32m"

    def row(i: int, on: bool) -> str:
        text = f"tcp      ESTABLISHED 127.0.0.1:{20000 + i}"
        return f"\x1b[{top + i};1H{cursor if on else normal}{text:<{WIDTH - 1}}\x1b[0m"

    header = "\x1b[3;1H\x1b[1mProto    State       Local\x1b[0m"
    screen = "\x1b[?1049h\x1b[?25l\x1b[2J" + header + "".join(row(i, i == 0) for i in range(count))
    os.write(fd_out, screen.encode())
    current = 0
    try:
        while True:
            data = os.read(fd_in, 1024)
            if not data or b"q" in data:
                break
            down = data.count(b"\x1b[B") + data.count(b"\x1bOB")
            up = data.count(b"\x1b[A") + data.count(b"\x1bOA")
            home = data.count(b"\x1b[H") + data.count(b"\x1bOH") + data.count(b"\x1b[1~")
            new = 0 if home else min(count - 1, max(0, current + down - up))
            if new != current:
                os.write(fd_out, (row(current, False) + row(new, True)).encode())
                current = new
    finally:
        termios.tcsetattr(fd_in, termios.TCSADRAIN, saved)
        os.write(fd_out, b"\x1b[?25h\x1b[?1049l")
    return 0


def echo_command() -> list[str]:
    return [sys.executable, str(Path(__file__).resolve()), "--echo-app"]


def measure_floor(
    client: ControlClient, monitor: Monitor, pane: str, presses: int, rng: random.Random, poll: bool
) -> KeyRun:
    tracker = PaneTracker(pane)
    client.trackers[pane] = tracker
    try:
        wait_for_cursor(monitor, pane, tracker, 20.0)
        return press_keys(monitor, pane, tracker, presses, rng, poll=poll, label="floor ")
    finally:
        client.trackers.pop(pane, None)


# -- side by side with ss --------------------------------------------------------------------------------


@dataclass
class Command:
    """One whole-process measurement: wall times, peak RSS, output size."""

    name: str
    argv: list[str]
    seconds: list[float] = field(default_factory=list)
    maxrss_kib: int | None = None
    maxrss_samples_kib: list[int] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    @property
    def median_ms(self) -> float | None:
        return statistics.median(self.seconds) * 1000 if self.seconds else None


#: Fallback peak-RSS wrapper when GNU time is missing: fork, exec, wait4, write the child's ru_maxrss.
_RSS_WRAPPER = """import os, sys
pid = os.fork()
if pid == 0:
    try:
        os.execvp(sys.argv[2], sys.argv[2:])
    finally:
        os._exit(127)
_, status, usage = os.wait4(pid, 0)
with open(sys.argv[1], "w") as fh:
    fh.write(str(usage.ru_maxrss))
sys.exit(os.waitstatus_to_exitcode(status))
"""


@dataclass
class RssMeter:
    """Peak RSS of one command, measured by a small fresh wrapper process.

    Not by ``wait4`` from here: a child's maxrss includes the RSS of the process it was forked from
    (exec records the old address space's high-water mark), which would be this benchmark's own
    interpreter. GNU ``time -f %M`` is a tiny C wrapper; without it a bare ``python -I -S`` wrapper
    is used. Either way the wrapper's own floor (what ``true`` reports) is measured and reported.
    """

    wrapper: str = "GNU time"
    floor_kib: int | None = None

    def argv(self, out: Path, argv: list[str]) -> list[str]:
        if self.wrapper == "GNU time":
            return ["/usr/bin/time", "-f", "%M", "-o", str(out), *argv]
        return [sys.executable, "-I", "-S", "-c", _RSS_WRAPPER, str(out), *argv]

    def measure(self, argv: list[str]) -> int | None:
        with tempfile.TemporaryDirectory(prefix="sockui-bench-rss-") as tmp:
            out = Path(tmp) / "maxrss"
            _, _, _, status, _ = run_piped(self.argv(out, argv))
            try:
                return int(out.read_text().split()[-1]) if status == 0 else None
            except (OSError, ValueError, IndexError):
                return None

    @classmethod
    def choose(cls) -> RssMeter:
        meter = cls()
        if Path("/usr/bin/time").exists():
            meter.floor_kib = meter.measure(["true"])
        if meter.floor_kib is None:
            meter.wrapper = "python -I -S fork/wait4"
            meter.floor_kib = meter.measure(["true"])
        return meter


def run_piped(argv: list[str]) -> tuple[float, int, int, int, str]:
    """Run ``argv`` writing to a pipe that is read to the end, as a user piping it into grep would.

    Returns wall seconds (exec included), lines, bytes, exit status and the tail of stderr. The run
    is its own process group: if this is interrupted, the whole group is killed (an RSS wrapper's
    child with it), and a Ctrl-C at the terminal reaches only the benchmark, which then does that.
    """
    with tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=err, env=launch_env(), process_group=0)
        try:
            assert proc.stdout is not None
            fd = proc.stdout.fileno()
            size = lines = 0
            while chunk := os.read(fd, 1 << 16):
                size += len(chunk)
                lines += chunk.count(b"\n")
            status = proc.wait()
            elapsed = time.perf_counter() - started
        finally:
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()
        err.seek(0)
        tail = " | ".join(err.read().decode(errors="replace").strip().splitlines()[-3:])
    return elapsed, lines, size, status, tail


def default_commands(sockui: str, ss: str) -> list[Command]:
    """The whole-process comparison: ``ss -tuanxp`` first (the baseline), then the rest."""
    return [
        Command("ss -tuanxp", [ss, "-tuanxp"]),
        Command("ss -tuanx", [ss, "-tuanx"]),
        Command("sockui --once", [sockui, "--once"]),
        Command("sockui --once --json", [sockui, "--once", "--json"]),
        Command("sockui --once --jsonl", [sockui, "--once", "--jsonl"]),
        Command("sockui --once --csv", [sockui, "--once", "--csv"]),
    ]


def side_by_side(
    sockui: str, ss: str, runs: int, rss_runs: int = 1, commands: list[Command] | None = None
) -> tuple[list[Command], RssMeter]:
    """``runs`` interleaved timed rounds (order rotated each round), then ``rss_runs`` peak-RSS runs
    of each (the median is kept). ``commands`` defaults to :func:`default_commands`; the first one
    is the baseline of the ratios."""
    if commands is None:
        commands = default_commands(sockui, ss)
    for command in commands:  # untimed warm-up: page cache, dentries, bytecode
        run_piped(command.argv)
    for r in range(runs):
        k = r % len(commands)
        for command in commands[k:] + commands[:k]:
            elapsed, lines, size, status, tail = run_piped(command.argv)
            if status != 0:
                command.failures.append(f"exit {status}: {tail}")
                continue
            command.seconds.append(elapsed)
            command.lines.append(lines)
            command.sizes.append(size)
        log(f"  side by side: round {r + 1}/{runs} done")
    meter = RssMeter.choose()
    for _ in range(rss_runs):
        for command in commands:
            kib = meter.measure(command.argv)
            if kib is not None:
                command.maxrss_samples_kib.append(kib)
    for command in commands:
        if command.maxrss_samples_kib:
            command.maxrss_kib = int(statistics.median(command.maxrss_samples_kib))
    return commands, meter


# -- the TUI run ---------------------------------------------------------------------------------------------


@dataclass
class TuiFigures:
    """Everything measured in the terminal."""

    first_table_s: float | None = None
    first_table_poll_ms: float | None = None
    sockets_shown: tuple[int, int] | None = None
    rss_first_kib: dict[str, int] = field(default_factory=dict)
    rss_soak_kib: dict[str, int] | None = None
    rss_end_kib: dict[str, int] = field(default_factory=dict)
    soak_s: float = 0.0
    refresh_window_s: float = 0.0
    refresh_stamps: list[tuple[str, int]] = field(default_factory=list)
    refresh_stream: list[tuple[float, str, int]] = field(default_factory=list)
    refresh_cpu_share: float | None = None
    keys: KeyRun | None = None
    floor_loaded: KeyRun | None = None
    quit_s: float | None = None
    exit_status: int | None = None
    failure: str | None = None
    failure_screen: str | None = None
    cursor_style: Style | None = None
    term: str | None = None


class TuiSession:
    """The sockui tmux server, its control client, and the sockui process: all torn down in close()."""

    def __init__(self, sockui: str, interval: float, status_file: Path, tag: str = "tui") -> None:
        self.server = TmuxServer(tag)
        self.status_file = status_file
        self.command = [
            "sh", "-c", f'"$@"; echo $? > {status_file}', "sh", sockui, "--interval", str(interval)
        ]  # fmt: skip
        self.client: ControlClient | None = None
        self.pid: int | None = None
        self.pid_start: int | None = None

    def exit_status(self) -> int | None:
        try:
            text = self.status_file.read_text()
        except FileNotFoundError:
            return None
        return int(text) if text.endswith("\n") else None

    def alive(self) -> bool:
        return self.pid is not None and proc_start(self.pid) == self.pid_start and self.exit_status() is None

    def close(self) -> None:
        """Control client, tmux server, then whatever of sockui (and its children) outlived its pty."""
        ours: list[tuple[int, int]] = []
        if self.pid is not None and self.pid_start is not None and proc_start(self.pid) == self.pid_start:
            for pid in [self.pid, *children_of(self.pid)]:
                start = proc_start(pid)
                if start is not None:
                    ours.append((pid, start))
        if self.client is not None:
            self.client.close()
            self.client = None
        self.server.kill()
        deadline = time.monotonic() + 3.0
        while any(proc_start(pid) == start for pid, start in ours) and time.monotonic() < deadline:
            time.sleep(0.05)
        for pid, start in ours:
            if proc_start(pid) == start:
                log(f"  sockui process {pid} outlived its terminal: SIGKILL")
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)


def run_tui(args: argparse.Namespace, sockui: str, rng: random.Random, figures: TuiFigures) -> None:
    """Launch sockui in tmux and measure; fills ``figures`` as it goes (so a failure keeps the rest)."""
    with tempfile.TemporaryDirectory(prefix="sockui-bench-") as tmp:
        session = TuiSession(sockui, args.interval, Path(tmp) / "exit-status")
        try:
            _run_tui(args, session, rng, figures)
        except (OSError, subprocess.SubprocessError, TimeoutError, RuntimeError) as exc:
            # A harness failure (tmux died, a command timed out): keep what was measured, say why.
            traceback.print_exc()
            _fail(session, figures, f"benchmark harness error: {type(exc).__name__}: {exc}")
        finally:
            figures.exit_status = session.exit_status()
            session.close()


def _fail(session: TuiSession, figures: TuiFigures, what: str) -> None:
    figures.failure = what
    with contextlib.suppress(subprocess.SubprocessError, OSError):
        figures.failure_screen = session.server.run("capture-pane", "-p", "-t", "main", "-S", "-100").stdout
    log(f"  sockui failed: {what}")


def _run_tui(args: argparse.Namespace, session: TuiSession, rng: random.Random, figures: TuiFigures) -> None:
    server = session.server
    log(f"launching sockui --interval {args.interval} in tmux ({WIDTH}x{HEIGHT})...")
    launched = time.perf_counter()
    server.start(session.command)
    figures.soak_s = args.soak
    deadline = launched + args.start_timeout
    polls = 0
    pane_pid: int | None = None
    while True:
        screen = server.capture()
        polls += 1
        if first_table_shown(screen):
            figures.first_table_s = time.perf_counter() - launched
            break
        if pane_pid is None:
            found = server.display("#{pane_pid}")
            pane_pid = int(found) if found and found.isdigit() else None
        if session.exit_status() is not None:
            _fail(session, figures, f"sockui exited with status {session.exit_status()} before a first table")
            return
        if time.perf_counter() > deadline:
            _fail(session, figures, f"no table within {args.start_timeout:.0f} s")
            return
        time.sleep(0.01)
    figures.first_table_poll_ms = figures.first_table_s * 1000 / polls
    if pane_pid is None:
        found = server.display("#{pane_pid}")
        pane_pid = int(found) if found and found.isdigit() else None
    session.pid = find_sockui(pane_pid) if pane_pid else None
    if session.pid is None:
        _fail(session, figures, "could not find the sockui process under the tmux pane")
        return
    session.pid_start = proc_start(session.pid)
    figures.rss_first_kib = proc_status(session.pid)
    first_table_at = time.perf_counter()
    log(
        f"  first table after {figures.first_table_s:.2f} s (sockui pid {session.pid}, "
        f"RSS {figures.rss_first_kib.get('VmRSS', 0) / 1024:.0f} MiB)"
    )
    figures.term = server.run("show-options", "-gv", "default-terminal", check=False).stdout.strip()

    pane = (server.display("#{pane_id}") or "%0").strip()
    session.client = client = ControlClient(server, "main")
    tracker = PaneTracker(pane)
    client.trackers[pane] = tracker
    sampler = CpuSampler(session.pid)
    monitor = Monitor(client, sampler)
    monitor.soak_at = first_table_at + args.soak
    monitor.soak_pid = session.pid

    # -- refresh cost from the status line --------------------------------------------------------------
    log(f"sampling the status line for {args.refresh_window:.0f} s...")
    seen: dict[tuple[str, int], None] = {}
    started = time.perf_counter()
    cpu_start = thread_cpu(session.pid)
    while time.perf_counter() - started < args.refresh_window:
        info = monitor.capture(pane)
        if "Traceback" in info.text or not session.alive():
            _fail(session, figures, "sockui crashed while refreshing")
            return
        if info.stamp is not None:
            seen.setdefault(info.stamp, None)
        shown = SHOWN.search(info.text)
        if shown:
            figures.sockets_shown = (int(shown.group(1)), int(shown.group(2)))
        monitor.wait(0.25)
    elapsed = time.perf_counter() - started
    cpu_end = thread_cpu(session.pid)
    figures.refresh_window_s = elapsed
    figures.refresh_cpu_share = (sum(cpu_end) - sum(cpu_start)) / 1e9 / elapsed
    figures.refresh_stamps = list(seen)
    if figures.refresh_stamps:
        costs = [ms for _, ms in figures.refresh_stamps]
        log(f"  {len(costs)} refreshes, median {statistics.median(costs):.0f} ms, max {max(costs)} ms")
    else:
        log("  refresh stamp not found on the status line")

    # -- key to screen --------------------------------------------------------------------------------------
    log(f"pressing Down/Up {args.presses} times ({args.method} method)...")
    try:
        figures.keys = press_keys(
            monitor, pane, tracker, args.presses, rng, poll=args.method == "poll", alive=session.alive
        )
    except (TimeoutError, RuntimeError) as exc:
        _fail(session, figures, f"key phase: {exc}")
        return
    figures.cursor_style = tracker.cursor_style
    if figures.keys.screen_on_failure is not None:
        _fail(session, figures, "sockui stopped drawing during the key phase")
        return

    # -- the harness floor under the same load ----------------------------------------------------------
    if args.floor_presses:
        log(f"harness floor with sockui refreshing in another window ({args.floor_presses} presses)...")
        out = server.run(
            "new-window", "-d", "-t", "main:", "-P", "-F", "#{pane_id}", *echo_command(), check=False
        )
        echo_pane = out.stdout.strip()
        if out.returncode == 0 and echo_pane:
            try:
                figures.floor_loaded = measure_floor(
                    client, monitor, echo_pane, args.floor_presses, rng, args.method == "poll"
                )
            except (TimeoutError, RuntimeError) as exc:
                log(f"  floor under load failed: {exc}")
            server.run("kill-pane", "-t", echo_pane, check=False)

    # -- the end of the soak ----------------------------------------------------------------------------
    remaining = monitor.soak_at - time.perf_counter()
    if remaining > 0:
        log(f"soaking {remaining:.0f} s more...")
        monitor.wait(remaining)
    monitor.chores()
    figures.rss_soak_kib = monitor.soak_rss
    figures.rss_end_kib = proc_status(session.pid)
    figures.refresh_stream = list(tracker.stamps)
    final = monitor.capture(pane)
    if "Traceback" in final.text or not session.alive():
        _fail(session, figures, "sockui crashed")
        return

    # -- quit -------------------------------------------------------------------------------------------
    client.send(f"send-keys -t {pane} q")
    asked = time.perf_counter()
    while session.exit_status() is None and time.perf_counter() - asked < 20:
        monitor.wait(0.01)
    if session.exit_status() is not None:
        figures.quit_s = time.perf_counter() - asked
        if session.exit_status() != 0:
            _fail(session, figures, f"sockui exited with status {session.exit_status()} after q")


def warm_up(sockui: str, timeout: float) -> float | None:
    """Launch the TUI once, untimed, in a throwaway tmux server until its column header shows.

    This fills the bytecode and page caches, so the measured launch is what a user sees from the
    second start on (a ``pip install`` compiles the bytecode anyway). Returns how long it took.
    """
    with tempfile.TemporaryDirectory(prefix="sockui-bench-") as tmp:
        session = TuiSession(sockui, 3600.0, Path(tmp) / "exit-status", tag="warm")
        try:
            started = time.perf_counter()
            session.server.start(session.command)
            pane_pid = session.server.display("#{pane_pid}")
            if pane_pid and pane_pid.isdigit():
                session.pid = find_sockui(int(pane_pid))
                session.pid_start = proc_start(session.pid) if session.pid else None
            while time.perf_counter() - started < timeout and session.exit_status() is None:
                if re.search(r"\bProto\b", session.server.capture()):
                    return time.perf_counter() - started
                time.sleep(0.05)
            return None
        finally:
            session.close()


def run_quiet_floor(args: argparse.Namespace, rng: random.Random) -> KeyRun | None:
    """The harness floor on a quiet machine: its own tmux server running only the echo app."""
    server = TmuxServer("floor")
    client: ControlClient | None = None
    try:
        server.start(echo_command())
        pane = (server.display("#{pane_id}") or "%0").strip()
        client = ControlClient(server, "main")
        return measure_floor(client, Monitor(client), pane, args.floor_presses, rng, args.method == "poll")
    except (TimeoutError, RuntimeError, subprocess.SubprocessError) as exc:
        log(f"  quiet floor failed: {exc}")
        return None
    finally:
        if client is not None:
            client.close()
        server.kill()


# -- report ----------------------------------------------------------------------------------------------


def fmt_ms(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None or value != value else f"{value:.{digits}f}"


def mib(kib: int | None) -> str:
    if kib is None:
        return "n/a"
    return f"{kib / 1024:.1f} MiB" if kib < 10240 else f"{kib / 1024:.0f} MiB"


def key_rows(name: str, run: KeyRun | None, poll: bool = False) -> list[str]:
    if run is None:
        return [f"| {name} | 0 | n/a | n/a | n/a |"]
    rows: list[str] = []
    groups: list[tuple[str, str | None]] = [(name, None)]
    if not name.startswith("harness"):
        groups += [(f"  {LABELS[k]}", k) for k in KINDS]
    for label, kind in groups:
        s = stats(run.latencies(kind, poll=poll))
        rows.append(f"| {label} | {s['n']} | {fmt_ms(s['p50'])} | {fmt_ms(s['p99'])} | {fmt_ms(s['max'])} |")
    return rows


def git_revision() -> str:
    try:
        rev = subprocess.run(
            ["git", "-C", str(_BENCH.parent), "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return rev or "unknown"


def environment(sockui: str, ss: str) -> dict[str, Any]:
    def version(argv: list[str]) -> str:
        try:
            out = subprocess.run(argv, capture_output=True, text=True, timeout=20)
        except (OSError, subprocess.SubprocessError):
            return "unknown"
        return (out.stdout or out.stderr).strip().splitlines()[0] if (out.stdout or out.stderr) else "unknown"

    return {
        "kernel": platform.release(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "tmux": version(["tmux", "-V"]),
        "ss": version([ss, "-V"]),
        "sockui": version([sockui, "--version"]),
        "sockui_script": sockui,
        "git": git_revision(),
    }


def press_record(press: Press) -> dict[str, Any]:
    out = asdict(press)
    out["sent"] = round(press.sent, 6)
    for key in ("latency_ms", "poll_latency_ms", "main_cpu_ms", "worker_cpu_ms"):
        if out[key] is not None:
            out[key] = round(out[key], 3)
    return out


def key_json(run: KeyRun | None, poll: bool) -> dict[str, Any] | None:
    if run is None:
        return None
    out: dict[str, Any] = {
        "all": stats(run.latencies()),
        "by_kind": {k: stats(run.latencies(k)) for k in KINDS},
        "resyncs": run.resyncs,
        "timeouts": run.timeouts,
        "handling_ms_p99": round(run.handling_ms_p99, 4),
        "handling_ms_max": round(run.handling_ms_max, 4),
        "cpu_sample_ms_p99": round(run.cpu_sample_ms_p99, 4),
        "presses": [press_record(p) for p in run.presses],
    }
    if poll:
        out["poll"] = stats(run.latencies(poll=True))
        out["poll_rtt_ms"] = stats(run.poll_rtt_ms)
    return out


def build_json(
    args: argparse.Namespace,
    env: dict[str, Any],
    scenario: dict[str, Any],
    floor: KeyRun | None,
    tui: TuiFigures,
    commands: list[Command],
    meter: RssMeter | None,
) -> dict[str, Any]:
    base = commands[0].median_ms if commands else None
    stamps = [ms for _, ms in tui.refresh_stamps]
    return {
        "environment": env,
        "scenario": scenario,
        "settings": {
            "interval": args.interval,
            "presses": args.presses,
            "floor_presses": args.floor_presses,
            "soak_s": args.soak,
            "refresh_window_s": args.refresh_window,
            "method": args.method,
            "size": [WIDTH, HEIGHT],
            "seed": args.seed,
        },
        "first_table_s": tui.first_table_s,
        "first_table_poll_ms": tui.first_table_poll_ms,
        "sockets_shown": tui.sockets_shown,
        "rss_kib": {"first_table": tui.rss_first_kib, "after_soak": tui.rss_soak_kib, "end": tui.rss_end_kib},
        "refresh": {
            "found": bool(stamps),
            "refreshes": len({s for s, _ in tui.refresh_stamps}),
            "window_s": round(tui.refresh_window_s, 3),
            "cost_ms": stats([float(x) for x in stamps]),
            "stamps": tui.refresh_stamps,
            "sockui_cpu_share": tui.refresh_cpu_share,
            "stream_stamps": [(round(t, 6), s, ms) for t, s, ms in tui.refresh_stream],
        },
        "keys": key_json(tui.keys, args.method == "poll"),
        "floor_quiet": key_json(floor, args.method == "poll"),
        "floor_loaded": key_json(tui.floor_loaded, args.method == "poll"),
        "cursor_style": tui.cursor_style,
        "term": tui.term,
        "quit_s": tui.quit_s,
        "exit_status": tui.exit_status,
        "failure": tui.failure,
        "failure_screen": tui.failure_screen,
        "rss_wrapper": asdict(meter) if meter else None,
        "side_by_side": [
            {
                "name": c.name,
                "argv": c.argv,
                "median_ms": c.median_ms,
                "samples_ms": [round(s * 1000, 3) for s in c.seconds],
                "maxrss_kib": c.maxrss_kib,
                "maxrss_samples_kib": c.maxrss_samples_kib,
                "lines": int(statistics.median(c.lines)) if c.lines else None,
                "bytes": int(statistics.median(c.sizes)) if c.sizes else None,
                "ratio_vs_ss_p": (c.median_ms / base) if base and c.median_ms else None,
                "failures": c.failures,
            }
            for c in commands
        ],
    }


def print_report(
    args: argparse.Namespace,
    env: dict[str, Any],
    scenario: dict[str, Any],
    floor: KeyRun | None,
    tui: TuiFigures,
    commands: list[Command],
    meter: RssMeter | None,
) -> None:
    p = print
    p(
        f"## sockui TUI in tmux: {scenario['connections']} connections "
        f"({scenario['sockets']} scenario sockets), --interval {args.interval}"
    )
    p()
    p(
        f"Linux {env['kernel']}, {env['cpus']} CPUs, Python {env['python']}, {env['tmux']}, "
        f"{env['sockui']} (`{env['sockui_script']}`, work tree {env['git']}), "
        f"terminal {WIDTH}x{HEIGHT} TERM={tui.term or '?'}; "
        f"scenario built in {scenario['build_seconds']:.1f} s by {scenario['helpers']} helpers; "
        f"{env['bytecode']}; seed {args.seed}"
    )
    if tui.sockets_shown:
        p(f"sockets in the table: {tui.sockets_shown[1]} (status line 'shown {tui.sockets_shown[0]}/...')")
    p()
    p("| measurement | value |")
    p("|---|---|")
    poll_note = f" (polled every {fmt_ms(tui.first_table_poll_ms)} ms)" if tui.first_table_poll_ms else ""
    first = f"{tui.first_table_s:.2f} s{poll_note}" if tui.first_table_s is not None else "n/a"
    p(f"| time to first table | {first} |")
    r = tui.rss_first_kib
    p(f"| RSS at first table | {mib(r.get('VmRSS'))} (HWM {mib(r.get('VmHWM'))}) |")
    if tui.rss_soak_kib:
        s = tui.rss_soak_kib
        p(f"| RSS after {tui.soak_s:.0f} s | {mib(s.get('VmRSS'))} (HWM {mib(s.get('VmHWM'))}) |")
    else:
        p(f"| RSS after {tui.soak_s:.0f} s | n/a |")
    if tui.rss_end_kib:
        e = tui.rss_end_kib
        p(f"| RSS at the end of the run | {mib(e.get('VmRSS'))} (HWM {mib(e.get('VmHWM'))}) |")
    costs = [ms for _, ms in tui.refresh_stamps]
    if costs:
        distinct = len({s for s, _ in tui.refresh_stamps})
        p(
            f"| refresh cost (status line, {tui.refresh_window_s:.0f} s) | {distinct} refreshes, "
            f"median {statistics.median(costs):.0f} ms, max {max(costs)} ms |"
        )
    elif tui.first_table_s is not None:
        p("| refresh cost (status line) | not found (no `HH:MM:SS (N ms)` on the status line) |")
    if tui.refresh_cpu_share is not None:
        p(f"| sockui CPU, mean over that window | {tui.refresh_cpu_share * 100:.0f}% of one core |")
    if tui.quit_s is not None:
        p(f"| q to process exit | {tui.quit_s * 1000:.0f} ms |")
    p()
    poll = args.method == "poll"
    what = "polled capture-pane" if poll else "control-mode %output"
    p(f"Key to screen, {what} (ms; target p99 < 50, max < 150):")
    p()
    p("| presses | n | p50 | p99 | max |")
    p("|---|---|---|---|---|")
    for line in key_rows("sockui, all presses", tui.keys, poll=poll):
        p(line)
    if poll:
        for line in key_rows("sockui, same presses, %output stream", tui.keys):
            p(line)
    for line in key_rows("harness floor, echo app, quiet machine", floor, poll=poll):
        p(line)
    for line in key_rows("harness floor, echo app, sockui refreshing alongside", tui.floor_loaded, poll=poll):
        p(line)
    p()
    if tui.keys is not None:
        run = tui.keys
        verified = sum(1 for x in run.presses if x.verified)
        if poll:
            p(
                "Poll method: after the key, `capture-pane -p -e` is sent over the control connection "
                "again and again; the press counts when an answer shows the cursor moved (an upper bound, "
                "late by up to one round trip). The control-mode stream below runs alongside for comparison."
            )
            p()
        p(
            "Method: tmux control mode (`tmux -C attach`): the key goes in as `send-keys` on the control "
            "client, sockui's output comes back as `%output` notifications, timestamped as each read "
            "returns and parsed for the first chunk that draws the cursor background on the new row. "
            f"Own lag: handling one read takes p99 {run.handling_ms_p99:.2f} ms / max "
            f"{run.handling_ms_max:.2f} ms (output arriving meanwhile is stamped that late at most); "
            f"sampling sockui's thread CPU takes p99 {run.cpu_sample_ms_p99:.2f} ms every "
            f"{CPU_PERIOD * 1000:.0f} ms. The harness-floor rows are the whole path (control client, tmux, "
            f"pty, wake-ups, parsing) with an app that answers at once. {verified}/{len(run.presses)} "
            f"presses verified afterwards by `capture-pane -e` (cursor on the expected row); "
            f"{run.timeouts} timeouts."
        )
        if poll and run.poll_rtt_ms:
            p(
                f"poll round trip (the poll method's resolution): p50 {percentile(run.poll_rtt_ms, 50):.2f} "
                f"ms, p99 {percentile(run.poll_rtt_ms, 99):.2f} ms"
            )
        slow = sorted(
            (x for x in run.presses if x.latency_ms is not None), key=lambda x: -(x.latency_ms or 0)
        )
        if slow:
            p()
            p("Slowest presses (CPU ms of sockui's main / other threads from the key to the frame):")
            p()
            p("| ms | class | main CPU | other CPU | key |")
            p("|---|---|---|---|---|")
            for x in slow[:8]:
                p(
                    f"| {fmt_ms(x.latency_ms)} | {x.kind} | {fmt_ms(x.main_cpu_ms)} | "
                    f"{fmt_ms(x.worker_cpu_ms)} | {x.key} |"
                )
    p()
    if commands:
        base = commands[0].median_ms
        p(f"Side by side, whole processes writing to a pipe read to the end (median of {args.runs}):")
        p()
        p("| command | median ms | min ms | max RSS | lines | vs ss -tuanxp |")
        p("|---|---|---|---|---|---|")
        for c in commands:
            if not c.seconds:
                p(f"| {c.name} | failed: {'; '.join(c.failures)[:200]} | | | | |")
                continue
            ratio = f"{c.median_ms / base:.2f}x" if base and c.median_ms else "n/a"
            p(
                f"| {c.name} | {fmt_ms(c.median_ms)} | {min(c.seconds) * 1000:.1f} | "
                f"{mib(c.maxrss_kib)} | {int(statistics.median(c.lines))} | {ratio} |"
            )
        p()
        if meter is not None:
            p(
                f"max RSS: median of {args.rss_runs} extra run(s) of each under {meter.wrapper}, whose "
                f"own floor (running `true`) is {mib(meter.floor_kib)}; wall times are of bare runs "
                "after one untimed warm-up."
            )
            p()
    if tui.failure:
        p(f"**sockui misbehaved: {tui.failure}** (exit status {tui.exit_status}). Screen:")
        p()
        p("```")
        p((tui.failure_screen or "(no screen captured)").rstrip())
        p("```")


# -- main ---------------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--connections", type=int, default=50_000, help="loopback TCP connections")
    parser.add_argument("--interval", type=float, default=1.0, help="sockui --interval")
    parser.add_argument("--presses", type=int, default=200, help="Down/Up presses")
    parser.add_argument("--floor-presses", type=int, default=100, help="presses on the echo app (0: skip)")
    parser.add_argument("--soak", type=float, default=60.0, help="seconds after first table for RSS")
    parser.add_argument("--refresh-window", type=float, default=30.0, help="seconds of status sampling")
    parser.add_argument("--method", choices=("stream", "poll"), default="stream", help="latency method")
    parser.add_argument("--runs", type=int, default=3, help="rounds of the side-by-side commands")
    parser.add_argument("--rss-runs", type=int, default=1, help="peak-RSS runs of each (median kept)")
    parser.add_argument("--start-timeout", type=float, default=180.0, help="seconds to wait for a table")
    parser.add_argument("--build-timeout", type=float, default=300.0, help="seconds to build the scenario")
    parser.add_argument("--no-side-by-side", action="store_true", help="skip the ss comparison")
    parser.add_argument("--seed", type=int, default=None, help="seed of the waits between presses")
    parser.add_argument("--sockui", default=None, help="sockui script (default: next to this Python)")
    parser.add_argument("--ss", default="ss", help="ss binary")
    parser.add_argument(
        "--pycache-prefix",
        type=Path,
        default=Path(tempfile.gettempdir()) / "sockui-bench-pycache",
        help="PYTHONPYCACHEPREFIX for the sockui processes (outside the work tree)",
    )
    parser.add_argument(
        "--no-warm-up", action="store_true", help="keep the inherited bytecode settings, no warm-up launch"
    )
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--json-file", type=Path, default=None, help="also write the JSON results here")
    parser.add_argument("--echo-app", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.connections < 1 or args.presses < 2 or args.runs < 1 or args.rss_runs < 1:
        parser.error("--connections must be >= 1, --presses >= 2, --runs and --rss-runs >= 1")
    return args


def find_sockui_script(given: str | None) -> str | None:
    if given:
        return shutil.which(given) or (given if Path(given).exists() else None)
    beside = Path(sys.executable).parent / "sockui"
    return str(beside) if beside.exists() else shutil.which("sockui")


@contextlib.contextmanager
def signals_unwind() -> Iterator[None]:
    """SIGINT, SIGTERM and SIGHUP unwind as KeyboardInterrupt, so every finally block runs."""
    previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    for sig in previous:
        signal.signal(sig, signal.default_int_handler)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.echo_app:
        return echo_app()
    sockui = find_sockui_script(args.sockui)
    ss = shutil.which(args.ss)
    if sockui is None or ss is None or shutil.which("tmux") is None:
        log("bench: needs the sockui script (install the package), ss and tmux")
        return 2
    if args.seed is None:
        args.seed = random.randrange(1 << 30)
    rng = random.Random(args.seed)
    bytecode = set_bytecode_cache(None if args.no_warm_up else args.pycache_prefix)
    env = environment(sockui, ss)
    env["bytecode"] = bytecode
    tui = TuiFigures()
    floor: KeyRun | None = None
    commands: list[Command] = []
    meter: RssMeter | None = None
    with signals_unwind():
        try:
            log(f"building {args.connections} loopback connections...")
            with Scenario.build(args.connections, timeout=args.build_timeout, progress=True) as sc:
                scenario = {
                    "connections": sc.connections,
                    "sockets": sc.sockets,
                    "helpers": len(sc.children),
                    "build_seconds": round(sc.build_seconds, 3),
                }
                log(f"built {sc.sockets} sockets in {sc.build_seconds:.1f} s")
                if args.floor_presses:
                    log(f"harness floor on a quiet machine ({args.floor_presses} presses)...")
                    floor = run_quiet_floor(args, rng)
                if not args.no_warm_up:
                    log("warm-up launch of the TUI (untimed: bytecode and page caches)...")
                    took = warm_up(sockui, args.start_timeout)
                    log(f"  header shown after {took:.2f} s" if took is not None else "  no header seen")
                run_tui(args, sockui, rng, tui)
                if not args.no_side_by_side:
                    log(f"side by side with ss ({args.runs} rounds)...")
                    commands, meter = side_by_side(sockui, ss, args.runs, args.rss_runs)
        except KeyboardInterrupt:
            log("interrupted; tmux, sockui and the scenario were torn down")
            return 130
        except ScenarioError as exc:
            log(f"bench: scenario failed: {exc}")
            return 2
    results = build_json(args, env, scenario, floor, tui, commands, meter)
    if args.json_file is not None:
        args.json_file.write_text(json.dumps(results, indent=2) + "\n")
    if args.json:
        json.dump(results, sys.stdout, indent=2)
        print()
    else:
        print_report(args, env, scenario, floor, tui, commands, meter)
    return 1 if tui.failure else 0


if __name__ == "__main__":
    sys.exit(main())
