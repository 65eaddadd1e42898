"""Command line: parse arguments, then either print one snapshot or start the TUI.

Textual is imported only when the TUI starts, so ``--once`` stays quick and works without a terminal.
"""

from __future__ import annotations

import argparse
import codecs
import gc
import io
import os
import sys
import traceback
from collections.abc import Sequence
from typing import TYPE_CHECKING

from sockui import __version__
from sockui.collect.services import load_services
from sockui.model import coverage, export
from sockui.model.filter_help import filter_help_text
from sockui.model.filters import Filter, FilterError, parse
from sockui.model.history import DEFAULT_HISTORY

if TYPE_CHECKING:
    from sockui.app import SockuiApp

EXIT_USAGE = 2
#: The TUI died of an unexpected exception (Textual's own code for it).
EXIT_CRASH = 1

#: Said when the TUI cannot start: instead of drawing into a pipe or waiting for keys from a file.
NO_TERMINAL = "sockui: the TUI needs a terminal, and {stream} is not one; use --once for a snapshot"


def _interval(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0.1 <= value <= 3600:
        raise argparse.ArgumentTypeError("must be between 0.1 and 3600 seconds")
    return value


def _history_size(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if not 1 <= value <= 10_000_000:
        raise argparse.ArgumentTypeError("must be between 1 and 10,000,000")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (also used by the help screen and tests)."""
    p = argparse.ArgumentParser(
        prog="sockui",
        description="Explore every socket on this machine: who owns it and what is on the other end.",
        epilog=(
            "Without --once, sockui opens the interactive terminal UI (? there lists the keys).\n\n"
            "filter expressions (--filter, and / in the UI):\n" + filter_help_text()
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--once", action="store_true", help="print one snapshot and exit")
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="with --once: print JSON (implies --once)")
    fmt.add_argument(
        "--jsonl",
        action="store_true",
        help="with --once: one JSON object per line, no array (implies --once)",
    )
    fmt.add_argument("--csv", action="store_true", help="with --once: print CSV (implies --once)")
    p.add_argument(
        "--events",
        action="store_true",
        help="stream socket events (opened, state, closed) as JSON lines until interrupted",
    )
    p.add_argument(
        "--history",
        metavar="N",
        type=_history_size,
        default=DEFAULT_HISTORY,
        help=f"closed connections the TUI's history keeps (default {DEFAULT_HISTORY:,})",
    )
    p.add_argument("--filter", metavar="EXPR", default="", help="filter expression, e.g. 'tcp and port 443'")
    p.add_argument(
        "--interval",
        metavar="SECONDS",
        type=_interval,
        default=1.0,
        help="refresh interval of the TUI and of --events (default 1.0)",
    )
    p.add_argument("--resolve", action="store_true", help="reverse-resolve remote addresses (off by default)")
    p.add_argument("--read-only", action="store_true", help="disable kill and close actions")
    p.add_argument(
        "--no-config",
        action="store_true",
        help="ignore the remembered columns and sort (~/.config/sockui/config.json) and save nothing",
    )
    p.add_argument("--version", action="version", version=f"sockui {__version__}")
    return p


def run_once(args: argparse.Namespace, flt: Filter) -> int:
    """Collect one snapshot and print it in the requested format."""
    from sockui.collect.snapshot import collect_snapshot

    # One collection, then exit: the cyclic GC would only re-walk the growing heap of records,
    # none of them cyclic (measured: 30% of the time at 20k sockets). Process-wide, which is fine
    # here, unlike in the TUI's worker thread.
    gc.disable()
    snapshot = collect_snapshot(services=flt.services)
    for note in coverage.notes(snapshot):
        print(f"sockui: {note}", file=sys.stderr)
    sockets = [s for s in export.sorted_sockets(snapshot) if flt.matches(s, snapshot.users)]
    out = sys.stdout
    try:
        if args.json:
            export.write_json(sockets, out)
        elif args.jsonl:
            export.write_jsonl(sockets, out)
        elif args.csv:
            export.write_csv(sockets, out)
        else:
            export.write_table(sockets, snapshot.users, out)
        out.flush()
    except BrokenPipeError:
        # `sockui --once | head`: the reader left; not an error worth a traceback.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    return 0


def not_a_terminal() -> str | None:
    """The first standard stream that is not a terminal ('stdin', 'stdout', 'stderr'), or None.

    Textual reads keys from stdin and draws on stderr; stdout is checked too, because
    ``sockui | grep`` or ``sockui > file`` means the user wanted text, which is what --once gives.
    Without this check the TUI starts anyway: it hangs on /dev/null and writes escape sequences
    into the pipe.
    """
    for fd, name in ((0, "stdin"), (1, "stdout"), (2, "stderr")):
        try:
            if not os.isatty(fd):
                return name
        except OSError:
            return name
    return None


def draw_in_utf8() -> None:
    """Make stderr, where Textual draws, UTF-8 whatever the locale says.

    Under LANG=C Python is in UTF-8 mode already (PEP 538/540), unless that is turned off
    (PYTHONUTF8=0, PYTHONCOERCECLOCALE=0): then stderr is ASCII with backslashreplace, and every box,
    arrow and bar glyph is drawn as a six-column escape (backslash, u2502), which breaks the layout.
    The terminals sockui runs in (tmux, SSH clients, desktop terminals) decode UTF-8 whatever the
    locale of the process says.
    """
    stream = sys.__stderr__
    if stream is None or not isinstance(stream, io.TextIOWrapper):
        return
    try:
        if codecs.lookup(stream.encoding).name == "utf-8":
            return
        stream.reconfigure(encoding="utf-8", errors="backslashreplace")
    except (LookupError, ValueError, OSError):
        return  # drawn as before: escapes, but drawn


def run_tui(app: SockuiApp) -> int:
    """Run the TUI; an unexpected exception ends it with one line on stderr and a crash report.

    The line is printed after the app has restored the terminal (alternate screen left, modes
    reset), so that it stays visible in the shell.
    """
    from sockui import crash

    draw_in_utf8()
    try:
        app.run()
    except Exception as exc:  # noqa: BLE001 - what escapes Textual's own handling (driver start-up)
        path = crash.write_report(exc)
        if path is None:
            traceback.print_exc()
        print(crash.describe(exc, path), file=sys.stderr)
        return EXIT_CRASH
    if app.crash is not None:
        print(crash.describe(app.crash, app.crash_report), file=sys.stderr)
        return app.return_code or EXIT_CRASH
    return app.return_code or 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``sockui`` console script and ``python -m sockui``."""
    parser = build_parser()
    args = parser.parse_args(argv)
    services = load_services()
    try:
        flt = parse(args.filter, services)
    except FilterError as exc:
        print(f"sockui: bad filter: {exc.render(args.filter)}", file=sys.stderr)
        return EXIT_USAGE
    if args.events:
        if args.once or args.json or args.jsonl or args.csv:
            print("sockui: --events streams JSON lines; it does not combine with --once", file=sys.stderr)
            return EXIT_USAGE
        from sockui.events_cli import run_events

        return run_events(flt, args.interval)
    if args.once or args.json or args.jsonl or args.csv:
        return run_once(args, flt)
    stream = not_a_terminal()
    if stream is not None:
        print(NO_TERMINAL.format(stream=stream), file=sys.stderr)
        return EXIT_USAGE
    from sockui.app import SockuiApp
    from sockui.config import Config, load_config
    from sockui.model.columns import TITLES

    config: Config | None = None
    if not args.no_config:
        config, warning = load_config(valid_titles=TITLES)
        if warning:
            print(f"sockui: {warning}", file=sys.stderr)
    app = SockuiApp(
        filter_text=args.filter,
        interval=args.interval,
        read_only=args.read_only,
        resolve=args.resolve,
        services=services,
        config=config,
        history=args.history,
        report_crashes=True,
    )
    return run_tui(app)


if __name__ == "__main__":
    sys.exit(main())
