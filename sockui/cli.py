"""Command line: parse arguments, then either print one snapshot or start the TUI.

Textual is imported only when the TUI starts, so ``--once`` stays quick and works without a terminal.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from sockui import __version__
from sockui.model import export
from sockui.model.filters import Filter, FilterError, parse
from sockui.model.socket import Snapshot

EXIT_USAGE = 2


def _interval(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0.1 <= value <= 3600:
        raise argparse.ArgumentTypeError("must be between 0.1 and 3600 seconds")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (also used by the help screen and tests)."""
    p = argparse.ArgumentParser(
        prog="sockui",
        description="Explore every socket on this machine: who owns it and what is on the other end.",
        epilog="Without --once, sockui opens the interactive terminal UI.",
    )
    p.add_argument("--once", action="store_true", help="print one snapshot and exit")
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="with --once: print JSON (implies --once)")
    fmt.add_argument("--csv", action="store_true", help="with --once: print CSV (implies --once)")
    p.add_argument("--filter", metavar="EXPR", default="", help="filter expression, e.g. 'tcp and port 443'")
    p.add_argument(
        "--interval",
        metavar="SECONDS",
        type=_interval,
        default=1.0,
        help="refresh interval of the TUI (default 1.0)",
    )
    p.add_argument("--resolve", action="store_true", help="reverse-resolve remote addresses (off by default)")
    p.add_argument("--read-only", action="store_true", help="disable kill and close actions")
    p.add_argument("--version", action="version", version=f"sockui {__version__}")
    return p


def privilege_note(snapshot: Snapshot) -> str | None:
    """What lack of privilege hid, in one sentence; None when nothing was hidden."""
    if not snapshot.hidden_owners:
        return None
    procs = snapshot.unreadable_pids
    what = f"{procs} process{'es' if procs != 1 else ''}"
    if os.geteuid() == 0:
        why = "are not readable even by root here (ptrace restrictions, e.g. a container's init)"
    else:
        why = (
            "are not readable by this user (run as root, or with CAP_SYS_PTRACE and "
            "CAP_DAC_READ_SEARCH, to see them)"
        )
    return f"owners of {snapshot.hidden_owners} sockets are hidden: the fd tables of {what} {why}"


def run_once(args: argparse.Namespace, flt: Filter) -> int:
    """Collect one snapshot and print it in the requested format."""
    from sockui.collect.snapshot import collect_snapshot

    snapshot = collect_snapshot()
    for warning in snapshot.warnings:
        print(f"sockui: {warning}", file=sys.stderr)
    note = privilege_note(snapshot)
    if note:
        print(f"sockui: {note}", file=sys.stderr)
    sockets = [s for s in export.sorted_sockets(snapshot) if flt.matches(s, snapshot.users)]
    if args.json:
        text = export.to_json(sockets) + "\n"
    elif args.csv:
        text = export.to_csv(sockets)
    else:
        text = export.to_table(sockets, snapshot.users)
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:
        # `sockui --once | head`: the reader left; not an error worth a traceback.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``sockui`` console script and ``python -m sockui``."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        flt = parse(args.filter)
    except FilterError as exc:
        print(f"sockui: bad filter: {exc.render(args.filter)}", file=sys.stderr)
        return EXIT_USAGE
    if args.once or args.json or args.csv:
        return run_once(args, flt)
    from sockui.app import SockuiApp

    app = SockuiApp(
        filter_text=args.filter,
        interval=args.interval,
        read_only=args.read_only,
        resolve=args.resolve,
    )
    app.run()
    return app.return_code or 0


if __name__ == "__main__":
    sys.exit(main())
